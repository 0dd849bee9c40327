//! The plugin registry in PostgreSQL: versions, bytes, activation, rollback, quarantine.

use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Channel on which plugin changes are announced (payload: plugin name).
pub const PLUGINS_CHANNEL: &str = "cgaf_plugins";

/// A plugin version to store.
#[derive(Debug, Clone)]
pub struct NewPlugin<'a> {
    /// Name from `info()`.
    pub name: &'a str,
    /// Version from `info()`.
    pub version: &'a str,
    /// World.
    pub kind: &'a str,
    /// Hex sha256 of `bytes`.
    pub sha256: &'a str,
    /// The component.
    pub bytes: &'a [u8],
    /// Description from `info()`.
    pub description: &'a str,
    /// Parameter schema from `info()`.
    pub params: serde_json::Value,
    /// Shipped with the binary.
    pub builtin: bool,
    /// Who uploaded it.
    pub uploader: Option<&'a str>,
}

/// A stored plugin version (without its bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginVersion {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// World.
    pub kind: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Size of the component, bytes.
    pub size: i64,
    /// Description.
    pub description: String,
    /// Parameter schema.
    pub params: serde_json::Value,
    /// Shipped with the binary.
    pub builtin: bool,
    /// Uploader.
    pub uploader: Option<String>,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Whether this is the active version.
    pub active: bool,
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it was quarantined.
    pub quarantined_at: Option<DateTime<Utc>>,
    /// Why it was quarantined.
    pub quarantine_reason: Option<String>,
}

/// An active plugin: what a replica needs to load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePlugin {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of the bytes.
    pub sha256: String,
}

const VERSION_COLUMNS: &str = "name, version, kind, sha256, octet_length(bytes)::bigint, description, params, builtin,
    uploader, uploaded_at, active, activated_at, quarantined_at, quarantine_reason";

fn row_to_version(r: &tokio_postgres::Row) -> PluginVersion {
    PluginVersion {
        name: r.get(0),
        version: r.get(1),
        kind: r.get(2),
        sha256: r.get(3),
        size: r.get(4),
        description: r.get(5),
        params: r.get(6),
        builtin: r.get(7),
        uploader: r.get(8),
        uploaded_at: r.get(9),
        active: r.get(10),
        activated_at: r.get(11),
        quarantined_at: r.get(12),
        quarantine_reason: r.get(13),
    }
}

/// Result of storing a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new version row.
    Inserted,
    /// The same name, version and bytes were there already.
    Unchanged,
}

impl Store {
    /// Stores a plugin version. The same name and version with other bytes is refused
    /// ([`Error::PluginVersionExists`]) — except for built-ins, whose bytes are refreshed.
    pub async fn insert_plugin(&self, p: &NewPlugin<'_>) -> Result<Stored> {
        let client = self.client().await?;
        let existing = client
            .query_opt("SELECT sha256 FROM crypto_gaf.plugins WHERE name = $1 AND version = $2", &[&p.name, &p.version])
            .await?;
        if let Some(row) = existing {
            let sha: String = row.get(0);
            if sha == p.sha256 {
                return Ok(Stored::Unchanged);
            }
            if !p.builtin {
                return Err(Error::PluginVersionExists(format!("{}@{}", p.name, p.version)));
            }
            client
                .execute(
                    "UPDATE crypto_gaf.plugins SET sha256 = $3, bytes = $4, description = $5, params = $6, kind = $7
                     WHERE name = $1 AND version = $2 AND builtin",
                    &[&p.name, &p.version, &p.sha256, &p.bytes, &p.description, &p.params, &p.kind],
                )
                .await?;
            return Ok(Stored::Inserted);
        }
        client
            .execute(
                "INSERT INTO crypto_gaf.plugins (name, version, kind, sha256, bytes, description, params, builtin, uploader)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&p.name, &p.version, &p.kind, &p.sha256, &p.bytes, &p.description, &p.params, &p.builtin, &p.uploader],
            )
            .await?;
        Ok(Stored::Inserted)
    }

    /// Makes `version` the active version of `name` (atomically; the trigger notifies every
    /// replica). A quarantined version is refused unless `allow_quarantined` (an operator's
    /// explicit choice, which clears the quarantine).
    pub async fn activate_plugin(
        &self,
        name: &str,
        version: &str,
        reason: &str,
        allow_quarantined: bool,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        activate_in(&tx, name, version, reason, allow_quarantined).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Activates the version that was active before the current one (skipping quarantined and
    /// deleted versions). Returns the version now active.
    pub async fn rollback_plugin(&self, name: &str, reason: &str) -> Result<String> {
        let client = self.client().await?;
        let current: Option<String> = client
            .query_opt("SELECT version FROM crypto_gaf.plugins WHERE name = $1 AND active", &[&name])
            .await?
            .map(|r| r.get(0));
        let rows = client
            .query(
                "SELECT a.version FROM crypto_gaf.plugin_activations a
                 JOIN crypto_gaf.plugins p ON p.name = a.name AND p.version = a.version
                 WHERE a.name = $1 AND p.quarantined_at IS NULL AND a.version IS DISTINCT FROM $2
                 ORDER BY a.id DESC LIMIT 1",
                &[&name, &current],
            )
            .await?;
        let Some(prev) = rows.first().map(|r| r.get::<_, String>(0)) else {
            return Err(Error::NothingToRollBack(name.to_string()));
        };
        drop(client);
        self.activate_plugin(name, &prev, reason, false).await?;
        Ok(prev)
    }

    /// Takes `version` of `name` out of service with `reason` and reactivates the previous
    /// healthy version (if any). Returns the version now active, if any.
    pub async fn quarantine_plugin(&self, name: &str, version: &str, reason: &str) -> Result<Option<String>> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE crypto_gaf.plugins SET quarantined_at = now(), quarantine_reason = $3
                 WHERE name = $1 AND version = $2 AND quarantined_at IS NULL",
                &[&name, &version, &reason],
            )
            .await?;
        if n == 0 {
            return Ok(None); // another replica did it already
        }
        drop(client);
        match self.rollback_plugin(name, &format!("quarantine of {version}")).await {
            Ok(v) => Ok(Some(v)),
            Err(Error::NothingToRollBack(_)) => {
                // No healthy previous version: take the plugin out of service.
                self.client()
                    .await?
                    .execute(
                        "UPDATE crypto_gaf.plugins SET active = false WHERE name = $1 AND version = $2",
                        &[&name, &version],
                    )
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every active plugin (name, version, sha256).
    pub async fn active_plugins(&self) -> Result<Vec<ActivePlugin>> {
        let rows = self
            .client()
            .await?
            .query("SELECT name, version, sha256 FROM crypto_gaf.plugins WHERE active ORDER BY name", &[])
            .await?;
        Ok(rows.iter().map(|r| ActivePlugin { name: r.get(0), version: r.get(1), sha256: r.get(2) }).collect())
    }

    /// The component sha256 of one version.
    pub async fn plugin_sha256(&self, name: &str, version: &str) -> Result<String> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT sha256 FROM crypto_gaf.plugins WHERE name = $1 AND version = $2", &[&name, &version])
            .await?
            .ok_or_else(|| Error::UnknownPlugin(format!("{name}@{version}")))?;
        Ok(row.get(0))
    }

    /// The bytes of one version.
    pub async fn plugin_bytes(&self, name: &str, version: &str) -> Result<Vec<u8>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT bytes FROM crypto_gaf.plugins WHERE name = $1 AND version = $2", &[&name, &version])
            .await?
            .ok_or_else(|| Error::UnknownPlugin(format!("{name}@{version}")))?;
        Ok(row.get(0))
    }

    /// Every stored version (without bytes), by name then upload order.
    pub async fn list_plugins(&self) -> Result<Vec<PluginVersion>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {VERSION_COLUMNS} FROM crypto_gaf.plugins ORDER BY name, uploaded_at, version"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(row_to_version).collect())
    }

    /// The versions of one plugin.
    pub async fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM crypto_gaf.plugins WHERE name = $1 ORDER BY uploaded_at, version"
                ),
                &[&name],
            )
            .await?;
        Ok(rows.iter().map(row_to_version).collect())
    }
}

/// The activation of [`Store::activate_plugin`] inside the caller's transaction (also used by a
/// canary's promotion, which ends the canary in the same transaction).
pub(crate) async fn activate_in(
    tx: &deadpool_postgres::Transaction<'_>,
    name: &str,
    version: &str,
    reason: &str,
    allow_quarantined: bool,
) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('cgaf-plugin:' || $1))", &[&name]).await?;
    let row = tx
        .query_opt(
            "SELECT quarantined_at IS NOT NULL FROM crypto_gaf.plugins WHERE name = $1 AND version = $2",
            &[&name, &version],
        )
        .await?
        .ok_or_else(|| Error::UnknownPlugin(format!("{name}@{version}")))?;
    if row.get::<_, bool>(0) && !allow_quarantined {
        return Err(Error::PluginQuarantined(format!("{name}@{version}")));
    }
    tx.execute(
        "UPDATE crypto_gaf.plugins SET active = false WHERE name = $1 AND active AND version <> $2",
        &[&name, &version],
    )
    .await?;
    tx.execute(
        "UPDATE crypto_gaf.plugins SET active = true, activated_at = now(), quarantined_at = NULL, quarantine_reason = NULL
         WHERE name = $1 AND version = $2",
        &[&name, &version],
    )
    .await?;
    tx.execute(
        "INSERT INTO crypto_gaf.plugin_activations (name, version, reason) VALUES ($1, $2, $3)",
        &[&name, &version, &reason],
    )
    .await?;
    Ok(())
}

/// One change of a plugin's active version, from its activation log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginActivation {
    /// Id (ascending with time).
    pub id: i64,
    /// The version made active.
    pub version: String,
    /// Why: `upload`, `api`, `rollback`, `built-in`, `quarantine`, `canary`, ...
    pub reason: String,
    /// When.
    pub activated_at: DateTime<Utc>,
}

impl Store {
    /// The activation log of `name`, newest first: at most `limit` entries with ids below
    /// `before` (when given).
    pub async fn plugin_activations(
        &self,
        name: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PluginActivation>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, version, reason, activated_at FROM crypto_gaf.plugin_activations
                 WHERE name = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                &[&name, &before, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PluginActivation { id: r.get(0), version: r.get(1), reason: r.get(2), activated_at: r.get(3) })
            .collect())
    }
}
