//! Parameter sweeps: create, list, show, the results table as CSV and the heatmap.

use super::runs::trade_error;
use super::{authorize, bytes_with_type, host, json, json_with_status, parse_json};
use crate::models::{Binary, ErrorBody, Sweep, SweepList, SweepRequestSchema};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_trade::domain::SweepStatus;
use cgaf_trade::{CheckSweep, SweepRequest};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

async fn sweep_or_404(state: &ApiState, id: i64) -> Result<cgaf_store::SweepRow, ApiError> {
    state.store.sweep(id).await?.ok_or_else(|| ApiError::not_found("unknown_sweep", format!("no sweep {id}")))
}

/// `POST /api/sweeps`.
#[utoipa::path(
    post,
    path = "/api/sweeps",
    tag = "sweeps",
    summary = "Start a parameter sweep (grid, optional walk-forward splits) over the market history",
    security(("bearer" = [])),
    request_body = SweepRequestSchema,
    responses(
        (status = 201, description = "Created (status pending)", body = Sweep),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "This process runs no plugin host", body = ErrorBody),
    )
)]
pub async fn create(
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let raw: serde_json::Value = parse_json(body)?;
    let req: SweepRequest = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request("bad_body", format!("request body: {e}")))?;
    let host = host(&state)?;
    req.check(&state.store, &host).await.map_err(trade_error)?;
    let id = state.store.insert_sweep(&raw).await?;
    Ok(json_with_status(&Sweep::from(sweep_or_404(&state, id).await?), StatusCode::CREATED))
}

/// `GET /api/sweeps`.
#[utoipa::path(
    get,
    path = "/api/sweeps",
    tag = "sweeps",
    summary = "Sweeps, newest first",
    responses((status = 200, description = "The latest 100 sweeps", body = SweepList))
)]
pub async fn list(state: Arc<ApiState>) -> Result<Response, ApiError> {
    let sweeps = state.store.list_sweeps(100).await?.into_iter().map(Sweep::from).collect();
    Ok(json(&SweepList { sweeps }))
}

/// `GET /api/sweeps/{id}`.
#[utoipa::path(
    get,
    path = "/api/sweeps/{id}",
    tag = "sweeps",
    summary = "A sweep: status, progress (jobs_done/jobs_total) and, once finished, its result: rows per grid point, walk-forward folds, best parameters out of sample, heatmap axes",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The sweep", body = Sweep),
        (status = 404, description = "Unknown sweep", body = ErrorBody),
    )
)]
pub async fn show(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    Ok(json(&Sweep::from(sweep_or_404(&state, id).await?)))
}

/// `GET /api/sweeps/{id}/results.csv`.
#[utoipa::path(
    get,
    path = "/api/sweeps/{id}/results.csv",
    tag = "sweeps",
    summary = "The results table as CSV",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 404, description = "Unknown sweep", body = ErrorBody),
        (status = 503, description = "Not finished yet", body = ErrorBody),
    )
)]
pub async fn results_csv(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let sweep = sweep_or_404(&state, id).await?;
    let Some(result) = sweep.result else {
        return Err(ApiError::unavailable("sweep_not_finished", format!("sweep {id} is {}", sweep.status), 2));
    };
    let body = cgaf_trade::domain::results_csv(&result).map_err(trade_error)?;
    Ok(bytes_with_type(body, "text/csv; charset=utf-8"))
}

/// `GET /api/sweeps/{id}/heatmap.png`.
#[utoipa::path(
    get,
    path = "/api/sweeps/{id}/heatmap.png",
    tag = "sweeps",
    summary = "The heatmap: first grid parameter left to right, second bottom to top, viridis from worst to best, grey = no value",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "PNG", content_type = "image/png", body = Binary),
        (status = 404, description = "Unknown sweep or no heatmap", body = ErrorBody),
        (status = 503, description = "Not finished yet", body = ErrorBody),
    )
)]
pub async fn heatmap(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let sweep = sweep_or_404(&state, id).await?;
    if sweep.status != SweepStatus::Finished {
        return Err(ApiError::unavailable("sweep_not_finished", format!("sweep {id} is {}", sweep.status), 2));
    }
    let png = state.store.sweep_heatmap(id).await?.ok_or_else(|| {
        ApiError::not_found("no_heatmap", "this sweep has no heatmap (a heatmap needs one or two grid parameters)")
    })?;
    Ok(bytes_with_type(png, "image/png"))
}
