//! Parameter sweeps: create, read, list, claim, record progress and end them. The result and
//! the heatmap are the domain's, stored as JSON and PNG.

use crate::runs::{parse_name, ttl_secs};
use crate::{Result, Store};
use cgaf_trade_domain::SweepStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// A stored sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// Id.
    pub sweep_id: i64,
    /// The request as given.
    pub request: Value,
    /// Where it is in its life.
    pub status: SweepStatus,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Backtests done.
    pub jobs_done: i64,
    /// Backtests in total.
    pub jobs_total: Option<i64>,
    /// The results (table, best parameters), once finished.
    pub result: Option<Value>,
}

const SWEEP_COLUMNS: &str =
    "sweep_id, request, status, status_reason, created_at, finished_at, jobs_done, jobs_total, result";

fn sweep_row(r: &tokio_postgres::Row) -> Result<SweepRow> {
    Ok(SweepRow {
        sweep_id: r.get("sweep_id"),
        request: r.get("request"),
        status: parse_name(r, "status")?,
        status_reason: r.get("status_reason"),
        created_at: r.get("created_at"),
        finished_at: r.get("finished_at"),
        jobs_done: r.get("jobs_done"),
        jobs_total: r.get("jobs_total"),
        result: r.get("result"),
    })
}

impl Store {
    /// Creates a sweep (status `pending`); returns its id.
    pub async fn insert_sweep(&self, request: &Value) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one("INSERT INTO crypto_gaf.sweeps (request) VALUES ($1) RETURNING sweep_id", &[request])
            .await?;
        Ok(row.get("sweep_id"))
    }

    /// One sweep.
    pub async fn sweep(&self, sweep_id: i64) -> Result<Option<SweepRow>> {
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM crypto_gaf.sweeps WHERE sweep_id = $1");
        self.client().await?.query_opt(&sql, &[&sweep_id]).await?.as_ref().map(sweep_row).transpose()
    }

    /// Sweeps, newest first.
    pub async fn list_sweeps(&self, limit: i64) -> Result<Vec<SweepRow>> {
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM crypto_gaf.sweeps ORDER BY sweep_id DESC LIMIT $1");
        self.client().await?.query(&sql, &[&limit]).await?.iter().map(sweep_row).collect()
    }

    /// A finished sweep's heatmap PNG.
    pub async fn sweep_heatmap(&self, sweep_id: i64) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT heatmap_png FROM crypto_gaf.sweeps WHERE sweep_id = $1", &[&sweep_id])
            .await?;
        Ok(row.and_then(|r| r.get("heatmap_png")))
    }

    /// Claims one sweep this worker may run (pending, or abandoned by a silent holder).
    pub async fn claim_sweep(&self, worker: &str, ttl: Duration) -> Result<Option<SweepRow>> {
        let sql = format!(
            "UPDATE crypto_gaf.sweeps SET holder = $1, heartbeat_at = now(), status = 'running', jobs_done = 0
             WHERE sweep_id = (
               SELECT sweep_id FROM crypto_gaf.sweeps
               WHERE status = 'pending' OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $2))
               ORDER BY sweep_id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {SWEEP_COLUMNS}"
        );
        self.client().await?.query_opt(&sql, &[&worker, &ttl_secs(ttl)]).await?.as_ref().map(sweep_row).transpose()
    }

    /// Records a sweep's progress (and renews the claim).
    pub async fn sweep_progress(&self, sweep_id: i64, holder: &str, done: i64, total: i64) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.sweeps SET jobs_done = $3, jobs_total = $4, heartbeat_at = now()
                 WHERE sweep_id = $1 AND holder = $2",
                &[&sweep_id, &holder, &done, &total],
            )
            .await?;
        Ok(())
    }

    /// Ends a sweep: its result and heatmap, or why it failed.
    pub async fn end_sweep(
        &self,
        sweep_id: i64,
        holder: &str,
        result: std::result::Result<(&Value, Option<&[u8]>), &str>,
    ) -> Result<()> {
        let client = self.client().await?;
        match result {
            Ok((value, png)) => {
                client
                    .execute(
                        "UPDATE crypto_gaf.sweeps SET status = 'finished', result = $3, heatmap_png = $4,
                           finished_at = now(), holder = NULL WHERE sweep_id = $1 AND holder = $2",
                        &[&sweep_id, &holder, value, &png],
                    )
                    .await?
            }
            Err(reason) => {
                client
                    .execute(
                        "UPDATE crypto_gaf.sweeps SET status = 'failed', status_reason = $3, finished_at = now(),
                           holder = NULL WHERE sweep_id = $1 AND holder = $2",
                        &[&sweep_id, &holder, &reason],
                    )
                    .await?
            }
        };
        Ok(())
    }
}
