//! The history store against a real PostgreSQL: collected bars equal a direct aggregation of
//! their samples, rollups equal a direct aggregation of the finer bars, late samples land in
//! their bar, imports respect the origin precedence, and retention drops whole partitions only.

use cgaf_store::{DbSettings, Error, HistoryTable, Level, NewSample, Store, TradeSummary};
use cgaf_trade_domain::history::{rollup, HistoryBar};
use cgaf_trade_domain::{build_bars, Book, SamplePoint};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

async fn store() -> Store {
    let database = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(database.url)).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    store.add_product("BTC-USD", 5).await.unwrap();
    store
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A minute boundary: 2026-11-28 12:00:00 UTC.
const T0: i64 = 1_795_867_200_000;

/// A sample at `ms` with a midpoint and taker sizes that vary with `k`.
fn sample(k: i64, ms: i64) -> NewSample {
    let lvl = |p: Decimal, s: &str| Level { price: p, size: d(s), num_orders: 1 };
    let mid = d("100.25") + Decimal::new((k * 7919) % 301, 2);
    NewSample {
        product: "BTC-USD".into(),
        midpoint: mid,
        asks: vec![lvl(mid + d("0.5"), "1.5"), lvl(mid + d("1"), "0.3")],
        bids: vec![lvl(mid - d("0.5"), "2.5"), lvl(mid - d("1"), "0.1")],
        buys: TradeSummary { price: mid, size: Decimal::new((k * 31) % 17, 1), num_orders: 1 },
        sells: TradeSummary { price: mid, size: Decimal::new((k * 13) % 11, 2), num_orders: 1 },
        sampled_at: Utc.timestamp_millis_opt(ms).unwrap(),
    }
}

fn f(x: Decimal) -> f64 {
    x.to_string().parse().unwrap()
}

/// The sample as the domain's bar builder takes it (exact decimal → correctly rounded f64, as
/// PostgreSQL converts).
fn point(s: &NewSample) -> SamplePoint {
    SamplePoint {
        time_ms: s.sampled_at.timestamp_millis(),
        midpoint: f(s.midpoint),
        buy_size: f(s.buys.size),
        sell_size: f(s.sells.size),
        book: Book {
            bid: f(s.bids[0].price),
            ask: f(s.asks[0].price),
            bid_depth: f(s.bids.iter().map(|l| l.size).sum()),
            ask_depth: f(s.asks.iter().map(|l| l.size).sum()),
        },
    }
}

async fn all_bars(store: &Store, interval_ms: i64) -> Vec<HistoryBar> {
    store.bars_page("BTC-USD", interval_ms, 0, i64::from(i32::MAX) * 1000, 1_000_000).await.unwrap()
}

#[tokio::test]
async fn collected_bars_equal_a_direct_aggregation_and_rollups_equal_their_finer_bars() {
    let store = store().await;
    // 130 s of samples every 250 ms (some seconds skipped), across two minute boundaries; the
    // image window keeps 5 samples, the history keeps every bar.
    let samples: Vec<NewSample> =
        (0..520).filter(|k| k % 37 != 3).map(|k| sample(k, T0 - 5_000 + k * 250 + (k % 3))).collect();
    for s in &samples {
        store.insert_sample(s, 5, "sim", None).await.unwrap();
    }
    assert_eq!(store.count_samples("BTC-USD").await.unwrap(), 5);
    let points: Vec<SamplePoint> = samples.iter().map(point).collect();
    let direct = build_bars(&points, 1000, Some(i64::MAX)).unwrap();
    let stored = all_bars(&store, 1000).await;
    assert_eq!(stored.len(), direct.len());
    for (s, b) in stored.iter().zip(&direct) {
        assert_eq!(s.to_bar(), *b, "1 s bar at {}", b.time_ms);
    }
    let per_bar: usize = stored.iter().map(|b| b.sample_count.unwrap() as usize).sum();
    assert_eq!(per_bar, samples.len());

    // Rollups: 1m from 1s, 5m from 1m, exactly as the domain's rollup (which runs use on the fly).
    let until = T0 + 10 * 60_000;
    let written = store.roll_up("BTC-USD", 1000, 60_000, 0, until).await.unwrap();
    let minutes = all_bars(&store, 60_000).await;
    assert_eq!(written as usize, minutes.len());
    assert_eq!(minutes, rollup(&stored, 60_000));
    assert_eq!(minutes.len(), 4, "closing at T0, T0+1m, T0+2m and the partial T0+3m");
    store.roll_up("BTC-USD", 60_000, 300_000, 0, until).await.unwrap();
    assert_eq!(all_bars(&store, 300_000).await, rollup(&minutes, 300_000));
    // A coarse bar not closed by `until` is not written yet; rolling up again changes nothing.
    assert_eq!(store.roll_up("BTC-USD", 1000, 60_000, 0, T0 + 60_000).await.unwrap(), 2);
    assert_eq!(all_bars(&store, 60_000).await, minutes);

    let cov = store.history_coverage(Some("BTC-USD")).await.unwrap();
    let secs = cov.iter().find(|c| c.interval_ms == 1000).unwrap();
    assert_eq!(
        (secs.count as usize, secs.first_ms, secs.last_ms),
        (stored.len(), stored[0].close_ms, stored.last().unwrap().close_ms)
    );
    assert_eq!(secs.missing, (secs.last_ms - secs.first_ms) / 1000 + 1 - secs.count);
}

#[tokio::test]
async fn a_late_sample_lands_in_its_bar_without_moving_open_or_close() {
    let store = store().await;
    let (a, late, b) = (sample(1, T0 + 100), sample(2, T0 + 50), sample(3, T0 + 900));
    for s in [&a, &b, &late] {
        store.insert_sample(s, 5, "sim", None).await.unwrap();
    }
    let bars = all_bars(&store, 1000).await;
    assert_eq!(bars.len(), 1);
    let bar = bars[0];
    assert_eq!(bar.close_ms, T0 + 1000);
    assert_eq!(bar.open, f(late.midpoint), "the earliest sample opens the bar");
    assert_eq!(bar.close, f(b.midpoint), "the latest sample closes it");
    assert_eq!(bar.book.unwrap().bid, f(b.bids[0].price));
    assert_eq!(bar.sample_count, Some(3));
    let high = [&a, &b, &late].iter().map(|s| f(s.midpoint)).fold(f64::MIN, f64::max);
    assert_eq!(bar.high, high);
}

fn imported(close_ms: i64, price: f64) -> HistoryBar {
    HistoryBar {
        close_ms,
        open: price,
        high: price + 1.0,
        low: price - 1.0,
        close: price + 0.5,
        volume: 2.0,
        buy_volume: None,
        sell_volume: None,
        sample_count: None,
        book: None,
    }
}

#[tokio::test]
async fn imports_never_overwrite_collected_bars_and_refuse_silent_changes() {
    let store = store().await;
    for k in 0..8 {
        store.insert_sample(&sample(k, T0 + k * 500), 5, "sim", None).await.unwrap();
    }
    let collected = all_bars(&store, 1000).await;
    assert_eq!(collected.len(), 4);
    // An import over the collected seconds and two more.
    let file: Vec<HistoryBar> = (1..=6).map(|k| imported(T0 + k * 1000, 50.0 + k as f64)).collect();
    let r = store.import_bars("BTC-USD", 1000, "csv:a.csv", &file, &[], false).await.unwrap();
    assert_eq!((r.written, r.kept_collected), (2, 4));
    let after = all_bars(&store, 1000).await;
    assert_eq!(&after[..4], &collected[..], "collected bars win");
    assert_eq!(after[4], file[4]);
    // The same file again: nothing changes.
    let r = store.import_bars("BTC-USD", 1000, "csv:a.csv", &file, &[], false).await.unwrap();
    assert_eq!((r.written, r.unchanged, r.kept_collected), (0, 2, 4));
    // Other values for imported bars: refused as a whole, unless replace is asked.
    let other: Vec<HistoryBar> = (5..=7).map(|k| imported(T0 + k * 1000, 70.0 + k as f64)).collect();
    let e = store.import_bars("BTC-USD", 1000, "csv:b.csv", &other, &[], false).await.unwrap_err();
    assert!(matches!(e, Error::ImportConflict { count: 2, .. }), "{e}");
    assert!(e.to_string().contains("2 1s bars of BTC-USD are stored already with other values"), "{e}");
    assert_eq!(all_bars(&store, 1000).await, after, "nothing was written");
    let r = store.import_bars("BTC-USD", 1000, "csv:b.csv", &other, &[], true).await.unwrap();
    assert_eq!(r.written, 3);
    assert_eq!(all_bars(&store, 1000).await[4..], other[..]);
}

#[tokio::test]
async fn an_import_rolls_up_and_lands_in_partitions_it_creates() {
    let store = store().await;
    // 3 days of 1-minute bars in 2025, rolled up to 5m and 1h.
    let start = 1_735_689_600_000; // 2025-01-01
    let file: Vec<HistoryBar> =
        (1..=3 * 1440).map(|k| imported(start + k * 60_000, 100.0 + ((k * 37) % 50) as f64)).collect();
    let r = store.import_bars("ETH-USD", 60_000, "coinbase", &file, &[300_000, 3_600_000], false).await.unwrap();
    assert_eq!(r.written as usize, file.len());
    assert_eq!(r.rolled_up as usize, 3 * 288 + 3 * 24);
    let fives = store.bars_page("ETH-USD", 300_000, 0, i64::MAX / 4, 10_000).await.unwrap();
    assert_eq!(fives, rollup(&file, 300_000));
    let hours = store.bars_page("ETH-USD", 3_600_000, 0, i64::MAX / 4, 10_000).await.unwrap();
    assert_eq!(hours, rollup(&fives, 3_600_000));
    assert_eq!(store.stored_intervals("ETH-USD").await.unwrap(), vec![60_000, 300_000, 3_600_000]);
    // Which intervals are stored is asked by every run: it reads a bar per interval, not every
    // bar of the product (the partitions have no statistics yet, as right after an import).
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", cgaf_store::history::STORED_INTERVALS);
    let plan: serde_json::Value =
        store.client().await.unwrap().query_one(&explain, &[&"ETH-USD"]).await.unwrap().get(0);
    fn bars_read(node: &serde_json::Value) -> f64 {
        let here = match node["Relation Name"].as_str() {
            Some(r) if r.starts_with("bars_") => {
                node["Actual Rows"].as_f64().unwrap_or(0.0) * node["Actual Loops"].as_f64().unwrap_or(0.0)
            }
            _ => 0.0,
        };
        here + node["Plans"].as_array().map_or(0.0, |plans| plans.iter().map(bars_read).sum())
    }
    assert_eq!(bars_read(&plan[0]["Plan"]), 3.0, "{plan}");
}

#[tokio::test]
async fn retention_drops_whole_old_partitions_and_nothing_else() {
    let store = store().await;
    let day = 86_400_000;
    let now = T0;
    // One-second bars on four days, minute bars on the oldest; samples of today.
    let secs: Vec<HistoryBar> = (0..4).rev().map(|d| imported(now - d * day + 1000, 10.0)).collect();
    store.import_bars("BTC-USD", 1000, "test", &secs, &[], false).await.unwrap();
    store.import_bars("BTC-USD", 60_000, "test", &[imported(now - 3 * day + 60_000, 10.0)], &[], false).await.unwrap();
    store.insert_sample(&sample(1, now + 10), 5, "sim", None).await.unwrap();
    let dropped = store.drop_history_partitions(HistoryTable::Bars(1000), now - 2 * day).await.unwrap();
    // Only the day that ended before the cut: the partition holding the cut itself stays.
    assert_eq!(dropped, vec!["bars_1s_20261125".to_string()]);
    let left: Vec<i64> = all_bars(&store, 1000).await.iter().map(|b| b.close_ms).collect();
    assert_eq!(left, vec![now - 2 * day + 1000, now - day + 1000, now + 1000], "only the dropped day's bars are gone");
    assert_eq!(all_bars(&store, 60_000).await.len(), 1, "other intervals keep theirs");
    assert_eq!(store.count_samples("BTC-USD").await.unwrap(), 1, "the image window is untouched");
    // Dropped partitions are created again when data for them arrives.
    store.import_bars("BTC-USD", 1000, "test", &secs[..1], &[], false).await.unwrap();
    assert_eq!(all_bars(&store, 1000).await.len(), 4);
}

#[tokio::test]
async fn the_sample_archive_keeps_every_sample_the_window_trims() {
    let store = store().await.with_sample_archive(true);
    for k in 0..12 {
        store.insert_sample(&sample(k, T0 + k * 250), 5, "sim", None).await.unwrap();
    }
    assert_eq!(store.count_samples("BTC-USD").await.unwrap(), 5);
    let c = store.client().await.unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM crypto_gaf.sample_archive", &[]).await.unwrap().get(0);
    assert_eq!(n, 12);
}

#[tokio::test]
async fn a_count_over_a_wide_range_counted_in_two_halves_equals_a_count_of_the_bars() {
    let store = store().await;
    // 1-second bars over ~3 days (past the split), with gaps, two products.
    let start = 1_735_689_600_000; // 2025-01-01
    let closes: Vec<i64> =
        (1..=260_000i64).filter(|k| k % 7 != 3 && !(100_000..130_000).contains(k)).map(|k| start + k * 1000).collect();
    let bars: Vec<HistoryBar> = closes.iter().map(|&c| imported(c, 10.0)).collect();
    store.import_bars("BTC-USD", 1000, "csv:a.csv", &bars, &[], false).await.unwrap();
    store.import_bars("ETH-USD", 1000, "csv:b.csv", &bars[..10], &[], false).await.unwrap();
    let direct = |after: i64, to: i64| {
        let inside: Vec<i64> = closes.iter().copied().filter(|&c| c > after && c <= to).collect();
        (inside.len() as i64, inside.first().copied(), inside.last().copied())
    };
    let ranges = [
        (0, i64::MAX / 4),
        (start, start + 260_000_000),
        (start + 1000, start + 259_999_000),
        (start + 50_500, start + 250_000_500),
        (start + 99_000_000, start + 131_000_000),
        (start + 100_000_000, start + 129_999_000),
        (start + 300_000_000, start + 500_000_000),
        (start - 500_000_000, start + 1000),
    ];
    assert!(ranges.iter().filter(|(a, t)| (t - a) / 1000 > cgaf_store::history::SPLIT_COUNT_BARS).count() >= 5);
    for (after, to) in ranges {
        assert_eq!(store.count_bars("BTC-USD", 1000, after, to).await.unwrap(), direct(after, to), "({after}, {to}]");
    }
}

/// Sends `bars` in batches of `batch` (then `tail`, if any) to a streamed import.
async fn stream_import(
    store: &Store,
    product: &str,
    bars: &[HistoryBar],
    batch: usize,
    tail: Option<Result<Vec<HistoryBar>, String>>,
    last_ms: i64,
) -> cgaf_store::StreamedImport {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let send = {
        let batches: Vec<Vec<HistoryBar>> = bars.chunks(batch).map(|c| c.to_vec()).collect();
        tokio::spawn(async move {
            for b in batches {
                tx.send(Ok(b)).await.unwrap();
            }
            if let Some(t) = tail {
                let _ = tx.send(t).await;
            }
        })
    };
    let first = bars[0].close_ms;
    let r = store
        .import_bar_batches(
            product,
            60_000,
            "csv:s.csv",
            (first, last_ms),
            &[300_000, 900_000, 3_600_000, 86_400_000],
            rx,
        )
        .await
        .unwrap();
    send.await.unwrap();
    r
}

#[tokio::test]
async fn a_streamed_import_writes_what_a_whole_import_writes_or_nothing() {
    use cgaf_store::StreamedImport;
    let store = store().await;
    // Two days and a bit of 1-minute bars with a gap, from an odd minute: rollup buckets straddle
    // the batches (of 777 bars).
    let start = 1_735_689_600_000 + 7 * 60_000;
    let file: Vec<HistoryBar> = (1..=3100)
        .filter(|k| !(1500..1530).contains(k))
        .map(|k| HistoryBar {
            // Volumes whose sums depend on the order they are added in (1h from 15m bars, as
            // the whole import rolls up, is not 1h from 1m bars bit for bit).
            volume: (k as f64) / 3.0 + 0.1,
            ..imported(start + k * 60_000, 100.0 + ((k * 37) % 50) as f64 + (k as f64) / 7.0)
        })
        .collect();
    let last = file.last().unwrap().close_ms;
    let rollups = [300_000, 900_000, 3_600_000, 86_400_000];
    let whole = store.import_bars("ETH-USD", 60_000, "csv:s.csv", &file, &rollups, false).await.unwrap();
    let streamed = stream_import(&store, "SOL-USD", &file, 777, None, last).await;
    assert_eq!(streamed, StreamedImport::Written(whole.clone()));
    for iv in [60_000, 300_000, 900_000, 3_600_000, 86_400_000] {
        let a = store.bars_page("ETH-USD", iv, 0, i64::MAX / 4, 100_000).await.unwrap();
        let b = store.bars_page("SOL-USD", iv, 0, i64::MAX / 4, 100_000).await.unwrap();
        assert!(!a.is_empty() && a == b, "{iv} ms bars differ");
    }
    // Over stored bars: not streamed, nothing written.
    let again = stream_import(&store, "SOL-USD", &file, 777, None, last).await;
    assert!(matches!(again, StreamedImport::NotStreamed(ref why) if why.contains("stored around")), "{again:?}");
    // A reader that fails at the end, or ends before the last bar announced: nothing written.
    let failed = stream_import(&store, "ADA-USD", &file, 500, Some(Err("line 9: off the grid".into())), last).await;
    assert_eq!(failed, StreamedImport::NotStreamed("line 9: off the grid".into()));
    let short = stream_import(&store, "ADA-USD", &file[..2000], 500, None, last).await;
    assert!(matches!(short, StreamedImport::NotStreamed(ref why) if why.contains("not at the last bar")), "{short:?}");
    for iv in [60_000, 300_000, 86_400_000] {
        assert!(store.bars_page("ADA-USD", iv, 0, i64::MAX / 4, 10).await.unwrap().is_empty());
    }
}

/// The bars partitions of `label` (`1m`) attached to `crypto_gaf.bars_<label>`, the ones
/// registered for retention, and the tables an import loaded that are still about.
async fn partitions(store: &Store, label: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let client = store.client().await.unwrap();
    let names = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    let attached = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = ('crypto_gaf.bars_' || $1)::regclass ORDER BY 1",
            &[&label],
        )
        .await
        .unwrap();
    let registered = client
        .query(
            "SELECT name FROM crypto_gaf.history_partitions WHERE name LIKE 'bars\\_' || $1 || '\\_%' ORDER BY 1",
            &[&label],
        )
        .await
        .unwrap();
    let loaded = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = 'crypto_gaf'::regnamespace AND relname LIKE '%\\_load\\_%'",
            &[],
        )
        .await
        .unwrap();
    (names(attached), names(registered), names(loaded))
}

#[tokio::test]
async fn an_import_loads_the_partitions_it_makes_whole_keys_and_attaches_them() {
    let store = store().await;
    let jan30 = 1_738_195_200_000; // 2025-01-30
    let feb = 1_738_368_000_000; // 2025-02-01
                                 // February's partition exists before the import: its bars go through the parent.
    store.ensure_history_partitions(HistoryTable::Bars(60_000), feb, feb).await.unwrap();
    let file: Vec<HistoryBar> = (1..=4 * 1440).map(|k| imported(jan30 + k * 60_000, 100.0 + (k % 50) as f64)).collect();
    let r = store.import_bars("BTC-USD", 60_000, "csv:l.csv", &file, &[300_000, 86_400_000], false).await.unwrap();
    assert_eq!(r.written as usize, file.len());
    assert_eq!(all_bars(&store, 60_000).await, file);
    assert_eq!(store.bars_page("BTC-USD", 300_000, 0, i64::MAX / 4, 10_000).await.unwrap(), rollup(&file, 300_000));
    let (attached, registered, loaded) = partitions(&store, "1m").await;
    assert_eq!(attached, ["bars_1m_202501", "bars_1m_202502"]);
    assert_eq!(registered, attached, "retention knows both");
    assert!(loaded.is_empty(), "{loaded:?}");
    assert_eq!(partitions(&store, "1d").await.0, ["bars_1d_2025"]);
    // The loaded partition holds the key: the same bar again is refused, a new one lands.
    let client = store.client().await.unwrap();
    let copy_of = "INSERT INTO crypto_gaf.bars SELECT * FROM crypto_gaf.bars
                   WHERE product = 'BTC-USD' AND interval_ms = 60000 AND close_time = $1";
    let e = client.execute(copy_of, &[&cgaf_store::history::time_of_ms(jan30 + 60_000)]).await.unwrap_err();
    assert_eq!(e.code(), Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION), "{e}");
    let index: String = client
        .query_one(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'crypto_gaf.bars_1m_202501'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(index, "crypto_gaf.bars_1m_202501_pkey");
    // Retention drops it like any other partition.
    let dropped = store.drop_history_partitions(HistoryTable::Bars(60_000), feb).await.unwrap();
    assert_eq!(dropped, ["bars_1m_202501"]);
    assert_eq!(all_bars(&store, 60_000).await.first().map(|b| b.close_ms), Some(feb));
}

#[tokio::test]
async fn two_imports_into_the_same_new_partitions_both_land_and_a_failed_one_leaves_nothing() {
    let store = store().await;
    let start = 1_735_689_600_000 + 7 * 60_000; // 2025-01-01 00:07
    let file: Vec<HistoryBar> = (1..=3000).map(|k| imported(start + k * 60_000, 100.0 + (k % 37) as f64)).collect();
    let last = file.last().unwrap().close_ms;
    let rollups = [300_000, 86_400_000];
    // Each import is given its bars in two batches through a channel of one: the second send
    // returns once the import took the first, i.e. once it found its partitions missing and
    // began loading them.
    let begin = |product: &'static str| {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let store = store.clone();
        let import = tokio::spawn(async move {
            store.import_bar_batches(product, 60_000, "csv:two.csv", (start + 60_000, last), &rollups, rx).await
        });
        (tx, import)
    };
    let (a, a_import) = begin("ETH-USD");
    let (b, b_import) = begin("SOL-USD");
    for (tx, half) in [(&a, &file[..1500]), (&b, &file[..1500]), (&a, &file[1500..]), (&b, &file[1500..])] {
        tx.send(Ok(half.to_vec())).await.unwrap();
    }
    // ETH-USD attaches the partitions; SOL-USD, loaded meanwhile, then finds them made.
    drop(a);
    let a_report = a_import.await.unwrap().unwrap();
    drop(b);
    let b_report = b_import.await.unwrap().unwrap();
    assert!(matches!(&a_report, cgaf_store::StreamedImport::Written(r) if r.written == 3000), "{a_report:?}");
    assert_eq!(a_report, b_report);
    for iv in [60_000, 300_000, 86_400_000] {
        let eth = store.bars_page("ETH-USD", iv, 0, i64::MAX / 4, 10_000).await.unwrap();
        let sol = store.bars_page("SOL-USD", iv, 0, i64::MAX / 4, 10_000).await.unwrap();
        assert!(!eth.is_empty() && eth == sol, "{iv} ms bars differ");
    }
    assert_eq!(all_bars(&store, 60_000).await.len(), 0, "BTC-USD has none");
    let (attached, registered, loaded) = partitions(&store, "1m").await;
    assert_eq!((attached.as_slice(), registered.as_slice()), (&["bars_1m_202501".to_string()][..], &attached[..]));
    assert!(loaded.is_empty(), "{loaded:?}");
    // An import into a missing year that fails at its end leaves neither bars nor tables.
    let later: Vec<HistoryBar> =
        file.iter().map(|b| HistoryBar { close_ms: b.close_ms + 366 * 86_400_000, ..*b }).collect();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(Ok(later.clone())).await.unwrap();
    tx.send(Err("line 3002: bad".to_string())).await.unwrap();
    drop(tx);
    let failed = store
        .import_bar_batches("ETH-USD", 60_000, "csv:bad.csv", (later[0].close_ms, later[2999].close_ms), &rollups, rx)
        .await
        .unwrap();
    assert_eq!(failed, cgaf_store::StreamedImport::NotStreamed("line 3002: bad".into()));
    let (attached, _, loaded) = partitions(&store, "1m").await;
    assert_eq!(attached, ["bars_1m_202501"]);
    assert!(loaded.is_empty(), "{loaded:?}");
}

#[tokio::test]
async fn a_merge_into_months_without_partitions_makes_them_and_finishes() {
    let store = store().await;
    let jan31 = 1_738_281_600_000; // 2025-01-31
    let first: Vec<HistoryBar> = (1..=600).map(|k| imported(jan31 + k * 60_000, 100.0)).collect();
    store.import_bars("BTC-USD", 60_000, "csv:a.csv", &first, &[300_000], false).await.unwrap();
    // Over the stored bars (a merge) and on into February, whose partitions do not exist yet.
    let second: Vec<HistoryBar> = (301..=3000).map(|k| imported(jan31 + k * 60_000, 100.0)).collect();
    let merge = store.import_bars("BTC-USD", 60_000, "csv:b.csv", &second, &[300_000], false);
    let r = tokio::time::timeout(Duration::from_secs(60), merge).await.expect("the merge waited on itself").unwrap();
    assert_eq!((r.written, r.unchanged), (2400, 300));
    assert_eq!(all_bars(&store, 60_000).await.len(), 3000);
    assert_eq!(partitions(&store, "1m").await.0, ["bars_1m_202501", "bars_1m_202502"]);
}

#[tokio::test]
async fn a_failed_import_drops_the_tables_its_loaders_committed_and_imports_sweep_those_of_dead_imports() {
    let store = store().await;
    let client = store.client().await.unwrap();
    let plant = |table: &'static str, month: &'static str| {
        let client = &client;
        async move {
            client
                .execute(
                    "SELECT crypto_gaf.make_loaded_bars_table($1, 'BTC-USD', 60000, 'csv:x.csv',
                            $2::text::date::timestamptz, ($2::text::date + interval '1 month')::timestamptz)",
                    &[&table, &month],
                )
                .await
                .unwrap();
        }
    };
    // A loaded table left by an import that died (its load's lock is free), and one of an
    // import still running (another session holds its load's lock).
    plant("bars_1m_209901_load_999999", "2099-01-01").await;
    plant("bars_1m_209902_load_999998", "2099-02-01").await;
    let mut running = store.client().await.unwrap();
    let running_tx = running.transaction().await.unwrap();
    running_tx.execute("SELECT pg_advisory_xact_lock(hashtext('cgaf_partition_load'), 999998)", &[]).await.unwrap();
    // The import then fails after its loaders committed: attaching March's table cannot give
    // its key the partition's index name, which another relation has.
    client.batch_execute("CREATE TABLE crypto_gaf.bars_1m_202503_pkey (x integer)").await.unwrap();
    let mar = 1_740_787_200_000; // 2025-03-01
    let file: Vec<HistoryBar> = (1..=3 * 1440).map(|k| imported(mar + k * 60_000, 100.0 + (k % 50) as f64)).collect();
    let e = store.import_bars("BTC-USD", 60_000, "csv:f.csv", &file, &[300_000], false).await.unwrap_err();
    assert!(e.to_string().contains("bars_1m_202503_pkey"), "{e}");
    let (attached, _, loaded) = partitions(&store, "1m").await;
    assert!(attached.is_empty(), "{attached:?}");
    assert_eq!(loaded, ["bars_1m_209902_load_999998"], "the dead import's and the failed one's are gone");
    assert!(all_bars(&store, 60_000).await.is_empty());
    // Once the running one's transaction ends, the next import sweeps its table too.
    running_tx.rollback().await.unwrap();
    client.batch_execute("DROP TABLE crypto_gaf.bars_1m_202503_pkey").await.unwrap();
    let r = store.import_bars("BTC-USD", 60_000, "csv:f.csv", &file, &[300_000], false).await.unwrap();
    assert_eq!(r.written as usize, file.len());
    let (attached, _, loaded) = partitions(&store, "1m").await;
    assert_eq!(attached, ["bars_1m_202503"]);
    assert!(loaded.is_empty(), "{loaded:?}");
    assert_eq!(all_bars(&store, 60_000).await, file);
}

#[tokio::test]
async fn imports_over_many_new_partitions_land_whole_together_and_a_failed_one_leaves_no_table() {
    let store = store().await;
    let start = 1_798_761_600_000; // 2027-01-01
                                   // An hourly bar for four months (1-minute bars with gaps; the last closes on May 1st): each
                                   // import loads five monthly tables of each of 1m and 5m and a yearly one of 1d, committed by
                                   // its loaders as each period completes; the two imports end together and each attaches its
                                   // tables, one after the other (the second's rows go into the partitions the first made).
    let file: Vec<HistoryBar> = (1..=2880).map(|k| imported(start + k * 3_600_000, 100.0 + (k % 41) as f64)).collect();
    let (first, last) = (file[0].close_ms, file[2879].close_ms);
    let rollups = [300_000, 86_400_000];
    let import = |product: &'static str, bars: Vec<HistoryBar>, end: Option<String>| {
        let store = store.clone();
        let (first, last) = (bars[0].close_ms, bars[bars.len() - 1].close_ms);
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let feeding = tokio::spawn(async move {
            for part in bars.chunks(360) {
                tx.send(Ok(part.to_vec())).await.unwrap();
            }
            if let Some(why) = end {
                tx.send(Err(why)).await.unwrap();
            }
        });
        tokio::spawn(async move {
            let imported =
                store.import_bar_batches(product, 60_000, "csv:months.csv", (first, last), &rollups, rx).await;
            feeding.await.unwrap();
            imported.unwrap()
        })
    };
    let (eth, sol) = (import("ETH-USD", file.clone(), None), import("SOL-USD", file.clone(), None));
    let (eth, sol) = (eth.await.unwrap(), sol.await.unwrap());
    assert!(matches!(&eth, cgaf_store::StreamedImport::Written(r) if r.written == 2880), "{eth:?}");
    assert_eq!(eth, sol);
    let stored = store.bars_page("ETH-USD", 60_000, 0, i64::MAX / 4, 10_000).await.unwrap();
    assert_eq!(stored, file);
    for iv in [60_000, 300_000, 86_400_000] {
        let eth = store.bars_page("ETH-USD", iv, first - iv, last, 10_000).await.unwrap();
        let sol = store.bars_page("SOL-USD", iv, first - iv, last, 10_000).await.unwrap();
        assert!(!eth.is_empty() && eth == sol, "{iv} ms bars differ");
    }
    let months: Vec<String> = (1..=5).map(|m| format!("bars_1m_20270{m}")).collect();
    for (label, expected) in [("1m", months), ("5m", vec!["bars_5m_2027".to_string()])] {
        let (attached, registered, loaded) = partitions(&store, label).await;
        assert_eq!((&attached, &registered), (&expected, &expected), "{label}");
        assert!(loaded.is_empty(), "{label}: {loaded:?}");
    }
    assert_eq!(partitions(&store, "1d").await.0, ["bars_1d_2027"]);
    // The same a year later, failing after its last batch: its tables were committed by then,
    // and none is left, nor any bar.
    let later: Vec<HistoryBar> =
        file.iter().map(|b| HistoryBar { close_ms: b.close_ms + 365 * 86_400_000, ..*b }).collect();
    let failed = import("ETH-USD", later.clone(), Some("line 2882: bad".into())).await.unwrap();
    assert_eq!(failed, cgaf_store::StreamedImport::NotStreamed("line 2882: bad".into()));
    for label in ["1m", "5m", "1d"] {
        let (attached, _, loaded) = partitions(&store, label).await;
        assert!(attached.iter().all(|p| p.contains("2027")), "{label}: {attached:?}");
        assert!(loaded.is_empty(), "{label}: {loaded:?}");
    }
    assert!(store.bars_page("ETH-USD", 60_000, later[0].close_ms - 1, i64::MAX / 4, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_partition_maker_waits_for_an_import_without_holding_up_reads_of_its_bars() {
    let store = store().await;
    let start = 1_798_761_600_000; // 2027-01-01
    let bars: Vec<HistoryBar> = (1..=24 * 59).map(|k| imported(start + k * 3_600_000, 100.0)).collect();
    let (first, last) = (bars[0].close_ms, bars[bars.len() - 1].close_ms);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let importing = {
        let store = store.clone();
        tokio::spawn(async move {
            store.import_bar_batches("ETH-USD", 60_000, "csv:held.csv", (first, last), &[300_000], rx).await.unwrap()
        })
    };
    // A day at a time, until the import has attached January's table (its period complete, keyed
    // and committed by a loader): it then holds the 1-minute bars' partition to its commit.
    let client = store.client().await.unwrap();
    let holding = || async {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE relation = 'crypto_gaf.bars_1m'::regclass
                   AND mode = 'ShareUpdateExclusiveLock' AND granted",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        n > 0
    };
    let mut days = bars.chunks(24);
    let mut held = false;
    for day in days.by_ref().take(58) {
        tx.send(Ok(day.to_vec())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        if holding().await {
            held = true;
            break;
        }
    }
    assert!(held, "the import attached nothing while its bars streamed");
    // Making a partition of the interval waits for the import; reading its bars does not.
    let making = {
        let store = store.clone();
        tokio::spawn(async move {
            let june_2030 = 1_906_934_400_000;
            store.ensure_history_partitions(HistoryTable::Bars(60_000), june_2030, june_2030).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!making.is_finished(), "a partition was made while the import held the interval's partitions");
    let read =
        tokio::time::timeout(Duration::from_secs(5), store.bars_page("BTC-USD", 60_000, 0, i64::MAX / 4, 10)).await;
    assert!(matches!(read, Ok(Ok(ref b)) if b.is_empty()), "reading 1-minute bars waited behind the maker: {read:?}");
    for day in days {
        tx.send(Ok(day.to_vec())).await.unwrap();
    }
    drop(tx);
    let imported = importing.await.unwrap();
    assert!(
        matches!(&imported, cgaf_store::StreamedImport::Written(r) if r.written == bars.len() as u64),
        "{imported:?}"
    );
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), making).await.unwrap().unwrap(), 1);
    assert_eq!(store.bars_page("ETH-USD", 60_000, 0, i64::MAX / 4, 10_000).await.unwrap(), bars);
}

#[tokio::test]
async fn a_year_with_month_partitions_of_5m_bars_keeps_getting_months_and_other_years_get_a_year() {
    let store = store().await;
    // A month partition of 5-minute bars as migrations before 22 made them.
    store.ensure_history_partitions(HistoryTable::Bars(300_000), 0, 0).await.unwrap();
    store
        .client()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE crypto_gaf.bars_5m_202601 PARTITION OF crypto_gaf.bars_5m
               FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00');
             INSERT INTO crypto_gaf.history_partitions (name, parent, interval_ms, starts, ends)
             VALUES ('bars_5m_202601', 'bars', 300000, '2026-01-01 00:00+00', '2026-02-01 00:00+00');",
        )
        .await
        .unwrap();
    let march_2026 = 1_772_323_200_000; // 2026-03-01
    let february_2027 = 1_801_440_000_000; // 2027-02-01
    store.ensure_history_partitions(HistoryTable::Bars(300_000), march_2026 + 86_400_000, february_2027).await.unwrap();
    let (attached, registered, _) = partitions(&store, "5m").await;
    let mut expected: Vec<String> = vec!["bars_5m_1970".into(), "bars_5m_202601".into()];
    expected.extend((3..=12).map(|m| format!("bars_5m_2026{m:02}")));
    expected.push("bars_5m_2027".into());
    assert_eq!((&attached, &registered), (&expected, &expected));
    // 5-minute bars of 2026 land in their months, and of 2027 in its year.
    let bars: Vec<HistoryBar> =
        [march_2026 + 300_000, february_2027 - 300_000].iter().map(|&t| imported(t, 100.0)).collect();
    store.import_bars("ETH-USD", 300_000, "csv:5m.csv", &bars, &[], false).await.unwrap();
    assert_eq!(store.bars_page("ETH-USD", 300_000, 0, i64::MAX / 4, 10).await.unwrap(), bars);
}
