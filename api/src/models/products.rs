//! Products: what the API lists, and the bodies that add and resize one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product as the API lists it (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    /// Whether its images are computed.
    pub computed: bool,
    /// When they were computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Samples kept.
    pub max_size: i32,
    /// Newest midpoint, exact decimal text.
    pub midpoint: Option<String>,
    /// Product id.
    pub product: String,
    /// Image edge of the current images.
    pub size: Option<i32>,
}

/// Body of `POST /api/products`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// Product id, e.g. `ADA-USD`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "ADA-USD")]
    pub product: String,
    /// Samples to keep (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 21, maximum = 1024, default = 600)]
    pub max_size: Option<i64>,
}

/// Body of `PUT /api/products/{product}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeProduct {
    /// Samples to keep.
    #[schema(minimum = 21, maximum = 1024)]
    pub max_size: i64,
}
