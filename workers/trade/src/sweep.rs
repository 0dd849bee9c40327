//! The sweep job: a claimed sweep's bars and plugin, the domain's [`run_sweep`] on a rayon pool
//! with progress in the database, and its result and heatmap stored (or why it failed).

use crate::bars::BarReader;
use crate::request::CheckSweep;
use crate::runs::now_ms;
use crate::strategy::PluginStrategy;
use crate::Error;
use cgaf_runtime::{Plugin, PluginHost};
use cgaf_store::{Store, SweepRow};
use cgaf_trade_domain::{run_sweep, Bar, StrategyError, SweepRequest, SweepResult, SweepSpec};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a running sweep's progress is written (and its claim renewed).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Executes a claimed sweep on `threads` threads (0 = one per core) and stores its end. When
/// `shutdown` turns true, backtests not yet begun are skipped and the sweep stays claimed, to be
/// taken up again once its claim expires.
pub async fn execute_sweep(
    store: &Store,
    host: &Arc<PluginHost>,
    sweep: &SweepRow,
    worker: &str,
    threads: usize,
    shutdown: Arc<AtomicBool>,
) {
    let id = sweep.sweep_id;
    let end = match sweep_inner(store, host, sweep, worker, threads, shutdown).await {
        Ok((value, png)) => store.end_sweep(id, worker, Ok((&value, png.as_deref()))).await,
        Err(Error::ShuttingDown) => {
            tracing::info!(sweep = id, "sweep interrupted by shutdown; it is taken up again later");
            return;
        }
        Err(e) => {
            tracing::warn!(sweep = id, error = %e, "sweep failed");
            store.end_sweep(id, worker, Err(&e.to_string())).await
        }
    };
    if let Err(e) = end {
        tracing::warn!(sweep = id, error = %e, "storing a sweep's end");
    }
}

/// Runs a checked sweep over bars already read, with sandboxed instances of `plugin`, on
/// `threads` threads (0 = one per core): the part of a sweep job after its bars are read (and
/// what `cgaf bench --only sweep` times). `progress` as in [`run_sweep`]. Blocks: call it off the
/// async runtime.
pub fn sweep_bars(
    host: &PluginHost,
    plugin: &Arc<Plugin>,
    spec: &SweepSpec,
    bars: &[Bar],
    threads: usize,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<SweepResult, cgaf_trade_domain::Error> {
    let new_strategy = |params: &[(String, String)]| {
        host.strategy_instance(plugin, params).map(PluginStrategy::new).map_err(StrategyError::new)
    };
    run_sweep(&new_strategy, spec, bars, threads, progress)
}

async fn sweep_inner(
    store: &Store,
    host: &Arc<PluginHost>,
    sweep: &SweepRow,
    worker: &str,
    threads: usize,
    shutdown: Arc<AtomicBool>,
) -> Result<(Value, Option<Vec<u8>>), Error> {
    let req: SweepRequest =
        serde_json::from_value(sweep.request.clone()).map_err(|e| Error::Invalid(format!("sweep request: {e}")))?;
    let (spec, plugin) = req.check(store, host).await?;
    let to = spec.to_ms.unwrap_or(i64::MAX).min(now_ms());
    let mut reader = BarReader::open(store, &req.product, spec.interval_ms, spec.from_ms, to).await?;
    let bars = reader.read_all().await?;
    let coverage = reader.coverage();
    let total = spec.points().len() * (spec.splits + 1);
    store.sweep_progress(sweep.sweep_id, worker, 0, total as i64).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let task = {
        let (host, plugin, spec, done, shutdown) =
            (host.clone(), plugin.clone(), spec.clone(), done.clone(), shutdown.clone());
        tokio::task::spawn_blocking(move || {
            sweep_bars(&host, &plugin, &spec, &bars, threads, &|d, _| {
                done.store(d, Ordering::Relaxed);
                !shutdown.load(Ordering::Relaxed)
            })
        })
    };
    tokio::pin!(task);
    let result = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| Error::Invalid(format!("sweep task: {e}")))?,
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                let d = done.load(Ordering::Relaxed) as i64;
                // A database blip must not abandon threads that keep computing: log and go on.
                if let Err(e) = store.sweep_progress(sweep.sweep_id, worker, d, total as i64).await {
                    tracing::warn!(sweep = sweep.sweep_id, error = %e, "recording sweep progress");
                }
            }
        }
    };
    let result = match result {
        Err(cgaf_trade_domain::Error::Stopped) if shutdown.load(Ordering::Relaxed) => return Err(Error::ShuttingDown),
        r => r?,
    };
    if let Err(e) = store.sweep_progress(sweep.sweep_id, worker, total as i64, total as i64).await {
        tracing::warn!(sweep = sweep.sweep_id, error = %e, "recording sweep progress");
    }
    let png = result.heatmap_png();
    let mut value = serde_json::to_value(&result).map_err(|e| Error::Invalid(e.to_string()))?;
    value["strategy"] = json!(format!("{}@{}", plugin.info.name, plugin.info.version));
    value["coverage"] = serde_json::to_value(&coverage).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok((value, png))
}
