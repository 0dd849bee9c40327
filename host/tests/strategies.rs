//! Strategies end to end with the real binary and a real PostgreSQL: backtests over stored
//! samples (deterministic: equal decision-log hashes), the decision log with paging, time ranges
//! and CSV, the risk gate, a paper run that keeps trading across a service restart, the kill
//! switch, the leaderboard, sweeps with heatmaps, and the `cgaf backtest` / `cgaf sweep` CLIs.

mod common;

use cgaf_test_kit::{eventually, plugins};
use common::{bars_of_history, cgaf, trading_args, wait_ready, Service};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const TOKEN: &str = "strategy-test-token";

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http.get(&url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = http.post(&url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the run leaves pending/running; returns it.
async fn wait_ended(http: &reqwest::Client, base: &str, id: i64) -> Value {
    eventually(Duration::from_secs(60), "the run to end", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{id}"));
        async move {
            let (_, r) = get(&http, url).await;
            (!matches!(r["status"].as_str(), Some("pending" | "running"))).then_some(r)
        }
    })
    .await
}

async fn all_decisions(http: &reqwest::Client, base: &str, id: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/runs/{id}/decisions?limit=7");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = get(http, url).await;
        assert_eq!(s, 200, "{page}");
        out.extend(page["decisions"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    out
}

/// A `cgaf serve` on a fresh database, ready, with at least `bars` 200 ms bars of BTC-USD history.
struct WithHistory {
    dir: tempfile::TempDir,
    db: cgaf_test_kit::TestDatabase,
    http: reqwest::Client,
    svc: Service,
    base: String,
    store: cgaf_store::Store,
}

async fn service_with_history(bars: i64) -> WithHistory {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let http = reqwest::Client::new();
    let svc = Service::start(dir.path(), &trading_args(&db.url, TOKEN));
    let base = svc.base.clone();
    wait_ready(&http, &base).await;
    let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new(db.url.clone())).unwrap();
    eventually(Duration::from_secs(90), &format!("{bars} bars of history"), || async {
        (bars_of_history(&store).await? >= bars).then_some(())
    })
    .await;
    WithHistory { dir, db, http, svc, base, store }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtests_paper_runs_gate_leaderboard_and_sweeps() {
    // Let history accumulate (40 ms samples): 70 bars of 200 ms, enough for every run below.
    let WithHistory { dir, db, http, mut svc, base, store } = service_with_history(70).await;
    let now = chrono::Utc::now().timestamp_millis();
    let backtest = json!({
        "strategy": "sma-cross", "params": {"fast": 3, "slow": 8}, "product": "BTC-USD", "mode": "backtest",
        "from": now - 60_000, "to": now, "bar_interval": "200ms", "fee_bps": 10, "slippage_bps": 5,
        // The service started less than a minute ago: the range is covered only in part.
        "allow_gaps": true,
    });

    // Bad requests are refused with the reason.
    for (body, needle) in [
        (json!({"strategy": "sma-cross", "product": "BTC-USD", "mode": "later"}), "mode"),
        (json!({"strategy": "sma-cross@9.9.9", "product": "BTC-USD", "mode": "backtest"}), "does not exist"),
        (json!({"strategy": "gasf", "product": "BTC-USD", "mode": "backtest"}), "not a strategy"),
        (
            json!({"strategy": "sma-cross", "params": {"fast": 30, "slow": 8}, "product": "BTC-USD", "mode": "backtest"}),
            "params",
        ),
        (json!({"strategy": "sma-cross", "product": "BTC-USD", "mode": "backtest", "fee_bps": -1}), "fee_bps"),
        (json!({"strategy": "sma-cross", "product": "BTC-USD", "mode": "backtest", "colour": 1}), "unknown field"),
    ] {
        let (s, r) = post(&http, format!("{base}/api/runs"), body).await;
        assert_eq!(s, 400, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {r}");
    }
    // A product without history: 422, naming what is (not) covered.
    let (s, r) = post(
        &http,
        format!("{base}/api/runs"),
        json!({"strategy": "sma-cross", "product": "NOPE-USD", "mode": "backtest"}),
    )
    .await;
    assert_eq!((s, r["error"]["code"].as_str()), (422, Some("range_not_covered")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("NOPE-USD has no history at 1s"), "{r}");
    let r = http.post(format!("{base}/api/runs")).json(&backtest).send().await.unwrap();
    assert_eq!(r.status(), 401, "writes need the token");

    // A backtest over stored history, twice: identical decision logs.
    let (s, a) = post(&http, format!("{base}/api/runs"), backtest.clone()).await;
    assert_eq!(s, 201, "{a}");
    let (s, b) = post(&http, format!("{base}/api/runs"), backtest.clone()).await;
    assert_eq!(s, 201, "{b}");
    let (ida, idb) = (a["run_id"].as_i64().unwrap(), b["run_id"].as_i64().unwrap());
    // The POST counted the range's bars: recorded with the run, its progress total before a
    // worker takes it.
    let counted = a["bars_total"].as_i64().unwrap_or_else(|| panic!("no bars_total when created: {a}"));
    assert_eq!(a["bars_found"].as_i64(), Some(counted), "{a}");
    assert!(a["bars_expected"].as_i64().is_some_and(|e| e >= counted), "{a}");
    let a = wait_ended(&http, &base, ida).await;
    assert_eq!(a["bars_found"].as_i64(), Some(counted), "{a}");
    let b = wait_ended(&http, &base, idb).await;
    assert_eq!(a["status"], "finished", "{a}");
    let bars = a["bars_done"].as_i64().unwrap();
    assert!(bars >= 40, "{a}");
    assert_eq!(a["bars_total"], a["bars_done"]);
    // What the range held is recorded: bars expected, found, and the missing stretches.
    assert_eq!(a["bars_found"], a["bars_done"], "{a}");
    assert!(a["bars_expected"].as_i64().unwrap() >= bars, "{a}");
    assert!(a["gaps"]["count"].as_i64().unwrap() >= 1, "the service ran less than the minute asked: {a}");
    assert_eq!(a["strategy_version"], "1.0.0");
    let sha = a["decision_log_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(a["decision_log_sha256"], b["decision_log_sha256"], "the same backtest twice gives the same log");
    // A backtest hashes its log as it writes it: the stored log's export hashes the same.
    let csv =
        http.get(format!("{base}/api/runs/{ida}/decisions?format=csv")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&csv)), sha, "the export is the log the run hashed");
    // The export is streamed a page at a time: pages of any size concatenate to the same bytes.
    let mut pages = cgaf_trade::DecisionCsvPages::new(store.clone(), ida, None, None).page_rows(7);
    let mut paged = Vec::new();
    while let Some(page) = pages.next().await.unwrap() {
        paged.extend_from_slice(&page);
    }
    assert_eq!(paged, csv, "pages of 7 rows");
    let m = &a["metrics"];
    for k in ["total_return", "sharpe", "sortino", "max_drawdown", "cagr", "calmar", "win_rate", "trades", "exposure"] {
        assert!(m.get(k).is_some(), "metric {k} missing: {m}");
    }
    assert_eq!(m["periods_per_year"].as_f64().unwrap(), 365.0 * 86_400.0 * 5.0, "named annualisation of 200 ms bars");
    assert!(m["trades"].as_i64().unwrap() >= 1, "{m}");
    let curve = a["equity_curve"].as_array().unwrap();
    assert_eq!(curve.len() as i64, bars);

    // The decision log: paging covers every bar once, in order, with market, state and action.
    let rows = all_decisions(&http, &base, ida).await;
    assert_eq!(rows.len() as i64, bars);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"].as_i64().unwrap(), i as i64);
        assert!(r["market"]["close"].as_f64().is_some() && r["market"]["bid"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["strategy_state"]["seen"].as_u64(), Some(i as u64 + 1), "{r}");
        assert!(r["reason"].as_str().is_some(), "{r}");
    }
    // The run stored its strategy state once (a checkpoint in its last row: the run is one chunk);
    // the pages re-derive the others by replaying the strategy from the checkpoint before them,
    // whatever page they fall in.
    let stored =
        store.decisions(ida, &cgaf_store::DecisionQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    assert_eq!(stored.len() as i64, bars);
    let checkpoints: Vec<i64> = stored.iter().filter(|r| r.strategy_state.is_some()).map(|r| r.seq).collect();
    assert_eq!(checkpoints, [bars - 1]);
    let (_, page) = get(&http, format!("{base}/api/runs/{ida}/decisions?cursor=20&limit=3")).await;
    assert_eq!(page["decisions"][0]["strategy_state"], rows[21]["strategy_state"]);
    // A log the strategy does not reproduce (here: a target changed in the database) is not
    // given states it never had.
    let client = store.client().await.unwrap();
    let b = client
        .query_one("SELECT first_seq, time_ms, equity, data FROM crypto_gaf.decision_blocks WHERE run_id = $1", &[&idb])
        .await
        .unwrap();
    let block =
        cgaf_trade::domain::DecisionBlock { first_seq: b.get(0), time_ms: b.get(1), equity: b.get(2), data: b.get(3) };
    let mut tampered = block.decode().unwrap();
    tampered[3].target = -tampered[3].target - 0.5;
    let data = cgaf_trade::domain::DecisionBlock::encode(&tampered).unwrap().data;
    client.execute("UPDATE crypto_gaf.decision_blocks SET data = $2 WHERE run_id = $1", &[&idb, &data]).await.unwrap();
    let (s, r) = get(&http, format!("{base}/api/runs/{idb}/decisions?limit=10")).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("not_reproduced")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("stored target at seq 3"), "{r}");
    assert!(rows[..7].iter().all(|r| r["reason"] == "warm-up"));
    // Every order fills at the next bar's open (plus slippage), never at a price already seen.
    for w in rows.windows(2) {
        if let Some(t) = w[0]["order_target"].as_f64() {
            let open = w[1]["market"]["open"].as_f64().unwrap();
            let price = w[1]["fill_price"].as_f64().expect("the next bar fills the order");
            let side = if t > w[0]["held_target"].as_f64().unwrap() { 1.0 } else { -1.0 };
            assert_eq!(price, open * (1.0 + side * 0.0005), "{:?}", w);
            assert!(w[1]["fee"].as_f64().unwrap() > 0.0);
        }
    }
    // A time range selects the bars closing in it.
    let (t0, t1) = (rows[10]["time_ms"].as_i64().unwrap(), rows[20]["time_ms"].as_i64().unwrap());
    let (_, page) = get(&http, format!("{base}/api/runs/{ida}/decisions?from={t0}&to={t1}")).await;
    assert_eq!(page["decisions"].as_array().unwrap().len(), 10);
    // CSV export: its sha256 is the run's hash.
    let csv = http.get(format!("{base}/api/runs/{ida}/decisions?format=csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&csv)), sha);
    assert_eq!(csv.iter().filter(|&&c| c == b'\n').count() as i64, bars + 1);
    let (s, r) = get(&http, format!("{base}/api/runs/{ida}/decisions?limit=0")).await;
    assert_eq!(s, 400, "{r}");
    let (s, _) = get(&http, format!("{base}/api/runs/999999")).await;
    assert_eq!(s, 404);

    // A user uploads a strategy plugin (not activated) and backtests that exact version.
    let bytes = plugins::read(plugins::FIXTURE_MOMENTUM);
    let r = http
        .post(format!("{base}/api/plugins"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let mut mom = backtest.clone();
    mom["strategy"] = json!("momentum@0.1.0");
    mom["params"] = json!({"lookback": 4});
    let (s, m) = post(&http, format!("{base}/api/runs"), mom).await;
    assert_eq!(s, 201, "{m}");
    let m = wait_ended(&http, &base, m["run_id"].as_i64().unwrap()).await;
    assert_eq!((m["status"].as_str(), m["strategy"].as_str()), (Some("finished"), Some("momentum")), "{m}");
    let rows = all_decisions(&http, &base, m["run_id"].as_i64().unwrap()).await;
    assert_eq!(rows[0]["reason"], "warm-up");
    assert!(rows.iter().any(|r| r["reason"].as_str().unwrap().starts_with("close ")), "{:?}", rows[10]);
    assert_eq!(rows[5]["strategy_state"]["lookback"], 4);

    // The risk gate: a position cap is logged where it clamps; a tiny drawdown limit stops the run.
    let mut capped = backtest.clone();
    capped["risk"] = json!({"max_position": 0.5});
    let (_, c) = post(&http, format!("{base}/api/runs"), capped).await;
    let mut stopped = backtest.clone();
    stopped["risk"] = json!({"max_drawdown": 0.00001});
    let (_, d) = post(&http, format!("{base}/api/runs"), stopped).await;
    let c = wait_ended(&http, &base, c["run_id"].as_i64().unwrap()).await;
    let rows = all_decisions(&http, &base, c["run_id"].as_i64().unwrap()).await;
    assert!(rows.iter().all(|r| r["held_target"].as_f64().unwrap().abs() <= 0.5));
    assert!(rows.iter().any(|r| r["gate"].as_str().is_some_and(|g| g.starts_with("max position"))));
    let d = wait_ended(&http, &base, d["run_id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "stopped", "{d}");
    assert!(d["status_reason"].as_str().unwrap().contains("max drawdown"), "{d}");
    // Stopped early, it keeps what its whole range held (recorded when it was created).
    assert_eq!((&d["bars_expected"], &d["bars_found"]), (&a["bars_expected"], &a["bars_found"]), "{d}");
    assert!(d["bars_done"].as_i64().unwrap() < a["bars_found"].as_i64().unwrap(), "{d}");
    let rows = all_decisions(&http, &base, d["run_id"].as_i64().unwrap()).await;
    assert!(rows.iter().any(|r| r["gate"].as_str().is_some_and(|g| g.contains("max drawdown"))));
    assert_eq!(rows.last().unwrap()["position"].as_f64().unwrap(), 0.0, "flattened before stopping");

    // The CLI runs a backtest on the service and prints its result.
    let out = cgaf()
        .args(["backtest", "--url", &base, "--token", TOKEN, "--product", "BTC-USD", "--bar-interval", "200ms"])
        .args([
            "--from",
            &(now - 60_000).to_string(),
            "--to",
            &now.to_string(),
            "--fee-bps",
            "10",
            "--slippage-bps",
            "5",
            "--allow-gaps",
        ])
        .args(["-p", "fast=3", "-p", "slow=8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["decision_log_sha256"].as_str(), Some(sha), "the CLI's run has the same log: {printed}");

    // The leaderboard ranks finished runs; ties keep run order; min_trades filters.
    let (s, lb) = get(&http, format!("{base}/api/leaderboard?metric=total_return&mode=backtest")).await;
    assert_eq!(s, 200, "{lb}");
    let entries = lb["entries"].as_array().unwrap();
    assert!(entries.len() >= 4, "{lb}");
    for w in entries.windows(2) {
        let (x, y) = (w[0]["value"].as_f64().unwrap(), w[1]["value"].as_f64().unwrap());
        assert!(x > y || (x == y && w[0]["run_id"].as_i64() < w[1]["run_id"].as_i64()), "{lb}");
    }
    let pos = |id: i64| entries.iter().position(|e| e["run_id"] == id).unwrap();
    assert!(pos(ida) < pos(idb), "equal runs rank in run order");
    let (_, lb) = get(&http, format!("{base}/api/leaderboard?metric=sharpe&min_trades=1000000")).await;
    assert!(lb["entries"].as_array().unwrap().is_empty());
    let (s, _) = get(&http, format!("{base}/api/leaderboard?metric=luck")).await;
    assert_eq!(s, 400);

    // A sweep over SMA windows with a walk-forward split: results, best pair, heatmap.
    let (s, sw) = post(
        &http,
        format!("{base}/api/sweeps"),
        json!({"strategy": "sma-cross", "product": "BTC-USD", "from": now - 60_000, "to": now, "bar_interval": "200ms",
               "grid": {"fast": [2, 3, 4], "slow": {"from": 6, "to": 10, "step": 2}}, "splits": 1, "metric": "total_return",
               "allow_gaps": true}),
    )
    .await;
    assert_eq!(s, 201, "{sw}");
    let sid = sw["sweep_id"].as_i64().unwrap();
    let sw = eventually(Duration::from_secs(60), "the sweep", || {
        let (http, url) = (http.clone(), format!("{base}/api/sweeps/{sid}"));
        async move {
            let (_, r) = get(&http, url).await;
            (r["status"] == "finished" || r["status"] == "failed").then_some(r)
        }
    })
    .await;
    assert_eq!(sw["status"], "finished", "{sw}");
    assert_eq!(sw["jobs_done"], 18);
    let result = &sw["result"];
    assert_eq!(result["rows"].as_array().unwrap().len(), 9);
    assert_eq!(result["folds"].as_array().unwrap().len(), 1);
    assert_eq!(result["best_out_of_sample"], true);
    assert!(result["best"]["params"]["fast"].is_i64(), "{result}");
    let png = http.get(format!("{base}/api/sweeps/{sid}/heatmap.png")).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    let info = png::Decoder::new(std::io::Cursor::new(png.to_vec())).read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (3 * 24, 3 * 24));
    let csv = http.get(format!("{base}/api/sweeps/{sid}/results.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with("fast,slow,in_sample,out_of_sample,trades,total_return,error\n"), "{csv}");
    assert_eq!(csv.lines().count(), 10);

    // A paper run follows live samples...
    let paper = json!({"strategy": "sma-cross@1.0.0", "params": {"fast": 2, "slow": 4}, "product": "BTC-USD",
                       "mode": "paper", "bar_interval": "200ms", "starting_cash": 1000});
    let (s, p) = post(&http, format!("{base}/api/runs"), paper.clone()).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["run_id"].as_i64().unwrap();
    let before = eventually(Duration::from_secs(30), "paper bars", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{pid}"));
        async move {
            let (_, r) = get(&http, url).await;
            (r["bars_done"].as_i64().unwrap_or(0) >= 8).then_some(r)
        }
    })
    .await;
    assert_eq!(before["status"], "running");
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("cgaf_trade_runs{mode=\"paper\"} 1"), "{metrics}");

    // ...and keeps trading after the service restarts, resuming position, cash and state.
    assert!(svc.terminate().success(), "{}", svc.log_text());
    drop(svc);
    let svc = Service::start(dir.path(), &trading_args(&db.url, TOKEN));
    wait_ready(&http, &base_of(&svc)).await;
    let base = svc.base.clone();
    let (_, at_restart) = get(&http, format!("{base}/api/runs/{pid}")).await;
    let n0 = at_restart["bars_done"].as_i64().unwrap();
    assert_eq!(at_restart["status"], "running", "{at_restart}");
    let after = eventually(Duration::from_secs(30), "paper bars after the restart", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{pid}"));
        async move {
            let (_, r) = get(&http, url).await;
            (r["bars_done"].as_i64().unwrap_or(0) >= n0 + 5).then_some(r)
        }
    })
    .await;
    assert_eq!(after["status"], "running");
    let rows = all_decisions(&http, &base, pid).await;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"].as_i64().unwrap(), i as i64, "no bar lost or repeated across the restart");
        assert_eq!(r["strategy_state"]["seen"].as_u64().unwrap(), i as u64 + 1, "the strategy state resumed");
        if i > 0 {
            assert!(r["time_ms"].as_i64() > rows[i - 1]["time_ms"].as_i64());
            let prev = &rows[i - 1];
            let fill_cash = r["fill_quantity"]
                .as_f64()
                .map_or(0.0, |q| q * r["fill_price"].as_f64().unwrap() + r["fee"].as_f64().unwrap());
            assert_eq!(
                r["cash"].as_f64().unwrap(),
                prev["cash"].as_f64().unwrap() - fill_cash,
                "cash carried over at row {i}"
            );
        }
    }

    // The kill switch flattens and stops paper runs and refuses new ones.
    let (s, k) = post(&http, format!("{base}/api/kill-switch"), json!({"engaged": true, "reason": "test drill"})).await;
    assert_eq!(s, 200, "{k}");
    let ended = wait_ended(&http, &base, pid).await;
    assert_eq!(ended["status"], "stopped");
    assert!(ended["status_reason"].as_str().unwrap().contains("kill switch"), "{ended}");
    let rows = all_decisions(&http, &base, pid).await;
    assert!(rows.iter().any(|r| r["gate"].as_str().is_some_and(|g| g.contains("kill switch engaged (test drill)"))));
    assert_eq!(rows.last().unwrap()["position"].as_f64().unwrap(), 0.0);
    let csv =
        http.get(format!("{base}/api/runs/{pid}/decisions?format=csv")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(ended["decision_log_sha256"].as_str(), Some(hex::encode(Sha256::digest(&csv)).as_str()));
    let (s, r) = post(&http, format!("{base}/api/runs"), paper.clone()).await;
    assert_eq!(s, 400);
    assert!(r["error"]["message"].as_str().unwrap().contains("kill switch"));
    let (_, k) = post(&http, format!("{base}/api/kill-switch"), json!({"engaged": false})).await;
    assert_eq!(k["engaged"], false);

    // Stop: a new paper run stops on request.
    let (_, p) = post(&http, format!("{base}/api/runs"), paper).await;
    let pid2 = p["run_id"].as_i64().unwrap();
    let (s, _) = post(&http, format!("{base}/api/runs/{pid2}/stop"), json!({})).await;
    assert_eq!(s, 202);
    let ended = wait_ended(&http, &base, pid2).await;
    assert_eq!(ended["status"], "stopped");
    let (s, r) = post(&http, format!("{base}/api/runs/{pid2}/stop"), json!({})).await;
    assert_eq!(s, 409, "{r}");
    let (_, lb) = get(&http, format!("{base}/api/leaderboard?metric=sharpe&mode=paper")).await;
    assert!(lb["entries"].as_array().is_some());
}

fn base_of(s: &Service) -> String {
    s.base.clone()
}

#[test]
fn offline_backtest_and_sweep_on_a_bars_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bars = dir.path().join("bars.csv");
    let mut text = String::from("time_ms,open,high,low,close,volume\n");
    let mut price: f64 = 100.0;
    for i in 0..3000i64 {
        let next = price * (1.0 + ((i * 7919 % 1000) as f64 / 1000.0 - 0.5) * 0.01 + (i as f64 / 150.0).sin() * 0.002);
        text.push_str(&format!("{},{price},{},{},{next},1\n", (i + 1) * 60_000, price.max(next), price.min(next)));
        price = next;
    }
    std::fs::write(&bars, text).unwrap();
    let data = dir.path().join("data");
    let run = |extra: &[&str]| {
        let out = cgaf()
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "backtest",
                "--bars",
                bars.to_str().unwrap(),
                "--bar-interval",
                "1m",
            ])
            .args(["-p", "fast=5", "-p", "slow=20", "--fee-bps", "5"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let log1 = dir.path().join("a.csv");
    let log2 = dir.path().join("b.csv");
    let a = run(&["--decisions", log1.to_str().unwrap()]);
    let b = run(&["--decisions", log2.to_str().unwrap()]);
    assert_eq!(a["bars"], 3000);
    assert_eq!(a["metrics"], b["metrics"]);
    assert!(a["metrics"]["trades"].as_i64().unwrap() > 10, "{a}");
    assert_eq!(a["metrics"]["periods_per_year"].as_f64().unwrap(), 525_600.0);
    assert_eq!(std::fs::read(&log1).unwrap(), std::fs::read(&log2).unwrap(), "deterministic decision log");
    let c = run(&[]);
    assert_eq!(a["metrics"], c["metrics"], "batching does not change the result");

    let out_dir = dir.path().join("sweep");
    let out = cgaf()
        .args(["--data-dir", data.to_str().unwrap(), "sweep", "--bars", bars.to_str().unwrap(), "--bar-interval", "1m"])
        .args(["-g", "fast=5..20:5", "-g", "slow=30..90:30", "--splits", "2", "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("best parameters (out of sample): {\"fast\":"), "{stdout}");
    let result: Value = serde_json::from_slice(&std::fs::read(out_dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(result["rows"].as_array().unwrap().len(), 12);
    assert_eq!(result["folds"].as_array().unwrap().len(), 2);
    let png = std::fs::read(out_dir.join("heatmap.png")).unwrap();
    let info = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (4 * 24, 3 * 24));

    // The sweep asks sma-cross (a 0.2.0 strategy) for targets only; its point fast 5 / slow 20
    // ends where the backtest, which asks for decisions, ends.
    let one = dir.path().join("sweep-one");
    let out = cgaf()
        .args(["--data-dir", data.to_str().unwrap(), "sweep", "--bars", bars.to_str().unwrap(), "--bar-interval", "1m"])
        .args(["-g", "fast=5,7", "-g", "slow=20", "--fee-bps", "5", "--out", one.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&std::fs::read(one.join("sweep.json")).unwrap()).unwrap();
    let row = &result["rows"][0];
    assert_eq!(row["params"], serde_json::json!({"fast": 5, "slow": 20}), "{result}");
    assert_eq!(row["trades"], a["metrics"]["trades"], "{row}");
    assert_eq!(row["total_return"], a["metrics"]["total_return"], "{row}");

    // Bad input is refused with the reason.
    let out = cgaf().args(["sweep", "--bars", bars.to_str().unwrap(), "-g", "fast=9..1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fast"));
}

/// Shutdown stops the trade worker's own tasks: a sweep that is executing is interrupted between
/// backtests (not failed, not left running detached), the worker joins it, and the process exits
/// cleanly; the sweep is left unfinished, not failed (a later start takes it up again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_running_sweep_and_joins_it() {
    let WithHistory { dir: _dir, db: _db, http, mut svc, base, store } = service_with_history(30).await;

    // 100,000 grid points on 10 segments: far more work than the test waits for.
    let now = chrono::Utc::now().timestamp_millis();
    let (s, sw) = post(
        &http,
        format!("{base}/api/sweeps"),
        json!({"strategy": "sma-cross", "product": "BTC-USD", "from": now - 600_000, "to": now, "bar_interval": "200ms",
               "grid": {"fast": {"from": 2, "to": 101, "step": 1}, "slow": {"from": 102, "to": 1101, "step": 1}},
               "splits": 9, "metric": "total_return", "allow_gaps": true}),
    )
    .await;
    assert_eq!(s, 201, "{sw}");
    let sid = sw["sweep_id"].as_i64().unwrap();
    eventually(Duration::from_secs(60), "the sweep to make progress", || {
        let (http, url) = (http.clone(), format!("{base}/api/sweeps/{sid}"));
        async move {
            let (_, r) = get(&http, url).await;
            (r["status"] == "running" && r["jobs_done"].as_i64().unwrap_or(0) > 0).then_some(())
        }
    })
    .await;

    assert!(svc.terminate().success(), "{}", svc.log_text());
    let log = svc.log_text();
    assert!(log.contains("sweep interrupted by shutdown"), "{log}");
    assert!(log.contains("trade worker stopped"), "{log}");
    assert!(!log.contains("roles did not stop"), "{log}");
    assert!(!log.contains('\u{1b}'), "a log file has no terminal colour codes: {log}");
    let row = store.sweep(sid).await.unwrap().expect("the sweep");
    assert_ne!(row.status.as_str(), "failed", "an interrupted sweep is not a failed one");
    assert_ne!(row.status.as_str(), "finished");
}
