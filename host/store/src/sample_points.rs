//! Samples (archive and image window) as the trade worker reads them to build sub-second bars: time, midpoint, taker flow and the
//! book's best prices and depth.

use crate::{Result, Store};

impl Store {
    /// Samples of `product` taken in `[from_ms, to_ms)` (either bound optional), oldest first —
    /// from the raw-sample archive and the image window together (each sample once) — as
    /// the trade worker needs them: time, midpoint, taker buy and sell size, best bid and ask and
    /// the summed sizes of the stored levels.
    pub async fn sample_points(
        &self,
        product: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<SamplePointRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "WITH s AS (
                   SELECT sampled_at, sample_id, midpoint, buys, sells, bid_prices, ask_prices, bid_sizes, ask_sizes
                   FROM crypto_gaf.sample_archive
                   WHERE product = $1
                     AND ($2::int8 IS NULL OR sampled_at >= to_timestamp($2::float8 / 1000))
                     AND ($3::int8 IS NULL OR sampled_at < to_timestamp($3::float8 / 1000))
                   UNION ALL
                   SELECT sampled_at, sample_id, midpoint, buys, sells, bid_prices, ask_prices, bid_sizes, ask_sizes
                   FROM crypto_gaf.samples w
                   WHERE product = $1 AND midpoint IS NOT NULL
                     AND ($2::int8 IS NULL OR sampled_at >= to_timestamp($2::float8 / 1000))
                     AND ($3::int8 IS NULL OR sampled_at < to_timestamp($3::float8 / 1000))
                     AND NOT EXISTS (SELECT 1 FROM crypto_gaf.sample_archive a
                                     WHERE a.product = $1 AND a.sampled_at = w.sampled_at AND a.sample_id = w.sample_id))
                 SELECT floor(extract(epoch FROM sampled_at) * 1000)::int8 AS time_ms, midpoint::float8 AS midpoint,
                   coalesce(buys[2], 0)::float8 AS buy_size, coalesce(sells[2], 0)::float8 AS sell_size,
                   coalesce(bid_prices[1], 0)::float8 AS bid, coalesce(ask_prices[1], 0)::float8 AS ask,
                   coalesce((SELECT sum(x) FROM unnest(bid_sizes) x), 0)::float8 AS bid_depth,
                   coalesce((SELECT sum(x) FROM unnest(ask_sizes) x), 0)::float8 AS ask_depth
                 FROM s
                 ORDER BY sampled_at, sample_id",
                &[&product, &from_ms, &to_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SamplePointRow {
                time_ms: r.get("time_ms"),
                midpoint: r.get("midpoint"),
                buy_size: r.get("buy_size"),
                sell_size: r.get("sell_size"),
                bid: r.get("bid"),
                ask: r.get("ask"),
                bid_depth: r.get("bid_depth"),
                ask_depth: r.get("ask_depth"),
            })
            .collect())
    }
}

/// A sample as the trade worker reads it (see [`Store::sample_points`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePointRow {
    /// When it was taken, ms since the epoch.
    pub time_ms: i64,
    /// Midpoint.
    pub midpoint: f64,
    /// Taker-buy size since the previous sample.
    pub buy_size: f64,
    /// Taker-sell size since the previous sample.
    pub sell_size: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Summed bid sizes.
    pub bid_depth: f64,
    /// Summed ask sizes.
    pub ask_depth: f64,
}
