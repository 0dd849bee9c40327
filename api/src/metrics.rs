//! The `/metrics` registry and the API's own telemetry (request latency by route template and
//! status — both bounded sets — and readiness). Each worker registers and records its own
//! metrics in the same registry (the host creates it); the API only serves it.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntGauge, Registry, TextEncoder};

/// The registry served on `/metrics`, and the API's request metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP request latency by route and status, seconds.
    pub request_seconds: HistogramVec,
    /// 1 when the process is ready (what `/readyz` answers), set on every scrape.
    pub ready: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with the API's metrics registered.
    pub fn new() -> Self {
        Self::with_registry(Registry::new()).expect("a fresh registry has none of the API's metrics")
    }

    /// The API's metrics registered in `registry`, which the workers share.
    pub fn with_registry(registry: Registry) -> Result<Self, prometheus::Error> {
        let buckets = vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("cgaf_http_request_duration_seconds", "HTTP request latency").buckets(buckets),
            &["route", "status"],
        )?;
        registry.register(Box::new(request_seconds.clone()))?;
        let ready = IntGauge::new("cgaf_ready", "1 when the process is ready (what /readyz answers)")?;
        registry.register(Box::new(ready.clone()))?;
        Ok(Self { registry, request_seconds, ready })
    }

    /// The registry the workers register their metrics in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
