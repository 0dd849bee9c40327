//! The download planner: which windows of candles a range still needs, given the bar closes
//! already stored. Re-running a download after a full one plans nothing; after a partial one (a
//! kill, an error) only the missing stretches. Missing stretches close together share a window
//! (the fewest requests of at most [`MAX_CANDLES_PER_REQUEST`] candles that cover every missing
//! close), and each window remembers which of its closes were missing, so bars already stored are
//! not written again and the exchange's own gaps are counted exactly.
//!
//! A bucket the exchange has no candle for stays missing, so a later run asks for it again (one
//! request per stretch of such gaps, shared with other missing closes nearby): that re-check is
//! accepted, since the exchange may have filled it meanwhile.

use super::{iso_seconds, Granularity, MAX_CANDLES_PER_REQUEST};
use crate::error::SourceError;
use cgaf_trade_domain::history::Coverage;

/// Latest time a download may reach: the end of year 9999, in ms.
const MAX_TIME_MS: i64 = 253_402_300_800_000;

/// One request's worth of candles: the closes `first_close_ms..=last_close_ms` (at most
/// [`MAX_CANDLES_PER_REQUEST`] of them) and, among them, the ones missing from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleWindow {
    /// Close of the first bar requested, ms since the epoch.
    pub first_close_ms: i64,
    /// Close of the last bar requested.
    pub last_close_ms: i64,
    /// Runs of missing closes inside the window, `(first, last)` both included, oldest first.
    /// The window starts at the first run and ends at the last.
    pub missing: Vec<(i64, i64)>,
}

impl CandleWindow {
    /// Bars requested.
    pub fn bars(&self, granularity: Granularity) -> i64 {
        (self.last_close_ms - self.first_close_ms) / granularity.ms() + 1
    }

    /// Bars missing from the store among those requested.
    pub fn missing_bars(&self, granularity: Granularity) -> i64 {
        self.missing.iter().map(|(a, b)| (b - a) / granularity.ms() + 1).sum()
    }

    /// `2025-01-01T00:01:00Z..=2025-01-01T05:00:00Z` (closes), for messages.
    pub fn describe(&self) -> String {
        format!("closing {}..={}", iso_seconds(self.first_close_ms), iso_seconds(self.last_close_ms))
    }
}

/// What a download of one product and granularity over `[from_ms, to_ms)` still has to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPlan {
    /// The exchange's product id (`BTC-USD`).
    pub product: String,
    /// The candle width.
    pub granularity: Granularity,
    /// Start of the range, ms since the epoch (included).
    pub from_ms: i64,
    /// End of the range, ms: a bar is wanted when it closes at or before it.
    pub to_ms: i64,
    /// Bars wholly inside the range.
    pub bars_expected: i64,
    /// Of those, bars already stored.
    pub bars_stored: i64,
    /// The windows to request, oldest first.
    pub windows: Vec<CandleWindow>,
}

impl DownloadPlan {
    /// Bars missing from the store.
    pub fn bars_missing(&self) -> i64 {
        self.bars_expected - self.bars_stored
    }

    /// True when every bar of the range is stored (nothing to request).
    pub fn is_complete(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Plans the download of `product`'s `granularity` candles over `[from_ms, to_ms)`: every bar
/// lying wholly inside the range (close `c` with `c − interval ≥ from_ms` and `c ≤ to_ms`) that is
/// not among `stored_closes` (the closes already stored at this interval, in any order; closes
/// outside the range or off the interval grid are ignored) is covered by a window.
///
/// Errors ([`SourceError::Config`]): an empty product, `from_ms ≥ to_ms`, or times before 1970 or
/// after 9999.
pub fn plan_download(
    product: &str,
    granularity: Granularity,
    from_ms: i64,
    to_ms: i64,
    stored_closes: impl IntoIterator<Item = i64>,
) -> Result<DownloadPlan, SourceError> {
    if product.trim().is_empty() {
        return Err(SourceError::Config("the product to download is empty".into()));
    }
    if !(0..=MAX_TIME_MS).contains(&from_ms) || !(0..=MAX_TIME_MS).contains(&to_ms) {
        return Err(SourceError::Config(format!(
            "download range {from_ms}..{to_ms} ms must lie between 1970 and 9999"
        )));
    }
    if from_ms >= to_ms {
        return Err(SourceError::Config(format!(
            "the download range is empty: from {} is not before to {}",
            iso_seconds(from_ms),
            iso_seconds(to_ms)
        )));
    }
    let g = granularity.ms();
    let mut plan = DownloadPlan {
        product: product.to_owned(),
        granularity,
        from_ms,
        to_ms,
        bars_expected: 0,
        bars_stored: 0,
        windows: Vec::new(),
    };
    let Some((first, last)) = Coverage::expected_closes(from_ms, to_ms, g) else {
        return Ok(plan);
    };
    plan.bars_expected = (last - first) / g + 1;
    let mut stored: Vec<i64> =
        stored_closes.into_iter().filter(|c| (first..=last).contains(c) && c.rem_euclid(g) == 0).collect();
    stored.sort_unstable();
    stored.dedup();
    plan.bars_stored = i64::try_from(stored.len()).unwrap_or(i64::MAX);

    let mut runs = Vec::new();
    let mut cursor = first;
    for close in stored {
        if close > cursor {
            runs.push((cursor, close - g));
        }
        cursor = close + g;
    }
    if cursor <= last {
        runs.push((cursor, last));
    }
    plan.windows = cover(&runs, g);
    Ok(plan)
}

/// The fewest windows of at most [`MAX_CANDLES_PER_REQUEST`] closes covering every run: each
/// window starts at the first close not yet covered and takes every missing close within reach.
fn cover(runs: &[(i64, i64)], g: i64) -> Vec<CandleWindow> {
    let reach = (MAX_CANDLES_PER_REQUEST - 1) * g;
    let mut windows = Vec::new();
    let mut current: Option<CandleWindow> = None;
    for &(start, end) in runs {
        let mut a = start;
        while a <= end {
            if let Some(w) = current.as_mut() {
                let limit = w.first_close_ms + reach;
                if a <= limit {
                    let e = end.min(limit);
                    w.missing.push((a, e));
                    w.last_close_ms = e;
                    a = e + g;
                    continue;
                }
                windows.extend(current.take());
            }
            let e = end.min(a + reach);
            current = Some(CandleWindow { first_close_ms: a, last_close_ms: e, missing: vec![(a, e)] });
            a = e + g;
        }
    }
    windows.extend(current);
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn plan(from: i64, to: i64, stored: &[i64]) -> DownloadPlan {
        plan_download("BTC-USD", Granularity::OneMinute, from, to, stored.iter().copied()).unwrap()
    }

    #[test]
    fn an_empty_store_is_split_into_full_windows() {
        // 700 bars: closes 1 … 700 minutes.
        let p = plan(0, 700 * M, &[]);
        assert_eq!((p.bars_expected, p.bars_stored, p.bars_missing()), (700, 0, 700));
        let spans: Vec<(i64, i64)> = p.windows.iter().map(|w| (w.first_close_ms / M, w.last_close_ms / M)).collect();
        assert_eq!(spans, [(1, 300), (301, 600), (601, 700)]);
        assert!(p.windows.iter().all(|w| w.missing == vec![(w.first_close_ms, w.last_close_ms)]));
        assert_eq!(p.windows.iter().map(|w| w.bars(Granularity::OneMinute)).sum::<i64>(), 700);
    }

    #[test]
    fn a_full_store_plans_nothing() {
        let all: Vec<i64> = (1..=700).rev().map(|k| k * M).collect();
        let p = plan(0, 700 * M, &all);
        assert!(p.is_complete());
        assert_eq!((p.bars_expected, p.bars_stored), (700, 700));
    }

    #[test]
    fn resume_after_a_kill_fetches_the_second_half_only() {
        let first_half: Vec<i64> = (1..=350).map(|k| k * M).collect();
        let p = plan(0, 700 * M, &first_half);
        let spans: Vec<(i64, i64)> = p.windows.iter().map(|w| (w.first_close_ms / M, w.last_close_ms / M)).collect();
        assert_eq!(spans, [(351, 650), (651, 700)]);
        assert_eq!(p.bars_missing(), 350);
    }

    #[test]
    fn nearby_holes_share_a_window_and_remember_what_was_missing() {
        let stored: Vec<i64> = (1..=1000).filter(|k| ![5, 6, 200, 900].contains(k)).map(|k| k * M).collect();
        let p = plan(0, 1000 * M, &stored);
        assert_eq!(p.windows.len(), 2);
        assert_eq!(p.windows[0].first_close_ms, 5 * M);
        assert_eq!(p.windows[0].last_close_ms, 200 * M);
        assert_eq!(p.windows[0].missing, vec![(5 * M, 6 * M), (200 * M, 200 * M)]);
        assert_eq!(p.windows[0].missing_bars(Granularity::OneMinute), 3);
        assert_eq!(p.windows[1].missing, vec![(900 * M, 900 * M)]);
    }

    #[test]
    fn a_long_run_after_a_hole_is_split_at_the_window_limit() {
        // Missing: 10, then 100 … 500.
        let stored: Vec<i64> = (1..=500).filter(|k| *k != 10 && *k < 100).map(|k| k * M).collect();
        let p = plan(0, 500 * M, &stored);
        let spans: Vec<(i64, i64)> = p.windows.iter().map(|w| (w.first_close_ms / M, w.last_close_ms / M)).collect();
        assert_eq!(spans, [(10, 309), (310, 500)]);
        assert_eq!(p.windows[0].missing, vec![(10 * M, 10 * M), (100 * M, 309 * M)]);
        assert!(p.windows.iter().all(|w| w.bars(Granularity::OneMinute) <= MAX_CANDLES_PER_REQUEST));
    }

    #[test]
    fn partial_bars_at_the_edges_and_foreign_closes_are_ignored() {
        // From 00:00:30 to 00:05:30: bars closing 2 … 5 minutes lie wholly inside.
        let p = plan(30_000, 5 * M + 30_000, &[3 * M, 3 * M, 90_000, 9 * M]);
        assert_eq!((p.bars_expected, p.bars_stored), (4, 1));
        assert_eq!(p.windows.len(), 1);
        assert_eq!(p.windows[0].missing, vec![(2 * M, 2 * M), (4 * M, 5 * M)]);
        // Shorter than one bar: nothing expected, nothing to do.
        let p = plan(10_000, 50_000, &[]);
        assert!(p.is_complete());
        assert_eq!(p.bars_expected, 0);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let g = Granularity::OneHour;
        for (from, to) in [(5, 5), (10, 5), (-1, 5), (0, i64::MAX)] {
            assert!(matches!(plan_download("BTC-USD", g, from, to, []), Err(SourceError::Config(_))), "{from}..{to}");
        }
        assert!(plan_download(" ", g, 0, 1, []).is_err());
    }
}
