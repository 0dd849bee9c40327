//! A PostgreSQL restart and a killed `cgaf` in the middle of a run: the workers log, reconnect,
//! and the stored samples are exactly the simulator's sequence — none lost, none duplicated, none
//! torn — and the history's 1-second bars are exactly the aggregation of those samples. The test
//! crashes its server, so it runs a cluster of its own rather than the test kit's shared one.

mod common;

use cgaf_collect::{AnySource, MarketSource, SourceSettings};
use cgaf_embedded_postgres::{EmbeddedOptions, EmbeddedPostgres};
use cgaf_store::{DbSettings, Store};
use cgaf_test_kit::eventually;
use cgaf_trade::domain::{build_bars, SamplePoint};
use common::Service;
use rust_decimal::Decimal;
use std::time::Duration;

async fn count(store: &Store) -> Option<i64> {
    store.count_samples("BTC-USD").await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions::new(dir.path().join("pg"));
    let mut pg = {
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&opts)).await.unwrap().unwrap()
    };
    let url = pg.url();
    let args = [
        "--database-url",
        &url,
        "--products",
        "BTC-USD:1024",
        "--sim-seed",
        "7",
        "--collect-schedule",
        "40ms",
        "--calculate-schedule",
        "200ms",
        "--roles",
        "collect,calculate,api",
    ];
    let mut svc = Service::start(dir.path(), &args);
    let store = Store::new(&DbSettings::new(url.clone())).unwrap();
    eventually(Duration::from_secs(60), "first samples", || async { (count(&store).await? >= 30).then_some(()) }).await;

    // Crash PostgreSQL (no clean shutdown), keep it down until the service has noticed, start it
    // again.
    let before = count(&store).await.unwrap();
    let logged_before = svc.log_text().len();
    pg = tokio::task::spawn_blocking(move || {
        pg.kill().unwrap();
        pg
    })
    .await
    .unwrap();
    let noticed = |log: &str| log.contains("collect failed") || log.contains("claiming products");
    eventually(Duration::from_secs(60), "the outage in the service's log", || {
        let log = svc.log_text();
        async move { noticed(log.get(logged_before..).unwrap_or_default()).then_some(()) }
    })
    .await;
    pg = tokio::task::spawn_blocking(move || {
        pg.restart().unwrap();
        pg
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(60), "samples after the restart", || async {
        (count(&store).await? >= before + 60).then_some(())
    })
    .await;
    // Kill cgaf itself (no clean shutdown) and start it again: it resumes from the stored cursor.
    svc.child.kill().unwrap();
    svc.child.wait().unwrap();
    let after_kill = count(&store).await.unwrap();
    let mut svc = Service::start(dir.path(), &args);
    eventually(Duration::from_secs(60), "samples after cgaf was killed", || async {
        (count(&store).await? >= after_kill + 30).then_some(())
    })
    .await;
    // Images are computed again after the restart too.
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    eventually(Duration::from_secs(30), "images", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            (http.get(format!("{base}/api/gaf/image?product=BTC-USD")).send().await.ok()?.status() == 200).then_some(())
        }
    })
    .await;
    let status = svc.terminate();
    assert!(status.success(), "{status:?}\n{}", svc.log_text());

    // The stored sequence equals the simulator's own sequence, sample for sample.
    let rows = store
        .client()
        .await
        .unwrap()
        .query(
            "SELECT midpoint::text, ask_prices::text[], ask_sizes::text[], bid_prices::text[], bid_sizes::text[],
                    buys::text[], sells::text[]
             FROM crypto_gaf.samples WHERE product = 'BTC-USD' ORDER BY sample_id",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() as i64 >= before + 60, "{} rows, {before} before the outage", rows.len());
    let settings = SourceSettings { seed: 7, ..SourceSettings::default() };
    let mut sim = AnySource::new(&settings).unwrap();
    let mut cursor = None;
    let norm = |v: Vec<String>| v.iter().map(|s| s.parse::<Decimal>().unwrap().normalize()).collect::<Vec<_>>();
    for (i, r) in rows.iter().enumerate() {
        let f = sim.fetch("BTC-USD", cursor.as_ref()).await.unwrap();
        cursor = f.cursor;
        let s = f.sample;
        let mid: String = r.get(0);
        assert_eq!(mid.parse::<Decimal>().unwrap().normalize(), s.midpoint.normalize(), "sample {i}: midpoint");
        let asks: Vec<Decimal> = s.asks.iter().map(|l| l.price.normalize()).collect();
        assert_eq!(norm(r.get(1)), asks, "sample {i}: ask prices");
        let ask_sizes: Vec<Decimal> = s.asks.iter().map(|l| l.size.normalize()).collect();
        assert_eq!(norm(r.get(2)), ask_sizes, "sample {i}: ask sizes");
        let bids: Vec<Decimal> = s.bids.iter().map(|l| l.price.normalize()).collect();
        assert_eq!(norm(r.get(3)), bids, "sample {i}: bid prices");
        let buys: Vec<Decimal> = s.buys.to_triple().into_iter().map(|d| d.normalize()).collect();
        assert_eq!(norm(r.get(5)), buys, "sample {i}: buys");
        let sells: Vec<Decimal> = s.sells.to_triple().into_iter().map(|d| d.normalize()).collect();
        assert_eq!(norm(r.get(6)), sells, "sample {i}: sells");
    }
    // The history's 1-second bars are exactly the samples aggregated: nothing lost or counted
    // twice by either crash (each bar is written in its sample's transaction).
    let points: Vec<SamplePoint> =
        store.sample_points("BTC-USD", None, None).await.unwrap().iter().map(cgaf_trade::bars::sample_point).collect();
    assert_eq!(points.len(), rows.len());
    let direct = build_bars(&points, 1000, Some(i64::MAX)).unwrap();
    let stored = store.bars_page("BTC-USD", 1000, 0, i64::MAX / 4, 1_000_000).await.unwrap();
    assert_eq!(stored.iter().map(|b| b.to_bar()).collect::<Vec<_>>(), direct);
    assert_eq!(stored.iter().map(|b| b.sample_count.unwrap()).sum::<i64>() as usize, rows.len());
    drop(pg);
}
