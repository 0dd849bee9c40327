//! The active version of every plugin, swapped atomically, with per-version call statistics
//! and quarantine after repeated failures.

use crate::error::Error;
use crate::runtime::Plugin;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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

/// Active plugins by name. Reads clone an `Arc`, so a call in flight keeps the version it
/// started with while a swap installs the next one.
#[derive(Debug)]
pub struct Registry {
    active: RwLock<HashMap<String, Arc<Plugin>>>,
    /// Call counters by name, then version (looked up without allocating).
    stats: Mutex<HashMap<String, HashMap<String, Arc<CallCounters>>>>,
    /// Changes of the active version by name (activations, reloads that changed it, removals).
    swaps: Mutex<BTreeMap<String, u64>>,
    quarantine_after: u32,
    /// Bumped (under the `active` write lock) by every change of one name: a reload that read the
    /// database before such a change must not undo it ([`Registry::replace_all_unless_changed`]).
    epoch: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// An empty registry that asks for quarantine after `quarantine_after` faults in a row.
    pub fn new(quarantine_after: u32) -> Self {
        Self {
            active: RwLock::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            swaps: Mutex::new(BTreeMap::new()),
            quarantine_after: quarantine_after.max(1),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The active version of `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Plugin>, Error> {
        self.active
            .read()
            .map_err(|_| Error::Internal("registry lock poisoned".into()))?
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownPlugin(name.to_string()))
    }

    /// Every active plugin.
    pub fn all(&self) -> Vec<Arc<Plugin>> {
        self.active.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Installs `plugin` as the active version of its name; returns the previous one.
    pub fn activate(&self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        let mut m = self.active.write().ok()?;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if m.get(&plugin.info.name).is_none_or(|p| p.sha256 != plugin.sha256) {
            self.count_swap(&plugin.info.name);
        }
        m.insert(plugin.info.name.clone(), plugin)
    }

    fn count_swap(&self, name: &str) {
        if let Ok(mut s) = self.swaps.lock() {
            *s.entry(name.to_string()).or_default() += 1;
        }
    }

    /// Counts a swap for every name whose active version differs between `old` and `new`.
    fn count_swaps(&self, old: &HashMap<String, Arc<Plugin>>, new: &HashMap<String, Arc<Plugin>>) {
        for name in old.keys().chain(new.keys().filter(|n| !old.contains_key(*n))) {
            if old.get(name).map(|p| &p.sha256) != new.get(name).map(|p| &p.sha256) {
                self.count_swap(name);
            }
        }
    }

    /// Makes the active set exactly `plugins` (one per name).
    pub fn replace_all(&self, plugins: Vec<Arc<Plugin>>) {
        if let Ok(mut m) = self.active.write() {
            let new = plugins.into_iter().map(|p| (p.info.name.clone(), p)).collect();
            self.count_swaps(&m, &new);
            *m = new;
        }
    }

    /// The count of single-name changes so far (see [`Registry::replace_all_unless_changed`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// As [`Registry::replace_all`], unless a name changed since `seen` (an [`Registry::epoch`]
    /// read before the set was read from the database): then the set is stale and nothing is
    /// replaced (the change's own notification brings a fresh reload). True when replaced.
    pub fn replace_all_unless_changed(&self, plugins: Vec<Arc<Plugin>>, seen: u64) -> bool {
        match self.active.write() {
            Ok(mut m) if self.epoch() == seen => {
                let new = plugins.into_iter().map(|p| (p.info.name.clone(), p)).collect();
                self.count_swaps(&m, &new);
                *m = new;
                true
            }
            _ => false,
        }
    }

    /// Removes `name` from service.
    pub fn deactivate(&self, name: &str) -> Option<Arc<Plugin>> {
        let mut m = self.active.write().ok()?;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let removed = m.remove(name);
        if removed.is_some() {
            self.count_swap(name);
        }
        removed
    }

    /// The faults in a row after which a version is quarantined.
    pub fn quarantine_after(&self) -> u32 {
        self.quarantine_after
    }

    /// The call counters of `plugin`'s version (created on its first call). A caller that makes
    /// many calls of one version (a strategy instance) keeps them and records without a lock.
    pub fn counters(&self, plugin: &Plugin) -> Arc<CallCounters> {
        let Ok(mut stats) = self.stats.lock() else { return Arc::default() };
        let versions = match stats.get_mut(&plugin.info.name) {
            Some(v) => v,
            None => stats.entry(plugin.info.name.clone()).or_default(),
        };
        match versions.get(&plugin.info.version) {
            Some(c) => c.clone(),
            None => versions.entry(plugin.info.version.clone()).or_default().clone(),
        }
    }

    /// Records one call of `plugin`; returns whether it should be quarantined.
    pub fn record(&self, plugin: &Plugin, elapsed: Duration, peak_memory: usize, result: Result<(), &Error>) -> Health {
        self.counters(plugin).record(elapsed, peak_memory, result, self.quarantine_after)
    }

    /// Counts a quarantine request for `plugin` (made once per version until it is cleared).
    pub fn count_quarantine(&self, plugin: &Plugin) {
        self.counters(plugin).count_quarantine();
    }

    /// Statistics of every plugin version called in this process, by (name, version).
    pub fn stats_all(&self) -> Vec<((String, String), PluginStats)> {
        let Ok(stats) = self.stats.lock() else { return vec![] };
        stats.iter().flat_map(|(n, vs)| vs.iter().map(move |(v, c)| ((n.clone(), v.clone()), c.snapshot()))).collect()
    }

    /// Changes of the active version so far, by plugin name.
    pub fn swaps(&self) -> BTreeMap<String, u64> {
        self.swaps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Statistics of `name` by version.
    pub fn stats_of(&self, name: &str) -> HashMap<String, PluginStats> {
        let Ok(stats) = self.stats.lock() else { return HashMap::new() };
        stats.get(name).map(|vs| vs.iter().map(|(v, c)| (v.clone(), c.snapshot())).collect()).unwrap_or_default()
    }
}
