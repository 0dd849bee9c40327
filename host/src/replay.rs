//! `cgaf replay`: recompute the matrix pipeline over a stored range of live rollups into a
//! separate, named replay (the calculate worker's `replay`), with the blenders of the plugin
//! registry; `cgaf sweep --matrices`: every combination of k, solver and blender replayed in
//! parallel and ranked; and `cgaf matrices`: the pipeline's rows and rolling scores in the
//! terminal.

use crate::cli::{GlobalArgs, MatricesArgs, MatricesShow, ReplayArgs, SweepArgs};
use crate::database::open;
use crate::settings::{matrix_settings, parse_blender_spec, DatabaseSettings, PluginSettings};
use anyhow::{Context, Result};
use cgaf_calculate::matrix::solver::SolverMode;
use cgaf_calculate::matrix::worker::{granularity_label, replay, ROLLING_WINDOW};
use cgaf_store::{MatrixQuery, MatrixSweepResult, Store};

/// `cgaf replay`.
pub async fn run(g: &GlobalArgs, a: &ReplayArgs) -> Result<()> {
    let mut settings = matrix_settings(&a.matrix)?;
    if let Some(b) = &a.blender {
        let (name, params) = parse_blender_spec(b).context("--blender")?;
        settings.lanes.iter_mut().for_each(|l| (l.blender, l.blender_params) = (name.clone(), params.clone()));
    }
    if let Some(k) = a.k {
        settings.lanes.iter_mut().for_each(|l| l.k = k as usize);
    }
    if let Some(s) = &a.solver {
        let mode = SolverMode::parse(s).context("--solver")?;
        settings.lanes.iter_mut().for_each(|l| l.solver = mode);
    }
    let from = cgaf_trade::domain::parse_time(&a.from).map_err(anyhow::Error::msg).context("--from")?;
    let to = cgaf_trade::domain::parse_time(&a.to).map_err(anyhow::Error::msg).context("--to")?;
    if to <= from {
        anyhow::bail!("--to must be after --from");
    }
    let name =
        a.name.clone().unwrap_or_else(|| format!("replay-{}-{}", a.product, chrono::Utc::now().timestamp_millis()));
    let mut db = open(&DatabaseSettings::from_args(g), true).await?;
    let r = async {
        let store = &db.store;
        store.wait_ready(crate::database::STARTUP_WAIT).await.context("waiting for the database")?;
        store.migrate().await.context("applying migrations")?;
        let (host, _follow) = crate::plugin_host::start(store, &PluginSettings::defaults(&g.data_dir))
            .await
            .context("starting plugins")?;
        let report = replay(store, &settings, host, &name, &a.product, from, to).await?;
        println!(
            "{}",
            serde_json::json!({
                "name": report.name,
                "product": a.product,
                "rollups": report.rollups,
                "transitions": report.transitions,
                "blends": report.blends,
                "scores": report.scores,
                "rmse": report.rmse,
                "skill": report.skill,
                "faults": report.faults,
                "rows_sha256": report.sha256,
            })
        );
        anyhow::Ok(())
    }
    .await;
    db.close().await?;
    r
}

/// `cgaf sweep --matrices`.
pub async fn sweep(g: &GlobalArgs, a: &SweepArgs) -> Result<()> {
    use cgaf_calculate::matrix::sweep::{sweep, SweepGrid, SweepProgress, SweepTarget};
    let base = matrix_settings(&a.matrix)?;
    let grid = SweepGrid::parse(&a.k, &a.solver, &a.blender)?;
    let t = &a.target;
    let (Some(from), Some(to)) = (&t.from, &t.to) else { anyhow::bail!("a matrix sweep needs --from and --to") };
    let from = cgaf_trade::domain::parse_time(from).map_err(anyhow::Error::msg).context("--from")?;
    let to = cgaf_trade::domain::parse_time(to).map_err(anyhow::Error::msg).context("--to")?;
    if to <= from {
        anyhow::bail!("--to must be after --from");
    }
    let name =
        a.name.clone().unwrap_or_else(|| format!("sweep-{}-{}", t.product, chrono::Utc::now().timestamp_millis()));
    let target = SweepTarget { name, product: t.product.clone(), from_ms: from, to_ms: to };
    let parallel = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    let mut db = open(&DatabaseSettings::from_args(g), true).await?;
    let r = async {
        let store = &db.store;
        store.wait_ready(crate::database::STARTUP_WAIT).await.context("waiting for the database")?;
        store.migrate().await.context("applying migrations")?;
        let (host, _follow) = crate::plugin_host::start(store, &PluginSettings::defaults(&g.data_dir))
            .await
            .context("starting plugins")?;
        let total = grid.combinations().len();
        eprintln!("matrix sweep {}: {total} combinations, {parallel} at once", target.name);
        let started = std::time::Instant::now();
        let progress: SweepProgress = std::sync::Arc::new(move |done: usize, total: usize, r: &MatrixSweepResult| {
            eprintln!(
                "[{done}/{total}] {:.1} s  k={} solver={} blender={}  rmse={} skill={}",
                started.elapsed().as_secs_f64(),
                r.k,
                r.solver,
                r.blender,
                r.rmse.map_or("-".into(), |v| format!("{v:.6}")),
                r.skill.map_or("-".into(), |v| format!("{v:.4}")),
            );
        });
        let (id, results) = sweep(store, &base, host, &grid, &target, parallel, progress).await?;
        println!(
            "matrix sweep {} (id {id}) of {} over [{}, {}), best first:",
            target.name,
            target.product,
            time(from),
            time(to)
        );
        println!(
            "{:>4} {:>5} {:<18} {:<24} {:>7} {:>10} {:>8} {:>6}  rows_sha256",
            "rank", "k", "solver", "blender", "scores", "rmse", "skill", "faults"
        );
        for r in &results {
            println!(
                "{:>4} {:>5} {:<18} {:<24} {:>7} {:>10} {:>8} {:>6}  {}",
                r.rank,
                r.k,
                r.solver,
                r.blender,
                r.scores,
                r.rmse.map_or("-".into(), |v| format!("{v:.6}")),
                r.skill.map_or("-".into(), |v| format!("{v:.4}")),
                r.faults,
                &r.rows_sha256[..r.rows_sha256.len().min(16)],
            );
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await?;
    r
}

/// `cgaf matrices`.
pub async fn inspect(g: &GlobalArgs, a: &MatricesArgs) -> Result<()> {
    let mut db = open(&DatabaseSettings::from_args(g), true).await?;
    let r = async {
        db.store.wait_ready(crate::database::STARTUP_WAIT).await.context("waiting for the database")?;
        print_matrices(&db.store, a).await
    }
    .await;
    db.close().await?;
    r
}

fn row(m: &[f64], n: usize, i: usize) -> String {
    m[i * n..(i + 1) * n].iter().map(|v| format!("{v:>9.4}")).collect::<Vec<_>>().join(" ")
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

async fn print_matrices(store: &Store, a: &MatricesArgs) -> Result<()> {
    let q = MatrixQuery {
        pipeline: a.pipeline.clone(),
        product: a.product.clone(),
        granularity_ms: i64::try_from(a.granularity.as_millis()).context("--granularity")?,
        from_ms: None,
        to_ms: None,
        limit: a.limit.max(1),
        offset: 0,
        newest_first: true,
    };
    let g = granularity_label(q.granularity_ms);
    match a.show {
        MatricesShow::Scores => {
            println!("rolling scores of {} (newest {ROLLING_WINDOW} per row)", a.pipeline);
            println!(
                "{:<12} {:>6} {:<16} {:>5} {:>10} {:>10} {:>10} {:>8} {:>10}",
                "product", "gran", "blender", "n", "mae", "rmse", "naive", "skill", "drift"
            );
            for s in store.rolling_matrix_scores(&a.pipeline, ROLLING_WINDOW).await? {
                println!(
                    "{:<12} {:>6} {:<16} {:>5} {:>10.6} {:>10.6} {:>10.6} {:>8} {:>10}",
                    s.product,
                    granularity_label(s.granularity_ms),
                    s.blender,
                    s.n,
                    s.mae,
                    s.rmse,
                    s.naive_rmse,
                    s.skill.map_or("-".into(), |k| format!("{k:.4}")),
                    s.drift.map_or("-".into(), |d| format!("{d:.6}")),
                );
            }
        }
        MatricesShow::Blends => {
            for b in store.matrix_blends(&q).await? {
                let n = b.size as usize;
                println!(
                    "{} {g} t1={} {}@{} k={} ({} matrices) drift={} dominance={:.4} [{}]",
                    b.product,
                    time(b.t1_ms),
                    b.blender,
                    b.blender_version,
                    b.k,
                    b.matrices,
                    b.drift.map_or("-".into(), |d| format!("{d:.6}")),
                    b.diagonal_dominance,
                    b.features
                );
                (0..n).for_each(|i| println!("  {}", row(&b.matrix, n, i)));
            }
        }
        MatricesShow::Transitions => {
            for t in store.matrix_transitions(&q).await? {
                let n = t.size as usize;
                println!(
                    "{} {g} {} → {} {} residual={:.3e} [{}]",
                    t.product,
                    time(t.t0_ms),
                    time(t.t1_ms),
                    t.mode,
                    t.residual,
                    t.features
                );
                (0..n).for_each(|i| println!("  {}", row(&t.matrix, n, i)));
            }
        }
        MatricesShow::Forecasts => {
            for f in store.matrix_forecasts(&q).await? {
                let v: Vec<String> = f.forecast.iter().map(|x| format!("{x:.4}")).collect();
                println!("{} {g} from {} by {}: [{}]", f.product, time(f.base_ms), f.blender, v.join(", "));
            }
        }
    }
    Ok(())
}
