//! The error type of the store, and the process-wide count of database errors (for the
//! metrics): every error PostgreSQL or the pool returned, by kind, counted as it becomes an
//! [`Error`].

use std::sync::atomic::{AtomicU64, Ordering};

static CONNECTION_ERRORS: AtomicU64 = AtomicU64::new(0);
static QUERY_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Database errors in this process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// The database was unreachable, closed the connection, or no pooled connection came in time.
    pub connection: u64,
    /// A query failed (constraint, syntax, type, serialisation), including those the caller
    /// handles (a duplicate insert answered with 409).
    pub query: u64,
}

/// Database errors in this process so far.
pub fn error_counts() -> ErrorCounts {
    ErrorCounts { connection: CONNECTION_ERRORS.load(Ordering::Relaxed), query: QUERY_ERRORS.load(Ordering::Relaxed) }
}

/// Everything that can go wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings (URL, pool).
    #[error("configuration: {0}")]
    Config(String),
    /// A query or connection failed.
    #[error("database: {}", db_message(.0))]
    Db(#[source] tokio_postgres::Error),
    /// No connection could be taken from the pool.
    #[error("database pool: {0}")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// The referenced product does not exist.
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    /// The product already exists.
    #[error("product {0:?} exists already")]
    ProductExists(String),
    /// A row holds a value this version cannot read.
    #[error("bad data in {what}: {detail}")]
    BadData {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The schema file is malformed.
    #[error("schema.sql: {0}")]
    Schema(String),
    /// This worker no longer holds the product's lease.
    #[error("lease on {0:?} lost to another worker")]
    LeaseLost(String),
    /// This worker no longer holds the run (another worker took it over, or it ended).
    #[error("run {0} is no longer held by this worker")]
    RunLost(i64),
    /// No such plugin version.
    #[error("unknown plugin {0}")]
    UnknownPlugin(String),
    /// The name and version exist with other bytes.
    #[error("plugin {0} exists already with other bytes; bump the version")]
    PluginVersionExists(String),
    /// The version is quarantined.
    #[error("plugin {0} is quarantined")]
    PluginQuarantined(String),
    /// An import would replace imported bars with other values (and `replace` was not asked).
    #[error("{count} {interval} bars of {product} are stored already with other values (first at {first}); import with replace to overwrite imported bars")]
    ImportConflict {
        /// Product.
        product: String,
        /// Interval label.
        interval: String,
        /// Bars that differ.
        count: i64,
        /// Close time of the first, RFC 3339.
        first: String,
    },
    /// A canary of this plugin runs already.
    #[error("a canary of plugin {0} runs already; wait for its verdict or cancel it")]
    CanaryRunning(String),
    /// No earlier version to go back to.
    #[error("plugin {0} has no earlier healthy version to roll back to")]
    NothingToRollBack(String),
    /// A matrix-pipeline cursor is not where the writer read it (another writer advanced it);
    /// nothing was written.
    #[error("matrix cursor {0} moved under this writer")]
    CursorMoved(String),
    /// Loading an import's new partitions on connections of their own went wrong (a loader
    /// ended early, or COPYed other than it was sent).
    #[error("loading partitions: {0}")]
    PartitionLoad(String),
    /// A replay of this name exists already (or the name is `live`).
    #[error("replay {0:?} exists already (or is reserved)")]
    ReplayExists(String),
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        let e = Error::Db(e);
        let counter = if e.is_connection() { &CONNECTION_ERRORS } else { &QUERY_ERRORS };
        counter.fetch_add(1, Ordering::Relaxed);
        e
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        CONNECTION_ERRORS.fetch_add(1, Ordering::Relaxed);
        Error::Pool(e)
    }
}

impl Error {
    /// True when the error is about the connection (the database is down or unreachable), as
    /// opposed to a problem with the query or the data.
    pub fn is_connection(&self) -> bool {
        match self {
            Error::Pool(_) => true,
            // Without an SQL code the error is either the connection (closed, I/O) or the
            // query itself (a parameter or column type mismatch); only the first is "unavailable".
            // Class 08 (connection exception) and 57P (shutdown, crash) are the connection too.
            Error::Db(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
                    || (e.code().is_none()
                        && std::error::Error::source(e).is_none_or(|s| s.downcast_ref::<std::io::Error>().is_some()))
            }
            _ => false,
        }
    }
}

/// tokio-postgres' Display omits the cause ("error serializing parameter 1"); include it.
fn db_message(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(src) if !e.to_string().contains(&src.to_string()) => format!("{e}: {src}"),
        _ => e.to_string(),
    }
}
