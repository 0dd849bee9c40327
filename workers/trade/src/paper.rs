//! Paper runs: advance by every new closed bar of the history store on each tick and keep their portfolio and
//! strategy state in the database, so a restarted (or another) worker resumes them where they
//! were.

use crate::bars::BarReader;
use crate::runs::{end_run, metrics_json, now_ms, run_settings, step_bars_until_failure, strategy_for};
use crate::shadow::{self, Shadow};
use crate::strategy::PluginStrategy;
use crate::telemetry::{PaperActivity, PaperView};
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::{AppendCommit, RunRow, Store};
use cgaf_trade_domain::{Bar, Portfolio, RunSettings, RunStatus, Series};
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// A paper bar is processed this long after its close, so samples taken just before the close
/// but committed just after it are still in it.
const PAPER_GRACE_MS: i64 = 300;
/// Most bars a paper run processes per tick (catching up after downtime goes in slices).
const PAPER_SLICE: usize = 2000;
/// How often a paper run's metrics are refreshed (on a tick with a new bar).
const PAPER_METRICS_EVERY: Duration = Duration::from_secs(5);

/// A paper run this worker holds.
pub struct PaperRun {
    run: RunRow,
    settings: RunSettings,
    strategy: PluginStrategy,
    portfolio: Portfolio,
    /// Equity and held targets so far: read once at resume, extended bar by bar.
    series: Series,
    last_bar_ms: Option<i64>,
    metrics_at: Option<Instant>,
    /// Decisions and gate actions since the telemetry last read them.
    activity: PaperActivity,
    /// The candidate of a running canary of this run's strategy, stepped beside it.
    shadow: Option<Shadow>,
    /// The canary whose candidate failed beside this run (not started again).
    shadow_failed: Option<i64>,
}

impl PaperRun {
    /// Resumes a claimed paper run from what the database holds. When its strategy version is
    /// quarantined, the run switches to the version put back (recorded on the run and, from its
    /// next bar, on every row of its decision log).
    pub async fn resume(store: &Store, host: &PluginHost, worker: &str, mut run: RunRow) -> Result<PaperRun, Error> {
        let settings = run_settings(&run)?;
        if let Some(version) = replacement(store, host, &run).await? {
            tracing::warn!(run = run.run_id, strategy = %run.spec.strategy, from = %run.spec.strategy_version, to = %version,
                "paper run switches to the previous strategy version (its version is quarantined)");
            store.switch_run_strategy(run.run_id, worker, &version).await?;
            run.spec.strategy_version = version;
        }
        let strategy = strategy_for(store, host, &run).await?;
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
        let activity = PaperActivity::default();
        Ok(PaperRun {
            last_bar_ms: run.last_bar_ms,
            settings,
            strategy,
            portfolio,
            series,
            run,
            metrics_at: None,
            activity,
            shadow: None,
            shadow_failed: None,
        })
    }

    /// True when this process asked to quarantine the run's strategy version: the run is resumed
    /// (and switched) before its next bar.
    pub fn quarantined(&self, host: &PluginHost) -> bool {
        host.quarantine_requested(&self.run.spec.strategy, &self.run.spec.strategy_version)
    }

    /// True while the database agrees with this in-memory run (another worker may have advanced
    /// it while this one lost and regained the claim).
    pub fn matches(&self, claimed: &RunRow) -> bool {
        claimed.bars_done == self.portfolio.bars as i64 && claimed.last_bar_ms == self.last_bar_ms
    }

    /// Processes every bar closed since the last one; true when the run ended.
    /// `stop_requested` comes from this tick's claim of the run.
    pub async fn advance(
        &mut self,
        store: &Store,
        host: &PluginHost,
        worker: &str,
        kill: Option<&str>,
        stop_requested: bool,
    ) -> Result<bool, Error> {
        let id = self.run.run_id;
        if stop_requested {
            self.end(store, worker, RunStatus::Stopped, Some("stopped on request")).await?;
            return Ok(true);
        }
        let from = self.last_bar_ms.or(self.run.spec.from_ms);
        let now = now_ms() - PAPER_GRACE_MS;
        // Only samples taken before `now` count, so a sample committed late still lands in its bar.
        let mut reader =
            BarReader::open(store, &self.run.spec.product, self.run.spec.bar_interval_ms, from, now).await?;
        let mut bars: Vec<Bar> = Vec::new();
        while bars.len() < PAPER_SLICE {
            let Some(page) = reader.next_page().await? else { break };
            bars.extend(page.into_iter().filter(|b| self.last_bar_ms.is_none_or(|l| b.time_ms > l)));
        }
        // Catching up after downtime goes in slices, so the claim is renewed in between.
        bars.truncate(PAPER_SLICE);
        if bars.is_empty() {
            // The kill switch stops a flat run even while its market is silent.
            if let Some(why) = kill {
                if self.portfolio.position == 0.0 && self.portfolio.pending.is_none() {
                    let reason = format!("kill switch engaged ({why}): flatten and stop");
                    self.end(store, worker, RunStatus::Stopped, Some(&reason)).await?;
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        // The new bars, stepped and written, are one span: `paper.bars`. Bars decided before a
        // strategy failure are kept: the run resumes at the failing bar.
        let span = tracing::info_span!("paper.bars", run = id, product = %self.run.spec.product, bars = bars.len());
        // A canary of this run's strategy version shadows it on the same bars.
        self.shadow = shadow::follow(
            host,
            self.shadow.take(),
            &mut self.strategy,
            &self.run.spec.params,
            &self.portfolio,
            self.shadow_failed,
        );
        let stepped_at = Instant::now();
        let (rows, progress, failure) = span.in_scope(|| {
            step_bars_until_failure(
                &mut self.strategy,
                &bars,
                &self.settings,
                &mut self.portfolio,
                kill,
                Some(&mut self.series),
                Some(&self.run.spec.strategy_version),
            )
        });
        let active_time = stepped_at.elapsed();
        if let Some(s) = self.shadow.as_mut() {
            let memory = self.strategy.instance().peak_memory();
            if !s.step(&bars, &rows, &self.settings, kill, &self.portfolio, active_time, memory) {
                self.shadow_failed = Some(s.canary_id());
                self.shadow = None;
            }
        }
        let last_bar_ms = progress.last_bar_ms;
        if !rows.is_empty() {
            store.append_decisions(id, worker, &rows, &progress, AppendCommit::Durable).instrument(span).await?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        rows.iter().for_each(|r| self.activity.count(r.gate.as_deref()));
        self.last_bar_ms = last_bar_ms.or(self.last_bar_ms);
        if self.portfolio.stopped() {
            let why = self.portfolio.halt.clone();
            self.end(store, worker, RunStatus::Stopped, why.as_deref()).await?;
            return Ok(true);
        }
        if self.metrics_at.is_none_or(|t| t.elapsed() >= PAPER_METRICS_EVERY) {
            store.set_run_metrics(id, worker, &self.metrics()?).await?;
            self.metrics_at = Some(Instant::now());
        }
        Ok(false)
    }

    /// The run as its telemetry reads it.
    pub fn view(&self) -> PaperView<'_> {
        PaperView {
            run_id: self.run.run_id,
            strategy: &self.run.spec.strategy,
            product: &self.run.spec.product,
            equity: self.portfolio.equity,
            peak_equity: self.portfolio.peak_equity,
            position: self.portfolio.position,
            equity_series: &self.series.equity,
            periods_per_year: self.settings.periods_per_year(self.run.spec.bar_interval_ms),
        }
    }

    /// Decisions and gate actions since the last call.
    pub fn take_activity(&mut self) -> PaperActivity {
        std::mem::take(&mut self.activity)
    }

    fn metrics(&self) -> Result<Value, Error> {
        metrics_json(&self.series, &self.settings, self.run.spec.bar_interval_ms)
    }

    async fn end(&mut self, store: &Store, worker: &str, status: RunStatus, reason: Option<&str>) -> Result<(), Error> {
        let m = self.metrics()?;
        end_run(store, worker, self.run.run_id, status, reason, &m, None).await?;
        tracing::info!(run = self.run.run_id, status = %status, reason, "paper run ended");
        Ok(())
    }
}

/// The version a paper run must switch to, if any: when its version is quarantined (stored, or
/// requested by this process), the active version — once it differs. Waits
/// ([`Error::Quarantined`]) while the quarantined version is still active; fails the run when no
/// version is active.
async fn replacement(store: &Store, host: &PluginHost, run: &RunRow) -> Result<Option<String>, Error> {
    let (name, version) = (&run.spec.strategy, &run.spec.strategy_version);
    let stored = store.plugin_versions(name).await?;
    let quarantined = host.quarantine_requested(name, version)
        || stored.iter().any(|v| &v.version == version && v.quarantined_at.is_some());
    if !quarantined {
        return Ok(None);
    }
    let active = store.active_plugins().await?.into_iter().find(|a| &a.name == name).map(|a| a.version);
    match active {
        Some(a) if &a != version && !stored.iter().any(|v| v.version == a && v.quarantined_at.is_some()) => Ok(Some(a)),
        Some(_) => Err(Error::Quarantined { plugin: name.clone(), version: version.clone() }),
        None => {
            Err(Error::Invalid(format!("strategy {name}@{version} is quarantined and no version of {name} is active")))
        }
    }
}
