//! Market-history bars as CSV: [`read_bars_csv`] reads the pandas / yfinance / Backtrader /
//! exchange-dump style files `cgaf history import` and `POST /api/history/imports` take, checks
//! every row and returns [`HistoryBar`]s sorted by close; [`write_bars_csv`] writes the file
//! `cgaf history export` and `GET /api/history/bars?format=csv` return, which reads back to the
//! same bars.
//!
//! # The file read
//!
//! - **Header** (first line; names trimmed, matched case-insensitively, ignoring spaces, `_`,
//!   `-` and other punctuation, so `Open Time`, `open_time` and `<OPEN>` all work): a time
//!   column (`datetime`, `timestamp`, `time`, `date`, `open_time`, `close_time`, `unix`, `ts`,
//!   `t`; the first of these present, in this order, is used) and `open`, `high`, `low`, `close`,
//!   `volume` (also `o`, `h`, `l`, `c`, `v`, `vol`, `open_price`, ...). Optional
//!   `buy_volume` / `sell_volume` (also `taker_buy_volume`, `taker_buy_base_asset_volume`,
//!   `buy vol`, ...). Other columns (`Adj Close`, `openinterest`, `quote_volume`, ...) are
//!   ignored. The delimiter is `,`, or `;` or tab when the header line has no comma. Cells may
//!   be quoted. Blank lines and lines of empty cells (`,,,,`) are skipped; lines are counted at
//!   `\n`, so `\r\n` files count right.
//! - **Times**: RFC 3339 with an offset (`2025-01-01T00:01:00Z`, `2025-01-01 00:01:00+02:00`);
//!   `YYYY-MM-DD HH:MM[:SS[.fff]]` or with `T`, or `/` between the date parts; a date alone
//!   (`YYYY-MM-DD`, midnight); RFC 2822. **A time without a zone is UTC.** Epoch numbers (integer
//!   or decimal) are told apart by magnitude: below 1e11 seconds, below 1e14 milliseconds, below
//!   1e17 microseconds, else nanoseconds (so any time from 1973 to 5138 reads right). Sub-
//!   millisecond parts are rounded to the millisecond.
//! - **Which end of the bar a time stamps** ([`TimeIs`]): pandas, yfinance, Backtrader and
//!   exchange kline dumps stamp a bar at its **open**; the store stamps it at its close, so a
//!   bar stamped at open `t` becomes `close_ms = t + interval`. [`TimeIs::Auto`] (the default)
//!   reads a `close_time` column as closes and every other time column as opens. A close stamped
//!   on the last millisecond of the bar (Binance's `close_time`, `…:59.999`) is read as the
//!   bar's close.
//! - **Checks**, each naming the file line (the header is line 1) and the column: numbers and
//!   times that do not parse, empty required cells, prices not finite or not above zero, high
//!   below low, open or close outside `[low, high]`, negative or non-finite volumes, a time not
//!   on the interval's grid (closes are multiples of the interval since the epoch, as in the
//!   store), and two rows with the same time but different values. Rows may come in any order
//!   (they are sorted); a row repeated exactly is dropped and counted. The file's interval must
//!   be the one given: when the smallest step between consecutive bars is not the interval the
//!   whole file is refused (`the file's bars are 5m apart (lines 2 and 3), not 1m`). Larger gaps
//!   are fine; coverage reports them.
//! - Without [`CsvImportOptions::skip_bad`] the first bad row fails the whole read; with it bad
//!   rows are left out and reported ([`CsvBars::skipped`], [`CsvBars::skipped_count`]). A wrong
//!   interval, a missing column or a read error fail either way.
//!
//! The reader streams from any [`Read`] and allocates nothing per good row beyond the output.

use super::settings::interval_label;
use super::HistoryBar;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};

/// Bad rows listed in [`CsvBars::skipped`]; beyond these they are only counted.
pub const MAX_LISTED_BAD_ROWS: usize = 20;

/// The header [`write_bars_csv`] writes when times stamp bar opens.
pub const OPEN_TIME_HEADER: &str = "time,open,high,low,close,volume,buy_volume,sell_volume";

/// The header [`write_bars_csv`] writes when times stamp bar closes.
pub const CLOSE_TIME_HEADER: &str = "close_time,open,high,low,close,volume,buy_volume,sell_volume";

/// Which end of its bar a file's time column stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeIs {
    /// Reading: closes when the time column is named `close_time` (or `Close Time`, ...), opens
    /// otherwise. Writing: the same as [`TimeIs::Open`].
    #[default]
    Auto,
    /// The time is the bar's open (pandas, yfinance, Backtrader, exchange klines).
    Open,
    /// The time is the bar's close (the store's own convention).
    Close,
}

impl std::str::FromStr for TimeIs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TimeIs::Auto),
            "open" => Ok(TimeIs::Open),
            "close" => Ok(TimeIs::Close),
            other => Err(format!("time convention {other:?} is not auto, open or close")),
        }
    }
}

impl std::fmt::Display for TimeIs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeIs::Auto => "auto",
            TimeIs::Open => "open",
            TimeIs::Close => "close",
        })
    }
}

/// How [`read_bars_csv`] reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvImportOptions {
    /// The bars' interval, ms (the file must match it).
    pub interval_ms: i64,
    /// Which end of the bar the time column stamps.
    pub time_is: TimeIs,
    /// Leave bad rows out (and report them) instead of refusing the file.
    pub skip_bad: bool,
}

impl CsvImportOptions {
    /// Options for bars of `interval_ms`: [`TimeIs::Auto`], refusing bad rows.
    pub fn new(interval_ms: i64) -> CsvImportOptions {
        CsvImportOptions { interval_ms, time_is: TimeIs::Auto, skip_bad: false }
    }
}

/// A row left out by a [`CsvImportOptions::skip_bad`] read: where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRow {
    /// File line (the header is line 1).
    pub line: u64,
    /// The column at fault, as the header names it.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {:?}: {}", self.line, self.column, self.reason)
    }
}

/// The bars of a file, and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvBars {
    /// The bars, by close time (distinct closes); `sample_count` and `book` are `None`, buy and
    /// sell volumes are `Some` where the file has the column and the cell is not empty.
    pub bars: Vec<HistoryBar>,
    /// The bad rows left out, by line (the first [`MAX_LISTED_BAD_ROWS`]).
    pub skipped: Vec<BadRow>,
    /// All bad rows left out.
    pub skipped_count: usize,
    /// Rows dropped because an earlier row has the same time and the same values.
    pub duplicates_dropped: usize,
    /// Data rows read (every record after the header that is not blank).
    pub rows_read: usize,
    /// Close of the first bar.
    pub first_ms: Option<i64>,
    /// Close of the last bar.
    pub last_ms: Option<i64>,
    /// The time column used, as the header names it.
    pub time_column: String,
    /// How its times were read ([`TimeIs::Open`] or [`TimeIs::Close`], never `Auto`).
    pub time_is: TimeIs,
}

/// Why a CSV of bars could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CsvBarsError {
    /// A row is bad (and bad rows are not skipped).
    #[error("line {line}, column {column:?}: {reason}")]
    Row {
        /// File line (the header is line 1).
        line: u64,
        /// The column at fault, as the header names it.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The file has no header line.
    #[error("the file is empty: it has no header line")]
    NoHeader,
    /// A required column is not in the header.
    #[error("the header has no {column} column (accepted names: {accepted}); it has: {header}")]
    MissingColumn {
        /// The column missing: `time`, `open`, `high`, `low`, `close` or `volume`.
        column: &'static str,
        /// The names accepted for it.
        accepted: &'static str,
        /// The header found.
        header: String,
    },
    /// The file's bars are not of the interval given.
    #[error(
        "the file's bars are {} apart (lines {first_line} and {second_line}), not {}: give the file's interval",
        interval_label(*.step_ms),
        interval_label(*.interval_ms)
    )]
    IntervalMismatch {
        /// The smallest step between consecutive bars, ms.
        step_ms: i64,
        /// The interval given, ms.
        interval_ms: i64,
        /// Line of the earlier bar of that step.
        first_line: u64,
        /// Line of the later one.
        second_line: u64,
    },
    /// The interval given is not above zero.
    #[error("bar interval {0} ms must be above zero")]
    InvalidInterval(i64),
    /// A bar's time cannot be written as RFC 3339 (outside the years 0000-9999).
    #[error("the bar closing at {close_ms} ms since the epoch is outside the years 0000-9999")]
    Unwritable {
        /// The bar's close, ms.
        close_ms: i64,
    },
    /// Reading the input or writing the output failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

// ---------------------------------------------------------------------------------------------
// Records

/// The CSV records of a file with the line each starts on. `csv_core` is fed by hand because the
/// `csv` crate's record positions do not count the blank lines it skips.
struct Records<R> {
    input: R,
    core: csv_core::Reader,
    /// The byte between cells.
    delimiter: u8,
    /// Whether `core` has read a record (it strips a byte-order mark before its first).
    core_has_read: bool,
    /// The current record's unescaped field bytes, and where each field ends.
    data: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
}

impl<R: BufRead> Records<R> {
    fn new(input: R, delimiter: u8) -> Records<R> {
        Records {
            input,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            delimiter,
            core_has_read: false,
            data: vec![0; 1024],
            ends: vec![0; 32],
            fields: 0,
        }
    }

    /// Reads the next record that has a non-blank cell; returns the line it starts on, or `None`
    /// at the end of the input.
    fn next(&mut self) -> std::io::Result<Option<u64>> {
        loop {
            // Blank lines between records.
            loop {
                let buf = self.input.fill_buf()?;
                let blank = buf.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
                let rest = buf.len() - blank;
                // Lines are counted by `core` (the `\n`s it reads) and these.
                self.core.set_line(self.core.line() + newlines(&buf[..blank]));
                self.input.consume(blank);
                if rest > 0 || blank == 0 {
                    break;
                }
            }
            let start = self.core.line();
            if let Some(fields) = self.plain_line()? {
                self.fields = fields;
                if (0..self.fields).any(|i| self.get(i).is_some_and(|f| !f.trim_ascii().is_empty())) {
                    return Ok(Some(start));
                }
                continue;
            }
            self.core_has_read = true;
            let (mut out, mut end) = (0usize, 0usize);
            loop {
                let buf = self.input.fill_buf()?;
                let (result, read, wrote, ended) =
                    self.core.read_record(buf, &mut self.data[out..], &mut self.ends[end..]);
                self.input.consume(read);
                out += wrote;
                end += ended;
                match result {
                    csv_core::ReadRecordResult::InputEmpty => {}
                    csv_core::ReadRecordResult::OutputFull => self.data.resize(self.data.len() * 2, 0),
                    csv_core::ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                    csv_core::ReadRecordResult::Record => break,
                    csv_core::ReadRecordResult::End => return Ok(None),
                }
            }
            self.fields = end;
            // A line of empty cells (`,,,,`, as spreadsheets leave) is blank too.
            if (0..self.fields).any(|i| self.get(i).is_some_and(|f| !f.trim_ascii().is_empty())) {
                return Ok(Some(start));
            }
        }
    }

    /// Reads the next record without `core` when the input buffered begins with a whole line
    /// that has no quote and no carriage return but at its end: its cells are then the bytes
    /// between delimiters, as `core` would read them, found with `memchr` instead of byte by
    /// byte (a third of a year's import's parsing). Gives the number of cells, or `None` (nothing
    /// read) for `core` to read the record.
    fn plain_line(&mut self) -> std::io::Result<Option<usize>> {
        if !self.core_has_read {
            return Ok(None);
        }
        let Records { input, data, ends, delimiter, .. } = self;
        let buf = input.fill_buf()?;
        let Some(len) = memchr::memchr(b'\n', buf) else { return Ok(None) };
        let line = &buf[..len];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if memchr::memchr2(b'"', b'\r', line).is_some() {
            return Ok(None);
        }
        if data.len() < line.len() {
            data.resize(line.len().next_power_of_two(), 0);
        }
        let (mut from, mut out, mut fields) = (0, 0, 0);
        for cell_end in memchr::memchr_iter(*delimiter, line).chain(std::iter::once(line.len())) {
            let cell = &line[from..cell_end];
            data[out..out + cell.len()].copy_from_slice(cell);
            out += cell.len();
            if fields == ends.len() {
                ends.resize(ends.len() * 2, 0);
            }
            ends[fields] = out;
            fields += 1;
            from = cell_end + 1;
        }
        input.consume(len + 1);
        self.core.set_line(self.core.line() + 1);
        Ok(Some(fields))
    }

    /// Cell `index` of the current record.
    fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.fields {
            return None;
        }
        let from = if index == 0 { 0 } else { self.ends[index - 1] };
        self.data.get(from..self.ends[index])
    }

    /// The cells of the current record.
    fn cells(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.fields).filter_map(|i| self.get(i))
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

// ---------------------------------------------------------------------------------------------
// Header

const TIME_NAMES: &[&str] = &[
    "datetime",
    "timestamp",
    "time",
    "date",
    "opentime",
    "timeopen",
    "closetime",
    "timeclose",
    "unix",
    "unixtime",
    "ts",
    "t",
];
const CLOSE_TIME_NAMES: &[&str] = &["closetime", "timeclose"];
const OPEN_NAMES: &[&str] = &["open", "openprice", "o"];
const HIGH_NAMES: &[&str] = &["high", "highprice", "h"];
const LOW_NAMES: &[&str] = &["low", "lowprice", "l"];
const CLOSE_NAMES: &[&str] = &["close", "closeprice", "c"];
const VOLUME_NAMES: &[&str] = &["volume", "vol", "basevolume", "volumebase", "v"];
const BUY_NAMES: &[&str] = &[
    "buyvolume",
    "buyvol",
    "takerbuyvolume",
    "takerbuybasevolume",
    "takerbuybaseassetvolume",
    "takerbuybase",
    "volumebuy",
];
const SELL_NAMES: &[&str] = &[
    "sellvolume",
    "sellvol",
    "takersellvolume",
    "takersellbasevolume",
    "takersellbaseassetvolume",
    "takersellbase",
    "volumesell",
];

/// A header name reduced to what is matched: lower-case letters and digits.
fn normalized(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Where each column is, and the header's names for errors.
struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    buy: Option<usize>,
    sell: Option<usize>,
    names: Vec<String>,
}

impl Columns {
    fn from_header<R: BufRead>(header: &Records<R>) -> Result<(Columns, bool), CsvBarsError> {
        let names: Vec<String> = header
            .cells()
            .map(|f| String::from_utf8_lossy(f).trim().trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let keys: Vec<String> = names.iter().map(|n| normalized(n)).collect();
        // The first column whose name is in `accepted`, trying the accepted names in order.
        let find = |accepted: &[&str]| accepted.iter().find_map(|a| keys.iter().position(|k| k == a));
        let need = |accepted: &[&str], column: &'static str, shown: &'static str| {
            find(accepted).ok_or_else(|| CsvBarsError::MissingColumn {
                column,
                accepted: shown,
                header: names.join(", "),
            })
        };
        let time = need(TIME_NAMES, "time", "datetime, timestamp, time, date, open_time, close_time, unix, ts, t")?;
        let time_is_close = CLOSE_TIME_NAMES.contains(&keys[time].as_str());
        let columns = Columns {
            time,
            open: need(OPEN_NAMES, "open", "open, open_price, o")?,
            high: need(HIGH_NAMES, "high", "high, high_price, h")?,
            low: need(LOW_NAMES, "low", "low, low_price, l")?,
            close: need(CLOSE_NAMES, "close", "close, close_price, c")?,
            volume: need(VOLUME_NAMES, "volume", "volume, vol, base_volume, v")?,
            buy: find(BUY_NAMES),
            sell: find(SELL_NAMES),
            names,
        };
        Ok((columns, time_is_close))
    }

    fn name(&self, index: usize) -> String {
        self.names.get(index).cloned().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A row's fault: the column index and the reason.
struct Fault {
    column: usize,
    reason: String,
}

fn fault(column: usize, reason: String) -> Fault {
    Fault { column, reason }
}

/// A cell's text, shortened for a message.
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The trimmed text of cell `index`; `None` when the row has no such cell or it is empty.
fn cell(record: &Records<impl BufRead>, index: usize) -> Result<Option<&str>, Fault> {
    let Some(bytes) = record.get(index) else { return Ok(None) };
    let bytes = bytes.trim_ascii();
    if bytes.is_empty() {
        return Ok(None);
    }
    std::str::from_utf8(bytes).map(Some).map_err(|_| fault(index, "the cell is not UTF-8 text".into()))
}

fn required(record: &Records<impl BufRead>, index: usize) -> Result<&str, Fault> {
    cell(record, index)?.ok_or_else(|| fault(index, "the cell is empty".into()))
}

fn number(text: &str, index: usize) -> Result<f64, Fault> {
    match plain_decimal(text.as_bytes()) {
        Some(v) => Ok(v),
        None => text.parse::<f64>().map_err(|_| fault(index, format!("{} is not a number", shown(text)))),
    }
}

/// The value of `text` when it is a plain decimal (digits with at most one `.`, at least one
/// digit, no sign or exponent) of fewer than 2^53 units of its last place and at most 22
/// fractional digits, else `None`: what `str::parse::<f64>` gives, and faster. The units and
/// 10^fractional digits are then both exact `f64`s, and IEEE division rounds their exact
/// quotient, which is the decimal's value, correctly; so does `parse` (Clinger's fast path).
/// Text longer than 17 bytes (a float written shortest, as pandas writes `100.00864518001657`)
/// is left to `parse` unread: 17 digits are past 2^53 units unless they begin with zeros.
fn plain_decimal(text: &[u8]) -> Option<f64> {
    if text.len() > 17 {
        return None;
    }
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    let (mut units, mut digits, mut point) = (0u64, 0usize, None::<usize>);
    for (i, &c) in text.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                units = units.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    let fractional = point.map_or(0, |p| text.len() - p - 1);
    if digits == 0 || units >= 1 << 53 || fractional >= POWERS.len() {
        return None;
    }
    Some(units as f64 / POWERS[fractional])
}

fn price(record: &Records<impl BufRead>, index: usize) -> Result<(f64, &str), Fault> {
    let text = required(record, index)?;
    let v = number(text, index)?;
    if !v.is_finite() || v <= 0.0 {
        return Err(fault(index, format!("price {text} must be finite and above zero")));
    }
    Ok((v, text))
}

fn volume(text: &str, index: usize) -> Result<f64, Fault> {
    let v = number(text, index)?;
    if !v.is_finite() || v < 0.0 {
        return Err(fault(index, format!("volume {text} must be finite and not negative")));
    }
    Ok(v)
}

/// Reads one data row into a bar.
fn parse_row(
    record: &Records<impl BufRead>,
    cols: &Columns,
    interval_ms: i64,
    time_is_close: bool,
) -> Result<HistoryBar, Fault> {
    let time_text = required(record, cols.time)?;
    let stamp = parse_time_ms(time_text).ok_or_else(|| {
        fault(
            cols.time,
            format!(
                "{} is not a time (RFC 3339, YYYY-MM-DD[ HH:MM[:SS[.fff]]] in UTC, or epoch seconds or milliseconds)",
                shown(time_text)
            ),
        )
    })?;
    let close_ms = if time_is_close {
        // Binance's close_time is the bar's last millisecond.
        if interval_ms > 1 && (stamp + 1).rem_euclid(interval_ms) == 0 {
            stamp + 1
        } else {
            stamp
        }
    } else {
        stamp.saturating_add(interval_ms)
    };
    if !(MIN_MS..=MAX_MS).contains(&close_ms) {
        return Err(fault(cols.time, format!("{} is outside the years 0000-9999", shown(time_text))));
    }
    let (open, open_text) = price(record, cols.open)?;
    let (high, high_text) = price(record, cols.high)?;
    let (low, low_text) = price(record, cols.low)?;
    let (close, close_text) = price(record, cols.close)?;
    if high < low {
        return Err(fault(cols.high, format!("{high_text} is below low {low_text}")));
    }
    if open < low || open > high {
        return Err(fault(cols.open, format!("{open_text} is outside low {low_text} .. high {high_text}")));
    }
    if close < low || close > high {
        return Err(fault(cols.close, format!("{close_text} is outside low {low_text} .. high {high_text}")));
    }
    let volume_v = volume(required(record, cols.volume)?, cols.volume)?;
    let optional_volume = |index: Option<usize>| -> Result<Option<f64>, Fault> {
        match index {
            None => Ok(None),
            Some(i) => cell(record, i)?.map(|t| volume(t, i)).transpose(),
        }
    };
    Ok(HistoryBar {
        close_ms,
        open,
        high,
        low,
        close,
        volume: volume_v,
        buy_volume: optional_volume(cols.buy)?,
        sell_volume: optional_volume(cols.sell)?,
        sample_count: None,
        book: None,
    })
}

/// The bad rows of a read: failing at the first, or listing and counting them.
struct Rejects {
    skip_bad: bool,
    listed: Vec<BadRow>,
    count: usize,
}

impl Rejects {
    fn reject(&mut self, line: u64, column: String, reason: String) -> Result<(), CsvBarsError> {
        if !self.skip_bad {
            return Err(CsvBarsError::Row { line, column, reason });
        }
        self.count += 1;
        self.listed.push(BadRow { line, column, reason });
        if self.listed.len() > MAX_LISTED_BAD_ROWS {
            // Keep the earliest lines: drop the latest listed.
            if let Some(latest) = self.listed.iter().enumerate().max_by_key(|(_, r)| r.line).map(|(i, _)| i) {
                self.listed.swap_remove(latest);
            }
        }
        Ok(())
    }
}

/// The delimiter of a file from its header line: `,`, else `;` or tab when the line has them.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |d: u8| line.iter().filter(|&&b| b == d).count();
    let (semicolons, tabs) = (count(b';'), count(b'\t'));
    if count(b',') > 0 || (semicolons == 0 && tabs == 0) {
        b','
    } else if semicolons >= tabs {
        b';'
    } else {
        b'\t'
    }
}

/// The first field of a bar that differs from another's, as a column index.
fn first_difference(a: &HistoryBar, b: &HistoryBar, cols: &Columns) -> usize {
    let fields = [
        (a.open == b.open, cols.open),
        (a.high == b.high, cols.high),
        (a.low == b.low, cols.low),
        (a.close == b.close, cols.close),
        (a.volume == b.volume, cols.volume),
        (a.buy_volume == b.buy_volume, cols.buy.unwrap_or(cols.volume)),
        (a.sell_volume == b.sell_volume, cols.sell.unwrap_or(cols.volume)),
    ];
    fields.iter().find(|(same, _)| !same).map_or(cols.time, |&(_, c)| c)
}

/// The smallest step between consecutive closes (sorted, distinct) and the indices of its pair.
fn smallest_step(closes: impl Iterator<Item = (usize, i64)>) -> Option<(i64, usize, usize)> {
    let mut best: Option<(i64, usize, usize)> = None;
    let mut prev: Option<(usize, i64)> = None;
    for (i, t) in closes {
        if let Some((j, p)) = prev {
            let step = t - p;
            if best.is_none_or(|(s, _, _)| step < s) {
                best = Some((step, j, i));
            }
        }
        prev = Some((i, t));
    }
    best
}

/// A file's records past its header, its columns, and how its times are read (never `Auto`).
fn open_records<R: Read>(
    reader: R,
    buffer: usize,
    options: CsvImportOptions,
) -> Result<(Records<BufReader<R>>, Columns, TimeIs), CsvBarsError> {
    let mut input = BufReader::with_capacity(buffer, reader);
    let delimiter = sniff_delimiter(input.fill_buf()?);
    let mut records = Records::new(input, delimiter);
    if records.next()?.is_none() {
        return Err(CsvBarsError::NoHeader);
    }
    let (cols, named_close) = Columns::from_header(&records)?;
    let time_is = match options.time_is {
        TimeIs::Auto if named_close => TimeIs::Close,
        TimeIs::Auto => TimeIs::Open,
        explicit => explicit,
    };
    Ok((records, cols, time_is))
}

/// Reads a CSV of bars of `options.interval_ms` (see the module docs for the accepted files and
/// the checks). Returns the bars sorted by close, or the first bad row's error — or, with
/// `skip_bad`, the good rows and the bad ones left out.
pub fn read_bars_csv<R: Read>(reader: R, options: CsvImportOptions) -> Result<CsvBars, CsvBarsError> {
    let interval_ms = options.interval_ms;
    if interval_ms <= 0 {
        return Err(CsvBarsError::InvalidInterval(interval_ms));
    }
    let (mut records, cols, time_is) = open_records(reader, 64 * 1024, options)?;
    let time_is_close = time_is == TimeIs::Close;
    let mut rejects = Rejects { skip_bad: options.skip_bad, listed: Vec::new(), count: 0 };

    // 1. Every row, checked on its own.
    let mut bars: Vec<HistoryBar> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut rows_read = 0usize;
    let mut sorted = true;
    while let Some(line) = records.next()? {
        rows_read += 1;
        match parse_row(&records, &cols, interval_ms, time_is_close) {
            Ok(bar) => {
                if bars.last().is_some_and(|last| last.close_ms > bar.close_ms) {
                    sorted = false;
                }
                bars.push(bar);
                lines.push(line);
            }
            Err(f) => rejects.reject(line, cols.name(f.column), f.reason)?,
        }
    }

    // 2. Into time order (stable: rows of one time stay in file order).
    if !sorted {
        let mut order: Vec<usize> = (0..bars.len()).collect();
        order.sort_by_key(|&i| bars[i].close_ms);
        bars = order.iter().map(|&i| bars[i]).collect();
        lines = order.iter().map(|&i| lines[i]).collect();
    }

    // 3. Rows of one time: exact repeats dropped, differing ones refused.
    let mut duplicates_dropped = 0usize;
    let mut kept = 0usize;
    let mut start = 0usize;
    while start < bars.len() {
        let mut end = start + 1;
        while end < bars.len() && bars[end].close_ms == bars[start].close_ms {
            end += 1;
        }
        let first = bars[start];
        match (start + 1..end).find(|&j| bars[j] != first) {
            None => {
                duplicates_dropped += end - start - 1;
                bars[kept] = first;
                lines[kept] = lines[start];
                kept += 1;
            }
            Some(j) => {
                let column = cols.name(first_difference(&first, &bars[j], &cols));
                let reason = |other: u64| format!("the same time as line {other} with different values");
                if !options.skip_bad {
                    return Err(CsvBarsError::Row { line: lines[j], column, reason: reason(lines[start]) });
                }
                // Which row is right is unknown: all rows of that time are left out.
                rejects.reject(lines[start], column.clone(), reason(lines[j]))?;
                for k in start + 1..end {
                    rejects.reject(lines[k], column.clone(), reason(lines[start]))?;
                }
            }
        }
        start = end;
    }
    bars.truncate(kept);
    lines.truncate(kept);

    // 4. The interval: a file of another interval is refused as a whole, before its times are
    // blamed one by one.
    let off_grid = bars.iter().filter(|b| b.close_ms.rem_euclid(interval_ms) != 0).count();
    if off_grid * 2 > bars.len() {
        if let Some((step_ms, a, b)) = smallest_step(bars.iter().map(|b| b.close_ms).enumerate()) {
            if step_ms != interval_ms {
                return Err(CsvBarsError::IntervalMismatch {
                    step_ms,
                    interval_ms,
                    first_line: lines[a],
                    second_line: lines[b],
                });
            }
        }
    }
    if off_grid > 0 {
        let stamp = if time_is_close { "close" } else { "open" };
        let mut kept = 0usize;
        for i in 0..bars.len() {
            let close_ms = bars[i].close_ms;
            if close_ms.rem_euclid(interval_ms) == 0 {
                bars[kept] = bars[i];
                lines[kept] = lines[i];
                kept += 1;
            } else {
                let at = if time_is_close { close_ms } else { close_ms.saturating_sub(interval_ms) };
                let reason = format!(
                    "the bar's {stamp} {} is not on the {} grid (multiples of {} since 1970-01-01T00:00:00Z)",
                    format_time(at).unwrap_or_else(|| at.to_string()),
                    interval_label(interval_ms),
                    interval_label(interval_ms)
                );
                rejects.reject(lines[i], cols.name(cols.time), reason)?;
            }
        }
        bars.truncate(kept);
        lines.truncate(kept);
    }
    if let Some((step_ms, a, b)) = smallest_step(bars.iter().map(|b| b.close_ms).enumerate()) {
        if step_ms != interval_ms {
            return Err(CsvBarsError::IntervalMismatch {
                step_ms,
                interval_ms,
                first_line: lines[a],
                second_line: lines[b],
            });
        }
    }

    let mut skipped = rejects.listed;
    skipped.sort_by_key(|r| r.line);
    Ok(CsvBars {
        first_ms: bars.first().map(|b| b.close_ms),
        last_ms: bars.last().map(|b| b.close_ms),
        bars,
        skipped,
        skipped_count: rejects.count,
        duplicates_dropped,
        rows_read,
        time_column: cols.name(cols.time),
        time_is,
    })
}

/// A file read batch by batch, for importing files larger than memory: [`read_bars_csv`]'s
/// reading for files whose rows are all good, in rising time order and on the interval's grid —
/// the files exchanges and pandas write. Anything else (a bad row, rows out of order or
/// repeated, a time off the grid, bad rows to skip, a file of another interval) stops it with
/// the reason, and the file is read whole by [`read_bars_csv`] instead, whose report and errors
/// it then gives; the bars read the streaming way are the bars [`read_bars_csv`] returns.
pub struct CsvBarStream<R: BufRead> {
    records: Records<R>,
    cols: Columns,
    interval_ms: i64,
    time_is: TimeIs,
    rows_read: usize,
    /// Close and line of the last bar read.
    last: Option<(i64, u64)>,
    first_ms: Option<i64>,
    /// The smallest step between consecutive closes so far.
    smallest_step: Option<i64>,
}

/// What a [`CsvBarStream`] read, once read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvStreamEnd {
    /// Data rows read (each a bar).
    pub rows_read: usize,
    /// Close of the first bar.
    pub first_ms: Option<i64>,
    /// Close of the last bar.
    pub last_ms: Option<i64>,
    /// The time column used, as the header names it.
    pub time_column: String,
    /// How its times were read ([`TimeIs::Open`] or [`TimeIs::Close`]).
    pub time_is: TimeIs,
}

impl<R: Read> CsvBarStream<BufReader<R>> {
    /// Starts reading `reader` (its header) as [`read_bars_csv`] would; `Err` gives why it cannot
    /// be streamed.
    pub fn open(reader: R, options: CsvImportOptions) -> Result<Self, String> {
        if options.interval_ms <= 0 || options.skip_bad {
            return Err("bad rows are to be skipped (or the interval is not above zero)".into());
        }
        let (records, cols, time_is) = open_records(reader, 1 << 20, options).map_err(|e| e.to_string())?;
        Ok(CsvBarStream {
            records,
            cols,
            interval_ms: options.interval_ms,
            time_is,
            rows_read: 0,
            last: None,
            first_ms: None,
            smallest_step: None,
        })
    }
}

impl<R: BufRead> CsvBarStream<R> {
    /// The next up to `max` bars (`None` at the end of the file); `Err` gives why the file must
    /// be read whole instead.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Vec<HistoryBar>>, String> {
        let mut bars = Vec::with_capacity(max.min(1 << 16));
        while bars.len() < max.max(1) {
            let Some(line) = self.records.next().map_err(|e| e.to_string())? else { break };
            self.rows_read += 1;
            let bar = parse_row(&self.records, &self.cols, self.interval_ms, self.time_is == TimeIs::Close)
                .map_err(|f| format!("line {line}: {}", f.reason))?;
            if bar.close_ms.rem_euclid(self.interval_ms) != 0 {
                return Err(format!("line {line}: a time off the grid"));
            }
            if let Some((previous, previous_line)) = self.last {
                let step = bar.close_ms - previous;
                if step <= 0 {
                    return Err(format!("line {line}: not after line {previous_line} in time"));
                }
                self.smallest_step = Some(self.smallest_step.map_or(step, |s| s.min(step)));
            }
            self.first_ms.get_or_insert(bar.close_ms);
            self.last = Some((bar.close_ms, line));
            bars.push(bar);
        }
        Ok((!bars.is_empty()).then_some(bars))
    }

    /// What was read, after the last batch; `Err` when the bars are not of the interval given.
    pub fn finish(self) -> Result<CsvStreamEnd, String> {
        if self.smallest_step.is_some_and(|s| s != self.interval_ms) {
            return Err("the smallest step between bars is not the interval".into());
        }
        Ok(CsvStreamEnd {
            rows_read: self.rows_read,
            first_ms: self.first_ms,
            last_ms: self.last.map(|(c, _)| c),
            time_column: self.cols.name(self.cols.time),
            time_is: self.time_is,
        })
    }
}

/// The close of a file's last bar, from its header and its last line (read from the end, so a
/// large file is not read through): what a [`CsvBarStream`] import needs before it streams.
/// `Err` when the last line is not a good bar.
pub fn last_bar_close<F: Read + std::io::Seek>(file: &mut F, options: CsvImportOptions) -> Result<i64, String> {
    use std::io::SeekFrom;
    let io = |e: std::io::Error| e.to_string();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut header = Vec::new();
    BufReader::new(&mut *file).read_until(b'\n', &mut header).map_err(io)?;
    let size = file.seek(SeekFrom::End(0)).map_err(io)?;
    let tail_from = size.saturating_sub(64 * 1024).max(header.len() as u64);
    file.seek(SeekFrom::Start(tail_from)).map_err(io)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    // The last line with a cell that is not blank (`,,,,` lines are skipped, as when reading).
    let last = tail
        .split(|&b| b == b'\n')
        .rev()
        .find(|l| l.iter().any(|&b| !matches!(b, b',' | b';' | b'\t' | b' ' | b'\r' | b'"')))
        .ok_or("no data line at the end")?;
    let mut two_lines = header;
    if !two_lines.ends_with(b"\n") {
        two_lines.push(b'\n');
    }
    two_lines.extend_from_slice(last);
    let read = read_bars_csv(&two_lines[..], CsvImportOptions { skip_bad: false, ..options })
        .map_err(|e| format!("the last line: {e}"))?;
    match read.bars.as_slice() {
        [bar] => Ok(bar.close_ms),
        _ => Err("the last line is not one bar".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Times

const MS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z.
const MIN_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The value of `n` ASCII digits at the start of `s`.
fn digits(s: &[u8], n: usize) -> Option<i64> {
    let part = s.get(..n)?;
    part.iter().try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

/// A time cell as ms since the epoch: the fixed formats by hand, then chrono for the rest.
fn parse_time_ms(text: &str) -> Option<i64> {
    let s = text.as_bytes();
    let dated = s.len() >= 6 && matches!(s[4], b'-' | b'/');
    let fast = if dated { parse_date_time(s) } else { parse_epoch(text) };
    let ms = fast.or_else(|| parse_with_chrono(text))?;
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

/// An epoch number, its unit told by magnitude: below 1e11 seconds, 1e14 milliseconds,
/// 1e17 microseconds, else nanoseconds.
fn parse_epoch(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        let m = n.unsigned_abs();
        return if m < 100_000_000_000 {
            n.checked_mul(1000)
        } else if m < 100_000_000_000_000 {
            Some(n)
        } else if m < 100_000_000_000_000_000 {
            Some(round_div(n, 1000))
        } else {
            Some(round_div(n, 1_000_000))
        };
    }
    let v = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
    let m = v.abs();
    let ms = if m < 1e11 {
        v * 1e3
    } else if m < 1e14 {
        v
    } else if m < 1e17 {
        v / 1e3
    } else {
        v / 1e6
    }
    .round();
    // Within ±2^62: converting is exact and nothing overflows later.
    (ms.abs() < 4.6e18).then_some(ms as i64)
}

/// `n / d` rounded half away from zero.
fn round_div(n: i64, d: i64) -> i64 {
    let (q, r) = (n / d, n % d);
    if r.abs() * 2 >= d {
        q + n.signum()
    } else {
        q
    }
}

/// `YYYY-MM-DD` (or `/`), then optionally `T`/space `HH:MM[:SS[.f…]]`, then optionally a zone
/// (`Z`, `UTC`, `GMT`, `±HH[:MM]`, `±HHMM`, after an optional space). No zone = UTC.
fn parse_date_time(s: &[u8]) -> Option<i64> {
    let year = digits(s, 4)?;
    let month = digits(s.get(5..)?, 2)?;
    let day = digits(s.get(8..)?, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * MS_PER_DAY;
    let mut rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return None;
    }
    rest = &rest[1..];
    let hour = digits(rest, 2)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let minute = digits(rest.get(3..)?, 2)?;
    rest = &rest[5..];
    let mut second = 0;
    if rest.first() == Some(&b':') {
        second = digits(rest.get(1..)?, 2)?;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.' | b',')) {
            let frac_len = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if frac_len == 0 {
                return None;
            }
            let frac = &rest[1..1 + frac_len];
            // Milliseconds, rounded on the fourth digit.
            let mut millis = 0;
            for k in 0..3 {
                millis = millis * 10 + frac.get(k).map_or(0, |&b| i64::from(b - b'0'));
            }
            if frac.get(3).is_some_and(|&b| b >= b'5') {
                millis += 1;
            }
            ms += millis;
            rest = &rest[1 + frac_len..];
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000;
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    let offset_minutes = match rest {
        [] | b"Z" | b"z" | b"UTC" | b"GMT" => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let hours = digits(zone, 2)?;
            let minutes = match &zone[2..] {
                [] => 0,
                [b':', m @ ..] | m if m.len() == 2 => digits(m, 2)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 60 + minutes;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    Some(ms - offset_minutes * 60_000)
}

/// The formats the fast path leaves out: RFC 2822, and dates or times without leading zeros
/// (`2024-1-5 9:30`); zone-less times are UTC.
fn parse_with_chrono(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
        }
    }
    None
}

/// `ms` as RFC 3339 UTC: `2025-01-01T00:01:00Z`, with `.mmm` only when the milliseconds are not
/// zero; `None` outside the years 0000-9999.
fn format_time(ms: i64) -> Option<String> {
    let mut out = Vec::with_capacity(24);
    write_time(&mut out, ms)?;
    String::from_utf8(out).ok()
}

fn write_time(out: &mut Vec<u8>, ms: i64) -> Option<()> {
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return None;
    }
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (secs, millis) = (in_day / 1000, in_day % 1000);
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, month, 2);
    out.push(b'-');
    push_digits(out, day, 2);
    out.push(b'T');
    push_digits(out, secs / 3600, 2);
    out.push(b':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(b':');
    push_digits(out, secs % 60, 2);
    if millis != 0 {
        out.push(b'.');
        push_digits(out, millis, 3);
    }
    out.push(b'Z');
    Some(())
}

/// `v` (not negative) as `width` decimal digits, zero-padded.
fn push_digits(out: &mut Vec<u8>, v: i64, width: u32) {
    for k in (0..width).rev() {
        out.push(b'0' + ((v / 10i64.pow(k)) % 10) as u8);
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes bars of `interval_ms` as CSV: the header [`OPEN_TIME_HEADER`] (bars stamped at their
/// open; [`TimeIs::Open`] and [`TimeIs::Auto`]) or [`CLOSE_TIME_HEADER`] ([`TimeIs::Close`]),
/// then one row per bar in the order given: RFC 3339 UTC times (`2025-01-01T00:01:00Z`,
/// milliseconds only when not zero), numbers in Rust's shortest round-trip form, empty cells for
/// missing buy/sell volumes. [`read_bars_csv`] with the same interval and [`TimeIs::Auto`] reads
/// the file back to the same bars (sample counts and books are not written). Returns the rows
/// written.
pub fn write_bars_csv<'a, W: Write>(
    mut out: W,
    bars: impl IntoIterator<Item = &'a HistoryBar>,
    interval_ms: i64,
    time_is: TimeIs,
) -> Result<usize, CsvBarsError> {
    if interval_ms <= 0 {
        return Err(CsvBarsError::InvalidInterval(interval_ms));
    }
    write_bars_csv_header(&mut out, time_is)?;
    write_bars_csv_rows(out, bars, interval_ms, time_is)
}

/// The header line [`write_bars_csv`] starts with (for writers that add rows page by page with
/// [`write_bars_csv_rows`]).
pub fn write_bars_csv_header<W: Write>(mut out: W, time_is: TimeIs) -> Result<(), CsvBarsError> {
    let header = if time_is == TimeIs::Close { CLOSE_TIME_HEADER } else { OPEN_TIME_HEADER };
    out.write_all(header.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The rows of [`write_bars_csv`], without the header. Returns the rows written.
pub fn write_bars_csv_rows<'a, W: Write>(
    out: W,
    bars: impl IntoIterator<Item = &'a HistoryBar>,
    interval_ms: i64,
    time_is: TimeIs,
) -> Result<usize, CsvBarsError> {
    if interval_ms <= 0 {
        return Err(CsvBarsError::InvalidInterval(interval_ms));
    }
    let at_close = time_is == TimeIs::Close;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut row: Vec<u8> = Vec::with_capacity(160);
    let mut rows = 0usize;
    for bar in bars {
        row.clear();
        let stamp = if at_close { Some(bar.close_ms) } else { bar.close_ms.checked_sub(interval_ms) };
        stamp.and_then(|t| write_time(&mut row, t)).ok_or(CsvBarsError::Unwritable { close_ms: bar.close_ms })?;
        for v in [bar.open, bar.high, bar.low, bar.close, bar.volume] {
            row.push(b',');
            crate::float_text::push_f64(&mut row, v);
        }
        row.push(b',');
        if let Some(v) = bar.buy_volume {
            crate::float_text::push_f64(&mut row, v);
        }
        row.push(b',');
        if let Some(v) = bar.sell_volume {
            crate::float_text::push_f64(&mut row, v);
        }
        row.push(b'\n');
        out.write_all(&row)?;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_parse_reads_them() {
        let mut texts: Vec<String> = vec![
            "0".into(),
            "0.0".into(),
            "1.".into(),
            ".5".into(),
            "00012.50".into(),
            "9007199254740991".into(),
            "9007199254740992".into(),
            "900719925474099.1".into(),
            "0.1".into(),
            "0.0000000000000000000001".into(),
            "1.00000000000000000000001".into(),
            "123456789012345678901234".into(),
            "4.35".into(),
            "99999999999999999999".into(),
            "18446744073709551615".into(),
            "18446744073709551616".into(),
        ];
        // Prices and volumes of every size and precision, and their neighbours' digits.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let units = x >> (x % 64) as u32;
            let fractional = (x >> 40) as usize % 25;
            let digits = units.to_string();
            let text = if fractional == 0 {
                digits
            } else if fractional >= digits.len() {
                format!("0.{}{digits}", "0".repeat(fractional - digits.len()))
            } else {
                format!("{}.{}", &digits[..digits.len() - fractional], &digits[digits.len() - fractional..])
            };
            texts.push(text);
        }
        let mut fast = 0;
        for t in &texts {
            let parsed: f64 = t.parse().unwrap();
            if let Some(v) = plain_decimal(t.as_bytes()) {
                fast += 1;
                assert_eq!(v.to_bits(), parsed.to_bits(), "{t}");
            }
        }
        assert!(fast > texts.len() / 2, "{fast} of {} read fast", texts.len());
        // What is not a plain decimal is left to parse (and its errors).
        for t in ["", ".", "1.2.3", "-1", "+1", "1e5", "inf", "NaN", "1,5", " 1", "0x10", "١"] {
            assert_eq!(plain_decimal(t.as_bytes()), None, "{t}");
        }
    }

    const MIN: i64 = 60_000;
    /// 2025-01-01T00:00:00Z.
    const T0: i64 = 1_735_689_600_000;

    fn read(text: &str, interval_ms: i64) -> Result<CsvBars, CsvBarsError> {
        read_bars_csv(text.as_bytes(), CsvImportOptions::new(interval_ms))
    }

    fn read_skipping(text: &str, interval_ms: i64) -> CsvBars {
        let options = CsvImportOptions { skip_bad: true, ..CsvImportOptions::new(interval_ms) };
        read_bars_csv(text.as_bytes(), options).unwrap()
    }

    /// The (line, column) of a row error, panicking on any other outcome.
    fn row_error(text: &str, interval_ms: i64) -> (u64, String, String) {
        match read(text, interval_ms) {
            Err(CsvBarsError::Row { line, column, reason }) => (line, column, reason),
            other => panic!("expected a row error, got {other:?}"),
        }
    }

    fn bar(close_ms: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> HistoryBar {
        HistoryBar { close_ms, open: o, high: h, low: l, close: c, volume: v, ..HistoryBar::default() }
    }

    const GOOD: &str = "time,open,high,low,close,volume\n\
        2025-01-01 00:00:00,100,101,99,100.5,3\n\
        2025-01-01 00:01:00,100.5,102,100,101,4.25\n\
        2025-01-01 00:02:00,101,101.5,100.5,101,0\n";

    #[test]
    fn reads_bars_stamped_at_open_as_closes() {
        let got = read(GOOD, MIN).unwrap();
        assert_eq!(
            got.bars,
            vec![
                bar(T0 + MIN, 100.0, 101.0, 99.0, 100.5, 3.0),
                bar(T0 + 2 * MIN, 100.5, 102.0, 100.0, 101.0, 4.25),
                bar(T0 + 3 * MIN, 101.0, 101.5, 100.5, 101.0, 0.0),
            ]
        );
        assert_eq!((got.first_ms, got.last_ms), (Some(T0 + MIN), Some(T0 + 3 * MIN)));
        assert_eq!((got.rows_read, got.skipped_count, got.duplicates_dropped), (3, 0, 0));
        assert_eq!((got.time_column.as_str(), got.time_is), ("time", TimeIs::Open));
        assert!(got.bars.iter().all(|b| b.buy_volume.is_none() && b.sample_count.is_none() && b.book.is_none()));
    }

    #[test]
    fn open_and_close_stamping() {
        let close =
            read_bars_csv(GOOD.as_bytes(), CsvImportOptions { time_is: TimeIs::Close, ..CsvImportOptions::new(MIN) })
                .unwrap();
        assert_eq!(close.time_is, TimeIs::Close);
        assert_eq!(close.first_ms, Some(T0));
        let open =
            read_bars_csv(GOOD.as_bytes(), CsvImportOptions { time_is: TimeIs::Open, ..CsvImportOptions::new(MIN) })
                .unwrap();
        assert_eq!(open.first_ms, Some(T0 + MIN));
        // Auto: a close_time column stamps closes, Binance's last-millisecond close included.
        let named = "Close Time,open,high,low,close,volume\n2025-01-01T00:01:00Z,1,1,1,1,1\n";
        let got = read(named, MIN).unwrap();
        assert_eq!((got.time_is, got.first_ms), (TimeIs::Close, Some(T0 + MIN)));
        let binance = format!("close_time,open,high,low,close,volume\n{},1,1,1,1,1\n", T0 + MIN - 1);
        assert_eq!(read(&binance, MIN).unwrap().first_ms, Some(T0 + MIN));
        // ... and an explicit Open wins over the name.
        let forced =
            read_bars_csv(named.as_bytes(), CsvImportOptions { time_is: TimeIs::Open, ..CsvImportOptions::new(MIN) })
                .unwrap();
        assert_eq!(forced.first_ms, Some(T0 + 2 * MIN));
        // Binance klines carry both: open_time is preferred.
        let both = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume\n\
             {T0},1,2,0.5,1.5,10,{},15,7,4\n",
            T0 + MIN - 1
        );
        let got = read(&both, MIN).unwrap();
        assert_eq!((got.time_column.as_str(), got.time_is, got.first_ms), ("open_time", TimeIs::Open, Some(T0 + MIN)));
        assert_eq!((got.bars[0].buy_volume, got.bars[0].sell_volume), (Some(4.0), None));
    }

    #[test]
    fn time_formats_and_zone_less_times_are_utc() {
        let t = T0 + 5 * MIN + 30_000; // 2025-01-01 00:05:30 UTC
        for text in [
            "2025-01-01T00:05:30Z",
            "2025-01-01T00:05:30.000Z",
            "2025-01-01T02:05:30+02:00",
            "2024-12-31T19:05:30-05:00",
            "2025-01-01 00:05:30+00:00",
            "2025-01-01 02:05:30 +0200",
            "2025-01-01 02:05:30+02",
            "2025-01-01 00:05:30",
            "2025-01-01T00:05:30",
            "2025/01/01 00:05:30",
            "2025-01-01 00:05:30 UTC",
            "2025-1-1 0:05:30",
            "Wed, 01 Jan 2025 00:05:30 +0000",
            "1735689930",
            "1735689930.0",
            "1735689930000",
            "1735689930000.0",
            "1735689930000000",
            "1735689930000000000",
        ] {
            assert_eq!(parse_time_ms(text), Some(t), "{text}");
        }
        assert_eq!(parse_time_ms("2025-01-01 00:05"), Some(T0 + 5 * MIN));
        assert_eq!(parse_time_ms("2025-01-01"), Some(T0));
        assert_eq!(parse_time_ms("2025-01-01 00:05:30.25"), Some(t + 250));
        assert_eq!(parse_time_ms("2025-01-01 00:05:30.1234"), Some(t + 123));
        assert_eq!(parse_time_ms("2025-01-01 00:05:30.1235"), Some(t + 124));
        assert_eq!(parse_time_ms("1735689930.5"), Some(t + 500), "decimal seconds");
        // Epoch: below 1e11 is seconds, from 1e11 milliseconds.
        assert_eq!(parse_time_ms("99999999999"), Some(99_999_999_999_000));
        assert_eq!(parse_time_ms("100000000000"), Some(100_000_000_000));
        assert_eq!(parse_time_ms("0"), Some(0));
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-02-29",
            "2025-01-01 24:00:00",
            "2025-01-01T00:00:00+25:00",
            "2025-01-01X",
            "1e400",
            "NaN",
        ] {
            assert_eq!(parse_time_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_time_ms("2024-02-29"), Some(1_709_164_800_000), "leap day");
        // A zone-less file reads as UTC end to end.
        let got = read("date,open,high,low,close,volume\n2025-01-01,1,1,1,1,1\n", 86_400_000).unwrap();
        assert_eq!(got.first_ms, Some(T0 + 86_400_000));
    }

    #[test]
    fn calendar_arithmetic_matches_chrono() {
        let mut day = -800_000i64;
        while day < 3_000_000 {
            let (y, m, d) = civil_from_days(day);
            let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).unwrap();
            assert_eq!(
                date.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days(),
                day
            );
            assert_eq!(days_from_civil(y, m, d), day);
            day += 997;
        }
        assert_eq!(format_time(T0 + MIN).as_deref(), Some("2025-01-01T00:01:00Z"));
        assert_eq!(format_time(T0 + 1).as_deref(), Some("2025-01-01T00:00:00.001Z"));
        assert_eq!(format_time(MIN_MS).as_deref(), Some("0000-01-01T00:00:00Z"));
        assert_eq!(format_time(MAX_MS).as_deref(), Some("9999-12-31T23:59:59.999Z"));
        assert_eq!(format_time(MAX_MS + 1), None);
    }

    #[test]
    fn headers_match_case_insensitively_with_aliases() {
        let yfinance = "Datetime,Open,High,Low,Close,Adj Close,Volume\n\
            2025-01-01 00:00:00+00:00,100,101,99,100.5,100.5,3\n\
            2025-01-01 00:01:00+00:00,100.5,102,100,101,101,4\n";
        let got = read(yfinance, MIN).unwrap();
        assert_eq!(got.bars.len(), 2);
        assert_eq!(got.time_column, "Datetime");
        assert_eq!(got.bars[0].close, 100.5);
        let backtrader = "datetime,open,high,low,close,volume,openinterest\n\
            2025-01-01 00:00:00,100,101,99,100.5,3,0\n";
        assert_eq!(read(backtrader, MIN).unwrap().bars[0], bar(T0 + MIN, 100.0, 101.0, 99.0, 100.5, 3.0));
        let spaced = "\u{feff} TIME , OPEN ,High,LOW,Close,VOL,Buy Volume,taker_sell_volume\n\
            2025-01-01 00:00:00,100,101,99,100.5,3,1,\n";
        let got = read(spaced, MIN).unwrap();
        assert_eq!(got.time_column, "TIME");
        assert_eq!((got.bars[0].buy_volume, got.bars[0].sell_volume), (Some(1.0), None), "an empty cell is None");
        let semicolons = "Date;Open;High;Low;Close;Volume\n2025-01-01 00:00;1;2;0.5;1.5;10\n";
        assert_eq!(read(semicolons, MIN).unwrap().bars[0], bar(T0 + MIN, 1.0, 2.0, 0.5, 1.5, 10.0));
        let tabs = "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<VOL>\n2025-01-01 00:00\t1\t2\t0.5\t1.5\t10\n";
        assert_eq!(read(tabs, MIN).unwrap().bars.len(), 1);
    }

    #[test]
    fn missing_columns_are_named() {
        for (header, missing) in [
            ("open,high,low,close,volume", "time"),
            ("time,high,low,close,volume", "open"),
            ("time,open,low,close,volume", "high"),
            ("time,open,high,close,volume", "low"),
            ("time,open,high,low,adj close,volume", "close"),
            ("time,open,high,low,close,volume btc", "volume"),
        ] {
            match read(&format!("{header}\n"), MIN) {
                Err(e @ CsvBarsError::MissingColumn { column, .. }) => {
                    assert_eq!(column, missing, "{header}");
                    assert!(e.to_string().contains(header.split(',').next().unwrap()), "{e}");
                }
                other => panic!("{header}: {other:?}"),
            }
        }
        assert!(matches!(read("", MIN), Err(CsvBarsError::NoHeader)));
        let empty = read("time,open,high,low,close,volume\n", MIN).unwrap();
        assert_eq!((empty.bars.len(), empty.first_ms), (0, None));
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let header = "Time,Open,High,Low,Close,Volume,Buy_Volume";
        for (row, column, reason) in [
            ("2025-01-01 00:01:00,100,99.5,100.0,100,1,", "High", "99.5 is below low 100.0"),
            ("2025-01-01 00:01:00,102,101,99,100,1,", "Open", "102 is outside low 99 .. high 101"),
            ("2025-01-01 00:01:00,100,101,99,98,1,", "Close", "98 is outside low 99 .. high 101"),
            ("2025-01-01 00:01:00,abc,101,99,100,1,", "Open", "\"abc\" is not a number"),
            ("2025-01-01 00:01:00,100,101,0,100,1,", "Low", "price 0 must be finite and above zero"),
            ("2025-01-01 00:01:00,100,101,-99,100,1,", "Low", "price -99 must be finite and above zero"),
            ("2025-01-01 00:01:00,100,inf,99,100,1,", "High", "price inf must be finite and above zero"),
            ("2025-01-01 00:01:00,100,101,99,NaN,1,", "Close", "price NaN must be finite and above zero"),
            ("2025-01-01 00:01:00,100,101,99,100,-1,", "Volume", "volume -1 must be finite and not negative"),
            ("2025-01-01 00:01:00,100,101,99,100,1,-2", "Buy_Volume", "volume -2 must be finite and not negative"),
            ("2025-01-01 00:01:00,100,101,99,100,,", "Volume", "the cell is empty"),
            ("2025-01-01 00:01:00,100,101,99", "Close", "the cell is empty"),
            ("2025-01-32 00:01:00,100,101,99,100,1,", "Time", "\"2025-01-32 00:01:00\" is not a time"),
            ("2025-01-01 00:01:30,100,101,99,100,1,", "Time", "is not on the 1m grid"),
        ] {
            let text = format!(
                "{header}\n2025-01-01 00:00:00,100,101,99,100,1,\n\n{row}\n2025-01-01 00:03:00,100,101,99,100,1,\n"
            );
            let (line, col, why) = row_error(&text, MIN);
            assert_eq!((line, col.as_str()), (4, column), "{row}: {why}");
            assert!(why.contains(reason), "{row}: {why}");
            let err = read(&text, MIN).unwrap_err().to_string();
            assert!(err.starts_with(&format!("line 4, column \"{column}\": ")), "{err}");
        }
    }

    #[test]
    fn rows_in_any_order_are_sorted_and_duplicates_handled() {
        let text = "time,open,high,low,close,volume\n\
            2025-01-01 00:02:00,3,3,3,3,3\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:01:00,2,2,2,2,2\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:00:00,1.0,1,1,1,1\n";
        let got = read(text, MIN).unwrap();
        assert_eq!(got.bars.iter().map(|b| b.close_ms).collect::<Vec<_>>(), vec![T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
        assert_eq!(got.bars.iter().map(|b| b.open).collect::<Vec<_>>(), vec![1.0, 2.0, 3.0]);
        assert_eq!((got.duplicates_dropped, got.rows_read), (2, 5));

        let differing = "time,open,high,low,close,volume\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:01:00,2,2,2,2,2\n\
            2025-01-01 00:00:00,1,1,1,1,7\n";
        let (line, column, reason) = row_error(differing, MIN);
        assert_eq!((line, column.as_str()), (4, "volume"));
        assert!(reason.contains("line 2"), "{reason}");
        // Skipping: both rows of that time are left out.
        let got = read_skipping(differing, MIN);
        assert_eq!(got.bars.len(), 1);
        assert_eq!(got.skipped_count, 2);
        assert_eq!(got.skipped.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn a_file_of_another_interval_is_refused() {
        let five = "time,open,high,low,close,volume\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:05:00,1,1,1,1,1\n\
            2025-01-01 00:15:00,1,1,1,1,1\n";
        match read(five, MIN) {
            Err(
                e
                @ CsvBarsError::IntervalMismatch { step_ms: 300_000, interval_ms: MIN, first_line: 2, second_line: 3 },
            ) => {
                assert!(e.to_string().starts_with("the file's bars are 5m apart (lines 2 and 3), not 1m"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // Finer than the interval: refused as a whole, not blamed on each time, skip or not.
        let one = "time,open,high,low,close,volume\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:01:00,1,1,1,1,1\n\
            2025-01-01 00:02:00,1,1,1,1,1\n\
            2025-01-01 00:03:00,1,1,1,1,1\n";
        let options = CsvImportOptions { skip_bad: true, ..CsvImportOptions::new(5 * MIN) };
        assert!(matches!(
            read_bars_csv(one.as_bytes(), options),
            Err(CsvBarsError::IntervalMismatch { step_ms: MIN, interval_ms: 300_000, .. })
        ));
        // The right interval with gaps is fine.
        let gappy = "time,open,high,low,close,volume\n\
            2025-01-01 00:00:00,1,1,1,1,1\n\
            2025-01-01 00:01:00,1,1,1,1,1\n\
            2025-01-01 00:09:00,1,1,1,1,1\n";
        assert_eq!(read(gappy, MIN).unwrap().bars.len(), 3);
        assert!(matches!(
            read_bars_csv(GOOD.as_bytes(), CsvImportOptions::new(0)),
            Err(CsvBarsError::InvalidInterval(0))
        ));
    }

    #[test]
    fn skip_bad_reports_counts_and_the_first_rows() {
        let mut text = String::from("time,open,high,low,close,volume\n");
        for k in 0..100 {
            let t = format_time(T0 + k * MIN).unwrap();
            if k % 3 == 1 {
                text.push_str(&format!("{t},1,0.5,1,1,1\n")); // high below low
            } else {
                text.push_str(&format!("{t},1,1,1,1,1\n"));
            }
        }
        text.push_str("2025-01-01 00:00:30,1,1,1,1,1\n"); // off the grid, line 102
        let got = read_skipping(&text, MIN);
        assert_eq!(got.skipped_count, 34);
        assert_eq!(got.bars.len(), 67);
        assert_eq!(got.skipped.len(), MAX_LISTED_BAD_ROWS);
        let lines: Vec<u64> = got.skipped.iter().map(|r| r.line).collect();
        assert_eq!(lines, (0..20).map(|i| 3 + 3 * i).collect::<Vec<u64>>(), "the earliest lines, in order");
        assert_eq!(got.skipped[0].column, "high");
        assert_eq!(got.skipped[0].to_string(), "line 3, column \"high\": 0.5 is below low 1");
        // Without skipping, the first bad row fails the whole file.
        assert_eq!(row_error(&text, MIN).0, 3);
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_cells() {
        let ok = "2025-01-01 00:00:00,1,1,1,1,1";
        let bad = "2025-01-01 00:01:00,1,1,1,1,-1";
        for (text, line) in [
            (format!("time,open,high,low,close,volume\r\n{ok}\r\n\r\n\r\n{bad}\r\n"), 5),
            (format!("\ntime,open,high,low,close,volume\n,,,,,\n \"quoted\ncell\",x\n{bad}"), 6),
            (format!("time,open,high,low,close,volume,note\n{ok},\"two\nlines\"\n{bad},\"a\"\"b\"\n"), 4),
        ] {
            let (got, column, _) = match read(&text, MIN) {
                Err(CsvBarsError::Row { line, column, reason }) => (line, column, reason),
                other => panic!("{text:?}: {other:?}"),
            };
            // The second case fails earlier, on the quoted line, at its first line.
            let expected = if text.contains("quoted") { (4, "time") } else { (line, "volume") };
            assert_eq!((got, column.as_str()), expected, "{text:?}");
        }
        let quoted = "\"time\",\"open\",high,low,close,volume\n\"2025-01-01 00:00:00\",\" 1 \",1,1,1,1\n";
        assert_eq!(read(quoted, MIN).unwrap().bars[0].open, 1.0);
        let trailing = "time,open,high,low,close,volume\n2025-01-01 00:00:00,1,1,1,1,1\n,,,,,\n\n";
        assert_eq!(read(trailing, MIN).unwrap().rows_read, 1);
    }

    /// Every record of `text` with the line it starts on, as `csv_core` alone reads them.
    fn core_records(text: &[u8], delimiter: u8) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        let (mut input, mut records) = (text, Vec::new());
        loop {
            let blank = input.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
            core.set_line(core.line() + newlines(&input[..blank]));
            input = &input[blank..];
            let start = core.line();
            let (mut data, mut ends) = (vec![0u8; 1 << 16], vec![0usize; 1024]);
            let (result, read, _, ended) = core.read_record(input, &mut data, &mut ends);
            input = &input[read..];
            let (result, ended) = match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    let (r, _, _, e) = core.read_record(&[], &mut data, &mut ends[ended..]);
                    (r, ended + e)
                }
                r => (r, ended),
            };
            match result {
                csv_core::ReadRecordResult::Record => {}
                csv_core::ReadRecordResult::End => return records,
                other => panic!("{other:?}"),
            }
            let cells: Vec<Vec<u8>> =
                (0..ended).map(|i| data[if i == 0 { 0 } else { ends[i - 1] }..ends[i]].to_vec()).collect();
            if cells.iter().any(|c| !c.trim_ascii().is_empty()) {
                records.push((start, cells));
            }
        }
    }

    #[test]
    fn plain_lines_read_as_csv_core_reads_them() {
        let long_cell = "x".repeat(3000);
        let many_cells = vec!["7"; 80].join(",");
        let texts = [
            "a,b,c\n1,2,3\n4,5,6\n".to_string(),
            "\u{feff}a,b\n1,2\n".to_string(),
            "a,b\r\n1,2\r\n\r\n3,4\r\n5,6".to_string(),
            "a,b\n1,\n,2\n,\n,,\n\n\n3,4\n".to_string(),
            "a,b\n\"q,1\",2\n3,\"4\"\"x\"\n5,6\n".to_string(),
            "a,b\n1,\"two\nlines\"\n7,8\n".to_string(),
            "a,b\n1\r2,3\n4,5\rz,y\n6,7\n".to_string(),
            "a,b\n1,2 \"x\n3,4\n".to_string(),
            format!("a,b\n{long_cell},1\n2,{long_cell}\n3,4\n"),
            format!("a\n{many_cells}\n{many_cells}\n1\n"),
            "a;b\n1;2\n3,5;4\n".to_string(),
            "a\tb\n1\t2\n".to_string(),
            " a , b \n 1 , 2 \n".to_string(),
        ];
        for text in &texts {
            let delimiter = match (text.contains('\t'), text.contains(';')) {
                (true, _) => b'\t',
                (_, true) => b';',
                _ => b',',
            };
            let expected = core_records(text.as_bytes(), delimiter);
            assert!(expected.len() >= 2, "{text:?}: {expected:?}");
            // Buffers cutting lines anywhere: those lines are csv_core's.
            for capacity in [1, 2, 3, 7, 16, 64, 1 << 16] {
                if text.starts_with('\u{feff}') && capacity < 7 {
                    // csv_core strips a byte-order mark only when it is buffered with more.
                    continue;
                }
                let mut records = Records::new(std::io::BufReader::with_capacity(capacity, text.as_bytes()), delimiter);
                let mut got = Vec::new();
                while let Some(line) = records.next().unwrap() {
                    got.push((line, records.cells().map(<[u8]>::to_vec).collect::<Vec<_>>()));
                }
                assert_eq!(got, expected, "{text:?}, buffers of {capacity}");
            }
        }
    }

    fn next(state: &mut u64) -> u64 {
        // xorshift64*
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(state: &mut u64) -> f64 {
        (next(state) >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn written_files_read_back_to_the_same_bars() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for (interval_ms, time_is) in
            [(250, TimeIs::Auto), (MIN, TimeIs::Open), (MIN, TimeIs::Close), (86_400_000, TimeIs::Auto)]
        {
            let mut bars = Vec::new();
            let mut close_ms = T0 - 40 * interval_ms;
            for k in 0..300 {
                // Steps of one bar, with a gap now and then (never a first step, so the file's
                // interval shows).
                close_ms += interval_ms * if k % 17 == 5 { 1 + (next(&mut state) % 9) as i64 } else { 1 };
                let scale = [1e-6, 0.1, 1.0, 97.0, 65_000.0, 3e9][(next(&mut state) % 6) as usize];
                let mut p = [unit(&mut state), unit(&mut state), unit(&mut state), unit(&mut state)]
                    .map(|u| (0.01 + u) * scale);
                p.sort_by(f64::total_cmp);
                let (low, high) = (p[0], p[3]);
                let (open, close) = if next(&mut state) & 1 == 0 { (p[1], p[2]) } else { (p[2], p[1]) };
                let volume = if k % 11 == 0 { 0.0 } else { unit(&mut state) * 1e4 };
                let buy = (k % 3 != 0).then(|| volume * unit(&mut state));
                let sell = (k % 4 != 0).then_some(volume * 0.3);
                bars.push(HistoryBar {
                    close_ms,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    buy_volume: buy,
                    sell_volume: sell,
                    sample_count: None,
                    book: None,
                });
            }
            let mut file = Vec::new();
            assert_eq!(write_bars_csv(&mut file, &bars, interval_ms, time_is).unwrap(), bars.len());
            let back = read_bars_csv(file.as_slice(), CsvImportOptions::new(interval_ms)).unwrap();
            assert_eq!(back.bars, bars, "interval {interval_ms}, {time_is}");
            assert_eq!(back.time_is, if time_is == TimeIs::Close { TimeIs::Close } else { TimeIs::Open });
        }
    }

    #[test]
    fn the_written_file_is_plain() {
        let bars = [
            HistoryBar { buy_volume: Some(1.5), ..bar(T0 + MIN, 0.1 + 0.2, 1.0, 0.25, 0.5, 12.0) },
            HistoryBar { sell_volume: Some(2.0), ..bar(T0 + 2 * MIN + 500, 1.0, 1.0, 1.0, 1.0, 0.0) },
        ];
        let mut file = Vec::new();
        write_bars_csv(&mut file, &bars, MIN, TimeIs::Open).unwrap();
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "time,open,high,low,close,volume,buy_volume,sell_volume\n\
             2025-01-01T00:00:00Z,0.30000000000000004,1,0.25,0.5,12,1.5,\n\
             2025-01-01T00:01:00.500Z,1,1,1,1,0,,2\n"
        );
        let mut file = Vec::new();
        write_bars_csv(&mut file, &bars[..1], MIN, TimeIs::Close).unwrap();
        assert!(String::from_utf8(file)
            .unwrap()
            .starts_with("close_time,open,high,low,close,volume,buy_volume,sell_volume\n2025-01-01T00:01:00Z,"));
        let far = bar(MAX_MS + MIN, 1.0, 1.0, 1.0, 1.0, 1.0);
        assert!(matches!(write_bars_csv(Vec::new(), [&far], MIN, TimeIs::Close), Err(CsvBarsError::Unwritable { .. })));
    }

    #[test]
    fn time_convention_parses() {
        assert_eq!("Open".parse::<TimeIs>().unwrap(), TimeIs::Open);
        assert_eq!(" close ".parse::<TimeIs>().unwrap(), TimeIs::Close);
        assert_eq!("auto".parse::<TimeIs>().unwrap(), TimeIs::default());
        assert!("middle".parse::<TimeIs>().is_err());
        assert_eq!(TimeIs::Close.to_string(), "close");
    }

    /// Every bar a [`CsvBarStream`] gives in batches of `batch`, and its end (or why it stopped).
    fn stream(text: &str, interval_ms: i64, batch: usize) -> Result<(Vec<HistoryBar>, CsvStreamEnd), String> {
        let mut s = CsvBarStream::open(text.as_bytes(), CsvImportOptions::new(interval_ms))?;
        let mut bars = Vec::new();
        while let Some(b) = s.next_batch(batch)? {
            assert!(b.len() <= batch.max(1));
            bars.extend(b);
        }
        Ok((bars, s.finish()?))
    }

    fn minutes(n: i64, header: &str) -> String {
        let mut csv = format!("{header}\n");
        for k in 0..n {
            let p = 100.0 + (k % 9) as f64;
            csv.push_str(&format!("{},{p},{},{},{},{}\n", 1_735_689_600 + k * 60, p + 1.0, p - 1.0, p + 0.5, k));
        }
        csv
    }

    #[test]
    fn a_clean_file_streams_the_bars_a_whole_read_gives() {
        for header in ["time,open,high,low,close,volume", "close_time,open,high,low,close,volume"] {
            let csv = minutes(1000, header);
            let whole = read(&csv, MIN).unwrap();
            for batch in [1, 7, 999, 1000, 5000] {
                let (bars, end) = stream(&csv, MIN, batch).unwrap();
                assert_eq!(bars, whole.bars, "batches of {batch}");
                assert_eq!(
                    (end.rows_read, end.first_ms, end.last_ms, end.time_column.as_str(), end.time_is),
                    (1000, whole.first_ms, whole.last_ms, header.split(',').next().unwrap(), whole.time_is)
                );
            }
        }
    }

    #[test]
    fn anything_but_a_clean_file_stops_the_stream_for_a_whole_read() {
        let csv = minutes(50, "time,open,high,low,close,volume");
        let lines: Vec<&str> = csv.lines().collect();
        let with = |i: usize, line: &str| {
            let mut l = lines.clone();
            l[i] = line;
            l.join("\n") + "\n"
        };
        let swapped = {
            let mut l = lines.clone();
            l.swap(10, 11);
            l.join("\n") + "\n"
        };
        let cases = [
            (with(20, "1735690740,100,99,101,100,1"), "line 21"),
            (with(20, lines[19]), "line 21: not after line 20"),
            (swapped, "line 12: not after line 11"),
            (with(20, "1735690741,100,101,99,100,1"), "line 21: a time off the grid"),
        ];
        for (text, why) in cases {
            let e = stream(&text, MIN, 8).unwrap_err();
            assert!(e.starts_with(why), "{e} (wanted {why})");
            assert!(read(&text, MIN).is_err() || why.contains("not after"), "the whole read decides: {why}");
        }
        // A file of 2-minute bars given as 1m: every time on the grid, refused at the end.
        let two: String = csv.lines().enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, l)| format!("{l}\n")).collect();
        assert!(stream(&two, MIN, 8).unwrap_err().contains("smallest step"));
        assert!(matches!(read(&two, MIN), Err(CsvBarsError::IntervalMismatch { .. })));
        // Skipping bad rows is the whole read's.
        let options = CsvImportOptions { skip_bad: true, ..CsvImportOptions::new(MIN) };
        assert!(CsvBarStream::open(csv.as_bytes(), options).is_err());
    }

    #[test]
    fn the_last_bar_is_read_from_the_end_of_the_file() {
        let csv = minutes(3000, "time,open,high,low,close,volume");
        let whole = read(&csv, MIN).unwrap();
        for text in [csv.clone(), csv.replace('\n', "\r\n"), format!("{csv}\n\n,,,,,\n  \n")] {
            let mut file = std::io::Cursor::new(text.into_bytes());
            assert_eq!(last_bar_close(&mut file, CsvImportOptions::new(MIN)), Ok(whole.last_ms.unwrap()));
            assert_eq!(file.position(), 0, "rewound for the stream");
        }
        let mut bad = std::io::Cursor::new(format!("{csv}2025-01-03 02:00:00,1,0.5,2,1,1\n").into_bytes());
        assert!(last_bar_close(&mut bad, CsvImportOptions::new(MIN)).unwrap_err().contains("the last line"));
        let mut empty = std::io::Cursor::new(b"time,open,high,low,close,volume\n".to_vec());
        assert!(last_bar_close(&mut empty, CsvImportOptions::new(MIN)).is_err());
    }
}
