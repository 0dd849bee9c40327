//! Plugin calls that faulted, with their inputs (bounded: the newest per plugin version), for
//! `GET /api/plugins/{name}/failures` and `cgaf plugin replay`.

use crate::{Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A failed call to store.
#[derive(Debug, Clone)]
pub struct NewPluginFailure {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// The call (`transform`, `blend`, `create`, `restore`, `on_bars`, `state`).
    pub call: String,
    /// The typed error's code (`trap`, `timeout`, ...).
    pub error_code: String,
    /// The typed error as JSON.
    pub error: Value,
    /// The typed error as text.
    pub error_message: String,
    /// The limits the call ran under.
    pub limits: Value,
    /// What the call was given; `None` when over the size cap.
    pub inputs: Option<Value>,
    /// Size of the inputs' JSON, bytes.
    pub inputs_bytes: i64,
}

/// A stored failed call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginFailure {
    /// Id.
    pub id: i64,
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// The call.
    pub call: String,
    /// The typed error's code.
    pub error_code: String,
    /// The typed error as JSON.
    pub error: Value,
    /// The typed error as text.
    pub error_message: String,
    /// The limits the call ran under.
    pub limits: Value,
    /// What the call was given (only when read one by one, and `None` when over the size cap).
    pub inputs: Option<Value>,
    /// Size of the inputs' JSON, bytes.
    pub inputs_bytes: i64,
    /// When.
    pub failed_at: DateTime<Utc>,
}

fn failure(r: &tokio_postgres::Row, with_inputs: bool) -> PluginFailure {
    PluginFailure {
        id: r.get("id"),
        name: r.get("name"),
        version: r.get("version"),
        sha256: r.get("sha256"),
        call: r.get("call"),
        error_code: r.get("error_code"),
        error: r.get("error"),
        error_message: r.get("error_message"),
        limits: r.get("limits"),
        inputs: if with_inputs { r.get("inputs") } else { None },
        inputs_bytes: r.get("inputs_bytes"),
        failed_at: r.get("failed_at"),
    }
}

impl Store {
    /// Stores a failed call and keeps only the newest `keep` of its plugin version.
    pub async fn insert_plugin_failure(&self, f: &NewPluginFailure, keep: i64) -> Result<i64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO crypto_gaf.plugin_failures
                   (name, version, sha256, call, error_code, error, error_message, limits, inputs, inputs_bytes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &f.name,
                    &f.version,
                    &f.sha256,
                    &f.call,
                    &f.error_code,
                    &f.error,
                    &f.error_message,
                    &f.limits,
                    &f.inputs,
                    &f.inputs_bytes,
                ],
            )
            .await?
            .get(0);
        tx.execute(
            "DELETE FROM crypto_gaf.plugin_failures WHERE name = $1 AND version = $2 AND id NOT IN
               (SELECT id FROM crypto_gaf.plugin_failures WHERE name = $1 AND version = $2 ORDER BY id DESC LIMIT $3)",
            &[&f.name, &f.version, &keep.max(1)],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Failed calls of `name`, newest first, without their inputs: at most `limit`, older than
    /// `before` (an id) when given.
    pub async fn plugin_failures(&self, name: &str, before: Option<i64>, limit: i64) -> Result<Vec<PluginFailure>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, name, version, sha256, call, error_code, error, error_message, limits, inputs_bytes, failed_at
                 FROM crypto_gaf.plugin_failures
                 WHERE name = $1 AND ($2::int8 IS NULL OR id < $2)
                 ORDER BY id DESC LIMIT $3",
                &[&name, &before, &limit.max(0)],
            )
            .await?;
        Ok(rows.iter().map(|r| failure(r, false)).collect())
    }

    /// One failed call of `name` with its inputs.
    pub async fn plugin_failure(&self, name: &str, id: i64) -> Result<Option<PluginFailure>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT id, name, version, sha256, call, error_code, error, error_message, limits, inputs, inputs_bytes,
                   failed_at
                 FROM crypto_gaf.plugin_failures WHERE name = $1 AND id = $2",
                &[&name, &id],
            )
            .await?;
        Ok(row.as_ref().map(|r| failure(r, true)))
    }
}
