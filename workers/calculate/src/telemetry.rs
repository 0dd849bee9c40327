//! The calculate worker's telemetry (operational metrics): cycle and compute time, image edge
//! and failures per product, registered in the host's Prometheus registry and recorded by the
//! worker itself.

use crate::{Error, Outcome};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Latency buckets, seconds (0.5 ms … 2.5 s).
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Metrics of the calculate worker.
#[derive(Debug, Clone)]
pub struct CalculateTelemetry {
    /// Calculate time per product (read, compute, write), seconds.
    pub calculate_seconds: HistogramVec,
    /// Image computation and encoding per product, seconds.
    pub compute_seconds: HistogramVec,
    /// Calculate failures, by product.
    pub calculate_errors: IntCounterVec,
    /// Image edge per product.
    pub image_size: IntGaugeVec,
}

impl CalculateTelemetry {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()), &["product"])
        };
        let t = Self {
            calculate_seconds: histogram("cgaf_calculate_seconds", "Calculate time per product: read, compute, write")?,
            compute_seconds: histogram("cgaf_compute_seconds", "Image computation and encoding per product")?,
            calculate_errors: IntCounterVec::new(
                Opts::new("cgaf_calculate_errors_total", "Calculate failures"),
                &["product"],
            )?,
            image_size: IntGaugeVec::new(Opts::new("cgaf_image_size", "Image edge per product"), &["product"])?,
        };
        registry.register(Box::new(t.calculate_seconds.clone()))?;
        registry.register(Box::new(t.compute_seconds.clone()))?;
        registry.register(Box::new(t.calculate_errors.clone()))?;
        registry.register(Box::new(t.image_size.clone()))?;
        Ok(t)
    }

    /// Records one product's result of one cycle.
    pub fn record(&self, product: &str, result: &Result<Outcome, Error>) {
        match result {
            Ok(Outcome::Computed { size, compute, total }) => {
                self.calculate_seconds.with_label_values(&[product]).observe(total.as_secs_f64());
                self.compute_seconds.with_label_values(&[product]).observe(compute.as_secs_f64());
                self.image_size.with_label_values(&[product]).set(*size as i64);
            }
            Ok(_) => {}
            Err(_) => self.calculate_errors.with_label_values(&[product]).inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_computed_images_and_failures() {
        let registry = Registry::new();
        let t = CalculateTelemetry::register(&registry).unwrap();
        let computed =
            Outcome::Computed { size: 600, compute: Duration::from_millis(3), total: Duration::from_millis(5) };
        t.record("BTC-USD", &Ok(computed));
        t.record("BTC-USD", &Ok(Outcome::Unchanged));
        t.record("BTC-USD", &Err(Error::Png("x".into())));
        assert_eq!(t.image_size.with_label_values(&["BTC-USD"]).get(), 600);
        assert_eq!(t.calculate_seconds.with_label_values(&["BTC-USD"]).get_sample_count(), 1);
        assert_eq!(t.calculate_errors.with_label_values(&["BTC-USD"]).get(), 1);
    }
}
