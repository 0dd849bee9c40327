//! `/healthz`, `/readyz`, `/metrics` (served by every process) and `/api/openapi.json`.

use super::{bytes_with_type, json};
use crate::models::{ErrorBody, Status};
use crate::{ApiError, ApiState};
use std::sync::Arc;
use warp::reply::Response;

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness",
    responses((status = 200, description = "The process serves requests", body = Status))
)]
pub async fn healthz() -> Result<Response, ApiError> {
    Ok(json(&Status { status: "ok".into() }))
}

/// `GET /readyz`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness: database reachable, migrations applied, cache loaded",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready", body = ErrorBody),
    )
)]
pub async fn readyz(state: Arc<ApiState>) -> Result<Response, ApiError> {
    readiness(&state).await.map(|()| json(&Status { status: "ready".into() }))
}

/// Whether the process is ready: the database answers, migrations are applied, and (when it
/// serves the API) the image cache is loaded.
async fn readiness(state: &ApiState) -> Result<(), ApiError> {
    match state.store.migrations_applied().await {
        Ok(true) if !state.serves_api || state.cache.is_loaded() => Ok(()),
        Ok(true) => Err(ApiError::unavailable("starting", "the image cache is loading", 1)),
        Ok(false) => Err(ApiError::unavailable("migrations_pending", "database migrations are not applied", 2)),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check");
            Err(ApiError::unavailable("database_unavailable", "the database is unreachable", 2))
        }
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Text exposition format", content_type = "text/plain", body = String))
)]
pub async fn metrics(state: Arc<ApiState>) -> Result<Response, ApiError> {
    state.metrics.ready.set(i64::from(readiness(&state).await.is_ok()));
    Ok(bytes_with_type(state.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"))
}
