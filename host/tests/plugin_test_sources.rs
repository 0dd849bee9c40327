//! The bar sources of `cgaf plugin test` for a strategy (issue 11, item 3): a product's stored
//! history read through `--database-url` as runs read it, and the market simulator collect runs —
//! both through the backtest engine, twice, with the determinism check. Real PostgreSQL, the
//! built-in `sma-cross` component.

mod common;

use common::{cgaf, database_with_golden_bars};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const SMA: &str = cgaf_test_kit::plugins::BUILTIN_SMA_CROSS;

fn plugin_test(data: &Path, args: &[&str]) -> Output {
    cgaf()
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["plugin", "test", SMA, "--json"])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("CGAF_DATABASE_URL")
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "cgaf plugin test failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["deterministic"], true, "{r}");
    assert_eq!(r["one_bar_calls_agree"], true, "{r}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_range_is_tested_on_the_bars_runs_read_and_matches_the_same_bars_as_csv() {
    let db = database_with_golden_bars().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // The same bars as a CSV in `plugin test --bars` form, from the file the database was filled with.
    let golden = std::fs::read(cgaf_test_kit::golden("backtrader/bars-1m.csv")).unwrap();
    let options = cgaf_trade::domain::history::CsvImportOptions::new(60_000);
    let parsed = cgaf_trade::domain::history::read_bars_csv(&golden[..], options).unwrap();
    let csv = dir.path().join("bars.csv");
    let mut text = String::from("time_ms,open,high,low,close,volume,buy_volume,sell_volume\n");
    for b in parsed.bars.iter().map(|b| b.to_bar()) {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            b.time_ms, b.open, b.high, b.low, b.close, b.volume, b.buy_volume, b.sell_volume
        ));
    }
    std::fs::write(&csv, text).unwrap();

    let stored = tokio::task::block_in_place(|| {
        plugin_test(&data, &["--database-url", &db.url, "--product", "BTC-USD", "--bar-interval", "1m"])
    });
    let stored = report(&stored);
    let r = &stored["result"];
    assert_eq!(r["bars_done"], 3000, "{stored}");
    assert!(r["fills"].as_u64().unwrap() > 10, "{stored}");
    assert!(r["metrics"]["sharpe"].is_number(), "{stored}");
    assert!(r["bars"].as_str().unwrap().contains("BTC-USD 1m bars stored"), "{stored}");

    let from_csv =
        tokio::task::block_in_place(|| plugin_test(&data, &["--bars", csv.to_str().unwrap(), "--bar-interval", "1m"]));
    let from_csv = report(&from_csv);
    assert_eq!(
        r["decision_log_sha256"], from_csv["result"]["decision_log_sha256"],
        "the stored range and the same bars as CSV decide alike"
    );
    assert_eq!(r["fills"], from_csv["result"]["fills"]);

    // A sub-range: 5-minute bars rolled up from the stored 1-minute ones, as a run reads them.
    let first = parsed.bars[0].close_ms - 60_000;
    let (from, to) = ((first + 600 * 60_000).to_string(), (first + 1200 * 60_000).to_string());
    let part = tokio::task::block_in_place(|| {
        plugin_test(
            &data,
            &["--database-url", &db.url, "--product", "BTC-USD", "--from", &from, "--to", &to, "--bar-interval", "5m"],
        )
    });
    let part = report(&part);
    assert_eq!(part["result"]["bars_done"], 120, "{part}");

    // A range the history does not hold is refused with what it holds.
    let out = tokio::task::block_in_place(|| {
        plugin_test(&data, &["--database-url", &db.url, "--product", "ETH-USD", "--bar-interval", "1m"])
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no 1m bars of ETH-USD"), "{err}");
}

#[test]
fn the_simulator_makes_the_same_bars_for_a_seed_and_other_bars_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sim = |seed: &str| {
        report(&plugin_test(
            &data,
            &[
                "--simulator",
                "--sim-seed",
                seed,
                "--sim-bars",
                "600",
                "--bar-interval",
                "1s",
                "-p",
                "fast=5",
                "-p",
                "slow=20",
            ],
        ))
    };
    let a = sim("3");
    let r = &a["result"];
    assert_eq!(r["bars_done"], 600, "{a}");
    assert!(r["fills"].as_u64().unwrap() > 0, "{a}");
    assert!(r["bars"].as_str().unwrap().contains("market simulator (BTC-USD, seed 3"), "{a}");
    assert_eq!(
        sim("3")["result"]["decision_log_sha256"],
        r["decision_log_sha256"],
        "same seed, same bars and decisions"
    );
    assert_ne!(sim("4")["result"]["decision_log_sha256"], r["decision_log_sha256"], "another seed, another market");
}
