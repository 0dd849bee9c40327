//! Errors of the trade worker.

/// Why a run, a sweep or a step of one failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The strategy plugin failed (error, trap, timeout, memory limit, invalid result).
    #[error("strategy: {0}")]
    Plugin(#[from] cgaf_runtime::Error),
    /// Run settings are invalid.
    #[error("invalid run settings: {0}")]
    Settings(#[from] crate::engine::SettingsError),
    /// Bars could not be built from the samples.
    #[error("bars: {0}")]
    Bars(#[from] crate::bars::BarError),
    /// Metrics could not be computed.
    #[error("metrics: {0}")]
    Metrics(#[from] crate::metrics::Error),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] cgaf_store::Error),
    /// A request is invalid (names what and why).
    #[error("{0}")]
    Invalid(String),
    /// The run was stopped on request.
    #[error("stopped on request")]
    Stopped,
    /// Writing output (CSV, PNG) failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}
