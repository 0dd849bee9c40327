//! Tuning sweeps of the matrix pipeline: start one (a calculate worker claims and runs it), list
//! them, and follow one — progress while it runs, the ranked results once finished.

use super::{authorize, json, json_with_status, parse_json};
use crate::models::{ErrorBody, MatrixSweepList, MatrixSweepModel, MatrixSweepRequest, TimeArgSchema};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_calculate::{submit_matrix_sweep, MatrixSweepGrid, MatrixSweepTarget};
use cgaf_runtime::PluginKind;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

fn millis(t: &TimeArgSchema, field: &str) -> Result<i64, ApiError> {
    match t {
        TimeArgSchema::Millis(ms) => Ok(*ms),
        TimeArgSchema::Text(s) => {
            cgaf_trade::domain::parse_time(s).map_err(|e| ApiError::bad_request("bad_body", format!("{field}: {e}")))
        }
    }
}

async fn sweep_model(state: &ApiState, id: i64) -> Result<MatrixSweepModel, ApiError> {
    let row = state
        .store
        .matrix_sweep(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_matrix_sweep", format!("no matrix sweep {id}")))?;
    let results = state.store.matrix_sweep_results(id).await?;
    Ok(MatrixSweepModel::new(row, results))
}

/// `POST /api/matrices/sweeps`.
#[utoipa::path(
    post,
    path = "/api/matrices/sweeps",
    tag = "matrices",
    summary = "Start a tuning sweep of the matrix pipeline: every combination of k, solver and blender replayed over a \
               range of the product's live rollups (in parallel, by a calculate worker), ranked by forecast RMSE, then skill",
    security(("bearer" = [])),
    request_body = MatrixSweepRequest,
    responses(
        (status = 201, description = "Created (status pending)", body = MatrixSweepModel),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 409, description = "The name is in use", body = ErrorBody),
    )
)]
pub async fn create(
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: MatrixSweepRequest = parse_json(body)?;
    let (from_ms, to_ms) = (millis(&req.from, "from")?, millis(&req.to, "to")?);
    if to_ms <= from_ms {
        return Err(ApiError::bad_request("bad_body", "to must be after from"));
    }
    let grid = MatrixSweepGrid::parse(&req.k, &req.solver, &req.blender)
        .map_err(|e| ApiError::bad_request("bad_body", e.to_string()))?;
    // With a plugin host in this process, every blender must be an installed blender.
    if let Some(host) = &state.plugins {
        for b in &grid.blenders {
            match host.registry.get(&b.name) {
                Ok(p) if p.info.kind == PluginKind::Blender => {}
                Ok(_) => return Err(ApiError::bad_request("bad_body", format!("{} is not a blender", b.name))),
                Err(e) => return Err(ApiError::bad_request("bad_body", format!("blender {}: {e}", b.name))),
            }
        }
    }
    if !state.store.list_products().await?.iter().any(|p| p.product == req.product) {
        return Err(ApiError::not_found("unknown_product", format!("unknown product {:?}", req.product)));
    }
    let name = match req.name {
        Some(n) if !n.trim().is_empty() && n.len() <= 200 && n != cgaf_store::matrices::LIVE => n,
        Some(n) => return Err(ApiError::bad_request("bad_body", format!("name {n:?}: 1..=200 bytes, not `live`"))),
        None => format!("sweep-{}-{}", req.product, chrono::Utc::now().timestamp_millis()),
    };
    let target = MatrixSweepTarget { name, product: req.product, from_ms, to_ms };
    let id = submit_matrix_sweep(&state.store, &grid, &target).await.map_err(|e| match e {
        cgaf_calculate::Error::Store(e) => ApiError::from(e),
        e => ApiError::bad_request("bad_body", e.to_string()),
    })?;
    Ok(json_with_status(&sweep_model(&state, id).await?, StatusCode::CREATED))
}

/// `GET /api/matrices/sweeps`.
#[utoipa::path(
    get,
    path = "/api/matrices/sweeps",
    tag = "matrices",
    summary = "Matrix sweeps, newest first (the latest 100, without their results)",
    responses((status = 200, description = "Matrix sweeps", body = MatrixSweepList))
)]
pub async fn list(state: Arc<ApiState>) -> Result<Response, ApiError> {
    let sweeps = state.store.list_matrix_sweeps(100).await?;
    Ok(json(&MatrixSweepList { sweeps: sweeps.into_iter().map(|s| MatrixSweepModel::new(s, vec![])).collect() }))
}

/// `GET /api/matrices/sweeps/{id}`.
#[utoipa::path(
    get,
    path = "/api/matrices/sweeps/{id}",
    tag = "matrices",
    summary = "A matrix sweep: status, progress (combinations_done/combinations_total) and, once finished, the \
               combinations ranked by mean forecast RMSE (lower first), then skill (higher first)",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The sweep", body = MatrixSweepModel),
        (status = 404, description = "Unknown sweep", body = ErrorBody),
    )
)]
pub async fn show(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    Ok(json(&sweep_model(&state, id).await?))
}
