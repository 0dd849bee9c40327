//! The sandboxed plugin runtime of crypto-gaf (wasmtime 48, component model).
//!
//! Plugins are WebAssembly components exporting one world of the `gaf:plugin` WIT contract
//! (`image-transform`, `strategy`, `blender`). The runtime knows nothing about PostgreSQL: it
//! takes component bytes, validates and compiles them once per sha256, and runs calls under
//! limits — an epoch deadline, a linear-memory cap, a result-size cap — with no ambient
//! capabilities (WASI, when a component imports it, is linked deny-all: no preopens, no
//! environment, no network, a fixed clock and a seeded random source). The [`Registry`] holds
//! the active version of every plugin and swaps it atomically.

pub mod accounting;
pub mod artifact;
mod bindings;
pub mod canary;
pub mod error;
pub mod host;
pub mod limits;
pub mod plugin_limits;
pub mod registry;
pub mod runtime;
pub mod stats;
pub mod types;

pub use accounting::{CallInputs, CallLimits, FailureRecord, QuarantineRequest, StrategyCall};
pub use artifact::{Artifact, ArtifactKey};
pub use canary::{Canary, CanaryTally, Tolerance, Verdict};
/// A bar's contract fields copied into another bar type (the trade engine's and the bindings').
pub use cgaf_plugin_contract::bar_record;
pub use error::{Error, PluginError};
pub use host::PluginHost;
pub use plugin_limits::{Measured, PluginLimits};
pub use registry::{CallCounters, PluginStats, Registry, CALL_SECONDS_BUCKETS, FAULT_CODES};
pub use runtime::{CallTrace, Contract, Plugin, Runtime, RuntimeSettings, StrategyInstance};
pub use types::{Bar, Decision, Matrix, ParamSpec, Pixels, PluginInfo, PluginKind};
