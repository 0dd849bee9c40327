//! [`PluginHost`]: the runtime plus the registry of active versions, with every call timed,
//! counted, and a version that keeps failing handed to a quarantine hook (the host stores the
//! quarantine and reactivates the previous version on every replica).

use crate::error::Error;
use crate::registry::{Health, Registry};
use crate::runtime::{Plugin, Runtime, RuntimeSettings, StrategyInstance};
use crate::types::{Bar, Matrix, PluginKind};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

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

type Hook = Arc<dyn Fn(QuarantineRequest) + Send + Sync>;

/// The runtime, the active plugins, and the quarantine policy.
pub struct PluginHost {
    /// The engine.
    pub runtime: Runtime,
    /// Active versions and statistics.
    pub registry: Registry,
    hook: RwLock<Option<Hook>>,
    requested: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("runtime", &self.runtime).finish()
    }
}

impl PluginHost {
    /// A host with `settings`, quarantining a version after `quarantine_after` faults in a row.
    pub fn new(settings: RuntimeSettings, quarantine_after: u32) -> Result<Self, Error> {
        Ok(Self {
            runtime: Runtime::new(settings)?,
            registry: Registry::new(quarantine_after),
            hook: RwLock::new(None),
            requested: Mutex::new(HashSet::new()),
        })
    }

    /// Sets what happens when a version must be quarantined.
    pub fn set_quarantine_hook(&self, hook: impl Fn(QuarantineRequest) + Send + Sync + 'static) {
        if let Ok(mut h) = self.hook.write() {
            *h = Some(Arc::new(hook));
        }
    }

    fn after<T>(&self, plugin: &Plugin, started: Instant, r: &Result<T, Error>) {
        let health = self.registry.record(plugin, started.elapsed(), r.as_ref().map(|_| ()));
        if let Health::Quarantine { faults, reason } = health {
            let key = (plugin.info.name.clone(), plugin.info.version.clone());
            let first = self.requested.lock().map(|mut s| s.insert(key)).unwrap_or(false);
            if first {
                self.registry.count_quarantine(plugin);
                tracing::warn!(plugin = %plugin.info.name, version = %plugin.info.version, faults, %reason, "quarantining plugin version");
                let hook = self.hook.read().ok().and_then(|h| h.clone());
                if let Some(hook) = hook {
                    hook(QuarantineRequest {
                        name: plugin.info.name.clone(),
                        version: plugin.info.version.clone(),
                        reason: format!("{faults} failures in a row; last: {reason}"),
                    });
                }
            }
        }
    }

    /// Runs the active image transform `name`.
    pub fn transform(&self, name: &str, series: &[f64], params: &[(String, String)]) -> Result<Matrix, Error> {
        let plugin = self.registry.get(name)?;
        self.transform_with(&plugin, series, params)
    }

    /// Runs a given image-transform version (counted like any call).
    pub fn transform_with(
        &self,
        plugin: &Plugin,
        series: &[f64],
        params: &[(String, String)],
    ) -> Result<Matrix, Error> {
        let t = Instant::now();
        let r = self.runtime.transform(plugin, series, params);
        self.after(plugin, t, &r);
        r
    }

    /// Runs the active blender `name`.
    pub fn blend(&self, name: &str, matrices: &[Matrix], params: &[(String, String)]) -> Result<Matrix, Error> {
        let plugin = self.registry.get(name)?;
        self.blend_with(&plugin, matrices, params)
    }

    /// Runs a given blender version (counted, and quarantined after repeated faults, like any
    /// call).
    pub fn blend_with(
        &self,
        plugin: &Plugin,
        matrices: &[Matrix],
        params: &[(String, String)],
    ) -> Result<Matrix, Error> {
        let t = Instant::now();
        let r = self.runtime.blend(plugin, matrices, params);
        self.after(plugin, t, &r);
        r
    }

    /// Creates an instance of the active strategy `name`.
    pub fn strategy(&self, name: &str, params: &[(String, String)]) -> Result<StrategyInstance, Error> {
        let plugin = self.registry.get(name)?;
        let t = Instant::now();
        let r = self.runtime.strategy(&plugin, params);
        self.after(&plugin, t, &r);
        r
    }

    /// Runs `plugin` once on sample data: the check an upload passes after [`Runtime::load`]
    /// (which validated the component, its world, imports and `info()`), and what
    /// `cgaf plugin build` checks a freshly built component with.
    pub fn smoke_test(&self, plugin: &Arc<Plugin>) -> Result<(), Error> {
        match plugin.info.kind {
            PluginKind::ImageTransform => {
                let series: Vec<f64> = (0..32).map(|i| (i as f64 * 0.4).sin() + 0.01 * i as f64).collect();
                self.transform_with(plugin, &series, &[]).map(|_| ())
            }
            PluginKind::Blender => {
                let m = Matrix { size: 4, data: (0..16).map(|i| i as f64 / 16.0).collect() };
                self.runtime.blend(plugin, &[m.clone(), m], &[]).map(|_| ())
            }
            PluginKind::Strategy => {
                let mut s = self.runtime.strategy(plugin, &[])?;
                let bars: Vec<Bar> = (0..64)
                    .map(|i| {
                        let p = 100.0 + (i as f64 * 0.3).sin();
                        Bar {
                            time_ms: i * 1000,
                            open: p,
                            high: p + 0.1,
                            low: p - 0.1,
                            close: p,
                            volume: 1.0,
                            buy_volume: 0.5,
                            sell_volume: 0.5,
                        }
                    })
                    .collect();
                s.on_bars(&bars)?;
                s.state().map(|_| ())
            }
        }
    }

    /// Forgets that a quarantine was requested for `name@version` (it was reactivated).
    pub fn clear_quarantine_request(&self, name: &str, version: &str) {
        if let Ok(mut s) = self.requested.lock() {
            s.remove(&(name.to_string(), version.to_string()));
        }
    }

    /// Loads `bytes` and makes it the active version of its name in this process.
    pub fn install(&self, bytes: &[u8]) -> Result<Arc<Plugin>, Error> {
        let p = self.runtime.load(bytes)?;
        self.registry.activate(p.clone());
        Ok(p)
    }
}
