//! The collect worker's telemetry (operational metrics, not trading metrics): samples stored and
//! source failures per product, registered in the host's Prometheus registry and recorded by the
//! worker itself.

use prometheus::{IntCounterVec, Opts, Registry};

/// Counters of the collect worker.
#[derive(Debug, Clone)]
pub struct CollectTelemetry {
    /// Samples stored, by product.
    pub samples: IntCounterVec,
    /// Failures by product and kind (`http`, `timeout`, `status`, `decode`, `empty_book`,
    /// `config`, `database`).
    pub source_errors: IntCounterVec,
}

impl CollectTelemetry {
    /// Creates the counters and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let samples = IntCounterVec::new(Opts::new("cgaf_samples_total", "Samples stored"), &["product"])?;
        let source_errors =
            IntCounterVec::new(Opts::new("cgaf_source_errors_total", "Market-source failures"), &["product", "kind"])?;
        registry.register(Box::new(samples.clone()))?;
        registry.register(Box::new(source_errors.clone()))?;
        Ok(Self { samples, source_errors })
    }

    /// Records a stored sample of `product`.
    pub fn stored(&self, product: &str) {
        self.samples.with_label_values(&[product]).inc();
    }

    /// Records a failure of `product` of kind `kind` (see [`crate::error_kind`]).
    pub fn failed(&self, product: &str, kind: &str) {
        self.source_errors.with_label_values(&[product, kind]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_samples_and_failures_by_kind() {
        let registry = Registry::new();
        let t = CollectTelemetry::register(&registry).unwrap();
        t.stored("BTC-USD");
        t.failed("BTC-USD", "config");
        assert_eq!(t.samples.with_label_values(&["BTC-USD"]).get(), 1);
        assert_eq!(t.source_errors.with_label_values(&["BTC-USD", "config"]).get(), 1);
        assert!(CollectTelemetry::register(&registry).is_err(), "registered twice");
    }
}
