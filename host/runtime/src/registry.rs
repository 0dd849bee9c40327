//! The active version of every plugin, swapped atomically, with per-version call statistics
//! and quarantine after repeated failures.

use crate::error::Error;
use crate::runtime::Plugin;
use serde::Serialize;
use std::collections::HashMap;
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
}

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
        m.insert(plugin.info.name.clone(), plugin)
    }

    /// Makes the active set exactly `plugins` (one per name).
    pub fn replace_all(&self, plugins: Vec<Arc<Plugin>>) {
        if let Ok(mut m) = self.active.write() {
            *m = plugins.into_iter().map(|p| (p.info.name.clone(), p)).collect();
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
                *m = plugins.into_iter().map(|p| (p.info.name.clone(), p)).collect();
                true
            }
            _ => false,
        }
    }

    /// Removes `name` from service.
    pub fn deactivate(&self, name: &str) -> Option<Arc<Plugin>> {
        let mut m = self.active.write().ok()?;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        m.remove(name)
    }

    /// Records one call of `plugin`; returns whether it should be quarantined.
    pub fn record(&self, plugin: &Plugin, elapsed: Duration, result: Result<(), &Error>) -> Health {
        let Ok(mut stats) = self.stats.lock() else { return Health::Ok };
        let s = stats.entry((plugin.info.name.clone(), plugin.info.version.clone())).or_default();
        s.calls += 1;
        let secs = elapsed.as_secs_f64();
        s.total_seconds += secs;
        s.max_seconds = s.max_seconds.max(secs);
        match result {
            Ok(()) => {
                s.consecutive_faults = 0;
                Health::Ok
            }
            Err(e) => {
                s.errors += 1;
                s.last_error = Some(e.to_string());
                if e.is_plugin_fault() {
                    s.consecutive_faults += 1;
                    if s.consecutive_faults >= self.quarantine_after {
                        return Health::Quarantine { faults: s.consecutive_faults, reason: e.to_string() };
                    }
                }
                Health::Ok
            }
        }
    }

    /// Statistics of `name` by version.
    pub fn stats_of(&self, name: &str) -> HashMap<String, PluginStats> {
        self.stats
            .lock()
            .map(|s| s.iter().filter(|((n, _), _)| n == name).map(|((_, v), st)| (v.clone(), st.clone())).collect())
            .unwrap_or_default()
    }
}
