//! The calculate worker's telemetry (operational metrics): calculate and compute time, image
//! edge, failures and the time of the last image per product, the whole cycle's duration and the
//! schedule it should keep, registered in the host's Prometheus registry and recorded by the
//! worker itself. A product's series go when this process stops calculating it, so the label
//! `product` is bounded by the product table.

use crate::{Error, Outcome};
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// When the product's last images were written, seconds since the Unix epoch.
    pub last_image: GaugeVec,
    /// One whole cycle over this process's products, seconds.
    pub cycle_seconds: Histogram,
    /// The calculate schedule's interval, seconds (what a cycle should stay under).
    pub interval_seconds: Gauge,
    /// 1 while the next cycle encodes its PNGs `small`, 0 while `fast`.
    pub png_small: IntGauge,
    /// Products with per-product series.
    products: Arc<Mutex<BTreeSet<String>>>,
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
            last_image: GaugeVec::new(
                Opts::new(
                    "cgaf_last_image_timestamp_seconds",
                    "When the product's last images were written (Unix time)",
                ),
                &["product"],
            )?,
            cycle_seconds: Histogram::with_opts(
                HistogramOpts::new("cgaf_calculate_cycle_seconds", "One calculate cycle over this process's products")
                    .buckets(BUCKETS.to_vec()),
            )?,
            interval_seconds: Gauge::new(
                "cgaf_calculate_interval_seconds",
                "The calculate schedule's interval (a cycle should take less)",
            )?,
            png_small: IntGauge::new(
                "cgaf_calculate_png_small",
                "1 while image PNGs are encoded small (zlib), 0 while fast (--png-encoding auto switches)",
            )?,
            products: Arc::default(),
        };
        registry.register(Box::new(t.calculate_seconds.clone()))?;
        registry.register(Box::new(t.compute_seconds.clone()))?;
        registry.register(Box::new(t.calculate_errors.clone()))?;
        registry.register(Box::new(t.image_size.clone()))?;
        registry.register(Box::new(t.last_image.clone()))?;
        registry.register(Box::new(t.cycle_seconds.clone()))?;
        registry.register(Box::new(t.interval_seconds.clone()))?;
        registry.register(Box::new(t.png_small.clone()))?;
        Ok(t)
    }

    /// Records one product's result of one cycle.
    pub fn record(&self, product: &str, result: &Result<Outcome, Error>) {
        match result {
            Ok(Outcome::Computed { size, compute, total }) => {
                self.calculate_seconds.with_label_values(&[product]).observe(total.as_secs_f64());
                self.compute_seconds.with_label_values(&[product]).observe(compute.as_secs_f64());
                self.image_size.with_label_values(&[product]).set(*size as i64);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                self.last_image.with_label_values(&[product]).set(now.map_or(0.0, |d| d.as_secs_f64()));
                if let Ok(mut p) = self.products.lock() {
                    if !p.contains(product) {
                        p.insert(product.to_string());
                        // Starts at 0, so a healthy product shows a zero failure rate.
                        self.calculate_errors.with_label_values(&[product]);
                    }
                }
            }
            Ok(_) => {}
            Err(_) => self.calculate_errors.with_label_values(&[product]).inc(),
        }
    }

    /// Records one whole cycle over this process's `products` and drops the per-product series
    /// of products it no longer calculates.
    pub fn cycle<'a>(&self, elapsed: Duration, products: impl IntoIterator<Item = &'a str>) {
        self.cycle_seconds.observe(elapsed.as_secs_f64());
        let keep: BTreeSet<&str> = products.into_iter().collect();
        if let Ok(mut p) = self.products.lock() {
            p.retain(|product| {
                let held = keep.contains(product.as_str());
                if !held {
                    let _ = self.last_image.remove_label_values(&[product]);
                    let _ = self.image_size.remove_label_values(&[product]);
                }
                held
            });
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
        assert!(t.last_image.with_label_values(&["BTC-USD"]).get() > 1.7e9);
        t.cycle(Duration::from_millis(7), ["BTC-USD"]);
        assert_eq!(t.cycle_seconds.get_sample_count(), 1);
        assert!(t.last_image.with_label_values(&["BTC-USD"]).get() > 0.0);
        t.cycle(Duration::from_millis(7), []);
        let family = registry.gather().into_iter().find(|f| f.name() == "cgaf_last_image_timestamp_seconds");
        assert!(family.is_none(), "BTC-USD is no longer calculated here");
    }
}
