//! The decision log: one [`DecisionRow`] per bar of a run — the market, the strategy's decision
//! and state, what the risk gate did, the order and fill, and the portfolio after the bar — and
//! its CSV form, which is both the export (`GET /api/runs/{id}/decisions?format=csv`, `cgaf
//! backtest --decisions`) and what a run's `decision_log_sha256` hashes.

use crate::bars::Bar;
use crate::float_text::{self, SHORT_TEXT};
use crate::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One row of the decision log: what happened at one bar. Serialised with the keys of the API
/// (`market` is the flat [`Bar`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// 0-based bar index in the run.
    pub seq: i64,
    /// Bar close time, ms since the epoch (the SQL column and JSON key; equals `market.time_ms`).
    pub time_ms: i64,
    /// Market state: the bar and the book at its close.
    pub market: Bar,
    /// The strategy's state after this bar (the plugin's JSON), when it was captured.
    pub strategy_state: Option<serde_json::Value>,
    /// The strategy's target for this bar.
    pub target: f64,
    /// The strategy's reason.
    pub reason: Option<String>,
    /// What the risk gate did, if anything.
    pub gate: Option<String>,
    /// The order placed at this close (the target to reach at the next open), if any.
    pub order_target: Option<f64>,
    /// The fill at this bar's open of the order placed at the previous close: price...
    pub fill_price: Option<f64>,
    /// ...signed units traded...
    pub fill_quantity: Option<f64>,
    /// ...and fee paid.
    pub fee: Option<f64>,
    /// Position after this bar (units).
    pub position: f64,
    /// The target held over this bar.
    pub held_target: f64,
    /// Cash after this bar.
    pub cash: f64,
    /// Equity at this bar's close, `cash + position · close`.
    pub equity: f64,
    /// The strategy version that decided this bar, on paper runs (whose version switches to the
    /// previous one when theirs is quarantined); not part of the CSV form or its hash.
    #[serde(default)]
    pub strategy_version: Option<String>,
}

/// The CSV header of the decision log, in column order.
pub const CSV_HEADER: [&str; 25] = [
    "seq",
    "time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "bid",
    "ask",
    "bid_depth",
    "ask_depth",
    "target",
    "reason",
    "gate",
    "order_target",
    "fill_price",
    "fill_quantity",
    "fee",
    "position",
    "held_target",
    "cash",
    "equity",
    "strategy_state",
];

impl DecisionRow {
    /// The row as CSV fields in [`CSV_HEADER`] order (numbers in Rust's shortest round-trip form,
    /// empty for none): the plain definition [`DecisionCsv`]'s bytes are tested against.
    #[cfg(test)]
    pub(crate) fn csv_record(&self) -> Vec<String> {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let m = &self.market;
        let mut out = vec![self.seq.to_string(), self.time_ms.to_string()];
        for v in [
            m.open,
            m.high,
            m.low,
            m.close,
            m.volume,
            m.buy_volume,
            m.sell_volume,
            m.book.bid,
            m.book.ask,
            m.book.bid_depth,
            m.book.ask_depth,
        ] {
            out.push(v.to_string());
        }
        out.push(self.target.to_string());
        out.push(self.reason.clone().unwrap_or_default());
        out.push(self.gate.clone().unwrap_or_default());
        out.push(opt(self.order_target));
        out.push(opt(self.fill_price));
        out.push(opt(self.fill_quantity));
        out.push(opt(self.fee));
        out.push(self.position.to_string());
        out.push(self.held_target.to_string());
        out.push(self.cash.to_string());
        out.push(self.equity.to_string());
        out.push(self.strategy_state.as_ref().map(|s| s.to_string()).unwrap_or_default());
        out
    }
}

/// Writes a decision log as CSV, row by row (the header first): the bytes the `csv` crate writes
/// for the row's fields in [`CSV_HEADER`] order, numbers in Rust's shortest round-trip form and
/// empty for none (a field quoted only when it holds a comma, a quote or a line break, its quotes
/// doubled; `\n` after each record), made without a `String` per field. Numbers
/// are written by [`float_text::push_f64`] (`Display`'s text); a number
/// column whose value repeats the row before's (book depth, cash and position between fills,
/// empty fill columns) reuses its text.
pub struct DecisionCsv<W: std::io::Write> {
    out: W,
    /// Rows not yet given to `out`.
    pending: Vec<u8>,
    /// The text of each number column that often repeats in the previous row, in [`CSV_HEADER`]
    /// order from `buy_volume` (the prices, the volume and the equity are written as they come).
    numbers: [Repeat; 14],
}

/// What `pending` may hold before it goes to the output.
const PENDING_BYTES: usize = 64 * 1024;

/// One number column's text, kept while its value repeats.
#[derive(Default)]
struct Repeat {
    /// The bits of the value the text was made from (`Some(None)`: empty), `None` before any.
    key: Option<Option<u64>>,
    text: Vec<u8>,
    /// `text` again when it fits in a short text (almost always), appended with a copy of fixed
    /// size instead of a call copying a length known only at run time.
    short: [u8; SHORT_TEXT],
}

impl Repeat {
    /// Appends `v` in Rust's shortest round-trip form (nothing for none).
    fn push(&mut self, out: &mut Vec<u8>, v: Option<f64>) {
        let key = v.map(f64::to_bits);
        if self.key != Some(key) {
            self.text.clear();
            if let Some(v) = v {
                float_text::push_f64(&mut self.text, v);
            }
            if let Some(short) = self.short.get_mut(..self.text.len()) {
                short.copy_from_slice(&self.text);
            }
            self.key = Some(key);
        }
        if self.text.len() <= SHORT_TEXT {
            float_text::push_short_text(out, &self.short, self.text.len());
        } else {
            out.extend_from_slice(&self.text);
        }
    }
}

/// Appends `field` as the `csv` crate writes it by default: quoted when it holds a comma, a quote,
/// `\r` or `\n`, its quotes doubled.
fn push_text_field(out: &mut Vec<u8>, field: &[u8]) {
    if field.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for part in field.split_inclusive(|&b| b == b'"') {
            out.extend_from_slice(part);
            if part.ends_with(b"\"") {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field);
    }
}

impl<W: std::io::Write> DecisionCsv<W> {
    /// Starts a log on `out` with its header.
    pub fn new(out: W) -> Result<Self, Error> {
        let mut csv = Self::continuing(out);
        csv.pending.extend_from_slice(CSV_HEADER.join(",").as_bytes());
        csv.pending.push(b'\n');
        Ok(csv)
    }

    /// Continues a log on `out`: rows only, no header (the next part of a log written in parts;
    /// the parts concatenated are the bytes of one writer).
    pub fn continuing(out: W) -> Self {
        DecisionCsv { out, pending: Vec::with_capacity(PENDING_BYTES + 4096), numbers: Default::default() }
    }

    /// Appends one row.
    pub fn write(&mut self, row: &DecisionRow) -> Result<(), Error> {
        let out = &mut self.pending;
        let mut integers = itoa::Buffer::new();
        out.extend_from_slice(integers.format(row.seq).as_bytes());
        out.push(b',');
        out.extend_from_slice(integers.format(row.time_ms).as_bytes());
        let m = &row.market;
        // The prices and the volume change from bar to bar: written as they are.
        for v in [m.open, m.high, m.low, m.close, m.volume] {
            out.push(b',');
            float_text::push_f64(out, v);
        }
        let numbers = [
            Some(m.buy_volume),
            Some(m.sell_volume),
            Some(m.book.bid),
            Some(m.book.ask),
            Some(m.book.bid_depth),
            Some(m.book.ask_depth),
            Some(row.target),
        ];
        for (column, v) in self.numbers[..7].iter_mut().zip(numbers) {
            out.push(b',');
            column.push(out, v);
        }
        out.push(b',');
        push_text_field(out, row.reason.as_deref().unwrap_or_default().as_bytes());
        out.push(b',');
        push_text_field(out, row.gate.as_deref().unwrap_or_default().as_bytes());
        let numbers = [
            row.order_target,
            row.fill_price,
            row.fill_quantity,
            row.fee,
            Some(row.position),
            Some(row.held_target),
            Some(row.cash),
        ];
        for (column, v) in self.numbers[7..14].iter_mut().zip(numbers) {
            out.push(b',');
            column.push(out, v);
        }
        out.push(b',');
        float_text::push_f64(out, row.equity);
        out.push(b',');
        if let Some(state) = &row.strategy_state {
            push_text_field(out, state.to_string().as_bytes());
        }
        out.push(b'\n');
        if out.len() >= PENDING_BYTES {
            self.out.write_all(out).map_err(|e| Error::Output(e.to_string()))?;
            out.clear();
        }
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, Error> {
        self.out.write_all(&self.pending).map_err(|e| Error::Output(e.to_string()))?;
        self.out.flush().map_err(|e| Error::Output(e.to_string()))?;
        Ok(self.out)
    }
}

/// A whole decision log as CSV bytes.
pub fn decision_log_csv<'a>(rows: impl IntoIterator<Item = &'a DecisionRow>) -> Result<Vec<u8>, Error> {
    let mut w = DecisionCsv::new(Vec::new())?;
    for row in rows {
        w.write(row)?;
    }
    w.finish()
}

/// sha256 (hex) of a decision log's CSV bytes: a run's `decision_log_sha256`.
pub fn csv_sha256(csv: &[u8]) -> String {
    hex::encode(Sha256::digest(csv))
}

/// An `io::Write` that only hashes what it is given.
struct Sha256Writer(Sha256);

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `decision_log_sha256` of a log hashed as it is written, row by row: equal to
/// [`csv_sha256`] of the same rows' [`decision_log_csv`] without keeping the CSV (a year of
/// 1-minute decisions is ~600 MB of it).
pub struct DecisionLogHash {
    csv: DecisionCsv<Sha256Writer>,
}

impl DecisionLogHash {
    /// A log with no rows yet (the header hashed).
    pub fn new() -> Result<Self, Error> {
        Ok(DecisionLogHash { csv: DecisionCsv::new(Sha256Writer(Sha256::new()))? })
    }

    /// Hashes the next rows.
    pub fn write_all<'a>(&mut self, rows: impl IntoIterator<Item = &'a DecisionRow>) -> Result<(), Error> {
        for row in rows {
            self.csv.write(row)?;
        }
        Ok(())
    }

    /// The hash (hex) of the log so far.
    pub fn finish(self) -> Result<String, Error> {
        Ok(hex::encode(self.csv.finish()?.0.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_gives_the_bytes_of_the_records() {
        // Repeating and changing values, empty and present options, awkward floats and text.
        let rows: Vec<DecisionRow> = (0..60)
            .map(|i| {
                let x = [
                    0.0,
                    -0.0,
                    1e18,
                    1.5e-7,
                    1.0 / 3.0,
                    -2.0,
                    f64::MAX,
                    5e-324,
                    (9.0 + 1.0 / 65536.0),
                    7425.573519526095,
                ][i % 10];
                let text = ["", "plain", "a,b", "\"", "say \"hi\"", "line\nbreak", "cr\rhere", " lead", "#x", "é ü"];
                DecisionRow {
                    seq: i as i64,
                    time_ms: -5 + i as i64 * 1000,
                    market: Bar { time_ms: 0, open: x, close: if i % 3 == 0 { 1.0 } else { x }, ..Bar::default() },
                    strategy_state: (i % 7 == 0).then(|| serde_json::json!({"i": i, "s": "a,\"b\"\n"})),
                    target: if i < 20 { 1.0 } else { -1.0 },
                    reason: (i % 2 == 0).then(|| format!("r{i}{}", text[i % 10])),
                    gate: (i % 3 == 1).then(|| text[(i / 3) % 10].to_string()),
                    order_target: (i % 4 == 0).then_some(x),
                    fill_price: (i % 4 == 1).then_some(x),
                    fill_quantity: None,
                    fee: (i % 4 == 1).then_some(0.25),
                    position: x,
                    held_target: 0.5,
                    cash: 100.0,
                    equity: x + 1.0,
                    strategy_version: None,
                }
            })
            .collect();
        let mut reference = csv::Writer::from_writer(Vec::new());
        reference.write_record(CSV_HEADER).unwrap();
        for r in &rows {
            reference.write_record(r.csv_record()).unwrap();
        }
        assert_eq!(decision_log_csv(&rows).unwrap(), reference.into_inner().unwrap());
    }

    #[test]
    fn csv_columns_match_the_header() {
        let row = DecisionRow {
            seq: 3,
            time_ms: 4000,
            market: Bar { time_ms: 4000, open: 1.5, close: 2.0, ..Bar::default() },
            strategy_state: Some(serde_json::json!({"n": 1})),
            target: 1.0,
            reason: Some("up, \"really\"".into()),
            gate: None,
            order_target: Some(1.0),
            fill_price: None,
            fill_quantity: None,
            fee: None,
            position: 0.0,
            held_target: 0.0,
            cash: 100.0,
            equity: 100.0,
            strategy_version: None,
        };
        let rec = row.csv_record();
        assert_eq!(rec.len(), CSV_HEADER.len());
        assert_eq!((rec[1].as_str(), rec[2].as_str(), rec[5].as_str()), ("4000", "1.5", "2"));
        assert_eq!(rec[24], r#"{"n":1}"#);
        let csv = String::from_utf8(decision_log_csv([&row]).unwrap()).unwrap();
        assert!(csv.starts_with("seq,time_ms,open,high,low,close,volume,buy_volume,sell_volume,bid,ask,"));
        assert_eq!(csv_sha256(b"").len(), 64);
        // Hashed as written = hashed from the whole CSV.
        let mut h = DecisionLogHash::new().unwrap();
        h.write_all([&row]).unwrap();
        assert_eq!(h.finish().unwrap(), csv_sha256(csv.as_bytes()));
        // The API's JSON keeps the market flat.
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["market"]["time_ms"], 4000);
        assert_eq!(v["market"]["bid_depth"], 0.0);
    }
}
