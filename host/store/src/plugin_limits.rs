//! Per-plugin limits (schema migration 15): the call deadline and memory limit an uploaded
//! version runs under, with what its upload measured. The store keeps the numbers; the runtime
//! chooses and applies them.

use crate::{Result, Store};
use chrono::{DateTime, Utc};

/// The limits of one plugin version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLimits {
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Deadline of one call, ms.
    pub call_deadline_ms: i64,
    /// Linear memory of one instance, bytes.
    pub memory_limit_bytes: i64,
    /// Largest linear memory the upload's calls used, bytes.
    pub measured_peak_memory_bytes: i64,
    /// The upload's slowest call, µs.
    pub measured_slowest_call_us: i64,
    /// True when the uploader asked for the limits (else chosen from the measurement).
    pub requested: bool,
    /// When they were stored (answers only; ignored when storing).
    pub set_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "name, version, call_deadline_ms, memory_limit_bytes, measured_peak_memory_bytes,
    measured_slowest_call_us, requested, set_at";

fn row_to_limits(r: &tokio_postgres::Row) -> StoredLimits {
    StoredLimits {
        name: r.get(0),
        version: r.get(1),
        call_deadline_ms: r.get(2),
        memory_limit_bytes: r.get(3),
        measured_peak_memory_bytes: r.get(4),
        measured_slowest_call_us: r.get(5),
        requested: r.get(6),
        set_at: r.get(7),
    }
}

impl Store {
    /// Stores (or replaces) the limits of a stored version.
    pub async fn put_plugin_limits(&self, l: &StoredLimits) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO crypto_gaf.plugin_limits (name, version, call_deadline_ms, memory_limit_bytes,
                     measured_peak_memory_bytes, measured_slowest_call_us, requested)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (name, version) DO UPDATE SET call_deadline_ms = EXCLUDED.call_deadline_ms,
                     memory_limit_bytes = EXCLUDED.memory_limit_bytes,
                     measured_peak_memory_bytes = EXCLUDED.measured_peak_memory_bytes,
                     measured_slowest_call_us = EXCLUDED.measured_slowest_call_us,
                     requested = EXCLUDED.requested, set_at = now()",
                &[
                    &l.name,
                    &l.version,
                    &l.call_deadline_ms,
                    &l.memory_limit_bytes,
                    &l.measured_peak_memory_bytes,
                    &l.measured_slowest_call_us,
                    &l.requested,
                ],
            )
            .await?;
        Ok(())
    }

    /// The limits of `name@version`, if it has its own.
    pub async fn plugin_limits(&self, name: &str, version: &str) -> Result<Option<StoredLimits>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM crypto_gaf.plugin_limits WHERE name = $1 AND version = $2"),
                &[&name, &version],
            )
            .await?;
        Ok(row.as_ref().map(row_to_limits))
    }

    /// The limits of every version of `name` that has its own.
    pub async fn plugin_limits_of(&self, name: &str) -> Result<Vec<StoredLimits>> {
        let rows = self
            .client()
            .await?
            .query(&format!("SELECT {COLUMNS} FROM crypto_gaf.plugin_limits WHERE name = $1"), &[&name])
            .await?;
        Ok(rows.iter().map(row_to_limits).collect())
    }
}
