//! Executing a backtest run: its bars read from the history store page by page, the strategy over
//! them in chunks (each chunk's rows and progress in one transaction), then what the range held
//! (bars expected, found, gaps), its metrics and the log's hash.

use crate::bars::BarReader;
use crate::runs::{end_run, fail, metrics_json, now_ms, run_settings, step_bars, strategy_for};
use crate::Error;
use cgaf_runtime::PluginHost;
use cgaf_store::{RunRow, Store};
use cgaf_trade_domain::{Portfolio, RunStatus, Series};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinHandle;

/// Bars written per transaction while a backtest runs.
const BACKTEST_CHUNK: usize = 2000;

/// Executes a backtest run held by `worker` from its first bar (a run taken over from a dead
/// worker starts again: its partial log is discarded). Ends the run as finished, stopped or
/// failed. When `shutdown` turns true it stops between chunks and leaves the run claimed, so it
/// starts again after the restart ([`Error::ShuttingDown`]).
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

/// Waits for the decision-log write in flight, if any.
async fn finish_write(writing: Option<JoinHandle<Result<(), cgaf_store::Error>>>) -> Result<(), Error> {
    match writing {
        Some(w) => Ok(w.await.map_err(|e| Error::Invalid(format!("decision-log writer: {e}")))??),
        None => Ok(()),
    }
}

async fn backtest_inner(
    store: &Store,
    host: &PluginHost,
    run: &RunRow,
    worker: &str,
    shutdown: &AtomicBool,
) -> Result<(), Error> {
    let settings = run_settings(run)?;
    store.reset_run_log(run.run_id, worker).await?;
    // A bar still open in real time is not closed yet, even when `to` lies beyond it.
    let to = run.spec.to_ms.unwrap_or(i64::MAX).min(now_ms());
    let (product, interval) = (&run.spec.product, run.spec.bar_interval_ms);
    let mut reader = BarReader::open(store, product, interval, run.spec.from_ms, to).await?;
    // The bars to come, when a count tells (rolled-up bars are only known once read).
    let counted = reader.counted_coverage().await?;
    if let Some(c) = &counted {
        store.set_run_total(run.run_id, worker, c.bars_found).await?;
    }
    let mut fresh = run.clone();
    fresh.strategy_state = None;
    let mut strategy = strategy_for(store, host, &fresh).await?;
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    let mut stopped_on_request = false;
    tracing::info!(run = run.run_id, bars = ?counted.as_ref().map(|c| c.bars_found), source = ?reader.source(), "backtest started");
    // The decision log of one chunk is written while the strategy steps through the next
    // (one write in flight; each waits for the one before, so the log stays in order).
    let mut writing: Option<JoinHandle<Result<(), cgaf_store::Error>>> = None;
    'pages: while let Some(page) = reader.next_page().await? {
        for chunk in page.chunks(BACKTEST_CHUNK) {
            if shutdown.load(Ordering::Relaxed) {
                finish_write(writing.take()).await?;
                return Err(Error::ShuttingDown);
            }
            if store.stop_requested(run.run_id).await? {
                stopped_on_request = true;
                break 'pages;
            }
            let (rows, progress) = step_bars(&mut strategy, chunk, &settings, &mut portfolio, None, Some(&mut series))?;
            finish_write(writing.take()).await?;
            let (store, worker, id) = (store.clone(), worker.to_string(), run.run_id);
            writing = Some(tokio::spawn(async move { store.append_decisions(id, &worker, &rows, &progress).await }));
            if portfolio.stopped() {
                break 'pages;
            }
        }
    }
    finish_write(writing.take()).await?;
    // A run read to its end knows its gaps; a stopped one records what the count said.
    let read_through = !(stopped_on_request || portfolio.stopped());
    let coverage = if read_through { Some(reader.coverage()) } else { counted.clone() };
    if let Some(c) = coverage {
        if counted.is_none() && read_through {
            // Rolled-up or sample-built bars: their number is known now that they are read.
            store.set_run_total(run.run_id, worker, c.bars_found).await?;
        }
        store.set_run_coverage(run.run_id, worker, &c).await?;
    }
    let metrics = metrics_json(&series, &settings, run.spec.bar_interval_ms)?;
    let (status, reason) = if stopped_on_request {
        (RunStatus::Stopped, Some("stopped on request".to_string()))
    } else if let Some(why) = &portfolio.halt {
        (RunStatus::Stopped, Some(why.clone()))
    } else {
        (RunStatus::Finished, None)
    };
    end_run(store, worker, run.run_id, status, reason.as_deref(), &metrics).await?;
    tracing::info!(run = run.run_id, bars = portfolio.bars, status = %status, "backtest ended");
    Ok(())
}
