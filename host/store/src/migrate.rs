//! Versioned, idempotent migrations parsed from `schema.sql` (embedded in the binary).

use crate::{Error, Result, Store};

/// The schema file, compiled in.
pub const SCHEMA_SQL: &str = include_str!("../../../schema.sql");

/// Advisory-lock key that serialises concurrent migrators (several replicas starting at once).
pub(crate) const MIGRATION_LOCK: i64 = 0x6367_6166_6d69_6772; // "cgafmigr"

/// One migration of `schema.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Version number, strictly increasing in the file.
    pub version: i32,
    /// Short name.
    pub name: String,
    /// The SQL text.
    pub sql: String,
}

/// Splits `schema.sql` into its migrations.
pub fn migrations() -> Result<Vec<Migration>> {
    parse(SCHEMA_SQL)
}

fn parse(text: &str) -> Result<Vec<Migration>> {
    let mut out: Vec<Migration> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- migration:") {
            let rest = rest.trim();
            let (v, name) = rest.split_once(' ').unwrap_or((rest, ""));
            let version: i32 = v.parse().map_err(|_| Error::Schema(format!("bad migration header {line:?}")))?;
            if out.last().is_some_and(|m| m.version >= version) {
                return Err(Error::Schema(format!("migration {version} is out of order")));
            }
            out.push(Migration { version, name: name.trim().to_string(), sql: String::new() });
        } else if let Some(m) = out.last_mut() {
            m.sql.push_str(line);
            m.sql.push('\n');
        }
    }
    if out.is_empty() {
        return Err(Error::Schema("no migrations found".into()));
    }
    Ok(out)
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call.
    pub applied: Vec<i32>,
    /// The schema version afterwards.
    pub current: i32,
}

impl Store {
    /// Applies every migration not yet recorded, each in its own transaction, under an advisory
    /// lock so that concurrent replicas do not race.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let all = migrations()?;
        let mut client = self.client().await?;
        client
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS crypto_gaf;
                 CREATE TABLE IF NOT EXISTS crypto_gaf.schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .or_else(ignore_concurrent_create)?;
        let mut report = MigrationReport::default();
        for m in &all {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
            let done = tx
                .query_opt("SELECT 1 FROM crypto_gaf.schema_migrations WHERE version = $1", &[&m.version])
                .await?
                .is_some();
            if !done {
                tracing::info!(version = m.version, name = %m.name, "applying migration");
                tx.batch_execute(&m.sql).await?;
                tx.execute(
                    "INSERT INTO crypto_gaf.schema_migrations (version, name) VALUES ($1, $2)",
                    &[&m.version, &m.name],
                )
                .await?;
                report.applied.push(m.version);
            }
            tx.commit().await?;
        }
        report.current = all.last().map(|m| m.version).unwrap_or(0);
        // Migration 16's data step: decision rows of the former table into blocks.
        self.move_decision_rows_into_blocks().await?;
        Ok(report)
    }

    /// True when every migration of this binary is recorded in the database.
    pub async fn migrations_applied(&self) -> Result<bool> {
        let latest = migrations()?.last().map(|m| m.version).unwrap_or(0);
        let client = self.client().await?;
        let row = client.query_one("SELECT to_regclass('crypto_gaf.schema_migrations') IS NOT NULL", &[]).await?;
        if !row.get::<_, bool>(0) {
            return Ok(false);
        }
        let row = client.query_one("SELECT coalesce(max(version), 0) FROM crypto_gaf.schema_migrations", &[]).await?;
        Ok(row.get::<_, i32>(0) >= latest)
    }
}

/// Two replicas creating the bookkeeping table at the same instant can collide on the catalog's
/// unique index; the table exists afterwards either way.
fn ignore_concurrent_create(e: tokio_postgres::Error) -> Result<()> {
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => Ok(()),
        _ => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_into_increasing_versions() {
        let m = migrations().unwrap();
        assert!(m.len() >= 2);
        assert_eq!(m[0].version, 1);
        assert!(m.windows(2).all(|w| w[0].version < w[1].version));
        assert!(m[0].sql.contains("crypto_gaf.gafs"));
    }

    #[test]
    fn out_of_order_versions_are_refused() {
        let err = parse("-- migration: 2 a\nSELECT 1;\n-- migration: 1 b\nSELECT 1;\n").unwrap_err();
        assert!(err.to_string().contains("out of order"));
    }
}
