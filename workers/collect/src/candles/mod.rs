//! Downloading historical candles from the Coinbase Exchange public REST API
//! (`GET /products/{id}/candles`): the paced, retrying HTTP client ([`CandleClient`]), the planner
//! that turns a requested range and the bars already stored into the windows still to fetch
//! ([`plan_download`]), and the download loop that hands each window's bars to the caller as they
//! arrive ([`Downloader`], [`download`]).
//!
//! Times: a Coinbase candle is stamped at its bucket START (epoch seconds); a
//! [`HistoryBar`](cgaf_trade_domain::history::HistoryBar) is stamped at its CLOSE, so the candle
//! `time = t` of granularity `G` becomes the bar with `close_ms = (t + G) * 1000`, covering
//! `[t, t + G)`. Windows and gaps are expressed in bar closes.

mod client;
mod download;
#[cfg(feature = "fake-exchange")]
pub mod fake;
mod plan;

pub use client::{CandleClient, CandleClientSettings, ClientStats, RetryPolicy, MAX_CANDLES_PER_REQUEST};
pub use download::{download, CandleBatch, DownloadError, DownloadProgress, DownloadSummary, Downloader, WindowError};
pub use plan::{plan_download, CandleWindow, DownloadPlan};

use crate::error::SourceError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A candle width the Coinbase Exchange serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    /// 60 s.
    OneMinute,
    /// 300 s.
    FiveMinutes,
    /// 900 s.
    FifteenMinutes,
    /// 3,600 s.
    OneHour,
    /// 21,600 s.
    SixHours,
    /// 86,400 s.
    OneDay,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 6] = [
        Granularity::OneMinute,
        Granularity::FiveMinutes,
        Granularity::FifteenMinutes,
        Granularity::OneHour,
        Granularity::SixHours,
        Granularity::OneDay,
    ];

    /// The width in seconds (the `granularity` query parameter).
    pub const fn seconds(self) -> i64 {
        match self {
            Granularity::OneMinute => 60,
            Granularity::FiveMinutes => 300,
            Granularity::FifteenMinutes => 900,
            Granularity::OneHour => 3_600,
            Granularity::SixHours => 21_600,
            Granularity::OneDay => 86_400,
        }
    }

    /// The width in milliseconds (the bar interval of the history store).
    pub const fn ms(self) -> i64 {
        self.seconds() * 1_000
    }

    /// The granularity of `seconds`, if Coinbase serves it.
    pub fn from_seconds(seconds: i64) -> Option<Granularity> {
        Granularity::ALL.into_iter().find(|g| g.seconds() == seconds)
    }

    /// The granularity of a bar interval in ms; a [`SourceError::Config`] listing the served
    /// intervals otherwise.
    pub fn from_interval_ms(interval_ms: i64) -> Result<Granularity, SourceError> {
        Granularity::ALL.into_iter().find(|g| g.ms() == interval_ms).ok_or_else(|| {
            SourceError::Config(format!(
                "Coinbase serves candles of 1m, 5m, 15m, 1h, 6h and 1d only, not an interval of {interval_ms} ms"
            ))
        })
    }

    /// The short label: `1m`, `5m`, `15m`, `1h`, `6h`, `1d`.
    pub const fn label(self) -> &'static str {
        match self {
            Granularity::OneMinute => "1m",
            Granularity::FiveMinutes => "5m",
            Granularity::FifteenMinutes => "15m",
            Granularity::OneHour => "1h",
            Granularity::SixHours => "6h",
            Granularity::OneDay => "1d",
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Serialized as its label (`"1m"`).
impl Serialize for Granularity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

impl FromStr for Granularity {
    type Err = SourceError;

    /// Parses a label (`1m` … `1d`) or a number of seconds (`60` … `86400`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Granularity::ALL
            .into_iter()
            .find(|g| g.label() == s)
            .or_else(|| s.parse::<i64>().ok().and_then(Granularity::from_seconds))
            .ok_or_else(|| {
                SourceError::Config(format!(
                    "unknown candle granularity {s:?}: expected 1m, 5m, 15m, 1h, 6h or 1d (or 60 … 86400 seconds)"
                ))
            })
    }
}

/// `ms` as an RFC 3339 UTC time with whole seconds (`2025-01-01T00:00:00Z`), or the number when
/// it is out of chrono's range.
pub(crate) fn iso_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularities_round_trip() {
        for g in Granularity::ALL {
            assert_eq!(Granularity::from_seconds(g.seconds()), Some(g));
            assert_eq!(Granularity::from_interval_ms(g.ms()).unwrap(), g);
            assert_eq!(g.label().parse::<Granularity>().unwrap(), g);
            assert_eq!(g.seconds().to_string().parse::<Granularity>().unwrap(), g);
        }
        assert_eq!(Granularity::from_seconds(120), None);
        assert!(matches!(Granularity::from_interval_ms(1_000), Err(SourceError::Config(_))));
        assert!("2m".parse::<Granularity>().is_err());
        assert_eq!(iso_seconds(1_735_689_600_000), "2025-01-01T00:00:00Z");
        assert_eq!(serde_json::to_string(&Granularity::FifteenMinutes).unwrap(), r#""15m""#);
    }
}
