//! `cgaf history`: the market-history store from the command line — import a CSV of bars,
//! download candles from an exchange, export bars, and list what is stored.

use crate::cli::{GlobalArgs, HistoryArgs, HistoryCommand, HistoryExportArgs, HistoryImportArgs};
use crate::database::{open, STARTUP_WAIT};
use crate::settings::DatabaseSettings;
use anyhow::{bail, Context, Result};
use cgaf_store::{Store, StreamedImport};
use cgaf_trade::domain::history::{
    interval_label, last_bar_close, read_bars_csv, write_bars_csv_header, write_bars_csv_rows, CsvBarStream,
    CsvImportOptions, TimeIs,
};
use cgaf_trade::domain::parse_interval;
use std::io::Write;
use std::time::{Duration, Instant};

/// Bars per page when exporting.
const EXPORT_PAGE: i64 = 50_000;

/// `cgaf history ...`: opens the database (the configured one, or the private one — attaching to
/// it when `cgaf serve` is running on the same data folder), applies the schema, runs the command.
pub async fn run(g: &GlobalArgs, args: &HistoryArgs) -> Result<()> {
    let mut db = open(&DatabaseSettings::from_args(g), true).await?;
    let r = async {
        db.store.wait_ready(STARTUP_WAIT).await.context("waiting for the database")?;
        db.store.migrate().await.context("applying migrations")?;
        match &args.command {
            HistoryCommand::Import(a) => import(&db.store, a).await,
            HistoryCommand::Export(a) => export(&db.store, a).await,
            HistoryCommand::List => list(&db.store).await,
            HistoryCommand::Download(a) => crate::history_download::run(&db.store, a).await,
        }
    }
    .await;
    if let Some(mut pg) = db.embedded.take() {
        tokio::task::spawn_blocking(move || pg.stop()).await??;
    }
    r
}

/// Bars a streamed import reads, writes and rolls up at a time (the most it holds in memory).
const IMPORT_BATCH_BARS: usize = 50_000;

/// What an imported file held, for the import's report.
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
    /// Bad rows skipped (`--skip-bad`).
    pub skipped_count: usize,
    /// Rows dropped as exact repeats.
    pub duplicates_dropped: usize,
}

/// What [`import_csv`] read and wrote.
pub struct CsvImport {
    /// What the file held.
    pub file: FileRead,
    /// What was written.
    pub report: cgaf_store::ImportReport,
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
    /// Coarser intervals to roll the bars up into.
    pub rollups: &'a [i64],
    /// Replace stored imported bars with other values.
    pub replace: bool,
}

/// Imports the CSV at `path`: a clean file over a range with nothing stored streams in batches
/// (memory bounded by a batch, progress on stderr); any other is read whole (sorted, its bad rows
/// named or skipped) and merged with what is stored.
pub async fn import_csv(
    store: &Store,
    path: &std::path::Path,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
) -> Result<CsvImport> {
    match import_streamed(store, path, options, target).await? {
        Ok((file, report)) => Ok(CsvImport { file, report, parse_s: None }),
        Err(why) => {
            tracing::info!(file = %path.display(), why = %why, "reading the whole file");
            let (file, report, parse_s) = import_whole(store, path, options, target).await?;
            Ok(CsvImport { file, report, parse_s: Some(parse_s) })
        }
    }
}

async fn import(store: &Store, a: &HistoryImportArgs) -> Result<()> {
    let interval = parse_interval(&a.interval).map_err(anyhow::Error::msg).context("--interval")?;
    let started = Instant::now();
    let options = CsvImportOptions { interval_ms: interval, time_is: a.time_is, skip_bad: a.skip_bad };
    let source = a.source.clone().unwrap_or_else(|| {
        format!("csv:{}", a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    });
    let rollups: Vec<i64> =
        a.rollup_intervals.0.iter().copied().filter(|&c| c > interval && c % interval == 0).collect();
    let target = CsvImportTarget { product: &a.product, source: &source, rollups: &rollups, replace: a.replace };
    let CsvImport { file, report, parse_s } = import_csv(store, &a.file, options, &target).await?;
    let total_s = started.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "product": a.product,
        "interval": interval_label(interval),
        "source": source,
        "rows_read": file.rows_read,
        "bars": file.bars,
        "first": file.first_ms.map(cgaf_trade::domain::history::rfc3339),
        "last": file.last_ms.map(cgaf_trade::domain::history::rfc3339),
        "time_column": file.time_column,
        "time_is": file.time_is.to_string(),
        "skipped_bad_rows": file.skipped_count,
        "duplicates_dropped": file.duplicates_dropped,
        "written": report.written,
        "unchanged": report.unchanged,
        "kept_collected": report.kept_collected,
        "rolled_up": report.rolled_up,
        "blocks": report.blocks,
        "streamed": parse_s.is_none(),
        "seconds": { "parse": parse_s, "total": total_s },
        "bars_per_second": file.bars as f64 / total_s,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Imports the file read whole ([`read_bars_csv`]) and merged with what is stored
/// ([`Store::import_bars`]); gives what it read, what was written and the seconds reading took.
async fn import_whole(
    store: &Store,
    path: &std::path::Path,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
) -> Result<(FileRead, cgaf_store::ImportReport, f64)> {
    let started = Instant::now();
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let parsed =
        tokio::task::block_in_place(|| read_bars_csv(std::io::BufReader::with_capacity(1 << 20, file), options))
            .with_context(|| format!("reading {} (nothing was written)", path.display()))?;
    let parse_s = started.elapsed().as_secs_f64();
    if parsed.skipped_count > 0 {
        eprintln!("skipped {} bad rows (--skip-bad):", parsed.skipped_count);
        for b in &parsed.skipped {
            eprintln!("  {b}");
        }
    }
    if parsed.bars.is_empty() {
        bail!("{} holds no bars", path.display());
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
        duplicates_dropped: parsed.duplicates_dropped,
    };
    Ok((file, report, parse_s))
}

/// Streams a clean file ([`CsvBarStream`]) into a range with nothing stored
/// ([`Store::import_bar_batches`]), printing progress on stderr; `Ok(Err(why))` when the file or
/// the range needs [`import_whole`] (nothing was written then).
async fn import_streamed(
    store: &Store,
    path: &std::path::Path,
    options: CsvImportOptions,
    target: &CsvImportTarget<'_>,
) -> Result<std::result::Result<(FileRead, cgaf_store::ImportReport), String>> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let last_ms = match tokio::task::block_in_place(|| last_bar_close(&mut file, options)) {
        Ok(ms) => ms,
        Err(why) => return Ok(Err(why)),
    };
    let mut stream = match CsvBarStream::open(file, options) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let first = match tokio::task::block_in_place(|| stream.next_batch(IMPORT_BATCH_BARS)) {
        Ok(Some(batch)) => batch,
        Ok(None) => return Ok(Err("no bars".into())),
        Err(why) => return Ok(Err(why)),
    };
    let first_ms = first[0].close_ms;
    // Batches are read on a thread of their own while the previous one is written.
    let (batches, received) = tokio::sync::mpsc::channel(2);
    let label = path.display().to_string();
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
                    if said.elapsed() >= Duration::from_secs(5) {
                        said = Instant::now();
                        eprintln!(
                            "importing {label}: {bars} bars ({:.0} bars/s, {} MB file)",
                            bars as f64 / started.elapsed().as_secs_f64(),
                            size / 1_000_000
                        );
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
    let read = reading.await?;
    let report = match written {
        StreamedImport::Written(report) => report,
        StreamedImport::NotStreamed(why) => return Ok(Err(why)),
    };
    // The store committed only batches that ended at the last line's bar; the reader agrees.
    let end = match read {
        Some(Ok(end)) => end,
        Some(Err(why)) => bail!("the import of {} was written, but its reader then said: {why}", path.display()),
        None => bail!("the import of {} was written, but its reader stopped early", path.display()),
    };
    let file = FileRead {
        rows_read: end.rows_read,
        bars: end.rows_read,
        first_ms: end.first_ms,
        last_ms: end.last_ms,
        time_column: end.time_column,
        time_is: end.time_is,
        skipped_count: 0,
        duplicates_dropped: 0,
    };
    Ok(Ok((file, report)))
}

async fn export(store: &Store, a: &HistoryExportArgs) -> Result<()> {
    let interval = parse_interval(&a.interval).map_err(anyhow::Error::msg).context("--interval")?;
    let from = a.from.as_deref().map(cgaf_trade::domain::parse_time).transpose().map_err(anyhow::Error::msg)?;
    let to = a.to.as_deref().map(cgaf_trade::domain::parse_time).transpose().map_err(anyhow::Error::msg)?;
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = from.map_or(0, |f| f + interval - 1);
    let until = to.unwrap_or(i64::MAX / 4);
    let mut first = true;
    let mut n = 0usize;
    loop {
        let page = store.bars_page(&a.product, interval, after, until, EXPORT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.close_ms;
        match a.format {
            crate::cli::BarsFormat::Csv => {
                // The header once, then each page's rows.
                if first {
                    write_bars_csv_header(&mut out, a.time_is)?;
                }
                write_bars_csv_rows(&mut out, &page, interval, a.time_is)?;
            }
            crate::cli::BarsFormat::Json => {
                for (i, b) in page.iter().enumerate() {
                    out.write_all(if n + i == 0 { b"[" } else { b",\n" })?;
                    serde_json::to_writer(&mut out, b)?;
                }
            }
        }
        n += page.len();
        first = false;
        if (page.len() as i64) < EXPORT_PAGE {
            break;
        }
    }
    if matches!(a.format, crate::cli::BarsFormat::Json) {
        out.write_all(if n == 0 { b"[]\n" } else { b"]\n" })?;
    }
    out.flush()?;
    if n == 0 {
        bail!(
            "no {} bars of {} in that range; `cgaf history list` shows what is stored",
            interval_label(interval),
            a.product
        );
    }
    eprintln!("exported {n} {} bars of {}", interval_label(interval), a.product);
    Ok(())
}

async fn list(store: &Store) -> Result<()> {
    let ranges = store.history_coverage(None).await?;
    if ranges.is_empty() {
        println!("no history stored yet (cgaf serve collects it; cgaf history import / download add more)");
        return Ok(());
    }
    println!(
        "{:<12} {:>8} {:<25} {:<25} {:>10} {:>9} {:>6}",
        "product", "interval", "first", "last", "bars", "missing", "gaps"
    );
    for r in ranges {
        println!(
            "{:<12} {:>8} {:<25} {:<25} {:>10} {:>9} {:>6}",
            r.product,
            interval_label(r.interval_ms),
            cgaf_trade::domain::history::rfc3339(r.first_ms - r.interval_ms),
            cgaf_trade::domain::history::rfc3339(r.last_ms),
            r.count,
            r.missing,
            r.gaps
        );
    }
    Ok(())
}
