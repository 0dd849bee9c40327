//! `cgaf plugin new`: writes a plugin project from the templates embedded in the binary
//! (`host/templates/plugin/`), one per kind and language, that builds as it is.

use anyhow::{bail, Context, Result};
use cgaf_runtime::PluginKind;
use std::path::{Path, PathBuf};

/// The language of a scaffolded plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    /// Rust with `cgaf-plugin-sdk`, built by cargo for wasm32-wasip2.
    Rust,
    /// Python, built by componentize-py from the contract's WIT.
    Python,
}

/// Where the generated project finds `cgaf-plugin-sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A folder holding the SDK crate (`plugins/sdk` of a checkout).
    Path(PathBuf),
    /// A git repository holding the crypto-gaf workspace.
    Git(String),
    /// A registry (crates.io) version requirement.
    Registry(String),
}

impl SdkSource {
    /// The explicit choice, else the checkout this binary was built from (when it is still
    /// there), else the registry version of this build's SDK.
    pub fn choose(path: Option<&Path>, git: Option<&str>) -> Result<SdkSource> {
        if let Some(p) = path {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            if !p.join("Cargo.toml").is_file() {
                bail!("--sdk-path {}: no Cargo.toml there (point it at plugins/sdk of a checkout)", p.display());
            }
            return Ok(SdkSource::Path(p));
        }
        if let Some(g) = git.filter(|g| !g.is_empty()) {
            return Ok(SdkSource::Git(g.to_string()));
        }
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        if checkout.join("Cargo.toml").is_file() {
            let p = checkout.canonicalize().unwrap_or(checkout);
            return Ok(SdkSource::Path(p));
        }
        Ok(SdkSource::Registry(SDK_VERSION.to_string()))
    }

    /// The `[dependencies]` line.
    pub fn dependency_line(&self) -> String {
        match self {
            SdkSource::Path(p) => format!("cgaf-plugin-sdk = {{ path = {:?} }}", p.display().to_string()),
            SdkSource::Git(url) => format!("cgaf-plugin-sdk = {{ git = {url:?}, package = \"cgaf-plugin-sdk\" }}"),
            SdkSource::Registry(v) => format!("cgaf-plugin-sdk = \"{v}\""),
        }
    }
}

/// The SDK version this binary's contract matches (`plugins/sdk/Cargo.toml`).
pub const SDK_VERSION: &str = "1.0.0";

/// One generated file: path in the project, contents.
type File = (&'static str, String);

/// What `cgaf plugin new` was asked for.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// Kind.
    pub kind: PluginKind,
    /// Plugin name (also the package name).
    pub name: String,
    /// Language.
    pub lang: PluginLang,
    /// The project folder to create.
    pub dir: PathBuf,
    /// Where the SDK comes from (Rust).
    pub sdk: SdkSource,
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}

/// The files of a Rust project.
fn rust_files(p: &NewPlugin) -> Vec<File> {
    let crate_name = p.name.replace('-', "_");
    let wasm = format!("target/wasm32-wasip2/release/{crate_name}.wasm");
    let (code, edit, extra) = match p.kind {
        PluginKind::Strategy => {
            (include_str!("../templates/plugin/rust/strategy.rs.tmpl"), "Plugin::decide", "serde_json = \"1\"\n")
        }
        PluginKind::ImageTransform => (include_str!("../templates/plugin/rust/image-transform.rs.tmpl"), "cell", ""),
        PluginKind::Blender => (include_str!("../templates/plugin/rust/blender.rs.tmpl"), "combine", ""),
    };
    let sdk = p.sdk.dependency_line();
    let vars = [
        ("name", p.name.as_str()),
        ("kind", p.kind.as_str()),
        ("edit", edit),
        ("wasm", wasm.as_str()),
        ("sdk_dependency", sdk.as_str()),
        ("extra_dependencies", extra),
    ];
    vec![
        ("Cargo.toml", fill(include_str!("../templates/plugin/rust/Cargo.toml.tmpl"), &vars)),
        ("src/lib.rs", fill(code, &vars)),
        ("README.md", fill(include_str!("../templates/plugin/rust/README.md.tmpl"), &vars)),
        (".gitignore", include_str!("../templates/plugin/rust/gitignore.tmpl").to_string()),
    ]
}

/// The files of a Python project.
fn python_files(p: &NewPlugin) -> Result<Vec<File>> {
    let wasm = format!("{}.wasm", p.name);
    let (code, test, edit) = match p.kind {
        PluginKind::Strategy => (
            include_str!("../templates/plugin/python/strategy.py.tmpl"),
            include_str!("../templates/plugin/python/test_strategy.py.tmpl"),
            "decide",
        ),
        PluginKind::ImageTransform => (
            include_str!("../templates/plugin/python/image-transform.py.tmpl"),
            include_str!("../templates/plugin/python/test_image-transform.py.tmpl"),
            "cell",
        ),
        PluginKind::Blender => bail!("--lang python makes strategies and image transforms; write blenders in Rust"),
    };
    let vars = [("name", p.name.as_str()), ("kind", p.kind.as_str()), ("edit", edit), ("wasm", wasm.as_str())];
    let mut files = vec![
        ("plugin.toml", fill(include_str!("../templates/plugin/python/plugin.toml.tmpl"), &vars)),
        ("app.py", fill(code, &vars)),
        ("test_app.py", fill(test, &vars)),
        ("README.md", fill(include_str!("../templates/plugin/python/README.md.tmpl"), &vars)),
        ("wit/plugin.wit", include_str!("../../wit/plugin.wit").to_string()),
        (".gitignore", include_str!("../templates/plugin/python/gitignore.tmpl").to_string()),
    ];
    if p.kind == PluginKind::Strategy {
        files.push(("strategies.py", include_str!("../templates/plugin/python/strategies.py.tmpl").to_string()));
    }
    Ok(files)
}

/// Writes the project; refuses a folder that exists and is not empty. Returns the files written.
pub fn write(p: &NewPlugin) -> Result<Vec<PathBuf>> {
    cgaf_runtime::types::check_plugin_name(&p.name).map_err(|e| anyhow::anyhow!("plugin name {:?}: {e}", p.name))?;
    let files = match p.lang {
        PluginLang::Rust => rust_files(p),
        PluginLang::Python => python_files(p)?,
    };
    if p.dir.exists() && std::fs::read_dir(&p.dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty", p.dir.display());
    }
    let mut written = Vec::with_capacity(files.len());
    for (rel, text) in files {
        let path = p.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(kind: PluginKind, lang: PluginLang, sdk: SdkSource) -> NewPlugin {
        NewPlugin { kind, name: "my-plugin".into(), lang, dir: PathBuf::from("unused"), sdk }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for kind in [PluginKind::Strategy, PluginKind::ImageTransform, PluginKind::Blender] {
            let p = plugin(kind, PluginLang::Rust, SdkSource::Registry("1.0.0".into()));
            for (name, text) in rust_files(&p) {
                assert!(!text.contains("{{"), "{kind} {name} keeps a placeholder");
            }
            if kind != PluginKind::Blender {
                for (name, text) in python_files(&plugin(kind, PluginLang::Python, p.sdk.clone())).unwrap() {
                    assert!(!text.contains("{{"), "{kind} {name} keeps a placeholder");
                }
            }
        }
    }

    #[test]
    fn dependency_lines() {
        assert_eq!(
            SdkSource::Path("/x/plugins/sdk".into()).dependency_line(),
            r#"cgaf-plugin-sdk = { path = "/x/plugins/sdk" }"#
        );
        assert_eq!(
            SdkSource::Git("https://git.example/cgaf".into()).dependency_line(),
            r#"cgaf-plugin-sdk = { git = "https://git.example/cgaf", package = "cgaf-plugin-sdk" }"#
        );
        assert_eq!(SdkSource::Registry("1.0.0".into()).dependency_line(), r#"cgaf-plugin-sdk = "1.0.0""#);
    }

    #[test]
    fn the_sdk_version_is_the_crates() {
        let manifest = include_str!("../../plugins/sdk/Cargo.toml");
        assert!(manifest.contains(&format!("\nversion = \"{SDK_VERSION}\"\n")), "plugins/sdk/Cargo.toml");
    }

    #[test]
    fn refuses_bad_names_and_non_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = plugin(PluginKind::Strategy, PluginLang::Rust, SdkSource::Registry("1.0.0".into()));
        p.dir = dir.path().to_path_buf();
        p.name = "Bad Name".into();
        assert!(write(&p).unwrap_err().to_string().contains("plugin name"));
        p.name = "ok".into();
        std::fs::write(dir.path().join("x"), "").unwrap();
        assert!(write(&p).unwrap_err().to_string().contains("not empty"));
    }
}
