//! Bar blocks: a read copy of the stored bars of one product, interval and partition period
//! (a UTC day below 1 minute, a month below 1 hour, a year above — the periods of the bars
//! table's partitions) as one value. A run reads a year of 1-minute bars as 12 blocks instead of
//! 525,600 rows: the rows stay the truth, a block is only kept while it equals them (written
//! where the writer knows the period holds exactly its bars, deleted by every other write into
//! the period).
//!
//! The bytes: a format byte, then LZ4 (size-prefixed) of the postcard form of the bars as columns
//! (closes as differences from the one before). Decoding gives back the very bars encoded, floats
//! bit for bit.

use super::HistoryBar;
use crate::bars::Book;
use crate::Error;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The first byte of an encoded block: the layout of what follows.
const FORMAT: u8 = 1;

/// Interval below which periods are a day (then a month, from an hour a year), as partitions.
const MONTHLY_FROM_MS: i64 = 60_000;
const YEARLY_FROM_MS: i64 = 3_600_000;

/// The period `[starts, ends)` (ms) holding the bar of `interval_ms` that closes at `close_ms`:
/// the partition of the bars table it is stored in (a UTC day below 1 minute, a calendar month
/// below 1 hour, a calendar year above).
pub fn block_period(interval_ms: i64, close_ms: i64) -> (i64, i64) {
    let t = DateTime::<Utc>::from_timestamp_millis(close_ms).unwrap_or_default().date_naive();
    let ms = |d: Option<NaiveDate>| {
        d.and_then(|d| d.and_hms_opt(0, 0, 0)).map_or(close_ms, |d| d.and_utc().timestamp_millis())
    };
    if interval_ms < MONTHLY_FROM_MS {
        (ms(Some(t)), ms(t.succ_opt()))
    } else if interval_ms < YEARLY_FROM_MS {
        let next = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
        (ms(NaiveDate::from_ymd_opt(t.year(), t.month(), 1)), ms(NaiveDate::from_ymd_opt(next.0, next.1, 1)))
    } else {
        (ms(NaiveDate::from_ymd_opt(t.year(), 1, 1)), ms(NaiveDate::from_ymd_opt(t.year() + 1, 1, 1)))
    }
}

/// The bars as columns, in a fixed order (postcard is positional).
#[derive(Serialize, Deserialize, Default)]
struct Columns {
    /// The first close, then each close's difference from the one before.
    close_step: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    buy_volume: Vec<Option<f64>>,
    sell_volume: Vec<Option<f64>>,
    sample_count: Vec<Option<i64>>,
    book: Vec<Option<[f64; 4]>>,
}

/// Encodes `bars` (any number, in close order): their columns' postcard form, written
/// straight from the bars.
pub fn encode_bar_block(bars: &[HistoryBar]) -> Result<Vec<u8>, Error> {
    Ok(crate::packed::pack_plain(FORMAT, &postcard_columns(bars)))
}

/// The postcard form of `bars`' [`Columns`].
fn postcard_columns(bars: &[HistoryBar]) -> Vec<u8> {
    let mut out = crate::packed::PostcardColumns::with_capacity(bars.len() * 48 + 64);
    out.varint(bars.len() as u64);
    let mut previous = 0i64;
    for b in bars {
        out.signed(b.close_ms.wrapping_sub(previous));
        previous = b.close_ms;
    }
    out.floats(bars, |b| b.open);
    out.floats(bars, |b| b.high);
    out.floats(bars, |b| b.low);
    out.floats(bars, |b| b.close);
    out.floats(bars, |b| b.volume);
    out.optional_floats(bars, |b| b.buy_volume);
    out.optional_floats(bars, |b| b.sell_volume);
    out.varint(bars.len() as u64);
    for b in bars {
        match b.sample_count {
            Some(n) => {
                out.out.push(1);
                out.signed(n);
            }
            None => out.out.push(0),
        }
    }
    out.varint(bars.len() as u64);
    for b in bars {
        match b.book {
            Some(k) => {
                out.out.push(1);
                for v in [k.bid, k.ask, k.bid_depth, k.ask_depth] {
                    out.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            None => out.out.push(0),
        }
    }
    out.out
}

/// The bars encoded in `data` by [`encode_bar_block`].
pub fn decode_bar_block(data: &[u8]) -> Result<Vec<HistoryBar>, Error> {
    let bad = |what: String| Error::Invalid(format!("bar block: {what}"));
    let c: Columns = crate::packed::unpack(FORMAT, data).map_err(bad)?;
    let n = c.close_step.len();
    let lengths = [
        c.open.len(),
        c.high.len(),
        c.low.len(),
        c.close.len(),
        c.volume.len(),
        c.buy_volume.len(),
        c.sell_volume.len(),
        c.sample_count.len(),
        c.book.len(),
    ];
    if lengths.iter().any(|&l| l != n) {
        return Err(bad(format!("columns of {lengths:?} values for {n} bars")));
    }
    let mut close_ms = 0i64;
    let mut bars = Vec::with_capacity(n);
    for i in 0..n {
        close_ms = close_ms.wrapping_add(c.close_step[i]);
        bars.push(HistoryBar {
            close_ms,
            open: c.open[i],
            high: c.high[i],
            low: c.low[i],
            close: c.close[i],
            volume: c.volume[i],
            buy_volume: c.buy_volume[i],
            sell_volume: c.sell_volume[i],
            sample_count: c.sample_count[i],
            book: c.book[i].map(|[bid, ask, bid_depth, ask_depth]| Book { bid, ask, bid_depth, ask_depth }),
        });
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    /// The columns gathered as encoding did before it wrote their form straight from the bars.
    fn columns(bars: &[HistoryBar]) -> Columns {
        let mut c = Columns::default();
        let mut previous = 0i64;
        for b in bars {
            c.close_step.push(b.close_ms.wrapping_sub(previous));
            previous = b.close_ms;
            c.open.push(b.open);
            c.high.push(b.high);
            c.low.push(b.low);
            c.close.push(b.close);
            c.volume.push(b.volume);
            c.buy_volume.push(b.buy_volume);
            c.sell_volume.push(b.sell_volume);
            c.sample_count.push(b.sample_count);
            c.book.push(b.book.map(|k| [k.bid, k.ask, k.bid_depth, k.ask_depth]));
        }
        c
    }

    #[test]
    fn the_columns_are_written_as_postcard_writes_them() {
        // Every option both ways, steps of every size and sign, and 0, 1, 127, 128 and 300 bars
        // (one- and two-byte counts).
        let bars: Vec<HistoryBar> = (0..300i64)
            .map(|i| HistoryBar {
                close_ms: match i % 7 {
                    0 => i64::MIN + i,
                    1 => i64::MAX - i,
                    2 => -i * 1_000_003,
                    _ => i * 60_000,
                },
                open: i as f64 / 3.0,
                high: f64::NAN,
                low: -0.0,
                close: f64::MAX,
                volume: 1e-310,
                buy_volume: (i % 3 == 0).then_some(i as f64),
                sell_volume: (i % 2 == 0).then_some(-1.5),
                sample_count: match i % 4 {
                    0 => None,
                    1 => Some(i64::MIN),
                    2 => Some(i64::MAX),
                    _ => Some(-i * 1000),
                },
                book: (i % 5 == 1).then_some(Book { bid: 1.0, ask: 2.0, bid_depth: f64::NAN, ask_depth: -4.0 }),
            })
            .collect();
        for n in [0, 1, 2, 127, 128, 300] {
            let expected = postcard::to_stdvec(&columns(&bars[..n])).unwrap();
            assert_eq!(postcard_columns(&bars[..n]), expected, "{n} bars");
            assert_eq!(
                encode_bar_block(&bars[..n]).unwrap(),
                crate::packed::pack(FORMAT, &columns(&bars[..n])).unwrap()
            );
        }
    }

    #[test]
    fn a_block_decodes_to_the_bars_encoded() {
        let bars: Vec<HistoryBar> = (0..1000)
            .map(|i| HistoryBar {
                close_ms: 1_700_000_000_000 + i * 60_000 + if i > 500 { 3_600_000 } else { 0 },
                open: 100.0 + (i as f64).sin(),
                high: 102.0 + f64::from_bits(0x3ff0_0000_0000_0001 + i as u64),
                low: 99.0 - 1e-300 * i as f64,
                close: -0.0,
                volume: f64::MAX / (i + 1) as f64,
                buy_volume: (i % 3 == 0).then_some(1.5),
                sell_volume: (i % 5 != 0).then_some(f64::MIN_POSITIVE),
                sample_count: (i % 2 == 0).then_some(i * 7),
                book: (i % 4 == 1).then_some(Book { bid: 1.0, ask: 2.0, bid_depth: 3.0, ask_depth: 4.0 }),
            })
            .collect();
        let data = encode_bar_block(&bars).unwrap();
        let back = decode_bar_block(&data).unwrap();
        assert_eq!(back.len(), bars.len());
        for (a, b) in back.iter().zip(&bars) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            assert_eq!(a.close.to_bits(), b.close.to_bits(), "-0.0 stays -0.0");
        }
        assert_eq!(decode_bar_block(&encode_bar_block(&[]).unwrap()).unwrap(), vec![]);
        // Closes before the epoch and far apart.
        let odd = [
            HistoryBar { close_ms: -5_000, ..HistoryBar::default() },
            HistoryBar { close_ms: i64::MAX / 2, ..HistoryBar::default() },
        ];
        assert_eq!(decode_bar_block(&encode_bar_block(&odd).unwrap()).unwrap(), odd.to_vec());
    }

    #[test]
    fn bad_blocks_are_refused() {
        let data = encode_bar_block(&[HistoryBar::default(); 3]).unwrap();
        assert!(decode_bar_block(&[]).is_err());
        assert!(decode_bar_block(&[9, 1, 2]).unwrap_err().to_string().contains("unknown format 9"));
        assert!(decode_bar_block(&data[..data.len() - 2]).is_err());
        let mut other = data.clone();
        other[6] ^= 0xff;
        let _ = decode_bar_block(&other); // an error or other bars, never a panic
    }

    #[test]
    fn periods_are_the_partitions_of_the_interval() {
        let t = ms("2024-02-29T13:45:00Z");
        assert_eq!(block_period(1000, t), (ms("2024-02-29T00:00:00Z"), ms("2024-03-01T00:00:00Z")));
        assert_eq!(block_period(59_000, t), (ms("2024-02-29T00:00:00Z"), ms("2024-03-01T00:00:00Z")));
        assert_eq!(block_period(60_000, t), (ms("2024-02-01T00:00:00Z"), ms("2024-03-01T00:00:00Z")));
        assert_eq!(block_period(900_000, ms("2024-12-31T23:59:59.999Z")).1, ms("2025-01-01T00:00:00Z"));
        assert_eq!(block_period(3_600_000, t), (ms("2024-01-01T00:00:00Z"), ms("2025-01-01T00:00:00Z")));
        // A close on the period's first instant is the new period's (partitions are [from, to)).
        assert_eq!(block_period(60_000, ms("2024-03-01T00:00:00Z")).0, ms("2024-03-01T00:00:00Z"));
        assert_eq!(block_period(86_400_000, ms("1969-12-31T00:00:00Z")).0, ms("1969-01-01T00:00:00Z"));
    }
}
