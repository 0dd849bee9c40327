//! Strategy runs: create, read, list, claim, fence, end and stop them.
//!
//! A run is claimed by one trade worker at a time (`holder` + `heartbeat_at`); every write of a
//! run's progress is fenced on the holder, so a worker that lost a run can never write a decision
//! its successor also writes. Modes and statuses are the domain's enums, stored as their names.

use crate::{Error, Result, Store};
use cgaf_trade_domain::{Coverage, RunMode, RunStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// What a run runs, on what, and how: everything given when it is created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    /// Strategy plugin name.
    pub strategy: String,
    /// Its exact version.
    pub strategy_version: String,
    /// Parameters as an object of name → value text.
    pub params: Value,
    /// Product id.
    pub product: String,
    /// Backtest or paper.
    pub mode: RunMode,
    /// Range start (ms since the epoch, inclusive); a paper run's first bar boundary.
    pub from_ms: Option<i64>,
    /// Backtest range end (exclusive).
    pub to_ms: Option<i64>,
    /// Bar length, ms.
    pub bar_interval_ms: i64,
    /// Costs, cash and risk limits (the domain's `RunSettings` as JSON).
    pub settings: Value,
}

/// A stored run: its spec and where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub run_id: i64,
    /// What it runs (serialised inline).
    #[serde(flatten)]
    pub spec: RunSpec,
    /// Where it is in its life.
    pub status: RunStatus,
    /// Why the run stopped or failed.
    pub status_reason: Option<String>,
    /// A stop was requested.
    pub stop_requested: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker running it.
    pub holder: Option<String>,
    /// Bars processed.
    pub bars_done: i64,
    /// Bars in the backtest range (backtests; counted when the run is created).
    pub bars_total: Option<i64>,
    /// Close time of the last processed bar.
    pub last_bar_ms: Option<i64>,
    /// Bars the run's range should hold (backtests: every bar lying wholly inside it).
    pub bars_expected: Option<i64>,
    /// Bars the history held in the range.
    pub bars_found: Option<i64>,
    /// The missing stretches: `{"count": n, "listed": [{"from_ms", "to_ms", "bars"}, ...]}`.
    pub gaps: Option<Value>,
    /// The portfolio after the last bar (cash, position, pending order...).
    pub portfolio: Option<Value>,
    /// The strategy's state after the last bar.
    pub strategy_state: Option<Value>,
    /// Metrics so far (final for ended runs).
    pub metrics: Option<Value>,
    /// sha256 of the decision log's CSV export (ended runs).
    pub decision_log_sha256: Option<String>,
}

const RUN_COLUMNS: &str = "run_id, strategy, strategy_version, params, product, mode, from_ms, to_ms, bar_interval_ms,
  settings, status, status_reason, stop_requested, created_at, started_at, finished_at, holder, bars_done, bars_total,
  last_bar_ms, bars_expected, bars_found, gaps, portfolio, strategy_state, metrics, decision_log_sha256";

/// A stored name (`mode`, `status`) as its enum.
pub(crate) fn parse_name<T: std::str::FromStr>(r: &tokio_postgres::Row, column: &'static str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: &str = r.get(column);
    text.parse().map_err(|e: T::Err| Error::BadData { what: column, detail: e.to_string() })
}

fn run_row(r: &tokio_postgres::Row) -> Result<RunRow> {
    Ok(RunRow {
        run_id: r.get("run_id"),
        spec: RunSpec {
            strategy: r.get("strategy"),
            strategy_version: r.get("strategy_version"),
            params: r.get("params"),
            product: r.get("product"),
            mode: parse_name(r, "mode")?,
            from_ms: r.get("from_ms"),
            to_ms: r.get("to_ms"),
            bar_interval_ms: r.get("bar_interval_ms"),
            settings: r.get("settings"),
        },
        status: parse_name(r, "status")?,
        status_reason: r.get("status_reason"),
        stop_requested: r.get("stop_requested"),
        created_at: r.get("created_at"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        holder: r.get("holder"),
        bars_done: r.get("bars_done"),
        bars_total: r.get("bars_total"),
        last_bar_ms: r.get("last_bar_ms"),
        bars_expected: r.get("bars_expected"),
        bars_found: r.get("bars_found"),
        gaps: r.get("gaps"),
        portfolio: r.get("portfolio"),
        strategy_state: r.get("strategy_state"),
        metrics: r.get("metrics"),
        decision_log_sha256: r.get("decision_log_sha256"),
    })
}

/// Seconds of a claim's time to live, as SQL takes them.
pub(crate) fn ttl_secs(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

/// A coverage's gaps as the `gaps` column holds them.
fn gaps_json(coverage: &Coverage) -> Value {
    serde_json::json!({ "count": coverage.gap_count, "listed": coverage.gaps })
}

impl Store {
    /// Creates a run (status `pending`); returns its id. A backtest's `coverage` is what its range
    /// held when it was checked: recorded with it (the bars found are its progress total until the
    /// worker has read them, and what a run stopped early keeps).
    pub async fn insert_run(&self, run: &RunSpec, coverage: Option<&Coverage>) -> Result<i64> {
        let (total, expected, gaps) = match coverage {
            Some(c) => (Some(c.bars_found), Some(c.bars_expected), Some(gaps_json(c))),
            None => (None, None, None),
        };
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO crypto_gaf.runs
                   (strategy, strategy_version, params, product, mode, from_ms, to_ms, bar_interval_ms, settings,
                    bars_total, bars_expected, bars_found, gaps)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $12) RETURNING run_id",
                &[
                    &run.strategy,
                    &run.strategy_version,
                    &run.params,
                    &run.product,
                    &run.mode.as_str(),
                    &run.from_ms,
                    &run.to_ms,
                    &run.bar_interval_ms,
                    &run.settings,
                    &total,
                    &expected,
                    &gaps,
                ],
            )
            .await?;
        Ok(row.get("run_id"))
    }

    /// One run.
    pub async fn run(&self, run_id: i64) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM crypto_gaf.runs WHERE run_id = $1");
        self.client().await?.query_opt(&sql, &[&run_id]).await?.as_ref().map(run_row).transpose()
    }

    /// Runs, newest first, optionally of one mode and/or status.
    pub async fn list_runs(&self, mode: Option<RunMode>, status: Option<RunStatus>, limit: i64) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM crypto_gaf.runs
             WHERE ($1::text IS NULL OR mode = $1) AND ($2::text IS NULL OR status = $2)
             ORDER BY run_id DESC LIMIT $3"
        );
        let (mode, status) = (mode.map(RunMode::as_str), status.map(RunStatus::as_str));
        let rows = self.client().await?.query(&sql, &[&mode, &status, &limit]).await?;
        rows.iter().map(run_row).collect()
    }

    /// Claims the runs this worker may run: pending ones, its own, and running ones whose holder
    /// stopped heartbeating for `ttl`; renews the heartbeat of all of them. Returns them.
    pub async fn claim_runs(&self, worker: &str, ttl: Duration) -> Result<Vec<RunRow>> {
        let sql = format!(
            "UPDATE crypto_gaf.runs SET holder = $1, heartbeat_at = now(),
               status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
               started_at = coalesce(started_at, now())
             WHERE run_id IN (
               SELECT run_id FROM crypto_gaf.runs
               WHERE status IN ('pending', 'running')
                 AND (holder IS NULL OR holder = $1 OR heartbeat_at < now() - make_interval(secs => $2))
               ORDER BY run_id FOR UPDATE SKIP LOCKED)
             RETURNING {RUN_COLUMNS}"
        );
        let rows = self.client().await?.query(&sql, &[&worker, &ttl_secs(ttl)]).await?;
        let mut runs = rows.iter().map(run_row).collect::<Result<Vec<RunRow>>>()?;
        runs.sort_by_key(|r| r.run_id);
        Ok(runs)
    }

    /// Sets what a backtest will process.
    pub async fn set_run_total(&self, run_id: i64, holder: &str, bars_total: i64) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET bars_total = $3 WHERE run_id = $1 AND holder = $2",
                &[&run_id, &holder, &bars_total],
            )
            .await?;
        Ok(())
    }

    /// Records what the run's range held: bars expected and found, and the gaps.
    pub async fn set_run_coverage(&self, run_id: i64, holder: &str, coverage: &Coverage) -> Result<()> {
        let gaps = gaps_json(coverage);
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET bars_expected = $3, bars_found = $4, gaps = $5
                 WHERE run_id = $1 AND holder = $2",
                &[&run_id, &holder, &coverage.bars_expected, &coverage.bars_found, &gaps],
            )
            .await?;
        Ok(())
    }

    /// Switches a running run (held by `holder`) to another version of its strategy: a paper run
    /// whose version was quarantined goes on with the version put back.
    pub async fn switch_run_strategy(&self, run_id: i64, holder: &str, version: &str) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET strategy_version = $3
                 WHERE run_id = $1 AND holder = $2 AND status = 'running'",
                &[&run_id, &holder, &version],
            )
            .await?;
        if n == 0 {
            return Err(Error::RunLost(run_id));
        }
        Ok(())
    }

    /// Stores a running run's current metrics (only while `holder` holds it).
    pub async fn set_run_metrics(&self, run_id: i64, holder: &str, metrics: &Value) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET metrics = $3 WHERE run_id = $1 AND holder = $2 AND status = 'running'",
                &[&run_id, &holder, metrics],
            )
            .await?;
        Ok(())
    }

    /// Ends a run held by `holder`: `status` (finished, stopped, failed), why, final metrics
    /// and the decision log's hash.
    pub async fn end_run(
        &self,
        run_id: i64,
        holder: &str,
        status: RunStatus,
        reason: Option<&str>,
        metrics: Option<&Value>,
        sha256: Option<&str>,
    ) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET status = $3, status_reason = $4, metrics = coalesce($5, metrics),
                   decision_log_sha256 = $6, finished_at = now(), holder = NULL
                 WHERE run_id = $1 AND holder = $2 AND status IN ('pending', 'running')",
                &[&run_id, &holder, &status.as_str(), &reason, &metrics, &sha256],
            )
            .await?;
        if n == 0 {
            return Err(Error::RunLost(run_id));
        }
        Ok(())
    }

    /// Asks a run to stop. A pending run stops at once; a running one at its worker's next step.
    /// Returns the run afterwards, `None` when it does not exist.
    pub async fn request_stop(&self, run_id: i64, reason: &str) -> Result<Option<RunRow>> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE crypto_gaf.runs SET stop_requested = true,
                   status = CASE WHEN status = 'pending' THEN 'stopped' ELSE status END,
                   status_reason = CASE WHEN status = 'pending' THEN $2 ELSE status_reason END,
                   finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END
                 WHERE run_id = $1 AND status IN ('pending', 'running')",
                &[&run_id, &reason],
            )
            .await?;
        self.run(run_id).await
    }

    /// Whether a stop was requested for the run.
    pub async fn stop_requested(&self, run_id: i64) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT stop_requested FROM crypto_gaf.runs WHERE run_id = $1", &[&run_id])
            .await?;
        match row {
            Some(r) => Ok(r.get("stop_requested")),
            None => Ok(true),
        }
    }
}
