//! What happens after a call: the quarantine of a version that keeps faulting (a hook the host
//! sets, asked once per version) and the failure records of faulted calls with their inputs (a
//! sink the host sets, fed off the hot path), shared by the [`crate::PluginHost`] and the
//! strategy instances it creates.

use crate::error::Error;
use crate::stats::{CallCounters, Health};
use crate::types::{Bar, Matrix};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// A request to take a plugin version out of service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRequest {
    /// Plugin name.
    pub name: String,
    /// The failing version.
    pub version: String,
    /// The last failure.
    pub reason: String,
}

/// The limits a call ran under (recorded with a failure, so a replay runs under the same ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLimits {
    /// Deadline of one call, ms.
    pub call_deadline_ms: u64,
    /// Deadline of creating a strategy instance, ms.
    pub info_deadline_ms: u64,
    /// Linear-memory cap per instance, bytes.
    pub memory_limit: usize,
    /// Largest number of values a result may hold.
    pub max_result_values: usize,
}

/// The strategy call that failed, with what it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum StrategyCall {
    /// `create(params)`.
    Create,
    /// `restore(state)`.
    Restore {
        /// The state text handed to the instance.
        state: String,
    },
    /// `on-bars(bars)`.
    OnBars {
        /// The bars of the call.
        bars: Vec<Bar>,
    },
    /// `state()`.
    State,
}

/// What a failed call was given: enough to make the same call again on a fresh instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CallInputs {
    /// `transform(series, params)`.
    ImageTransform {
        /// The series.
        series: Vec<f64>,
        /// The parameters, name and Python-literal value.
        params: Vec<(String, String)>,
    },
    /// `blend(matrices, params)`.
    Blender {
        /// The matrices, oldest first.
        matrices: Vec<Matrix>,
        /// The parameters.
        params: Vec<(String, String)>,
    },
    /// A strategy instance's history since its last known state, then the failing call: a
    /// replay creates an instance with `params`, restores `restored` (when set), feeds each of
    /// `fed` in one call, then makes `failed`.
    Strategy {
        /// The instance's parameters.
        params: Vec<(String, String)>,
        /// The last state the instance wrote or was given (`state()` or `restore`), if any.
        restored: Option<String>,
        /// The `on-bars` calls since that state, in order (each one call's bars); all succeeded.
        fed: Vec<Vec<Bar>>,
        /// The call that failed.
        failed: StrategyCall,
    },
}

impl CallInputs {
    /// The name of the failing call (`transform`, `blend`, `create`, `restore`, `on_bars`, `state`).
    pub fn call_name(&self) -> &'static str {
        match self {
            CallInputs::ImageTransform { .. } => "transform",
            CallInputs::Blender { .. } => "blend",
            CallInputs::Strategy { failed, .. } => match failed {
                StrategyCall::Create => "create",
                StrategyCall::Restore { .. } => "restore",
                StrategyCall::OnBars { .. } => "on_bars",
                StrategyCall::State => "state",
            },
        }
    }
}

/// A call that faulted (trap, timeout, memory limit, invalid result, a plugin's `failed`), as
/// handed to the failure sink.
#[derive(Debug, Clone)]
pub struct FailureRecord {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// The typed error.
    pub error: Error,
    /// The limits the call ran under.
    pub limits: CallLimits,
    /// What the call was given.
    pub inputs: CallInputs,
}

type Hook = Arc<dyn Fn(QuarantineRequest) + Send + Sync>;
type Sink = Arc<dyn Fn(FailureRecord) + Send + Sync>;

/// The quarantine hook, the versions already handed to it, and the failure sink.
#[derive(Default)]
pub struct Gate {
    hook: RwLock<Option<Hook>>,
    requested: Mutex<HashSet<(String, String)>>,
    sink: RwLock<Option<Sink>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Gate {
    /// Sets what happens when a version must be quarantined.
    pub fn set_hook(&self, hook: impl Fn(QuarantineRequest) + Send + Sync + 'static) {
        if let Ok(mut h) = self.hook.write() {
            *h = Some(Arc::new(hook));
        }
    }

    /// Sets where failure records go. The sink is called on the failing call's thread: it must
    /// not block (hand the record to a bounded channel and return).
    pub fn set_sink(&self, sink: impl Fn(FailureRecord) + Send + Sync + 'static) {
        if let Ok(mut s) = self.sink.write() {
            *s = Some(Arc::new(sink));
        }
    }

    /// True when a sink is set (a failing call builds its record only then).
    pub fn wants_failures(&self) -> bool {
        self.sink.read().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Hands a failure record to the sink, if one is set.
    pub fn failed(&self, record: FailureRecord) {
        let sink = self.sink.read().ok().and_then(|s| s.clone());
        if let Some(sink) = sink {
            sink(record);
        }
    }

    /// True when this process asked to quarantine `name@version` (and it was not reactivated since).
    pub fn is_requested(&self, name: &str, version: &str) -> bool {
        self.requested.lock().map(|s| s.contains(&(name.to_string(), version.to_string()))).unwrap_or(false)
    }

    /// Forgets that a quarantine was requested for `name@version` (it was reactivated).
    pub fn clear(&self, name: &str, version: &str) {
        if let Ok(mut s) = self.requested.lock() {
            s.remove(&(name.to_string(), version.to_string()));
        }
    }

    /// Acts on what recording a call said: the first time a version must be quarantined, counts
    /// it and calls the hook.
    pub fn after(&self, name: &str, version: &str, counters: &CallCounters, health: Health) {
        let Health::Quarantine { faults, reason } = health else { return };
        let first =
            self.requested.lock().map(|mut s| s.insert((name.to_string(), version.to_string()))).unwrap_or(false);
        if !first {
            return;
        }
        counters.count_quarantine();
        tracing::warn!(plugin = %name, version = %version, faults, %reason, "quarantining plugin version");
        let hook = self.hook.read().ok().and_then(|h| h.clone());
        if let Some(hook) = hook {
            hook(QuarantineRequest {
                name: name.to_string(),
                version: version.to_string(),
                reason: format!("{faults} failures in a row; last: {reason}"),
            });
        }
    }
}

/// What a counted strategy instance records its calls with.
#[derive(Debug, Clone)]
pub struct Accounting {
    /// The version's counters.
    pub counters: Arc<CallCounters>,
    /// Faults in a row before a quarantine.
    pub quarantine_after: u32,
    /// The host's quarantine hook and failure sink.
    pub gate: Arc<Gate>,
}

impl Accounting {
    /// Records one call; a success ends a run of faults only when `ends_faults` (see
    /// [`CallCounters::record_call`]).
    pub fn record(
        &self,
        name: &str,
        version: &str,
        elapsed: Duration,
        peak_memory: usize,
        r: Result<(), &Error>,
        ends_faults: bool,
    ) {
        let health = self.counters.record_call(elapsed, peak_memory, r, self.quarantine_after, ends_faults);
        if health != Health::Ok {
            self.gate.after(name, version, &self.counters, health);
        }
    }
}
