//! `cgaf history` end to end against a real PostgreSQL: downloading candles from a local fake
//! exchange (paging, 429 backoff, resuming after an interrupted run, filling only the gaps,
//! counting the exchange's own gaps), importing, exporting and listing a CSV, and a backtest over
//! an imported CSV making Backtrader's trades on the same file.

mod common;

use cgaf_collect::candles::fake::{synthetic_bars, FakeBehaviour, FakeExchange, FakeSeries};
use cgaf_collect::candles::Granularity;
use cgaf_store::{DbSettings, Store};
use common::{cgaf, run_to_end, wait_ready, Service};
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
    assert_eq!(report["streamed"], true, "a clean file over nothing stored streams: {report}");
    // Again: over stored bars, read whole and merged (nothing changes).
    let report =
        json_out(&history(&db.url, &["import", file.to_str().unwrap(), "--product", "BTC-USD", "--interval", "1m"]));
    assert_eq!((report["streamed"].as_bool(), report["unchanged"].as_u64()), (Some(false), Some(120)), "{report}");

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

    // 2-minute bars given as 1m (every time on the 1m grid): refused as a whole, nothing written.
    let two: String = csv.lines().enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, l)| format!("{l}\n")).collect();
    let two_file = dir.path().join("two.csv");
    std::fs::write(&two_file, two).unwrap();
    let out = history(&db.url, &["import", two_file.to_str().unwrap(), "--product", "ETH-USD", "--interval", "1m"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("2m apart") && err.contains("not 1m"), "{err}");
    assert!(store.bar_closes("ETH-USD", 60_000, 0, i64::MAX / 4).await.unwrap().is_empty());

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

const TOKEN: &str = "history-test-token";

/// A `cgaf serve --roles api,trade` on `database_url`, ready: the service, a client and its base URL.
async fn trading_service(dir: &std::path::Path, database_url: &str) -> (Service, reqwest::Client, String) {
    let svc = Service::start(
        dir,
        &["--database-url", database_url, "--roles", "api,trade", "--api-token", TOKEN, "--trade-schedule", "100ms"],
    );
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    wait_ready(&http, &base).await;
    (svc, http, base)
}

/// `GET url` as JSON.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Backtrader's fills on the golden file: (close of the bar filled on, price, signed size, fee).
fn backtrader_fills() -> Vec<(i64, f64, f64, f64)> {
    let text = std::fs::read_to_string(cgaf_test_kit::golden("backtrader/backtrader-fills.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            // Backtrader stamps a bar at its open; ours are stamped at the close.
            (f[1].parse::<i64>().unwrap() + 60_000, f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_over_an_imported_csv_makes_backtraders_trades() {
    let (db, _store) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = cgaf_test_kit::golden("backtrader/bars-1m.csv");
    let report =
        json_out(&history(&db.url, &["import", csv.to_str().unwrap(), "--product", "BTC-USD", "--interval", "1m"]));
    assert_eq!(report["written"].as_u64(), Some(3000), "{report}");

    let (_svc, http, base) = trading_service(dir.path(), &db.url).await;
    let body = serde_json::json!({
        "strategy": "sma-cross", "params": {"fast": 10, "slow": 30}, "product": "BTC-USD", "mode": "backtest",
        "bar_interval": "1m", "fee_bps": 10, "slippage_bps": 5, "starting_cash": 10000
    });
    let run = run_to_end(&http, &base, TOKEN, body.clone()).await;
    let id = run["run_id"].as_i64().unwrap();
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!((run["bars_expected"].as_i64(), run["bars_found"].as_i64()), (Some(3000), Some(3000)), "{run}");
    // Without `to`, bars rolled up on the fly (2m from the stored 1m) cover the range up to the
    // newest bar, not up to now: complete, no gaps, so no `allow_gaps` needed.
    let mut rolled = body;
    rolled["bar_interval"] = "2m".into();
    let run = run_to_end(&http, &base, TOKEN, rolled).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!((run["bars_expected"].as_i64(), run["bars_found"].as_i64()), (Some(1500), Some(1500)), "{run}");
    assert_eq!(run["gaps"]["count"].as_i64(), Some(0), "{run}");
    let page = get_json(&http, format!("{base}/api/runs/{id}/decisions?limit=10000")).await;
    let rows = page["decisions"].as_array().unwrap_or_else(|| panic!("{page}"));
    assert_eq!(rows.len(), 3000);
    let ours: Vec<(i64, f64, f64, f64)> = rows
        .iter()
        .filter(|r| r["fill_price"].is_number())
        .map(|r| {
            let f = |k: &str| r[k].as_f64().unwrap();
            (r["time_ms"].as_i64().unwrap(), f("fill_price"), f("fill_quantity"), f("fee"))
        })
        .collect();
    let theirs = backtrader_fills();
    assert_eq!(ours.len(), theirs.len(), "the same number of fills");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.0, b.0, "fill {i} on the same bar: ours {a:?}, Backtrader {b:?}");
        let worst = rel(a.1, b.1).max(rel(a.2, b.2)).max(rel(a.3, b.3));
        assert!(worst <= 1e-9, "fill {i}: ours {a:?}, Backtrader {b:?} ({worst:e})");
    }
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(cgaf_test_kit::golden("backtrader/backtrader-result.json")).unwrap(),
    )
    .unwrap();
    let equity = rows.last().unwrap()["equity"].as_f64().unwrap();
    let theirs = result["final_value"].as_f64().unwrap();
    assert!(rel(equity, theirs) <= 1e-9, "final equity: ours {equity}, Backtrader {theirs}");
}

/// A backtest over more bars than one chunk stores the strategy state only at its checkpoints
/// (every 10,000 bars); its JSON pages replay the states between, and they are the states the
/// offline backtest captures after every bar, across a checkpoint too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_states_are_the_states_captured_after_every_bar() {
    let (db, store) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let (imported, offline) = (dir.path().join("import.csv"), dir.path().join("offline.csv"));
    let (mut a, mut b) =
        (String::from("close_time,open,high,low,close,volume\n"), String::from("time_ms,open,high,low,close,volume\n"));
    let mut price: f64 = 100.0;
    for i in 0..25_000i64 {
        let next = price * (1.0 + ((i * 7919 % 1000) as f64 / 1000.0 - 0.5) * 0.01 + (i as f64 / 150.0).sin() * 0.002);
        let row = format!("{},{price},{},{},{next},1\n", Y2025 + (i + 1) * 60_000, price.max(next), price.min(next));
        a.push_str(&row);
        b.push_str(&row);
        price = next;
    }
    std::fs::write(&imported, a).unwrap();
    std::fs::write(&offline, b).unwrap();
    let report = json_out(&history(
        &db.url,
        &["import", imported.to_str().unwrap(), "--product", "BTC-USD", "--interval", "1m"],
    ));
    assert_eq!(report["written"].as_u64(), Some(25_000), "{report}");

    // Offline: the state after every bar, in the decision log CSV.
    let log = dir.path().join("log.csv");
    let out = cgaf()
        .args(["--data-dir", dir.path().join("data").to_str().unwrap(), "backtest", "--bars"])
        .args([offline.to_str().unwrap(), "--bar-interval", "1m", "-p", "fast=10", "-p", "slow=30"])
        .args(["--fee-bps", "5", "--decisions", log.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_path(&log).unwrap();
    let every_bar: Vec<(f64, Value)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[13].parse().unwrap(), serde_json::from_str(&r[24]).unwrap())
        })
        .collect();
    assert_eq!(every_bar.len(), 25_000);

    // Through the service: three chunks, so three stored states.
    let (_svc, http, base) = trading_service(dir.path(), &db.url).await;
    let body = serde_json::json!({
        "strategy": "sma-cross", "params": {"fast": 10, "slow": 30}, "product": "BTC-USD", "mode": "backtest",
        "bar_interval": "1m", "fee_bps": 5
    });
    let run = run_to_end(&http, &base, TOKEN, body).await;
    assert_eq!((run["status"].as_str(), run["bars_done"].as_i64()), (Some("finished"), Some(25_000)), "{run}");
    let id = run["run_id"].as_i64().unwrap();
    let stored = store.decisions(id, &cgaf_store::DecisionQuery { limit: 30_000, ..Default::default() }).await.unwrap();
    let checkpoints: Vec<i64> = stored.iter().filter(|r| r.strategy_state.is_some()).map(|r| r.seq).collect();
    assert_eq!(checkpoints, [9_999, 19_999, 24_999]);
    // Pages around and across the first checkpoint, and in the middle of the last chunk.
    for (cursor, limit) in [(9_989, 20), (0, 5), (22_000, 3)] {
        let page = get_json(&http, format!("{base}/api/runs/{id}/decisions?cursor={cursor}&limit={limit}")).await;
        let rows = page["decisions"].as_array().unwrap_or_else(|| panic!("{page}"));
        assert_eq!(rows.len(), limit);
        for r in rows {
            let seq = r["seq"].as_u64().unwrap() as usize;
            let (target, state) = &every_bar[seq];
            assert_eq!(r["target"].as_f64(), Some(*target), "seq {seq}");
            assert_eq!(&r["strategy_state"], state, "seq {seq}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_pages_through_a_long_range_in_growing_pages_and_misses_nothing() {
    use cgaf_trade::bars::{BarReader, FIRST_PAGE_BARS, PAGE_BARS};
    use cgaf_trade::domain::history::{rollup, HistoryBar};
    let (_db, store) = database().await;
    // 130,000 1-second bars with a gap of 1,000: pages of 10k, 20k, 40k, 50k, then the rest.
    let bars: Vec<HistoryBar> = (1..=131_000i64)
        .filter(|k| !(60_001..=61_000).contains(k))
        .map(|k| HistoryBar {
            close_ms: Y2025 + k * 1000,
            open: k as f64,
            high: k as f64 + 2.0,
            low: k as f64 - 1.0,
            close: k as f64 + 1.0,
            volume: (k % 13) as f64,
            ..HistoryBar::default()
        })
        .collect();
    store.import_bars("BTC-USD", 1000, "csv:long.csv", &bars, &[], false).await.unwrap();
    // The import alone fills its two days: their blocks are read as a page each.
    let to = Y2025 + 200_000_000;
    let mut reader = BarReader::open(&store, "BTC-USD", 1000, Some(Y2025), to).await.unwrap();
    let mut sizes = Vec::new();
    while let Some(page) = reader.next_page().await.unwrap() {
        sizes.push(page.len() as i64);
    }
    assert_eq!(sizes, [86_399 - 1000, 130_000 - 85_399], "a day's block a page");
    // Without the blocks: rows in growing pages.
    store.client().await.unwrap().execute("DELETE FROM crypto_gaf.bar_blocks", &[]).await.unwrap();
    let mut reader = BarReader::open(&store, "BTC-USD", 1000, Some(Y2025), to).await.unwrap();
    let mut sizes = Vec::new();
    let mut read = Vec::new();
    while let Some(page) = reader.next_page().await.unwrap() {
        sizes.push(page.len() as i64);
        read.extend(page);
    }
    assert_eq!(bars.len(), 130_000);
    assert_eq!(sizes, [FIRST_PAGE_BARS, 2 * FIRST_PAGE_BARS, 4 * FIRST_PAGE_BARS, PAGE_BARS, 10_000]);
    let expected: Vec<_> = bars.iter().map(|b| b.to_bar()).collect();
    assert_eq!(read, expected, "every bar once, in order");
    let coverage = reader.coverage();
    assert_eq!(coverage.bars_found, bars.len() as i64);
    // Rolled up on the fly (7s from the stored 1s) across the page edges: the domain's rollup.
    // From a 7s boundary (a run takes the bars lying wholly inside its range).
    let from = (Y2025 / 7000 + 1) * 7000;
    let mut reader = BarReader::open(&store, "BTC-USD", 7000, Some(from), to).await.unwrap();
    let rolled = reader.read_all().await.unwrap();
    let inside: Vec<HistoryBar> = bars.iter().copied().filter(|b| b.close_ms > from && b.close_ms <= to).collect();
    let direct: Vec<_> = rollup(&inside, 7000).iter().map(|b| b.to_bar()).collect();
    let differs = rolled.iter().zip(&direct).position(|(a, b)| a != b);
    assert!(
        rolled.len() == direct.len() && differs.is_none(),
        "{} rolled-up bars, {} directly; first difference at {differs:?}: {:?} vs {:?}",
        rolled.len(),
        direct.len(),
        differs.map(|i| &rolled[i]),
        differs.map(|i| &direct[i])
    );
}

/// What runs read of `product`'s bars of `interval_ms` lying inside `[from, to)`, and the same
/// from the rows alone (the truth), with the reader's page sizes.
async fn read_both(
    store: &Store,
    interval_ms: i64,
    from: i64,
    to: i64,
) -> (Vec<cgaf_trade::domain::Bar>, Vec<cgaf_trade::domain::Bar>, Vec<usize>) {
    use cgaf_trade::bars::BarReader;
    use cgaf_trade::domain::history::rollup;
    let mut reader = BarReader::open(store, "BTC-USD", interval_ms, Some(from), to).await.unwrap();
    let (mut read, mut pages) = (Vec::new(), Vec::new());
    while let Some(page) = reader.next_page().await.unwrap() {
        pages.push(page.len());
        read.extend(page);
    }
    let stored = if interval_ms % 60_000 == 0 { 60_000 } else { 1000 };
    let rows: Vec<_> = store
        .bars_page("BTC-USD", stored, from - 1, to, 10_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.close_ms - stored >= from && b.close_ms <= to)
        .collect();
    let rows = if interval_ms == stored { rows } else { rollup(&rows, interval_ms) };
    let rows =
        rows.iter().filter(|b| b.close_ms - interval_ms >= from && b.close_ms <= to).map(|b| b.to_bar()).collect();
    (read, rows, pages)
}

/// Asserts that runs read the rows' bars (naming the first difference, not the whole lists).
fn same(read: &[cgaf_trade::domain::Bar], rows: &[cgaf_trade::domain::Bar], what: &str) {
    let differs = read.iter().zip(rows).position(|(a, b)| a != b);
    assert!(
        read.len() == rows.len() && differs.is_none(),
        "{what}: read {} bars, rows {}; first difference at {differs:?}: {:?} vs {:?}",
        read.len(),
        rows.len(),
        differs.map(|i| &read[i]),
        differs.map(|i| &rows[i])
    );
}

/// The bar blocks of `interval_ms`: (period start, bars).
async fn blocks(store: &Store, interval_ms: i64) -> Vec<(i64, i32)> {
    store
        .client()
        .await
        .unwrap()
        .query(
            "SELECT (extract(epoch FROM starts) * 1000)::int8, bars FROM crypto_gaf.bar_blocks
             WHERE product = 'BTC-USD' AND interval_ms = $1 ORDER BY starts",
            &[&interval_ms],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn minute_bar(k: i64, price: f64) -> cgaf_trade::domain::history::HistoryBar {
    cgaf_trade::domain::history::HistoryBar {
        close_ms: Y2025 + k * 60_000,
        open: price,
        high: price + 1.0,
        low: price - 1.0,
        close: price + 0.5,
        volume: (k % 7) as f64,
        ..Default::default()
    }
}

/// 2025-02-01 and 2025-03-01 (UTC), ms.
const FEB: i64 = Y2025 + 31 * 86_400_000;
const MAR: i64 = FEB + 28 * 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_read_blocks_only_while_they_equal_the_rows_and_every_write_forgets_them() {
    let (_db, store) = database().await;
    let rollups = [300_000, 3_600_000];
    // 1m bars from Jan 10 to Mar 15 with a gap on Feb 10: the import alone fills January (from
    // the 10th), February and March (to the 15th), in 1m, 5m and (one year period) 1h.
    let minutes: Vec<i64> =
        (9 * 1440..(31 + 28 + 14) * 1440).filter(|k| !(40 * 1440..40 * 1440 + 90).contains(k)).collect();
    let bars: Vec<_> = minutes.iter().map(|&k| minute_bar(k, 100.0 + (k % 1000) as f64)).collect();
    let report = store.import_bars("BTC-USD", 60_000, "csv:a.csv", &bars, &rollups, false).await.unwrap();
    assert_eq!(report.blocks, 3 + 3 + 1, "{report:?}");
    let jan = blocks(&store, 60_000).await;
    assert_eq!(jan.iter().map(|b| b.0).collect::<Vec<_>>(), [Y2025, FEB, MAR]);
    assert_eq!(jan.iter().map(|b| i64::from(b.1)).sum::<i64>(), bars.len() as i64);

    // Runs read the blocks: the same bars as the rows, over whole and partial periods, stored
    // and rolled up (7m from 1m; 2h from the stored 1h).
    let end = Y2025 + 80 * 86_400_000;
    for (iv, from, to) in [
        (60_000, Y2025, end),
        (60_000, FEB + 777 * 60_000, MAR + 3 * 86_400_000 + 60_000),
        (60_000, FEB, MAR),
        (420_000, Y2025 + 7 * 60_000 * 2000, end),
        (300_000, Y2025, end),
        (7_200_000, Y2025, end),
    ] {
        let (read, rows, pages) = read_both(&store, iv, from, to).await;
        assert!(!rows.is_empty());
        same(&read, &rows, &format!("interval {iv} from {from} to {to}: pages {pages:?}"));
    }
    let (_, _, pages) = read_both(&store, 60_000, Y2025, end).await;
    assert_eq!(pages.len(), 3, "one page per block: {pages:?}");
    // Counts from the blocks equal counts of the rows (whole periods, parts, edges).
    for (after, until) in
        [(0, end), (FEB - 1, MAR - 1), (FEB, MAR), (FEB - 60_000, MAR + 60_000), (Y2025, FEB + 1), (MAR - 1, end)]
    {
        assert_eq!(
            store.count_bars("BTC-USD", 60_000, after, until).await.unwrap(),
            store.count_bar_rows("BTC-USD", 60_000, after, until).await.unwrap(),
            "({after}, {until}]"
        );
    }

    // An import of other bars into January (a range with nothing stored around it): January
    // now holds both imports, so neither January block is kept; February's stays.
    let early: Vec<_> = (1440..3 * 1440).map(|k| minute_bar(k, 50.0)).collect();
    let r = store.import_bars("BTC-USD", 60_000, "csv:b.csv", &early, &rollups, false).await.unwrap();
    assert_eq!(r.written, early.len() as u64);
    assert_eq!(blocks(&store, 60_000).await.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB, MAR]);
    let (read, rows, _) = read_both(&store, 60_000, Y2025, end).await;
    assert_eq!(read.len(), bars.len() + early.len());
    same(&read, &rows, "after a second import into January");

    // An import over stored bars (merged, one bar changed) forgets February's blocks in its
    // transaction, then writes the blocks of the ended periods it wrote into again from their
    // rows: February's 1m and 5m, 2025's 1h. They hold the changed bar.
    let changed = [minute_bar(45 * 1440, 999.0)];
    let r = store.import_bars("BTC-USD", 60_000, "csv:c.csv", &changed, &rollups, true).await.unwrap();
    assert_eq!((r.written, r.blocks), (1, 3), "{r:?}");
    assert_eq!(blocks(&store, 60_000).await.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB, MAR]);
    assert_eq!(blocks(&store, 300_000).await.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB, MAR]);
    let (read, rows, pages) = read_both(&store, 60_000, Y2025, end).await;
    same(&read, &rows, "after a merge");
    assert!(read.iter().any(|b| b.open == 999.0), "the merged bar is read");
    assert!(pages.len() >= 3, "January's rows, then February's and March's blocks: {pages:?}");
    for (iv, from) in [(300_000, FEB), (3_600_000, Y2025)] {
        let (read, rows, _) = read_both(&store, iv, from, end).await;
        same(&read, &rows, &format!("interval {iv} after a merge"));
    }
    // Written again from February's rows (what a download does for the whole periods it
    // fetched); March does not end by the range's end, so it keeps its block as it is.
    assert_eq!(store.write_bar_blocks("BTC-USD", 60_000, FEB - 1, MAR + 86_400_000).await.unwrap(), 1);
    assert_eq!(blocks(&store, 60_000).await.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB, MAR]);
    let (read, rows, _) = read_both(&store, 60_000, Y2025, end).await;
    same(&read, &rows, "after writing February's block from its rows");
    assert_eq!(
        store.count_bars("BTC-USD", 60_000, 0, end).await.unwrap(),
        store.count_bar_rows("BTC-USD", 60_000, 0, end).await.unwrap()
    );

    // Collect rolls a late sample's second up into March's 1m bars: March's block is forgotten.
    store.add_product("BTC-USD", 5).await.unwrap();
    let at = MAR + 86_400_000 + 30_500;
    let lvl = |p: &str| cgaf_store::Level { price: p.parse().unwrap(), size: "1".parse().unwrap(), num_orders: 1 };
    let trades = cgaf_store::TradeSummary { price: "7".parse().unwrap(), size: "1".parse().unwrap(), num_orders: 1 };
    let sample = cgaf_store::NewSample {
        product: "BTC-USD".into(),
        midpoint: "7".parse().unwrap(),
        asks: vec![lvl("7.5")],
        bids: vec![lvl("6.5")],
        buys: trades,
        sells: trades,
        sampled_at: chrono::DateTime::from_timestamp_millis(at).unwrap(),
    };
    store.insert_sample(&sample, 5, "sim", None).await.unwrap();
    store.roll_up("BTC-USD", 1000, 60_000, MAR + 86_400_000, MAR + 86_400_000 + 60_000).await.unwrap();
    assert_eq!(blocks(&store, 60_000).await.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB]);
    let (read, rows, _) = read_both(&store, 60_000, Y2025, end).await;
    same(&read, &rows, "after collect");

    // Retention drops a partition's block with the partition, and no other block.
    let dec: Vec<_> = (334 * 1440 + 1..335 * 1440).map(|k| minute_bar(k, 70.0)).collect();
    let r = store.import_bars("BTC-USD", 60_000, "csv:d.csv", &dec, &rollups, false).await.unwrap();
    assert_eq!(r.blocks, 2, "December's 1m and 5m blocks (2025's 1h bars are not all this import's)");
    let december = Y2025 + 334 * 86_400_000;
    store.drop_history_partitions(cgaf_store::HistoryTable::Bars(60_000), MAR).await.unwrap();
    assert_eq!(blocks(&store, 60_000).await, [(december, 1439)]);
    store.drop_history_partitions(cgaf_store::HistoryTable::Bars(60_000), december + 31 * 86_400_000).await.unwrap();
    assert_eq!(blocks(&store, 60_000).await, []);
    // (February's and March's 5m blocks stay: collect rolled up 1m bars only.)
    let five = blocks(&store, 300_000).await;
    assert_eq!(five.iter().map(|b| b.0).collect::<Vec<_>>(), [FEB, MAR, december]);
    assert_eq!(&five[1..], [(MAR, 4033), (december, 1439 / 5 + 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_keeps_no_block_beside_a_write_it_does_not_hold() {
    let (_db, store) = database().await;
    // A writer has written a bar into February and forgotten February's blocks, not committed.
    store.ensure_history_partitions(cgaf_store::HistoryTable::Bars(60_000), FEB, MAR).await.unwrap();
    let mut writer = store.client().await.unwrap();
    let w = writer.transaction().await.unwrap();
    w.execute(
        "INSERT INTO crypto_gaf.bars (product, interval_ms, close_time, open, high, low, close, volume, origin, source)
         VALUES ('BTC-USD', 60000, $1, 1, 1, 1, 1, 1, 'imported', 'w')",
        &[&chrono::DateTime::from_timestamp_millis(FEB + 20 * 86_400_000).unwrap()],
    )
    .await
    .unwrap();
    w.execute(
        "SELECT crypto_gaf.forget_bar_blocks('BTC-USD', 60000, $1, $1)",
        &[&chrono::DateTime::from_timestamp_millis(FEB + 20 * 86_400_000).unwrap()],
    )
    .await
    .unwrap();
    // An import of the rest of February (nothing stored around it that it can see) waits for
    // the writer before it keeps its blocks...
    let bars: Vec<_> = (31 * 1440 + 1..(31 + 10) * 1440).map(|k| minute_bar(k, 100.0)).collect();
    let import = {
        let store = store.clone();
        tokio::spawn(async move { store.import_bars("BTC-USD", 60_000, "csv:a.csv", &bars, &[], false).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!import.is_finished(), "the import waits for the writer's lock");
    w.commit().await.unwrap();
    // ...and then sees February holds the writer's bar too: no block.
    let report = import.await.unwrap().unwrap();
    assert_eq!(report.blocks, 0, "{report:?}");
    assert_eq!(blocks(&store, 60_000).await, []);
    let (read, rows, _) = read_both(&store, 60_000, FEB, MAR).await;
    same(&read, &rows, "after the import that waited");
    assert_eq!(read.len(), 10 * 1440 - 1 + 1);
}
