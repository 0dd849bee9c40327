//! crypto-gaf calculate worker: per product, one consistent snapshot of the newest samples →
//! the original crypto-gaf's five images (midpoint GASF and GADF, order-book imbalance, buys,
//! sells; "Version D" semantics) → PNG → base64 → `crypto_gaf.gafs`.
//!
//! Recomputation happens only when the table's newest samples differ from those the stored
//! images were computed from, so rows written by any writer are picked up.

pub mod features;
pub mod image;
pub mod matrix;
pub mod telemetry;
pub mod transforms;

use features::{orderbook_imbalance, trade_intensity};
pub use image::{encode_png, to_pixel, AutoEncoding, ColorType, PngEncoding};
/// What the API uses of the matrix pipeline: a tuning sweep's grid and range, submitted for a
/// calculate worker to run.
pub use matrix::sweep::{
    submit as submit_matrix_sweep, SweepGrid as MatrixSweepGrid, SweepTarget as MatrixSweepTarget,
};
pub use telemetry::CalculateTelemetry;
pub use transforms::{ImageTransforms, NativeKernels, Transforms};

use base64::Engine as _;
use cgaf_store::{GafImages, Product, SampleSignature, Snapshot, Store};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fewest samples an image is computed from (the original's threshold).
pub const MIN_SAMPLES: usize = 21;

/// Errors of the calculate worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] cgaf_store::Error),
    /// A transform failed or returned the wrong shape.
    #[error("transform: {0}")]
    Transform(String),
    /// PNG encoding failed.
    #[error("png: {0}")]
    Png(String),
    /// The computation task failed.
    #[error("worker task: {0}")]
    Task(String),
    /// A matrix-pipeline setting is invalid.
    #[error("matrix setting: {0}")]
    Setting(String),
    /// Matrix inputs are unusable (lengths differ, non-finite values).
    #[error("matrix: {0}")]
    Matrix(String),
}

/// What happened to one product in one cycle.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// New images were written.
    Computed {
        /// Image edge.
        size: usize,
        /// Time to compute and encode the images.
        compute: Duration,
        /// Time for the whole product (read, compute, write).
        total: Duration,
    },
    /// Nothing new since the stored images.
    Unchanged,
    /// Fewer than [`MIN_SAMPLES`] samples so far.
    Waiting {
        /// Samples available.
        samples: usize,
    },
}

/// Runs `name` on `series` with `image_size = n` and the given `sample_range`, passing each
/// parameter only if the transform declares it; checks the result is n×n.
fn channel(t: &dyn Transforms, name: &str, series: &[f64], sample_range: &str) -> Result<cgaf_kernels::Matrix, Error> {
    let n = series.len();
    let mut params = Vec::with_capacity(2);
    if t.accepts(name, "image_size") {
        params.push(("image_size".to_string(), n.to_string()));
    }
    if t.accepts(name, "sample_range") {
        params.push(("sample_range".to_string(), sample_range.to_string()));
    }
    let m = t.transform(name, series, &params).map_err(Error::Transform)?;
    if m.size != n {
        return Err(Error::Transform(format!("{name} returned a {0}x{0} image for {n} samples; want {n}x{n}", m.size)));
    }
    Ok(m)
}

/// One image to make: (transform, its input series, sample_range, colour, channel order).
type ImageJob<'a> = (&'a str, &'a [Vec<f64>], &'a str, ColorType, [usize; 3]);

/// Computes the five images of a snapshot (newest first), as the original's Version D did, with
/// the transforms `config` names. The five images are independent jobs spread over the cores,
/// each traced as a `calculate.image` span, a child of the span current on the calling thread.
pub fn compute_images(snapshot: &Snapshot, t: &dyn Transforms, config: &ImageTransforms) -> Result<GafImages, Error> {
    compute_images_encoded(snapshot, t, config, PngEncoding::Fast)
}

/// As [`compute_images`], the PNGs compressed as `png` says.
pub fn compute_images_encoded(
    snapshot: &Snapshot,
    t: &dyn Transforms,
    config: &ImageTransforms,
    png: PngEncoding,
) -> Result<GafImages, Error> {
    let n = snapshot.len();
    let levels = orderbook_imbalance(snapshot, 3);
    let (buy_triplets, sell_triplets) = trade_intensity(snapshot);
    let column = |triplets: &[[f64; 3]], c: usize| -> Vec<f64> { triplets.iter().map(|x| x[c]).collect() };
    let buy: Vec<Vec<f64>> = (0..3).map(|c| column(&buy_triplets, c)).collect();
    let sell: Vec<Vec<f64>> = (0..3).map(|c| column(&sell_triplets, c)).collect();

    let mid = std::slice::from_ref(&snapshot.midpoints);
    let parent = tracing::Span::current();
    let labels = ["midpoint_gasf", "midpoint_gadf", "orderbook", "buy", "sell"];
    let jobs: [ImageJob<'_>; 5] = [
        (&config.midpoint_gasf, mid, "-1,1", ColorType::Gray, [0, 0, 0]),
        (&config.midpoint_gadf, mid, "-1,1", ColorType::Gray, [0, 0, 0]),
        (&config.orderbook, &levels, "-1,1", ColorType::Rgb, [0, 1, 2]),
        // The original's channel permutation [1, 0, 2]: buys are green, sells red.
        (&config.buy, &buy, "0,1", ColorType::Rgb, [1, 0, 2]),
        (&config.sell, &sell, "0,1", ColorType::Rgb, [0, 1, 2]),
    ];
    let run = |job: &ImageJob<'_>| -> Result<String, Error> {
        let (name, series, range, color, order) = *job;
        // An RGB image's three channels are jobs of their own (rayon nests them), so the
        // eleven transforms of a product spread over the cores, not only its five images.
        // Each channel's `plugin.call` is a child of this image's span on whichever thread runs it.
        let image = tracing::Span::current();
        let ms: Vec<cgaf_kernels::Matrix> = series
            .par_iter()
            .map(|x| {
                let _entered = image.enter();
                channel(t, name, x, range)
            })
            .collect::<Result<_, _>>()?;
        match color {
            ColorType::Gray => encode_b64(png, color, n, &[&ms[0]]),
            ColorType::Rgb => encode_b64(png, color, n, &[&ms[order[0]], &ms[order[1]], &ms[order[2]]]),
        }
    };
    // The five images in parallel on rayon's pool; a panicking job is an error, never a
    // silently missing image.
    let mut results: Vec<Result<String, Error>> = jobs
        .par_iter()
        .zip(labels)
        .map(|(job, image)| {
            // rayon's threads do not inherit the caller's span: the parent is named.
            let _entered =
                tracing::info_span!(parent: &parent, "calculate.image", image, transform = job.0, edge = n).entered();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(job)))
                .unwrap_or_else(|panic| Err(Error::Task(format!("an image job panicked: {}", panic_message(&*panic)))))
        })
        .collect();
    let mut take = |i: usize| -> Result<String, Error> {
        std::mem::replace(&mut results[i], Err(Error::Task("an image taken twice".into())))
    };
    Ok(GafImages {
        midpoint: snapshot.newest_midpoint.clone().unwrap_or_default(),
        midpoint_gasf: take(0)?,
        midpoint_gadf: take(1)?,
        orderbook: take(2)?,
        buy: take(3)?,
        sell: take(4)?,
        size: n as i32,
    })
}

fn encode_b64(
    encoding: PngEncoding,
    color: ColorType,
    n: usize,
    channels: &[&cgaf_kernels::Matrix],
) -> Result<String, Error> {
    let png = encode_png(encoding, color, n, channels)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(png))
}

/// What calculate computes with.
#[derive(Clone)]
pub struct Calculator {
    /// The transforms (plugins in the service).
    pub transforms: Arc<dyn Transforms>,
    /// Which transform makes which image.
    pub config: ImageTransforms,
    /// Where each product's result is recorded (none in tools and tests).
    pub telemetry: Option<CalculateTelemetry>,
    /// How the PNGs are compressed.
    pub png: PngEncoding,
    /// What decides the encoding cycle by cycle when `png` is [`PngEncoding::Auto`] (`None`:
    /// `png` as it is, `Auto` then meaning `Small`).
    pub png_auto: Option<Arc<AutoEncoding>>,
}

impl Calculator {
    /// The encoding of this cycle's PNGs: `png_auto`'s choice when there is one, else `png`.
    pub fn encoding(&self) -> PngEncoding {
        self.png_auto.as_ref().map_or(self.png, |auto| auto.current())
    }
}

/// Products of one cycle in flight at once: enough to keep every core computing while other
/// products wait on PostgreSQL (reads, the image write), bounded so a cycle of hundreds of
/// products does not hold hundreds of snapshots or connections.
pub fn products_in_flight() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// One calculate cycle over `products`: recompute those with new samples, up to
/// [`products_in_flight`] products at once (each computes on the blocking pool), results in the
/// order of `products`. Traced as the span `calculate.cycle`, with a `calculate.product` child
/// per product.
#[tracing::instrument(name = "calculate.cycle", skip_all, fields(products = products.len()))]
pub async fn run_once(store: &Store, calc: &Calculator, products: &[Product]) -> Vec<(String, Result<Outcome, Error>)> {
    use futures::StreamExt as _;
    let started = Instant::now();
    let encoding = calc.encoding();
    let mut out = Vec::with_capacity(products.len());
    // Up to N products in flight, finished ones taken in `products`' order.
    let limit = products_in_flight();
    let mut waiting = products.iter();
    let mut in_flight = futures::stream::FuturesOrdered::new();
    loop {
        while in_flight.len() < limit {
            match waiting.next() {
                Some(p) => in_flight.push_back(product_result(store, calc, p)),
                None => break,
            }
        }
        let Some((p, r)) = in_flight.next().await else { break };
        if let Some(t) = &calc.telemetry {
            t.record(&p.product, &r);
        }
        out.push((p.product.clone(), r));
    }
    let took = started.elapsed();
    if let Some(auto) = &calc.png_auto {
        let next = auto.after_cycle(encoding, took);
        if next != encoding {
            tracing::info!(from = %encoding, to = %next, cycle_ms = took.as_millis() as u64, "PNG encoding switched (--png-encoding auto)");
        }
    }
    if let Some(t) = &calc.telemetry {
        t.cycle(took, products.iter().map(|p| p.product.as_str()));
        t.png_small.set(i64::from(calc.encoding() == PngEncoding::Small));
    }
    out
}

async fn product_result<'a>(
    store: &Store,
    calc: &Calculator,
    product: &'a Product,
) -> (&'a Product, Result<Outcome, Error>) {
    (product, calculate_product(store, calc, product).await)
}

/// Recomputes one product if its samples changed since the stored images. Traced as the span
/// `calculate.product`; the images it computes are its `calculate.image` children.
#[tracing::instrument(name = "calculate.product", skip_all, fields(product = %product.product, outcome = tracing::field::Empty))]
pub async fn calculate_product(store: &Store, calc: &Calculator, product: &Product) -> Result<Outcome, Error> {
    let r = calculate_product_inner(store, calc, product).await;
    let outcome = match &r {
        Ok(Outcome::Computed { .. }) => "computed",
        Ok(Outcome::Unchanged) => "unchanged",
        Ok(Outcome::Waiting { .. }) => "waiting",
        Err(_) => "error",
    };
    tracing::Span::current().record("outcome", outcome);
    r
}

async fn calculate_product_inner(store: &Store, calc: &Calculator, product: &Product) -> Result<Outcome, Error> {
    let started = Instant::now();
    let current = store.sample_signature(&product.product, product.max_size).await?;
    let Some(current) = current else {
        return Ok(Outcome::Waiting { samples: 0 });
    };
    if (current.count as usize) < MIN_SAMPLES {
        return Ok(Outcome::Waiting { samples: current.count as usize });
    }
    if store.computed_signature(&product.product).await? == Some(current) {
        return Ok(Outcome::Unchanged);
    }
    let snapshot = store.snapshot(&product.product, product.max_size).await?;
    if snapshot.len() < MIN_SAMPLES {
        return Ok(Outcome::Waiting { samples: snapshot.len() });
    }
    let signature = SampleSignature { newest_sample_id: snapshot.sample_ids[0], count: snapshot.len() as i32 };
    let t = Instant::now();
    let calc = calc.clone();
    // The blocking thread computes inside this product's span.
    let span = tracing::Span::current();
    let (images, snapshot) = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        (compute_images_encoded(&snapshot, calc.transforms.as_ref(), &calc.config, calc.encoding()), snapshot)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    let images = images?;
    let compute = t.elapsed();
    store.write_images(&product.product, &images, signature).await?;
    Ok(Outcome::Computed { size: snapshot.len(), compute, total: started.elapsed() })
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transform that panics on the order-book image only.
    struct PanicsOnOrderbook;

    impl Transforms for PanicsOnOrderbook {
        fn transform(
            &self,
            name: &str,
            series: &[f64],
            params: &[(String, String)],
        ) -> Result<cgaf_kernels::Matrix, String> {
            if name == "boom" {
                panic!("kaboom in {name}");
            }
            NativeKernels.transform(name, series, params)
        }
        fn accepts(&self, name: &str, param: &str) -> bool {
            NativeKernels.accepts(if name == "boom" { "gasf" } else { name }, param)
        }
    }

    fn snapshot(n: usize) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..n {
            let level = |k: usize| Some(rust_decimal::Decimal::from(((i * 7 + k * 3) % 5) as i64));
            s.sample_ids.push((n - i) as i64);
            s.midpoints.push(100.0 + (i as f64 * 0.3).sin());
            s.ask_sizes.push(vec![level(0), level(1), level(2)]);
            s.bid_sizes.push(vec![level(2), level(0), level(1)]);
            s.buys.push([Some(100.0), Some(1.0 + (i % 4) as f64), Some((i % 3) as f64)]);
            s.sells.push([Some(100.0), Some((i % 5) as f64), Some(1.0 + (i % 2) as f64)]);
        }
        s
    }

    #[test]
    fn a_panicking_image_job_is_an_error_not_a_missing_image() {
        let config = ImageTransforms { orderbook: "boom".into(), ..ImageTransforms::default() };
        let err = compute_images(&snapshot(24), &PanicsOnOrderbook, &config).unwrap_err();
        assert!(matches!(&err, Error::Task(m) if m.contains("kaboom in boom")), "{err}");
        // The other images still compute with the same transforms.
        assert!(compute_images(&snapshot(24), &PanicsOnOrderbook, &ImageTransforms::default()).is_ok());
    }
}
