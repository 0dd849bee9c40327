//! The market history: what is stored per product and interval, bars, and CSV import reports.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What the history store holds of one product and interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryRange {
    /// Product id.
    pub product: String,
    /// Bar interval, e.g. `1m`.
    pub interval: String,
    /// Bar interval, ms.
    pub interval_ms: i64,
    /// Open of the first bar, RFC 3339.
    pub first: String,
    /// Close of the last bar, RFC 3339.
    pub last: String,
    /// Bars stored.
    pub count: i64,
    /// Bars missing between the first and the last.
    pub missing: i64,
    /// Stretches of missing bars between the first and the last.
    pub gaps: i64,
}

/// `GET /api/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryCoverage {
    /// One entry per product and interval.
    pub ranges: Vec<HistoryRange>,
}

/// Query of `GET /api/history/bars`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BarsQuery {
    /// Product id.
    pub product: String,
    /// Bar interval (a stored one, e.g. `1s`, `1m`, `1h`; default `1m`).
    pub interval: Option<String>,
    /// Start (inclusive): ms since the epoch or RFC 3339 (default: the first bar).
    pub from: Option<String>,
    /// End (exclusive; default: the last bar).
    pub to: Option<String>,
    /// `json` (default, paged) or `csv` (streamed, the whole range, re-importable).
    pub format: Option<String>,
    /// JSON: bars per page (default 10000, at most 50000).
    pub limit: Option<i64>,
    /// JSON: continue after this close time (ms) — the `next_after` of the previous page.
    pub after: Option<i64>,
}

/// One stored bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryBarModel {
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
    /// Volume.
    pub volume: f64,
    /// Taker-buy volume, when known.
    pub buy_volume: Option<f64>,
    /// Taker-sell volume, when known.
    pub sell_volume: Option<f64>,
    /// Samples aggregated (collected bars).
    pub sample_count: Option<i64>,
    /// `collected` or `imported`.
    pub origin: String,
    /// What it came from.
    pub source: String,
}

/// A page of `GET /api/history/bars?format=json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarsPage {
    /// Product id.
    pub product: String,
    /// Bar interval.
    pub interval: String,
    /// Bars, oldest first.
    pub bars: Vec<HistoryBarModel>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// Query of `POST /api/history/imports` (the body is the CSV).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Product the bars are of.
    pub product: String,
    /// Bar interval of the file (default `1m`); a file whose bars are another interval apart is refused.
    pub interval: Option<String>,
    /// `auto` (default), `open` or `close`: what the time column stamps.
    pub time_is: Option<String>,
    /// Write the good rows and report the bad ones (default false: a bad row refuses the file).
    pub skip_bad: Option<bool>,
    /// Replace imported bars stored with other values (collected bars are never replaced).
    pub replace: Option<bool>,
    /// Where the bars came from (default `csv:api`).
    pub source: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReportModel {
    /// Product.
    pub product: String,
    /// Interval.
    pub interval: String,
    /// Rows read from the file.
    pub rows_read: usize,
    /// Bars in the file after dropping exact duplicates and bad rows.
    pub bars: usize,
    /// Bad rows skipped (`skip_bad`).
    pub skipped_bad_rows: usize,
    /// The first skipped rows: `line N, column "x": reason`.
    pub skipped: Vec<String>,
    /// Exact duplicate rows dropped.
    pub duplicates_dropped: usize,
    /// Bars written.
    pub written: u64,
    /// Bars equal to what was stored.
    pub unchanged: u64,
    /// Bars left alone because a collected bar holds their time.
    pub kept_collected: u64,
    /// Coarser bars rolled up.
    pub rolled_up: u64,
    /// Bar blocks written: periods (a month of 1m bars, ...) holding nothing but the bars
    /// imported, which runs then read as one value each.
    pub blocks: u64,
    /// True when the file was streamed in batches (a clean file over a range with nothing
    /// stored); false when it was read whole and merged with what is stored.
    pub streamed: bool,
}
