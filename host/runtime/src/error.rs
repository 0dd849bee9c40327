//! Typed errors of plugin validation and calls.

/// Why a plugin was refused or a call failed. Its JSON form (`{"kind": ..., "detail": ...}`) is
/// what a failure record stores, so a replay compares typed errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Error {
    /// The bytes are not a WebAssembly component (or not valid).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component imports something outside the sandbox's allow-list.
    #[error("forbidden import {0:?}: plugins may not use files, sockets or other host capabilities")]
    ForbiddenImport(String),
    /// The component does not export exactly one of the plugin worlds.
    #[error("wrong world: {0}")]
    WrongWorld(String),
    /// `info()` answered something invalid.
    #[error("invalid info(): {0}")]
    InvalidInfo(String),
    /// The component exports a different kind than expected.
    #[error("kind mismatch: expected a {expected} plugin, the component is a {found}")]
    KindMismatch {
        /// Expected kind.
        expected: String,
        /// The component's kind.
        found: String,
    },
    /// The plugin returned an error of its own (bad parameters or input).
    #[error("{0}")]
    Plugin(PluginError),
    /// The plugin trapped (panic, unreachable, stack overflow, ...).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("plugin timed out after {0} ms")]
    Timeout(u64),
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin hit the memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// The plugin returned a result that breaks the contract (size, shape, NaN where not allowed...).
    #[error("plugin returned an invalid result: {0}")]
    InvalidResult(String),
    /// No active plugin of that name.
    #[error("no active plugin named {0:?}")]
    UnknownPlugin(String),
    /// A compiled plugin shared by another replica was refused (bad signature, other engine).
    #[error("compiled plugin: {0}")]
    Artifact(String),
    /// Host-side failure (engine, compile).
    #[error("runtime: {0}")]
    Internal(String),
}

/// A plugin's own error, as the WIT `plugin-error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum PluginError {
    /// Bad parameters.
    #[error("{0}")]
    InvalidParams(String),
    /// Bad input data.
    #[error("{0}")]
    InvalidInput(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// A stable short code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotAComponent(_) => "not_a_component",
            Error::ForbiddenImport(_) => "forbidden_import",
            Error::WrongWorld(_) => "wrong_world",
            Error::InvalidInfo(_) => "invalid_info",
            Error::KindMismatch { .. } => "kind_mismatch",
            Error::Plugin(PluginError::InvalidParams(_)) => "invalid_params",
            Error::Plugin(PluginError::InvalidInput(_)) => "invalid_input",
            Error::Plugin(PluginError::Failed(_)) => "plugin_error",
            Error::Trap(_) => "trap",
            Error::Timeout(_) => "timeout",
            Error::MemoryLimit(_) => "memory_limit",
            Error::InvalidResult(_) => "invalid_result",
            Error::UnknownPlugin(_) => "unknown_plugin",
            Error::Artifact(_) => "artifact",
            Error::Internal(_) => "internal",
        }
    }

    /// True for failures that count against a plugin version's health (not caller mistakes).
    pub fn is_plugin_fault(&self) -> bool {
        matches!(
            self,
            Error::Trap(_)
                | Error::Timeout(_)
                | Error::MemoryLimit(_)
                | Error::InvalidResult(_)
                | Error::Plugin(PluginError::Failed(_))
        )
    }
}
