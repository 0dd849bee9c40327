//! A plugin built the way a third party builds one (issue 11, item 1): in a folder outside this workspace, depending
//! on `cgaf-plugin-sdk` by path (nothing inherited from our workspace, its own lockfile resolved
//! from crates.io), compiled for `wasm32-wasip2`, uploaded to a running service with
//! `cgaf plugin upload --activate`, and run as a backtest over imported history.

mod common;

use common::{cgaf, database_with_golden_bars, run_to_end, wait_ready, Service};
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "outside-plugin-token";

/// The plugin project: the built-in sma-cross's code under another name and version.
fn write_project(dir: &Path, sdk: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        r#"[package]
name = "outside-sma"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
cgaf-plugin-sdk = {{ path = "{}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# A workspace of its own: nothing of the crypto-gaf workspace applies.
[workspace]
"#,
        sdk.display()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let repo = cgaf_test_kit::workspace_root();
    let code = std::fs::read_to_string(repo.join("plugins/sma-cross/src/lib.rs")).unwrap();
    // Its version is the package's (`env!("CARGO_PKG_VERSION")`): 0.1.0.
    let code = code.replacen("\"sma-cross\",", "\"outside-sma\",", 1);
    assert!(code.contains("\"outside-sma\","), "the plugin's name is where this test expects it");
    std::fs::write(dir.join("src/lib.rs"), code).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_outside_the_workspace_uploads_and_runs() {
    let repo = cgaf_test_kit::workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("outside-sma");
    write_project(&project, &repo.join("plugins/sdk"));
    // Its own target folder, kept between runs (a cold build of the guest crates takes minutes).
    let target = std::env::temp_dir().join("cgaf-outside-plugin-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "building outside the workspace failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let wasm = target.join("wasm32-wasip2/release/outside_sma.wasm");
    assert!(wasm.is_file(), "{} missing", wasm.display());

    let db = database_with_golden_bars().await;

    let svc = Service::start(
        dir.path(),
        &["--database-url", &db.url, "--roles", "api,trade", "--api-token", TOKEN, "--trade-schedule", "100ms"],
    );
    let base = svc.base.clone();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let up = cgaf()
        .args(["plugin", "--url", &base, "--token", TOKEN, "upload", wasm.to_str().unwrap(), "--activate"])
        .output()
        .unwrap();
    assert!(up.status.success(), "upload: {}", String::from_utf8_lossy(&up.stderr));

    let body = serde_json::json!({"strategy": "outside-sma@0.1.0", "params": {"fast": 10, "slow": 30},
                                  "product": "BTC-USD", "mode": "backtest", "bar_interval": "1m"});
    let run = run_to_end(&http, &base, TOKEN, body).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["strategy_version"], "0.1.0");
    assert_eq!(run["bars_done"].as_i64(), Some(3000), "{run}");
    assert!(run["metrics"]["trades"].as_i64().unwrap() > 10, "{run}");
}
