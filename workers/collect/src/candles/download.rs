//! The download loop: fetches a [`DownloadPlan`]'s windows one by one and hands each window's new
//! bars to the caller as they arrive, so the caller can store every window in its own transaction
//! (a kill loses at most the window in flight; a re-run plans only what is still missing). Counts
//! requests, retries, bars and the gaps the exchange had (missing closes it has no candle for).
//!
//! Two shapes: [`Downloader`], pulled window by window (`next_window`, then `record_written`), and
//! [`download`], which drives a `Downloader` with a sink and a progress callback.

use super::client::{CandleClient, ClientStats};
use super::plan::{CandleWindow, DownloadPlan};
use super::{iso_seconds, Granularity};
use crate::error::SourceError;
use cgaf_trade_domain::history::coverage::MAX_LISTED_GAPS;
use cgaf_trade_domain::history::{Gap, HistoryBar};
use serde::Serialize;
use std::future::Future;

/// The result of one window: the bars that fill missing closes, and what the exchange lacked.
#[derive(Debug, Clone, PartialEq)]
pub struct CandleBatch {
    /// The window's position in the plan (0-based).
    pub index: usize,
    /// The window requested.
    pub window: CandleWindow,
    /// Bars for closes that were missing from the store, oldest first. Bars the exchange also
    /// returned for closes already stored are left out (the store keeps what it has).
    pub bars: Vec<HistoryBar>,
    /// Bars returned for closes already stored (not in `bars`).
    pub already_stored: usize,
    /// Missing closes the exchange has no candle for, as runs, oldest first.
    pub exchange_gaps: Vec<Gap>,
}

impl CandleBatch {
    /// Missing closes the exchange has no candle for.
    pub fn exchange_gap_bars(&self) -> i64 {
        self.exchange_gaps.iter().map(|g| g.bars).sum()
    }
}

/// Where a download stands, after each window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DownloadProgress {
    /// Windows fetched (and handed over).
    pub windows_done: usize,
    /// Windows planned.
    pub windows_total: usize,
    /// Bars fetched that fill missing closes.
    pub bars_fetched: u64,
    /// Bars the caller reported written.
    pub bars_written: u64,
    /// Missing closes the exchange had no candle for, so far.
    pub exchange_gap_bars: i64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Last close of the latest window done.
    pub last_close_ms: Option<i64>,
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownloadSummary {
    /// The product.
    pub product: String,
    /// The candle width.
    pub granularity: Granularity,
    /// Bars wholly inside the range.
    pub bars_expected: i64,
    /// Bars already stored when the download was planned.
    pub bars_already_stored: i64,
    /// Windows fetched.
    pub windows: usize,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Bars fetched that fill missing closes.
    pub bars_fetched: u64,
    /// Bars the caller reported written.
    pub bars_written: u64,
    /// Missing closes the exchange had no candle for.
    pub exchange_gap_bars: i64,
    /// Runs of such closes (adjacent runs of neighbouring windows merged).
    pub exchange_gap_count: i64,
    /// The first runs, oldest first (at most [`MAX_LISTED_GAPS`]).
    pub exchange_gaps: Vec<Gap>,
}

impl DownloadSummary {
    fn empty(plan: &DownloadPlan) -> DownloadSummary {
        DownloadSummary {
            product: plan.product.clone(),
            granularity: plan.granularity,
            bars_expected: plan.bars_expected,
            bars_already_stored: plan.bars_stored,
            windows: 0,
            requests: 0,
            retries: 0,
            bars_fetched: 0,
            bars_written: 0,
            exchange_gap_bars: 0,
            exchange_gap_count: 0,
            exchange_gaps: Vec::new(),
        }
    }

    /// Counts a run of missing closes; `last` is the latest run counted, which `gap` extends when
    /// it starts right after it (neighbouring windows).
    fn add_gap(&mut self, last: &mut Option<Gap>, gap: Gap) {
        self.exchange_gap_bars += gap.bars;
        let g = self.granularity.ms();
        if let Some(latest) = last.as_mut() {
            if gap.from_ms == latest.to_ms + g {
                latest.to_ms = gap.to_ms;
                latest.bars += gap.bars;
                // The latest run is listed while no more than the cap have been counted.
                if usize::try_from(self.exchange_gap_count).is_ok_and(|n| n <= MAX_LISTED_GAPS) {
                    if let Some(listed) = self.exchange_gaps.last_mut() {
                        *listed = *latest;
                    }
                }
                return;
            }
        }
        self.exchange_gap_count += 1;
        *last = Some(gap);
        if self.exchange_gaps.len() < MAX_LISTED_GAPS {
            self.exchange_gaps.push(gap);
        }
    }
}

/// A window that could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("fetching {product} {granularity} candles {} failed after {attempts} attempt(s): {source}", window.describe())]
pub struct WindowError {
    /// The product.
    pub product: String,
    /// The candle width.
    pub granularity: Granularity,
    /// The window.
    pub window: CandleWindow,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    #[source]
    pub source: SourceError,
}

/// Why [`download`] stopped. Every window handed to the sink before stays written.
///
/// The sink's error type needs only `Debug` and `Display` (so `anyhow::Error` works too); it is
/// shown in the message rather than chained as the `source`.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError<E> {
    /// A window could not be fetched.
    #[error(transparent)]
    Fetch(#[from] WindowError),
    /// The sink failed to write a window.
    #[error("writing {product} candles {} failed: {error}", window.describe())]
    Sink {
        /// The product.
        product: String,
        /// The window whose bars were being written.
        window: CandleWindow,
        /// The sink's error.
        error: E,
    },
}

/// Pulls a plan's windows one at a time.
#[derive(Debug)]
pub struct Downloader<'a> {
    client: &'a CandleClient,
    plan: &'a DownloadPlan,
    next: usize,
    start: ClientStats,
    summary: DownloadSummary,
    last_gap: Option<Gap>,
    last_close_ms: Option<i64>,
}

impl<'a> Downloader<'a> {
    /// A download of `plan` through `client` (requests and retries are counted from here).
    pub fn new(client: &'a CandleClient, plan: &'a DownloadPlan) -> Downloader<'a> {
        Downloader {
            client,
            plan,
            next: 0,
            start: client.stats(),
            summary: DownloadSummary::empty(plan),
            last_gap: None,
            last_close_ms: None,
        }
    }

    /// Fetches the next window; `None` when all are done. After an error the same window is tried
    /// again by the next call.
    pub async fn next_window(&mut self) -> Result<Option<CandleBatch>, WindowError> {
        let Some(window) = self.plan.windows.get(self.next) else {
            return Ok(None);
        };
        let granularity = self.plan.granularity;
        let fetched = self
            .client
            .fetch_counted(&self.plan.product, granularity, window.first_close_ms, window.last_close_ms)
            .await;
        self.update_requests();
        let bars = fetched.map_err(|(source, attempts)| WindowError {
            product: self.plan.product.clone(),
            granularity,
            window: window.clone(),
            attempts,
            source,
        })?;
        let batch = split(self.next, window, granularity, bars);
        self.next += 1;
        self.summary.windows += 1;
        self.summary.bars_fetched += batch.bars.len() as u64;
        for gap in &batch.exchange_gaps {
            self.summary.add_gap(&mut self.last_gap, *gap);
        }
        self.last_close_ms = Some(window.last_close_ms);
        if !batch.exchange_gaps.is_empty() {
            tracing::info!(
                product = %self.plan.product,
                window = %window.describe(),
                missing = batch.exchange_gap_bars(),
                "the exchange has no candles for part of the window"
            );
        }
        Ok(Some(batch))
    }

    /// Records that the caller wrote `bars` bars of the latest batch.
    pub fn record_written(&mut self, bars: u64) {
        self.summary.bars_written += bars;
    }

    /// Where the download stands.
    pub fn progress(&self) -> DownloadProgress {
        DownloadProgress {
            windows_done: self.summary.windows,
            windows_total: self.plan.windows.len(),
            bars_fetched: self.summary.bars_fetched,
            bars_written: self.summary.bars_written,
            exchange_gap_bars: self.summary.exchange_gap_bars,
            requests: self.summary.requests,
            retries: self.summary.retries,
            last_close_ms: self.last_close_ms,
        }
    }

    /// The summary so far (complete once `next_window` returned `None`).
    pub fn summary(&self) -> DownloadSummary {
        self.summary.clone()
    }

    fn update_requests(&mut self) {
        let now = self.client.stats();
        self.summary.requests = now.requests.saturating_sub(self.start.requests);
        self.summary.retries = now.retries.saturating_sub(self.start.retries);
    }
}

/// Splits a window's bars into those filling missing closes and those already stored, and lists
/// the missing closes the exchange lacked.
fn split(index: usize, window: &CandleWindow, granularity: Granularity, fetched: Vec<HistoryBar>) -> CandleBatch {
    let g = granularity.ms();
    let mut bars = Vec::with_capacity(fetched.len());
    let mut gaps = Vec::new();
    let mut already_stored = 0;
    let mut next = fetched.into_iter().peekable();
    for &(first, last) in &window.missing {
        while next.next_if(|b| b.close_ms < first).is_some() {
            already_stored += 1;
        }
        let mut cursor = first;
        while let Some(bar) = next.next_if(|b| b.close_ms <= last) {
            if bar.close_ms > cursor {
                gaps.push(Gap { from_ms: cursor, to_ms: bar.close_ms - g, bars: (bar.close_ms - cursor) / g });
            }
            cursor = bar.close_ms + g;
            bars.push(bar);
        }
        if cursor <= last {
            gaps.push(Gap { from_ms: cursor, to_ms: last, bars: (last - cursor) / g + 1 });
        }
    }
    already_stored += next.count();
    CandleBatch { index, window: window.clone(), bars, already_stored, exchange_gaps: gaps }
}

/// Downloads every window of `plan`: each window's batch goes to `sink` as soon as it is fetched
/// (the sink stores it — in its own transaction — and returns the bars it wrote), then `progress`
/// gets the new state (it is also called once before the first window, with nothing done). Stops at the first window that cannot be fetched (after the client's
/// retries) or written; everything handed over before stays written, so re-planning and running
/// again resumes.
pub async fn download<S, F, E, P>(
    client: &CandleClient,
    plan: &DownloadPlan,
    mut sink: S,
    mut progress: P,
) -> Result<DownloadSummary, DownloadError<E>>
where
    S: FnMut(CandleBatch) -> F,
    F: Future<Output = Result<u64, E>>,
    P: FnMut(&DownloadProgress),
{
    let mut downloader = Downloader::new(client, plan);
    progress(&downloader.progress());
    while let Some(batch) = downloader.next_window().await? {
        let window = batch.window.clone();
        let written =
            sink(batch).await.map_err(|error| DownloadError::Sink { product: plan.product.clone(), window, error })?;
        downloader.record_written(written);
        progress(&downloader.progress());
    }
    let summary = downloader.summary();
    tracing::info!(
        product = %summary.product,
        granularity = %summary.granularity,
        windows = summary.windows,
        requests = summary.requests,
        retries = summary.retries,
        bars_written = summary.bars_written,
        exchange_gap_bars = summary.exchange_gap_bars,
        first_gap = summary.exchange_gaps.first().map(|g| iso_seconds(g.from_ms)),
        "candle download finished"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn bar(close_min: i64) -> HistoryBar {
        HistoryBar { close_ms: close_min * M, open: 1.0, high: 1.0, low: 1.0, close: 1.0, ..Default::default() }
    }

    #[test]
    fn split_separates_stored_bars_and_lists_the_exchange_gaps() {
        let window = CandleWindow {
            first_close_ms: 5 * M,
            last_close_ms: 20 * M,
            missing: vec![(5 * M, 8 * M), (15 * M, 20 * M)],
        };
        // Returned: 5, 7 (missing), 10, 12 (stored), 15, 16, 19 (missing).
        let fetched = [5, 7, 10, 12, 15, 16, 19].map(bar).to_vec();
        let b = split(3, &window, Granularity::OneMinute, fetched);
        assert_eq!(b.index, 3);
        assert_eq!(b.bars.iter().map(|b| b.close_ms / M).collect::<Vec<_>>(), [5, 7, 15, 16, 19]);
        assert_eq!(b.already_stored, 2);
        let gaps: Vec<(i64, i64, i64)> = b.exchange_gaps.iter().map(|g| (g.from_ms / M, g.to_ms / M, g.bars)).collect();
        assert_eq!(gaps, [(6, 6, 1), (8, 8, 1), (17, 18, 2), (20, 20, 1)]);
        assert_eq!(b.exchange_gap_bars(), 5);
        // Nothing returned: the whole missing set is a gap.
        let b = split(0, &window, Granularity::OneMinute, Vec::new());
        assert_eq!(b.exchange_gap_bars(), 10);
        assert!(b.bars.is_empty());
    }

    #[test]
    fn gaps_of_neighbouring_windows_merge_and_the_list_is_capped() {
        let plan = DownloadPlan {
            product: "BTC-USD".into(),
            granularity: Granularity::OneMinute,
            from_ms: 0,
            to_ms: 1_000 * M,
            bars_expected: 1_000,
            bars_stored: 0,
            windows: Vec::new(),
        };
        let mut s = DownloadSummary::empty(&plan);
        let mut last = None;
        s.add_gap(&mut last, Gap { from_ms: 10 * M, to_ms: 12 * M, bars: 3 });
        s.add_gap(&mut last, Gap { from_ms: 13 * M, to_ms: 13 * M, bars: 1 });
        s.add_gap(&mut last, Gap { from_ms: 20 * M, to_ms: 20 * M, bars: 1 });
        assert_eq!(s.exchange_gap_count, 2);
        assert_eq!(s.exchange_gap_bars, 5);
        assert_eq!(s.exchange_gaps[0], Gap { from_ms: 10 * M, to_ms: 13 * M, bars: 4 });
        for k in 0..(MAX_LISTED_GAPS as i64 + 10) {
            s.add_gap(&mut last, Gap { from_ms: (100 + 2 * k) * M, to_ms: (100 + 2 * k) * M, bars: 1 });
        }
        assert_eq!(s.exchange_gaps.len(), MAX_LISTED_GAPS);
        assert_eq!(s.exchange_gap_count, MAX_LISTED_GAPS as i64 + 12);
        // A run continuing an unlisted one still counts its bars without listing it.
        let tail = (100 + 2 * (MAX_LISTED_GAPS as i64 + 9)) * M;
        s.add_gap(&mut last, Gap { from_ms: tail + M, to_ms: tail + M, bars: 1 });
        assert_eq!(s.exchange_gap_count, MAX_LISTED_GAPS as i64 + 12);
        assert_eq!(s.exchange_gaps.len(), MAX_LISTED_GAPS);
        assert_eq!(s.exchange_gap_bars, 5 + MAX_LISTED_GAPS as i64 + 10 + 1);
    }
}
