//! `cgaf serve`: the database (configured or private), migrations, products, and the roles —
//! collect, calculate, API — until Ctrl-C or SIGTERM.

use crate::cli::Role;
use crate::history_keeper::HistoryKeeper;
use crate::schedule::{Schedule, Ticker};
use crate::settings::ServeSettings;
use anyhow::{Context, Result};
use cgaf_api::{ApiSettings, ApiState, Metrics};
use cgaf_calculate::matrix::sweep::SweepRunner;
use cgaf_calculate::matrix::worker::{MatrixTelemetry, MatrixWorker};
use cgaf_calculate::{CalculateTelemetry, Calculator, Outcome};
use cgaf_collect::{AnySource, Backoff, CollectOutcome, CollectTelemetry, CollectWorker};
use cgaf_store::{Product, Store};
use cgaf_trade::domain::history::interval_label;
use cgaf_trade::{TradeTelemetry, TradeWorker, WorkerSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most samples the matrix pipeline consumes per product per calculate tick.
const MATRIX_BATCH: i64 = 2_000;

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Waits for the next tick of `ticker`; false once shutdown is signalled.
async fn next_tick(ticker: &mut Ticker, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = ticker.tick() => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}

/// Waits for the next tick of `ticker` or a notification on `events` (the ones queued behind it
/// are drained: one wake-up does for all); false once shutdown is signalled.
async fn next_tick_or_event(
    ticker: &mut Ticker,
    events: &mut tokio::sync::mpsc::Receiver<cgaf_store::NotifyEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = ticker.tick() => {},
        Some(_) = events.recv() => { while events.try_recv().is_ok() {} },
        _ = shutdown.changed() => return false,
    }
    true
}

/// Per-worker counters for the periodic progress line.
#[derive(Default)]
struct Progress {
    ok: u64,
    failed: u64,
    last: Option<Instant>,
}

impl Progress {
    fn report(&mut self, what: &str) {
        let now = Instant::now();
        let due = self.last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(30));
        if due && (self.ok > 0 || self.failed > 0) {
            tracing::info!(ok = self.ok, failed = self.failed, "{what} in the last 30 s");
            self.ok = 0;
            self.failed = 0;
            self.last = Some(now);
        } else if self.last.is_none() {
            self.last = Some(now);
        }
    }
}

/// Pause after the database failed to answer a worker's claim.
const DB_RETRY: Duration = Duration::from_millis(500);

/// This process's identity among the worker replicas.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Unique worker id: host, pid and a random suffix.
    pub worker: String,
    /// Lease time-to-live.
    pub ttl: Duration,
}

impl Lease {
    fn new(ttl: Duration) -> Self {
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "host".into());
        let worker = format!("{host}-{}-{:08x}", std::process::id(), rand::random::<u32>());
        Self { worker, ttl }
    }
}

/// The products this worker holds the `role` lease on now (claiming its share).
async fn my_products(store: &Store, role: &str, lease: &Lease) -> Option<Vec<Product>> {
    let owned = match store.claim_products(role, &lease.worker, lease.ttl).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, role, "claiming products");
            return None;
        }
    };
    match store.list_products().await {
        Ok(p) => Some(p.into_iter().filter(|p| owned.contains(&p.product)).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "listing products");
            None
        }
    }
}

async fn collect_loop(
    store: Store,
    lease: Lease,
    source: AnySource,
    schedule: Schedule,
    telemetry: CollectTelemetry,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut worker = CollectWorker::new(source, store.clone(), Backoff::default())
        .with_worker(lease.worker.clone())
        .with_telemetry(telemetry);
    let mut progress = Progress::default();
    tracing::info!("collect running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick(&mut ticker, &mut shutdown).await {
        let Some(products) = my_products(&store, "collect", &lease).await else {
            tokio::time::sleep(DB_RETRY).await;
            continue;
        };
        for (_, r) in worker.run_once(&products).await {
            match r {
                Ok(CollectOutcome::Stored(_)) => progress.ok += 1,
                Ok(CollectOutcome::BackingOff(_)) => {}
                Err(_) => progress.failed += 1,
            }
        }
        progress.report("samples collected");
    }
    Ok(())
}

/// History maintenance on the collect role: partitions ahead, rollups of the products this worker
/// collects, retention.
async fn history_loop(
    store: Store,
    lease: Lease,
    mut keeper: HistoryKeeper,
    schedule: Schedule,
    shutdown: watch::Receiver<bool>,
) {
    tracing::info!(
        rollups = ?keeper.settings.rollup_intervals.iter().map(|&i| interval_label(i)).collect::<Vec<_>>(),
        retain = %keeper.settings.retention,
        keep_samples = ?keeper.settings.keep_samples_ms.map(interval_label),
        "history maintenance running"
    );
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick(&mut ticker, &mut shutdown).await {
        let Some(products) = my_products(&store, "collect", &lease).await else {
            tokio::time::sleep(DB_RETRY).await;
            continue;
        };
        match keeper.tick(&store, &products, chrono::Utc::now().timestamp_millis()).await {
            Ok(r) => {
                if r.partitions_created > 0 || !r.partitions_dropped.is_empty() {
                    tracing::info!(created = r.partitions_created, dropped = ?r.partitions_dropped, "history partitions");
                }
                if r.blocks_written > 0 {
                    tracing::info!(blocks = r.blocks_written, "bar blocks written for ended periods");
                }
                tracing::debug!(bars = r.bars_rolled_up, "history rolled up");
            }
            Err(e) => tracing::warn!(error = %e, "history maintenance failed"),
        }
    }
}

/// The matrix pipeline of the calculate worker, and the test-only failpoint after its steps.
struct MatrixRole {
    worker: MatrixWorker,
    /// Kill the process (SIGKILL) once this many steps that consumed samples have committed.
    abort_after_steps: Option<u64>,
    steps: u64,
}

impl MatrixRole {
    /// One step of every product, each resumed from its stored cursor.
    async fn step(&mut self, store: &Store, products: &[Product]) {
        for p in products {
            match self.worker.step(store, cgaf_store::matrices::LIVE, &p.product).await {
                Ok(r) if r.samples > 0 => {
                    self.steps += 1;
                    if self.abort_after_steps == Some(self.steps) {
                        tracing::warn!(steps = self.steps, "matrix failpoint: killing this process after the step");
                        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(product = %p.product, error = %e, "matrix pipeline step failed"),
            }
        }
    }
}

async fn calculate_loop(
    store: Store,
    lease: Lease,
    calc: Calculator,
    mut matrix: Option<MatrixRole>,
    schedule: Schedule,
    shutdown: watch::Receiver<bool>,
) {
    let mut progress = Progress::default();
    tracing::info!(matrix = matrix.is_some(), "calculate running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick(&mut ticker, &mut shutdown).await {
        let Some(products) = my_products(&store, "calculate", &lease).await else {
            tokio::time::sleep(DB_RETRY).await;
            continue;
        };
        for (product, r) in cgaf_calculate::run_once(&store, &calc, &products).await {
            match r {
                Ok(Outcome::Computed { size, compute, total }) => {
                    tracing::debug!(%product, size, ?compute, ?total, "images computed");
                    progress.ok += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%product, error = %e, "calculate failed");
                    progress.failed += 1;
                }
            }
        }
        progress.report("image sets computed");
        // The matrix pipeline: each product's new samples, resumed from its stored cursor.
        if let Some(m) = &mut matrix {
            m.step(&store, &products).await;
        }
    }
}

/// The matrix sweeps submitted through the API: one at a time, claimed on every tick and at once
/// when one is submitted (NOTIFY on `cgaf_matrix_sweeps`); a sweep in progress is dropped on
/// shutdown and claimed again (afresh) once its claim lapses.
async fn matrix_sweep_loop(store: Store, runner: SweepRunner, schedule: Schedule, shutdown: watch::Receiver<bool>) {
    let mut events = store.listen(&["cgaf_matrix_sweeps"]);
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick_or_event(&mut ticker, &mut events, &mut shutdown).await {
        loop {
            let ran = tokio::select! {
                r = runner.run_one(&store) => r,
                _ = shutdown.changed() => return,
            };
            match ran {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "matrix sweep");
                    tokio::time::sleep(DB_RETRY).await;
                    break;
                }
            }
        }
    }
}

/// The trade worker: advances paper runs and starts backtests and sweeps on every tick, and at
/// once when a run or sweep is created (NOTIFY on `cgaf_runs`).
async fn trade_loop(
    store: Store,
    lease: Lease,
    host: Arc<cgaf_runtime::PluginHost>,
    schedule: Schedule,
    sweep_threads: usize,
    telemetry: TradeTelemetry,
    shutdown: watch::Receiver<bool>,
) {
    let settings = WorkerSettings { worker: lease.worker.clone(), ttl: lease.ttl, sweep_threads };
    let mut worker = TradeWorker::new(store.clone(), host, settings).with_telemetry(telemetry);
    let mut events = store.listen(&["cgaf_runs"]);
    let mut progress = Progress::default();
    tracing::info!("trade running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick_or_event(&mut ticker, &mut events, &mut shutdown).await {
        match worker.tick().await {
            Ok(r) => {
                progress.ok += r.ended as u64;
                progress.failed += r.failed as u64;
            }
            Err(e) => {
                tracing::warn!(error = %e, "trade tick failed");
                tokio::time::sleep(DB_RETRY).await;
            }
        }
        progress.report("runs ended");
    }
    // Backtests and sweeps run as tasks of the worker: stop them between chunks and wait.
    worker.shutdown().await;
}

/// Runs the service with settings validated by [`ServeSettings::from_args`].
pub async fn run(settings: ServeSettings) -> Result<()> {
    // Everything that can be checked without the database is checked before it is touched.
    let source = if settings.runs(Role::Collect) {
        Some(AnySource::new(&settings.source).context("market source")?)
    } else {
        None
    };
    let mut db = crate::database::open(&settings.database, true).await?;
    let result = serve_with(&db.store, &settings, source).await;
    db.close().await?;
    result
}

async fn serve_with(store: &Store, settings: &ServeSettings, source: Option<AnySource>) -> Result<()> {
    store.wait_ready(crate::database::STARTUP_WAIT).await.context("waiting for the database")?;
    let report = store.migrate().await.context("applying migrations")?;
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, version = report.current, "schema migrated");
    }
    if settings.sync_products {
        store.sync_products(&settings.products).await.context("syncing products")?;
    } else {
        let added = store.ensure_products(&settings.products).await.context("adding products")?;
        if added > 0 {
            tracing::info!(added, "products added");
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let plugins = if [Role::Api, Role::Calculate, Role::Trade].iter().any(|r| settings.runs(*r)) {
        let (host, follow) = crate::plugin_host::start(store, &settings.plugins).await.context("starting plugins")?;
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = follow => {},
                _ = stop.wait_for(|s| *s) => {},
            }
            Ok(())
        });
        Some(host)
    } else {
        None
    };
    // One registry for /metrics; each part registers and records its own metrics in it.
    let metrics = Metrics::new();
    let database = crate::telemetry::DatabaseCollector::new(store.clone()).context("database metrics")?;
    metrics.registry().register(Box::new(database)).context("database metrics")?;
    if let Some(host) = &plugins {
        let collector = crate::telemetry::PluginCollector::new(host.clone()).context("plugin metrics")?;
        metrics.registry().register(Box::new(collector)).context("plugin metrics")?;
    }
    let lease = Lease::new(settings.lease_ttl);
    let store_with_archive = store.clone().with_sample_archive(settings.history.keep_samples_ms.is_some());

    if let Some(source) = source {
        let mut keeper = HistoryKeeper::new(settings.history.clone());
        keeper
            .ensure_partitions(store, chrono::Utc::now().timestamp_millis())
            .await
            .context("creating history partitions")?;
        let (store, stop) = (store.clone(), stop_rx.clone());
        let (lease2, schedule) = (lease.clone(), settings.history_schedule.clone());
        tasks.spawn(async move {
            history_loop(store, lease2, keeper, schedule, stop).await;
            Ok(())
        });
        let store = store_with_archive.clone();
        let stop = stop_rx.clone();
        let telemetry = CollectTelemetry::register(metrics.registry()).context("collect metrics")?;
        let (lease, schedule) = (lease.clone(), settings.collect_schedule.clone());
        tracing::info!(source = %settings.source.kind, "market source");
        tasks.spawn(async move { collect_loop(store, lease, source, schedule, telemetry, stop).await });
    }
    if settings.runs(Role::Calculate) {
        let (store, stop) = (store.clone(), stop_rx.clone());
        let host = plugins.clone().context("plugin host")?;
        let (lease, schedule) = (lease.clone(), settings.calculate_schedule.clone());
        let telemetry = CalculateTelemetry::register(metrics.registry()).context("calculate metrics")?;
        telemetry.interval_seconds.set(schedule.period().map_or(f64::NAN, |p| p.as_secs_f64()));
        if let Some(m) = &settings.matrix {
            let runner = SweepRunner {
                base: m.clone(),
                blender: host.clone(),
                worker: lease.worker.clone(),
                ttl: lease.ttl,
                parallel: settings.sweep_threads,
            };
            let (store, stop, schedule) = (store.clone(), stop_rx.clone(), schedule.clone());
            tasks.spawn(async move {
                matrix_sweep_loop(store, runner, schedule, stop).await;
                Ok(())
            });
        }
        let matrix = match &settings.matrix {
            Some(m) => Some(MatrixRole {
                worker: MatrixWorker {
                    settings: m.clone(),
                    blender: host.clone(),
                    batch: MATRIX_BATCH,
                    telemetry: Some(MatrixTelemetry::register(metrics.registry()).context("matrix metrics")?),
                },
                abort_after_steps: settings.matrix_abort_after_steps,
                steps: 0,
            }),
            None => None,
        };
        // `--png-encoding auto` decides per cycle against the schedule's interval (a cron
        // schedule without one fixed interval: `small` while cycles take under 250 ms).
        let interval = schedule.period().unwrap_or(Duration::from_secs(1));
        let calc = Calculator {
            transforms: host,
            config: settings.image_transforms.clone(),
            telemetry: Some(telemetry),
            png: settings.png_encoding,
            png_auto: (settings.png_encoding == cgaf_calculate::PngEncoding::Auto)
                .then(|| Arc::new(cgaf_calculate::AutoEncoding::new(interval))),
        };
        tasks.spawn(async move {
            calculate_loop(store, lease, calc, matrix, schedule, stop).await;
            Ok(())
        });
    }
    if settings.runs(Role::Trade) {
        let (store, stop) = (store.clone(), stop_rx.clone());
        let host = plugins.clone().context("plugin host")?;
        let (lease, schedule) = (lease.clone(), settings.trade_schedule.clone());
        let threads = settings.sweep_threads;
        let telemetry = TradeTelemetry::register(metrics.registry()).context("trade metrics")?;
        tasks.spawn(async move {
            trade_loop(store, lease, host, schedule, threads, telemetry, stop).await;
            Ok(())
        });
    }
    // Every process listens: the API role serves everything, worker-only processes serve
    // /healthz, /readyz and /metrics (for probes and scraping).
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let mut stop = stop_rx.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if settings.runs(Role::Api) {
        let (token, from) = crate::token::resolve(settings.api.token.as_deref(), &settings.data_dir)?;
        if let crate::token::TokenSource::File(path) = from {
            tracing::info!(path = %path.display(), "API token for writes (Authorization: Bearer <token>) is in this file");
        }
        let api = ApiSettings {
            token,
            max_json_body: settings.api.max_json_body,
            max_plugin_bytes: settings.api.max_plugin_bytes,
        };
        let mut state = ApiState::new(store.clone(), metrics.clone(), &api)
            .with_history_imports(settings.api.max_import_bytes, settings.history.rollup_intervals.clone())
            .with_ui(settings.api.ui);
        if let Some(p) = &plugins {
            state = state.with_plugins(p.clone());
        }
        let state = Arc::new(state);
        tracing::info!(address = %listener.local_addr()?, "API listening");
        tasks.spawn(async move {
            cgaf_api::serve(state, listener, stopped).await;
            Ok(())
        });
    } else {
        let state = Arc::new(ApiState::ops_only(store.clone(), metrics.clone()));
        tracing::info!(address = %listener.local_addr()?, "health and metrics listening");
        tasks.spawn(async move {
            cgaf_api::serve_ops(state, listener, stopped).await;
            Ok(())
        });
    }

    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        Some(r) = tasks.join_next() => {
            // A role ended on its own: that is an error (e.g. a bad source setting).
            let _ = stop_tx.send(true);
            let r = r.context("a worker task panicked")?;
            r?;
            anyhow::bail!("a role stopped unexpectedly");
        }
    }
    let _ = stop_tx.send(true);
    let drain = async {
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Err(e)) => tracing::warn!(error = %e, "role ended with an error"),
                Err(e) => tracing::warn!(error = %e, "role panicked"),
                Ok(Ok(())) => {}
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), drain).await.is_err() {
        tracing::warn!("roles did not stop within 10 s");
    }
    // Hand this worker's products to the other replicas at once.
    if let Err(e) = store.release_worker(&lease.worker).await {
        tracing::warn!(error = %e, "releasing leases");
    }
    Ok(())
}
