//! Per-version call statistics: the lock-free counters every call records into, their
//! snapshot, the latency buckets and fault codes, and what a failed call means for the
//! version's health.

use crate::error::Error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Call statistics of one plugin version in this process (a snapshot of its [`CallCounters`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginStats {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed (any error).
    pub errors: u64,
    /// Plugin faults in a row (trap, timeout, memory, invalid result); reset by a success.
    pub consecutive_faults: u32,
    /// Total call time, seconds.
    pub total_seconds: f64,
    /// Slowest call, seconds.
    pub max_seconds: f64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Plugin faults by kind ([`Error::code`]: one of [`FAULT_CODES`]).
    pub faults: BTreeMap<&'static str, u64>,
    /// Largest linear memory an instance of this version had, bytes.
    pub peak_memory: u64,
    /// Calls per latency bucket: `latency_buckets[i]` counts calls of at most
    /// [`CALL_SECONDS_BUCKETS`]`[i]` seconds and more than the bucket before (not cumulative).
    #[serde(skip)]
    pub latency_buckets: [u64; CALL_SECONDS_BUCKETS.len()],
    /// Times this process asked to quarantine this version.
    pub quarantines: u64,
}

/// Upper bounds of the call latency buckets, seconds (a call slower than the last is counted in
/// `calls` only, as Prometheus' `+Inf` bucket).
pub const CALL_SECONDS_BUCKETS: [f64; 12] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// [`CALL_SECONDS_BUCKETS`] in nanoseconds (what a call compares its elapsed time with).
const CALL_NANOS_BUCKETS: [u64; 12] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
];

/// The codes of the errors that count as plugin faults ([`Error::is_plugin_fault`]).
pub const FAULT_CODES: [&str; 5] = ["trap", "timeout", "memory_limit", "invalid_result", "plugin_error"];

impl PluginStats {
    /// Mean call time in seconds.
    pub fn mean_seconds(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_seconds / self.calls as f64
        }
    }
}

/// Times a plugin call from the CPU's time stamp counter (through [`quanta`], calibrated once per
/// process; the system's monotonic clock where the counter is not invariant): two readings cost
/// ~25 ns where two `Instant`s cost ~50 ns, and a run times a call per bar.
#[derive(Debug, Clone, Copy)]
pub struct CallTimer(u64);

/// The process's clock for [`CallTimer`].
fn call_clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

impl CallTimer {
    /// Starts timing.
    pub fn start() -> Self {
        CallTimer(call_clock().raw())
    }

    /// The time since [`CallTimer::start`].
    pub fn elapsed(self) -> Duration {
        Duration::from_nanos(call_clock().delta_as_nanos(self.0, call_clock().raw()))
    }
}

/// The call counters of one plugin version: atomics only, so the run path (a backtest makes a
/// call per bar) records every call without a lock or an allocation; only a failed call takes
/// the lock of the last error.
#[derive(Debug, Default)]
pub struct CallCounters {
    calls: AtomicU64,
    errors: AtomicU64,
    consecutive_faults: AtomicU32,
    total_nanos: AtomicU64,
    max_nanos: AtomicU64,
    latency_buckets: [AtomicU64; CALL_SECONDS_BUCKETS.len()],
    faults: [AtomicU64; FAULT_CODES.len()],
    peak_memory: AtomicU64,
    quarantines: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl CallCounters {
    /// Records one call: its time, the largest memory its instance had, and how it ended.
    /// Returns whether the version should be quarantined (`quarantine_after` faults in a row).
    pub fn record(
        &self,
        elapsed: Duration,
        peak_memory: usize,
        result: Result<(), &Error>,
        quarantine_after: u32,
    ) -> Health {
        self.record_call(elapsed, peak_memory, result, quarantine_after, true)
    }

    /// As [`CallCounters::record`]; a success ends a run of faults only when `ends_faults` (a
    /// strategy's `on-bars`; not the `create` and `restore` that precede every retry, nor `state`).
    pub fn record_call(
        &self,
        elapsed: Duration,
        peak_memory: usize,
        result: Result<(), &Error>,
        quarantine_after: u32,
        ends_faults: bool,
    ) -> Health {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.total_nanos.fetch_add(nanos, Ordering::Relaxed);
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
        if let Some(i) = CALL_NANOS_BUCKETS.iter().position(|&le| nanos <= le) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let peak = peak_memory as u64;
        if peak > self.peak_memory.load(Ordering::Relaxed) {
            self.peak_memory.fetch_max(peak, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                // Only a write when there is something to reset: calls in a row on many threads
                // do not fight over the cache line.
                if ends_faults && self.consecutive_faults.load(Ordering::Relaxed) != 0 {
                    self.consecutive_faults.store(0, Ordering::Relaxed);
                }
                Health::Ok
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
                let Some(kind) = FAULT_CODES.iter().position(|&c| c == e.code()).filter(|_| e.is_plugin_fault()) else {
                    return Health::Ok;
                };
                self.faults[kind].fetch_add(1, Ordering::Relaxed);
                let in_a_row = self.consecutive_faults.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                if in_a_row >= quarantine_after {
                    return Health::Quarantine { faults: in_a_row, reason: e.to_string() };
                }
                Health::Ok
            }
        }
    }

    /// Counts a quarantine request for this version.
    pub fn count_quarantine(&self) {
        self.quarantines.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> PluginStats {
        let calls = self.calls.load(Ordering::Relaxed);
        PluginStats {
            calls,
            errors: self.errors.load(Ordering::Relaxed),
            consecutive_faults: self.consecutive_faults.load(Ordering::Relaxed),
            total_seconds: self.total_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            max_seconds: self.max_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
            faults: FAULT_CODES
                .iter()
                .zip(&self.faults)
                .map(|(&c, n)| (c, n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            peak_memory: self.peak_memory.load(Ordering::Relaxed),
            latency_buckets: std::array::from_fn(|i| self.latency_buckets[i].load(Ordering::Relaxed)),
            quarantines: self.quarantines.load(Ordering::Relaxed),
        }
    }
}

/// What the registry says after recording a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Keep going.
    Ok,
    /// This many plugin faults in a row: take the version out of service.
    Quarantine {
        /// Faults in a row.
        faults: u32,
        /// The last fault.
        reason: String,
    },
}
