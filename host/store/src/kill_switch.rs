//! The global kill switch: engaged, it stops every paper run (flatten and stop) and refuses new
//! ones.

use crate::{Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The kill switch's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillSwitch {
    /// True while engaged.
    pub engaged: bool,
    /// Why it was last changed.
    pub reason: Option<String>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

fn kill_switch_row(r: &tokio_postgres::Row) -> KillSwitch {
    KillSwitch { engaged: r.get("engaged"), reason: r.get("reason"), changed_at: r.get("changed_at") }
}

impl Store {
    /// The kill switch.
    pub async fn kill_switch(&self) -> Result<KillSwitch> {
        let r = self
            .client()
            .await?
            .query_one("SELECT engaged, reason, changed_at FROM crypto_gaf.kill_switch WHERE id", &[])
            .await?;
        Ok(kill_switch_row(&r))
    }

    /// Engages or releases the kill switch.
    pub async fn set_kill_switch(&self, engaged: bool, reason: &str) -> Result<KillSwitch> {
        let r = self
            .client()
            .await?
            .query_one(
                "UPDATE crypto_gaf.kill_switch SET engaged = $1, reason = $2, changed_at = now() WHERE id
                 RETURNING engaged, reason, changed_at",
                &[&engaged, &reason],
            )
            .await?;
        Ok(kill_switch_row(&r))
    }
}
