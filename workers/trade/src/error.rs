//! Errors of the trade worker.

use cgaf_trade_domain::Error as DomainError;

/// Why a run, a sweep or a step of one failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The strategy plugin failed (error, trap, timeout, memory limit, invalid result).
    #[error("strategy: {0}")]
    Plugin(#[from] cgaf_runtime::Error),
    /// Run settings are invalid.
    #[error("invalid run settings: {0}")]
    Settings(cgaf_trade_domain::SettingsError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] cgaf_store::Error),
    /// A request is invalid (names what and why).
    #[error("{0}")]
    Invalid(String),
    /// The history does not cover the range asked for (names what it covers).
    #[error("{0}")]
    NotCovered(String),
    /// The run was stopped on request.
    #[error("stopped on request")]
    Stopped,
    /// The worker is shutting down: the run or sweep stays claimed and resumes later.
    #[error("the trade worker is shutting down")]
    ShuttingDown,
    /// Anything else the domain refused (bars, metrics, output, a panicking sweep evaluation).
    #[error(transparent)]
    Domain(DomainError),
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Strategy(s) => match s.0.downcast::<cgaf_runtime::Error>() {
                Ok(plugin) => Error::Plugin(*plugin),
                Err(other) => Error::Invalid(format!("strategy: {other}")),
            },
            DomainError::Settings(s) => Error::Settings(s),
            DomainError::Invalid(m) => Error::Invalid(m),
            DomainError::Stopped => Error::Stopped,
            e => Error::Domain(e),
        }
    }
}
