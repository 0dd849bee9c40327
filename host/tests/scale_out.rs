//! Three worker processes on one database: every product is collected by exactly one of them at
//! a time (no duplicate, no gap in any product's sample sequence), and killing one hands its
//! products to the others.

mod common;

use cgaf_collect::{AnySource, MarketSource, SourceSettings};
use cgaf_store::{DbSettings, Store};
use cgaf_test_kit::eventually;
use common::Service;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const PRODUCTS: [&str; 6] = ["AAA-USD", "BBB-USD", "CCC-USD", "DDD-USD", "EEE-USD", "FFF-USD"];

async fn counts(store: &Store) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for p in PRODUCTS {
        out.insert(p.to_string(), store.count_samples(p).await.unwrap_or(0));
    }
    out
}

async fn holders(store: &Store) -> HashMap<String, String> {
    store
        .client()
        .await
        .unwrap()
        .query("SELECT product, holder FROM crypto_gaf.leases WHERE role = 'collect' AND expires_at > now()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Waits until every product has more samples than now.
async fn every_product_grows(store: &Store, what: &str) {
    let before = counts(store).await;
    eventually(Duration::from_secs(30), what, || {
        let before = before.clone();
        async move {
            let after = counts(store).await;
            PRODUCTS.iter().all(|p| after[*p] > before[*p]).then_some(())
        }
    })
    .await;
}

/// Every product's stored midpoints are exactly the simulator's sequence from its start.
async fn assert_sequences_exact(store: &Store) {
    let settings = SourceSettings { seed: 11, ..SourceSettings::default() };
    for p in PRODUCTS {
        let rows = store
            .client()
            .await
            .unwrap()
            .query("SELECT midpoint::text FROM crypto_gaf.samples WHERE product = $1 ORDER BY sample_id", &[&p])
            .await
            .unwrap();
        let mut sim = AnySource::new(&settings).unwrap();
        let mut cursor = None;
        for (i, r) in rows.iter().enumerate() {
            let f = sim.fetch(p, cursor.as_ref()).await.unwrap();
            cursor = f.cursor;
            let got: Decimal = r.get::<_, String>(0).parse().unwrap();
            assert_eq!(
                got.normalize(),
                f.sample.midpoint.normalize(),
                "{p}: sample {i} of {} is not the next step",
                rows.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_products_and_take_over_from_a_dead_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap().url;
    let products = PRODUCTS.map(|p| format!("{p}:1024")).join(",");
    let args = |_: usize| -> Vec<String> {
        vec![
            "--database-url".into(),
            url.clone(),
            "--roles".into(),
            "collect,calculate".into(),
            "--products".into(),
            products.clone(),
            "--sim-seed".into(),
            "11".into(),
            "--collect-schedule".into(),
            "50ms".into(),
            "--calculate-schedule".into(),
            "300ms".into(),
            "--lease-ttl".into(),
            "2s".into(),
        ]
    };
    let store = Store::new(&DbSettings::new(url.clone())).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    let mut workers: Vec<Service> = (0..3)
        .map(|i| {
            let d = dir.path().join(format!("w{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let a = args(i);
            Service::start(&d, &a.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();

    // All three hold a share: two products each.
    let spread = eventually(Duration::from_secs(60), "products spread over three workers", || async {
        let h = holders(&store).await;
        let mut per: HashMap<&String, usize> = HashMap::new();
        for holder in h.values() {
            *per.entry(holder).or_default() += 1;
        }
        (h.len() == PRODUCTS.len() && per.len() == 3 && per.values().all(|&n| n == 2)).then(|| h.clone())
    })
    .await;
    every_product_grows(&store, "every product collected").await;

    // Kill one worker outright (no clean release): its products pass to the other two.
    let victim_pid = workers[0].child.id();
    workers[0].child.kill().unwrap();
    let _ = workers[0].child.wait();
    let victim_products: HashSet<String> =
        spread.iter().filter(|(_, h)| h.contains(&format!("-{victim_pid}-"))).map(|(p, _)| p.clone()).collect();
    assert_eq!(victim_products.len(), 2, "the killed worker held {victim_products:?} of {spread:?}");
    eventually(Duration::from_secs(30), "the dead worker's products taken over", || async {
        let h = holders(&store).await;
        let live_only = h.values().all(|holder| !holder.contains(&format!("-{victim_pid}-")));
        (h.len() == PRODUCTS.len() && live_only).then_some(())
    })
    .await;
    every_product_grows(&store, "every product collected after the takeover").await;

    for w in workers.iter_mut().skip(1) {
        assert!(w.terminate().success(), "{}", w.log_text());
    }
    assert_sequences_exact(&store).await;
}
