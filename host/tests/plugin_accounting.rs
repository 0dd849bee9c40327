//! Strategy calls counted and quarantined like every plugin call, and failed calls replayed, end
//! to end with the real binary, a real PostgreSQL and real components: a faulty new version of a
//! strategy (`momentum` 0.2.0, which traps after 12 bars) fails a backtest naming the plugin
//! version, the call and its bar; a paper run on it is switched to the previous version (0.1.0)
//! when it is quarantined, logs which version decided each bar and keeps running; the plugin's
//! statistics (API and /metrics) show calls and faults per version; the failed calls are stored
//! with their inputs, and `cgaf plugin replay` reproduces the same typed error with the stored
//! component and passes with a fixed build.

mod common;

use cgaf_test_kit::{eventually, plugins};
use common::{bars_of_history, cgaf, trading_args, upload_plugin, wait_ready, Service};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "accounting-test-token";

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = http.post(&url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Every decision of run `id`, in order.
async fn decisions(http: &reqwest::Client, base: &str, id: i64) -> Vec<Value> {
    let (s, page) = get(http, format!("{base}/api/runs/{id}/decisions?limit=10000")).await;
    assert_eq!(s, 200, "{page}");
    page["decisions"].as_array().cloned().unwrap_or_default()
}

fn replay(base: &str, name: &str, id: i64, wasm: Option<&str>) -> (bool, Value, String) {
    let mut cmd = cgaf();
    cmd.args(["plugin", "--url", base, "--token", TOKEN, "replay", name, &id.to_string(), "--json"]);
    if let Some(w) = wasm {
        cmd.args(["--wasm", w]);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = cmd.args(["--data-dir", dir.path().to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), serde_json::from_str(&stdout).unwrap_or(Value::Null), format!("{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_strategy_version_is_counted_quarantined_switched_and_its_failures_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let http = reqwest::Client::new();
    let mut args = trading_args(&db.url, TOKEN);
    args.extend(["--quarantine-after", "3"]);
    let svc = Service::start(dir.path(), &args);
    let base = svc.base.clone();
    wait_ready(&http, &base).await;
    let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new(db.url.clone())).unwrap();
    eventually(Duration::from_secs(90), "30 bars of history", || async {
        (bars_of_history(&store).await? >= 30).then_some(())
    })
    .await;

    // momentum 0.1.0, then the faulty 0.2.0, both activated: 0.2.0 is active.
    upload_plugin(&http, &base, TOKEN, plugins::FIXTURE_MOMENTUM, true).await;
    upload_plugin(&http, &base, TOKEN, plugins::FIXTURE_MOMENTUM_FAULTY, true).await;
    let (_, p) = get(&http, format!("{base}/api/plugins/momentum")).await;
    assert_eq!(p["active_version"], "0.2.0", "{p}");

    // A backtest on 0.2.0 fails at its 13th bar, naming the plugin version, the call and the bar.
    let now = chrono::Utc::now().timestamp_millis();
    let backtest = json!({
        "strategy": "momentum@0.2.0", "params": {"lookback": 4}, "product": "BTC-USD", "mode": "backtest",
        "from": now - 60_000, "to": now, "bar_interval": "200ms", "allow_gaps": true,
    });
    let (s, b) = post(&http, format!("{base}/api/runs"), backtest).await;
    assert_eq!(s, 201, "{b}");
    let id = b["run_id"].as_i64().unwrap();
    let b = eventually(Duration::from_secs(60), "the backtest to end", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{id}"));
        async move {
            let (_, r) = get(&http, url).await;
            (!matches!(r["status"].as_str(), Some("pending" | "running"))).then_some(r)
        }
    })
    .await;
    assert_eq!(b["status"], "failed", "{b}");
    let reason = b["status_reason"].as_str().unwrap();
    assert!(reason.starts_with("strategy momentum@0.2.0 failed in on_bars at bar 12 (time_ms "), "{reason}");
    assert!(reason.contains("plugin trapped"), "{reason}");

    // A paper run on the active version: 0.2.0 decides 12 bars, then faults; after 3 faults in a
    // row it is quarantined, 0.1.0 is put back, and the run goes on with 0.1.0.
    let paper = json!({"strategy": "momentum", "params": {"lookback": 4}, "product": "BTC-USD",
                       "mode": "paper", "bar_interval": "200ms"});
    let (s, r) = post(&http, format!("{base}/api/runs"), paper).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["strategy_version"], "0.2.0", "{r}");
    let run = r["run_id"].as_i64().unwrap();
    let rows = eventually(Duration::from_secs(90), "the paper run to decide bars with 0.1.0", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let rows = decisions(&http, &base, run).await;
            (rows.iter().filter(|r| r["strategy_version"] == "0.1.0").count() >= 5).then_some(rows)
        }
    })
    .await;
    let versions: Vec<&str> = rows.iter().map(|r| r["strategy_version"].as_str().unwrap()).collect();
    let switch = versions.iter().position(|v| *v == "0.1.0").unwrap();
    assert_eq!(switch, 12, "0.2.0 decided its 12 bars, 0.1.0 the ones after: {versions:?}");
    assert!(versions[..switch].iter().all(|v| *v == "0.2.0") && versions[switch..].iter().all(|v| *v == "0.1.0"));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"].as_i64(), Some(i as i64), "no bar lost or repeated across the switch");
    }
    // The state written by 0.2.0 went on in 0.1.0: the bars seen keep counting.
    assert_eq!(rows[switch]["strategy_state"]["seen"].as_u64(), Some(switch as u64 + 1), "{}", rows[switch]);
    let (_, r) = get(&http, format!("{base}/api/runs/{run}")).await;
    assert_eq!((r["status"].as_str(), r["strategy_version"].as_str()), (Some("running"), Some("0.1.0")), "{r}");

    // The plugin: 0.2.0 quarantined, 0.1.0 active; calls and faults per version.
    let (_, p) = get(&http, format!("{base}/api/plugins/momentum")).await;
    assert_eq!(p["active_version"], "0.1.0", "{p}");
    let v2 = p["versions"].as_array().unwrap().iter().find(|v| v["version"] == "0.2.0").unwrap();
    assert!(
        v2["quarantined_at"].is_string() && v2["quarantine_reason"].as_str().unwrap().contains("3 failures"),
        "{v2}"
    );
    let (s2, s1) = (&p["stats"]["0.2.0"], &p["stats"]["0.1.0"]);
    assert!(s2["faults"]["trap"].as_u64().unwrap() >= 3, "{p}");
    assert!(s2["calls"].as_u64().unwrap() > 12 && s2["quarantines"].as_u64() == Some(1), "{p}");
    assert!(s2["peak_memory_bytes"].as_u64().unwrap() > 0, "{p}");
    assert!(s1["calls"].as_u64().unwrap() >= 5 && s1["faults"].as_object().unwrap().is_empty(), "{p}");
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let sample = |name: &str, labels: &[&str]| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (m, v1, v2) = ("plugin=\"momentum\"", "version=\"0.1.0\"", "version=\"0.2.0\"");
    assert!(sample("cgaf_plugin_calls_total", &[m, v1]) >= 5.0);
    assert!(sample("cgaf_plugin_faults_total", &[m, v2, "kind=\"trap\""]) >= 3.0);
    assert_eq!(sample("cgaf_plugin_quarantines_total", &[m, v2]), 1.0);
    assert!(sample("cgaf_plugin_call_duration_seconds_count", &[m, v2]) > 12.0);
    assert!(sample("cgaf_plugin_peak_memory_bytes", &[m, v1]) > 0.0);

    // The failed calls are stored with their inputs, newest first, behind the token.
    let r = http.get(format!("{base}/api/plugins/momentum/failures")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (s, list) = get(&http, format!("{base}/api/plugins/momentum/failures?limit=2")).await;
    assert_eq!(s, 200, "{list}");
    let failures = list["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{list}");
    assert!(failures[0]["id"].as_i64() > failures[1]["id"].as_i64(), "newest first: {list}");
    let f = &failures[0];
    assert_eq!(
        (f["version"].as_str(), f["call"].as_str(), f["error_code"].as_str()),
        (Some("0.2.0"), Some("on_bars"), Some("trap")),
        "{f}"
    );
    assert!(f["inputs"].is_null(), "lists leave the inputs out: {f}");
    let (_, next) = get(&http, format!("{base}/api/plugins/momentum/failures?before={}", list["next_before"])).await;
    assert!(
        next["failures"].as_array().unwrap().iter().all(|n| n["id"].as_i64() < failures[1]["id"].as_i64()),
        "{next}"
    );
    let id = f["id"].as_i64().unwrap();
    let (s, one) = get(&http, format!("{base}/api/plugins/momentum/failures/{id}")).await;
    assert_eq!(s, 200, "{one}");
    let inputs = &one["inputs"];
    assert_eq!(
        (inputs["kind"].as_str(), inputs["failed"]["call"].as_str()),
        (Some("strategy"), Some("on_bars")),
        "{one}"
    );
    // The state the instance was given and the bars fed since: 12 bars seen before the failing call.
    let restored: Value = serde_json::from_str(inputs["restored"].as_str().unwrap()).unwrap();
    let fed: usize = inputs["fed"].as_array().unwrap().iter().map(|c| c.as_array().unwrap().len()).sum();
    assert_eq!(restored["seen"].as_u64().unwrap() as usize + fed, 12, "{one}");
    assert_eq!(one["error"]["kind"], "trap", "{one}");
    let (s, _) = get(&http, format!("{base}/api/plugins/momentum/failures/999999")).await;
    assert_eq!(s, 404);

    // Replay: the stored component reproduces the identical typed error; the fixed build passes.
    let base2 = base.clone();
    let (ok, report, out) = tokio::task::spawn_blocking(move || replay(&base2, "momentum", id, None)).await.unwrap();
    assert!(ok, "{out}");
    assert_eq!(
        (report["outcome"].as_str(), report["ran"].as_str()),
        (Some("reproduced"), Some("momentum@0.2.0")),
        "{out}"
    );
    assert_eq!(report["got"], one["error"], "the identical typed error: {out}");
    let base2 = base.clone();
    let (ok, report, out) =
        tokio::task::spawn_blocking(move || replay(&base2, "momentum", id, Some(plugins::FIXTURE_MOMENTUM)))
            .await
            .unwrap();
    assert!(ok, "{out}");
    assert_eq!((report["outcome"].as_str(), report["ran"].as_str()), (Some("fixed"), Some("momentum@0.1.0")), "{out}");
    // The backtest's failure replays too (its state was captured at every bar).
    let (_, all) = get(&http, format!("{base}/api/plugins/momentum/failures?limit=500")).await;
    let oldest = all["failures"].as_array().unwrap().last().unwrap()["id"].as_i64().unwrap();
    let base2 = base.clone();
    let (ok, report, out) =
        tokio::task::spawn_blocking(move || replay(&base2, "momentum", oldest, None)).await.unwrap();
    assert!(ok && report["outcome"] == "reproduced", "{out}");

    let (s, _) = post(&http, format!("{base}/api/runs/{run}/stop"), json!({})).await;
    assert_eq!(s, 202, "the stop is accepted");
    drop(svc);
}
