//! With the `plugins` feature: builds every plugin of the one list (`cgaf-plugin-artifacts`) for
//! wasm32-wasip2, once per change, and writes `OUT_DIR/plugins.rs` with a constant per component
//! holding its path, the way wasmtime's `crates/test-programs/artifacts` does. The nested cargo
//! uses `<target>/plugin-target`, like host/build.rs, so the outer build's lock is not contended.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    let mut code = String::new();
    if std::env::var_os("CARGO_FEATURE_PLUGINS").is_some() {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        let root = manifest.join("../..");
        for p in cgaf_plugin_artifacts::SOURCES {
            println!("cargo:rerun-if-changed={}", root.join(p).display());
        }
        let all = cgaf_plugin_artifacts::plugins().unwrap_or_else(|e| panic!("{e}"));
        let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
        let plugin_target = cgaf_plugin_artifacts::plugin_target(target_dir.as_deref(), &out_dir);
        let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        let release =
            cgaf_plugin_artifacts::build(&cargo, &root, &plugin_target, &all).unwrap_or_else(|e| panic!("{e}"));
        let copies = out_dir.join("plugins");
        std::fs::create_dir_all(&copies).expect("creating OUT_DIR/plugins");
        let mut table = String::new();
        for p in &all {
            let src = p.path_in(&release);
            let dst = copies.join(format!("{}-{}.wasm", p.kind.as_str(), p.name));
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
            let constant = format!("{}_{}", p.kind.as_str(), p.name).to_uppercase().replace('-', "_");
            let path = dst.display().to_string();
            writeln!(code, "/// `{}` ({}, package `{}`).", p.name, p.kind.as_str(), p.package).unwrap();
            writeln!(code, "pub const {constant}: &str = {path:?};").unwrap();
            writeln!(table, "    ({:?}, {:?}, {constant}),", p.kind.as_str(), p.name).unwrap();
        }
        code.push_str("/// Every component: (kind, name, path).\npub const ALL: &[(&str, &str, &str)] = &[\n");
        code.push_str(&table);
        code.push_str("];\n");
    }
    std::fs::write(out_dir.join("plugins.rs"), code).expect("writing OUT_DIR/plugins.rs");
}
