//! Executing a backtest run: its bars read from the history store page by page, the strategy over
//! them in chunks (each chunk's rows and progress in one transaction), then what the range held
//! (bars expected, found, gaps), its metrics and the log's hash.

use crate::bars::BarReader;
use crate::runs::{end_run, fail, metrics_json, now_ms, run_settings, step_bars, strategy_for};
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::{AppendCommit, RunProgress, RunRow, Store};
use cgaf_trade_domain::{Bar, DecisionLogHash, DecisionRow, Portfolio, RunStatus, Series};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Bars stepped and written per transaction while a backtest runs: one block of its decision
/// log, and one strategy-state checkpoint (the most a page of the log replays).
pub const BACKTEST_CHUNK: usize = 10_000;

/// Chunks of the decision log that may wait for the writer while the strategy steps on (besides
/// the one being written): the writer's time per chunk varies more than the strategy's.
const LOG_CHUNKS_QUEUED: usize = 2;

/// How often a running backtest looks for a stop request.
const STOP_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Reads `reader`'s pages into `pages` (an error ends it) until they run out or nobody
/// listens; gives the reader back for the coverage of what it read.
async fn read_ahead(mut reader: BarReader, pages: tokio::sync::mpsc::Sender<Result<Vec<Bar>, Error>>) -> BarReader {
    loop {
        let page = reader.next_page().await.transpose();
        let Some(page) = page else { break };
        let failed = page.is_err();
        if pages.send(page).await.is_err() || failed {
            break;
        }
    }
    reader
}

/// Executes a backtest run held by `worker` from its first bar (a run taken over from a dead
/// worker starts again: its partial log is discarded). Ends the run as finished, stopped or
/// failed. When `shutdown` turns true it stops between chunks and leaves the run claimed, so it
/// starts again after the restart ([`Error::ShuttingDown`]). Traced as the span `backtest.run`,
/// with a `backtest.chunk` child per chunk of bars stepped.
#[tracing::instrument(name = "backtest.run", skip_all, fields(run = run.run_id, product = %run.spec.product))]
pub async fn execute_backtest(
    store: &Store,
    host: &PluginHost,
    run: &RunRow,
    worker: &str,
    shutdown: &AtomicBool,
) -> Result<(), Error> {
    match backtest_inner(store, host, run, worker, shutdown).await {
        Ok(()) => Ok(()),
        Err(Error::Store(cgaf_store::Error::RunLost(_))) => Ok(()),
        Err(Error::ShuttingDown) => {
            tracing::info!(run = run.run_id, "backtest interrupted by shutdown; it restarts later");
            Err(Error::ShuttingDown)
        }
        Err(e) => {
            fail(store, worker, run.run_id, &e).await;
            Err(e)
        }
    }
}

/// A chunk of the decision log to append, with the run's progress after it.
type LogChunk = (Arc<Vec<DecisionRow>>, RunProgress);

/// Appends the chunks it is given to the run's log, in order, one transaction each, until the
/// sender is dropped; the first error ends it.
async fn write_log(
    store: Store,
    worker: String,
    run_id: i64,
    mut chunks: tokio::sync::mpsc::Receiver<LogChunk>,
) -> Result<(), Error> {
    while let Some((rows, progress)) = chunks.recv().await {
        store.append_decisions(run_id, &worker, &rows, &progress, AppendCommit::WithRunEnd).await?;
    }
    Ok(())
}

/// Waits for the log's writer to append what it was given.
async fn finish_writes(writer: JoinHandle<Result<(), Error>>) -> Result<(), Error> {
    writer.await.map_err(|e| Error::Invalid(format!("decision-log writer: {e}")))?
}

/// Hashes the log on a thread of its own as the run hands it the rows, chunk after chunk, while
/// the rows are written and the next chunk is stepped; gives the hash when the sender is dropped.
fn hash_log(mut chunks: tokio::sync::mpsc::Receiver<Arc<Vec<DecisionRow>>>) -> Result<String, Error> {
    let mut hash = DecisionLogHash::new()?;
    while let Some(rows) = chunks.blocking_recv() {
        hash.write_all(rows.iter())?;
    }
    Ok(hash.finish()?)
}

async fn backtest_inner(
    store: &Store,
    host: &PluginHost,
    run: &RunRow,
    worker: &str,
    shutdown: &AtomicBool,
) -> Result<(), Error> {
    let preparing = Instant::now();
    let settings = run_settings(run)?;
    store.reset_run_log(run.run_id, worker).await?;
    // A bar still open in real time is not closed yet, even when `to` lies beyond it.
    let to = run.spec.to_ms.unwrap_or(i64::MAX).min(now_ms());
    let (product, interval) = (&run.spec.product, run.spec.bar_interval_ms);
    let reader = BarReader::open(store, product, interval, run.spec.from_ms, to).await?;
    // The bars to come: counted when the run was created (a year of bars takes ~90 ms to count),
    // else when a count tells (rolled-up bars are only known once read).
    let counted = match run.bars_expected {
        Some(_) => None,
        None => reader.counted_coverage().await?,
    };
    if let Some(c) = &counted {
        store.set_run_total(run.run_id, worker, c.bars_found).await?;
    }
    let mut fresh = run.clone();
    fresh.strategy_state = None;
    let mut strategy = strategy_for(store, host, &fresh).await?;
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    let mut stopped_on_request = false;
    let bars = run.bars_total.or(counted.as_ref().map(|c| c.bars_found));
    tracing::info!(run = run.run_id, bars = ?bars, source = ?reader.source(), "backtest started");
    // The decision log of a chunk is written while the strategy steps through the next ones (by
    // one writer task, in order, up to LOG_CHUNKS_QUEUED chunks behind), and hashed on a thread of
    // its own (up to two chunks behind). The log starts empty here, so hashing it as it
    // is written gives the hash of its export without reading it back (blocks decode to the rows
    // written, bit for bit).
    let (to_hash, chunks) = tokio::sync::mpsc::channel(2);
    let hashing = tokio::task::spawn_blocking(move || hash_log(chunks));
    let (to_write, chunks) = tokio::sync::mpsc::channel::<LogChunk>(LOG_CHUNKS_QUEUED);
    let writer = tokio::spawn(write_log(store.clone(), worker.to_string(), run.run_id, chunks));
    // The next page of bars is read while the strategy steps through this one.
    let (pages_in, mut pages) = tokio::sync::mpsc::channel(1);
    let reading_ahead = tokio::spawn(read_ahead(reader, pages_in));
    // Where the run's time goes: waiting for bars, stepping them, waiting for the log's writes.
    let (mut reading, mut stepping, mut waiting) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let preparing = preparing.elapsed();
    let started = Instant::now();
    let mut stop_checked = Instant::now();
    'pages: loop {
        let t = Instant::now();
        let page = pages.recv().await;
        reading += t.elapsed();
        let Some(page) = page.transpose()? else { break };
        for chunk in page.chunks(BACKTEST_CHUNK) {
            if shutdown.load(Ordering::Relaxed) {
                drop(to_write);
                finish_writes(writer).await?;
                return Err(Error::ShuttingDown);
            }
            if stop_checked.elapsed() >= STOP_CHECK_EVERY {
                stop_checked = Instant::now();
                if store.stop_requested(run.run_id).await? {
                    stopped_on_request = true;
                    break 'pages;
                }
            }
            let t = Instant::now();
            let (rows, progress) = tracing::info_span!("backtest.chunk", run = run.run_id, bars = chunk.len())
                .in_scope(|| step_bars(&mut strategy, chunk, &settings, &mut portfolio, Some(&mut series)))?;
            stepping += t.elapsed();
            let rows = Arc::new(rows);
            let t = Instant::now();
            // A send fails only when the hasher stopped on an error, which its result gives below.
            let _ = to_hash.send(Arc::clone(&rows)).await;
            if to_write.send((rows, progress)).await.is_err() {
                // The writer stopped on an error: its result gives it.
                finish_writes(writer).await?;
                return Err(Error::Invalid("the decision-log writer stopped".into()));
            }
            waiting += t.elapsed();
            if portfolio.stopped() {
                break 'pages;
            }
        }
    }
    let t = Instant::now();
    drop(to_write);
    finish_writes(writer).await?;
    drop(to_hash);
    let log_sha256 = hashing.await.map_err(|e| Error::Invalid(format!("decision-log hash: {e}")))??;
    waiting += t.elapsed();
    // Stops the reader when the run ended early, and takes it back for what it read.
    drop(pages);
    let reader = reading_ahead.await.map_err(|e| Error::Invalid(format!("bar reader: {e}")))?;
    // A run read to its end knows its gaps; a stopped one keeps what the range held when it was
    // created (or counted here).
    let read_through = !(stopped_on_request || portfolio.stopped());
    let coverage = if read_through { Some(reader.coverage()) } else { counted.clone() };
    if let Some(c) = coverage {
        if counted.is_none() && read_through {
            // Rolled-up or sample-built bars: their number is known now that they are read.
            store.set_run_total(run.run_id, worker, c.bars_found).await?;
        }
        store.set_run_coverage(run.run_id, worker, &c).await?;
    }
    let ending = Instant::now();
    let metrics = metrics_json(&series, &settings, run.spec.bar_interval_ms)?;
    let (status, reason) = if stopped_on_request {
        (RunStatus::Stopped, Some("stopped on request".to_string()))
    } else if let Some(why) = &portfolio.halt {
        (RunStatus::Stopped, Some(why.clone()))
    } else {
        (RunStatus::Finished, None)
    };
    end_run(store, worker, run.run_id, status, reason.as_deref(), &metrics, Some(log_sha256)).await?;
    tracing::info!(
        run = run.run_id,
        bars = portfolio.bars,
        status = %status,
        seconds = started.elapsed().as_secs_f64(),
        preparing_s = preparing.as_secs_f64(),
        ending_s = ending.elapsed().as_secs_f64(),
        reading_s = reading.as_secs_f64(),
        stepping_s = stepping.as_secs_f64(),
        waiting_for_writes_s = waiting.as_secs_f64(),
        "backtest ended"
    );
    Ok(())
}
