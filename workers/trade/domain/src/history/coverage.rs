//! Which bars of a range exist: the bars a range should hold ([`Coverage::expected_closes`]), the ones
//! found, and the gaps between them — what a run records and what `GET /api/history` lists.

use serde::{Deserialize, Serialize};

/// Gaps listed in full; beyond this a coverage keeps counting but lists no more.
pub const MAX_LISTED_GAPS: usize = 100;

/// A run of missing bars: closes `from_ms` to `to_ms` (both bar closes, inclusive), `bars` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Close of the first missing bar, ms since the epoch.
    pub from_ms: i64,
    /// Close of the last missing bar.
    pub to_ms: i64,
    /// Missing bars.
    pub bars: i64,
}

/// The coverage of a range by bars of one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Bar interval, ms.
    pub interval_ms: i64,
    /// Bars the range should hold (every interval close whose bar lies inside it).
    pub bars_expected: i64,
    /// Bars found.
    pub bars_found: i64,
    /// Close of the first bar found.
    pub first_ms: Option<i64>,
    /// Close of the last bar found.
    pub last_ms: Option<i64>,
    /// Missing runs of bars, oldest first (at most [`MAX_LISTED_GAPS`]).
    pub gaps: Vec<Gap>,
    /// All missing runs, listed or not.
    pub gap_count: i64,
    #[serde(skip)]
    start: Option<i64>,
    #[serde(skip)]
    end: Option<i64>,
    #[serde(skip)]
    cursor: Option<i64>,
}

impl Coverage {
    /// The closes of the first and last bar of `interval_ms` lying wholly inside
    /// `[from_ms, to_ms)`: closes `c` with `c - interval >= from` and `c <= to`; `None` when none do.
    pub fn expected_closes(from_ms: i64, to_ms: i64, interval_ms: i64) -> Option<(i64, i64)> {
        let first = first_close(from_ms, interval_ms);
        let last = to_ms.div_euclid(interval_ms) * interval_ms;
        (first <= last).then_some((first, last))
    }

    /// Starts the coverage of `[from_ms, to_ms)`; an open bound is taken from the first or the
    /// last bar found.
    pub fn new(interval_ms: i64, from_ms: Option<i64>, to_ms: Option<i64>) -> Coverage {
        let interval_ms = interval_ms.max(1);
        Coverage {
            interval_ms,
            bars_expected: 0,
            bars_found: 0,
            first_ms: None,
            last_ms: None,
            gaps: Vec::new(),
            gap_count: 0,
            start: from_ms.map(|f| first_close(f, interval_ms)),
            end: to_ms.map(|t| t.div_euclid(interval_ms) * interval_ms),
            cursor: None,
        }
    }

    /// A coverage from a count alone (the store counted the bars of the range): bars expected and
    /// found, and — when some are missing — a gap count of at least one, without the list.
    pub fn counted(
        interval_ms: i64,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        found: i64,
        first_ms: Option<i64>,
        last_ms: Option<i64>,
    ) -> Coverage {
        let mut c = Coverage::new(interval_ms, from_ms, to_ms);
        let (start, end) = (c.start.or(first_ms), c.end.or(last_ms));
        c.bars_found = found;
        c.first_ms = first_ms;
        c.last_ms = last_ms;
        c.bars_expected = match (start, end) {
            (Some(s), Some(e)) if e >= s => (e - s) / c.interval_ms + 1,
            _ => 0,
        };
        c.gap_count = i64::from(found < c.bars_expected);
        c
    }

    fn gap(&mut self, from_ms: i64, to_ms: i64) {
        if to_ms < from_ms {
            return;
        }
        self.gap_count += 1;
        if self.gaps.len() < MAX_LISTED_GAPS {
            self.gaps.push(Gap { from_ms, to_ms, bars: (to_ms - from_ms) / self.interval_ms + 1 });
        }
    }

    /// Records the next bar found (close-time order, inside the range).
    pub fn push(&mut self, close_ms: i64) {
        let cursor = *self.cursor.get_or_insert(self.start.unwrap_or(close_ms));
        if close_ms > cursor {
            self.gap(cursor, close_ms - self.interval_ms);
        }
        self.bars_found += 1;
        self.first_ms.get_or_insert(close_ms);
        self.last_ms = Some(close_ms);
        self.cursor = Some(cursor.max(close_ms + self.interval_ms));
    }

    /// Closes the coverage: the trailing gap (or the whole range, when nothing was found) and
    /// the expected count.
    pub fn finish(mut self) -> Coverage {
        let start = self.start.or(self.first_ms);
        let end = self.end.or(self.last_ms);
        match (self.cursor, start, end) {
            (None, Some(s), Some(e)) => self.gap(s, e),
            (Some(c), _, Some(e)) => self.gap(c, e),
            _ => {}
        }
        self.bars_expected = match (start, end) {
            (Some(s), Some(e)) if e >= s => (e - s) / self.interval_ms + 1,
            _ => 0,
        };
        self
    }

    /// The finished coverage of the same bars over the range cut at the last bar found (an open
    /// end taken from the data): the same bars found, no trailing gap, fewer bars expected.
    /// Equal to the coverage of the bars of the cut range, without reading them again.
    pub fn ending_at_last_bar(mut self) -> Coverage {
        let (Some(last), Some(end)) = (self.last_ms, self.end) else { return self };
        if end <= last {
            return self;
        }
        self.bars_expected -= (end - last) / self.interval_ms;
        self.end = Some(last);
        if self.gaps.is_empty() {
            // A counted coverage (a listed one lists its trailing gap unless its list is full):
            // something is missing when fewer bars were found than are expected.
            self.gap_count = i64::from(self.bars_found < self.bars_expected);
        } else {
            // The trailing gap runs from the bar after the last found to the end.
            if self.gaps.last().is_some_and(|g| g.from_ms == last + self.interval_ms) {
                self.gaps.pop();
            }
            self.gap_count -= 1;
        }
        self
    }

    /// True when every expected bar was found.
    pub fn complete(&self) -> bool {
        self.gap_count == 0 && self.bars_found >= self.bars_expected
    }
}

/// The close of the first bar of `interval_ms` starting at or after `from_ms`.
fn first_close(from_ms: i64, interval_ms: i64) -> i64 {
    (from_ms.div_euclid(interval_ms) + i64::from(from_ms.rem_euclid(interval_ms) != 0) + 1) * interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cover(from: Option<i64>, to: Option<i64>, closes: &[i64]) -> Coverage {
        let mut c = Coverage::new(10, from, to);
        for &t in closes {
            c.push(t);
        }
        c.finish()
    }

    #[test]
    fn expected_bars_lie_wholly_inside_the_range() {
        assert_eq!(Coverage::expected_closes(0, 100, 10), Some((10, 100)));
        assert_eq!(Coverage::expected_closes(5, 100, 10), Some((20, 100)));
        assert_eq!(Coverage::expected_closes(5, 19, 10), None);
        let c = cover(Some(0), Some(100), &(1..=10).map(|k| k * 10).collect::<Vec<_>>());
        assert_eq!((c.bars_expected, c.bars_found, c.gap_count), (10, 10, 0));
        assert!(c.complete());
    }

    #[test]
    fn gaps_leading_inner_and_trailing() {
        let c = cover(Some(0), Some(100), &[30, 40, 70]);
        assert_eq!(c.bars_expected, 10);
        assert_eq!(c.bars_found, 3);
        assert_eq!(
            c.gaps,
            vec![
                Gap { from_ms: 10, to_ms: 20, bars: 2 },
                Gap { from_ms: 50, to_ms: 60, bars: 2 },
                Gap { from_ms: 80, to_ms: 100, bars: 3 }
            ]
        );
        assert!(!c.complete());
    }

    #[test]
    fn cutting_at_the_last_bar_equals_covering_the_cut_range() {
        let closes = [30, 40, 70, 80];
        for from in [Some(0), Some(25), None] {
            // Listed: leading, inner and trailing gaps; the cut drops only the trailing one.
            let cut = cover(from, Some(150), &closes).ending_at_last_bar();
            assert_eq!(cut, cover(from, Some(80), &closes), "{from:?}");
            // Counted: the same numbers as a count over the cut range.
            let counted = Coverage::counted(10, from, Some(150), 4, Some(30), Some(80)).ending_at_last_bar();
            assert_eq!(counted, Coverage::counted(10, from, Some(80), 4, Some(30), Some(80)), "{from:?}");
        }
        // Complete up to the last bar: nothing missing once cut.
        let whole: Vec<i64> = (1..=8).map(|k| k * 10).collect();
        let cut = cover(Some(0), Some(200), &whole).ending_at_last_bar();
        assert!(cut.complete() && cut.gaps.is_empty() && cut.bars_expected == 8, "{cut:?}");
        let counted = Coverage::counted(10, Some(0), Some(200), 8, Some(10), Some(80)).ending_at_last_bar();
        assert!(counted.complete(), "{counted:?}");
        // A full gap list whose trailing gap was counted but not listed.
        let many: Vec<i64> = (0..=MAX_LISTED_GAPS as i64).map(|k| 10 + k * 20).collect();
        let end = many.last().unwrap() + 100;
        let full = cover(Some(0), Some(end), &many);
        assert_eq!((full.gaps.len(), full.gap_count), (MAX_LISTED_GAPS, MAX_LISTED_GAPS as i64 + 1));
        assert_eq!(full.ending_at_last_bar(), cover(Some(0), Some(*many.last().unwrap()), &many));
        // Nothing past the last bar, or nothing found: unchanged.
        assert_eq!(cover(Some(0), Some(80), &closes).ending_at_last_bar(), cover(Some(0), Some(80), &closes));
        assert_eq!(cover(Some(0), Some(50), &[]).ending_at_last_bar(), cover(Some(0), Some(50), &[]));
    }

    #[test]
    fn a_counted_coverage_knows_what_is_missing() {
        let c = Coverage::counted(10, Some(0), Some(100), 7, Some(10), Some(100));
        assert_eq!((c.bars_expected, c.bars_found, c.gap_count), (10, 7, 1));
        assert!(!c.complete());
        let c = Coverage::counted(10, None, Some(100), 10, Some(10), Some(100));
        assert!(c.complete());
    }

    #[test]
    fn nothing_found_is_one_gap_over_the_range_and_open_bounds_follow_the_data() {
        let c = cover(Some(0), Some(50), &[]);
        assert_eq!((c.bars_expected, c.bars_found, c.gap_count), (5, 0, 1));
        assert_eq!(c.gaps[0], Gap { from_ms: 10, to_ms: 50, bars: 5 });
        let c = cover(None, None, &[20, 30, 60]);
        assert_eq!((c.bars_expected, c.bars_found), (5, 3));
        assert_eq!(c.gaps, vec![Gap { from_ms: 40, to_ms: 50, bars: 2 }]);
        let c = cover(None, None, &[]);
        assert_eq!((c.bars_expected, c.gap_count), (0, 0));
    }
}
