//! The global kill switch: while engaged every paper run flattens and stops, and no paper run
//! starts.

use super::{authorize, json, parse_json};
use crate::models::{ErrorBody, KillSwitch, KillSwitchChange};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use std::sync::Arc;
use warp::reply::Response;

/// `GET /api/kill-switch`.
#[utoipa::path(
    get,
    path = "/api/kill-switch",
    tag = "runs",
    summary = "The global kill switch",
    responses((status = 200, description = "Its state", body = KillSwitch))
)]
pub async fn show(state: Arc<ApiState>) -> Result<Response, ApiError> {
    Ok(json(&KillSwitch::from(state.store.kill_switch().await?)))
}

/// `POST /api/kill-switch` `{"engaged": true, "reason": "..."}`.
#[utoipa::path(
    post,
    path = "/api/kill-switch",
    tag = "runs",
    summary = "Engage or release the kill switch: while engaged every paper run flattens and stops, and no paper run starts",
    security(("bearer" = [])),
    request_body = KillSwitchChange,
    responses(
        (status = 200, description = "The new state", body = KillSwitch),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    )
)]
pub async fn set(
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: KillSwitchChange = parse_json(body)?;
    let reason =
        req.reason.unwrap_or_else(|| if req.engaged { "engaged via the API" } else { "released via the API" }.into());
    let k = state.store.set_kill_switch(req.engaged, &reason).await?;
    tracing::warn!(engaged = k.engaged, reason = %reason, "kill switch changed");
    Ok(json(&KillSwitch::from(k)))
}
