//! `cgaf history` end to end against a real PostgreSQL: downloading candles from a local fake
//! exchange (paging, 429 backoff, resuming after an interrupted run, filling only the gaps,
//! counting the exchange's own gaps), and importing, exporting and listing a CSV.

mod common;

use cgaf_collect::candles::fake::{synthetic_bars, FakeBehaviour, FakeExchange, FakeSeries};
use cgaf_collect::candles::Granularity;
use cgaf_store::{DbSettings, Store};
use common::cgaf;
use serde_json::Value;
use std::time::Duration;

/// 2025-01-01T00:00:00Z.
const Y2025: i64 = 1_735_689_600_000;

async fn database() -> (cgaf_test_kit::TestDatabase, Store) {
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(db.url.clone())).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

fn history(url: &str, args: &[&str]) -> std::process::Output {
    cgaf().args(["--database-url", url, "history"]).args(args).env("CGAF_LOG", "warn").output().unwrap()
}

fn json_out(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_pages_backs_off_resumes_and_fills_only_the_gaps() {
    let (db, store) = database().await;
    // 1,000 minutes of candles; the exchange lacks 10 of them (minutes 500..510).
    let mut bars = synthetic_bars(Granularity::OneMinute, Y2025 + 60_000, 1000);
    bars.retain(|b| !(Y2025 + 501 * 60_000..=Y2025 + 510 * 60_000).contains(&b.close_ms));
    let series = FakeSeries { product: "BTC-USD".into(), granularity: Granularity::OneMinute, bars: bars.clone() };
    // The first run is interrupted after two windows (the exchange starts refusing).
    let exchange = FakeExchange::start(
        [series],
        FakeBehaviour { fail_from: Some(3), failure_status: 404, ..FakeBehaviour::healthy() },
    )
    .await
    .unwrap();
    let (from, to) = (Y2025.to_string(), (Y2025 + 1000 * 60_000).to_string());
    let args = [
        "download",
        "--product",
        "BTC-USD",
        "--from",
        &from,
        "--to",
        &to,
        "--interval",
        "1m",
        "--source-url",
        exchange.url(),
        "--requests-per-second",
        "1000",
    ];
    let first = history(&db.url, &args);
    assert!(!first.status.success());
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("run the command again to resume"), "{err}");
    let stored = store.bar_closes("BTC-USD", 60_000, 0, i64::MAX / 4).await.unwrap();
    assert_eq!(stored.len(), 590, "two windows of 300 closes (10 of them the exchange lacks) before the interruption");

    // Resumed, with a 429 on the way: only what is missing is fetched.
    exchange.set_behaviour(FakeBehaviour {
        fail_first: exchange.request_count() as u64 + 1,
        failure_status: 429,
        retry_after: Some("0".into()),
        ..FakeBehaviour::healthy()
    });
    let before = exchange.request_count();
    let summary = json_out(&history(&db.url, &args));
    assert_eq!(summary["bars_already_stored"], 590, "{summary}");
    assert_eq!(summary["bars_written"], 400, "{summary}");
    assert_eq!(summary["exchange_gap_bars"], 10, "{summary}");
    assert_eq!(summary["retries"], 1, "{summary}");
    let requests: Vec<_> = exchange.requests()[before..].to_vec();
    assert_eq!(requests.len(), 3, "one 429, then two windows covering what is missing: {requests:?}");
    let stored = store.bars_page("BTC-USD", 60_000, 0, i64::MAX / 4, 10_000).await.unwrap();
    assert_eq!(stored, bars, "every candle the exchange has, exactly once");

    // Again: nothing new to write; only the exchange's own gap is asked for again.
    let summary = json_out(&history(&db.url, &args));
    assert_eq!(
        (summary["bars_written"].as_u64(), summary["exchange_gap_bars"].as_i64()),
        (Some(0), Some(10)),
        "{summary}"
    );
    // Rolled up as it was written.
    let fives = store.bars_page("BTC-USD", 300_000, 0, i64::MAX / 4, 10_000).await.unwrap();
    assert_eq!(fives, cgaf_trade::domain::history::rollup(&bars, 300_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_and_list_a_csv() {
    let (db, store) = database().await;
    let dir = tempfile::tempdir().unwrap();
    // pandas style: bars stamped at their open, zone-less times (UTC).
    let mut csv = String::from("Date,Open,High,Low,Close,Volume\n");
    for k in 0..120 {
        let t = chrono::DateTime::from_timestamp_millis(Y2025 + k * 60_000).unwrap();
        let p = 100.0 + (k % 7) as f64;
        csv.push_str(&format!(
            "{},{p},{},{},{},{}\n",
            t.format("%Y-%m-%d %H:%M:%S"),
            p + 1.0,
            p - 1.0,
            p + 0.5,
            k as f64 / 10.0
        ));
    }
    let file = dir.path().join("btc.csv");
    std::fs::write(&file, &csv).unwrap();
    let report =
        json_out(&history(&db.url, &["import", file.to_str().unwrap(), "--product", "BTC-USD", "--interval", "1m"]));
    assert_eq!((report["bars"].as_u64(), report["written"].as_u64()), (Some(120), Some(120)), "{report}");
    assert_eq!(report["first"], "2025-01-01T00:01:00Z", "the first bar closes a minute after its open");
    assert_eq!(report["rolled_up"].as_u64(), Some(24 + 8 + 2 + 1), "5m, 15m, 1h and 1d: {report}");

    // A bad row names its line and column, and nothing is written.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, csv.replace("2025-01-01 01:00:00,104,105,103,", "2025-01-01 01:00:00,104,102,103,")).unwrap();
    let out = history(&db.url, &["import", bad.to_str().unwrap(), "--product", "ETH-USD", "--interval", "1m"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 62") && err.contains("nothing was written"), "{err}");
    assert!(store.bar_closes("ETH-USD", 60_000, 0, i64::MAX / 4).await.unwrap().is_empty());
    // The wrong interval is refused.
    let out = history(&db.url, &["import", file.to_str().unwrap(), "--product", "ETH-USD", "--interval", "5m"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not 5m"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Exported, the CSV imports again to the same bars.
    let exported = dir.path().join("export.csv");
    let out =
        history(&db.url, &["export", "--product", "BTC-USD", "--interval", "1m", "--out", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json_out(&history(
        &db.url,
        &["import", exported.to_str().unwrap(), "--product", "ETH-USD", "--interval", "1m"],
    ));
    assert_eq!(report["written"].as_u64(), Some(120), "{report}");
    let a = store.bars_page("BTC-USD", 60_000, 0, i64::MAX / 4, 1000).await.unwrap();
    let b = store.bars_page("ETH-USD", 60_000, 0, i64::MAX / 4, 1000).await.unwrap();
    assert_eq!(a, b);

    let out = history(&db.url, &["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BTC-USD") && text.contains("2025-01-01T00:00:00Z") && text.contains("2025-01-01T02:00:00Z"),
        "{text}"
    );
}
