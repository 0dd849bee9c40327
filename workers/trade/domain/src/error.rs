//! Errors of the trading domain.

use crate::strategy::StrategyError;

/// Why a run, a sweep or a step of one failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The strategy failed to decide or to report its state.
    #[error("strategy: {0}")]
    Strategy(#[from] StrategyError),
    /// Run settings are invalid.
    #[error("invalid run settings: {0}")]
    Settings(#[from] crate::engine::SettingsError),
    /// Bars could not be built from the samples.
    #[error("bars: {0}")]
    Bars(#[from] crate::bars::BarError),
    /// Metrics could not be computed.
    #[error("metrics: {0}")]
    Metrics(#[from] crate::metrics::Error),
    /// A request is invalid (names what and why).
    #[error("{0}")]
    Invalid(String),
    /// The run was stopped on request.
    #[error("stopped on request")]
    Stopped,
    /// A sweep evaluation panicked (a bug, reported instead of a silent empty result).
    #[error("a sweep evaluation panicked: {0}")]
    Panicked(String),
    /// Writing output (CSV, PNG) failed.
    #[error("output: {0}")]
    Output(String),
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        Error::Output(e.to_string())
    }
}
