//! crypto-gaf calculate worker: per product, one consistent snapshot of the newest samples →
//! the original crypto-gaf's five images (midpoint GASF and GADF, order-book imbalance, buys,
//! sells; "Version D" semantics) → PNG → base64 → `crypto_gaf.gafs`.
//!
//! Recomputation happens only when the table's newest samples differ from those the stored
//! images were computed from, so rows written by any writer are picked up.

pub mod features;
pub mod image;
pub mod transforms;

pub use features::{orderbook_imbalance, trade_intensity};
pub use image::{encode_png, to_pixel, ColorType};
pub use transforms::{ImageTransforms, NativeKernels, Transforms};

use base64::Engine as _;
use cgaf_store::{GafImages, Product, SampleSignature, Snapshot, Store};
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
/// the transforms `config` names. The five images are independent jobs spread over the cores.
pub fn compute_images(snapshot: &Snapshot, t: &dyn Transforms, config: &ImageTransforms) -> Result<GafImages, Error> {
    let n = snapshot.len();
    let levels = orderbook_imbalance(snapshot, 3);
    let (buy_triplets, sell_triplets) = trade_intensity(snapshot);
    let column = |triplets: &[[f64; 3]], c: usize| -> Vec<f64> { triplets.iter().map(|x| x[c]).collect() };
    let buy: Vec<Vec<f64>> = (0..3).map(|c| column(&buy_triplets, c)).collect();
    let sell: Vec<Vec<f64>> = (0..3).map(|c| column(&sell_triplets, c)).collect();

    let mid = std::slice::from_ref(&snapshot.midpoints);
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
        let ms: Vec<cgaf_kernels::Matrix> =
            series.iter().map(|x| channel(t, name, x, range)).collect::<Result<_, _>>()?;
        match color {
            ColorType::Gray => encode_b64(color, n, &[&ms[0]]),
            ColorType::Rgb => encode_b64(color, n, &[&ms[order[0]], &ms[order[1]], &ms[order[2]]]),
        }
    };
    let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(jobs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<String, Error>>> = (0..jobs.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<String, Error>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= jobs.len() {
                            return out;
                        }
                        out.push((i, run(&jobs[i])));
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    for (i, r) in done.into_iter().flatten() {
        results[i] = Some(r);
    }
    let mut take = |i: usize| -> Result<String, Error> {
        results[i].take().unwrap_or_else(|| Err(Error::Task("an image job did not finish".into())))
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

fn encode_b64(color: ColorType, n: usize, channels: &[&cgaf_kernels::Matrix]) -> Result<String, Error> {
    let png = encode_png(color, n, channels)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(png))
}

/// What calculate computes with.
#[derive(Clone)]
pub struct Calculator {
    /// The transforms (plugins in the service).
    pub transforms: Arc<dyn Transforms>,
    /// Which transform makes which image.
    pub config: ImageTransforms,
}

/// One calculate cycle over `products`: recompute those with new samples.
pub async fn run_once(store: &Store, calc: &Calculator, products: &[Product]) -> Vec<(String, Result<Outcome, Error>)> {
    let mut out = Vec::with_capacity(products.len());
    for p in products {
        let r = calculate_product(store, calc, p).await;
        out.push((p.product.clone(), r));
    }
    out
}

/// Recomputes one product if its samples changed since the stored images.
pub async fn calculate_product(store: &Store, calc: &Calculator, product: &Product) -> Result<Outcome, Error> {
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
    let (images, snapshot) = tokio::task::spawn_blocking(move || {
        (compute_images(&snapshot, calc.transforms.as_ref(), &calc.config), snapshot)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    let images = images?;
    let compute = t.elapsed();
    store.write_images(&product.product, &images, signature).await?;
    Ok(Outcome::Computed { size: snapshot.len(), compute, total: started.elapsed() })
}
