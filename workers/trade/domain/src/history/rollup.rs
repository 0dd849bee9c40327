//! Rolling finer bars up into coarser ones: open of the first, high and low of all, close of the
//! last, volumes and sample counts summed in time order, the book of the last. The same rule the
//! database's rollup applies, so a bar rolled up on the fly equals the stored one bit for bit.

use super::HistoryBar;

/// Streaming rollup of bars in close-time order into bars of `interval_ms`.
///
/// A finer bar closing at `t` falls into the coarse bar closing at the next multiple of the
/// interval at or after `t` (the finer interval divides the coarser one, so a finer bar never
/// straddles two coarse ones).
#[derive(Debug, Clone)]
pub struct Rollup {
    interval_ms: i64,
    current: Option<HistoryBar>,
}

/// The close of the coarse bar of `interval_ms` that a bar closing at `close_ms` falls into.
pub fn coarse_close(close_ms: i64, interval_ms: i64) -> i64 {
    ((close_ms - 1).div_euclid(interval_ms) + 1) * interval_ms
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

impl Rollup {
    /// A rollup into bars of `interval_ms` (positive).
    pub fn new(interval_ms: i64) -> Rollup {
        Rollup { interval_ms: interval_ms.max(1), current: None }
    }

    /// Adds the next finer bar; returns the coarse bar it closed, if any.
    pub fn push(&mut self, bar: &HistoryBar) -> Option<HistoryBar> {
        let close = coarse_close(bar.close_ms, self.interval_ms);
        match &mut self.current {
            Some(c) if c.close_ms == close => {
                c.high = c.high.max(bar.high);
                c.low = c.low.min(bar.low);
                c.close = bar.close;
                c.volume += bar.volume;
                c.buy_volume = add(c.buy_volume, bar.buy_volume);
                c.sell_volume = add(c.sell_volume, bar.sell_volume);
                c.sample_count = match (c.sample_count, bar.sample_count) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                };
                if bar.book.is_some() {
                    c.book = bar.book;
                }
                None
            }
            _ => {
                let done = self.current.take();
                self.current = Some(HistoryBar { close_ms: close, ..*bar });
                done
            }
        }
    }

    /// The last (possibly still open) coarse bar.
    pub fn finish(self) -> Option<HistoryBar> {
        self.current
    }
}

/// Rolls `bars` (close-time order) up into bars of `interval_ms`, the last one included.
pub fn rollup(bars: &[HistoryBar], interval_ms: i64) -> Vec<HistoryBar> {
    let mut r = Rollup::new(interval_ms);
    let mut out: Vec<HistoryBar> = bars.iter().filter_map(|b| r.push(b)).collect();
    out.extend(r.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bars::Book;

    fn b(close_ms: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> HistoryBar {
        HistoryBar {
            close_ms,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
            buy_volume: Some(v / 2.0),
            sell_volume: None,
            sample_count: Some(4),
            book: Some(Book { bid: c - 1.0, ..Book::default() }),
        }
    }

    #[test]
    fn minute_bars_from_second_bars() {
        // Seconds closing at 1..=60 s form the minute closing at 60 s; 61 s opens the next.
        let secs: Vec<HistoryBar> =
            (1..=61).map(|k| b(k * 1000, k as f64, k as f64 + 0.5, k as f64 - 0.5, k as f64 + 0.25, 1.0)).collect();
        let mins = rollup(&secs, 60_000);
        assert_eq!(mins.len(), 2);
        let m = mins[0];
        assert_eq!((m.close_ms, m.open, m.high, m.low, m.close), (60_000, 1.0, 60.5, 0.5, 60.25));
        assert_eq!((m.volume, m.buy_volume, m.sell_volume, m.sample_count), (60.0, Some(30.0), None, Some(240)));
        assert_eq!(m.book.unwrap().bid, 59.25, "the book of the last second");
        assert_eq!(mins[1].close_ms, 120_000);
        assert_eq!(coarse_close(60_000, 60_000), 60_000);
        assert_eq!(coarse_close(60_001, 60_000), 120_000);
    }

    #[test]
    fn rollups_compose() {
        // 1m → 5m → 15m equals 1m → 15m.
        let mins: Vec<HistoryBar> = (1..=95)
            .map(|k| {
                let p = 100.0 + ((k * 7919) % 13) as f64;
                b(k * 60_000, p, p + 2.0, p - 1.0, p + 0.5, k as f64 * 0.1)
            })
            .collect();
        let direct = rollup(&mins, 900_000);
        let via = rollup(&rollup(&mins, 300_000), 900_000);
        assert_eq!(direct.len(), 7);
        for (a, b) in direct.iter().zip(&via) {
            assert_eq!(
                (a.close_ms, a.open, a.high, a.low, a.close, a.sample_count),
                (b.close_ms, b.open, b.high, b.low, b.close, b.sample_count)
            );
            assert!((a.volume - b.volume).abs() < 1e-9);
        }
    }
}
