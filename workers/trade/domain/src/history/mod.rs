//! Market history: the stored bar ([`HistoryBar`]) of every interval, where it came from
//! ([`BarOrigin`]), rolling finer bars up into coarser ones ([`Rollup`]), finding the gaps of a
//! range ([`Coverage`]), reading and writing bars as CSV ([`read_bars_csv`], [`write_bars_csv`]),
//! the read copies of whole periods ([`bar_block`]), and the retention and interval settings of the
//! history store.

pub mod bar_block;
pub mod coverage;
pub mod csv_bars;
pub mod rollup;
pub mod settings;

pub use bar_block::{block_period, decode_bar_block, encode_bar_block};
pub use coverage::{Coverage, Gap};
pub use csv_bars::{
    last_bar_close, read_bars_csv, write_bars_csv, write_bars_csv_header, write_bars_csv_rows, BadRow, CsvBarStream,
    CsvBars, CsvBarsError, CsvImportOptions, CsvStreamEnd, TimeIs,
};
pub use rollup::{rollup, Rollup};
pub use settings::{
    interval_label, parse_intervals, HistorySettings, Retention, RetentionSpec, COLLECTED_INTERVAL_MS,
    DEFAULT_RETENTION, DEFAULT_ROLLUP_INTERVALS,
};

use crate::bars::{Bar, Book};
pub use crate::run::BarOrigin;
use serde::{Deserialize, Serialize};

/// `ms` since the epoch as RFC 3339 UTC (`2025-01-01T00:01:00Z`; milliseconds only when not zero).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// One bar of the history store: OHLC of the midpoint (or the exchange's trade price, for
/// imported candles), volumes and, for collected bars, the sample count and the book at the
/// close. Stamped at its close: the bar of interval `i` closing at `t` covers `[t - i, t)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryBar {
    /// Close time, ms since the epoch.
    pub close_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume (base currency).
    pub volume: f64,
    /// Taker-buy volume, when the source tells it.
    pub buy_volume: Option<f64>,
    /// Taker-sell volume, when the source tells it.
    pub sell_volume: Option<f64>,
    /// Samples aggregated into the bar (collected bars only).
    pub sample_count: Option<i64>,
    /// The book at the close (collected bars only).
    pub book: Option<Book>,
}

impl HistoryBar {
    /// The bar as runs see it (missing taker volumes and book read as zero).
    pub fn to_bar(&self) -> Bar {
        Bar {
            time_ms: self.close_ms,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            buy_volume: self.buy_volume.unwrap_or(0.0),
            sell_volume: self.sell_volume.unwrap_or(0.0),
            book: self.book.unwrap_or_default(),
        }
    }

    /// Why the bar is not a valid bar (non-finite or non-positive prices, high below low or
    /// below open/close, negative volumes), or `None`.
    pub fn invalid_reason(&self) -> Option<String> {
        let prices = [self.open, self.high, self.low, self.close];
        if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) {
            return Some("prices must be finite and above zero".into());
        }
        if self.high < self.low {
            return Some(format!("high {} is below low {}", self.high, self.low));
        }
        if self.high < self.open.max(self.close) || self.low > self.open.min(self.close) {
            return Some(format!(
                "open {} and close {} must lie between low {} and high {}",
                self.open, self.close, self.low, self.high
            ));
        }
        for (name, v) in
            [("volume", Some(self.volume)), ("buy volume", self.buy_volume), ("sell volume", self.sell_volume)]
        {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    return Some(format!("{name} {v} must be finite and not negative"));
                }
            }
        }
        None
    }
}
