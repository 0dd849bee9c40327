//! The engine, the deny-all host, validation at load, and bounded calls.

use crate::accounting::{Accounting, CallInputs, CallLimits, FailureRecord, StrategyCall};
use crate::artifact::{Artifact, ArtifactKey};
use crate::bindings;
use crate::error::{Error, PluginError};
use crate::limits::Limiter;
use crate::plugin_limits::{LimitsCell, PluginLimits};
use crate::stats::CallTimer;
use crate::types::{Bar, Decision, Matrix, ParamSpec, Pixels, PluginInfo, PluginKind};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Limits and options of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Deadline of one call.
    pub call_deadline: Duration,
    /// Deadline of `info()` and of creating a strategy instance.
    pub info_deadline: Duration,
    /// Linear-memory cap per instance, bytes.
    pub memory_limit: usize,
    /// Largest number of values a result may hold (matrix elements, decisions).
    pub max_result_values: usize,
    /// Seed of the random source handed to plugins that import `wasi:random`.
    pub seed: u64,
    /// Folder for wasmtime's on-disk compile cache (compile once per component and engine
    /// config, across restarts); `None` keeps compiled code in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Import prefixes a component may have (deny-all implementations are linked for them).
    pub allowed_imports: Vec<String>,
    /// Use wasmtime's pooling allocator (pre-reserved instance slots; far cheaper per call).
    pub pooling: bool,
    /// The deployment's key that signs compiled plugins shared between replicas; `None` shares
    /// nothing (see [`crate::artifact`]).
    pub artifact_key: Option<ArtifactKey>,
}

/// Concurrent instances the pooling allocator reserves (calls in flight plus live strategies).
const POOL_INSTANCES: u32 = 256;

/// WASI interfaces a component may import: the ones Rust's `std` pulls in for stdio, exit,
/// environment, clocks and randomness. Files and sockets are refused.
pub const DEFAULT_ALLOWED_IMPORTS: &[&str] = &[
    "gaf:plugin/types@0.1.0",
    "gaf:plugin/types@0.2.0",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
];

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            call_deadline: Duration::from_millis(100),
            info_deadline: Duration::from_secs(1),
            memory_limit: 64 << 20,
            max_result_values: 1 << 20,
            seed: 0x6367_6166,
            cache_dir: None,
            allowed_imports: DEFAULT_ALLOWED_IMPORTS.iter().map(|s| s.to_string()).collect(),
            pooling: true,
            artifact_key: None,
        }
    }
}

/// What a plugin's store holds: the deny-all WASI context and the limiter.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A clock frozen at the Unix epoch: plugins cannot read the time.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The compiled, validated form of a component, pre-instantiated for fast calls.
pub struct Plugin {
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// What `info()` said.
    pub info: PluginInfo,
    component: Component,
    pre: Pre,
    limits: LimitsCell,
}

impl Plugin {
    /// The limits its calls run under now (the operator's caps until chosen ones are applied
    /// with [`Runtime::set_limits`]).
    pub fn limits(&self) -> PluginLimits {
        self.limits.get()
    }

    /// The contract version the component was built against.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::TransformNext(_) | Pre::StrategyNext(_) => Contract::V0_2,
            Pre::Transform(_) | Pre::Strategy(_) | Pre::Blender(_) => Contract::V0_1,
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("sha256", &self.sha256).field("info", &self.info).finish()
    }
}

/// A version of the WIT contract the host serves; a component is run through the bindings of the
/// version it was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `gaf:plugin@0.1.0` (`wit/plugin.wit`), released and frozen.
    V0_1,
    /// `gaf:plugin@0.2.0` (`wit/next/plugin.wit`), a draft: 0.1.0 plus `transform-pixels` and
    /// the strategy's `targets`.
    V0_2,
}

impl Contract {
    /// Every version served side by side.
    pub const SERVED: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// The package version, e.g. `0.1.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }
}

enum Pre {
    Transform(bindings::transform::ImageTransformPre<HostState>),
    TransformNext(bindings::transform_next::ImageTransformPre<HostState>),
    Strategy(bindings::strategy::StrategyPre<HostState>),
    StrategyNext(bindings::strategy_next::StrategyPre<HostState>),
    Blender(bindings::blender::BlenderPre<HostState>),
}

/// What one call used, as far as the sandbox measures it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTrace {
    /// Largest linear memory the instance had, bytes.
    pub peak_memory: usize,
}

impl CallTrace {
    fn of(store: &Store<HostState>) -> CallTrace {
        CallTrace { peak_memory: store.data().limiter.peak_memory }
    }
}

/// The plugin engine: one per process.
pub struct Runtime {
    engine: Engine,
    engine_fingerprint: String,
    linker: Linker<HostState>,
    settings: RuntimeSettings,
    compiled: Mutex<HashMap<String, Arc<Plugin>>>,
    stop_ticker: Arc<AtomicBool>,
    random_bytes: Vec<u8>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("settings", &self.settings).finish()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Epoch ticks per second (deadline granularity 1 ms).
const TICKS_PER_SECOND: u64 = 1000;

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// How many times an instantiation is tried when the kernel refuses, for a moment, to seal the
/// memory image wasmtime makes on a component's first instantiation.
const SEAL_TRIES: usize = 3;

/// Runs `instantiate`, again when it failed only because sealing the component's memory image
/// (a memfd) was refused: Linux answers EBUSY while something briefly holds one of its pages
/// (seen once under load with an 18 MB Python component). Nothing was instantiated then, and the
/// next try makes the image anew. Any other error is returned at once.
fn instantiating<T>(mut instantiate: impl FnMut() -> wasmtime::Result<T>) -> wasmtime::Result<T> {
    let mut tries = 1;
    loop {
        match instantiate() {
            Err(e) if tries < SEAL_TRIES && is_seal_refusal(&e) => {
                tracing::warn!(error = %e, tries, "sealing a memory image was refused; instantiating again");
                std::thread::sleep(Duration::from_millis(10 * tries as u64));
                tries += 1;
            }
            r => return r,
        }
    }
}

/// True when `e` is the memfd crate's refusal to add seals (its message, anywhere in the chain).
fn is_seal_refusal(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| c.to_string().contains("cannot add seals to the memfd"))
}

/// A stable name of `engine`'s compatibility for precompiled code (hex sha256 of what wasmtime
/// hashes for it).
fn fingerprint(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..16])
}

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// Creates the engine (epoch interruption, bounded stack), the deny-all WASI linker and the
    /// deadline ticker.
    pub fn new(settings: RuntimeSettings) -> Result<Self, Error> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.max_wasm_stack(512 << 10);
        if settings.pooling {
            // Pre-reserved slots: instantiation reuses memory that stays paged in, instead of
            // mapping, faulting and unmapping a fresh linear memory on every call.
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_component_instances(POOL_INSTANCES)
                .total_core_instances(POOL_INSTANCES * 4)
                .total_memories(POOL_INSTANCES * 2)
                .total_tables(POOL_INSTANCES * 4)
                .total_stacks(POOL_INSTANCES)
                .max_memories_per_component(4)
                .max_tables_per_component(8)
                .max_memory_size(settings.memory_limit)
                .linear_memory_keep_resident(4 << 20)
                .table_keep_resident(64 << 10)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        if let Some(dir) = &settings.cache_dir {
            std::fs::create_dir_all(dir).map_err(internal)?;
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(dir);
            match wasmtime::Cache::new(cc) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!(error = %e, "compile cache disabled"),
            }
        }
        let engine = Engine::new(&config).map_err(internal)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(internal)?;
        // The contract's shared types: an interface without functions, in every served version.
        for version in Contract::SERVED {
            linker.instance(&format!("gaf:plugin/types@{}", version.as_str())).map_err(internal)?;
        }
        let stop_ticker = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop_ticker.clone();
            std::thread::Builder::new()
                .name("cgaf-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_micros(1_000_000 / TICKS_PER_SECOND));
                        engine.increment_epoch();
                    }
                })
                .map_err(internal)?;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(settings.seed);
        let mut random_bytes = vec![0u8; 4096];
        rng.fill_bytes(&mut random_bytes);
        let engine_fingerprint = fingerprint(&engine);
        Ok(Self {
            engine,
            engine_fingerprint,
            linker,
            settings,
            compiled: Mutex::new(HashMap::new()),
            stop_ticker,
            random_bytes,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    /// Names the engine configuration compiled code belongs to (wasmtime version, compiler,
    /// target, tunables): code compiled by one fingerprint is only used by the same one.
    pub fn engine_fingerprint(&self) -> &str {
        &self.engine_fingerprint
    }

    /// The plugin compiled from component `sha256`, if this runtime loaded it already.
    pub fn loaded(&self, sha256: &str) -> Option<Arc<Plugin>> {
        self.compiled.lock().ok()?.get(sha256).cloned()
    }

    /// The signed native code of `plugin`, for other replicas; `None` without an artifact key.
    pub fn artifact(&self, plugin: &Plugin) -> Result<Option<Artifact>, Error> {
        let Some(key) = &self.settings.artifact_key else { return Ok(None) };
        let code = plugin.component.serialize().map_err(internal)?;
        let signature = key.sign(&self.engine_fingerprint, &plugin.sha256, &code);
        Ok(Some(Artifact { engine: self.engine_fingerprint.clone(), sha256: plugin.sha256.clone(), code, signature }))
    }

    /// Loads a plugin from native code another replica compiled and signed, instead of
    /// compiling its component: the signature and the engine are checked first, then the same
    /// validation as [`Runtime::load`] (imports, world, `info()`).
    pub fn load_artifact(&self, artifact: &Artifact) -> Result<Arc<Plugin>, Error> {
        if let Some(p) = self.compiled.lock().map_err(internal)?.get(&artifact.sha256) {
            return Ok(p.clone());
        }
        let Some(key) = &self.settings.artifact_key else {
            return Err(Error::Artifact("no artifact key is configured on this replica".into()));
        };
        if artifact.engine != self.engine_fingerprint {
            return Err(Error::Artifact(format!(
                "compiled for engine {}, this replica runs {}",
                artifact.engine, self.engine_fingerprint
            )));
        }
        let component = crate::artifact::deserialize(&self.engine, key, artifact)?;
        self.validate(component, artifact.sha256.clone())
    }

    /// The limits `plugin`'s calls run under (what a failure record keeps).
    pub fn limits(&self, plugin: &Plugin) -> CallLimits {
        let l = plugin.limits();
        CallLimits {
            call_deadline_ms: l.call_deadline.as_millis() as u64,
            info_deadline_ms: self.settings.info_deadline.as_millis() as u64,
            memory_limit: l.memory_limit,
            max_result_values: self.settings.max_result_values,
        }
    }

    /// The operator's caps: no plugin's limits go above them.
    pub fn caps(&self) -> PluginLimits {
        PluginLimits { call_deadline: self.settings.call_deadline, memory_limit: self.settings.memory_limit }
    }

    /// Makes `limits`, capped, the limits of `plugin`'s calls from the next call on; returns
    /// what was applied.
    pub fn set_limits(&self, plugin: &Plugin, limits: PluginLimits) -> PluginLimits {
        let applied = limits.capped(self.caps());
        plugin.limits.set(applied);
        applied
    }

    fn new_store(&self, deadline: Duration, memory_limit: usize) -> Store<HostState> {
        let bytes = self.random_bytes.clone();
        let wasi = WasiCtxBuilder::new()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::Deterministic::new(self.random_bytes.clone()))
            .insecure_random(wasmtime_wasi::Deterministic::new(bytes))
            .insecure_random_seed(u128::from(self.settings.seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            HostState { wasi, table: ResourceTable::new(), limiter: Limiter::new(memory_limit) },
        );
        store.limiter(|s| &mut s.limiter);
        let ticks = (deadline.as_millis() as u64).max(1) * TICKS_PER_SECOND / 1000;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Translates a wasmtime error of a call into the typed error.
    fn call_error(&self, store: &Store<HostState>, e: wasmtime::Error, deadline: Duration) -> Error {
        call_failure(store, e, deadline)
    }

    /// Validates `bytes` as a plugin component and compiles it (once per sha256): a component,
    /// imports within the allow-list, exactly one plugin world exported and nothing more, and an
    /// `info()` that answers within the info deadline with a valid name, version and kind.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, Error> {
        let sha256 = sha256_hex(bytes);
        if let Some(p) = self.compiled.lock().map_err(internal)?.get(&sha256) {
            return Ok(p.clone());
        }
        const MAGIC: &[u8] = b"\0asm";
        let is_component = bytes.len() >= 8 && &bytes[..4] == MAGIC && bytes[6..8] == [1, 0];
        let is_core = bytes.len() >= 8 && &bytes[..4] == MAGIC && bytes[4..8] == [1, 0, 0, 0];
        if !is_component {
            return Err(Error::NotAComponent(if is_core {
                "this is a core WebAssembly module; build a component (cargo build --target wasm32-wasip2)".into()
            } else {
                "the bytes do not start with the WebAssembly component header".into()
            }));
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| Error::NotAComponent(format!("{e:#}")))?;
        self.validate(component, sha256)
    }

    /// Checks a compiled component (imports, world, `info()`) and remembers it by `sha256`.
    fn validate(&self, component: Component, sha256: String) -> Result<Arc<Plugin>, Error> {
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !self.settings.allowed_imports.iter().any(|p| name.starts_with(p.as_str())) {
                return Err(Error::ForbiddenImport(name.to_string()));
            }
        }
        // componentize-py (Python plugins) also exports an instance `exports` holding types and
        // one function, `init`: its build-time initialiser, already run into the component's
        // memory image and never called by this host. It is not part of the world check.
        let mut exports: Vec<String> = ty
            .exports(&self.engine)
            .filter(|(name, item)| !(*name == "exports" && componentize_py_init(&self.engine, &item.ty)))
            .map(|(n, _)| n.to_string())
            .collect();
        exports.sort();
        let strategies = "gaf:plugin/strategies@0.1.0";
        let strategies_next = "gaf:plugin/strategies@0.2.0";
        // The worlds of 0.1.0 and 0.2.0 differ in the image transform's `transform-pixels` and the
        // strategy resource's `targets`; a blender's world is the same in both (served as 0.1.0).
        let (kind, contract) = match exports.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["info", "transform"] => (PluginKind::ImageTransform, Contract::V0_1),
            ["info", "transform", "transform-pixels"] => (PluginKind::ImageTransform, Contract::V0_2),
            ["blend", "info"] => (PluginKind::Blender, Contract::V0_1),
            [s, "info"] if *s == strategies => (PluginKind::Strategy, Contract::V0_1),
            [s, "info"] if *s == strategies_next => (PluginKind::Strategy, Contract::V0_2),
            other => {
                return Err(Error::WrongWorld(format!(
                    "the component exports {other:?}; a plugin exports exactly one world of gaf:plugin@0.1.0: \
                     image-transform [info, transform], blender [blend, info] or strategy [{strategies}, info] \
                     (or gaf:plugin@0.2.0's image-transform [info, transform, transform-pixels] or strategy \
                     [{strategies_next}, info])"
                )))
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| Error::WrongWorld(format!("{e:#}")))?;
        let pre = match (kind, contract) {
            (PluginKind::ImageTransform, Contract::V0_2) => Pre::TransformNext(
                bindings::transform_next::ImageTransformPre::new(pre)
                    .map_err(|e| Error::WrongWorld(format!("{e:#}")))?,
            ),
            (PluginKind::ImageTransform, Contract::V0_1) => Pre::Transform(
                bindings::transform::ImageTransformPre::new(pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?,
            ),
            (PluginKind::Strategy, Contract::V0_1) => Pre::Strategy(
                bindings::strategy::StrategyPre::new(pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?,
            ),
            (PluginKind::Strategy, Contract::V0_2) => Pre::StrategyNext(
                bindings::strategy_next::StrategyPre::new(pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?,
            ),
            (PluginKind::Blender, _) => {
                Pre::Blender(bindings::blender::BlenderPre::new(pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?)
            }
        };
        let mut plugin = Plugin {
            sha256: sha256.clone(),
            component,
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                kind,
                description: String::new(),
                params: vec![],
            },
            pre,
            limits: LimitsCell::new(self.caps()),
        };
        let info = self.call_info(&plugin)?;
        if info.kind != kind {
            return Err(Error::InvalidInfo(format!(
                "info() says kind {} but the component exports the {kind} world",
                info.kind
            )));
        }
        info.validate().map_err(|e| Error::InvalidInfo(e.to_string()))?;
        plugin.info = info;
        let plugin = Arc::new(plugin);
        self.compiled.lock().map_err(internal)?.insert(sha256, plugin.clone());
        Ok(plugin)
    }

    fn call_info(&self, plugin: &Plugin) -> Result<PluginInfo, Error> {
        let deadline = self.settings.info_deadline;
        let mut store = self.new_store(deadline, plugin.limits().memory_limit);
        macro_rules! info_of {
            ($pre:expr, $m:ident) => {{
                let inst =
                    instantiating(|| $pre.instantiate(&mut store)).map_err(|e| self.call_error(&store, e, deadline))?;
                let i = inst.call_info(&mut store).map_err(|e| self.call_error(&store, e, deadline))?;
                use bindings::$m::gaf::plugin::types as t;
                PluginInfo {
                    name: i.name,
                    version: i.version,
                    kind: match i.kind {
                        t::PluginKind::ImageTransform => PluginKind::ImageTransform,
                        t::PluginKind::Strategy => PluginKind::Strategy,
                        t::PluginKind::Blender => PluginKind::Blender,
                    },
                    description: i.description,
                    params: i
                        .params
                        .into_iter()
                        .map(|p| ParamSpec { name: p.name, kind: p.kind, default: p.default, doc: p.doc })
                        .collect(),
                }
            }};
        }
        Ok(match &plugin.pre {
            Pre::Transform(pre) => info_of!(pre, transform),
            Pre::TransformNext(pre) => info_of!(pre, transform_next),
            Pre::Strategy(pre) => info_of!(pre, strategy),
            Pre::StrategyNext(pre) => info_of!(pre, strategy_next),
            Pre::Blender(pre) => info_of!(pre, blender),
        })
    }

    fn check_matrix(&self, size: u32, data: Vec<f64>) -> Result<Matrix, Error> {
        let size = size as usize;
        if data.len() > self.settings.max_result_values {
            return Err(Error::InvalidResult(format!(
                "{} values exceed the result limit of {}",
                data.len(),
                self.settings.max_result_values
            )));
        }
        if size.checked_mul(size) != Some(data.len()) {
            return Err(Error::InvalidResult(format!("size {size} but {} values (want size²)", data.len())));
        }
        Ok(Matrix { size, data })
    }

    /// Runs an image transform.
    pub fn transform(&self, plugin: &Plugin, series: &[f64], params: &[(String, String)]) -> Result<Matrix, Error> {
        self.transform_traced(plugin, series, params).0
    }

    /// Runs an image transform and reports what the call used (for `cgaf plugin test`).
    pub fn transform_traced(
        &self,
        plugin: &Plugin,
        series: &[f64],
        params: &[(String, String)],
    ) -> (Result<Matrix, Error>, CallTrace) {
        /// One `transform` call through the bindings of world `$m`.
        macro_rules! call_transform {
            ($pre:expr, $m:ident, $err:ident) => {{
                use bindings::$m::gaf::plugin::types as t;
                let limits = plugin.limits();
                let deadline = limits.call_deadline;
                let mut store = self.new_store(deadline, limits.memory_limit);
                let params: Vec<t::Param> =
                    params.iter().map(|(n, v)| t::Param { name: n.clone(), value: v.clone() }).collect();
                let r = (|| {
                    let inst = instantiating(|| $pre.instantiate(&mut store))
                        .map_err(|e| self.call_error(&store, e, deadline))?;
                    let r = inst
                        .call_transform(&mut store, series, &params)
                        .map_err(|e| self.call_error(&store, e, deadline))?;
                    match r {
                        Ok(m) => self.check_matrix(m.size, m.data),
                        Err(e) => Err(Error::Plugin($err(e))),
                    }
                })();
                (r, CallTrace::of(&store))
            }};
        }
        match &plugin.pre {
            Pre::Transform(pre) => call_transform!(pre, transform, plugin_error_t),
            Pre::TransformNext(pre) => call_transform!(pre, transform_next, plugin_error_n),
            _ => {
                let e = Error::KindMismatch { expected: "image-transform".into(), found: plugin.info.kind.to_string() };
                (Err(e), CallTrace::default())
            }
        }
    }

    /// Runs an image transform and returns its matrix as 8-bit pixels
    /// ([`cgaf_plugin_contract::to_pixel`]): computed inside the sandbox by a `gaf:plugin@0.2.0`
    /// component (`transform-pixels`, an eighth of the bytes out of the guest), mapped here for
    /// a 0.1.0 one — the same pixels either way.
    pub fn transform_pixels(
        &self,
        plugin: &Plugin,
        series: &[f64],
        params: &[(String, String)],
    ) -> Result<Pixels, Error> {
        let Pre::TransformNext(pre) = &plugin.pre else {
            let m = self.transform(plugin, series, params)?;
            return Ok(Pixels {
                size: m.size,
                data: m.data.iter().map(|&v| cgaf_plugin_contract::to_pixel(v)).collect(),
            });
        };
        use bindings::transform_next::gaf::plugin::types as t;
        let limits = plugin.limits();
        let deadline = limits.call_deadline;
        let mut store = self.new_store(deadline, limits.memory_limit);
        let params: Vec<t::Param> =
            params.iter().map(|(n, v)| t::Param { name: n.clone(), value: v.clone() }).collect();
        let inst = instantiating(|| pre.instantiate(&mut store)).map_err(|e| self.call_error(&store, e, deadline))?;
        let r = inst
            .call_transform_pixels(&mut store, series, &params)
            .map_err(|e| self.call_error(&store, e, deadline))?;
        let p = r.map_err(|e| Error::Plugin(plugin_error_n(e)))?;
        let size = p.size as usize;
        if p.data.len() > self.settings.max_result_values {
            return Err(Error::InvalidResult(format!(
                "{} pixels exceed the result limit of {}",
                p.data.len(),
                self.settings.max_result_values
            )));
        }
        if size.checked_mul(size) != Some(p.data.len()) {
            return Err(Error::InvalidResult(format!("size {size} but {} pixels (want size²)", p.data.len())));
        }
        Ok(Pixels { size, data: p.data })
    }

    /// Runs a blender on `matrices` (oldest first).
    pub fn blend(&self, plugin: &Plugin, matrices: &[Matrix], params: &[(String, String)]) -> Result<Matrix, Error> {
        self.blend_traced(plugin, matrices, params).0
    }

    /// Runs a blender and reports what the call used (for `cgaf plugin test`).
    pub fn blend_traced(
        &self,
        plugin: &Plugin,
        matrices: &[Matrix],
        params: &[(String, String)],
    ) -> (Result<Matrix, Error>, CallTrace) {
        let Pre::Blender(pre) = &plugin.pre else {
            let e = Error::KindMismatch { expected: "blender".into(), found: plugin.info.kind.to_string() };
            return (Err(e), CallTrace::default());
        };
        use bindings::blender::gaf::plugin::types as t;
        let limits = plugin.limits();
        let deadline = limits.call_deadline;
        let mut store = self.new_store(deadline, limits.memory_limit);
        let params: Vec<t::Param> =
            params.iter().map(|(n, v)| t::Param { name: n.clone(), value: v.clone() }).collect();
        let ms: Vec<t::Matrix> =
            matrices.iter().map(|m| t::Matrix { size: m.size as u32, data: m.data.clone() }).collect();
        let r = (|| {
            let inst =
                instantiating(|| pre.instantiate(&mut store)).map_err(|e| self.call_error(&store, e, deadline))?;
            let r = inst.call_blend(&mut store, &ms, &params).map_err(|e| self.call_error(&store, e, deadline))?;
            match r {
                Ok(m) => self.check_matrix(m.size, m.data),
                Err(e) => Err(Error::Plugin(plugin_error_b(e))),
            }
        })();
        (r, CallTrace::of(&store))
    }

    /// Creates a strategy instance with `params`; it keeps its own store (and state) until
    /// dropped. Its calls are not counted (see [`crate::PluginHost::strategy_instance`]).
    pub fn strategy(&self, plugin: &Arc<Plugin>, params: &[(String, String)]) -> Result<StrategyInstance, Error> {
        self.strategy_accounted(plugin, params, None)
    }

    /// Creates a strategy instance whose calls (this `create` included) are recorded by
    /// `accounting`, when given.
    pub fn strategy_accounted(
        &self,
        plugin: &Arc<Plugin>,
        params: &[(String, String)],
        accounting: Option<Accounting>,
    ) -> Result<StrategyInstance, Error> {
        let started = CallTimer::start();
        let (r, peak) = self.create_strategy(plugin, params);
        if let Some(a) = &accounting {
            let result = r.as_ref().map(|_| ());
            a.record(&plugin.info.name, &plugin.info.version, started.elapsed(), peak, result, false);
            if let Err(e) = &r {
                if e.is_plugin_fault() && a.gate.wants_failures() {
                    a.gate.failed(FailureRecord {
                        name: plugin.info.name.clone(),
                        version: plugin.info.version.clone(),
                        sha256: plugin.sha256.clone(),
                        error: e.clone(),
                        limits: self.limits(plugin),
                        inputs: CallInputs::Strategy {
                            params: params.to_vec(),
                            restored: None,
                            fed: vec![],
                            failed: StrategyCall::Create,
                        },
                    });
                }
            }
        }
        let (store, instance, resource) = r?;
        Ok(StrategyInstance {
            plugin: plugin.clone(),
            store,
            instance,
            resource,
            deadline: plugin.limits().call_deadline,
            max_values: self.settings.max_result_values,
            broken: false,
            limits: self.limits(plugin),
            history: accounting.map(|accounting| History {
                accounting,
                params: params.to_vec(),
                restored: None,
                fed_bars: Vec::new(),
                fed_calls: Vec::new(),
            }),
            last_call: "create",
        })
    }

    #[allow(clippy::type_complexity)]
    fn create_strategy(
        &self,
        plugin: &Arc<Plugin>,
        params: &[(String, String)],
    ) -> (Result<(Store<HostState>, StrategyGuest, ResourceAny), Error>, usize) {
        let deadline = self.settings.info_deadline;
        let mut store = self.new_store(deadline, plugin.limits().memory_limit);
        macro_rules! create {
            ($pre:expr, $world:ident, $guest:ident, $error:ident) => {{
                use bindings::$world::gaf::plugin::types as t;
                let params: Vec<t::Param> =
                    params.iter().map(|(n, v)| t::Param { name: n.clone(), value: v.clone() }).collect();
                let inst =
                    instantiating(|| $pre.instantiate(&mut store)).map_err(|e| self.call_error(&store, e, deadline))?;
                let r = inst
                    .gaf_plugin_strategies()
                    .strategy()
                    .call_create(&mut store, &params)
                    .map_err(|e| self.call_error(&store, e, deadline))?;
                let resource = r.map_err(|e| Error::Plugin($error(e)))?;
                Ok((StrategyGuest::$guest(inst), resource))
            }};
        }
        let r = (|| match &plugin.pre {
            Pre::Strategy(pre) => create!(pre, strategy, V0_1, plugin_error_s),
            Pre::StrategyNext(pre) => create!(pre, strategy_next, V0_2, plugin_error_sn),
            _ => Err(Error::KindMismatch { expected: "strategy".into(), found: plugin.info.kind.to_string() }),
        })();
        let peak = store.data().limiter.peak_memory;
        (r.map(|(inst, resource)| (store, inst, resource)), peak)
    }
}

/// The generated `plugin-error` of each world → [`PluginError`].
macro_rules! plugin_error_from {
    ($($f:ident: $world:ident),*) => {$(
        fn $f(e: bindings::$world::gaf::plugin::types::PluginError) -> PluginError {
            use bindings::$world::gaf::plugin::types::PluginError as E;
            match e {
                E::InvalidParams(m) => PluginError::InvalidParams(m),
                E::InvalidInput(m) => PluginError::InvalidInput(m),
                E::Failed(m) => PluginError::Failed(m),
            }
        }
    )*};
}
plugin_error_from!(
    plugin_error_t: transform,
    plugin_error_n: transform_next,
    plugin_error_b: blender,
    plugin_error_s: strategy,
    plugin_error_sn: strategy_next
);

/// True for componentize-py's `exports` instance: types and one function, `init`.
fn componentize_py_init(engine: &Engine, item: &wasmtime::component::types::ComponentItem) -> bool {
    use wasmtime::component::types::ComponentItem as I;
    let I::ComponentInstance(inst) = item else { return false };
    inst.exports(engine).all(|(name, e)| match e.ty {
        I::Type(_) | I::Resource(_) => true,
        I::ComponentFunc(_) => name == "init",
        _ => false,
    })
}

/// A failed call → the typed error: the memory cap (the limiter refused a grow), the deadline
/// (epoch interrupt), or another trap.
fn call_failure(store: &Store<HostState>, e: wasmtime::Error, deadline: Duration) -> Error {
    let limiter = &store.data().limiter;
    if limiter.memory_limit_hit {
        return Error::MemoryLimit(limiter.memory_limit);
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => Error::Timeout(deadline.as_millis() as u64),
        Some(t) => Error::Trap(t.to_string()),
        None => Error::Trap(format!("{e:#}")),
    }
}

/// A decision whose target is finite and within [-1, 1] and whose reason is at most 1024 bytes.
fn checked_decision(target: f64, reason: Option<String>) -> Result<Decision, Error> {
    check_target(target)?;
    if reason.as_ref().is_some_and(|r| r.len() > 1024) {
        return Err(Error::InvalidResult("reason longer than 1024 bytes".into()));
    }
    Ok(Decision { target, reason })
}

/// A target must be finite and in [-1, 1].
fn check_target(target: f64) -> Result<(), Error> {
    if target.is_finite() && (-1.0..=1.0).contains(&target) {
        Ok(())
    } else {
        Err(Error::InvalidResult(format!("target {target} is outside [-1, 1]")))
    }
}

/// Bars an accounted instance keeps since its last known state before it asks for a fresh state
/// (so a failure's inputs stay bounded and replayable).
const HISTORY_BARS: usize = 4096;

/// What an accounted instance keeps to record its calls and, when one faults, what it was given:
/// its parameters, its last known state and the calls since.
struct History {
    accounting: Accounting,
    params: Vec<(String, String)>,
    restored: Option<String>,
    /// Bars of the `on-bars` calls since `restored`, in order; `fed_calls` holds each call's count.
    fed_bars: Vec<Bar>,
    fed_calls: Vec<u32>,
}

impl History {
    fn rebased(&mut self, state: String) {
        self.restored = Some(state);
        self.fed_bars.clear();
        self.fed_calls.clear();
    }

    fn inputs(&self, failed: StrategyCall) -> CallInputs {
        let mut fed = Vec::with_capacity(self.fed_calls.len());
        let mut at = 0;
        for &n in &self.fed_calls {
            let end = (at + n as usize).min(self.fed_bars.len());
            fed.push(self.fed_bars[at..end].to_vec());
            at = end;
        }
        CallInputs::Strategy { params: self.params.clone(), restored: self.restored.clone(), fed, failed }
    }
}

/// A strategy's instance, through the bindings of the contract it was built against.
enum StrategyGuest {
    V0_1(bindings::strategy::Strategy),
    V0_2(bindings::strategy_next::Strategy),
}

/// A live strategy instance with its own store; each call gets a fresh deadline.
pub struct StrategyInstance {
    /// The plugin version it runs.
    pub plugin: Arc<Plugin>,
    store: Store<HostState>,
    instance: StrategyGuest,
    resource: ResourceAny,
    deadline: Duration,
    max_values: usize,
    broken: bool,
    limits: CallLimits,
    /// Set when the instance's calls are counted.
    history: Option<History>,
    last_call: &'static str,
}

impl StrategyInstance {
    fn fail(&mut self, e: wasmtime::Error) -> Error {
        // A trapped instance cannot be called again.
        self.broken = true;
        call_failure(&self.store, e, self.deadline)
    }

    fn arm(&mut self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Trap("the instance trapped earlier and cannot be used".into()));
        }
        let ticks = (self.deadline.as_millis() as u64).max(1) * TICKS_PER_SECOND / 1000;
        self.store.set_epoch_deadline(ticks);
        Ok(())
    }

    /// The name of the last call made (`create`, `restore`, `on_bars`, `state`): the one that
    /// failed, after an error.
    pub fn last_call(&self) -> &'static str {
        self.last_call
    }

    /// Records a call of an accounted instance; a fault's inputs go to the failure sink.
    fn account<T>(&mut self, started: CallTimer, r: &Result<T, Error>, failed: impl FnOnce() -> StrategyCall) {
        let Some(h) = &self.history else { return };
        let peak = self.store.data().limiter.peak_memory;
        let info = &self.plugin.info;
        let ends_faults = self.last_call == "on_bars";
        h.accounting.record(&info.name, &info.version, started.elapsed(), peak, r.as_ref().map(|_| ()), ends_faults);
        if let Err(e) = r {
            if e.is_plugin_fault() && h.accounting.gate.wants_failures() {
                h.accounting.gate.failed(FailureRecord {
                    name: info.name.clone(),
                    version: info.version.clone(),
                    sha256: self.plugin.sha256.clone(),
                    error: e.clone(),
                    limits: self.limits,
                    inputs: h.inputs(failed()),
                });
            }
        }
    }

    /// Feeds `bars`; returns one decision per bar (targets checked to be finite, in [-1, 1]).
    pub fn on_bars(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, Error> {
        self.feed(bars, Self::on_bars_unaccounted)
    }

    /// Feeds one bar: [`StrategyInstance::on_bars`] of `[bar]`, its one decision without a list
    /// around it (what a run makes per bar).
    pub fn on_bar(&mut self, bar: &Bar) -> Result<Decision, Error> {
        self.feed(std::slice::from_ref(bar), Self::on_bar_unaccounted)
    }

    fn on_bar_unaccounted(&mut self, bars: &[Bar]) -> Result<Decision, Error> {
        if let ([_], StrategyGuest::V0_2(_)) = (bars, &self.instance) {
            self.arm()?;
        }
        match (bars, &self.instance) {
            ([b], StrategyGuest::V0_2(inst)) => {
                // `on-bar`: the same answer as a one-bar `on-bars` without a list to lower into
                // the sandbox or lift out of it.
                use bindings::strategy_next::gaf::plugin::types as t;
                let bar = cgaf_plugin_contract::bar_record!(t::Bar, b);
                let r = inst.gaf_plugin_strategies().strategy().call_on_bar(&mut self.store, self.resource, bar);
                let r = r.map_err(|e| self.fail(e))?;
                let d = r.map_err(|e| Error::Plugin(plugin_error_sn(e)))?;
                checked_decision(d.target, d.reason)
            }
            _ => {
                let mut ds = self.on_bars_unaccounted(bars)?;
                self.check_count(ds.len(), 1, "decisions")?;
                Ok(ds.remove(0))
            }
        }
    }

    /// Feeds `bars` exactly as [`StrategyInstance::on_bars`] does (the same state afterwards) and
    /// returns only their targets, checked the same way: what a sweep needs. A `gaf:plugin@0.2.0`
    /// strategy answers it with one `targets` call — bars as columns in, one `list<f64>` out, so
    /// each crosses the sandbox boundary as one copy and no reasons are made; a 0.1.0 strategy
    /// answers `on-bars` and its reasons are dropped. A failure is recorded (and replayed) as the
    /// `on-bars` call of the same bars.
    pub fn targets(&mut self, bars: &[Bar]) -> Result<Vec<f64>, Error> {
        self.feed(bars, Self::targets_unaccounted)
    }

    /// A call feeding `bars`: counted, its bars kept for a failure's replay.
    fn feed<T>(&mut self, bars: &[Bar], call: fn(&mut Self, &[Bar]) -> Result<T, Error>) -> Result<T, Error> {
        if self.history.as_ref().is_some_and(|h| h.fed_bars.len() + bars.len() > HISTORY_BARS) {
            // Bounded inputs: a fresh state replaces the bars kept since the last one.
            self.state()?;
        }
        self.last_call = "on_bars";
        let started = CallTimer::start();
        let r = call(self, bars);
        self.account(started, &r, || StrategyCall::OnBars { bars: bars.to_vec() });
        if r.is_ok() {
            if let Some(h) = &mut self.history {
                h.fed_bars.extend_from_slice(bars);
                h.fed_calls.push(bars.len() as u32);
            }
        }
        r
    }

    fn on_bars_unaccounted(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, Error> {
        if let ([_], StrategyGuest::V0_2(_)) = (bars, &self.instance) {
            return self.on_bar_unaccounted(bars).map(|d| vec![d]);
        }
        self.arm()?;
        macro_rules! on_bars {
            ($inst:expr, $world:ident, $error:ident) => {{
                use bindings::$world::gaf::plugin::types as t;
                let wit: Vec<t::Bar> = bars.iter().map(|b| cgaf_plugin_contract::bar_record!(t::Bar, b)).collect();
                let guest = $inst.gaf_plugin_strategies().strategy();
                let r = guest.call_on_bars(&mut self.store, self.resource, &wit);
                let r = r.map_err(|e| self.fail(e))?;
                let ds = r.map_err(|e| Error::Plugin($error(e)))?;
                self.check_count(ds.len(), bars.len(), "decisions")?;
                ds.into_iter().map(|d| checked_decision(d.target, d.reason)).collect()
            }};
        }
        match &self.instance {
            StrategyGuest::V0_1(inst) => on_bars!(inst, strategy, plugin_error_s),
            StrategyGuest::V0_2(inst) => on_bars!(inst, strategy_next, plugin_error_sn),
        }
    }

    fn targets_unaccounted(&mut self, bars: &[Bar]) -> Result<Vec<f64>, Error> {
        if !matches!(self.instance, StrategyGuest::V0_2(_)) {
            return Ok(self.on_bars_unaccounted(bars)?.into_iter().map(|d| d.target).collect());
        }
        self.arm()?;
        use bindings::strategy_next::gaf::plugin::types as t;
        let columns = t::BarColumns {
            time_ms: bars.iter().map(|b| b.time_ms).collect(),
            open: bars.iter().map(|b| b.open).collect(),
            high: bars.iter().map(|b| b.high).collect(),
            low: bars.iter().map(|b| b.low).collect(),
            close: bars.iter().map(|b| b.close).collect(),
            volume: bars.iter().map(|b| b.volume).collect(),
            buy_volume: bars.iter().map(|b| b.buy_volume).collect(),
            sell_volume: bars.iter().map(|b| b.sell_volume).collect(),
        };
        let r = match &self.instance {
            StrategyGuest::V0_2(inst) => {
                inst.gaf_plugin_strategies().strategy().call_targets(&mut self.store, self.resource, &columns)
            }
            StrategyGuest::V0_1(_) => return Err(Error::Internal("targets of a 0.1.0 strategy".into())),
        };
        let r = r.map_err(|e| self.fail(e))?;
        let targets = r.map_err(|e| Error::Plugin(plugin_error_sn(e)))?;
        self.check_count(targets.len(), bars.len(), "targets")?;
        targets.iter().try_for_each(|&t| check_target(t))?;
        Ok(targets)
    }

    /// One answer per bar, within the result limit.
    fn check_count(&self, answers: usize, bars: usize, what: &str) -> Result<(), Error> {
        if answers != bars {
            return Err(Error::InvalidResult(format!("{answers} {what} for {bars} bars")));
        }
        if answers > self.max_values {
            return Err(Error::InvalidResult(format!("too many {what}")));
        }
        Ok(())
    }

    /// The instance's state as JSON text (checked to be JSON).
    pub fn state(&mut self) -> Result<serde_json::Value, Error> {
        self.last_call = "state";
        let started = CallTimer::start();
        let r = self.state_text().and_then(|s| {
            let v = serde_json::from_str(&s).map_err(|e| Error::InvalidResult(format!("state is not JSON: {e}")))?;
            Ok((v, s))
        });
        self.account(started, &r, || StrategyCall::State);
        let (value, text) = r?;
        if let Some(h) = &mut self.history {
            h.rebased(text);
        }
        Ok(value)
    }

    fn state_text(&mut self) -> Result<String, Error> {
        self.arm()?;
        let s = match &self.instance {
            StrategyGuest::V0_1(inst) => {
                inst.gaf_plugin_strategies().strategy().call_state(&mut self.store, self.resource)
            }
            StrategyGuest::V0_2(inst) => {
                inst.gaf_plugin_strategies().strategy().call_state(&mut self.store, self.resource)
            }
        };
        let s = s.map_err(|e| self.fail(e))?;
        if s.len() > 1 << 20 {
            return Err(Error::InvalidResult("state larger than 1 MiB".into()));
        }
        Ok(s)
    }

    /// The largest linear memory this instance has had so far, bytes.
    pub fn peak_memory(&self) -> usize {
        self.store.data().limiter.peak_memory
    }

    /// Restores a state written by [`StrategyInstance::state`].
    pub fn restore(&mut self, state: &serde_json::Value) -> Result<(), Error> {
        self.restore_text(state.to_string())
    }

    /// Restores a state given as the JSON text the plugin wrote (what a replay feeds back exactly).
    pub fn restore_text(&mut self, text: String) -> Result<(), Error> {
        self.last_call = "restore";
        let started = CallTimer::start();
        let r = self.arm().and_then(|()| {
            let (store, resource) = (&mut self.store, self.resource);
            let r = match &self.instance {
                StrategyGuest::V0_1(inst) => inst
                    .gaf_plugin_strategies()
                    .strategy()
                    .call_restore(store, resource, &text)
                    .map(|r| r.map_err(plugin_error_s)),
                StrategyGuest::V0_2(inst) => inst
                    .gaf_plugin_strategies()
                    .strategy()
                    .call_restore(store, resource, &text)
                    .map(|r| r.map_err(plugin_error_sn)),
            };
            let r = r.map_err(|e| self.fail(e))?;
            r.map_err(Error::Plugin)
        });
        self.account(started, &r, || StrategyCall::Restore { state: text.clone() });
        r?;
        if let Some(h) = &mut self.history {
            h.rebased(text);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memfd crate's error as wasmtime hands it on: its message under wasmtime's context.
    fn seal_refused() -> wasmtime::Error {
        wasmtime::Error::msg("cannot add seals to the memfd").context("creating a memory image")
    }

    #[test]
    fn a_refused_seal_is_tried_again_and_other_errors_are_not() {
        assert!(is_seal_refusal(&seal_refused()));
        assert!(!is_seal_refusal(&wasmtime::Error::msg("out of fuel")));
        // Refused once, then instantiated.
        let mut calls = 0;
        let r = instantiating(|| {
            calls += 1;
            if calls == 1 {
                Err(seal_refused())
            } else {
                Ok(7)
            }
        });
        assert_eq!((r.unwrap(), calls), (7, 2));
        // Refused every time: given up after SEAL_TRIES.
        let mut calls = 0;
        let r: wasmtime::Result<()> = instantiating(|| {
            calls += 1;
            Err(seal_refused())
        });
        assert!(r.is_err());
        assert_eq!(calls, SEAL_TRIES);
        // Any other error: at once.
        let mut calls = 0;
        let r: wasmtime::Result<()> = instantiating(|| {
            calls += 1;
            Err(wasmtime::Error::msg("trap"))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
