//! Errors of the trade worker.

use cgaf_trade_domain::Error as DomainError;

/// Why a run, a sweep or a step of one failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The strategy plugin failed (error, trap, timeout, memory limit, invalid result).
    #[error("strategy: {0}")]
    Plugin(#[from] cgaf_runtime::Error),
    /// A strategy call of a run failed: which plugin version, which call, at which bar.
    #[error("strategy {plugin}@{version} failed in {call} at bar {bar}{}: {error}", time_ms.map(|t| format!(" (time_ms {t})")).unwrap_or_default())]
    StrategyCall {
        /// Plugin name.
        plugin: String,
        /// Plugin version.
        version: String,
        /// The call (`on_bars`, `state`, `restore`, `create`).
        call: &'static str,
        /// The run's index (`seq`) of the first bar of the call.
        bar: i64,
        /// That bar's close time, ms since the epoch.
        time_ms: Option<i64>,
        /// The typed error.
        error: Box<cgaf_runtime::Error>,
    },
    /// The run's strategy version is quarantined and its previous version is not back yet.
    #[error("strategy {plugin}@{version} is quarantined; waiting for the previous version to be put back")]
    Quarantined {
        /// Plugin name.
        plugin: String,
        /// The quarantined version.
        version: String,
    },
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
    /// Replaying a run's strategy did not reproduce its stored log (names where).
    #[error("{0}")]
    NotReproduced(String),
    /// The run was stopped on request.
    #[error("stopped on request")]
    Stopped,
    /// The worker is shutting down: the run or sweep stays claimed and resumes later.
    #[error("the trade worker is shutting down")]
    ShuttingDown,
    /// A CSV of bars to import is bad (names the file, line and column); nothing was written.
    #[error("{0}")]
    BadCsv(String),
    /// Reading a file failed (names the file and why).
    #[error("{0}")]
    Io(String),
    /// Anything else the domain refused (bars, metrics, output, a panicking sweep evaluation).
    #[error(transparent)]
    Domain(DomainError),
}

impl Error {
    /// True when a paper run should not fail but try again at its next tick, from what the
    /// database holds: its strategy faulted (counted towards the version's quarantine) or its
    /// version is quarantined and the previous one is on its way back.
    pub fn retry_later(&self) -> bool {
        match self {
            Error::Plugin(e) => e.is_plugin_fault(),
            Error::StrategyCall { error, .. } => error.is_plugin_fault(),
            Error::Quarantined { .. } => true,
            _ => false,
        }
    }
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
