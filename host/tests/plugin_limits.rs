//! Per-plugin limits through the service (issue 11, item 4): an upload measures its smoke and
//! sizing calls and stores the limits chosen from them with the version — a Python strategy gets
//! more memory than a Rust one —, `GET /api/plugins/{name}` shows them, an upload may ask for its
//! own within the operator's caps, and one above a cap is refused with a 422 naming the cap.

mod common;

use common::{
    cgaf, cgaf_in, componentize_py_available, database_with_golden_bars, run_to_end, sdk, succeeded, wait_ready,
    Service,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOKEN: &str = "limits-token";

/// `cgaf plugin new strategy NAME --lang LANG` and `cgaf plugin build`: the component.
fn scaffold_strategy(dir: &Path, name: &str, lang: &str) -> PathBuf {
    let data = dir.join("data");
    let sdk = sdk();
    let mut new = vec!["plugin", "new", "strategy", name, "--lang", lang];
    if lang == "rust" {
        new.extend(["--sdk-path", sdk.to_str().unwrap()]);
    }
    succeeded(&cgaf_in(&data, dir, &new), "cgaf plugin new");
    let built = succeeded(&cgaf_in(&data, &dir.join(name), &["plugin", "build", "--json"]), "cgaf plugin build");
    let built: Value = serde_json::from_str(&built).unwrap();
    PathBuf::from(built["wasm"].as_str().unwrap())
}

async fn upload(http: &reqwest::Client, base: &str, wasm: &Path, query: &str) -> (u16, Value) {
    let r = http
        .post(format!("{base}/api/plugins?{query}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(std::fs::read(wasm).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_choose_limits_from_what_they_measured_within_the_caps() {
    if !componentize_py_available() {
        eprintln!("SKIPPED: componentize-py is not installed (scripts/setup.sh --python installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rust = tokio::task::block_in_place(|| scaffold_strategy(dir.path(), "rs-limits", "rust"));
    let python = tokio::task::block_in_place(|| scaffold_strategy(dir.path(), "py-limits", "python"));

    let db = database_with_golden_bars().await;
    let svc = Service::start(
        dir.path(),
        &[
            "--database-url",
            &db.url,
            "--roles",
            "api,trade",
            "--api-token",
            TOKEN,
            "--trade-schedule",
            "100ms",
            "--plugin-memory-limit",
            "96MiB",
            "--plugin-call-deadline",
            "2s",
        ],
    );
    let base = svc.base.clone();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;

    let (status, r) = upload(&http, &base, &rust, "activate=true").await;
    assert_eq!(status, 201, "{r}");
    let (status, p) = upload(&http, &base, &python, "activate=true").await;
    assert_eq!(status, 201, "{p}");
    // Both scaffolded strategies speak the released contract.
    assert_eq!((r["contract"].as_str(), p["contract"].as_str()), (Some("0.1.0"), Some("0.1.0")), "{r} {p}");
    let (rl, pl) = (&r["limits"], &p["limits"]);
    assert_eq!(rl["chosen"], "measured", "{r}");
    assert_eq!(pl["chosen"], "measured", "{p}");
    let mem = |l: &Value, k: &str| l[k].as_u64().unwrap();
    assert!(
        mem(pl, "memory_limit_bytes") > mem(rl, "memory_limit_bytes"),
        "the Python component needs more memory: python {pl}, rust {rl}"
    );
    assert!(mem(pl, "measured_peak_memory_bytes") > mem(rl, "measured_peak_memory_bytes"));
    for l in [rl, pl] {
        assert!(mem(l, "memory_limit_bytes") > mem(l, "measured_peak_memory_bytes"), "{l}");
        assert!(mem(l, "memory_limit_bytes") <= 96 << 20, "{l}");
        let deadline = mem(l, "call_deadline_ms");
        assert!((100..=2000).contains(&deadline), "{l}");
    }

    // Shown with the version, as stored.
    let shown: Value = http.get(format!("{base}/api/plugins/py-limits")).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["versions"][0]["limits"], *pl, "{shown}");
    // A built-in has no limits of its own: it runs under the caps.
    let builtin: Value = http.get(format!("{base}/api/plugins/sma-cross")).send().await.unwrap().json().await.unwrap();
    let bl = &builtin["versions"][0]["limits"];
    assert_eq!(bl["chosen"], "caps", "{builtin}");
    assert_eq!(bl["memory_limit_bytes"], 96u64 << 20);
    assert_eq!(bl["call_deadline_ms"], 2000);
    // The built-in sma-cross is served through the draft 0.2.0 (its sweeps call `targets`).
    assert_eq!(builtin["versions"][0]["contract"], "0.2.0", "{builtin}");

    // A request above a cap is refused, naming the cap; nothing changes.
    let (status, e) = upload(&http, &base, &python, "memory_limit_bytes=201326592").await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["code"], "limit_above_cap", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("--plugin-memory-limit"), "{e}");
    let (status, e) = upload(&http, &base, &python, "call_deadline_ms=5000").await;
    assert_eq!(status, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("--plugin-call-deadline"), "{e}");
    let (status, e) = upload(&http, &base, &python, "memory_limit_bytes=1048576").await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["code"], "limit_below_measured", "{e}");
    let shown: Value = http.get(format!("{base}/api/plugins/py-limits")).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["versions"][0]["limits"], *pl, "{shown}");

    // Within the caps, through the CLI: taken as asked.
    let out = cgaf()
        .args(["plugin", "--url", &base, "--token", TOKEN, "upload", rust.to_str().unwrap()])
        .args(["--memory-limit", "80MiB", "--call-deadline", "1500ms"])
        .output()
        .unwrap();
    let answer: Value = serde_json::from_str(&succeeded(&out, "cgaf plugin upload --memory-limit")).unwrap();
    assert_eq!(answer["limits"]["chosen"], "requested", "{answer}");
    assert_eq!(answer["limits"]["memory_limit_bytes"], 80u64 << 20);
    assert_eq!(answer["limits"]["call_deadline_ms"], 1500);

    // The Python strategy runs a backtest under its limits.
    let body = serde_json::json!({"strategy": "py-limits@0.1.0", "params": {"lookback": 10},
                                  "product": "BTC-USD", "mode": "backtest", "bar_interval": "1m"});
    let run = run_to_end(&http, &base, TOKEN, body).await;
    assert_eq!(run["status"], "finished", "{run}");
}
