//! Row types shared by the workers and the API.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One order-book level as stored: price and size (the number of orders is not stored, as in the original).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Price of the level (quote currency), VWAP of the bucket when aggregated.
    pub price: Decimal,
    /// Summed size at the level (base currency); zero for an empty bucket.
    pub size: Decimal,
    /// Number of orders at the level; zero for an empty bucket.
    pub num_orders: u32,
}

/// Summary of the market trades of one side since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TradeSummary {
    /// Volume-weighted average price of the trades (0 when there were none).
    pub price: Decimal,
    /// Total traded size (base currency).
    pub size: Decimal,
    /// Number of trades.
    pub num_orders: u32,
}

impl TradeSummary {
    /// The `[price, size, numOrders]` triple as the original stores it in `buys`/`sells`.
    pub fn to_triple(&self) -> Vec<Decimal> {
        vec![self.price, self.size, Decimal::from(self.num_orders)]
    }
}

/// A sample to be inserted into `crypto_gaf.samples`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSample {
    /// Product id, e.g. `BTC-USD`.
    pub product: String,
    /// `(best ask + best bid) / 2`.
    pub midpoint: Decimal,
    /// Ask levels, index 0 nearest the midpoint (stored as asks; the original swapped them).
    pub asks: Vec<Level>,
    /// Bid levels, index 0 nearest the midpoint.
    pub bids: Vec<Level>,
    /// Taker buys since the previous sample.
    pub buys: TradeSummary,
    /// Taker sells since the previous sample.
    pub sells: TradeSummary,
    /// When the sample was taken.
    pub sampled_at: DateTime<Utc>,
}

/// The time of `ms` milliseconds since the epoch (clamped to what PostgreSQL stores).
pub fn time_of_ms(ms: i64) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    // PostgreSQL's timestamptz spans 4713 BC to 294276 AD, chrono ±262143 years.
    let ms = ms.clamp(-200_000_000_000_000, 8_000_000_000_000_000);
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}
