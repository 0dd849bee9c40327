//! The trade worker the host schedules: each [`TradeWorker::tick`] claims runs and sweeps,
//! starts new backtests and sweeps as tasks the worker owns, and advances every paper run;
//! [`TradeWorker::shutdown`] stops those tasks between chunks and joins them.

use crate::backtest::execute_backtest;
use crate::paper::PaperRun;
use crate::runs::fail;
use crate::sweep::execute_sweep;
use crate::telemetry::TradeTelemetry;
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::Store;
use cgaf_trade_domain::RunMode;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Settings of a trade worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// This worker's id (unique among replicas).
    pub worker: String,
    /// How long a claim on a run lasts without renewal.
    pub ttl: Duration,
    /// Threads a sweep uses (0 = one per core).
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

/// A task the worker owns, named by what it executes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Job {
    /// A backtest run, by id.
    Backtest(i64),
    /// The sweep.
    Sweep,
}

/// A trade worker: call [`TradeWorker::tick`] on a schedule and [`TradeWorker::shutdown`] on exit.
pub struct TradeWorker {
    store: Store,
    host: Arc<PluginHost>,
    settings: WorkerSettings,
    paper: HashMap<i64, PaperRun>,
    /// Backtests and the sweep executing; nothing is detached.
    tasks: JoinSet<()>,
    /// What each task executes.
    jobs: HashMap<tokio::task::Id, Job>,
    backtests: HashSet<i64>,
    sweeping: bool,
    /// Set on shutdown: backtests stop between chunks, sweeps between backtests.
    stopping: Arc<AtomicBool>,
    /// Where each tick is recorded (none in tools and tests).
    telemetry: Option<TradeTelemetry>,
}

impl TradeWorker {
    /// A worker on `store` running plugins in `host`.
    pub fn new(store: Store, host: Arc<PluginHost>, settings: WorkerSettings) -> Self {
        TradeWorker {
            store,
            host,
            settings,
            paper: HashMap::new(),
            tasks: JoinSet::new(),
            jobs: HashMap::new(),
            backtests: HashSet::new(),
            sweeping: false,
            stopping: Arc::new(AtomicBool::new(false)),
            telemetry: None,
        }
    }

    /// Records every tick in `telemetry`.
    pub fn with_telemetry(mut self, telemetry: TradeTelemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Forgets the tasks that ended (a panicking task is logged, not propagated).
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.forget(done);
        }
    }

    fn forget(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!(error = %e, "a trade task failed");
                e.id()
            }
        };
        match self.jobs.remove(&id) {
            Some(Job::Backtest(run)) => {
                self.backtests.remove(&run);
            }
            Some(Job::Sweep) => self.sweeping = false,
            None => {}
        }
    }

    fn start(&mut self, job: Job, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.jobs.insert(handle.id(), job);
    }

    /// Claims runs and sweeps, starts new backtests and sweeps, and advances every paper run.
    pub async fn tick(&mut self) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        self.reap();
        let kill = self.store.kill_switch().await?;
        if let Some(t) = &self.telemetry {
            t.kill_switch(kill.engaged);
        }
        let kill_reason = kill.engaged.then(|| kill.reason.clone().unwrap_or_else(|| "no reason given".into()));
        let runs = self.store.claim_runs(&self.settings.worker, self.settings.ttl).await?;
        // Keep an in-memory paper run only while the database agrees with it; else resume it from there.
        self.paper.retain(|id, p| runs.iter().any(|r| r.run_id == *id && p.matches(r)));
        let worker = self.settings.worker.clone();
        for run in runs {
            let id = run.run_id;
            if run.spec.mode == RunMode::Backtest {
                if self.backtests.insert(id) {
                    let (store, host, worker, stopping) =
                        (self.store.clone(), self.host.clone(), worker.clone(), self.stopping.clone());
                    self.start(Job::Backtest(id), async move {
                        let _ = execute_backtest(&store, &host, &run, &worker, &stopping).await;
                    });
                }
                continue;
            }
            let stop_requested = run.stop_requested;
            if !self.paper.contains_key(&id) {
                match PaperRun::resume(&self.store, &self.host, &worker, run).await {
                    Ok(p) => {
                        self.paper.insert(id, p);
                    }
                    Err(e) if e.retry_later() => {
                        tracing::warn!(run = id, error = %e, "paper run waits for its next tick");
                        continue;
                    }
                    Err(e) => {
                        fail(&self.store, &worker, id, &e).await;
                        report.failed += 1;
                        continue;
                    }
                }
            }
            let Some(p) = self.paper.get_mut(&id) else { continue };
            if p.quarantined(&self.host) {
                // Switched to the version put back when resumed at its next tick.
                self.paper.remove(&id);
                continue;
            }
            let advanced = p.advance(&self.store, &self.host, &worker, kill_reason.as_deref(), stop_requested).await;
            if let Some(t) = &self.telemetry {
                let activity = p.take_activity();
                t.paper_run(&p.view(), &activity);
            }
            match advanced {
                Ok(true) => {
                    self.paper.remove(&id);
                    report.ended += 1;
                }
                Ok(false) => {}
                Err(Error::Store(cgaf_store::Error::RunLost(_))) => {
                    self.paper.remove(&id);
                }
                Err(e) if e.retry_later() => {
                    // A strategy fault: counted towards the version's quarantine; the run resumes
                    // from the database (its last committed bar) at its next tick.
                    tracing::warn!(run = id, error = %e, "paper run's strategy faulted; it resumes at its next tick");
                    self.paper.remove(&id);
                }
                Err(e) if matches!(&e, Error::Store(s) if s.is_connection()) => {
                    // Its portfolio may be ahead of what was committed: resume from the database.
                    self.paper.remove(&id);
                    return Err(e);
                }
                Err(e) => {
                    self.paper.remove(&id);
                    fail(&self.store, &worker, id, &e).await;
                    report.failed += 1;
                }
            }
        }
        if !self.sweeping {
            if let Some(sweep) = self.store.claim_sweep(&worker, self.settings.ttl).await? {
                let (store, host, threads, stopping) =
                    (self.store.clone(), self.host.clone(), self.settings.sweep_threads, self.stopping.clone());
                self.sweeping = true;
                self.start(Job::Sweep, async move {
                    execute_sweep(&store, &host, &sweep, &worker, threads, stopping).await;
                });
            }
        }
        report.paper_runs = self.paper.len();
        report.backtests = self.backtests.len();
        if let Some(t) = &self.telemetry {
            t.record(report.paper_runs, report.backtests, report.ended, report.failed);
            t.retain_runs(&self.paper.keys().copied().collect());
        }
        Ok(report)
    }

    /// Stops every backtest (between chunks) and the sweep (between backtests), and waits for
    /// them. Interrupted runs and sweeps stay claimed and start again after the restart; paper
    /// runs keep their state in the database after every bar and need nothing.
    pub async fn shutdown(mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        while let Some(done) = self.tasks.join_next_with_id().await {
            self.forget(done);
        }
        tracing::info!("trade worker stopped");
    }
}
