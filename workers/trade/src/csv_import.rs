//! A CSV file of bars imported into the market history: what `cgaf history import` and
//! `POST /api/history/imports` both do. A clean file over a range with nothing stored streams in
//! batches (memory bounded by a batch: read on a thread of its own, COPYed as it comes); any other
//! is read whole (sorted, its bad rows named or skipped) and merged with what is stored.

use crate::Error;
use cgaf_store::{ImportReport, Store, StreamedImport};
use cgaf_trade_domain::history::{last_bar_close, read_bars_csv, CsvBarStream, CsvImportOptions, TimeIs};
use std::path::Path;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Error>;

/// Bars a streamed import reads, writes and rolls up at a time (the most it holds in memory).
pub const IMPORT_BATCH_BARS: usize = 50_000;

/// Bars of a streamed import's first batch: read before anything is written (a file that cannot
/// stream says so then), and small, so the database starts writing early.
const FIRST_BATCH_BARS: usize = 4_096;

/// How often a streamed import reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Called while a file streams in: bars read so far and seconds since reading began.
pub type ImportProgress = Box<dyn FnMut(usize, f64) + Send>;

/// What an imported file held, for the import's report.
#[derive(Debug, Clone)]
pub struct FileRead {
    /// Data rows read.
    pub rows_read: usize,
    /// Bars imported.
    pub bars: usize,
    /// Close of the first bar.
    pub first_ms: Option<i64>,
    /// Close of the last bar.
    pub last_ms: Option<i64>,
    /// The time column, as the header names it.
    pub time_column: String,
    /// Which end of the bar its times stamp.
    pub time_is: TimeIs,
    /// Bad rows skipped (`skip_bad`).
    pub skipped_count: usize,
    /// The bad rows skipped, each naming its line, column and why.
    pub skipped: Vec<String>,
    /// Rows dropped as exact repeats.
    pub duplicates_dropped: usize,
}

/// What [`import_csv`] read and wrote.
#[derive(Debug, Clone)]
pub struct CsvImport {
    /// What the file held.
    pub file: FileRead,
    /// What was written.
    pub report: ImportReport,
    /// Seconds reading the whole file took, when it was read whole (`None`: streamed).
    pub parse_s: Option<f64>,
}

/// Where a CSV import goes.
#[derive(Debug, Clone, Copy)]
pub struct CsvImportTarget<'a> {
    /// The product the bars are of.
    pub product: &'a str,
    /// What the bars came from (`csv:<file name>`).
    pub source: &'a str,
    /// The rollup intervals: the bars are rolled up into those that are coarser multiples of
    /// their interval (the store picks them, so the service's whole setting can be passed).
    pub rollups: &'a [i64],
    /// Replace stored imported bars with other values.
    pub replace: bool,
}

/// Imports the CSV at `path` (named `label` in messages): a clean file over a range with nothing
/// stored streams in batches (memory bounded by a batch; `progress` is called every few seconds);
/// any other is read whole (sorted, its bad rows named or skipped) and merged with what is stored.
/// A bad file is [`Error::BadCsv`] naming its line and column, and nothing is written.
pub async fn import_csv(
    store: &Store,
    path: &Path,
    label: &str,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
    progress: Option<ImportProgress>,
) -> Result<CsvImport> {
    match import_streamed(store, path, label, options, target, progress).await? {
        Ok((file, report)) => Ok(CsvImport { file, report, parse_s: None }),
        Err(why) => {
            tracing::info!(file = label, why = %why, "reading the whole file");
            let (file, report, parse_s) = import_whole(store, path, label, options, target).await?;
            Ok(CsvImport { file, report, parse_s: Some(parse_s) })
        }
    }
}

fn open(path: &Path, label: &str) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| Error::Io(format!("opening {label}: {e}")))
}

/// Imports the file read whole ([`read_bars_csv`]) and merged with what is stored
/// ([`Store::import_bars`]); gives what it read, what was written and the seconds reading took.
async fn import_whole(
    store: &Store,
    path: &Path,
    label: &str,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
) -> Result<(FileRead, ImportReport, f64)> {
    let started = Instant::now();
    let file = open(path, label)?;
    let parsed =
        tokio::task::spawn_blocking(move || read_bars_csv(std::io::BufReader::with_capacity(1 << 20, file), options))
            .await
            .map_err(|e| Error::Io(format!("the reader of {label} failed: {e}")))?
            .map_err(|e| Error::BadCsv(format!("{label}: {e} (nothing was written)")))?;
    let parse_s = started.elapsed().as_secs_f64();
    if parsed.bars.is_empty() {
        return Err(Error::BadCsv(format!("{label} holds no bars (nothing was written)")));
    }
    let CsvImportTarget { product, source, rollups, replace } = *target;
    let report = store.import_bars(product, options.interval_ms, source, &parsed.bars, rollups, replace).await?;
    let file = FileRead {
        rows_read: parsed.rows_read,
        bars: parsed.bars.len(),
        first_ms: parsed.first_ms,
        last_ms: parsed.last_ms,
        time_column: parsed.time_column,
        time_is: parsed.time_is,
        skipped_count: parsed.skipped_count,
        skipped: parsed.skipped.iter().map(|b| b.to_string()).collect(),
        duplicates_dropped: parsed.duplicates_dropped,
    };
    Ok((file, report, parse_s))
}

/// Streams a clean file ([`CsvBarStream`]) into a range with nothing stored
/// ([`Store::import_bar_batches`]); `Ok(Err(why))` when the file or the range needs
/// [`import_whole`] (nothing was written then).
async fn import_streamed(
    store: &Store,
    path: &Path,
    label: &str,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
    mut progress: Option<ImportProgress>,
) -> Result<std::result::Result<(FileRead, ImportReport), String>> {
    let mut file = open(path, label)?;
    // The last line's bar (read from the end), then the first batch: a file that cannot stream
    // says why here, before anything is written.
    let opened = tokio::task::spawn_blocking(move || {
        let last_ms = last_bar_close(&mut file, options)?;
        let mut stream = CsvBarStream::open(file, options)?;
        match stream.next_batch(FIRST_BATCH_BARS)? {
            Some(first) => Ok((last_ms, stream, first)),
            None => Err("no bars".to_string()),
        }
    })
    .await
    .map_err(|e| Error::Io(format!("the reader of {label} failed: {e}")))?;
    let (last_ms, mut stream, first) = match opened {
        Ok(opened) => opened,
        Err(why) => return Ok(Err(why)),
    };
    let first_ms = first[0].close_ms;
    // Batches are read on a thread of their own while the previous one is written.
    let (batches, received) = tokio::sync::mpsc::channel(2);
    let reading = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let (mut bars, mut said) = (first.len(), Instant::now());
        if batches.blocking_send(Ok(first)).is_err() {
            return None;
        }
        loop {
            match stream.next_batch(IMPORT_BATCH_BARS) {
                Ok(Some(batch)) => {
                    bars += batch.len();
                    if batches.blocking_send(Ok(batch)).is_err() {
                        return None;
                    }
                    if said.elapsed() >= PROGRESS_EVERY {
                        said = Instant::now();
                        if let Some(p) = progress.as_mut() {
                            p(bars, started.elapsed().as_secs_f64());
                        }
                    }
                }
                Ok(None) => {
                    // A file of another interval must not commit: its verdict goes to the store.
                    let end = stream.finish();
                    if let Err(why) = &end {
                        let _ = batches.blocking_send(Err(why.clone()));
                    }
                    return Some(end);
                }
                Err(why) => {
                    let _ = batches.blocking_send(Err(why.clone()));
                    return Some(Err(why));
                }
            }
        }
    });
    let written = store
        .import_bar_batches(
            target.product,
            options.interval_ms,
            target.source,
            (first_ms, last_ms),
            target.rollups,
            received,
        )
        .await?;
    let read = reading.await.map_err(|e| Error::Io(format!("the reader of {label} failed: {e}")))?;
    let report = match written {
        StreamedImport::Written(report) => report,
        StreamedImport::NotStreamed(why) => return Ok(Err(why)),
    };
    // The store committed only batches that ended at the last line's bar; the reader agrees.
    let end = match read {
        Some(Ok(end)) => end,
        Some(Err(why)) => {
            return Err(Error::Io(format!("the import of {label} was written, but its reader then said: {why}")))
        }
        None => return Err(Error::Io(format!("the import of {label} was written, but its reader stopped early"))),
    };
    let file = FileRead {
        rows_read: end.rows_read,
        bars: end.rows_read,
        first_ms: end.first_ms,
        last_ms: end.last_ms,
        time_column: end.time_column,
        time_is: end.time_is,
        skipped_count: 0,
        skipped: Vec::new(),
        duplicates_dropped: 0,
    };
    Ok(Ok((file, report)))
}
