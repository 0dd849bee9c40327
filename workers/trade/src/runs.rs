//! What backtests and paper runs share: the settings and the strategy of a stored run, stepping
//! bars into decision rows and progress, and ending a run.

use crate::decisions::decision_log_sha256;
use crate::strategy::{load_strategy, PluginStrategy};
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::{RunProgress, RunRow, Store};
use cgaf_trade_domain::request::params_of;
use cgaf_trade_domain::{
    drive, Bar, DecisionRow, DriveOptions, Portfolio, RunSettings, RunStatus, Series, StateCapture,
};
use serde_json::Value;

/// The run's costs, cash and limits.
pub fn run_settings(run: &RunRow) -> Result<RunSettings, Error> {
    serde_json::from_value(run.spec.settings.clone()).map_err(|e| Error::Invalid(format!("run settings: {e}")))
}

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Creates the run's strategy (and restores its state, for a resumed run).
pub async fn strategy_for(store: &Store, host: &PluginHost, run: &RunRow) -> Result<PluginStrategy, Error> {
    let plugin = load_strategy(store, host, &run.spec.strategy, Some(&run.spec.strategy_version)).await?;
    let params = params_of(&run.spec.params);
    tokio::task::block_in_place(|| -> Result<PluginStrategy, Error> {
        let mut instance = host.strategy_instance(&plugin, &params)?;
        if let Some(state) = &run.strategy_state {
            instance.restore(state)?;
        }
        Ok(PluginStrategy::new(instance))
    })
}

/// Steps a backtest's `bars` through the strategy and the portfolio (one strategy call per bar):
/// the decision rows and the run's progress after them, ready to append. The strategy state is
/// captured once, into the last row (a checkpoint: the rows between two checkpoints get their
/// states by replay, [`crate::fill_strategy_states`]). A failed strategy call is
/// [`Error::StrategyCall`]: the plugin version, the call and its bar.
pub fn step_bars(
    strategy: &mut PluginStrategy,
    bars: &[Bar],
    settings: &RunSettings,
    portfolio: &mut Portfolio,
    series: Option<&mut Series>,
) -> Result<(Vec<DecisionRow>, RunProgress), Error> {
    match step(strategy, bars, settings, portfolio, None, series, None, StateCapture::LastRow) {
        (rows, progress, None) => Ok((rows, progress)),
        (_, _, Some(e)) => Err(e),
    }
}

/// Steps a paper run's new `bars` as [`step_bars`] does, with the state captured into every row,
/// and `version` written on every row (its version can change on a quarantine). A failure keeps
/// what was decided before it: the rows and progress up to the bar that failed, and the error
/// (the run appends them, so it resumes at that bar from the state stored with them).
pub fn step_bars_until_failure(
    strategy: &mut PluginStrategy,
    bars: &[Bar],
    settings: &RunSettings,
    portfolio: &mut Portfolio,
    kill: Option<&str>,
    series: Option<&mut Series>,
    version: Option<&str>,
) -> (Vec<DecisionRow>, RunProgress, Option<Error>) {
    step(strategy, bars, settings, portfolio, kill, series, version, StateCapture::EveryBatch)
}

#[allow(clippy::too_many_arguments)]
fn step(
    strategy: &mut PluginStrategy,
    bars: &[Bar],
    settings: &RunSettings,
    portfolio: &mut Portfolio,
    kill: Option<&str>,
    mut series: Option<&mut Series>,
    version: Option<&str>,
    state: StateCapture,
) -> (Vec<DecisionRow>, RunProgress, Option<Error>) {
    let mut rows = Vec::with_capacity(bars.len());
    let mut last_state = None;
    let first_bar = portfolio.bars;
    let driven = tokio::task::block_in_place(|| {
        drive(
            strategy,
            bars,
            settings,
            portfolio,
            DriveOptions { batch: 1, state },
            kill,
            &mut |r| {
                if let Some(s) = series.as_deref_mut() {
                    s.push(&r);
                }
                if r.strategy_state.is_some() {
                    last_state = r.strategy_state.clone();
                }
                let mut r = r;
                r.strategy_version = version.map(str::to_string);
                rows.push(r);
                Ok(())
            },
            &mut |_| true,
        )
    });
    let failure = driven.err().map(|e| match Error::from(e) {
        Error::Plugin(error) => {
            let instance = strategy.instance();
            let at = portfolio.bars.saturating_sub(first_bar);
            Error::StrategyCall {
                plugin: instance.plugin.info.name.clone(),
                version: instance.plugin.info.version.clone(),
                call: instance.last_call(),
                bar: portfolio.bars as i64,
                time_ms: usize::try_from(at).ok().and_then(|at| bars.get(at)).map(|b| b.time_ms),
                error: Box::new(error),
            }
        }
        other => other,
    });
    let progress = RunProgress {
        bars_done: portfolio.bars as i64,
        last_bar_ms: rows.last().map(|r| r.time_ms),
        portfolio: serde_json::to_value(&*portfolio).unwrap_or(Value::Null),
        strategy_state: last_state,
    };
    (rows, progress, failure)
}

/// A series' metrics as stored JSON (annualised per the run's periods per year).
pub fn metrics_json(series: &Series, settings: &RunSettings, bar_interval_ms: i64) -> Result<Value, Error> {
    let m = series.metrics(settings.periods_per_year(bar_interval_ms))?;
    serde_json::to_value(m).map_err(|e| Error::Invalid(e.to_string()))
}

/// Ends a run held by `worker` with its final metrics and the hash of its decision log: `log_sha256`
/// when the run hashed its whole log as it wrote it, else the stored log read back and hashed.
pub async fn end_run(
    store: &Store,
    worker: &str,
    run_id: i64,
    status: RunStatus,
    reason: Option<&str>,
    metrics: &Value,
    log_sha256: Option<String>,
) -> Result<(), Error> {
    let sha = match log_sha256 {
        Some(sha) => sha,
        None => decision_log_sha256(store, run_id).await?,
    };
    store.end_run(run_id, worker, status, reason, Some(metrics), Some(&sha)).await?;
    Ok(())
}

/// Marks a run failed (logging, not returning, a failure to do so).
pub async fn fail(store: &Store, worker: &str, run_id: i64, e: &Error) {
    tracing::warn!(run = run_id, error = %e, "run failed");
    if let Err(e2) = store.end_run(run_id, worker, RunStatus::Failed, Some(&e.to_string()), None, None).await {
        tracing::warn!(run = run_id, error = %e2, "marking a run failed");
    }
}
