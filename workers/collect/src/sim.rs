//! A deterministic market simulator: the default source, so a fresh checkout shows moving images
//! without any network.
//!
//! Per product the simulator runs a log-price random walk whose variance follows a GARCH(1,1)
//! recursion (with rare volatility bursts), so quiet and hectic stretches alternate, plus an AR(1)
//! book-imbalance factor. Each step builds a raw order book on a 0.01 tick grid and aggregates it
//! with [`aggregate_levels`] exactly like coinbase-local (asks ceil-bucketed, bids floor-bucketed,
//! VWAP prices, a few percent of empty buckets), and draws taker buys and sells along the price
//! path.
//!
//! Determinism: the random numbers of step `n` come from a ChaCha8 generator seeded with
//! `seed XOR fnv1a64(product)` on stream `n`, and the whole walk state (step, log price, variance,
//! last return, imbalance) is written to the returned cursor with exact `f64` round-tripping. Given
//! the same seed and cursor the next sample is therefore identical, whether or not the process was
//! restarted in between. Only `sampled_at` (wall clock) differs.

use crate::aggregate::{aggregate_levels, Side};
use crate::error::SourceError;
use crate::source::{Fetched, MarketSource};
use cgaf_store::{Level, NewSample, TradeSummary};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Version tag written into sim cursors.
const CURSOR_VERSION: u64 = 1;
/// Price decimals (USD-style quotes): the tick is 0.01.
const PRICE_DP: u32 = 2;
/// Size decimals (base currency).
const SIZE_DP: u32 = 8;
/// Long-run per-step volatility of the log price.
const LONG_RUN_VOL: f64 = 2.0e-4;
/// GARCH(1,1) weight of the last squared return.
const GARCH_ALPHA: f64 = 0.10;
/// GARCH(1,1) weight of the last variance.
const GARCH_BETA: f64 = 0.86;
/// Probability per step of a volatility burst.
const BURST_PROB: f64 = 0.004;
/// Variance multiplier of a burst.
const BURST_MULT: f64 = 8.0;
/// Pull of the log price back to its starting level per step (keeps day-long runs bounded).
const MEAN_REVERSION: f64 = 2.0e-5;
/// AR(1) coefficient of the book imbalance.
const IMBALANCE_PERSISTENCE: f64 = 0.92;
/// Innovation scale of the book imbalance.
const IMBALANCE_NOISE: f64 = 0.25;
/// Probability that a bucket other than the best is left empty.
const EMPTY_BUCKET_PROB: f64 = 0.05;
/// Typical notional of one raw book level (quote currency).
const LEVEL_NOTIONAL: f64 = 15_000.0;
/// Typical notional of one trade (quote currency).
const TRADE_NOTIONAL: f64 = 2_000.0;
/// Mean number of trades per step (both sides) at long-run volatility.
const TRADES_PER_STEP: f64 = 3.0;

/// The deterministic simulator source.
#[derive(Debug, Clone)]
pub struct SimSource {
    seed: u64,
    aggregation: Decimal,
    depth: usize,
}

/// The walk state of one product, as carried in the cursor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SimState {
    /// Number of samples produced so far.
    step: u64,
    log_price: f64,
    variance: f64,
    prev_return: f64,
    imbalance: f64,
}

impl SimSource {
    /// A simulator with `seed`, bucket width `aggregation` (0 = raw levels) and `depth` levels a
    /// side.
    pub fn new(seed: u64, aggregation: Decimal, depth: usize) -> Self {
        Self { seed, aggregation: aggregation.max(Decimal::ZERO), depth }
    }

    /// Produces the next sample of `product` after `cursor` (synchronously; `fetch` wraps this).
    pub fn next_sample(&self, product: &str, cursor: Option<&Value>) -> Fetched {
        let key = self.key(product);
        let state = match cursor {
            None => self.initial_state(product),
            Some(c) => decode_cursor(c).unwrap_or_else(|| {
                tracing::warn!(product, cursor = %c, "ignoring a cursor the simulator does not recognise");
                self.initial_state(product)
            }),
        };
        let (sample, next) = self.step(product, key, state);
        Fetched { sample, cursor: Some(encode_cursor(&next)) }
    }

    fn key(&self, product: &str) -> u64 {
        self.seed ^ fnv1a64(product.as_bytes())
    }

    /// The typical starting price of `product` (before the per-seed jitter).
    pub fn base_price(product: &str) -> f64 {
        let base = product.split(['-', '/', '_']).next().unwrap_or(product).to_ascii_uppercase();
        match base.as_str() {
            "BTC" | "XBT" => 60_000.0,
            "ETH" => 3_000.0,
            _ => 50.0 + (fnv1a64(product.as_bytes()) % 10_001) as f64 / 100.0,
        }
    }

    fn log_start(&self, product: &str) -> f64 {
        let key = self.key(product);
        // ±1 % jitter so different seeds start at different prices.
        let jitter = ((key >> 16) % 2001) as f64 / 100_000.0 - 0.01;
        (Self::base_price(product) * (1.0 + jitter)).ln()
    }

    fn initial_state(&self, product: &str) -> SimState {
        SimState {
            step: 0,
            log_price: self.log_start(product),
            variance: LONG_RUN_VOL * LONG_RUN_VOL,
            prev_return: 0.0,
            imbalance: 0.0,
        }
    }

    fn step(&self, product: &str, key: u64, s: SimState) -> (NewSample, SimState) {
        let step = s.step.wrapping_add(1);
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        rng.set_stream(step);

        // Volatility: GARCH(1,1) with rare bursts, kept within sane bounds.
        let long_run_var = LONG_RUN_VOL * LONG_RUN_VOL;
        let omega = long_run_var * (1.0 - GARCH_ALPHA - GARCH_BETA);
        let mut variance = omega + GARCH_ALPHA * s.prev_return * s.prev_return + GARCH_BETA * s.variance;
        if rng.gen::<f64>() < BURST_PROB {
            variance *= BURST_MULT;
        }
        let variance = sanitize(variance, long_run_var).clamp(long_run_var * 0.05, long_run_var * 400.0);
        let sigma = variance.sqrt();

        // Price: log random walk with a weak pull back to the start.
        let z = normal(&mut rng);
        let pull = MEAN_REVERSION * (s.log_price - self.log_start(product));
        let ret = sigma * z - pull;
        let prev_log = s.log_price;
        let log_price = sanitize(prev_log + ret, self.log_start(product));
        let imbalance =
            sanitize(IMBALANCE_PERSISTENCE * s.imbalance + IMBALANCE_NOISE * normal(&mut rng), 0.0).clamp(-3.0, 3.0);

        // Best prices in ticks (cents).
        let mid = log_price.exp();
        let mid_ticks = mid * 100.0;
        let spread_ticks = 1 + (rng.gen::<f64>() * mid * 4.0e-5 * 100.0) as i64;
        let best_bid = ((mid_ticks - spread_ticks as f64 / 2.0).round() as i64).max(1);
        let best_ask = best_bid + spread_ticks;
        let midpoint = (Decimal::new(best_bid + best_ask, PRICE_DP) / Decimal::TWO).normalize();

        let asks = self.book_side(&mut rng, Side::Ask, best_ask, mid, (-0.5 * imbalance).exp());
        let bids = self.book_side(&mut rng, Side::Bid, best_bid, mid, (0.5 * imbalance).exp());

        // Taker trades along the path from the previous to the new price.
        let intensity = (TRADES_PER_STEP * (variance / long_run_var).sqrt()).clamp(0.3, 12.0);
        let tilt = (ret / sigma).tanh();
        let n_buys = poisson(&mut rng, intensity * 0.5 * (1.0 + 0.7 * tilt));
        let n_sells = poisson(&mut rng, intensity * 0.5 * (1.0 - 0.7 * tilt));
        // Takers pay at least half the spread (rounded up to a whole tick).
        let half_spread = (spread_ticks + 1) / 2;
        let buys = trades(&mut rng, n_buys, prev_log, log_price, half_spread, mid);
        let sells = trades(&mut rng, n_sells, prev_log, log_price, -half_spread, mid);

        let sample = NewSample {
            product: product.to_owned(),
            midpoint,
            asks,
            bids,
            buys,
            sells,
            sampled_at: chrono::Utc::now(),
        };
        let next = SimState { step, log_price, variance, prev_return: ret, imbalance };
        (sample, next)
    }

    /// Builds one side's raw levels and aggregates them.
    fn book_side(&self, rng: &mut ChaCha8Rng, side: Side, best: i64, mid: f64, size_factor: f64) -> Vec<Level> {
        let mut raw_ticks: Vec<i64> = Vec::new();
        match self.bucket_ranges(side, best) {
            Some(ranges) => {
                for (i, (lo, hi)) in ranges.into_iter().enumerate() {
                    // Always draw, so the stream does not depend on which buckets are empty.
                    let empty = rng.gen::<f64>() < EMPTY_BUCKET_PROB;
                    let wanted = 1 + rng.gen_range(0..5usize);
                    if i == 0 {
                        raw_ticks.push(best);
                    } else if empty {
                        continue;
                    }
                    let lo = lo.max(1);
                    if hi < lo {
                        continue;
                    }
                    let span = usize::try_from(hi - lo + 1).unwrap_or(usize::MAX);
                    // Bucket 0 already holds the best level.
                    let extra = wanted.min(span) - usize::from(i == 0);
                    let mut chosen = BTreeSet::new();
                    let mut attempts = 0;
                    while chosen.len() < extra && attempts < 4 * wanted + 4 {
                        attempts += 1;
                        let t = rng.gen_range(lo..=hi);
                        if t != best {
                            chosen.insert(t);
                        }
                    }
                    raw_ticks.extend(chosen);
                }
            }
            None => {
                // Raw levels: walk away from the best price in small random gaps.
                let mut t = best;
                for _ in 0..self.depth {
                    raw_ticks.push(t);
                    let gap = 1 + rng.gen_range(0..5i64);
                    t = match side {
                        Side::Ask => t + gap,
                        Side::Bid => t - gap,
                    };
                    if t < 1 {
                        break;
                    }
                }
            }
        }

        let typical_size = LEVEL_NOTIONAL / mid.max(1e-9) * size_factor;
        let raw: Vec<(Decimal, Decimal, u32)> = raw_ticks
            .into_iter()
            .map(|t| {
                let size = typical_size * (0.7 * normal(rng)).exp();
                let orders = 1 + rng.gen_range(0..6u32);
                (Decimal::new(t, PRICE_DP), size_decimal(size), orders)
            })
            .collect();
        aggregate_levels(&raw, side, self.aggregation, self.depth)
            .into_iter()
            .map(|l| {
                if l.num_orders == 0 {
                    l
                } else {
                    // VWAP of 0.01-grid prices rounds back onto the grid inside the bucket.
                    Level { price: l.price.round_dp(PRICE_DP).normalize(), ..l }
                }
            })
            .collect()
    }

    /// Inclusive tick ranges of the `depth` buckets of a side (bucket 0 starts at the best price),
    /// or `None` for raw levels (aggregation 0 or an aggregation the tick grid cannot express).
    fn bucket_ranges(&self, side: Side, best: i64) -> Option<Vec<(i64, i64)>> {
        if self.aggregation <= Decimal::ZERO {
            return None;
        }
        let agg = self.aggregation;
        let hundred = Decimal::ONE_HUNDRED;
        let best_price = Decimal::new(best, PRICE_DP);
        let q = best_price.checked_div(agg)?;
        let base = match side {
            Side::Ask => q.ceil(),
            Side::Bid => q.floor(),
        };
        let ticks = |bucket: Decimal| -> Option<Decimal> { bucket.checked_mul(agg)?.checked_mul(hundred) };
        let mut out = Vec::with_capacity(self.depth);
        for i in 0..self.depth {
            let offset = Decimal::from(i as u64);
            let (lo, hi) = match side {
                // Ask bucket b covers prices in ((b-1)*agg, b*agg].
                Side::Ask => {
                    let b = base.checked_add(offset)?;
                    let lo = ticks(b.checked_sub(Decimal::ONE)?)?.floor().to_i64()?.checked_add(1)?;
                    let hi = ticks(b)?.floor().to_i64()?;
                    (if i == 0 { best } else { lo }, hi)
                }
                // Bid bucket b covers prices in [b*agg, (b+1)*agg).
                Side::Bid => {
                    let b = base.checked_sub(offset)?;
                    let lo = ticks(b)?.ceil().to_i64()?;
                    let hi = ticks(b.checked_add(Decimal::ONE)?)?.ceil().to_i64()?.checked_sub(1)?;
                    (lo, if i == 0 { best } else { hi })
                }
            };
            out.push((lo, hi));
        }
        Some(out)
    }
}

impl MarketSource for SimSource {
    async fn fetch(&mut self, product: &str, cursor: Option<&Value>) -> Result<Fetched, SourceError> {
        Ok(self.next_sample(product, cursor))
    }

    fn name(&self) -> &'static str {
        "sim"
    }
}

/// Summarises `n` trades drawn along the log-price path, offset by `offset_ticks` from it.
fn trades(rng: &mut ChaCha8Rng, n: u32, from_log: f64, to_log: f64, offset_ticks: i64, mid: f64) -> TradeSummary {
    let mut notional: i128 = 0; // ticks × 1e-8 units
    let mut units: i128 = 0;
    for _ in 0..n {
        let u = rng.gen::<f64>();
        let price_ticks = ((from_log + (to_log - from_log) * u).exp() * 100.0).round() as i64 + offset_ticks;
        let size = TRADE_NOTIONAL / mid.max(1e-9) * (0.9 * normal(rng)).exp();
        let size_units = size_units(size);
        notional += i128::from(price_ticks.max(1)) * i128::from(size_units);
        units += i128::from(size_units);
    }
    if n == 0 || units == 0 {
        return TradeSummary::default();
    }
    let size = Decimal::from_i128_with_scale(units, SIZE_DP);
    let total = Decimal::from_i128_with_scale(notional, PRICE_DP + SIZE_DP);
    let vwap = total.checked_div(size).unwrap_or(Decimal::ZERO).round_dp(PRICE_DP).normalize();
    TradeSummary { price: vwap, size: size.normalize(), num_orders: n }
}

/// A size in 1e-8 units, at least one unit.
fn size_units(size: f64) -> i64 {
    let units = (size * 1e8).round();
    if units.is_finite() && units >= 1.0 {
        units.min(1e15) as i64
    } else {
        1
    }
}

fn size_decimal(size: f64) -> Decimal {
    Decimal::new(size_units(size), SIZE_DP).normalize()
}

/// A standard normal draw (Box–Muller; two uniforms per draw).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw (Knuth; fine for the small means used here).
fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    let limit = (-lambda.min(30.0)).exp();
    let mut k = 0u32;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= limit || k >= 200 {
            return k;
        }
        k += 1;
    }
}

fn sanitize(x: f64, fallback: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        fallback
    }
}

/// FNV-1a, 64 bit: a stable hash of the product name (std's hasher is randomised per process).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Writes the state; floats as their shortest round-trip text so JSONB storage cannot alter them.
fn encode_cursor(s: &SimState) -> Value {
    json!({
        "source": "sim",
        "version": CURSOR_VERSION,
        "step": s.step,
        "log_price": format!("{:?}", s.log_price),
        "variance": format!("{:?}", s.variance),
        "prev_return": format!("{:?}", s.prev_return),
        "imbalance": format!("{:?}", s.imbalance),
        // Informational only.
        "price": format!("{:.2}", s.log_price.exp()),
    })
}

fn decode_cursor(v: &Value) -> Option<SimState> {
    let o = v.as_object()?;
    if o.get("source")?.as_str()? != "sim" || o.get("version")?.as_u64()? != CURSOR_VERSION {
        return None;
    }
    let float = |name: &str| -> Option<f64> {
        let f = match o.get(name)? {
            Value::String(s) => s.parse::<f64>().ok()?,
            Value::Number(n) => n.as_f64()?,
            _ => return None,
        };
        f.is_finite().then_some(f)
    };
    let state = SimState {
        step: o.get("step")?.as_u64()?,
        log_price: float("log_price")?,
        variance: float("variance")?,
        prev_return: float("prev_return")?,
        imbalance: float("imbalance")?,
    };
    (state.variance > 0.0).then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> SimSource {
        SimSource::new(42, Decimal::TEN, 3)
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn cursor_round_trip_is_exact() {
        let s = SimState {
            step: 7,
            log_price: 60_123.45f64.ln(),
            variance: 4.000_000_000_000_001e-8,
            prev_return: -1.234_567_890_123_456_7e-4,
            imbalance: 0.1,
        };
        let v = encode_cursor(&s);
        let text = serde_json::to_string(&v).unwrap();
        let back = decode_cursor(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.log_price.to_bits(), s.log_price.to_bits());
    }

    #[test]
    fn foreign_cursors_restart_the_walk() {
        let s = sim();
        let fresh = s.next_sample("BTC-USD", None);
        let foreign = s.next_sample("BTC-USD", Some(&json!({"since": 5})));
        assert_eq!(fresh.cursor, foreign.cursor);
        assert_eq!(fresh.sample.midpoint, foreign.sample.midpoint);
    }

    #[test]
    fn starting_prices() {
        assert_eq!(SimSource::base_price("BTC-USD"), 60_000.0);
        assert_eq!(SimSource::base_price("ETH-USD"), 3_000.0);
        let other = SimSource::base_price("SOL-USD");
        assert!((50.0..=150.0).contains(&other), "{other}");
        let s = sim();
        let first = s.next_sample("BTC-USD", None);
        let p = first.sample.midpoint.to_f64().unwrap();
        assert!((58_000.0..62_000.0).contains(&p), "{p}");
    }

    #[test]
    fn variance_clusters() {
        let s = sim();
        let mut cursor = None;
        let mut vars = Vec::new();
        for _ in 0..3000 {
            let f = s.next_sample("BTC-USD", cursor.as_ref());
            vars.push(decode_cursor(f.cursor.as_ref().unwrap()).unwrap().variance);
            cursor = f.cursor;
        }
        let max = vars.iter().cloned().fold(f64::MIN, f64::max);
        let min = vars.iter().cloned().fold(f64::MAX, f64::min);
        assert!(max / min > 4.0, "variance range {min}..{max}");
    }

    #[test]
    fn bucket_ranges_follow_the_grid() {
        let s = sim();
        // best ask 60001.50 -> bucket 6001: (60000, 60010], then (60010, 60020], (60020, 60030]
        assert_eq!(
            s.bucket_ranges(Side::Ask, 6_000_150).unwrap(),
            vec![(6_000_150, 6_001_000), (6_001_001, 6_002_000), (6_002_001, 6_003_000)]
        );
        // best bid 59998.50 -> bucket 5999: [59990, 60000), then [59980, 59990), [59970, 59980)
        assert_eq!(
            s.bucket_ranges(Side::Bid, 5_999_850).unwrap(),
            vec![(5_999_000, 5_999_850), (5_998_000, 5_998_999), (5_997_000, 5_997_999)]
        );
        assert!(SimSource::new(1, Decimal::ZERO, 3).bucket_ranges(Side::Ask, 100).is_none());
    }

    #[test]
    fn raw_mode_gives_depth_distinct_levels() {
        let s = SimSource::new(3, Decimal::ZERO, 5);
        let f = s.next_sample("ETH-USD", None);
        assert_eq!(f.sample.asks.len(), 5);
        assert_eq!(f.sample.bids.len(), 5);
        assert!(f.sample.asks.windows(2).all(|w| w[0].price < w[1].price));
        assert!(f.sample.bids.windows(2).all(|w| w[0].price > w[1].price));
        assert!(f.sample.asks[0].price > f.sample.bids[0].price);
    }

    #[test]
    fn poisson_mean_is_about_right() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let total: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, 1.5))).sum();
        let mean = total as f64 / n as f64;
        assert!((1.4..1.6).contains(&mean), "{mean}");
        assert_eq!(poisson(&mut rng, 0.0), 0);
    }
}
