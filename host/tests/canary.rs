//! Canary promotion end to end with the real binary, a real PostgreSQL and real components: a
//! candidate version runs in shadow on the live inputs of the active version — transforms inside
//! calculate, strategies on the bars of a running paper run — and is promoted when within
//! tolerance, or refused with the reason: an identical `gasf` is promoted (and activated, logged
//! as a `canary` activation); a changed `gadf`, a crashing `gasf` and a 10×-slower `gasf` are
//! refused; a strategy version that traps on live bars is refused beside a paper run whose
//! decisions it matched until then. Requests with no window, an unknown or active version, a
//! bad tolerance, and a second canary of one plugin are refused with their reasons; `cgaf plugin
//! canary` waits for the verdict and exits non-zero on a refusal.

mod common;

use cgaf_test_kit::{eventually, plugins};
use common::{cgaf, trading_args, upload_plugin, wait_ready, Service};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "canary-test-token";

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.bearer_auth(TOKEN).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn canary(http: &reqwest::Client, base: &str, name: &str, body: Value) -> (u16, Value) {
    send(http.post(format!("{base}/api/plugins/{name}/canary")).json(&body)).await
}

/// Waits for canary `id` of `name` to end; the plugin's detail and the canary's report.
async fn verdict(http: &reqwest::Client, base: &str, name: &str, id: i64) -> (Value, Value) {
    eventually(Duration::from_secs(120), "the canary's verdict", || {
        let (http, url) = (http.clone(), format!("{base}/api/plugins/{name}"));
        async move {
            let (_, p) = send(http.get(url)).await;
            let c = p["canaries"].as_array()?.iter().find(|c| c["id"] == id)?.clone();
            (c["state"] != "running").then_some((p, c))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_are_promoted_within_tolerance_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let http = reqwest::Client::new();
    let svc = Service::start(
        dir.path(),
        &[
            "--database-url",
            &db.url,
            "--products",
            "BTC-USD:64",
            "--collect-schedule",
            "50ms",
            "--calculate-schedule",
            "100ms",
            "--api-token",
            TOKEN,
        ],
    );
    let base = svc.base.clone();
    wait_ready(&http, &base).await;
    // A second replica: a promotion reaches it too.
    let dir2 = dir.path().join("replica-2");
    std::fs::create_dir_all(&dir2).unwrap();
    let replica = Service::start(&dir2, &["--database-url", &db.url, "--products", "BTC-USD:64", "--api-token", TOKEN]);
    wait_ready(&http, &replica.base).await;
    for f in [plugins::FIXTURE_GASF_SAME, plugins::FIXTURE_GASF_CRASH, plugins::FIXTURE_GASF_SLOW] {
        upload_plugin(&http, &base, TOKEN, f, false).await;
    }
    upload_plugin(&http, &base, TOKEN, plugins::FIXTURE_GADF_NEXT, false).await;

    // Refused before anything starts, each with its reason.
    let bad = [
        (json!({"version": "1.0.1"}), 400, "missing_window"),
        (json!({"version": "1.0.1", "duration": "soon"}), 400, "bad_duration"),
        (json!({"version": "1.0.1", "calls": 5, "tolerance": {"max_diff": 1}}), 400, "bad_tolerance"),
        (json!({"version": "1.0.1", "calls": 5, "tolerance": {"min_decision_agreement": 2}}), 400, "bad_tolerance"),
        (json!({"version": "1.0.0", "calls": 5}), 400, "already_active"),
        (json!({"version": "9.9.9", "calls": 5}), 404, "unknown_plugin"),
    ];
    for (body, status, code) in bad {
        let (s, b) = canary(&http, &base, "gasf", body.clone()).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{body} → {b}");
    }
    let r = http.post(format!("{base}/api/plugins/gasf/canary")).json(&json!({"version": "1.0.1", "calls": 5}));
    assert_eq!(r.send().await.unwrap().status(), 401, "writes need the token");

    // One canary per plugin at a time; a running one can be cancelled.
    let (s, c) = canary(&http, &base, "gasf", json!({"version": "1.0.1", "duration": "1h"})).await;
    assert_eq!(s, 202, "{c}");
    assert_eq!((c["state"].as_str(), c["active_version"].as_str()), (Some("running"), Some("1.0.0")), "{c}");
    let (s, b) = canary(&http, &base, "gasf", json!({"version": "1.0.3", "calls": 5})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("canary_running")), "{b}");
    let (s, b) = send(http.delete(format!("{base}/api/plugins/gasf/canary"))).await;
    assert_eq!((s, b["state"].as_str()), (200, Some("cancelled")), "{b}");
    // Calls asked for must come in within the duration (their deadline), else the canary is refused.
    let (s, c) =
        canary(&http, &base, "gasf", json!({"version": "1.0.1", "calls": 100_000_000, "duration": "2s"})).await;
    assert_eq!(s, 202, "{c}");
    let (p, c) = verdict(&http, &base, "gasf", c["id"].as_i64().unwrap()).await;
    assert_eq!(c["state"], "refused", "{c}");
    let reason = c["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("only ")
            && reason.ends_with("of the 100000000 live calls asked for were compared within 2 s"),
        "{reason}"
    );
    assert_eq!(p["active_version"], "1.0.0", "{p}");

    // A changed gadf (the transposed field) and an identical gasf, at the same time: the first is
    // refused for its outputs, the second promoted and active.
    let (s, changed) = canary(&http, &base, "gadf", json!({"version": "1.1.0", "calls": 20})).await;
    assert_eq!(s, 202, "{changed}");
    let (s, same) = canary(&http, &base, "gasf", json!({"version": "1.0.1", "calls": 40})).await;
    assert_eq!(s, 202, "{same}");
    let (_, c) = verdict(&http, &base, "gadf", changed["id"].as_i64().unwrap()).await;
    assert_eq!(c["state"], "refused", "{c}");
    assert!(c["reason"].as_str().unwrap().starts_with("outputs differ"), "{c}");
    assert!(c["tally"]["values_changed"].as_u64().unwrap() > 0 && c["tally"]["pixels_changed"].as_u64().unwrap() > 0);
    assert!(c["mean_abs_diff"].as_f64().unwrap() > 0.0, "{c}");
    let (p, c) = verdict(&http, &base, "gasf", same["id"].as_i64().unwrap()).await;
    assert_eq!(c["state"], "promoted", "{c}");
    let t = &c["tally"];
    assert!(t["calls"].as_u64().unwrap() >= 40, "{c}");
    assert_eq!((t["values_changed"].as_u64(), t["candidate_errors"].as_u64()), (Some(0), Some(0)), "{c}");
    assert!(t["values_compared"].as_u64().unwrap() >= t["calls"].as_u64().unwrap(), "{c}");
    assert!(t["candidate_peak_memory"].as_u64().unwrap() > 0 && c["latency_ratio"].as_f64().unwrap() > 0.0);
    assert_eq!(p["active_version"], "1.0.1", "{p}");
    assert_eq!(
        (p["activations"][0]["version"].as_str(), p["activations"][0]["reason"].as_str()),
        (Some("1.0.1"), Some("canary"))
    );
    eventually(Duration::from_secs(30), "the other replica to use the promoted version", || {
        let (http, url) = (http.clone(), format!("{}/metrics", replica.base));
        async move {
            let text = http.get(url).send().await.ok()?.text().await.ok()?;
            text.lines()
                .any(|l| {
                    l.starts_with("cgaf_plugin_active_info{")
                        && l.contains("plugin=\"gasf\"")
                        && l.contains("version=\"1.0.1\"")
                })
                .then_some(())
        }
    })
    .await;
    let (_, p) = send(http.get(format!("{base}/api/plugins/gadf"))).await;
    assert_eq!(p["active_version"], "1.0.0", "a refused candidate changes nothing: {p}");
    let (s, log) = send(http.get(format!("{base}/api/plugins/gasf/activations?limit=1"))).await;
    assert_eq!(s, 200, "{log}");
    assert_eq!(log["activations"].as_array().unwrap().len(), 1, "{log}");
    assert!(log["next_before"].is_i64(), "{log}");

    // Against the promoted 1.0.1: a candidate that crashes on live inputs is refused at its first
    // failure (it passed the upload's smoke call), a 10×-slower one when its calls are in.
    let (s, crash) = canary(&http, &base, "gasf", json!({"version": "1.0.2", "calls": 1000})).await;
    assert_eq!(s, 202, "{crash}");
    assert_eq!(crash["active_version"], "1.0.1");
    let (_, c) = verdict(&http, &base, "gasf", crash["id"].as_i64().unwrap()).await;
    assert_eq!(c["state"], "refused", "{c}");
    let reason = c["reason"].as_str().unwrap();
    assert!(reason.starts_with("the candidate failed") && reason.contains("trap"), "{reason}");
    assert!(c["tally"]["calls"].as_u64().unwrap() < 1000, "refused at once, not after the window: {c}");

    // Through the CLI: waits, prints the report, exits non-zero on the refusal.
    let out = tokio::task::spawn_blocking({
        let (base, data) = (base.clone(), dir.path().join("cli"));
        move || {
            cgaf()
                .args(["--data-dir", data.to_str().unwrap()])
                .args([
                    "plugin", "--url", &base, "--token", TOKEN, "canary", "gasf", "1.0.3", "--calls", "30", "--json",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a refused canary exits non-zero: {stdout}\n{stderr}");
    let c: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(c["state"], "refused", "{c}");
    assert!(c["reason"].as_str().unwrap().contains("slower than the active version"), "{c}");
    assert!(c["latency_ratio"].as_f64().unwrap() > 3.0, "{c}");
    assert_eq!(c["tally"]["values_changed"], 0, "the slow candidate's outputs are the same: {c}");
    assert!(stderr.contains("in shadow beside 1.0.1"), "{stderr}");
    let (_, p) = send(http.get(format!("{base}/api/plugins/gasf"))).await;
    assert_eq!(p["active_version"], "1.0.1", "{p}");
    assert_eq!(p["canaries"].as_array().unwrap().len(), 5, "cancelled, expired, promoted, crashed, slow: {p}");
    drop((svc, replica));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_candidate_shadows_a_paper_run_and_is_refused_when_it_traps() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let http = reqwest::Client::new();
    let svc = Service::start(dir.path(), &trading_args(&db.url, TOKEN));
    let base = svc.base.clone();
    wait_ready(&http, &base).await;
    upload_plugin(&http, &base, TOKEN, plugins::FIXTURE_MOMENTUM, true).await;
    upload_plugin(&http, &base, TOKEN, plugins::FIXTURE_MOMENTUM_FAULTY, false).await;

    // A paper run on 0.1.0, deciding bars before the canary starts (its shadow starts from the
    // run's strategy state and portfolio).
    let paper = json!({"strategy": "momentum", "params": {"lookback": 4}, "product": "BTC-USD",
                       "mode": "paper", "bar_interval": "200ms"});
    let (s, r) = send(http.post(format!("{base}/api/runs")).json(&paper)).await;
    assert_eq!((s, r["strategy_version"].as_str()), (201, Some("0.1.0")), "{r}");
    let run = r["run_id"].as_i64().unwrap();
    eventually(Duration::from_secs(90), "the paper run to decide bars", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{run}"));
        async move {
            let (_, r) = send(http.get(url)).await;
            (r["bars_done"].as_i64()? >= 3).then_some(())
        }
    })
    .await;

    // 0.2.0 decides as 0.1.0 does, then traps on live bars: refused with the trap; the decisions
    // compared before it agreed; the run goes on with 0.1.0, which stays active.
    let (s, c) = canary(&http, &base, "momentum", json!({"version": "0.2.0", "calls": 10000})).await;
    assert_eq!(s, 202, "{c}");
    let (p, c) = verdict(&http, &base, "momentum", c["id"].as_i64().unwrap()).await;
    assert_eq!(c["state"], "refused", "{c}");
    assert!(c["reason"].as_str().unwrap().contains("trap"), "{c}");
    let t = &c["tally"];
    assert_eq!(t["decisions"], t["decisions_agreed"], "{c}");
    assert_eq!(p["active_version"], "0.1.0", "{p}");
    let (_, r) = send(http.get(format!("{base}/api/runs/{run}"))).await;
    assert_eq!((r["status"].as_str(), r["strategy_version"].as_str()), (Some("running"), Some("0.1.0")), "{r}");
    drop(svc);
}
