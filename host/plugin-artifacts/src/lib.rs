//! The one list of crypto-gaf's plugin components (built-ins and test plugins, `plugins.txt`
//! beside this crate) and the nested `cargo build` that compiles them for `wasm32-wasip2`.
//!
//! A build-dependency of the binary (`host/build.rs` embeds the built-ins) and of the test kit
//! (`tests/kit/build.rs` builds every component once and generates constants with their paths,
//! the way wasmtime's `crates/test-programs/artifacts` does); `scripts/build-plugins.sh` parses
//! the same `plugins.txt`. The nested build uses its own target folder,
//! `<target>/plugin-target`, so the outer cargo's lock on `<target>` is never contended.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The list, as written in `plugins.txt`.
pub const LIST: &str = include_str!("../plugins.txt");

/// The wasm target every plugin is built for (a wit-bindgen `cdylib` for it is a component).
pub const TARGET: &str = "wasm32-wasip2";

/// Errors of reading the list or building the components.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of `plugins.txt` is not `kind name package artifact`.
    #[error("plugins.txt line {line}: {reason}: {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
        /// The line.
        text: String,
    },
    /// `cargo` could not be run.
    #[error("running {cargo} for the plugin components: {source}")]
    Spawn {
        /// The cargo executable.
        cargo: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The nested build failed (its output went to the build script's stderr).
    #[error(
        "building the plugin components for wasm32-wasip2 failed ({status}); is the target installed? \
         Run `rustup target add wasm32-wasip2` (scripts/setup.sh does it)"
    )]
    Build {
        /// Cargo's exit status.
        status: std::process::ExitStatus,
    },
}

/// What a plugin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Embedded in the `cgaf` binary.
    Builtin,
    /// Misbehaves on purpose, for the sandbox tests.
    Hostile,
    /// A well-meant or merely invalid plugin the tests upload.
    Fixture,
}

impl Kind {
    /// The word used in `plugins.txt` (and in the folders of `scripts/build-plugins.sh`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Builtin => "builtin",
            Kind::Hostile => "hostile",
            Kind::Fixture => "fixture",
        }
    }
}

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// What it is for.
    pub kind: Kind,
    /// Registry name of a built-in, folder name of a test plugin.
    pub name: &'static str,
    /// Its cargo package.
    pub package: &'static str,
    /// Its lib name: the file cargo writes is `<artifact>.wasm`.
    pub artifact: &'static str,
}

impl Plugin {
    /// The component's path in the release folder of a nested build.
    pub fn path_in(&self, release_dir: &Path) -> PathBuf {
        release_dir.join(format!("{}.wasm", self.artifact))
    }
}

/// Every plugin of [`LIST`], in its order.
pub fn plugins() -> Result<Vec<Plugin>, Error> {
    parse(LIST)
}

/// Parses a list in the `plugins.txt` format (`#` starts a comment; blank lines are skipped).
pub fn parse(text: &'static str) -> Result<Vec<Plugin>, Error> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason| Error::BadLine { line: i + 1, reason, text: raw.to_string() };
        let fields: Vec<&'static str> = line.split_whitespace().collect();
        let [kind, name, package, artifact] = fields[..] else {
            return Err(bad("expected 4 fields"));
        };
        let kind = match kind {
            "builtin" => Kind::Builtin,
            "hostile" => Kind::Hostile,
            "fixture" => Kind::Fixture,
            _ => return Err(bad("kind must be builtin, hostile or fixture")),
        };
        out.push(Plugin { kind, name, package, artifact });
    }
    Ok(out)
}

/// The nested build's target folder: `<target>/plugin-target`, where `<target>` is the outer
/// build's `CARGO_TARGET_DIR` when set, else derived from a build script's `OUT_DIR`
/// (`<target>/<profile>/build/<pkg>-<hash>/out`).
pub fn plugin_target(cargo_target_dir: Option<&Path>, out_dir: &Path) -> PathBuf {
    let target = match cargo_target_dir {
        Some(t) => t.to_path_buf(),
        None => out_dir.ancestors().nth(4).map(Path::to_path_buf).unwrap_or_else(|| out_dir.join("target")),
    };
    target.join("plugin-target")
}

/// Paths (relative to the workspace root) whose change must rerun a build script that builds
/// plugins.
pub const SOURCES: &[&str] =
    &["plugins", "tests/plugins", "wit", "Cargo.lock", ".cargo/config.toml", "host/plugin-artifacts/plugins.txt"];

/// Builds `plugins` (release, [`TARGET`]) with `cargo` from `workspace_root` into
/// `plugin_target`; returns the folder holding the `<artifact>.wasm` files. Cargo's output goes
/// to this process's stderr. The outer build's flags and target folder are not passed on.
pub fn build(cargo: &Path, workspace_root: &Path, plugin_target: &Path, plugins: &[Plugin]) -> Result<PathBuf, Error> {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root).args(["build", "--release", "--target", TARGET, "--target-dir"]).arg(plugin_target);
    for p in plugins {
        cmd.args(["-p", p.package]);
    }
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().map_err(|source| Error::Spawn { cargo: cargo.display().to_string(), source })?;
    if !status.success() {
        return Err(Error::Build { status });
    }
    Ok(plugin_target.join(TARGET).join("release"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_are_unique() {
        let all = plugins().unwrap();
        assert!(all.iter().any(|p| p.kind == Kind::Builtin && p.name == "gasf"));
        let mut keys: Vec<(Kind, &str)> = all.iter().map(|p| (p.kind, p.name)).collect();
        keys.sort_by_key(|(k, n)| (k.as_str(), *n));
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "a (kind, name) pair appears twice");
    }

    #[test]
    fn every_listed_package_is_a_workspace_folder() {
        // The folder cargo runs the test in, not the one it was compiled in: the target folder is
        // shared by checkouts (this one's and CI's clone), and a test binary whose sources did
        // not change is not rebuilt for another checkout.
        let here = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = Path::new(&here).join("../..");
        for p in plugins().unwrap() {
            let folder = match p.kind {
                Kind::Builtin => root.join("plugins").join(p.name),
                Kind::Hostile => root.join("tests/plugins/hostile").join(p.name),
                Kind::Fixture => root.join("tests/plugins/fixtures").join(p.name),
            };
            let manifest = std::fs::read_to_string(folder.join("Cargo.toml")).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            assert!(manifest.contains(&format!("name = \"{}\"", p.package)), "{p:?}: package name");
            assert!(manifest.contains(&format!("name = \"{}\"", p.artifact)), "{p:?}: lib name");
        }
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let e = parse("# c\n\nbuiltin a b\n").unwrap_err();
        assert!(matches!(e, Error::BadLine { line: 3, .. }), "{e}");
        let e = parse("plugin a b c\n").unwrap_err();
        assert!(matches!(e, Error::BadLine { line: 1, .. }), "{e}");
    }
}
