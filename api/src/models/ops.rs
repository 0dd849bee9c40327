//! Liveness and readiness bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"status": "ok"}` (liveness) or `{"status": "ready"}` (readiness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: String,
}
