//! Integration tests of the store against a real PostgreSQL: the test kit's cluster (one per
//! test binary), a fresh database per test.

use cgaf_store::{AppendCommit, DbSettings, Level, NewSample, NotifyEvent, Product, Store, TradeSummary};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

struct Db {
    store: Store,
}

async fn db() -> Db {
    let database = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(database.url)).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    Db { store }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn sample(product: &str, k: u32) -> NewSample {
    let lvl = |p: &str, s: &str| Level { price: d(p), size: d(s), num_orders: 1 };
    NewSample {
        product: product.into(),
        midpoint: d("100.5") + Decimal::from(k),
        asks: vec![lvl("101", "1.5"), lvl("102", "0"), lvl("103", "2")],
        bids: vec![lvl("100", "2.5"), lvl("99", "1"), lvl("98", "0")],
        buys: TradeSummary { price: d("100.7"), size: Decimal::from(k), num_orders: k },
        sells: TradeSummary::default(),
        sampled_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_recorded() {
    let db = db().await;
    let again = db.store.migrate().await.unwrap();
    assert!(again.applied.is_empty());
    assert!(db.store.migrations_applied().await.unwrap());
    // The original's INSERT (no sampled_at) still works.
    let c = db.store.client().await.unwrap();
    c.execute("INSERT INTO crypto_gaf.gafs (product, max_size) VALUES ('BTC-USD', 600)", &[]).await.unwrap();
    c.execute(
        "INSERT INTO crypto_gaf.samples (ask_prices,ask_sizes,bid_prices,bid_sizes,buys,midpoint,product,sells)
         VALUES ('{1,2,3}','{1,1,1}','{0.5,0.4,0.3}','{1,1,1}','{1,2,3}',0.75,'BTC-USD','{0,0,0}')",
        &[],
    )
    .await
    .unwrap();
    let row = c.query_one("SELECT sampled_at IS NOT NULL FROM crypto_gaf.samples", &[]).await.unwrap();
    assert!(row.get::<_, bool>(0));
}

#[tokio::test]
async fn trimming_keeps_each_products_own_rows() {
    let db = db().await;
    let products = [("A-USD", 21), ("B-USD", 25), ("C-USD", 30)];
    for (p, n) in products {
        db.store.add_product(p, n).await.unwrap();
    }
    for k in 0..40 {
        for (p, n) in products {
            db.store.insert_sample(&sample(p, k), n, "test", None).await.unwrap();
        }
    }
    for (p, n) in products {
        assert_eq!(db.store.count_samples(p).await.unwrap(), i64::from(n), "{p}");
    }
    // Asks are stored as asks.
    let c = db.store.client().await.unwrap();
    let r = c
        .query_one("SELECT ask_prices[1]::text, bid_prices[1]::text FROM crypto_gaf.samples LIMIT 1", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "101");
    assert_eq!(r.get::<_, String>(1), "100");
}

#[tokio::test]
async fn cursor_is_stored_with_the_sample() {
    let db = db().await;
    db.store.add_product("BTC-USD", 600).await.unwrap();
    assert_eq!(db.store.load_cursor("BTC-USD", "sim").await.unwrap(), None);
    let c = serde_json::json!({"since": 42});
    db.store.insert_sample(&sample("BTC-USD", 1), 600, "sim", Some(&c)).await.unwrap();
    assert_eq!(db.store.load_cursor("BTC-USD", "sim").await.unwrap(), Some(c));
    assert_eq!(db.store.load_cursor("BTC-USD", "coinbase").await.unwrap(), None);
    // Unknown product: a typed error, not a crash.
    let e = db.store.insert_sample(&sample("NOPE-USD", 1), 600, "sim", None).await.unwrap_err();
    assert!(matches!(e, cgaf_store::Error::UnknownProduct(_)), "{e}");
}

#[tokio::test]
async fn snapshot_is_newest_first_with_centred_averages() {
    let db = db().await;
    db.store.add_product("BTC-USD", 600).await.unwrap();
    for k in 0..10 {
        db.store.insert_sample(&sample("BTC-USD", k), 600, "test", None).await.unwrap();
    }
    let s = db.store.snapshot("BTC-USD", 6).await.unwrap();
    assert_eq!(s.len(), 6);
    assert!(s.sample_ids.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(s.midpoints[0], 109.5);
    assert_eq!(s.newest_midpoint.as_deref(), Some("109.5"));
    // buys size = k; the newest row's window is rows k=9,8,7 → 8; the second's is 9..6 → 7.5;
    // the 6th row (k=4) still averages over older rows outside the limit: 6,5,4,3,2 → 4.
    assert_eq!(s.buys[0][1], Some(8.0));
    assert_eq!(s.buys[1][1], Some(7.5));
    assert_eq!(s.buys[5][1], Some(4.0));
    assert_eq!(s.ask_sizes[0], vec![Some(d("1.5")), Some(d("0")), Some(d("2"))]);
}

#[tokio::test]
async fn products_sync_adds_resizes_and_removes() {
    let db = db().await;
    db.store.add_product("OLD-USD", 100).await.unwrap();
    db.store.insert_sample(&sample("OLD-USD", 1), 100, "sim", Some(&serde_json::json!(1))).await.unwrap();
    db.store.add_product("BTC-USD", 600).await.unwrap();
    db.store
        .sync_products(&[
            Product { product: "BTC-USD".into(), max_size: 300 },
            Product { product: "ETH-USD".into(), max_size: 600 },
        ])
        .await
        .unwrap();
    let list = db.store.list_products().await.unwrap();
    assert_eq!(
        list,
        vec![
            Product { product: "BTC-USD".into(), max_size: 300 },
            Product { product: "ETH-USD".into(), max_size: 600 }
        ]
    );
    assert!(matches!(db.store.add_product("BTC-USD", 50).await, Err(cgaf_store::Error::ProductExists(_))));
    assert!(matches!(db.store.resize_product("X-USD", 50).await, Err(cgaf_store::Error::UnknownProduct(_))));
    db.store.remove_product("ETH-USD").await.unwrap();
    assert!(matches!(db.store.remove_product("ETH-USD").await, Err(cgaf_store::Error::UnknownProduct(_))));
}

/// A product delete and a collector's fenced sample insert take their locks in one order: the
/// insert holds its lease and then key-share locks the product row; the delete used to hold the
/// product row and wait for that lease (its cascade), a deadlock that failed one of them (a 500 on
/// `DELETE /api/products/...` in the end-to-end test).
#[tokio::test]
async fn a_product_delete_waits_for_a_sample_insert_instead_of_deadlocking_with_it() {
    let db = db().await;
    db.store.add_product("ADA-USD", 100).await.unwrap();
    let held = db.store.claim_products("collect", "w1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(held, vec!["ADA-USD".to_string()]);
    // The insert's first steps: its lease, locked.
    let mut insert = db.store.client().await.unwrap();
    let insert = insert.transaction().await.unwrap();
    insert
        .query_one(
            "SELECT 1 FROM crypto_gaf.leases WHERE role = 'collect' AND product = 'ADA-USD' AND holder = 'w1' FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    let store = db.store.clone();
    let delete = tokio::spawn(async move { store.remove_product("ADA-USD").await });
    // The delete is waiting for a lock.
    let watch = db.store.client().await.unwrap();
    let mut waiting = false;
    for _ in 0..200 {
        let n: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waiting, "the delete never waited for the insert's lease");
    // The insert goes on: the sample row's foreign key check key-share locks the product row.
    let r = insert.query_one("SELECT 1 FROM crypto_gaf.gafs WHERE product = 'ADA-USD' FOR KEY SHARE", &[]).await;
    assert!(r.is_ok(), "the sample insert failed: {r:?}");
    insert.commit().await.unwrap();
    let deleted = tokio::time::timeout(Duration::from_secs(10), delete).await.unwrap().unwrap();
    assert!(deleted.is_ok(), "the delete failed: {deleted:?}");
    assert!(db.store.list_products().await.unwrap().is_empty());
}

#[tokio::test]
async fn gafs_changes_are_notified() {
    let db = db().await;
    let mut rx = db.store.listen(&[cgaf_store::notify::GAFS_CHANNEL]);
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap();
    assert_eq!(first, Some(NotifyEvent::Connected));
    // Any writer: plain SQL here.
    db.store
        .client()
        .await
        .unwrap()
        .execute("INSERT INTO crypto_gaf.gafs (product, max_size) VALUES ('ETH-USD', 600)", &[])
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    match ev {
        NotifyEvent::Notification(n) => assert_eq!(n.payload, "ETH-USD"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn quarantine_reactivates_the_previous_version_and_keeps_the_reason() {
    use cgaf_store::plugins::NewPlugin;
    let db = db().await;
    let new = |version: &'static str, bytes: &'static [u8]| NewPlugin {
        name: "gadf",
        version,
        kind: "image-transform",
        sha256: if bytes[0] == 1 { "aa" } else { "bb" },
        bytes,
        description: "",
        params: serde_json::json!([]),
        builtin: false,
        uploader: Some("test"),
    };
    db.store.insert_plugin(&new("1.0.0", &[1])).await.unwrap();
    db.store.insert_plugin(&new("1.1.0", &[2])).await.unwrap();
    // The same version with other bytes is refused.
    assert!(matches!(
        db.store.insert_plugin(&new("1.1.0", &[1])).await,
        Err(cgaf_store::Error::PluginVersionExists(_))
    ));
    db.store.activate_plugin("gadf", "1.0.0", "test", false).await.unwrap();
    db.store.activate_plugin("gadf", "1.1.0", "test", false).await.unwrap();
    let now = db.store.quarantine_plugin("gadf", "1.1.0", "5 failures in a row; last: trap").await.unwrap();
    assert_eq!(now.as_deref(), Some("1.0.0"));
    let versions = db.store.plugin_versions("gadf").await.unwrap();
    let v11 = versions.iter().find(|v| v.version == "1.1.0").unwrap();
    assert!(!v11.active);
    assert_eq!(v11.quarantine_reason.as_deref(), Some("5 failures in a row; last: trap"));
    assert!(versions.iter().find(|v| v.version == "1.0.0").unwrap().active);
    // A quarantined version is not rolled back to, and is refused unless an operator insists.
    assert!(matches!(db.store.rollback_plugin("gadf", "test").await, Err(cgaf_store::Error::NothingToRollBack(_))));
    assert!(matches!(
        db.store.activate_plugin("gadf", "1.1.0", "test", false).await,
        Err(cgaf_store::Error::PluginQuarantined(_))
    ));
    db.store.activate_plugin("gadf", "1.1.0", "operator", true).await.unwrap();
    let active = db.store.active_plugins().await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].version, "1.1.0");
}

#[tokio::test]
async fn query_mistakes_are_not_connection_failures() {
    let db = db().await;
    let client = db.store.client().await.unwrap();
    // A parameter of the wrong type fails before the server is asked: no SQL code, no I/O.
    let e: cgaf_store::Error = client.query("SELECT $1::int4", &[&1i64]).await.unwrap_err().into();
    assert!(!e.is_connection(), "{e}");
    let e: cgaf_store::Error = client.query("SELECT nope", &[]).await.unwrap_err().into();
    assert!(!e.is_connection(), "{e}");
}

#[tokio::test]
async fn a_connection_the_server_ended_is_a_connection_failure() {
    let db = db().await;
    let client = db.store.client().await.unwrap();
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    // The server ends this connection as a shutdown would (the cluster is shared by the tests of
    // this binary, so it is not stopped); the call waits until the backend is gone.
    let other = db.store.client().await.unwrap();
    let ended: bool = other.query_one("SELECT pg_terminate_backend($1, 30000)", &[&pid]).await.unwrap().get(0);
    assert!(ended);
    let e: cgaf_store::Error = client.query("SELECT 1", &[]).await.unwrap_err().into();
    assert!(e.is_connection(), "{e}");
}

#[tokio::test]
async fn decision_writes_are_fenced_on_holder_and_progress() {
    use cgaf_store::RunProgress;
    use cgaf_trade_domain::{Bar, DecisionRow, RunStatus};
    let db = db().await;
    let s = &db.store;
    s.add_product("BTC-USD", 100).await.unwrap();
    let id = claimed_run(s).await;
    assert_eq!(s.run(id).await.unwrap().unwrap().status, RunStatus::Running);
    let row = |seq: i64| DecisionRow {
        market: Bar { time_ms: (seq + 1) * 1000, close: 1.0 / 3.0, volume: 1e18, ..Bar::default() },
        // Floats jsonb would re-render (1e18 came back as the integer 1000000000000000000).
        strategy_state: Some(serde_json::json!({"seq": seq, "big": 1e18, "tiny": 1.5e-7, "whole": 2.0})),
        reason: None,
        equity: 1.0,
        ..decision(seq, true)
    };
    let progress = |n: i64| RunProgress {
        bars_done: n,
        last_bar_ms: Some(n * 1000),
        portfolio: serde_json::json!({}),
        strategy_state: None,
    };
    s.append_decisions(id, "w1", &[row(0), row(1)], &progress(2), AppendCommit::Durable).await.unwrap();
    // Another worker cannot write; neither can the holder replay bars from a stale portfolio.
    assert!(matches!(
        s.append_decisions(id, "w2", &[row(2)], &progress(3), AppendCommit::Durable).await,
        Err(cgaf_store::Error::RunLost(_))
    ));
    assert!(matches!(
        s.append_decisions(id, "w1", &[row(0), row(1)], &progress(2), AppendCommit::Durable).await,
        Err(cgaf_store::Error::RunLost(_))
    ));
    s.append_decisions(id, "w1", &[row(2)], &progress(3), AppendCommit::Durable).await.unwrap();
    // The log reads back as written, so its export is the bytes a run hashed while writing.
    let stored = s.decisions(id, &cgaf_store::DecisionQuery { limit: 10, ..Default::default() }).await.unwrap();
    let written = [row(0), row(1), row(2)];
    assert_eq!(stored, written);
    assert_eq!(
        cgaf_trade_domain::decision_log_csv(&stored).unwrap(),
        cgaf_trade_domain::decision_log_csv(&written).unwrap()
    );
    let run = s.run(id).await.unwrap().unwrap();
    assert_eq!((run.bars_done, run.last_bar_ms), (3, Some(3000)));
    // A second worker claims nothing while the first heartbeats.
    assert!(s.claim_runs("w2", Duration::from_secs(30)).await.unwrap().is_empty());
}

/// A paper run claimed by `w1` (decision writes need a holder).
async fn claimed_run(s: &Store) -> i64 {
    let id = s
        .insert_run(
            &cgaf_store::RunSpec {
                strategy: "sma-cross".into(),
                strategy_version: "1.0.0".into(),
                params: serde_json::json!({}),
                product: "BTC-USD".into(),
                mode: cgaf_trade_domain::RunMode::Paper,
                from_ms: Some(0),
                to_ms: None,
                bar_interval_ms: 1000,
                settings: serde_json::json!({}),
            },
            None,
        )
        .await
        .unwrap();
    assert!(s.claim_runs("w1", Duration::from_secs(30)).await.unwrap().iter().any(|r| r.run_id == id));
    id
}

#[tokio::test]
async fn analyze_leaves_the_logs_arrays_and_data_unread() {
    // ANALYZE read every block's 80 kB arrays out of TOAST (0.65-1.2 CPU-s with ~110 runs stored,
    // beside the runs); the planner needs statistics only on the keys and times.
    use cgaf_store::RunProgress;
    let db = db().await;
    let s = &db.store;
    s.add_product("BTC-USD", 100).await.unwrap();
    let id = claimed_run(s).await;
    let rows: Vec<_> = (0..3000).map(|i| decision(i, i % 1000 == 0)).collect();
    let progress = RunProgress {
        bars_done: 3000,
        last_bar_ms: Some(3_000_000),
        portfolio: serde_json::json!({}),
        strategy_state: None,
    };
    s.append_decisions(id, "w1", &rows, &progress, AppendCommit::Durable).await.unwrap();
    let c = s.client().await.unwrap();
    c.batch_execute("ANALYZE crypto_gaf.decision_blocks").await.unwrap();
    let mut analyzed: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_stats WHERE schemaname = 'crypto_gaf' AND tablename = 'decision_blocks'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    analyzed.sort();
    assert_eq!(analyzed, ["first_seq", "first_time_ms", "last_time_ms", "rows", "run_id"]);
}

/// Row `seq` of a log with the strategy state only where `state`.
fn decision(seq: i64, state: bool) -> cgaf_trade_domain::DecisionRow {
    cgaf_trade_domain::DecisionRow {
        strategy_version: None,
        seq,
        time_ms: (seq + 1) * 1000,
        market: cgaf_trade_domain::Bar { time_ms: (seq + 1) * 1000, close: 100.0 + seq as f64, ..Default::default() },
        strategy_state: state.then(|| serde_json::json!({"seen": seq + 1})),
        target: 1.0,
        reason: Some(format!("bar {seq}")),
        gate: None,
        order_target: None,
        fill_price: None,
        fill_quantity: None,
        fee: None,
        position: 0.0,
        held_target: 0.0,
        cash: 1.0,
        equity: 1.0 + seq as f64,
    }
}

#[tokio::test]
async fn the_log_reads_across_blocks_by_cursor_time_and_checkpoint() {
    use cgaf_store::{DecisionQuery, RunProgress};
    let db = db().await;
    let s = &db.store;
    s.add_product("BTC-USD", 100).await.unwrap();
    let id = claimed_run(s).await;
    let rows: Vec<_> = (0..10).map(|i| decision(i, i == 2 || i == 9)).collect();
    let progress = |n: i64| RunProgress {
        bars_done: n,
        last_bar_ms: Some(n * 1000),
        portfolio: serde_json::json!({}),
        strategy_state: None,
    };
    for (from, to) in [(0, 3), (3, 4), (4, 10)] {
        s.append_decisions(id, "w1", &rows[from..to], &progress(to as i64), AppendCommit::Durable).await.unwrap();
    }
    let page =
        |q: DecisionQuery| async move { s.decisions(id, &q).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>() };
    assert_eq!(page(DecisionQuery { limit: 100, ..Default::default() }).await, (0..10).collect::<Vec<_>>());
    assert_eq!(page(DecisionQuery { after_seq: Some(1), limit: 4, ..Default::default() }).await, [2, 3, 4, 5]);
    assert_eq!(page(DecisionQuery { after_seq: Some(8), limit: 4, ..Default::default() }).await, [9]);
    assert_eq!(
        page(DecisionQuery { from_ms: Some(4000), to_ms: Some(6000), limit: 100, ..Default::default() }).await,
        [3, 4]
    );
    assert!(page(DecisionQuery { from_ms: Some(99_000), limit: 100, ..Default::default() }).await.is_empty());
    assert_eq!(s.decisions(id, &DecisionQuery { limit: 100, ..Default::default() }).await.unwrap(), rows);
    // Checkpoints: the last row carrying a state before a seq.
    assert_eq!(s.decision_checkpoint(id, 9).await.unwrap(), Some((2, serde_json::json!({"seen": 3}))));
    assert_eq!(s.decision_checkpoint(id, 10).await.unwrap().map(|c| c.0), Some(9));
    assert_eq!(s.decision_checkpoint(id, 2).await.unwrap(), None);
    // The curve thinned in SQL: every 4th row and the last.
    let curve = s.equity_curve(id, 3).await.unwrap();
    assert_eq!(curve, [(1000, 1.0), (5000, 5.0), (9000, 9.0), (10_000, 10.0)]);
    let (equity, held) = s.run_series(id).await.unwrap();
    assert_eq!((equity.len(), held.len(), equity[9]), (10, 10, 10.0));

    // A long log: a step of 64 or more is rounded to a multiple of 64 and read from the blocks'
    // every-64th-row arrays, whatever the blocks' bounds.
    let long = claimed_run(s).await;
    let rows: Vec<_> = (0..300).map(|i| decision(i, false)).collect();
    // Appended as a backtest appends: durable with the run's end.
    for (from, to) in [(0, 100), (100, 230), (230, 300)] {
        s.append_decisions(long, "w1", &rows[from..to], &progress(to as i64), AppendCommit::WithRunEnd).await.unwrap();
    }
    // `synchronous_commit = off` was the appends' own: no connection of the pool keeps it for its
    // session (the test server's setting is off already, so where the value comes from is checked).
    let clients: Vec<_> = futures::future::join_all((0..4).map(|_| s.client())).await;
    for c in clients {
        let source: String = c
            .unwrap()
            .query_one("SELECT source FROM pg_settings WHERE name = 'synchronous_commit'", &[])
            .await
            .unwrap()
            .get(0);
        assert_ne!(source, "session");
    }
    let at = |seq: i64| ((seq + 1) * 1000, 1.0 + seq as f64);
    assert_eq!(s.equity_curve(long, 2).await.unwrap(), [at(0), at(192), at(299)], "step 150 -> 192");
    assert_eq!(s.equity_curve(long, 4).await.unwrap(), [at(0), at(128), at(256), at(299)], "step 75 -> 128");
    assert_eq!(s.equity_curve(long, 5).await.unwrap(), [at(0), at(60), at(120), at(180), at(240), at(299)]);
    assert_eq!(s.equity_curve(long, 10).await.unwrap().len(), 11, "step 30: every 30th row and the last");

    // A paper run's log: a block per step. The same curves, read from the blocks holding a point.
    let paper = claimed_run(s).await;
    for (i, row) in rows.iter().enumerate() {
        s.append_decisions(paper, "w1", std::slice::from_ref(row), &progress(i as i64 + 1), AppendCommit::Durable)
            .await
            .unwrap();
    }
    for points in [2, 4, 5, 10, 300, 1000] {
        assert_eq!(
            s.equity_curve(paper, points).await.unwrap(),
            s.equity_curve(long, points).await.unwrap(),
            "{points}"
        );
    }
    assert_eq!(s.equity_curve(paper, 1000).await.unwrap().len(), 300);
    assert_eq!(s.equity_curve(claimed_run(s).await, 10).await.unwrap(), [], "no rows, no curve");
}

#[tokio::test]
async fn a_paper_runs_step_blocks_merge_once_a_span_of_1024_rows_is_complete() {
    use cgaf_store::{DecisionQuery, RunProgress};
    let db = db().await;
    let s = &db.store;
    s.add_product("BTC-USD", 100).await.unwrap();
    let progress = |n: i64| RunProgress {
        bars_done: n,
        last_bar_ms: Some(n * 1000),
        portfolio: serde_json::json!({}),
        strategy_state: None,
    };
    // Steps of 1, 2 and 3 rows (a step may close several bars), every row with its state, as a
    // paper run writes them; the same rows as one block in another run.
    let rows: Vec<_> = (0..2600).map(|i| decision(i, true)).collect();
    let paper = claimed_run(s).await;
    let mut done = 0usize;
    for step in (1..=3).cycle() {
        let to = (done + step).min(rows.len());
        s.append_decisions(paper, "w1", &rows[done..to], &progress(to as i64), AppendCommit::Durable).await.unwrap();
        done = to;
        if done == rows.len() {
            break;
        }
    }
    let whole = claimed_run(s).await;
    s.append_decisions(whole, "w1", &rows, &progress(rows.len() as i64), AppendCommit::Durable).await.unwrap();

    // Rows 0..2048 sit in at most two blocks per span (one reaching across the span's end stays);
    // the 552 rows after 2048 are still in their step blocks.
    let c = s.client().await.unwrap();
    let spans: Vec<(i64, i64)> = c
        .query(
            "SELECT first_seq / 1024, count(*) FROM crypto_gaf.decision_blocks WHERE run_id = $1
             GROUP BY 1 ORDER BY 1",
            &[&paper],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(spans[0].1 <= 2 && spans[1].1 <= 2, "{spans:?}");
    assert!(spans[2].1 > 200, "the open span is not merged: {spans:?}");
    // The log reads the same: every row, pages by cursor and time, checkpoints, curves, series.
    let all = DecisionQuery { limit: 10_000, ..Default::default() };
    assert_eq!(s.decisions(paper, &all).await.unwrap(), rows);
    for q in [
        DecisionQuery { after_seq: Some(1000), limit: 100, ..Default::default() },
        DecisionQuery { from_ms: Some(1_020_000), to_ms: Some(1_030_000), limit: 100, ..Default::default() },
    ] {
        assert_eq!(s.decisions(paper, &q).await.unwrap(), s.decisions(whole, &q).await.unwrap(), "{q:?}");
    }
    for seq in [1, 1023, 1024, 1025, 2047, 2048, 2599] {
        assert_eq!(s.decision_checkpoint(paper, seq).await.unwrap(), s.decision_checkpoint(whole, seq).await.unwrap());
    }
    for points in [2, 10, 100, 1000, 5000] {
        assert_eq!(s.equity_curve(paper, points).await.unwrap(), s.equity_curve(whole, points).await.unwrap());
    }
    assert_eq!(s.run_series(paper).await.unwrap(), s.run_series(whole).await.unwrap());
}

#[tokio::test]
async fn decision_rows_of_the_former_table_move_into_blocks() {
    let db = db().await;
    let s = &db.store;
    s.add_product("BTC-USD", 100).await.unwrap();
    let id = claimed_run(s).await;
    // The table as migrations 5, 7 and 9 left it, with rows written before migration 16.
    let c = s.client().await.unwrap();
    c.batch_execute(
        "CREATE TABLE crypto_gaf.decisions (
           run_id bigint NOT NULL REFERENCES crypto_gaf.runs(run_id) ON DELETE CASCADE,
           seq bigint NOT NULL, time_ms bigint NOT NULL, market json NOT NULL, strategy_state json,
           target float8 NOT NULL, reason text, gate text, order_target float8, fill_price float8,
           fill_quantity float8, fee float8, position float8 NOT NULL, held_target float8 NOT NULL,
           cash float8 NOT NULL, equity float8 NOT NULL, strategy_version text, PRIMARY KEY (run_id, seq))",
    )
    .await
    .unwrap();
    let rows: Vec<_> = [0, 1, 2, 5].into_iter().map(|i| decision(i, true)).collect();
    for r in &rows {
        c.execute(
            "INSERT INTO crypto_gaf.decisions (run_id, seq, time_ms, market, strategy_state, target, reason, position,
               held_target, cash, equity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &id,
                &r.seq,
                &r.time_ms,
                &tokio_postgres::types::Json(&r.market),
                &r.strategy_state,
                &r.target,
                &r.reason,
                &r.position,
                &r.held_target,
                &r.cash,
                &r.equity,
            ],
        )
        .await
        .unwrap();
    }
    drop(c);
    s.migrate().await.unwrap();
    let c = s.client().await.unwrap();
    let gone: bool = c.query_one("SELECT to_regclass('crypto_gaf.decisions') IS NULL", &[]).await.unwrap().get(0);
    assert!(gone, "the former table is dropped");
    let blocks: i64 = c.query_one("SELECT count(*) FROM crypto_gaf.decision_blocks", &[]).await.unwrap().get(0);
    assert_eq!(blocks, 2, "a gap in seq starts another block");
    let back = s.decisions(id, &cgaf_store::DecisionQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(back, rows);
    // Nothing left to move: migrating again is a no-op.
    s.migrate().await.unwrap();
}
