//! Where `cgaf plugin test` takes a strategy's bars from: a CSV, a stored product range read from
//! the history store the way runs read it (`--product --from --to --bar-interval`, from
//! `--database-url` or the private PostgreSQL of `--data-dir`), the market simulator collect runs
//! (`--simulator`), or a seeded random walk.

use crate::settings::DatabaseSettings;
use anyhow::{Context, Result};
use cgaf_collect::SimSource;
use cgaf_store::Store;
use cgaf_trade::bars::{sample_point, BarReader};
use cgaf_trade::domain::request::parse_time;
use cgaf_trade::domain::{build_bars, Bar, RunSettings};
use std::path::PathBuf;
use std::time::Duration;

/// Bars of the random walk used when no source is named.
pub const WALK_BARS: usize = 5_000;

/// Milliseconds between two simulator samples: collect's default schedule (`--collect-schedule 250ms`).
pub const SIM_SAMPLE_MS: i64 = 250;

/// Where the bars come from.
#[derive(Debug, Clone, Default)]
pub enum BarsFrom {
    /// A seeded random walk of [`WALK_BARS`] bars.
    #[default]
    Walk,
    /// A CSV of bars (`time_ms,open,high,low,close,volume[,buy_volume,sell_volume]`).
    Csv(PathBuf),
    /// A product's stored history, read as runs read it.
    Stored {
        /// The database: `--database-url`, else the private PostgreSQL of `--data-dir` (the
        /// one a `cgaf serve` there runs, attached to while it runs).
        database: DatabaseSettings,
        /// The product.
        product: String,
        /// Start (RFC 3339 or ms); `None` = the first stored bar.
        from: Option<String>,
        /// End, exclusive (RFC 3339 or ms); `None` = the newest stored bar.
        to: Option<String>,
    },
    /// The market simulator of `cgaf serve --source sim`.
    Simulator {
        /// The product whose walk is simulated.
        product: String,
        /// The simulator's seed (`serve --sim-seed`).
        seed: u64,
        /// Bars to make.
        bars: usize,
    },
}

/// The bars and a line saying where they came from.
pub async fn load(from: &BarsFrom, interval_ms: i64, settings: &RunSettings) -> Result<(Vec<Bar>, String)> {
    match from {
        BarsFrom::Walk => {
            Ok((crate::bench::walk_bars(WALK_BARS, 7), format!("{WALK_BARS} random-walk 1-minute bars (seed 7)")))
        }
        BarsFrom::Csv(f) => Ok((crate::strategy_target::read_bars(f)?, f.display().to_string())),
        BarsFrom::Stored { database, product, from, to } => {
            let mut db = crate::database::open(database, true).await?;
            let r = stored(&db.store, product, from.as_deref(), to.as_deref(), interval_ms, settings).await;
            db.close().await?;
            r
        }
        BarsFrom::Simulator { product, seed, bars } => {
            let (product, seed, bars) = (product.clone(), *seed, *bars);
            tokio::task::spawn_blocking(move || simulated(&product, seed, bars, interval_ms))
                .await
                .context("the simulator task")?
        }
    }
}

async fn stored(
    store: &Store,
    product: &str,
    from: Option<&str>,
    to: Option<&str>,
    interval_ms: i64,
    settings: &RunSettings,
) -> Result<(Vec<Bar>, String)> {
    let time = |t: Option<&str>, what: &str| -> Result<Option<i64>> {
        t.map(|t| parse_time(t).map_err(|e| anyhow::anyhow!("--{what}: {e}"))).transpose()
    };
    let (from_ms, to_ms) = (time(from, "from")?, time(to, "to")?);
    store.wait_ready(Duration::from_secs(30)).await.context("waiting for the database")?;
    store.migrate().await.context("applying migrations")?;
    let now = chrono::Utc::now().timestamp_millis();
    // The same range checks as a backtest run (coverage, gaps), then the same reader.
    let range = cgaf_trade::request::resolve_range(store, product, interval_ms, from_ms, to_ms, settings, now).await?;
    let mut reader = BarReader::open(store, product, interval_ms, range.from_ms, range.to_ms).await?;
    let bars = reader.read_all().await?;
    let coverage = reader.coverage();
    let label = cgaf_trade::domain::history::interval_label(interval_ms);
    let describe = format!(
        "{product} {label} bars stored from {} to {} ({} of {} expected)",
        range.from_ms.map_or_else(|| "the first bar".to_string(), cgaf_trade::domain::history::rfc3339),
        cgaf_trade::domain::history::rfc3339(range.to_ms),
        coverage.bars_found,
        coverage.bars_expected
    );
    Ok((bars, describe))
}

/// `bars` bars of `interval_ms` built from the simulator's samples of `product`, one every
/// [`SIM_SAMPLE_MS`] from the epoch, as collect takes them (each bar from the samples inside it:
/// open, high, low and close of the midpoint, taker volumes summed, the book at its close).
pub fn simulated(product: &str, seed: u64, bars: usize, interval_ms: i64) -> Result<(Vec<Bar>, String)> {
    anyhow::ensure!(interval_ms > 0, "the bar interval must be positive");
    anyhow::ensure!(bars > 0, "--sim-bars must be at least 1");
    // The aggregation and depth of `cgaf serve`'s defaults (`--aggregation 10 --depth 3`).
    let sim = SimSource::new(seed, rust_decimal::Decimal::TEN, 3);
    let per_bar = (interval_ms / SIM_SAMPLE_MS).max(1);
    let step = interval_ms / per_bar;
    let samples = usize::try_from(per_bar).context("samples per bar")?.checked_mul(bars).context("too many bars")?;
    let mut points = Vec::with_capacity(samples);
    let mut cursor = None;
    for i in 0..samples {
        let fetched = sim.next_sample(product, cursor.as_ref());
        cursor = fetched.cursor;
        let s = fetched.sample;
        let f = |d: rust_decimal::Decimal| rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0);
        let row = cgaf_store::SamplePointRow {
            time_ms: i as i64 * step,
            midpoint: f(s.midpoint),
            buy_size: f(s.buys.size),
            sell_size: f(s.sells.size),
            bid: s.bids.first().map_or(0.0, |l| f(l.price)),
            ask: s.asks.first().map_or(0.0, |l| f(l.price)),
            bid_depth: s.bids.iter().map(|l| f(l.size)).sum(),
            ask_depth: s.asks.iter().map(|l| f(l.size)).sum(),
        };
        points.push(sample_point(&row));
    }
    let end = samples as i64 * step;
    let built = build_bars(&points, interval_ms, Some(end)).map_err(|e| anyhow::anyhow!("building bars: {e}"))?;
    let label = cgaf_trade::domain::history::interval_label(interval_ms);
    Ok((
        built,
        format!(
            "{bars} {label} bars of the market simulator ({product}, seed {seed}, a sample every {SIM_SAMPLE_MS} ms)"
        ),
    ))
}
