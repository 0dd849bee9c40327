//! The `/metrics` registry and the API's own telemetry (request latency). Each worker registers
//! and records its own metrics in the same registry (the host creates it); the API only serves
//! it.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The registry served on `/metrics`, and the API's request metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP request latency by route and status, seconds.
    pub request_seconds: HistogramVec,
    /// Runs this process executes now, by mode (`paper`, `backtest`).
    pub trade_runs: IntGaugeVec,
    /// Paper runs that ended in this process, by outcome (`ended`, `failed`).
    pub trade_run_ends: IntCounterVec,
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
        Self::with_registry(Registry::new())
    }

    /// The API's metrics registered in `registry`, which the workers share.
    pub fn with_registry(registry: Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let fast = vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let request_seconds =
            histogram("cgaf_http_request_duration_seconds", "HTTP request latency", &["route", "status"], fast);
        let trade_runs = IntGaugeVec::new(Opts::new("cgaf_trade_runs", "Runs this process executes now"), &["mode"])
            .expect("valid metric");
        registry.register(Box::new(trade_runs.clone())).expect("unique metric");
        let trade_run_ends = counter("cgaf_trade_run_ends_total", "Paper runs ended here, by outcome", &["outcome"]);
        Self { registry, request_seconds, trade_runs, trade_run_ends }
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
