//! Plugin canaries (schema migration 12): a candidate version compared in shadow with the active
//! version of its name, the comparison's tally added to by every replica that shadows calls, and
//! the decision — promoted (activated in the same transaction), refused or cancelled.

use crate::plugins::activate_in;
use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::error::SqlState;

/// A canary to start.
#[derive(Debug, Clone)]
pub struct NewPluginCanary<'a> {
    /// Plugin name.
    pub name: &'a str,
    /// Plugin kind (`image-transform`, `strategy`, `blender`).
    pub kind: &'a str,
    /// The active version it is compared with.
    pub active_version: &'a str,
    /// The candidate version (stored).
    pub candidate_version: &'a str,
    /// Live calls to compare before deciding.
    pub target_calls: Option<i64>,
    /// Or how long to compare, ms.
    pub duration_ms: Option<i64>,
    /// The tolerance, as JSON.
    pub tolerance: Value,
}

/// A stored canary.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginCanary {
    /// Id.
    pub id: i64,
    /// Plugin name.
    pub name: String,
    /// Plugin kind.
    pub kind: String,
    /// The active version it is compared with.
    pub active_version: String,
    /// The candidate version.
    pub candidate_version: String,
    /// Hex sha256 of the candidate's component.
    pub candidate_sha256: String,
    /// Live calls to compare before deciding.
    pub target_calls: Option<i64>,
    /// Or how long to compare, ms.
    pub duration_ms: Option<i64>,
    /// The tolerance, as JSON.
    pub tolerance: Value,
    /// `running`, `promoted`, `refused` or `cancelled`.
    pub state: String,
    /// Why it ended.
    pub reason: Option<String>,
    /// What the replicas compared so far, as JSON.
    pub tally: Value,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Time since the start (to the end, once ended), ms, by the database's clock.
    pub elapsed_ms: i64,
}

const COLUMNS: &str = "c.id, c.name, c.kind, c.active_version, c.candidate_version, p.sha256, c.target_calls,
    c.duration_ms, c.tolerance, c.state, c.reason, c.tally, c.started_at, c.finished_at,
    (extract(epoch FROM coalesce(c.finished_at, now()) - c.started_at) * 1000)::bigint";

const FROM: &str = "crypto_gaf.plugin_canaries c
    JOIN crypto_gaf.plugins p ON p.name = c.name AND p.version = c.candidate_version";

fn row_to_canary(r: &tokio_postgres::Row) -> PluginCanary {
    PluginCanary {
        id: r.get(0),
        name: r.get(1),
        kind: r.get(2),
        active_version: r.get(3),
        candidate_version: r.get(4),
        candidate_sha256: r.get(5),
        target_calls: r.get(6),
        duration_ms: r.get(7),
        tolerance: r.get(8),
        state: r.get(9),
        reason: r.get(10),
        tally: r.get(11),
        started_at: r.get(12),
        finished_at: r.get(13),
        elapsed_ms: r.get(14),
    }
}

/// How a canary ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryEnd {
    /// Within tolerance: the candidate becomes the active version (in the same transaction).
    Promoted,
    /// Out of tolerance.
    Refused,
    /// Stopped by an operator.
    Cancelled,
}

impl CanaryEnd {
    /// The stored state.
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryEnd::Promoted => "promoted",
            CanaryEnd::Refused => "refused",
            CanaryEnd::Cancelled => "cancelled",
        }
    }
}

impl Store {
    /// Starts a canary. Fails with [`Error::CanaryRunning`] when one runs for the name already
    /// and [`Error::UnknownPlugin`] when the candidate version is not stored.
    pub async fn start_plugin_canary(&self, c: &NewPluginCanary<'_>) -> Result<PluginCanary> {
        let client = self.client().await?;
        let inserted = client
            .query_one(
                "INSERT INTO crypto_gaf.plugin_canaries
                   (name, kind, active_version, candidate_version, target_calls, duration_ms, tolerance)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &c.name,
                    &c.kind,
                    &c.active_version,
                    &c.candidate_version,
                    &c.target_calls,
                    &c.duration_ms,
                    &c.tolerance,
                ],
            )
            .await;
        let id: i64 = match inserted {
            Ok(r) => r.get(0),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(Error::CanaryRunning(c.name.to_string()))
            }
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                return Err(Error::UnknownPlugin(format!("{}@{}", c.name, c.candidate_version)))
            }
            Err(e) => return Err(e.into()),
        };
        self.plugin_canary(id).await?.ok_or_else(|| Error::BadData { what: "plugin canary", detail: "vanished".into() })
    }

    /// One canary.
    pub async fn plugin_canary(&self, id: i64) -> Result<Option<PluginCanary>> {
        let row =
            self.client().await?.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1"), &[&id]).await?;
        Ok(row.as_ref().map(row_to_canary))
    }

    /// Every running canary.
    pub async fn running_plugin_canaries(&self) -> Result<Vec<PluginCanary>> {
        let rows = self
            .client()
            .await?
            .query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE c.state = 'running' ORDER BY c.id"), &[])
            .await?;
        Ok(rows.iter().map(row_to_canary).collect())
    }

    /// The canaries of `name`, newest first (at most `limit`).
    pub async fn plugin_canaries(&self, name: &str, limit: i64) -> Result<Vec<PluginCanary>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM {FROM} WHERE c.name = $1 ORDER BY c.id DESC LIMIT $2"),
                &[&name, &limit],
            )
            .await?;
        Ok(rows.iter().map(row_to_canary).collect())
    }

    /// Adds to a running canary's tally: `merge` gets the stored tally and returns the new one
    /// (under a row lock, so replicas add in turn). `None` when the canary is no longer running.
    pub async fn add_plugin_canary_tally(
        &self,
        id: i64,
        merge: impl FnOnce(Value) -> Value,
    ) -> Result<Option<PluginCanary>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT tally FROM crypto_gaf.plugin_canaries WHERE id = $1 AND state = 'running' FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(None);
        };
        let tally = merge(row.get(0));
        tx.execute("UPDATE crypto_gaf.plugin_canaries SET tally = $2 WHERE id = $1", &[&id, &tally]).await?;
        let row = tx.query_one(&format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1"), &[&id]).await?;
        tx.commit().await?;
        Ok(Some(row_to_canary(&row)))
    }

    /// Ends a running canary with `end` and `reason`; a promotion activates the candidate in the
    /// same transaction. False when it was not running (another replica decided first).
    pub async fn finish_plugin_canary(&self, id: i64, end: CanaryEnd, reason: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "UPDATE crypto_gaf.plugin_canaries SET state = $2, reason = $3, finished_at = now()
                 WHERE id = $1 AND state = 'running' RETURNING name, candidate_version",
                &[&id, &end.as_str(), &reason],
            )
            .await?
        else {
            return Ok(false);
        };
        if end == CanaryEnd::Promoted {
            let (name, version): (String, String) = (row.get(0), row.get(1));
            activate_in(&tx, &name, &version, "canary", false).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Cancels the running canary of `name`; the cancelled canary, or `None` when none ran.
    pub async fn cancel_plugin_canary(&self, name: &str, reason: &str) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE crypto_gaf.plugin_canaries SET state = 'cancelled', reason = $2, finished_at = now()
                 WHERE name = $1 AND state = 'running' RETURNING id",
                &[&name, &reason],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }
}
