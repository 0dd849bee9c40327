//! Compiled plugins shared between replicas (schema migration 11): signed native code per
//! component sha256 and engine fingerprint. The store keeps the bytes; the runtime signs and
//! checks them.

use crate::{Result, Store};

/// One stored compiled plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Engine fingerprint the code was compiled for.
    pub engine: String,
    /// Serialized native code.
    pub code: Vec<u8>,
    /// HMAC-SHA256 under the deployment's artifact key.
    pub signature: Vec<u8>,
}

/// How long rows of other engine fingerprints are kept (a rolling upgrade's old replicas).
const OTHER_ENGINES_KEPT: &str = "7 days";

impl Store {
    /// Stores (or replaces) the compiled code of a component for an engine, and drops rows of
    /// other engines older than a week.
    pub async fn put_plugin_artifact(&self, a: &StoredArtifact) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO crypto_gaf.plugin_artifacts (sha256, engine, code, signature) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256, engine) DO UPDATE
                 SET code = EXCLUDED.code, signature = EXCLUDED.signature, created_at = now()",
                &[&a.sha256, &a.engine, &a.code, &a.signature],
            )
            .await?;
        client
            .execute(
                &format!(
                    "DELETE FROM crypto_gaf.plugin_artifacts
                     WHERE engine <> $1 AND created_at < now() - interval '{OTHER_ENGINES_KEPT}'"
                ),
                &[&a.engine],
            )
            .await?;
        Ok(())
    }

    /// True when compiled code of component `sha256` for `engine` is stored.
    pub async fn has_plugin_artifact(&self, sha256: &str, engine: &str) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM crypto_gaf.plugin_artifacts WHERE sha256 = $1 AND engine = $2",
                &[&sha256, &engine],
            )
            .await?;
        Ok(row.is_some())
    }

    /// The compiled code of component `sha256` for `engine`, if a replica stored it.
    pub async fn plugin_artifact(&self, sha256: &str, engine: &str) -> Result<Option<StoredArtifact>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT code, signature FROM crypto_gaf.plugin_artifacts WHERE sha256 = $1 AND engine = $2",
                &[&sha256, &engine],
            )
            .await?;
        Ok(row.map(|r| StoredArtifact {
            sha256: sha256.to_string(),
            engine: engine.to_string(),
            code: r.get(0),
            signature: r.get(1),
        }))
    }
}
