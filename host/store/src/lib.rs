//! PostgreSQL storage of crypto-gaf: connection pool, versioned migrations from `schema.sql`,
//! typed queries for products, samples, cursors and images, the market-history store, strategy runs, their decision log,
//! sweeps, the leaderboard, the kill switch and the matrix pipeline's rows (over the trade domain's row types and enums —
//! queries only, no trading rules), and LISTEN/NOTIFY. (The private embedded server is
//! `cgaf-embedded-postgres`.)

pub mod bar_blocks;
pub mod decisions;
pub mod error;
pub mod gafs;
pub mod history;
pub mod kill_switch;
pub mod leaderboard;
pub mod leases;
pub mod matrices;
pub mod migrate;
pub mod notify;
mod partition_load;
pub mod plugin_artifacts;
pub mod plugin_canaries;
pub mod plugin_failures;
pub mod plugin_limits;
pub mod plugins;
pub mod products;
pub mod runs;
pub mod sample_points;
pub mod samples;
pub mod sweeps;
pub mod types;

pub use bar_blocks::BarBlockEntry;
pub use decisions::{AppendCommit, DecisionQuery, RunProgress};
pub use error::{error_counts, Error, ErrorCounts};
pub use gafs::{GafImages, GafRow, SampleSignature, IMAGE_NAMES};
pub use history::{HistoryTable, ImportReport, StoredBar, StoredRange, StreamedImport};
pub use kill_switch::KillSwitch;
pub use leaderboard::LeaderboardEntry;
pub use matrices::{
    BlendRow, FeatureSample, ForecastRow, MatrixCursor, MatrixQuery, MatrixRows, MatrixSweepResult, MatrixSweepRow,
    NewMatrixSweep, RollingScore, RollupRow, ScoreRow, StoredBlend, TransitionRow,
};
pub use notify::{Notification, NotifyEvent};
pub use plugin_canaries::{CanaryEnd, NewPluginCanary, PluginCanary};
pub use plugin_failures::{NewPluginFailure, PluginFailure};
pub use products::Product;
pub use runs::{RunRow, RunSpec};
pub use sample_points::SamplePointRow;
pub use samples::Snapshot;
pub use sweeps::SweepRow;
pub use types::{Level, NewSample, TradeSummary};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// A libpq-style URL or key=value string (`postgres://user:pw@host:5432/db`).
    pub url: String,
    /// Maximum pooled connections.
    pub pool_size: usize,
    /// Timeout for establishing one connection.
    pub connect_timeout: Duration,
}

impl DbSettings {
    /// Settings for `url` with default pool size (16) and connect timeout (5 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), pool_size: 16, connect_timeout: Duration::from_secs(5) }
    }
}

/// The connection pool at one moment (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections idle now.
    pub available: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// A handle on the crypto-gaf database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Copy every sample into the raw-sample archive as it is inserted.
    archive_samples: bool,
    /// Set by [`Store::close`]: the LISTEN tasks of [`Store::listen`] end quietly.
    closed: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("hosts", &self.config.get_hosts()).finish()
    }
}

impl Store {
    /// Builds a pool for `settings` (connections are opened lazily; see [`Store::ping`]).
    pub fn new(settings: &DbSettings) -> Result<Self> {
        let mut config: tokio_postgres::Config =
            settings.url.parse().map_err(|e| Error::Config(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(settings.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("cgaf");
        }
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(format!("pool: {e}")))?;
        let (closed, _) = tokio::sync::watch::channel(false);
        Ok(Self { pool, config, archive_samples: false, closed: std::sync::Arc::new(closed) })
    }

    /// Closes the store before its database goes away (a service stopping its private
    /// PostgreSQL): the LISTEN connections end and the pool's idle connections are closed, so
    /// stopping the server does not break them (and log warnings). Every clone shares it; a
    /// pooled connection asked for afterwards fails.
    pub fn close(&self) {
        self.closed.send_replace(true);
        self.pool.close();
    }

    /// The same store, copying every inserted sample into the raw-sample archive when `on`.
    pub fn with_sample_archive(mut self, on: bool) -> Self {
        self.archive_samples = on;
        self
    }

    /// The pool now: connections open, idle, the most allowed, and requests waiting for one.
    pub fn pool_status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus { max_size: s.max_size, size: s.size, available: s.available, waiting: s.waiting }
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// The parsed connection settings (for dedicated connections such as LISTEN).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Waits until the database answers or `timeout` passes.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.ping().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "database not ready yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
