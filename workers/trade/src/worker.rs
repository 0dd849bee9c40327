//! The trade worker: claims runs and sweeps from PostgreSQL and executes them. Backtests run to
//! completion in their own task; paper runs advance by every new closed bar on each tick and keep
//! their portfolio and strategy state in the database, so a restarted (or another) worker resumes
//! them where they were.

use crate::backtest::{drive, periods_per_year, DriveOptions, Series};
use crate::bars::{build_bars, SamplePoint};
use crate::engine::{Book, MarketBar, Portfolio, Record, RunSettings};
use crate::request::{load_strategy, params_of};
use crate::Error;
use cgaf_runtime::{PluginHost, StrategyInstance};
use cgaf_store::{DecisionQuery, DecisionRow, RunProgress, RunRow, SamplePointRow, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Bars written per transaction while a backtest runs.
const BACKTEST_CHUNK: usize = 2000;
/// A paper bar is processed this long after its close, so samples taken just before the close
/// but committed just after it are still in it.
const PAPER_GRACE_MS: i64 = 300;
/// Most bars a paper run processes per tick (catching up after downtime goes in slices).
const PAPER_SLICE: usize = 2000;
/// How often a paper run's metrics are refreshed (on a tick with a new bar).
const PAPER_METRICS_EVERY: Duration = Duration::from_secs(5);

/// A decision-log record as stored.
pub fn decision_row(r: &Record) -> DecisionRow {
    DecisionRow {
        seq: r.seq as i64,
        time_ms: r.market.bar.time_ms,
        market: serde_json::to_value(r.market).unwrap_or(Value::Null),
        strategy_state: r.strategy_state.clone(),
        target: r.target,
        reason: r.reason.clone(),
        gate: r.gate.clone(),
        order_target: r.order_target,
        fill_price: r.fill_price,
        fill_quantity: r.fill_quantity,
        fee: r.fee,
        position: r.position,
        held_target: r.held_target,
        cash: r.cash,
        equity: r.equity,
    }
}

/// A stored sample as bars need it.
pub fn sample_point(s: &SamplePointRow) -> SamplePoint {
    SamplePoint {
        time_ms: s.time_ms,
        midpoint: s.midpoint,
        buy_size: s.buy_size,
        sell_size: s.sell_size,
        book: Book { bid: s.bid, ask: s.ask, bid_depth: s.bid_depth, ask_depth: s.ask_depth },
    }
}

/// Bars of `product` from the stored samples in `[from, to)`, only bars closed by `now_ms`.
pub async fn stored_bars(
    store: &Store,
    product: &str,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    interval_ms: i64,
    now_ms: i64,
) -> Result<Vec<MarketBar>, Error> {
    let points: Vec<SamplePoint> =
        store.sample_points(product, from_ms, to_ms).await?.iter().map(sample_point).collect();
    Ok(build_bars(&points, interval_ms, Some(now_ms))?)
}

/// Writes a run's decision log (optionally a time range) as CSV: the export of
/// `GET /api/runs/{id}/decisions?format=csv`, and what `decision_log_sha256` hashes.
pub async fn decisions_csv(
    store: &Store,
    run_id: i64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(DecisionRow::csv_header()).map_err(csv_error)?;
    let mut after = None;
    loop {
        let page = store.decisions(run_id, &DecisionQuery { from_ms, to_ms, after_seq: after, limit: 10_000 }).await?;
        for row in &page {
            w.write_record(row.csv_record()).map_err(csv_error)?;
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => after = Some(last.seq),
            _ => break,
        }
    }
    w.into_inner().map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

fn csv_error(e: csv::Error) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

/// sha256 (hex) of the run's whole decision log as CSV.
pub async fn decision_log_sha256(store: &Store, run_id: i64) -> Result<String, Error> {
    let csv = decisions_csv(store, run_id, None, None).await?;
    Ok(hex::encode(Sha256::digest(&csv)))
}

fn run_settings(run: &RunRow) -> Result<RunSettings, Error> {
    serde_json::from_value(run.spec.settings.clone()).map_err(|e| Error::Invalid(format!("run settings: {e}")))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Creates the run's strategy instance (and restores its state, for a resumed run).
async fn instance_for(store: &Store, host: &PluginHost, run: &RunRow) -> Result<StrategyInstance, Error> {
    let plugin = load_strategy(store, host, &run.spec.strategy, Some(&run.spec.strategy_version)).await?;
    let params = params_of(&run.spec.params);
    tokio::task::block_in_place(|| -> Result<StrategyInstance, Error> {
        let mut instance = host.runtime.strategy(&plugin, &params)?;
        if let Some(state) = &run.strategy_state {
            instance.restore(state)?;
        }
        Ok(instance)
    })
}

/// Executes a backtest run held by `worker` from its first bar (a run taken over from a dead
/// worker starts again: its partial log is discarded). Ends the run as finished, stopped or failed.
pub async fn execute_backtest(store: &Store, host: &PluginHost, run: &RunRow, worker: &str) -> Result<(), Error> {
    let r = backtest_inner(store, host, run, worker).await;
    match r {
        Ok(()) => Ok(()),
        Err(Error::Store(cgaf_store::Error::RunLost(_))) => Ok(()),
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(run = run.run_id, error = %reason, "backtest failed");
            store.end_run(run.run_id, worker, "failed", Some(&reason), None, None).await?;
            Err(e)
        }
    }
}

async fn backtest_inner(store: &Store, host: &PluginHost, run: &RunRow, worker: &str) -> Result<(), Error> {
    let settings = run_settings(run)?;
    store.reset_run_log(run.run_id, worker).await?;
    let now = now_ms();
    let to = run.spec.to_ms.unwrap_or(now);
    // A bar still open in real time is not closed yet, even when `to` lies beyond it.
    let bars = stored_bars(store, &run.spec.product, run.spec.from_ms, Some(to), run.spec.bar_interval_ms, to.min(now))
        .await?;
    store.set_run_total(run.run_id, worker, bars.len() as i64).await?;
    let mut fresh = run.clone();
    fresh.strategy_state = None;
    let mut instance = instance_for(store, host, &fresh).await?;
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    let mut stopped_on_request = false;
    tracing::info!(run = run.run_id, bars = bars.len(), "backtest started");
    for chunk in bars.chunks(BACKTEST_CHUNK) {
        if store.stop_requested(run.run_id).await? {
            stopped_on_request = true;
            break;
        }
        let (rows, progress) = step_bars(&mut instance, chunk, &settings, &mut portfolio, None, Some(&mut series))?;
        store.append_decisions(run.run_id, worker, &rows, &progress).await?;
        if portfolio.stopped() {
            break;
        }
    }
    let metrics = serde_json::to_value(series.metrics(periods_per_year(run.spec.bar_interval_ms))?)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let sha = decision_log_sha256(store, run.run_id).await?;
    let (status, reason) = if stopped_on_request {
        ("stopped", Some("stopped on request".to_string()))
    } else if let Some(why) = &portfolio.halt {
        ("stopped", Some(why.clone()))
    } else {
        ("finished", None)
    };
    store.end_run(run.run_id, worker, status, reason.as_deref(), Some(&metrics), Some(&sha)).await?;
    tracing::info!(run = run.run_id, bars = portfolio.bars, status, "backtest ended");
    Ok(())
}

/// Steps `bars` through the strategy and the portfolio (one strategy call per bar, the state
/// captured every bar): the decision rows and the run's progress after them, ready to append.
fn step_bars(
    instance: &mut StrategyInstance,
    bars: &[MarketBar],
    settings: &RunSettings,
    portfolio: &mut Portfolio,
    kill: Option<&str>,
    mut series: Option<&mut Series>,
) -> Result<(Vec<DecisionRow>, RunProgress), Error> {
    let mut rows = Vec::with_capacity(bars.len());
    let mut last_state = None;
    tokio::task::block_in_place(|| {
        drive(
            instance,
            bars,
            settings,
            portfolio,
            DriveOptions::default(),
            kill,
            &mut |r| {
                if let Some(s) = series.as_deref_mut() {
                    s.push(&r);
                }
                if r.strategy_state.is_some() {
                    last_state = r.strategy_state.clone();
                }
                rows.push(decision_row(&r));
                Ok(())
            },
            &mut |_| true,
        )
    })?;
    let progress = RunProgress {
        bars_done: portfolio.bars as i64,
        last_bar_ms: rows.last().map(|r| r.time_ms),
        portfolio: serde_json::to_value(&*portfolio).unwrap_or(Value::Null),
        strategy_state: last_state,
    };
    Ok((rows, progress))
}

/// A paper run this worker holds.
struct PaperRun {
    run: RunRow,
    settings: RunSettings,
    instance: StrategyInstance,
    portfolio: Portfolio,
    /// Equity and held targets so far: read once at resume, extended bar by bar.
    series: Series,
    last_bar_ms: Option<i64>,
    metrics_at: Option<Instant>,
}

impl PaperRun {
    async fn resume(store: &Store, host: &PluginHost, run: RunRow) -> Result<PaperRun, Error> {
        let settings = run_settings(&run)?;
        let instance = instance_for(store, host, &run).await?;
        let portfolio = match &run.portfolio {
            Some(p) => {
                serde_json::from_value(p.clone()).map_err(|e| Error::Invalid(format!("stored portfolio: {e}")))?
            }
            None => Portfolio::new(settings.starting_cash),
        };
        let mut series = Series::starting_at(settings.starting_cash);
        if run.bars_done > 0 {
            let (equity, positions) = store.run_series(run.run_id).await?;
            series.equity.extend(equity);
            series.positions = positions;
            tracing::info!(run = run.run_id, bars = run.bars_done, "paper run resumed");
        }
        Ok(PaperRun { last_bar_ms: run.last_bar_ms, settings, instance, portfolio, series, run, metrics_at: None })
    }

    /// Processes every bar closed since the last one; true when the run ended.
    /// `stop_requested` comes from this tick's claim of the run.
    async fn advance(
        &mut self,
        store: &Store,
        worker: &str,
        kill: Option<&str>,
        stop_requested: bool,
    ) -> Result<bool, Error> {
        let id = self.run.run_id;
        if stop_requested {
            self.end(store, worker, "stopped", Some("stopped on request")).await?;
            return Ok(true);
        }
        let from = self.last_bar_ms.or(self.run.spec.from_ms);
        let now = now_ms() - PAPER_GRACE_MS;
        // Only samples taken before `now` count, so a sample committed late still lands in its bar.
        let mut bars: Vec<MarketBar> =
            stored_bars(store, &self.run.spec.product, from, Some(now), self.run.spec.bar_interval_ms, now)
                .await?
                .into_iter()
                .filter(|b| self.last_bar_ms.is_none_or(|l| b.bar.time_ms > l))
                .collect();
        // Catching up after downtime goes in slices, so the claim is renewed in between.
        bars.truncate(PAPER_SLICE);
        if bars.is_empty() {
            // The kill switch stops a flat run even while its market is silent.
            if let Some(why) = kill {
                if self.portfolio.position == 0.0 && self.portfolio.pending.is_none() {
                    let reason = format!("kill switch engaged ({why}): flatten and stop");
                    self.end(store, worker, "stopped", Some(&reason)).await?;
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        let (rows, progress) =
            step_bars(&mut self.instance, &bars, &self.settings, &mut self.portfolio, kill, Some(&mut self.series))?;
        let last_bar_ms = progress.last_bar_ms;
        store.append_decisions(id, worker, &rows, &progress).await?;
        self.last_bar_ms = last_bar_ms.or(self.last_bar_ms);
        if self.portfolio.stopped() {
            let why = self.portfolio.halt.clone();
            self.end(store, worker, "stopped", why.as_deref()).await?;
            return Ok(true);
        }
        if self.metrics_at.is_none_or(|t| t.elapsed() >= PAPER_METRICS_EVERY) {
            store.set_run_metrics(id, worker, &self.metrics()?).await?;
            self.metrics_at = Some(Instant::now());
        }
        Ok(false)
    }

    fn metrics(&self) -> Result<Value, Error> {
        let m = self.series.metrics(periods_per_year(self.run.spec.bar_interval_ms))?;
        serde_json::to_value(m).map_err(|e| Error::Invalid(e.to_string()))
    }

    async fn end(&mut self, store: &Store, worker: &str, status: &str, reason: Option<&str>) -> Result<(), Error> {
        let m = self.metrics()?;
        let sha = decision_log_sha256(store, self.run.run_id).await?;
        store.end_run(self.run.run_id, worker, status, reason, Some(&m), Some(&sha)).await?;
        tracing::info!(run = self.run.run_id, status, reason, "paper run ended");
        Ok(())
    }
}

/// Settings of a trade worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// This worker's id (unique among replicas).
    pub worker: String,
    /// How long a claim on a run lasts without renewal.
    pub ttl: Duration,
    /// Threads a sweep uses.
    pub sweep_threads: usize,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Paper runs held.
    pub paper_runs: usize,
    /// Backtests executing.
    pub backtests: usize,
    /// Runs that ended in this tick.
    pub ended: usize,
    /// Runs that failed in this tick.
    pub failed: usize,
}

/// A trade worker: call [`TradeWorker::tick`] on a schedule.
pub struct TradeWorker {
    store: Store,
    host: Arc<PluginHost>,
    settings: WorkerSettings,
    paper: HashMap<i64, PaperRun>,
    backtests: HashMap<i64, JoinHandle<()>>,
    sweep: Option<JoinHandle<()>>,
}

impl TradeWorker {
    /// A worker on `store` running plugins in `host`.
    pub fn new(store: Store, host: Arc<PluginHost>, settings: WorkerSettings) -> Self {
        TradeWorker { store, host, settings, paper: HashMap::new(), backtests: HashMap::new(), sweep: None }
    }

    /// Claims runs and sweeps, starts new backtests and sweeps, and advances every paper run.
    pub async fn tick(&mut self) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        let kill = self.store.kill_switch().await?;
        let kill_reason = kill.engaged.then(|| kill.reason.clone().unwrap_or_else(|| "no reason given".into()));
        let runs = self.store.claim_runs(&self.settings.worker, self.settings.ttl).await?;
        self.backtests.retain(|_, h| !h.is_finished());
        // Keep an in-memory paper run only while the database agrees with it (another worker may
        // have advanced it while this one lost and regained the claim); else resume it from there.
        self.paper.retain(|id, p| {
            runs.iter()
                .any(|r| r.run_id == *id && r.bars_done == p.portfolio.bars as i64 && r.last_bar_ms == p.last_bar_ms)
        });
        for run in runs {
            let id = run.run_id;
            if run.spec.mode == "backtest" {
                if !self.backtests.contains_key(&id) {
                    let (store, host, worker) = (self.store.clone(), self.host.clone(), self.settings.worker.clone());
                    self.backtests.insert(
                        id,
                        tokio::spawn(async move {
                            let _ = execute_backtest(&store, &host, &run, &worker).await;
                        }),
                    );
                }
                continue;
            }
            let stop_requested = run.stop_requested;
            if !self.paper.contains_key(&id) {
                match PaperRun::resume(&self.store, &self.host, run).await {
                    Ok(p) => {
                        self.paper.insert(id, p);
                    }
                    Err(e) => {
                        fail(&self.store, &self.settings.worker, id, &e).await;
                        report.failed += 1;
                        continue;
                    }
                }
            }
            let Some(p) = self.paper.get_mut(&id) else { continue };
            match p.advance(&self.store, &self.settings.worker, kill_reason.as_deref(), stop_requested).await {
                Ok(true) => {
                    self.paper.remove(&id);
                    report.ended += 1;
                }
                Ok(false) => {}
                Err(Error::Store(cgaf_store::Error::RunLost(_))) => {
                    self.paper.remove(&id);
                }
                Err(e) if matches!(&e, Error::Store(s) if s.is_connection()) => {
                    // Its portfolio may be ahead of what was committed: resume from the database.
                    self.paper.remove(&id);
                    return Err(e);
                }
                Err(e) => {
                    self.paper.remove(&id);
                    fail(&self.store, &self.settings.worker, id, &e).await;
                    report.failed += 1;
                }
            }
        }
        if self.sweep.as_ref().is_none_or(|h| h.is_finished()) {
            self.sweep = None;
            if let Some(sweep) = self.store.claim_sweep(&self.settings.worker, self.settings.ttl).await? {
                let (store, host, settings) = (self.store.clone(), self.host.clone(), self.settings.clone());
                self.sweep = Some(tokio::spawn(async move {
                    crate::sweep::execute_sweep(&store, &host, &sweep, &settings.worker, settings.sweep_threads).await;
                }));
            }
        }
        report.paper_runs = self.paper.len();
        report.backtests = self.backtests.len();
        Ok(report)
    }
}

/// Marks a run failed (a strategy instances is not `Sync`, so this takes no `&TradeWorker`).
async fn fail(store: &Store, worker: &str, run_id: i64, e: &Error) {
    tracing::warn!(run = run_id, error = %e, "run failed");
    if let Err(e2) = store.end_run(run_id, worker, "failed", Some(&e.to_string()), None, None).await {
        tracing::warn!(run = run_id, error = %e2, "marking a run failed");
    }
}
