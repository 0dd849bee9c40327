//! What the handlers share: the store, the image cache, the metrics, the plugin host and the
//! API's settings, with the bearer-token check.

use crate::blend_events::BlendWakeups;
use crate::{Cache, Metrics};
use cgaf_store::Store;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The bearer token that writes must present.
    pub token: String,
    /// Largest accepted JSON request body, bytes.
    pub max_json_body: u64,
    /// Largest accepted plugin upload, bytes.
    pub max_plugin_bytes: u64,
}

/// Largest CSV import by default: 256 MiB (a year of 1-minute bars is about 60 MB).
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 << 20;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database (writes and readiness only; reads come from the cache).
    pub store: Store,
    /// The image cache.
    pub cache: Cache,
    /// Wake-ups of the blend streams (fed by the cache's refresher).
    pub blend_wakeups: BlendWakeups,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The plugin host (uploads are validated with it; transforms run on it).
    pub plugins: Option<Arc<cgaf_runtime::PluginHost>>,
    pub(crate) max_plugin_bytes: u64,
    token_digest: [u8; 32],
    pub(crate) max_json_body: u64,
    pub(crate) serves_api: bool,
    /// Largest accepted CSV import, bytes.
    pub(crate) max_import_bytes: u64,
    /// Coarser intervals an import is rolled up into.
    pub(crate) rollup_intervals: Vec<i64>,
    /// Whether `GET /` serves the web page (`--ui`).
    pub(crate) ui: bool,
    /// Set to true when the server shuts down: long-lived answers (event streams) end then.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiState {
    /// State over `store`, with a fresh cache.
    pub fn new(store: Store, metrics: Metrics, settings: &ApiSettings) -> Self {
        Self {
            store,
            cache: Cache::default(),
            blend_wakeups: BlendWakeups::default(),
            metrics,
            plugins: None,
            max_plugin_bytes: settings.max_plugin_bytes,
            token_digest: Sha256::digest(settings.token.as_bytes()).into(),
            max_json_body: settings.max_json_body,
            serves_api: true,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
            rollup_intervals: cgaf_trade::domain::history::DEFAULT_ROLLUP_INTERVALS.to_vec(),
            ui: true,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// The same state with the web page at `GET /` on (the default) or off (`--ui=false`: 404).
    pub fn with_ui(mut self, ui: bool) -> Self {
        self.ui = ui;
        self
    }

    /// Ends every long-lived answer (the event streams), so that a graceful shutdown does not
    /// wait for clients that never hang up.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`ApiState::close_streams`] has been called.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// The same state taking CSV imports of up to `max_import_bytes`, rolled up into
    /// `rollup_intervals` (the service's `--rollup-intervals`).
    pub fn with_history_imports(mut self, max_import_bytes: u64, rollup_intervals: Vec<i64>) -> Self {
        self.max_import_bytes = max_import_bytes;
        self.rollup_intervals = rollup_intervals;
        self
    }

    /// State of a worker-only process: it serves `/healthz`, `/readyz` and `/metrics` only, and
    /// its readiness does not wait for an image cache.
    pub fn ops_only(store: Store, metrics: Metrics) -> Self {
        Self {
            serves_api: false,
            ..Self::new(store, metrics, &ApiSettings { token: String::new(), max_json_body: 0, max_plugin_bytes: 0 })
        }
    }

    /// The same state with a plugin host.
    pub fn with_plugins(mut self, host: Arc<cgaf_runtime::PluginHost>) -> Self {
        self.plugins = Some(host);
        self
    }

    /// Constant-time check of a presented token (digests are compared, so length leaks nothing).
    pub fn token_matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        d.ct_eq(&self.token_digest).into()
    }
}
