//! crypto-gaf's test kit, a dev-dependency only: one PostgreSQL cluster per test binary with a
//! fresh database per test ([`postgres`]), the golden-file locator ([`golden`]), the plugin
//! components built once (`plugins`, with the feature `plugins`), and waiting on a condition with a
//! deadline instead of sleeping ([`wait_until`], [`eventually`]), and reading pyts's golden
//! files ([`pyts`]).

pub mod postgres;
pub mod pyts;
pub mod wait;

pub use postgres::{database, TestDatabase};
pub use wait::{eventually, wait_until};

use std::path::PathBuf;

/// Paths of the plugin components, built once by this crate's build script from the one list
/// (`host/plugin-artifacts/plugins.txt`): a constant per component named `<KIND>_<NAME>`
/// (e.g. `HOSTILE_MEMORY_BOMB`, `FIXTURE_GADF_NEXT`, `BUILTIN_GASF`) and [`plugins::ALL`].
#[cfg(feature = "plugins")]
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

    /// The bytes of the component at `path` (one of this module's constants).
    pub fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("reading the plugin component {path}: {e}"))
    }
}

/// The checkout the tests run in: found from the running test's package folder (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs a test), not from where this crate was compiled — a target
/// folder shared by two checkouts runs a test binary compiled in the other one.
pub fn workspace_root() -> PathBuf {
    let compiled_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(running) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return compiled_in;
    };
    PathBuf::from(running)
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file() && d.join("tests/golden").is_dir())
        .map(PathBuf::from)
        .unwrap_or(compiled_in)
}

/// The repository's `tests/golden` folder, wherever the calling crate lies.
pub fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden")
}

/// A file or folder under `tests/golden`, e.g. `golden("pyts/errors.json")`.
pub fn golden(relative: &str) -> PathBuf {
    golden_dir().join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_files_are_found() {
        assert!(golden("pyts").is_dir());
        let here = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        assert_eq!(workspace_root(), std::path::Path::new(&here).join("../..").canonicalize().unwrap());
        assert!(golden("crypto-gaf-images.json").is_file());
        assert!(golden("reference/metrics.json").is_file());
    }

    /// No code, script or test reads the folder beside the clone (`../shared`): a clone alone
    /// must pass the tests. Markdown is documentation (the golden README records where the files
    /// came from) and is not searched; this file names the string it looks for.
    #[test]
    fn nothing_reads_the_folder_beside_the_clone() {
        let root = workspace_root();
        let needle = ["..", "/shared"].concat();
        let mut found = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        stack.push(path);
                    }
                    continue;
                }
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
                let code = ["rs", "sh", "py", "toml", "yaml", "yml", "tpl"].contains(&ext) || name == "Dockerfile";
                if !code || path.ends_with("tests/kit/src/lib.rs") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                for (i, line) in text.lines().enumerate() {
                    if line.contains(&needle) {
                        let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
                        found.push(format!("{shown}:{}: {}", i + 1, line.trim()));
                    }
                }
            }
        }
        assert!(found.is_empty(), "these lines refer to the folder beside the clone:\n{}", found.join("\n"));
    }
}
