//! `cgaf plugin build [DIR]`: builds a plugin project — cargo for `wasm32-wasip2` (Rust), or
//! componentize-py from the contract's WIT with `--stub-wasi` (Python, `plugin.toml`) — and
//! checks the component the way an upload does (component, world, imports, `info()`, one
//! smoke call).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `plugin.toml` of a Python project.
#[derive(Debug, Deserialize)]
struct PythonManifest {
    plugin: PythonPlugin,
}

#[derive(Debug, Deserialize)]
struct PythonPlugin {
    /// `python`.
    lang: String,
    /// The world: `strategy`, `image-transform` or `blender`.
    world: String,
    /// The Python module holding the app.
    app: String,
    /// The component file to write, relative to the project.
    output: PathBuf,
}

/// Where `componentize-py` is: the explicit path, else on `PATH`, else the private venv
/// `scripts/setup.sh --python` makes (`~/.cache/cgaf-python/venv`).
pub fn componentize_py(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("componentize-py")).find(|c| c.is_file()))
        .unwrap_or_default();
    if let Some(p) = on_path {
        return Ok(p);
    }
    let venv = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/cgaf-python/venv/bin/componentize-py"));
    match venv.filter(|p| p.is_file()) {
        Some(p) => Ok(p),
        None => bail!(
            "componentize-py not found (on PATH, or in ~/.cache/cgaf-python/venv): run scripts/setup.sh --python, \
             or pip install componentize-py==0.25.1, or pass --componentize-py"
        ),
    }
}

/// Builds the project in `dir`; returns the component's path.
pub fn build(dir: &Path, componentize: Option<&Path>) -> Result<PathBuf> {
    if dir.join("plugin.toml").is_file() {
        return build_python(dir, componentize);
    }
    if dir.join("Cargo.toml").is_file() {
        return build_rust(dir);
    }
    bail!("{}: neither Cargo.toml (Rust) nor plugin.toml (Python); make a project with cgaf plugin new", dir.display())
}

fn build_rust(dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building {} with cargo for wasm32-wasip2 ...", dir.display());
    let out = Command::new(&cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    if !out.status.success() {
        bail!("cargo build failed ({}); is the target installed? rustup target add wasm32-wasip2", out.status);
    }
    // The cdylib's .wasm, from cargo's artifact messages (wherever CARGO_TARGET_DIR points).
    let wasm = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"));
    wasm.context("cargo built no .wasm: the package needs [lib] crate-type = [\"cdylib\"]")
}

fn build_python(dir: &Path, componentize: Option<&Path>) -> Result<PathBuf> {
    let path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: PythonManifest = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let p = manifest.plugin;
    if p.lang != "python" {
        bail!("{}: lang {:?}; only python is built from plugin.toml", path.display(), p.lang);
    }
    let tool = componentize_py(componentize)?;
    let run = |args: &[&str], what: &str| -> Result<()> {
        let status = Command::new(&tool)
            .args(args)
            .current_dir(dir)
            .status()
            .with_context(|| format!("running {}", tool.display()))?;
        if !status.success() {
            bail!("componentize-py {what} failed ({status})");
        }
        Ok(())
    };
    eprintln!("building {} with componentize-py (world {}) ...", dir.display(), p.world);
    // The contract's Python types, for the project's native unit tests and editors (made
    // afresh: componentize-py refuses to write into an existing folder).
    let bindings = dir.join("bindings");
    if bindings.is_dir() {
        std::fs::remove_dir_all(&bindings).with_context(|| format!("removing {}", bindings.display()))?;
    }
    run(&["-q", "-d", "wit", "-w", &p.world, "bindings", "bindings"], "bindings")?;
    let output = p.output.to_string_lossy().to_string();
    run(&["-q", "-d", "wit", "-w", &p.world, "componentize", &p.app, "--stub-wasi", "-o", &output], "componentize")?;
    let wasm = dir.join(&p.output);
    Ok(std::path::absolute(&wasm).unwrap_or(wasm))
}

/// The check an upload makes, on a built component: loads it in the service's sandbox and
/// makes the upload's smoke call. Returns the summary printed by `cgaf plugin build`.
pub fn check(data_dir: &Path, wasm: &Path) -> Result<Value> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let host = crate::plugin_test::sandbox(data_dir)?;
    let plugin = host.runtime.load(&bytes).with_context(|| format!("{} would be refused at upload", wasm.display()))?;
    host.smoke_test(&plugin)
        .with_context(|| format!("{} would be refused at upload: smoke call on sample data", wasm.display()))?;
    Ok(json!({
        "wasm": wasm.display().to_string(),
        "bytes": bytes.len(),
        "sha256": plugin.sha256,
        "name": plugin.info.name,
        "version": plugin.info.version,
        "kind": plugin.info.kind.as_str(),
        "params": plugin.info.params,
    }))
}
