//! The active version of every plugin, swapped atomically, with per-version call statistics
//! and quarantine after repeated failures.

use crate::error::Error;
use crate::runtime::Plugin;
pub use crate::stats::{CallCounters, Health, PluginStats, CALL_SECONDS_BUCKETS, FAULT_CODES};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

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
