//! `cgaf serve`: the database (configured or private), migrations, products, and the roles —
//! collect, calculate, API — until Ctrl-C or SIGTERM.

use crate::cli::{GlobalArgs, Role, ServeArgs};
use crate::schedule::{parse_duration, Schedule, Ticker};
use anyhow::{Context, Result};
use cgaf_api::{ApiSettings, ApiState, Metrics};
use cgaf_calculate::{Calculator, ImageTransforms, Outcome};
use cgaf_collect::{AnySource, Backoff, CollectOutcome, CollectWorker, SourceKind, SourceSettings};
use cgaf_store::{Product, Store};
use cgaf_trade::{TradeWorker, WorkerSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Parses `--products` entries (`NAME` or `NAME:SIZE`).
pub fn parse_products(entries: &[String], default_size: i64) -> Result<Vec<Product>> {
    let mut out: Vec<Product> = Vec::new();
    for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (name, size) = match e.split_once(':') {
            Some((n, s)) => (n.trim(), s.trim().parse::<i64>().with_context(|| format!("size of product {n:?}"))?),
            None => (e, default_size),
        };
        cgaf_store::products::validate_product_id(name).map_err(|m| anyhow::anyhow!("product {name:?}: {m}"))?;
        let max_size =
            cgaf_store::products::validate_max_size(size).map_err(|m| anyhow::anyhow!("product {name:?}: {m}"))?;
        if out.iter().any(|p| p.product == name) {
            anyhow::bail!("product {name:?} is listed twice");
        }
        out.push(Product { product: name.to_string(), max_size });
    }
    Ok(out)
}

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
    settings: SourceSettings,
    schedule: Schedule,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let source = AnySource::new(&settings).context("market source")?;
    let mut worker =
        CollectWorker::new(source, store.clone(), Backoff::default()).with_lease_holder(lease.worker.clone());
    let mut progress = Progress::default();
    tracing::info!(source = %settings.kind, "collect running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick(&mut ticker, &mut shutdown).await {
        let Some(products) = my_products(&store, "collect", &lease).await else {
            tokio::time::sleep(DB_RETRY).await;
            continue;
        };
        for (product, r) in worker.run_once(&products).await {
            match r {
                Ok(CollectOutcome::Stored(_)) => {
                    metrics.samples.with_label_values(&[&product]).inc();
                    progress.ok += 1;
                }
                Ok(CollectOutcome::BackingOff(_)) => {}
                Err(e) => {
                    let kind = match &e {
                        cgaf_collect::CollectError::Source(s) => cgaf_collect::error_kind(s),
                        cgaf_collect::CollectError::Store(_) => "database",
                    };
                    metrics.source_errors.with_label_values(&[&product, kind]).inc();
                    progress.failed += 1;
                }
            }
        }
        progress.report("samples collected");
    }
    Ok(())
}

async fn calculate_loop(
    store: Store,
    lease: Lease,
    calc: Calculator,
    schedule: Schedule,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) {
    let mut progress = Progress::default();
    tracing::info!("calculate running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    while next_tick(&mut ticker, &mut shutdown).await {
        let Some(products) = my_products(&store, "calculate", &lease).await else {
            tokio::time::sleep(DB_RETRY).await;
            continue;
        };
        for (product, r) in cgaf_calculate::run_once(&store, &calc, &products).await {
            match r {
                Ok(Outcome::Computed { size, compute, total }) => {
                    metrics.calculate_seconds.with_label_values(&[&product]).observe(total.as_secs_f64());
                    metrics.compute_seconds.with_label_values(&[&product]).observe(compute.as_secs_f64());
                    metrics.image_size.with_label_values(&[&product]).set(size as i64);
                    tracing::debug!(%product, size, ?compute, ?total, "images computed");
                    progress.ok += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    metrics.calculate_errors.with_label_values(&[&product]).inc();
                    tracing::warn!(%product, error = %e, "calculate failed");
                    progress.failed += 1;
                }
            }
        }
        progress.report("image sets computed");
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
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) {
    let threads =
        if sweep_threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { sweep_threads };
    let settings = WorkerSettings { worker: lease.worker.clone(), ttl: lease.ttl, sweep_threads: threads };
    let mut worker = TradeWorker::new(store.clone(), host, settings);
    let mut events = store.listen(&["cgaf_runs"]);
    let mut progress = Progress::default();
    tracing::info!("trade running");
    let (mut ticker, mut shutdown) = (Ticker::new(schedule), shutdown);
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {},
            Some(_) = events.recv() => { while events.try_recv().is_ok() {} },
            _ = shutdown.changed() => break,
        }
        match worker.tick().await {
            Ok(r) => {
                progress.ok += r.ended as u64;
                progress.failed += r.failed as u64;
                metrics.trade_runs.with_label_values(&["paper"]).set(r.paper_runs as i64);
                metrics.trade_runs.with_label_values(&["backtest"]).set(r.backtests as i64);
                metrics.trade_run_ends.with_label_values(&["ended"]).inc_by(r.ended as u64);
                metrics.trade_run_ends.with_label_values(&["failed"]).inc_by(r.failed as u64);
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

/// Runs the service.
pub async fn run(g: &GlobalArgs, args: &ServeArgs) -> Result<()> {
    // Validate everything before starting anything.
    let products = parse_products(&args.products, args.max_size).context("--products")?;
    let collect_schedule: Schedule =
        args.collect_schedule.parse().map_err(anyhow::Error::msg).context("--collect-schedule")?;
    let calculate_schedule: Schedule =
        args.calculate_schedule.parse().map_err(anyhow::Error::msg).context("--calculate-schedule")?;
    let kind: SourceKind = args.source.parse().map_err(|e| anyhow::anyhow!("{e}")).context("--source")?;
    let source = SourceSettings {
        kind,
        url: args.source_url.clone(),
        aggregation: args.aggregation.parse().context("--aggregation")?,
        depth: args.depth,
        http_timeout: parse_duration(&args.http_timeout).map_err(anyhow::Error::msg).context("--http-timeout")?,
        seed: args.sim_seed,
    };
    let listen: std::net::SocketAddr = args.listen.parse().context("--listen")?;
    let image_transforms =
        ImageTransforms::parse(&args.image_transforms).map_err(anyhow::Error::msg).context("--image-transforms")?;
    let roles = &args.roles;

    let mut db = crate::db::open(g, true).await?;
    let result = serve_with(
        &db.store,
        g,
        args,
        roles,
        products,
        source,
        (collect_schedule, calculate_schedule),
        image_transforms,
        listen,
    )
    .await;
    if let Some(mut pg) = db.embedded.take() {
        tokio::task::spawn_blocking(move || pg.stop()).await??;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn serve_with(
    store: &Store,
    g: &GlobalArgs,
    args: &ServeArgs,
    roles: &[Role],
    products: Vec<Product>,
    source: SourceSettings,
    (collect_schedule, calculate_schedule): (Schedule, Schedule),
    image_transforms: ImageTransforms,
    listen: std::net::SocketAddr,
) -> Result<()> {
    store.wait_ready(crate::db::STARTUP_WAIT).await.context("waiting for the database")?;
    let report = store.migrate().await.context("applying migrations")?;
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, version = report.current, "schema migrated");
    }
    if args.sync_products {
        store.sync_products(&products).await.context("syncing products")?;
    } else {
        let added = store.ensure_products(&products).await.context("adding products")?;
        if added > 0 {
            tracing::info!(added, "products added");
        }
    }

    let plugins = if roles.iter().any(|r| matches!(r, Role::Api | Role::Calculate | Role::Trade)) {
        Some(crate::plugins::start(store, &g.data_dir).await.context("starting plugins")?)
    } else {
        None
    };
    let metrics = Metrics::new();
    let lease = Lease::new(parse_duration(&args.lease_ttl).map_err(anyhow::Error::msg).context("--lease-ttl")?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    if roles.contains(&Role::Collect) {
        let (store, metrics, stop) = (store.clone(), metrics.clone(), stop_rx.clone());
        let lease = lease.clone();
        tasks.spawn(async move { collect_loop(store, lease, source, collect_schedule, metrics, stop).await });
    }
    if roles.contains(&Role::Calculate) {
        let (store, metrics, stop) = (store.clone(), metrics.clone(), stop_rx.clone());
        let host = plugins.clone().context("plugin host")?;
        let lease = lease.clone();
        let calc = Calculator { transforms: host, config: image_transforms };
        tasks.spawn(async move {
            calculate_loop(store, lease, calc, calculate_schedule, metrics, stop).await;
            Ok(())
        });
    }
    if roles.contains(&Role::Trade) {
        let (store, stop, metrics) = (store.clone(), stop_rx.clone(), metrics.clone());
        let host = plugins.clone().context("plugin host")?;
        let lease = lease.clone();
        let schedule: Schedule = args.trade_schedule.parse().map_err(anyhow::Error::msg).context("--trade-schedule")?;
        let threads = args.sweep_threads;
        tasks.spawn(async move {
            trade_loop(store, lease, host, schedule, threads, metrics, stop).await;
            Ok(())
        });
    }
    // Every process listens: the API role serves everything, worker-only processes serve
    // /healthz, /readyz and /metrics (for probes and scraping).
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let mut stop = stop_rx.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if roles.contains(&Role::Api) {
        let (token, from) = crate::token::resolve(args.api_token.as_deref(), &g.data_dir)?;
        if let crate::token::TokenSource::File(path) = from {
            tracing::info!(path = %path.display(), "API token for writes (Authorization: Bearer <token>) is in this file");
        }
        let settings = ApiSettings { token, max_json_body: 64 * 1024, max_plugin_bytes: args.max_plugin_bytes };
        let mut state = ApiState::new(store.clone(), metrics.clone(), &settings);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_parse_with_sizes() {
        let p = parse_products(&["BTC-USD:300".into(), " ETH-USD".into(), "".into()], 600).unwrap();
        assert_eq!(p[0], Product { product: "BTC-USD".into(), max_size: 300 });
        assert_eq!(p[1], Product { product: "ETH-USD".into(), max_size: 600 });
        assert!(parse_products(&["BTC-USD".into(), "BTC-USD".into()], 600).is_err());
        assert!(parse_products(&["BTC USD".into()], 600).is_err());
        assert!(parse_products(&["BTC-USD:5".into()], 600).is_err());
    }
}
