//! The body of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {...}}`: what every failed request is answered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`] (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `unknown_product`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
}
