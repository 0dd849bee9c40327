//! Builds the built-in plugins for wasm32-wasip2 and embeds them in the binary.
//!
//! The plugins are workspace members; they are compiled by a nested `cargo build` into a
//! separate target folder (`<target>/plugin-target`, shared with `scripts/build-plugins.sh`), so
//! the outer build's lock is not contended. Set `CGAF_PLUGINS_DIR` to a folder of prebuilt
//! `<name>.wasm` files to skip the nested build (e.g. in a Docker stage).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Registry name → cargo package of every built-in plugin.
const BUILTINS: &[(&str, &str)] = &[
    ("gasf", "cgaf-plugin-gasf"),
    ("gadf", "cgaf-plugin-gadf"),
    ("mtf", "cgaf-plugin-mtf"),
    ("recurrence-plot", "cgaf-plugin-recurrence-plot"),
    ("sma-cross", "cgaf-plugin-sma-cross"),
    ("blend-mean", "cgaf-plugin-blend-mean"),
    ("blend-ewma", "cgaf-plugin-blend-ewma"),
    ("blend-product", "cgaf-plugin-blend-product"),
];

fn target_dir(out_dir: &Path) -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out
    out_dir.ancestors().nth(4).map(Path::to_path_buf).unwrap_or_else(|| out_dir.join("target"))
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("host/ has a parent").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for p in ["plugins", "wit", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=CGAF_PLUGINS_DIR");

    let dir = match std::env::var("CGAF_PLUGINS_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let target = target_dir(&out_dir).join("plugin-target");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&root)
                .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
                .arg(&target);
            for (_, pkg) in BUILTINS {
                cmd.args(["-p", pkg]);
            }
            // Do not leak the outer build's settings into the nested one.
            for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR"] {
                cmd.env_remove(var);
            }
            let status = cmd.status().expect("running cargo for the built-in plugins");
            if !status.success() {
                panic!(
                    "building the built-in plugins for wasm32-wasip2 failed; is the target installed? \
                     Run `rustup target add wasm32-wasip2` (scripts/setup.sh does it)"
                );
            }
            target.join("wasm32-wasip2").join("release")
        }
    };

    let embed = out_dir.join("plugins");
    std::fs::create_dir_all(&embed).expect("creating OUT_DIR/plugins");
    let mut code = String::from(
        "/// Built-in plugins: (registry name, component bytes).\npub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for (name, pkg) in BUILTINS {
        let file = format!("{}.wasm", pkg.trim_start_matches("cgaf-plugin-").replace('-', "_"));
        let src = dir.join(&file);
        let dst = embed.join(format!("{name}.wasm"));
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", dst.display().to_string()));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("builtins.rs"), code).expect("writing builtins.rs");
}
