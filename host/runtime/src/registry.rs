//! The active version of every plugin, swapped atomically, with per-version call statistics
//! and quarantine after repeated failures.

use crate::error::Error;
use crate::runtime::Plugin;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Call statistics of one plugin version in this process.
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
    /// Plugin faults by kind ([`Error::code`]: `trap`, `timeout`, `memory_limit`,
    /// `invalid_result`, `plugin_error`), for the metrics.
    #[serde(skip)]
    pub faults: BTreeMap<&'static str, u64>,
    /// Calls per latency bucket: `latency_buckets[i]` counts calls of at most
    /// [`CALL_SECONDS_BUCKETS`]`[i]` seconds and more than the bucket before (not cumulative).
    #[serde(skip)]
    pub latency_buckets: [u64; CALL_SECONDS_BUCKETS.len()],
    /// Times this process asked to quarantine this version ([`Registry::count_quarantine`]).
    #[serde(skip)]
    pub quarantines: u64,
}

/// Upper bounds of the call latency buckets, seconds (a call slower than the last is counted in
/// `calls` only, as Prometheus' `+Inf` bucket).
pub const CALL_SECONDS_BUCKETS: [f64; 12] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

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
    stats: Mutex<HashMap<(String, String), PluginStats>>,
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

    /// Records one call of `plugin`; returns whether it should be quarantined.
    pub fn record(&self, plugin: &Plugin, elapsed: Duration, result: Result<(), &Error>) -> Health {
        let Ok(mut stats) = self.stats.lock() else { return Health::Ok };
        let s = stats.entry((plugin.info.name.clone(), plugin.info.version.clone())).or_default();
        s.calls += 1;
        let secs = elapsed.as_secs_f64();
        s.total_seconds += secs;
        s.max_seconds = s.max_seconds.max(secs);
        if let Some(i) = CALL_SECONDS_BUCKETS.iter().position(|&le| secs <= le) {
            s.latency_buckets[i] += 1;
        }
        match result {
            Ok(()) => {
                s.consecutive_faults = 0;
                Health::Ok
            }
            Err(e) => {
                s.errors += 1;
                s.last_error = Some(e.to_string());
                if e.is_plugin_fault() {
                    *s.faults.entry(e.code()).or_default() += 1;
                    s.consecutive_faults += 1;
                    if s.consecutive_faults >= self.quarantine_after {
                        return Health::Quarantine { faults: s.consecutive_faults, reason: e.to_string() };
                    }
                }
                Health::Ok
            }
        }
    }

    /// Counts a quarantine request for `plugin` (made once per version until it is cleared).
    pub fn count_quarantine(&self, plugin: &Plugin) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.entry((plugin.info.name.clone(), plugin.info.version.clone())).or_default().quarantines += 1;
        }
    }

    /// Statistics of every plugin version called in this process, by (name, version).
    pub fn stats_all(&self) -> Vec<((String, String), PluginStats)> {
        self.stats.lock().map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    /// Changes of the active version so far, by plugin name.
    pub fn swaps(&self) -> BTreeMap<String, u64> {
        self.swaps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Statistics of `name` by version.
    pub fn stats_of(&self, name: &str) -> HashMap<String, PluginStats> {
        self.stats
            .lock()
            .map(|s| s.iter().filter(|((n, _), _)| n == name).map(|((_, v), st)| (v.clone(), st.clone())).collect())
            .unwrap_or_default()
    }
}
