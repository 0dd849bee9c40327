//! Strategy routes: runs (create, list, show with equity curve, stop), the decision log with
//! paging and CSV export, the leaderboard, the kill switch, and parameter sweeps.

use crate::plugins::host;
use crate::{authorize, parse_json, parse_query, ApiError, ApiState};
use bytes::Bytes;
use cgaf_store::DecisionQuery;
use cgaf_trade::domain::{
    parse_time, ranked_metric, ranked_metric_names, results_csv, RunMode, RunStatus, SweepStatus,
};
use cgaf_trade::{CheckSweep, PrepareRun, RunRequest, SweepRequest};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// Largest page of the decision log.
const MAX_PAGE: i64 = 10_000;
/// Points of the equity curve in a run's detail.
const CURVE_POINTS: i64 = 1000;

fn trade_error(e: impl Into<cgaf_trade::Error>) -> ApiError {
    use cgaf_trade::Error as E;
    match e.into() {
        E::Invalid(m) => ApiError::bad_request("invalid_request", m),
        E::Settings(s) => ApiError::bad_request("invalid_settings", s.to_string()),
        E::Plugin(p) => ApiError::new(StatusCode::BAD_GATEWAY, p.code(), format!("strategy: {p}")),
        E::Store(s) => s.into(),
        e => ApiError::internal("trade", &e),
    }
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name)
        .map(|v| v.parse::<i64>().map_err(|_| ApiError::bad_request("bad_query", format!("{name} must be an integer"))))
        .transpose()
}

fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name)
        .map(|v| parse_time(v).map_err(|e| ApiError::bad_request("bad_query", format!("{name}: {e}"))))
        .transpose()
}

fn check_keys(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(
            "bad_query",
            format!("unknown query parameter {k:?} (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

async fn run_or_404(state: &ApiState, id: i64) -> Result<cgaf_store::RunRow, ApiError> {
    state.store.run(id).await?.ok_or_else(|| ApiError::not_found("unknown_run", format!("no run {id}")))
}

/// `POST /api/runs`.
pub async fn create(
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: RunRequest = parse_json(body)?;
    let host = host(&state)?;
    let now = chrono::Utc::now().timestamp_millis();
    let run = req.prepare(&state.store, &host, now).await.map_err(trade_error)?;
    let id = state.store.insert_run(&run).await?;
    let row = run_or_404(&state, id).await?;
    Ok(warp::reply::with_status(warp::reply::json(&row), StatusCode::CREATED).into_response())
}

/// `GET /api/runs?mode=&status=&limit=`.
pub async fn list(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q = parse_query(&raw)?;
    check_keys(&q, &["mode", "status", "limit"])?;
    let limit = int_param(&q, "limit")?.unwrap_or(100).clamp(1, 1000);
    let bad = |e: cgaf_trade::domain::UnknownName| ApiError::bad_request("bad_query", e.to_string());
    let mode = q.get("mode").map(|m| m.parse::<RunMode>()).transpose().map_err(bad)?;
    let status = q.get("status").map(|m| m.parse::<RunStatus>()).transpose().map_err(bad)?;
    let runs = state.store.list_runs(mode, status, limit).await?;
    Ok(warp::reply::json(&json!({ "runs": runs })).into_response())
}

/// `GET /api/runs/{id}`: the run with its equity curve.
pub async fn show(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let run = run_or_404(&state, id).await?;
    let curve = state.store.equity_curve(id, CURVE_POINTS).await?;
    let mut v = serde_json::to_value(&run).map_err(|e| ApiError::internal("run", &e))?;
    v["equity_curve"] = json!(curve.iter().map(|(t, e)| json!({"time_ms": t, "equity": e})).collect::<Vec<_>>());
    Ok(warp::reply::json(&v).into_response())
}

/// `POST /api/runs/{id}/stop`.
pub async fn stop(id: i64, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let before = run_or_404(&state, id).await?;
    if !matches!(before.status.as_str(), "pending" | "running") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_ended",
            format!("run {id} has ended already ({})", before.status),
        ));
    }
    let run = state.store.request_stop(id, "stopped on request").await?;
    let run = run.ok_or_else(|| ApiError::not_found("unknown_run", format!("no run {id}")))?;
    Ok(warp::reply::with_status(warp::reply::json(&run), StatusCode::ACCEPTED).into_response())
}

/// `GET /api/runs/{id}/decisions?from=&to=&cursor=&limit=&format=json|csv`.
pub async fn decisions(id: i64, state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q = parse_query(&raw)?;
    check_keys(&q, &["from", "to", "cursor", "limit", "format"])?;
    run_or_404(&state, id).await?;
    let (from_ms, to_ms) = (time_param(&q, "from")?, time_param(&q, "to")?);
    match q.get("format").map(String::as_str).unwrap_or("json") {
        "csv" => {
            let csv = cgaf_trade::decisions_csv(&state.store, id, from_ms, to_ms).await.map_err(trade_error)?;
            let mut r = Response::new(csv.into());
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, "text/csv; charset=utf-8".parse().expect("static header"));
            if let Ok(v) = format!("attachment; filename=\"run-{id}-decisions.csv\"").parse() {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(r)
        }
        "json" => {
            let limit = int_param(&q, "limit")?.unwrap_or(1000);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(ApiError::bad_request("bad_query", format!("limit must be in 1..={MAX_PAGE}")));
            }
            let after_seq = int_param(&q, "cursor")?;
            let rows = state.store.decisions(id, &DecisionQuery { from_ms, to_ms, after_seq, limit }).await?;
            let next = if rows.len() as i64 == limit { rows.last().map(|r| r.seq.to_string()) } else { None };
            Ok(warp::reply::json(&json!({ "run_id": id, "decisions": rows, "next_cursor": next })).into_response())
        }
        other => Err(ApiError::bad_request("bad_query", format!("format must be json or csv, not {other:?}"))),
    }
}

/// `GET /api/leaderboard?metric=sharpe&mode=paper|backtest&min_trades=0&limit=50`.
pub async fn leaderboard(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q = parse_query(&raw)?;
    check_keys(&q, &["metric", "mode", "min_trades", "limit"])?;
    let metric = q.get("metric").map(String::as_str).unwrap_or("sharpe");
    if ranked_metric(metric).is_none() {
        return Err(ApiError::bad_request("bad_metric", format!("metric must be one of {}", ranked_metric_names())));
    }
    let mode = q.get("mode").map(|m| m.parse::<RunMode>()).transpose();
    let mode = mode.map_err(|_| ApiError::bad_request("bad_query", "mode must be paper or backtest"))?;
    let min_trades = int_param(&q, "min_trades")?.unwrap_or(0);
    let limit = int_param(&q, "limit")?.unwrap_or(50).clamp(1, 1000);
    let entries = state.store.leaderboard(metric, mode, min_trades, limit).await?;
    Ok(warp::reply::json(&json!({ "metric": metric, "mode": mode, "min_trades": min_trades, "entries": entries }))
        .into_response())
}

/// Body of `POST /api/kill-switch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillSwitchChange {
    engaged: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// `GET /api/kill-switch`.
pub async fn kill_switch(state: Arc<ApiState>) -> Result<Response, ApiError> {
    Ok(warp::reply::json(&state.store.kill_switch().await?).into_response())
}

/// `POST /api/kill-switch` `{"engaged": true, "reason": "..."}`.
pub async fn set_kill_switch(
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
    Ok(warp::reply::json(&k).into_response())
}

/// `POST /api/sweeps`.
pub async fn create_sweep(
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
    let row =
        state.store.sweep(id).await?.ok_or_else(|| ApiError::not_found("unknown_sweep", format!("no sweep {id}")))?;
    Ok(warp::reply::with_status(warp::reply::json(&row), StatusCode::CREATED).into_response())
}

/// `GET /api/sweeps`.
pub async fn list_sweeps(state: Arc<ApiState>) -> Result<Response, ApiError> {
    Ok(warp::reply::json(&json!({ "sweeps": state.store.list_sweeps(100).await? })).into_response())
}

/// `GET /api/sweeps/{id}`.
pub async fn show_sweep(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let row =
        state.store.sweep(id).await?.ok_or_else(|| ApiError::not_found("unknown_sweep", format!("no sweep {id}")))?;
    Ok(warp::reply::json(&row).into_response())
}

/// `GET /api/sweeps/{id}/results.csv`.
pub async fn sweep_csv(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let row =
        state.store.sweep(id).await?.ok_or_else(|| ApiError::not_found("unknown_sweep", format!("no sweep {id}")))?;
    let Some(result) = row.result else {
        return Err(ApiError::unavailable("sweep_not_finished", format!("sweep {id} is {}", row.status), 2));
    };
    let body = results_csv(&result).map_err(trade_error)?;
    let mut r = Response::new(body.into());
    r.headers_mut().insert(header::CONTENT_TYPE, "text/csv; charset=utf-8".parse().expect("static header"));
    Ok(r)
}

/// `GET /api/sweeps/{id}/heatmap.png`.
pub async fn sweep_heatmap(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let row =
        state.store.sweep(id).await?.ok_or_else(|| ApiError::not_found("unknown_sweep", format!("no sweep {id}")))?;
    if row.status != SweepStatus::Finished {
        return Err(ApiError::unavailable("sweep_not_finished", format!("sweep {id} is {}", row.status), 2));
    }
    let png = state.store.sweep_heatmap(id).await?.ok_or_else(|| {
        ApiError::not_found("no_heatmap", "this sweep has no heatmap (a heatmap needs one or two grid parameters)")
    })?;
    let mut r = Response::new(png.into());
    r.headers_mut().insert(header::CONTENT_TYPE, "image/png".parse().expect("static header"));
    Ok(r)
}
