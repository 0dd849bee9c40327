//! The matrix pipeline against real PostgreSQL and real blender plugins in the sandbox: the
//! built-in blenders against hand-computed blends, rollups against a direct aggregation of the
//! stored samples, restart resume with a failure injected at every write step, replay
//! determinism, a blender swap mid-stream, a faulting blender quarantined, and stored scores
//! against a recomputation.

use cgaf_calculate::matrix::features::{feature_vector, FeatureSet};
use cgaf_calculate::matrix::pipeline::{Blend, LaneSettings, PipelineSettings};
use cgaf_calculate::matrix::rollup::Aggregation;
use cgaf_calculate::matrix::solver::SolverMode;
use cgaf_calculate::matrix::worker::{replay, rows_sha256, MatrixWorker};
use cgaf_runtime::{Matrix, PluginHost, RuntimeSettings};
use cgaf_store::matrices::LIVE;
use cgaf_store::{DbSettings, Level, MatrixQuery, NewSample, Product, Store, TradeSummary};
use cgaf_test_kit::plugins;
use rust_decimal::Decimal;
use std::sync::Arc;

const PRODUCT: &str = "BTC-USD";
const T0: i64 = 1_700_000_001_000;
const G5: i64 = 5_000;
const G15: i64 = 15_000;

fn host(quarantine_after: u32) -> Arc<PluginHost> {
    let host = PluginHost::new(RuntimeSettings::default(), quarantine_after).unwrap();
    for p in [plugins::BUILTIN_BLEND_MEAN, plugins::BUILTIN_BLEND_EWMA, plugins::BUILTIN_BLEND_PRODUCT] {
        host.install(&plugins::read(p)).unwrap();
    }
    Arc::new(host)
}

fn settings(blender: &str, solver: SolverMode, k: usize) -> PipelineSettings {
    let lane = |g| LaneSettings { granularity_ms: g, solver, blender: blender.into(), blender_params: vec![], k };
    PipelineSettings {
        features: FeatureSet::default(),
        aggregation: Aggregation::Mean,
        lanes: vec![lane(G5), lane(G15)],
    }
}

async fn store() -> (cgaf_test_kit::TestDatabase, Store) {
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(db.url.clone())).unwrap();
    store.migrate().await.unwrap();
    store.ensure_products(&[Product { product: PRODUCT.into(), max_size: 100_000 }]).await.unwrap();
    (db, store)
}

fn d(x: f64) -> Decimal {
    Decimal::from_f64_retain((x * 1e6).round() / 1e6).unwrap_or_default().round_dp(6)
}

/// `n` samples 250 ms apart (with a few gaps), deterministic.
async fn insert_samples(store: &Store, from: usize, n: usize) {
    for i in from..from + n {
        let x = i as f64;
        let level =
            |k: f64, p: f64| Level { price: d(p), size: d(1.0 + ((x * 0.37 + k).sin() + 1.0) * 2.0), num_orders: 1 };
        let gap = if i >= 100 { 7_000 } else { 0 };
        let sample = NewSample {
            product: PRODUCT.into(),
            midpoint: d(100.0 + (x * 0.11).sin() + 0.01 * x),
            asks: (0..3).map(|k| level(k as f64, 101.0 + k as f64)).collect(),
            bids: (0..3).map(|k| level(k as f64 + 1.3, 99.0 - k as f64)).collect(),
            buys: TradeSummary { price: d(100.0), size: d(((x * 0.9).cos() + 1.0) * 0.5), num_orders: 1 },
            sells: TradeSummary { price: d(100.0), size: d(((x * 0.4).sin() + 1.0) * 0.5), num_orders: 1 },
            sampled_at: chrono::DateTime::from_timestamp_millis(T0 + i as i64 * 250 + gap).unwrap(),
        };
        store.insert_sample(&sample, 100_000, "test", None).await.unwrap();
    }
}

fn worker(host: &Arc<PluginHost>, settings: PipelineSettings, batch: i64) -> MatrixWorker {
    MatrixWorker { settings, blender: host.clone(), batch, telemetry: None }
}

fn q(pipeline: &str, g: i64) -> MatrixQuery {
    MatrixQuery {
        pipeline: pipeline.into(),
        product: PRODUCT.into(),
        granularity_ms: g,
        from_ms: None,
        to_ms: None,
        limit: 100_000,
        offset: 0,
        newest_first: false,
    }
}

fn m(data: &[f64]) -> Matrix {
    Matrix { size: (data.len() as f64).sqrt() as usize, data: data.to_vec() }
}

#[test]
fn builtin_blenders_through_the_sandbox_match_hand_computed_blends() {
    let host = host(5);
    let ms = [m(&[1.0, 2.0, 3.0, 4.0]), m(&[3.0, 2.0, 1.0, 0.0]), m(&[0.5, 0.5, 0.5, 0.5])];
    let blend = |name: &str, params: &[(String, String)]| Blend::blend(host.as_ref(), name, &ms, params).unwrap();
    // mean: ((1+3+0.5)/3, (2+2+0.5)/3, (3+1+0.5)/3, (4+0+0.5)/3) = 1.5 each.
    let (mean, version) = blend("blend-mean", &[]);
    assert_eq!(version, "1.0.0");
    assert_eq!(mean.data, [1.5, 1.5, 1.5, 1.5]);
    // ewma α = 0.5: e = a; e = (b + e)/2 = (2, 2, 2, 2); e = (c + e)/2 = (1.25, …).
    let (ewma, _) = blend("blend-ewma", &[]);
    assert_eq!(ewma.data, [1.25, 1.25, 1.25, 1.25]);
    let (ewma, _) = blend("blend-ewma", &[("alpha".into(), "0.25".into())]);
    // e = a; e = b/4 + 3e/4 = (1.5, 2, 2.5, 3); e = c/4 + 3e/4 = (1.25, 1.625, 2, 2.375).
    assert_eq!(ewma.data, [1.25, 1.625, 2.0, 2.375]);
    let (ewma, _) = blend("blend-ewma", &[("alpha".into(), "1".into())]);
    assert_eq!(ewma.data, ms[2].data);
    // product: (1·3·0.5, 2·2·0.5, 3·1·0.5, 4·0·0.5).
    let (product, _) = blend("blend-product", &[]);
    assert_eq!(product.data, [1.5, 2.0, 1.5, 0.0]);
    // Refusals come back as errors, counted like any call.
    assert!(Blend::blend(host.as_ref(), "blend-ewma", &ms, &[("alpha".into(), "2".into())]).is_err());
    assert!(Blend::blend(host.as_ref(), "no-such-blender", &ms, &[]).is_err());
    assert_eq!(host.registry.stats_of("blend-ewma")["1.0.0"].calls, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_equal_a_direct_aggregation_and_scores_their_recomputation() {
    let (_db, store) = store().await;
    insert_samples(&store, 0, 160).await;
    let host = host(5);
    let s = settings("blend-mean", SolverMode::MinNorm, 3);
    let r = worker(&host, s.clone(), 1_000).catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    assert_eq!(r.samples, 160);
    assert!(r.faults.is_empty(), "{:?}", r.faults);

    let samples = store.feature_samples(PRODUCT, 0, 10_000).await.unwrap();
    let set = FeatureSet::default();
    let mut previous = None;
    let vectors: Vec<(i64, Vec<f64>)> = samples
        .iter()
        .map(|x| {
            let w = feature_vector(&set, x, previous);
            previous = Some(x.midpoint);
            (x.sampled_at_ms, w)
        })
        .collect();
    for g in [G5, G15] {
        let stored = store.matrix_rollups(&q(LIVE, g)).await.unwrap();
        // Direct: group by bucket; every bucket but the newest (still open) is stored.
        let mut buckets: std::collections::BTreeMap<i64, Vec<&Vec<f64>>> = Default::default();
        for (t, w) in &vectors {
            buckets.entry(t.div_euclid(g) * g).or_default().push(w);
        }
        let newest = *buckets.keys().last().unwrap();
        buckets.remove(&newest);
        assert_eq!(stored.len(), buckets.len(), "granularity {g}");
        assert!(stored.len() >= 3, "{g}: {}", stored.len());
        for (row, (start, ws)) in stored.iter().zip(&buckets) {
            assert_eq!((row.start_ms, row.end_ms, row.count), (*start, start + g, ws.len() as i64));
            for j in 0..set.dim() {
                let mean = ws.iter().map(|w| w[j]).sum::<f64>() / ws.len() as f64;
                assert!((row.w[j] - mean).abs() < 1e-12, "{g} {start} axis {j}: {} vs {mean}", row.w[j]);
            }
            assert_eq!(row.features, set.key());
        }
        // min-norm transitions map w(t0) to w(t1).
        let transitions = store.matrix_transitions(&q(LIVE, g)).await.unwrap();
        assert_eq!(transitions.len(), stored.len() - 1);
        assert!(transitions.iter().all(|t| t.residual < 1e-12 && t.mode == "min-norm"));
        // Each score equals its recomputation from the stored forecast and rollups.
        let forecasts = store.matrix_forecasts(&q(LIVE, g)).await.unwrap();
        let scores = store.matrix_scores(&q(LIVE, g)).await.unwrap();
        assert_eq!(scores.len(), forecasts.len() - 1);
        let rollup_at = |t: i64| stored.iter().find(|r| r.start_ms == t).unwrap();
        for sc in &scores {
            let f = forecasts.iter().find(|f| f.base_ms == sc.base_ms).unwrap();
            let (base, actual) = (&rollup_at(sc.base_ms).w, &rollup_at(sc.actual_ms).w);
            let n = actual.len() as f64;
            let mae = f.forecast.iter().zip(actual).map(|(p, a)| (p - a).abs()).sum::<f64>() / n;
            let rmse = (f.forecast.iter().zip(actual).map(|(p, a)| (p - a).powi(2)).sum::<f64>() / n).sqrt();
            let naive = (base.iter().zip(actual).map(|(p, a)| (p - a).powi(2)).sum::<f64>() / n).sqrt();
            assert!((sc.mae - mae).abs() < 1e-15 && (sc.rmse - rmse).abs() < 1e-15);
            assert!((sc.naive_rmse - naive).abs() < 1e-15);
            assert_eq!(sc.skill, (naive > 0.0).then(|| 1.0 - rmse / naive));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_exactly_with_a_failure_injected_at_every_write_step() {
    let (_db, store) = store().await;
    insert_samples(&store, 0, 250).await;
    let host = host(5);
    let s = settings("blend-ewma", SolverMode::Stochastic { lambda: 1.0 }, 3);
    // Uninterrupted, in one step per batch of 1000.
    worker(&host, s.clone(), 1_000).catch_up(&store, "clean", PRODUCT, 10).await.unwrap();

    // Interrupted: small batches; before every step a trigger makes the write into one table (in
    // turn: each row table, then the cursor) fail, as a process killed mid-transaction would,
    // until a step writes that table and fails; a failed step must leave nothing behind, and a new
    // worker (a restart: no state in memory) retries the same samples from the stored cursor.
    let client = tokio_postgres::connect(&_db.url, tokio_postgres::NoTls).await.unwrap();
    let (client, conn) = client;
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE FUNCTION crypto_gaf.crash() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'injected crash'; END $$;",
        )
        .await
        .unwrap();
    let tables = [
        "matrix_rollups",
        "matrix_transitions",
        "matrix_blends",
        "matrix_forecasts",
        "matrix_scores",
        "matrix_cursors",
    ];
    let mut crashed = std::collections::HashMap::<&str, usize>::new();
    let mut turn = 0usize;
    let mut inserted = 250;
    for round in 0..400 {
        if round % 20 == 19 && inserted < 310 {
            insert_samples(&store, inserted, 12).await;
            inserted += 12;
        }
        let table = tables[turn % tables.len()];
        client
            .batch_execute(&format!(
                "CREATE TRIGGER crash BEFORE INSERT OR UPDATE ON crypto_gaf.{table} FOR EACH ROW EXECUTE FUNCTION crypto_gaf.crash()"
            ))
            .await
            .unwrap();
        let before = store.matrix_cursor("crashy", PRODUCT).await.unwrap();
        let counts_before = counts(&client).await;
        let r = worker(&host, s.clone(), 5).step(&store, "crashy", PRODUCT).await;
        client.batch_execute(&format!("DROP TRIGGER crash ON crypto_gaf.{table}")).await.unwrap();
        match r {
            Err(e) => {
                assert!(e.to_string().contains("injected crash"), "{e}");
                *crashed.entry(table).or_default() += 1;
                turn += 1;
                assert_eq!(store.matrix_cursor("crashy", PRODUCT).await.unwrap(), before);
                assert_eq!(counts(&client).await, counts_before, "a failed step left rows behind");
                // The restart: the same samples again, with nothing failing.
                worker(&host, s.clone(), 5).step(&store, "crashy", PRODUCT).await.unwrap();
            }
            Ok(report) if report.samples == 0 && inserted >= 310 => break,
            Ok(_) => {}
        }
    }
    worker(&host, s.clone(), 1_000).catch_up(&store, "clean", PRODUCT, 10).await.unwrap();
    for t in tables {
        assert!(crashed.get(t).copied().unwrap_or(0) >= 1, "no crash injected at {t}: {crashed:?}");
    }
    let clean = rows_sha256(&store, "clean", PRODUCT, &[G5, G15]).await.unwrap();
    let crashy = rows_sha256(&store, "crashy", PRODUCT, &[G5, G15]).await.unwrap();
    assert_eq!(clean, crashy, "crashes: {crashed:?}");
    let blends = store.matrix_blends(&q("clean", G5)).await.unwrap();
    assert!(blends.len() >= 5, "{}", blends.len());
    // Stochastic blends of stochastic matrices: rows sum to 1, entries ≥ 0.
    for b in &blends {
        let n = b.size as usize;
        for i in 0..n {
            let row = &b.matrix[i * n..(i + 1) * n];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12 && row.iter().all(|v| *v >= 0.0), "{row:?}");
        }
    }
}

async fn counts(client: &tokio_postgres::Client) -> Vec<i64> {
    let mut out = Vec::new();
    for t in ["matrix_rollups", "matrix_transitions", "matrix_blends", "matrix_forecasts", "matrix_scores"] {
        let r = client.query_one(&format!("SELECT count(*) FROM crypto_gaf.{t} WHERE pipeline = 'crashy'"), &[]).await;
        out.push(r.unwrap().get(0));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_deterministic_and_apart_from_the_live_rows() {
    let (_db, store) = store().await;
    insert_samples(&store, 0, 160).await;
    let host = host(5);
    let s = settings("blend-mean", SolverMode::Stochastic { lambda: 1.0 }, 4);
    worker(&host, s.clone(), 1_000).catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    let live = rows_sha256(&store, LIVE, PRODUCT, &[G5, G15]).await.unwrap();
    let (from, to) = (T0, T0 + 60_000);
    let other = settings("blend-ewma", SolverMode::MinNorm, 2);
    let a = replay(&store, &other, host.clone(), "a", PRODUCT, from, to).await.unwrap();
    let b = replay(&store, &other, host.clone(), "b", PRODUCT, from, to).await.unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert!(a.blends > 0 && a.scores > 0 && a.rmse.is_some(), "{a:?}");
    let c = replay(&store, &s, host.clone(), "c", PRODUCT, from, to).await.unwrap();
    assert_ne!(a.sha256, c.sha256, "other settings, other rows");
    // The live rows are untouched and the name cannot be reused.
    assert_eq!(rows_sha256(&store, LIVE, PRODUCT, &[G5, G15]).await.unwrap(), live);
    assert!(replay(&store, &other, host.clone(), "a", PRODUCT, from, to).await.is_err());
    assert!(replay(&store, &other, host.clone(), LIVE, PRODUCT, from, to).await.is_err());
    // A replay with the live settings over the whole range gives the live blends.
    let all = replay(&store, &s, host.clone(), "all", PRODUCT, 0, T0 + 3_600_000).await.unwrap();
    assert_eq!(
        all.blends,
        store.matrix_blends(&q(LIVE, G5)).await.unwrap().len()
            + store.matrix_blends(&q(LIVE, G15)).await.unwrap().len()
    );
    assert_eq!(store.matrix_blends(&q("all", G5)).await.unwrap(), store.matrix_blends(&q(LIVE, G5)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blender_swap_switches_the_next_blend_and_a_faulting_blender_is_quarantined() {
    let (_db, store) = store().await;
    insert_samples(&store, 0, 60).await;
    let host = host(2);
    // What the host does on a quarantine request (store it, reactivate the previous version):
    // here the previous version is kept in memory.
    let previous = Arc::new(std::sync::Mutex::new(None::<Arc<cgaf_runtime::Plugin>>));
    {
        let (weak, previous) = (Arc::downgrade(&host), previous.clone());
        host.set_quarantine_hook(move |q| {
            assert_eq!((q.name.as_str(), q.version.as_str()), ("blend-mean", "9.0.0"));
            if let (Some(h), Some(p)) = (weak.upgrade(), previous.lock().unwrap().clone()) {
                h.registry.activate(p);
            }
        });
    }
    let s = settings("blend-mean", SolverMode::Stochastic { lambda: 1.0 }, 3);
    let w = worker(&host, s.clone(), 1_000);
    w.catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    let before = store.matrix_blends(&q(LIVE, G5)).await.unwrap();
    assert!(!before.is_empty() && before.iter().all(|b| b.blender_version == "1.0.0"));

    // Swap: blend-mean 1.1.0 returns the newest transition.
    let next = host.install(&plugins::read(plugins::FIXTURE_BLEND_NEXT)).unwrap();
    insert_samples(&store, 60, 30).await;
    w.catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    let after = store.matrix_blends(&q(LIVE, G5)).await.unwrap();
    let new: Vec<_> = after.iter().skip(before.len()).collect();
    assert!(!new.is_empty());
    let transitions = store.matrix_transitions(&q(LIVE, G5)).await.unwrap();
    for b in &new {
        assert_eq!(b.blender_version, "1.1.0");
        let t = transitions.iter().find(|t| t.t1_ms == b.t1_ms).unwrap();
        assert_eq!(b.matrix, t.matrix, "1.1.0 blends to the newest matrix");
    }

    // A faulting version: its blends are skipped (the pipeline goes on), and after two faults
    // in a row it is quarantined and 1.1.0 blends again.
    *previous.lock().unwrap() = Some(next);
    host.install(&plugins::read(plugins::FIXTURE_BLEND_FAULTY)).unwrap();
    insert_samples(&store, 90, 70).await;
    let r = w.catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    assert_eq!(r.faults.len(), 2, "{:?}", r.faults);
    assert!(r.faults.iter().all(|f| f.error.contains("blend-mean") && f.granularity_ms > 0), "{:?}", r.faults);
    assert_eq!(host.registry.get("blend-mean").unwrap().info.version, "1.1.0");
    let last = store.matrix_blends(&q(LIVE, G5)).await.unwrap();
    assert!(last.len() > after.len(), "blends go on after the quarantine");
    assert!(last.iter().all(|b| b.blender_version != "9.0.0"));
    assert_eq!(host.registry.stats_of("blend-mean")["9.0.0"].errors, 2);
    // Transitions were stored throughout, with a skipped blend.
    let t_all = store.matrix_transitions(&q(LIVE, G5)).await.unwrap().len()
        + store.matrix_transitions(&q(LIVE, G15)).await.unwrap().len();
    let b_all = last.len() + store.matrix_blends(&q(LIVE, G15)).await.unwrap().len();
    assert_eq!(t_all, b_all + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_sweep_ranks_by_rmse_deterministically_and_equals_single_replays() {
    use cgaf_calculate::matrix::sweep::{sweep, SweepBlender, SweepGrid, SweepProgress, SweepTarget};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (_db, store) = store().await;
    insert_samples(&store, 0, 160).await;
    let host = host(5);
    let live = settings("blend-mean", SolverMode::Stochastic { lambda: 1.0 }, 4);
    worker(&host, live.clone(), 1_000).catch_up(&store, LIVE, PRODUCT, 10).await.unwrap();
    let blender = |label: &str, name: &str, params: &[(&str, &str)]| SweepBlender {
        label: label.into(),
        name: name.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    let grid = SweepGrid {
        k: vec![2, 4],
        solvers: vec![SolverMode::MinNorm, SolverMode::Stochastic { lambda: 1.0 }, SolverMode::Ridge { lambda: 0.5 }],
        blenders: vec![
            blender("blend-mean", "blend-mean", &[]),
            blender("blend-ewma:alpha=0.3", "blend-ewma", &[("alpha", "0.3")]),
        ],
    };
    let target =
        |name: &str| SweepTarget { name: name.into(), product: PRODUCT.into(), from_ms: T0, to_ms: T0 + 3_600_000 };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let progress: SweepProgress = Arc::new(move |done: usize, total: usize, _: &cgaf_store::MatrixSweepResult| {
        assert!(done <= total);
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let (id, a) = sweep(&store, &live, host.clone(), &grid, &target("a"), 4, progress.clone()).await.unwrap();
    assert_eq!(a.len(), 12);
    assert_eq!(calls.load(Ordering::SeqCst), 12, "one progress line per combination");
    // Ranked by mean RMSE, best first, numbered from 1; every combination scored.
    assert!(a.iter().all(|r| r.rmse.is_some() && r.scores > 0 && r.faults == 0), "{a:#?}");
    assert!(a.windows(2).all(|w| w[0].rmse.unwrap() <= w[1].rmse.unwrap()), "{a:#?}");
    assert_eq!(a.iter().map(|r| r.rank).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert_ne!(a[0].rmse, a[11].rmse, "the grid makes a difference");
    assert_eq!(store.matrix_sweep_results(id).await.unwrap(), a, "the stored table is the returned one");
    // Deterministic: a second sweep, one combination at a time, gives the same table.
    let (_, b) = sweep(&store, &live, host.clone(), &grid, &target("b"), 1, progress).await.unwrap();
    let key = |r: &cgaf_store::MatrixSweepResult| {
        (r.rank, r.k, r.solver.clone(), r.blender.clone(), r.rmse, r.skill, r.rows_sha256.clone())
    };
    assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>());
    // Each combination equals a single replay of the same settings (what `cgaf replay --k
    // --solver --blender` runs).
    for c in grid.combinations() {
        let r = a.iter().find(|r| r.replay == c.replay_name("a")).unwrap();
        let single = replay(
            &store,
            &c.settings(&live),
            host.clone(),
            &format!("single-{}", r.rank),
            PRODUCT,
            T0,
            T0 + 3_600_000,
        )
        .await
        .unwrap();
        assert_eq!((single.sha256.as_str(), single.rmse, single.skill), (r.rows_sha256.as_str(), r.rmse, r.skill));
    }
    // A name in use is refused.
    let quiet: SweepProgress = Arc::new(|_: usize, _: usize, _: &cgaf_store::MatrixSweepResult| {});
    assert!(sweep(&store, &live, host.clone(), &grid, &target("a"), 1, quiet).await.is_err());
}
