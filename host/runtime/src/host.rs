//! [`PluginHost`]: the runtime plus the registry of active versions, with every call timed,
//! counted, and a version that keeps failing handed to a quarantine hook (the host stores the
//! quarantine and reactivates the previous version on every replica).

use crate::accounting::{Accounting, CallInputs, FailureRecord, Gate, QuarantineRequest};
use crate::canary::Canary;
use crate::error::Error;
use crate::plugin_limits::Measured;
use crate::registry::Registry;
use crate::runtime::{CallTrace, Plugin, Runtime, RuntimeSettings, StrategyInstance};
use crate::types::{Bar, Matrix, PluginKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Bars of a strategy's sizing call: the largest batch the service feeds one call (a sweep's).
pub const SIZING_BARS: usize = 4096;
/// Length of a transform's sizing series (the largest window `cgaf plugin test` uses).
pub const SIZING_SERIES: usize = 128;
/// Matrices of a blender's sizing call.
pub const SIZING_MATRICES: usize = 5;
/// Size of each matrix of a blender's sizing call.
pub const SIZING_MATRIX: usize = 64;

/// `n` bars of a gentle wave, one a second.
fn smoke_bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let p = 100.0 + (i as f64 * 0.3).sin();
            Bar {
                time_ms: i as i64 * 1000,
                open: p,
                high: p + 0.1,
                low: p - 0.1,
                close: p,
                volume: 1.0,
                buy_volume: 0.5,
                sell_volume: 0.5,
            }
        })
        .collect()
}

/// The runtime, the active plugins, and the quarantine policy.
pub struct PluginHost {
    /// The engine.
    pub runtime: Runtime,
    /// Active versions and statistics.
    pub registry: Registry,
    gate: Arc<Gate>,
    /// Running canaries by plugin name (the candidate shadows the active version's calls).
    canaries: RwLock<HashMap<String, Arc<Canary>>>,
    /// False while no canary runs: the calls' fast path skips the lookup.
    any_canary: AtomicBool,
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
            gate: Arc::new(Gate::default()),
            canaries: RwLock::new(HashMap::new()),
            any_canary: AtomicBool::new(false),
        })
    }

    /// Sets what happens when a version must be quarantined.
    pub fn set_quarantine_hook(&self, hook: impl Fn(QuarantineRequest) + Send + Sync + 'static) {
        self.gate.set_hook(hook);
    }

    /// Sets where the records of faulted calls (with their inputs) go; called on the failing
    /// call's thread, so it must not block.
    pub fn set_failure_sink(&self, sink: impl Fn(FailureRecord) + Send + Sync + 'static) {
        self.gate.set_sink(sink);
    }

    /// True when this process asked to quarantine `name@version` and it was not reactivated since.
    pub fn quarantine_requested(&self, name: &str, version: &str) -> bool {
        self.gate.is_requested(name, version)
    }

    fn after<T>(
        &self,
        plugin: &Plugin,
        elapsed: std::time::Duration,
        trace: CallTrace,
        r: &Result<T, Error>,
        inputs: impl FnOnce() -> CallInputs,
    ) {
        let counters = self.registry.counters(plugin);
        let health =
            counters.record(elapsed, trace.peak_memory, r.as_ref().map(|_| ()), self.registry.quarantine_after());
        self.gate.after(&plugin.info.name, &plugin.info.version, &counters, health);
        if let Err(e) = r {
            if e.is_plugin_fault() && self.gate.wants_failures() {
                self.gate.failed(FailureRecord {
                    name: plugin.info.name.clone(),
                    version: plugin.info.version.clone(),
                    sha256: plugin.sha256.clone(),
                    error: e.clone(),
                    limits: self.runtime.limits(plugin),
                    inputs: inputs(),
                });
            }
        }
    }

    /// Runs the active image transform `name`. While a canary of `name` runs, its candidate is
    /// run on the same input right after (its result only compared, see [`Canary`]).
    pub fn transform(&self, name: &str, series: &[f64], params: &[(String, String)]) -> Result<Matrix, Error> {
        let plugin = self.registry.get(name)?;
        let (r, elapsed, trace) = self.transform_measured(&plugin, series, params);
        if let Some(canary) = self.canary_for(&plugin) {
            let t = Instant::now();
            let (c, c_trace) = self.runtime.transform_traced(&canary.candidate, series, params);
            let c_elapsed = t.elapsed();
            canary.record(|tally| {
                tally.compare_call(&r, &c, elapsed, c_elapsed, trace.peak_memory, c_trace.peak_memory, true)
            });
        }
        r
    }

    /// Runs a given image-transform version (counted like any call).
    pub fn transform_with(
        &self,
        plugin: &Plugin,
        series: &[f64],
        params: &[(String, String)],
    ) -> Result<Matrix, Error> {
        self.transform_measured(plugin, series, params).0
    }

    fn transform_measured(
        &self,
        plugin: &Plugin,
        series: &[f64],
        params: &[(String, String)],
    ) -> (Result<Matrix, Error>, std::time::Duration, CallTrace) {
        let t = Instant::now();
        let (r, trace) = self.runtime.transform_traced(plugin, series, params);
        let elapsed = t.elapsed();
        self.after(plugin, elapsed, trace, &r, || CallInputs::ImageTransform {
            series: series.to_vec(),
            params: params.to_vec(),
        });
        (r, elapsed, trace)
    }

    /// Runs the active blender `name` (shadowed by a running canary's candidate, like
    /// [`PluginHost::transform`]).
    pub fn blend(&self, name: &str, matrices: &[Matrix], params: &[(String, String)]) -> Result<Matrix, Error> {
        let plugin = self.registry.get(name)?;
        self.blend_live(&plugin, matrices, params)
    }

    /// A live call of blender version `plugin` (the active one, read by the caller): counted like
    /// any call, and shadowed by a running canary's candidate.
    pub fn blend_live(
        &self,
        plugin: &Plugin,
        matrices: &[Matrix],
        params: &[(String, String)],
    ) -> Result<Matrix, Error> {
        let (r, elapsed, trace) = self.blend_measured(plugin, matrices, params);
        if let Some(canary) = self.canary_for(plugin) {
            let t = Instant::now();
            let (c, c_trace) = self.runtime.blend_traced(&canary.candidate, matrices, params);
            let c_elapsed = t.elapsed();
            canary.record(|tally| {
                tally.compare_call(&r, &c, elapsed, c_elapsed, trace.peak_memory, c_trace.peak_memory, false)
            });
        }
        r
    }

    /// Runs a given blender version (counted, and quarantined after repeated faults, like any
    /// call).
    pub fn blend_with(
        &self,
        plugin: &Plugin,
        matrices: &[Matrix],
        params: &[(String, String)],
    ) -> Result<Matrix, Error> {
        self.blend_measured(plugin, matrices, params).0
    }

    fn blend_measured(
        &self,
        plugin: &Plugin,
        matrices: &[Matrix],
        params: &[(String, String)],
    ) -> (Result<Matrix, Error>, std::time::Duration, CallTrace) {
        let t = Instant::now();
        let (r, trace) = self.runtime.blend_traced(plugin, matrices, params);
        let elapsed = t.elapsed();
        self.after(plugin, elapsed, trace, &r, || CallInputs::Blender {
            matrices: matrices.to_vec(),
            params: params.to_vec(),
        });
        (r, elapsed, trace)
    }

    /// Makes `canaries` the running set (one per name). A canary already known by id keeps its
    /// untaken tally; the others start empty.
    pub fn set_canaries(&self, canaries: Vec<Canary>) {
        let Ok(mut m) = self.canaries.write() else { return };
        let mut next = HashMap::with_capacity(canaries.len());
        for c in canaries {
            let kept = m.get(&c.name).filter(|k| k.id == c.id && k.candidate.sha256 == c.candidate.sha256).cloned();
            next.insert(c.name.clone(), kept.unwrap_or_else(|| Arc::new(c)));
        }
        self.any_canary.store(!next.is_empty(), Ordering::SeqCst);
        *m = next;
    }

    /// Every running canary this process knows.
    pub fn canaries(&self) -> Vec<Arc<Canary>> {
        self.canaries.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// The running canary whose active version is `plugin`, if any (the candidate shadows it).
    pub fn canary_for(&self, plugin: &Plugin) -> Option<Arc<Canary>> {
        if !self.any_canary.load(Ordering::Relaxed) {
            return None;
        }
        let m = self.canaries.read().ok()?;
        m.get(&plugin.info.name).filter(|c| c.active_version == plugin.info.version).cloned()
    }

    /// Creates an instance of the active strategy `name` (counted, see
    /// [`PluginHost::strategy_instance`]).
    pub fn strategy(&self, name: &str, params: &[(String, String)]) -> Result<StrategyInstance, Error> {
        let plugin = self.registry.get(name)?;
        self.strategy_instance(&plugin, params)
    }

    /// Creates an instance of a given strategy version whose every call (`create` included) is
    /// counted like a transform's — calls, faults by kind, latency, peak memory — with lock-free
    /// counters it keeps, and whose faults count towards the version's quarantine and leave a
    /// failure record with the call's inputs.
    pub fn strategy_instance(
        &self,
        plugin: &Arc<Plugin>,
        params: &[(String, String)],
    ) -> Result<StrategyInstance, Error> {
        let accounting = Accounting {
            counters: self.registry.counters(plugin),
            quarantine_after: self.registry.quarantine_after(),
            gate: self.gate.clone(),
        };
        self.runtime.strategy_accounted(plugin, params, Some(accounting))
    }

    /// Runs `plugin` once on sample data: the check an upload passes after [`Runtime::load`]
    /// (which validated the component, its world, imports and `info()`), and what
    /// `cgaf plugin build` checks a freshly built component with.
    pub fn smoke_test(&self, plugin: &Arc<Plugin>) -> Result<(), Error> {
        self.smoke_calls(plugin, false).map(|_| ())
    }

    /// The smoke call, then a sizing call on inputs as large as the service's largest ones (a
    /// strategy fed [`SIZING_BARS`] bars in one call, a transform a series of
    /// [`SIZING_SERIES`], a blender [`SIZING_MATRICES`] matrices of [`SIZING_MATRIX`]): the
    /// peak memory and the slowest call the upload chooses the plugin's limits from (see
    /// [`crate::plugin_limits::Measured::choose`]). A failed smoke call is the error; a sizing
    /// call that fails (e.g. past the cap's deadline) leaves its measurement as far as it went.
    pub fn measure(&self, plugin: &Arc<Plugin>) -> Result<Measured, Error> {
        self.smoke_calls(plugin, true)
    }

    fn smoke_calls(&self, plugin: &Arc<Plugin>, sizing: bool) -> Result<Measured, Error> {
        let mut m = Measured::default();
        let mut note = |started: Instant, peak: usize| {
            m.slowest_call = m.slowest_call.max(started.elapsed());
            m.peak_memory = m.peak_memory.max(peak);
        };
        match plugin.info.kind {
            PluginKind::ImageTransform => {
                let series: Vec<f64> = (0..32).map(|i| (i as f64 * 0.4).sin() + 0.01 * i as f64).collect();
                let t = Instant::now();
                let (r, trace) = self.runtime.transform_traced(plugin, &series, &[]);
                note(t, trace.peak_memory);
                r?;
                if sizing {
                    let series: Vec<f64> =
                        (0..SIZING_SERIES).map(|i| (i as f64 * 0.13).sin() + 0.003 * i as f64).collect();
                    let t = Instant::now();
                    let (_, trace) = self.runtime.transform_traced(plugin, &series, &[]);
                    note(t, trace.peak_memory);
                }
            }
            PluginKind::Blender => {
                let m4 = Matrix { size: 4, data: (0..16).map(|i| i as f64 / 16.0).collect() };
                let t = Instant::now();
                let (r, trace) = self.runtime.blend_traced(plugin, &[m4.clone(), m4], &[]);
                note(t, trace.peak_memory);
                r?;
                if sizing {
                    let n = SIZING_MATRIX;
                    let ms: Vec<Matrix> = (0..SIZING_MATRICES)
                        .map(|k| Matrix {
                            size: n,
                            data: (0..n * n).map(|i| (i as f64 * 0.37 + k as f64).sin() * 0.9).collect(),
                        })
                        .collect();
                    let t = Instant::now();
                    let (_, trace) = self.runtime.blend_traced(plugin, &ms, &[]);
                    note(t, trace.peak_memory);
                }
            }
            PluginKind::Strategy => {
                let t = Instant::now();
                let mut s = self.runtime.strategy(plugin, &[])?;
                note(t, s.peak_memory());
                let t = Instant::now();
                let r = s.on_bars(&smoke_bars(64));
                note(t, s.peak_memory());
                r?;
                let t = Instant::now();
                let r = s.state();
                note(t, s.peak_memory());
                r?;
                if sizing {
                    let t = Instant::now();
                    let r = s.on_bars(&smoke_bars(SIZING_BARS));
                    note(t, s.peak_memory());
                    if r.is_ok() {
                        let t = Instant::now();
                        let _ = s.state();
                        note(t, s.peak_memory());
                    }
                }
            }
        }
        Ok(m)
    }

    /// Forgets that a quarantine was requested for `name@version` (it was reactivated).
    pub fn clear_quarantine_request(&self, name: &str, version: &str) {
        self.gate.clear(name, version);
    }

    /// Loads `bytes` and makes it the active version of its name in this process.
    pub fn install(&self, bytes: &[u8]) -> Result<Arc<Plugin>, Error> {
        let p = self.runtime.load(bytes)?;
        self.registry.activate(p.clone());
        Ok(p)
    }
}
