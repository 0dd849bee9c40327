//! Prometheus metrics of the whole service, served on `/metrics`.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The service's metrics; the workers' outcomes are recorded by the host.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Samples stored, by product.
    pub samples: IntCounterVec,
    /// Market-source failures, by product and kind.
    pub source_errors: IntCounterVec,
    /// Calculate time per product (read, compute, write), seconds.
    pub calculate_seconds: HistogramVec,
    /// Image computation time per product, seconds.
    pub compute_seconds: HistogramVec,
    /// Calculate failures, by product.
    pub calculate_errors: IntCounterVec,
    /// HTTP request latency by route and status, seconds.
    pub request_seconds: HistogramVec,
    /// Image edge per product.
    pub image_size: IntGaugeVec,
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
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
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
        let samples = counter("cgaf_samples_total", "Samples stored", &["product"]);
        let source_errors = counter("cgaf_source_errors_total", "Market-source failures", &["product", "kind"]);
        let calculate_errors = counter("cgaf_calculate_errors_total", "Calculate failures", &["product"]);
        let calculate_seconds = histogram(
            "cgaf_calculate_seconds",
            "Calculate time per product: read, compute, write",
            &["product"],
            fast.clone(),
        );
        let compute_seconds =
            histogram("cgaf_compute_seconds", "Image computation and encoding per product", &["product"], fast.clone());
        let request_seconds =
            histogram("cgaf_http_request_duration_seconds", "HTTP request latency", &["route", "status"], fast);
        let image_size = IntGaugeVec::new(Opts::new("cgaf_image_size", "Image edge per product"), &["product"])
            .expect("valid metric");
        registry.register(Box::new(image_size.clone())).expect("unique metric");
        let trade_runs = IntGaugeVec::new(Opts::new("cgaf_trade_runs", "Runs this process executes now"), &["mode"])
            .expect("valid metric");
        registry.register(Box::new(trade_runs.clone())).expect("unique metric");
        let trade_run_ends = counter("cgaf_trade_run_ends_total", "Paper runs ended here, by outcome", &["outcome"]);
        Self {
            registry,
            samples,
            source_errors,
            calculate_seconds,
            compute_seconds,
            calculate_errors,
            request_seconds,
            image_size,
            trade_runs,
            trade_run_ends,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
