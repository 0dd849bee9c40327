//! `cgaf history`: the market-history store from the command line — import a CSV of bars,
//! download candles from an exchange, export bars, and list what is stored.

use crate::cli::{GlobalArgs, HistoryArgs, HistoryCommand, HistoryExportArgs, HistoryImportArgs};
use crate::database::{open, STARTUP_WAIT};
use crate::settings::DatabaseSettings;
use anyhow::{bail, Context, Result};
use cgaf_store::Store;
use cgaf_trade::domain::history::{interval_label, write_bars_csv_header, write_bars_csv_rows, CsvImportOptions};
use cgaf_trade::domain::parse_interval;
use cgaf_trade::{import_csv, CsvImport, CsvImportTarget};
use std::io::Write;
use std::time::Instant;

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
    db.close().await?;
    r
}

async fn import(store: &Store, a: &HistoryImportArgs) -> Result<()> {
    let interval = parse_interval(&a.interval).map_err(anyhow::Error::msg).context("--interval")?;
    let started = Instant::now();
    let options = CsvImportOptions { interval_ms: interval, time_is: a.time_is, skip_bad: a.skip_bad };
    let source = a.source.clone().unwrap_or_else(|| {
        format!("csv:{}", a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    });
    let target =
        CsvImportTarget { product: &a.product, source: &source, rollups: &a.rollup_intervals.0, replace: a.replace };
    let label = a.file.display().to_string();
    let size_mb = std::fs::metadata(&a.file).map(|m| m.len() / 1_000_000).unwrap_or(0);
    let said = label.clone();
    let progress = Box::new(move |bars: usize, seconds: f64| {
        eprintln!("importing {said}: {bars} bars ({:.0} bars/s, {size_mb} MB file)", bars as f64 / seconds);
    });
    let CsvImport { file, report, parse_s } = import_csv(store, &a.file, &label, options, &target, Some(progress))
        .await
        .with_context(|| format!("importing {label}"))?;
    if file.skipped_count > 0 {
        eprintln!("skipped {} bad rows (--skip-bad):", file.skipped_count);
        for b in &file.skipped {
            eprintln!("  {b}");
        }
    }
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
