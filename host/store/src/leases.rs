//! Leases: several worker replicas share the products, each (role, product) held by one worker
//! at a time; leases expire unless renewed, so a dead worker's products pass to the others.

use crate::{Result, Store};
use std::time::Duration;

impl Store {
    /// Renews this worker's leases for `role` and claims its fair share of the products
    /// (`ceil(products / live workers)`), releasing any excess so new replicas get work. Returns
    /// the products this worker holds now.
    pub async fn claim_products(&self, role: &str, worker: &str, ttl: Duration) -> Result<Vec<String>> {
        let ttl_s = ttl.as_secs_f64();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO crypto_gaf.workers (worker_id, roles, heartbeat_at) VALUES ($1, ARRAY[$2], now())
             ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(),
               roles = CASE WHEN $2 = ANY(workers.roles) THEN workers.roles ELSE workers.roles || $2 END",
            &[&worker, &role],
        )
        .await?;
        // Serialise claims of one role so shares are computed on a consistent view.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('cgaf-leases:' || $1))", &[&role]).await?;
        let live: i64 = tx
            .query_one(
                "SELECT count(*) FROM crypto_gaf.workers
                 WHERE $1 = ANY(roles) AND heartbeat_at > now() - make_interval(secs => $2)",
                &[&role, &ttl_s],
            )
            .await?
            .get(0);
        let products: i64 = tx.query_one("SELECT count(*) FROM crypto_gaf.gafs", &[]).await?.get(0);
        let share = if live <= 0 { products } else { (products + live - 1) / live };
        let mut mine: Vec<String> = tx
            .query(
                "UPDATE crypto_gaf.leases SET expires_at = now() + make_interval(secs => $3)
                 WHERE role = $1 AND holder = $2 RETURNING product",
                &[&role, &worker, &ttl_s],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        mine.sort();
        if (mine.len() as i64) > share {
            let extra: Vec<String> = mine.split_off(share as usize);
            tx.execute(
                "DELETE FROM crypto_gaf.leases WHERE role = $1 AND holder = $2 AND product = ANY($3)",
                &[&role, &worker, &extra],
            )
            .await?;
        } else if (mine.len() as i64) < share {
            let want = share - mine.len() as i64;
            let claimed = tx
                .query(
                    "INSERT INTO crypto_gaf.leases (role, product, holder, expires_at)
                     SELECT $1, g.product, $2, now() + make_interval(secs => $3)
                     FROM crypto_gaf.gafs g
                     LEFT JOIN crypto_gaf.leases l ON l.role = $1 AND l.product = g.product
                     WHERE l.product IS NULL OR l.expires_at < now()
                     ORDER BY g.product
                     LIMIT $4
                     ON CONFLICT (role, product) DO UPDATE
                       SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                       WHERE leases.expires_at < now()
                     RETURNING product",
                    &[&role, &worker, &ttl_s, &want],
                )
                .await?;
            mine.extend(claimed.iter().map(|r| r.get::<_, String>(0)));
            mine.sort();
        }
        tx.commit().await?;
        Ok(mine)
    }

    /// Whether `worker` holds an unexpired lease on (`role`, `product`).
    pub async fn holds_lease(&self, role: &str, product: &str, worker: &str) -> Result<bool> {
        Ok(self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM crypto_gaf.leases WHERE role = $1 AND product = $2 AND holder = $3 AND expires_at > now()",
                &[&role, &product, &worker],
            )
            .await?
            .is_some())
    }

    /// Gives up every lease and the heartbeat of `worker` (clean shutdown: others take over at once).
    pub async fn release_worker(&self, worker: &str) -> Result<()> {
        let client = self.client().await?;
        client.execute("DELETE FROM crypto_gaf.leases WHERE holder = $1", &[&worker]).await?;
        client.execute("DELETE FROM crypto_gaf.workers WHERE worker_id = $1", &[&worker]).await?;
        Ok(())
    }
}
