//! The stored form of the decision log: consecutive rows of a run as one block. A year of 1-minute
//! decisions is 525,600 rows; stored one database row each they cost a primary-key insert and a
//! WAL record per bar, which bound a run more than its strategy. A block holds the rows a run
//! wrote in one transaction (a backtest's chunk of 10,000 bars, a paper run's step) as columns:
//! the close times and the equity as plain arrays (so the database can thin an equity curve
//! without opening the rest), and the other columns serialised with postcard and compressed with
//! LZ4, where runs of equal values (book depth, cash and position between fills) cost next to
//! nothing. Decoding gives back the very rows encoded: floats bit for bit, the strategy state and
//! reasons as the text written.

use crate::bars::{Bar, Book};
use crate::decision::DecisionRow;
use crate::Error;
use serde::{Deserialize, Serialize};

/// The first byte of an encoded block: the layout of what follows.
const FORMAT: u8 = 1;

/// Consecutive decision rows of one run, encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionBlock {
    /// `seq` of the first row; the others follow one by one.
    pub first_seq: i64,
    /// Close time of each row, ms since the epoch.
    pub time_ms: Vec<i64>,
    /// Equity of each row.
    pub equity: Vec<f64>,
    /// The other columns: a format byte, then LZ4 (size-prefixed) of their postcard form.
    pub data: Vec<u8>,
}

/// The postcard form of `rows`' [`Columns`], written straight from the rows: what
/// `postcard::to_stdvec(&columns)` gives, without gathering the columns first (23 vectors of a
/// block's rows) or serde's per-value calls. Postcard writes a sequence as its length (LEB128) and
/// its items, an `f64` as its 8 little-endian bytes, an option as 0, or 1 and the value, a string
/// as its length and bytes.
fn postcard_columns(rows: &[DecisionRow]) -> Vec<u8> {
    let mut out = crate::packed::PostcardColumns::with_capacity(rows.len() * 20 * 8 + 64);
    let text = |out: &mut crate::packed::PostcardColumns, v: Option<&str>| match v {
        Some(t) => {
            out.out.push(1);
            out.varint(t.len() as u64);
            out.out.extend_from_slice(t.as_bytes());
        }
        None => out.out.push(0),
    };
    let texts = |out: &mut crate::packed::PostcardColumns, f: &dyn Fn(&DecisionRow) -> Option<&str>| {
        out.varint(rows.len() as u64);
        for r in rows {
            text(out, f(r));
        }
    };
    out.floats(rows, |r| r.market.open);
    out.floats(rows, |r| r.market.high);
    out.floats(rows, |r| r.market.low);
    out.floats(rows, |r| r.market.close);
    out.floats(rows, |r| r.market.volume);
    out.floats(rows, |r| r.market.buy_volume);
    out.floats(rows, |r| r.market.sell_volume);
    out.floats(rows, |r| r.market.book.bid);
    out.floats(rows, |r| r.market.book.ask);
    out.floats(rows, |r| r.market.book.bid_depth);
    out.floats(rows, |r| r.market.book.ask_depth);
    out.floats(rows, |r| r.target);
    texts(&mut out, &|r| r.reason.as_deref());
    texts(&mut out, &|r| r.gate.as_deref());
    out.optional_floats(rows, |r| r.order_target);
    out.optional_floats(rows, |r| r.fill_price);
    out.optional_floats(rows, |r| r.fill_quantity);
    out.optional_floats(rows, |r| r.fee);
    out.floats(rows, |r| r.position);
    out.floats(rows, |r| r.held_target);
    out.floats(rows, |r| r.cash);
    out.varint(rows.len() as u64);
    for r in rows {
        text(&mut out, r.strategy_state.as_ref().map(|s| s.to_string()).as_deref());
    }
    texts(&mut out, &|r| r.strategy_version.as_deref());
    out.out
}

/// The columns of a block other than time and equity, in a fixed order (postcard is positional):
/// what a block decodes into. Encoding writes the same bytes straight from the rows
/// ([`postcard_columns`]).
#[derive(Serialize, Deserialize, Default)]
struct Columns {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    buy_volume: Vec<f64>,
    sell_volume: Vec<f64>,
    bid: Vec<f64>,
    ask: Vec<f64>,
    bid_depth: Vec<f64>,
    ask_depth: Vec<f64>,
    target: Vec<f64>,
    reason: Vec<Option<String>>,
    gate: Vec<Option<String>>,
    order_target: Vec<Option<f64>>,
    fill_price: Vec<Option<f64>>,
    fill_quantity: Vec<Option<f64>>,
    fee: Vec<Option<f64>>,
    position: Vec<f64>,
    held_target: Vec<f64>,
    cash: Vec<f64>,
    /// The strategy state as JSON text, where the row carries one.
    strategy_state: Vec<Option<String>>,
    strategy_version: Vec<Option<String>>,
}

impl DecisionBlock {
    /// Encodes `rows`, which must be consecutive (`seq` rising by one) and not empty.
    pub fn encode(rows: &[DecisionRow]) -> Result<Self, Error> {
        let first = rows.first().ok_or_else(|| Error::Invalid("an empty decision block".into()))?;
        if let Some((i, r)) = rows.iter().enumerate().find(|(i, r)| r.seq != first.seq + *i as i64) {
            return Err(Error::Invalid(format!("decision rows are not consecutive: seq {} at position {i}", r.seq)));
        }
        let plain = postcard_columns(rows);
        let data = crate::packed::pack_plain(FORMAT, &plain);
        Ok(DecisionBlock {
            first_seq: first.seq,
            time_ms: rows.iter().map(|r| r.time_ms).collect(),
            equity: rows.iter().map(|r| r.equity).collect(),
            data,
        })
    }

    /// The rows encoded in the block.
    pub fn decode(&self) -> Result<Vec<DecisionRow>, Error> {
        let bad = |what: String| Error::Invalid(format!("decision block at seq {}: {what}", self.first_seq));
        let c: Columns = crate::packed::unpack(FORMAT, &self.data).map_err(bad)?;
        let n = self.time_ms.len();
        let lengths = [
            self.equity.len(),
            c.open.len(),
            c.high.len(),
            c.low.len(),
            c.close.len(),
            c.volume.len(),
            c.buy_volume.len(),
            c.sell_volume.len(),
            c.bid.len(),
            c.ask.len(),
            c.bid_depth.len(),
            c.ask_depth.len(),
            c.target.len(),
            c.reason.len(),
            c.gate.len(),
            c.order_target.len(),
            c.fill_price.len(),
            c.fill_quantity.len(),
            c.fee.len(),
            c.position.len(),
            c.held_target.len(),
            c.cash.len(),
            c.strategy_state.len(),
            c.strategy_version.len(),
        ];
        if lengths.iter().any(|&l| l != n) {
            return Err(bad(format!("columns of unequal lengths {lengths:?} for {n} rows")));
        }
        let mut reason = c.reason.into_iter();
        let mut gate = c.gate.into_iter();
        let mut state = c.strategy_state.into_iter();
        let mut version = c.strategy_version.into_iter();
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let strategy_state = match state.next().flatten() {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| bad(format!("strategy state: {e}")))?),
                None => None,
            };
            let time_ms = self.time_ms[i];
            rows.push(DecisionRow {
                seq: self.first_seq + i as i64,
                time_ms,
                market: Bar {
                    time_ms,
                    open: c.open[i],
                    high: c.high[i],
                    low: c.low[i],
                    close: c.close[i],
                    volume: c.volume[i],
                    buy_volume: c.buy_volume[i],
                    sell_volume: c.sell_volume[i],
                    book: Book { bid: c.bid[i], ask: c.ask[i], bid_depth: c.bid_depth[i], ask_depth: c.ask_depth[i] },
                },
                strategy_state,
                target: c.target[i],
                reason: reason.next().flatten(),
                gate: gate.next().flatten(),
                order_target: c.order_target[i],
                fill_price: c.fill_price[i],
                fill_quantity: c.fill_quantity[i],
                fee: c.fee[i],
                position: c.position[i],
                held_target: c.held_target[i],
                cash: c.cash[i],
                equity: self.equity[i],
                strategy_version: version.next().flatten(),
            });
        }
        Ok(rows)
    }

    /// `seq` of the last row.
    pub fn last_seq(&self) -> i64 {
        self.first_seq + self.time_ms.len() as i64 - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> DecisionRow {
        let x = seq as f64;
        DecisionRow {
            seq,
            time_ms: 60_000 * (seq + 1),
            market: Bar {
                time_ms: 60_000 * (seq + 1),
                open: 100.0 + x * 0.1,
                high: 101.0 + x,
                low: 99.0 - x,
                close: 100.3 + x / 7.0,
                volume: 2.5,
                buy_volume: 1.5,
                sell_volume: 1.0,
                book: Book { bid: 100.0, ask: 100.5 + x, bid_depth: 3.0, ask_depth: 0.1 + x },
            },
            strategy_state: (seq % 3 == 0).then(|| serde_json::json!({"seen": seq, "w": [0.1, 1e18, -2.5e-300]})),
            target: if seq % 2 == 0 { 1.0 } else { -0.25 },
            reason: (seq % 4 != 1).then(|| format!("reason \"{seq}\", ünïcode")),
            gate: (seq == 2).then(|| "max_position".to_string()),
            order_target: (seq % 5 == 0).then_some(0.5),
            fill_price: (seq % 5 == 1).then_some(100.123_456_789),
            fill_quantity: (seq % 5 == 1).then_some(-0.333),
            fee: (seq % 5 == 1).then_some(1e-9),
            position: x * 0.01,
            held_target: 0.5,
            cash: 10_000.0 - x,
            equity: 10_000.0 + (x * 0.7).sin(),
            strategy_version: (seq > 3).then(|| "1.2.0".to_string()),
        }
    }

    /// The columns of `rows` gathered as the decoder reads them, for postcard itself to write.
    fn columns(rows: &[DecisionRow]) -> Columns {
        let mut c = Columns::default();
        for r in rows {
            let m = &r.market;
            c.open.push(m.open);
            c.high.push(m.high);
            c.low.push(m.low);
            c.close.push(m.close);
            c.volume.push(m.volume);
            c.buy_volume.push(m.buy_volume);
            c.sell_volume.push(m.sell_volume);
            c.bid.push(m.book.bid);
            c.ask.push(m.book.ask);
            c.bid_depth.push(m.book.bid_depth);
            c.ask_depth.push(m.book.ask_depth);
            c.target.push(r.target);
            c.reason.push(r.reason.clone());
            c.gate.push(r.gate.clone());
            c.order_target.push(r.order_target);
            c.fill_price.push(r.fill_price);
            c.fill_quantity.push(r.fill_quantity);
            c.fee.push(r.fee);
            c.position.push(r.position);
            c.held_target.push(r.held_target);
            c.cash.push(r.cash);
            c.strategy_state.push(r.strategy_state.as_ref().map(|s| s.to_string()));
            c.strategy_version.push(r.strategy_version.clone());
        }
        c
    }

    #[test]
    fn the_columns_are_written_as_postcard_writes_them() {
        // Long texts (two-byte lengths), every option both ways, and 200 rows (a two-byte count).
        let mut rows: Vec<DecisionRow> = (0..200).map(row).collect();
        rows[7].reason = Some("x".repeat(300));
        rows[8].strategy_state = Some(serde_json::json!({"long": "y".repeat(20_000)}));
        rows[9].market.open = f64::NAN;
        rows[10].cash = -0.0;
        for n in [1, 2, 127, 128, 200] {
            let expected = postcard::to_stdvec(&columns(&rows[..n])).unwrap();
            assert_eq!(postcard_columns(&rows[..n]), expected, "{n} rows");
        }
    }

    #[test]
    fn a_block_decodes_to_the_rows_encoded() {
        let rows: Vec<DecisionRow> = (40..47).map(row).collect();
        let b = DecisionBlock::encode(&rows).unwrap();
        assert_eq!((b.first_seq, b.last_seq()), (40, 46));
        assert_eq!(b.time_ms, rows.iter().map(|r| r.time_ms).collect::<Vec<_>>());
        let back = b.decode().unwrap();
        assert_eq!(back, rows);
        // Bit for bit, and the CSV form (what the hash covers) is the same.
        for (a, r) in back.iter().zip(&rows) {
            assert_eq!(a.csv_record(), r.csv_record());
        }
        // Runs of equal values compress: 2,000 rows of a quiet market take far less than their
        // columns' 160 bytes a row.
        let quiet: Vec<DecisionRow> =
            (0..2000).map(|i| DecisionRow { strategy_state: None, reason: Some("hold".into()), ..row(i) }).collect();
        let b = DecisionBlock::encode(&quiet).unwrap();
        assert!(b.data.len() < 2000 * 60, "{} bytes", b.data.len());
        assert_eq!(b.decode().unwrap(), quiet);
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert!(DecisionBlock::encode(&[]).is_err());
        let e = DecisionBlock::encode(&[row(1), row(3)]).unwrap_err();
        assert!(e.to_string().contains("not consecutive: seq 3 at position 1"), "{e}");
        let mut b = DecisionBlock::encode(&[row(1), row(2)]).unwrap();
        b.time_ms.push(0);
        assert!(b.decode().unwrap_err().to_string().contains("unequal lengths"));
        b.time_ms.pop();
        b.data[0] = 9;
        assert!(b.decode().unwrap_err().to_string().contains("unknown format 9"));
        b.data.truncate(3);
        b.data[0] = FORMAT;
        assert!(b.decode().is_err());
    }
}
