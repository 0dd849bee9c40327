//! The kill switch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kill switch's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KillSwitch {
    /// True while engaged.
    pub engaged: bool,
    /// Why it was last changed.
    pub reason: Option<String>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

impl From<cgaf_store::KillSwitch> for KillSwitch {
    fn from(k: cgaf_store::KillSwitch) -> Self {
        Self { engaged: k.engaged, reason: k.reason, changed_at: k.changed_at }
    }
}

/// Body of `POST /api/kill-switch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchChange {
    /// Engage (`true`) or release (`false`).
    pub engaged: bool,
    /// Why (default: "engaged via the API" / "released via the API").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
