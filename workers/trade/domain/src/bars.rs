//! Bars from samples, without look-ahead: a bar is stamped at its close, and only closed bars are
//! emitted, so a strategy never sees a price from the future of its decision. Orders a strategy
//! places after bar `k` fill at the open of bar `k + 1` ([`fill_price_after`]).

use serde::{Deserialize, Serialize};

/// The order book at a bar's close (from the bar's last sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Best bid price (0 when the book side was empty).
    pub bid: f64,
    /// Best ask price (0 when empty).
    pub ask: f64,
    /// Summed size of the stored bid levels (base currency).
    pub bid_depth: f64,
    /// Summed size of the stored ask levels.
    pub ask_depth: f64,
}

/// A bar: OHLCV stamped at its close, with the book at the close — the market state of a
/// decision-log row. (The plugin contract's bar is the OHLCV part; the worker converts at the
/// one edge where it calls a plugin.) Serialised flat: `time_ms`, `open`, `high`, `low`, `close`,
/// `volume`, `buy_volume`, `sell_volume`, `bid`, `ask`, `bid_depth`, `ask_depth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Close time, ms since the epoch.
    pub time_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume (taker buys + taker sells).
    pub volume: f64,
    /// Taker-buy volume.
    pub buy_volume: f64,
    /// Taker-sell volume.
    pub sell_volume: f64,
    /// The book at the close.
    #[serde(flatten)]
    pub book: Book,
}

/// One sample as bars need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePoint {
    /// When the sample was taken, ms since the epoch.
    pub time_ms: i64,
    /// Midpoint (quote currency).
    pub midpoint: f64,
    /// Taker-buy size since the previous sample (base currency).
    pub buy_size: f64,
    /// Taker-sell size since the previous sample.
    pub sell_size: f64,
    /// The book at this sample (the bar's book is its last sample's).
    pub book: Book,
}

/// Why bars could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarError {
    /// The interval is not positive.
    #[error("bar interval must be positive (got {0} ms)")]
    BadInterval(i64),
    /// Samples are not in time order.
    #[error("samples are not in time order at index {0}")]
    Unordered(usize),
    /// A value is NaN or infinite.
    #[error("sample {0} holds a non-finite value")]
    NonFinite(usize),
    /// A midpoint is zero or negative.
    #[error("sample {0} has a midpoint of zero or below")]
    NonPositivePrice(usize),
}

/// Builds bars of `interval_ms` from samples in time order. Bucket `b` covers
/// `[b * interval, (b + 1) * interval)` and its bar is stamped at `(b + 1) * interval`. A bucket is
/// emitted only once it is closed: when a later sample exists, or `now_ms` is at or past its close.
/// Buckets without samples produce no bar.
pub fn build_bars(samples: &[SamplePoint], interval_ms: i64, now_ms: Option<i64>) -> Result<Vec<Bar>, BarError> {
    if interval_ms <= 0 {
        return Err(BarError::BadInterval(interval_ms));
    }
    let mut bars: Vec<Bar> = Vec::new();
    let mut current: Option<(i64, Bar)> = None;
    let mut last_time = i64::MIN;
    for (i, s) in samples.iter().enumerate() {
        if s.time_ms < last_time {
            return Err(BarError::Unordered(i));
        }
        last_time = s.time_ms;
        if !(s.midpoint.is_finite() && s.buy_size.is_finite() && s.sell_size.is_finite()) {
            return Err(BarError::NonFinite(i));
        }
        if s.midpoint <= 0.0 {
            return Err(BarError::NonPositivePrice(i));
        }
        let bucket = s.time_ms.div_euclid(interval_ms);
        match &mut current {
            Some((b, bar)) if *b == bucket => {
                bar.book = s.book;
                bar.high = bar.high.max(s.midpoint);
                bar.low = bar.low.min(s.midpoint);
                bar.close = s.midpoint;
                bar.buy_volume += s.buy_size;
                bar.sell_volume += s.sell_size;
                bar.volume = bar.buy_volume + bar.sell_volume;
            }
            _ => {
                if let Some((_, done)) = current.take() {
                    bars.push(done);
                }
                current = Some((
                    bucket,
                    Bar {
                        time_ms: (bucket + 1) * interval_ms,
                        open: s.midpoint,
                        high: s.midpoint,
                        low: s.midpoint,
                        close: s.midpoint,
                        volume: s.buy_size + s.sell_size,
                        buy_volume: s.buy_size,
                        sell_volume: s.sell_size,
                        book: s.book,
                    },
                ));
            }
        }
    }
    if let (Some((_, bar)), Some(now)) = (current, now_ms) {
        if now >= bar.time_ms {
            bars.push(bar);
        }
    }
    Ok(bars)
}

/// The price an order decided after `bars[k]` closed fills at: the next bar's open — never a
/// price the strategy already saw. `None` when there is no next bar yet.
pub fn fill_price_after(bars: &[Bar], k: usize) -> Option<f64> {
    bars.get(k + 1).map(|b| b.open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, m: f64, b: f64, sl: f64) -> SamplePoint {
        SamplePoint {
            time_ms: t,
            midpoint: m,
            buy_size: b,
            sell_size: sl,
            book: Book { bid: m - 1.0, ..Book::default() },
        }
    }

    #[test]
    fn ohlcv_per_bucket_stamped_at_close() {
        let samples = [s(0, 10.0, 1.0, 0.0), s(400, 12.0, 0.0, 2.0), s(900, 9.0, 1.0, 1.0), s(1000, 11.0, 0.5, 0.0)];
        let bars = build_bars(&samples, 1000, None).unwrap();
        // The second bucket is still open: only the first bar is emitted.
        assert_eq!(bars.len(), 1);
        assert_eq!(bars[0].book.bid, 8.0, "the book of the bar's last sample");
        let b = bars[0];
        assert_eq!((b.time_ms, b.open, b.high, b.low, b.close), (1000, 10.0, 12.0, 9.0, 9.0));
        assert_eq!((b.buy_volume, b.sell_volume, b.volume), (2.0, 3.0, 5.0));
        // Once time passes its close, the last bucket is a bar too.
        let bars = build_bars(&samples, 1000, Some(2000)).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].time_ms, 2000);
        assert_eq!(build_bars(&samples, 1000, Some(1999)).unwrap().len(), 1);
    }

    #[test]
    fn no_look_ahead_fills_at_the_next_open() {
        let samples = [s(0, 10.0, 0.0, 0.0), s(1500, 20.0, 0.0, 0.0), s(2500, 30.0, 0.0, 0.0)];
        let bars = build_bars(&samples, 1000, None).unwrap();
        assert_eq!(bars.len(), 2, "an empty bucket yields no bar; the open one is withheld");
        // Every bar is stamped after every sample it contains.
        assert!(bars.iter().all(|b| b.time_ms > 0));
        assert_eq!(fill_price_after(&bars, 0), Some(20.0));
        assert_eq!(fill_price_after(&bars, 1), None);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(build_bars(&[], 0, None), Err(BarError::BadInterval(0)));
        assert_eq!(build_bars(&[s(5, 1.0, 0.0, 0.0), s(4, 1.0, 0.0, 0.0)], 10, None), Err(BarError::Unordered(1)));
        assert_eq!(build_bars(&[s(5, f64::NAN, 0.0, 0.0)], 10, None), Err(BarError::NonFinite(0)));
        assert_eq!(build_bars(&[s(5, 0.0, 0.0, 0.0)], 10, None), Err(BarError::NonPositivePrice(0)));
        assert!(build_bars(&[], 1000, Some(10)).unwrap().is_empty());
    }
}
