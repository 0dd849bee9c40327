//! Builds the built-in plugins for wasm32-wasip2 and embeds them in the binary.
//!
//! The list of plugins and the nested `cargo build` (into `<target>/plugin-target`, so the outer
//! build's lock is not contended) live in `cgaf-plugin-artifacts`. Set `CGAF_PLUGINS_DIR` to a
//! folder of prebuilt `<artifact>.wasm` files to skip the nested build (e.g. in a Docker stage).

use cgaf_plugin_artifacts::{Kind, Plugin};
use std::path::PathBuf;

/// Test fixtures the benchmarks also need, embedded as constants: (fixture, constant, doc).
const BENCH_FIXTURES: &[(&str, &str, &str)] = &[
    (
        "gadf-next",
        "SWAP_BENCH_PLUGIN",
        "`gadf` 1.1.0 (the negated GADF), a version no replica has compiled: uploaded by the hot-swap benchmark.",
    ),
    (
        "gasf-pixels",
        "NEXT_CONTRACT_BENCH_PLUGIN",
        "`gasf-pixels` 0.2.0, built against the next contract (`transform-pixels`): timed by the plugin benchmark.",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("host/ has a parent").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for p in cgaf_plugin_artifacts::SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=CGAF_PLUGINS_DIR");

    // The built-ins, and the fixtures the benchmarks use.
    let embedded: Vec<Plugin> = cgaf_plugin_artifacts::plugins()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| {
            p.kind == Kind::Builtin || (p.kind == Kind::Fixture && BENCH_FIXTURES.iter().any(|f| f.0 == p.name))
        })
        .collect();
    let dir = match std::env::var("CGAF_PLUGINS_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
            let plugin_target = cgaf_plugin_artifacts::plugin_target(target_dir.as_deref(), &out_dir);
            let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cgaf_plugin_artifacts::build(&cargo, &root, &plugin_target, &embedded).unwrap_or_else(|e| panic!("{e}"))
        }
    };

    let embed = out_dir.join("plugins");
    std::fs::create_dir_all(&embed).expect("creating OUT_DIR/plugins");
    let mut code = String::from(
        "/// Built-in plugins: (registry name, component bytes).\npub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    let mut fixtures = String::new();
    for p in &embedded {
        let src = p.path_in(&dir);
        let dst = embed.join(format!("{}.wasm", p.name));
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        let path = dst.display().to_string();
        match BENCH_FIXTURES.iter().find(|f| p.kind == Kind::Fixture && f.0 == p.name) {
            Some((_, constant, doc)) => {
                fixtures.push_str(&format!("/// {doc}\npub const {constant}: &[u8] = include_bytes!({path:?});\n"))
            }
            None => code.push_str(&format!("    ({:?}, include_bytes!({path:?})),\n", p.name)),
        }
    }
    code.push_str("];\n");
    code.push_str(&fixtures);
    std::fs::write(out_dir.join("builtins.rs"), code).expect("writing builtins.rs");
}
