//! The collect worker's telemetry (operational metrics, not trading metrics): samples stored,
//! source failures by cause and the time of the last sample, per product, registered in the
//! host's Prometheus registry and recorded by the worker itself. A product's series go when this
//! process stops collecting it (deleted, or its lease moved to another replica), so the label
//! `product` is bounded by the product table.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Every failure kind ([`crate::error_kind`] and `database`): each product's counters start at 0
/// for all of them, so a healthy product shows a zero error rate rather than no data.
pub const FAILURE_KINDS: [&str; 7] = ["http", "timeout", "status", "decode", "empty_book", "config", "database"];

/// Counters of the collect worker.
#[derive(Debug, Clone)]
pub struct CollectTelemetry {
    /// Samples stored, by product.
    pub samples: IntCounterVec,
    /// Failures by product and kind (`http`, `timeout`, `status`, `decode`, `empty_book`,
    /// `config`, `database`).
    pub source_errors: IntCounterVec,
    /// When the last sample of a product was stored, seconds since the Unix epoch.
    pub last_sample: GaugeVec,
    /// Products with a `last_sample` series.
    products: Arc<Mutex<BTreeSet<String>>>,
}

impl CollectTelemetry {
    /// Creates the counters and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let samples = IntCounterVec::new(Opts::new("cgaf_samples_total", "Samples stored"), &["product"])?;
        let source_errors =
            IntCounterVec::new(Opts::new("cgaf_source_errors_total", "Market-source failures"), &["product", "kind"])?;
        let last_sample = GaugeVec::new(
            Opts::new("cgaf_last_sample_timestamp_seconds", "When the product's last sample was stored (Unix time)"),
            &["product"],
        )?;
        registry.register(Box::new(samples.clone()))?;
        registry.register(Box::new(source_errors.clone()))?;
        registry.register(Box::new(last_sample.clone()))?;
        Ok(Self { samples, source_errors, last_sample, products: Arc::default() })
    }

    /// Records a stored sample of `product`.
    pub fn stored(&self, product: &str) {
        self.samples.with_label_values(&[product]).inc();
        self.last_sample.with_label_values(&[product]).set(unix_now());
        if let Ok(mut p) = self.products.lock() {
            if !p.contains(product) {
                p.insert(product.to_string());
                for kind in FAILURE_KINDS {
                    self.source_errors.with_label_values(&[product, kind]);
                }
            }
        }
    }

    /// Records a failure of `product` of kind `kind` (see [`crate::error_kind`]).
    pub fn failed(&self, product: &str, kind: &str) {
        self.source_errors.with_label_values(&[product, kind]).inc();
    }

    /// Drops the last-sample series of every product not in `collected` (the products this
    /// process collects now), so a product collected elsewhere or deleted does not look stale.
    pub fn retain<'a>(&self, collected: impl IntoIterator<Item = &'a str>) {
        let keep: BTreeSet<&str> = collected.into_iter().collect();
        if let Ok(mut p) = self.products.lock() {
            p.retain(|product| {
                let held = keep.contains(product.as_str());
                if !held {
                    let _ = self.last_sample.remove_label_values(&[product]);
                }
                held
            });
        }
    }
}

/// Now, seconds since the Unix epoch.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_samples_and_failures_by_kind() {
        let registry = Registry::new();
        let t = CollectTelemetry::register(&registry).unwrap();
        t.stored("BTC-USD");
        t.stored("ETH-USD");
        t.failed("BTC-USD", "config");
        assert_eq!(t.samples.with_label_values(&["BTC-USD"]).get(), 1);
        assert_eq!(t.source_errors.with_label_values(&["BTC-USD", "config"]).get(), 1);
        let errors = registry.gather().into_iter().find(|f| f.name() == "cgaf_source_errors_total").unwrap();
        assert_eq!(errors.get_metric().len(), 2 * FAILURE_KINDS.len(), "every kind starts at 0");
        assert!(t.last_sample.with_label_values(&["BTC-USD"]).get() > 1.7e9);
        assert!(CollectTelemetry::register(&registry).is_err(), "registered twice");
        t.retain(["BTC-USD"]);
        let family = registry.gather().into_iter().find(|f| f.name() == "cgaf_last_sample_timestamp_seconds").unwrap();
        assert_eq!(family.get_metric().len(), 1, "ETH-USD is no longer collected here");
    }
}
