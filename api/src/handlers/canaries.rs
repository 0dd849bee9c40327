//! Canary routes: start a candidate version in shadow beside the active one, cancel it, and the
//! activation log (every swap of the active version, canary promotions included).

use super::plugins::{load_error, store_error};
use super::{authorize, host, json, json_with_status, parse_json, parse_query};
use crate::models::{ActivationList, CanaryReport, CanaryRequest, ErrorBody, FailureListQuery, PluginActivation};
use crate::{compiled, ApiError, ApiState};
use bytes::Bytes;
use cgaf_runtime::Tolerance;
use cgaf_store::NewPluginCanary;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

/// The longest canary window (a week).
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// How long the calls asked for may take to come in when no duration is given.
const CALLS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3600);

/// `POST /api/plugins/{name}/canary`.
#[utoipa::path(
    post,
    path = "/api/plugins/{name}/canary",
    tag = "plugins",
    summary = "Run a candidate version in shadow on the active version's live inputs; promote it on every replica when within tolerance, else refuse it (token)",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "gasf")),
    request_body = CanaryRequest,
    responses(
        (status = 202, description = "Started; poll GET /api/plugins/{name} for the report and verdict", body = CanaryReport),
        (status = 400, description = "Bad body: no calls or duration, bad duration or tolerance, the active version, another kind", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown plugin or version, or no active version to compare with", body = ErrorBody),
        (status = 409, description = "A canary of this plugin runs already", body = ErrorBody),
        (status = 422, description = "The candidate does not load here", body = ErrorBody),
    )
)]
pub async fn start(
    name: String,
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: CanaryRequest = parse_json(body)?;
    let bad = |code: &'static str, m: String| ApiError::bad_request(code, m);
    let duration = req
        .duration
        .as_deref()
        .map(|d| {
            humantime::parse_duration(d.trim())
                .map_err(|e| bad("bad_duration", format!("duration {d:?}: {e} (e.g. 90s, 5m, 1h)")))
        })
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero() || d > MAX_DURATION) {
        return Err(bad("bad_duration", "duration must be more than 0 and at most 7 days".into()));
    }
    if req.calls == Some(0) || req.calls.is_some_and(|c| c > i64::MAX as u64) {
        return Err(bad("bad_calls", "calls must be a positive count".into()));
    }
    if req.calls.is_none() && duration.is_none() {
        return Err(bad(
            "missing_window",
            "say when to decide: \"calls\" (live calls compared) or \"duration\"".into(),
        ));
    }
    let tolerance: Tolerance = match &req.tolerance {
        Some(t) => serde_json::from_value(t.clone()).map_err(|e| bad("bad_tolerance", format!("tolerance: {e}")))?,
        None => Tolerance::default(),
    };
    tolerance.validate().map_err(|e| bad("bad_tolerance", e))?;
    let versions = state.store.plugin_versions(&name).await?;
    let Some(active) = versions.iter().find(|v| v.active) else {
        return Err(ApiError::not_found(
            "no_active_version",
            format!("plugin {name:?} has no active version to compare with"),
        ));
    };
    let Some(candidate) = versions.iter().find(|v| v.version == req.version) else {
        return Err(ApiError::not_found("unknown_plugin", format!("no plugin version {name}@{}", req.version)));
    };
    if candidate.version == active.version {
        return Err(bad("already_active", format!("{name}@{} is the active version already", req.version)));
    }
    if candidate.kind != active.kind {
        return Err(bad(
            "kind_mismatch",
            format!("{name}@{} is a {}, the active version a {}", req.version, candidate.kind, active.kind),
        ));
    }
    // Loaded here first: a candidate that does not load is refused before anything starts.
    let host = host(&state)?;
    compiled::load_stored(&state.store, &host, &name, &candidate.version, &candidate.sha256)
        .await
        .map_err(|e| load_error(e, "the candidate does not load"))?;
    let started = state
        .store
        .start_plugin_canary(&NewPluginCanary {
            name: &name,
            kind: &active.kind,
            active_version: &active.version,
            candidate_version: &candidate.version,
            target_calls: req.calls.map(|c| c as i64),
            // With calls asked for, the duration is their deadline (an hour unless given).
            duration_ms: duration
                .or(req.calls.map(|_| CALLS_DEADLINE))
                .map(|d| d.as_millis().min(i64::MAX as u128) as i64),
            tolerance: serde_json::to_value(&tolerance).map_err(|e| ApiError::internal("the tolerance", &e))?,
        })
        .await
        .map_err(|e| match e {
            cgaf_store::Error::CanaryRunning(_) => ApiError::new(StatusCode::CONFLICT, "canary_running", e.to_string()),
            e => store_error(e),
        })?;
    // This replica shadows from now on; the others load it on the insert's notification.
    if let Err(e) = crate::canary::sync(&state.store, &host).await {
        tracing::warn!(plugin = %name, error = %e, "loading the running canaries");
    }
    tracing::info!(plugin = %name, candidate = %started.candidate_version, active = %started.active_version,
        canary = started.id, "canary started");
    Ok(json_with_status(&CanaryReport::from(started), StatusCode::ACCEPTED))
}

/// `DELETE /api/plugins/{name}/canary`.
#[utoipa::path(
    delete,
    path = "/api/plugins/{name}/canary",
    tag = "plugins",
    summary = "Cancel the plugin's running canary; the active version stays (token)",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "gasf")),
    responses(
        (status = 200, description = "Cancelled", body = CanaryReport),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No canary of this plugin runs", body = ErrorBody),
    )
)]
pub async fn cancel(name: String, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let Some(id) = state.store.cancel_plugin_canary(&name, "cancelled by an operator").await? else {
        return Err(ApiError::not_found("no_canary", format!("no canary of plugin {name:?} runs")));
    };
    let c = state
        .store
        .plugin_canary(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_canary", format!("canary {id} vanished")))?;
    Ok(json(&CanaryReport::from(c)))
}

/// `GET /api/plugins/{name}/activations?before=&limit=`.
#[utoipa::path(
    get,
    path = "/api/plugins/{name}/activations",
    tag = "plugins",
    summary = "The plugin's activation log, newest first, paged: every swap of the active version and why",
    params(("name" = String, Path, example = "gasf"), FailureListQuery),
    responses(
        (status = 200, description = "A page of activations", body = ActivationList),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn activations(name: String, state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: FailureListQuery = parse_query(&raw)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let activations: Vec<PluginActivation> =
        state.store.plugin_activations(&name, q.before, limit).await?.into_iter().map(PluginActivation::from).collect();
    let next_before = (activations.len() as i64 == limit).then(|| activations.last().map(|a| a.id)).flatten();
    Ok(json(&ActivationList { activations, next_before }))
}
