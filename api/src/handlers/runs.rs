//! Strategy runs: create, list, show with equity curve, stop; the decision log with paging and
//! CSV export; the leaderboard.

use super::{authorize, host, json, json_with_status, parse_json, parse_query};
use crate::models::{
    Decision, DecisionFormat, DecisionPage, DecisionsQuery, EquityPoint, ErrorBody, Leaderboard, LeaderboardEntry,
    LeaderboardQuery, Run, RunDetail, RunList, RunListQuery, RunRequestSchema,
};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_store::DecisionQuery;
use cgaf_trade::domain::{parse_time, ranked_metric, ranked_metric_names};
use cgaf_trade::{PrepareRun, RunRequest};
use std::sync::Arc;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

/// Largest page of the decision log.
const MAX_PAGE: i64 = 10_000;
/// Points of the equity curve in a run's detail.
const CURVE_POINTS: i64 = 1000;

/// The answer to a failure of the trade crate.
pub(crate) fn trade_error(e: impl Into<cgaf_trade::Error>) -> ApiError {
    use cgaf_trade::Error as E;
    match e.into() {
        E::Invalid(m) => ApiError::bad_request("invalid_request", m),
        E::NotCovered(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "range_not_covered", m),
        E::NotReproduced(m) => ApiError::new(StatusCode::CONFLICT, "not_reproduced", m),
        E::Settings(s) => ApiError::bad_request("invalid_settings", s.to_string()),
        E::Plugin(p) => ApiError::new(StatusCode::BAD_GATEWAY, p.code(), format!("strategy: {p}")),
        E::Store(s) => s.into(),
        e => ApiError::internal("trade", &e),
    }
}

fn time_param(v: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    v.map(|v| parse_time(v).map_err(|e| ApiError::bad_request("bad_query", format!("{name}: {e}")))).transpose()
}

async fn run_or_404(state: &ApiState, id: i64) -> Result<Run, ApiError> {
    let row = state.store.run(id).await?.ok_or_else(|| ApiError::not_found("unknown_run", format!("no run {id}")))?;
    Ok(row.into())
}

/// `POST /api/runs`.
#[utoipa::path(
    post,
    path = "/api/runs",
    tag = "runs",
    summary = "Start a strategy run: a backtest over the market history or a paper run following live bars",
    security(("bearer" = [])),
    request_body = RunRequestSchema,
    responses(
        (status = 201, description = "Created (status pending; a trade worker starts it)", body = Run),
        (status = 400, description = "Bad request: unknown strategy/version/product, parameters refused by the plugin, bad settings, kill switch engaged (paper)", body = ErrorBody),
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
    let req: RunRequest = parse_json(body)?;
    let host = host(&state)?;
    let now = chrono::Utc::now().timestamp_millis();
    let run = req.prepare(&state.store, &host, now).await.map_err(trade_error)?;
    let id = state.store.insert_run(&run.spec, run.coverage.as_ref()).await?;
    let row = run_or_404(&state, id).await?;
    Ok(json_with_status(&row, StatusCode::CREATED))
}

/// `GET /api/runs?mode=&status=&limit=`.
#[utoipa::path(
    get,
    path = "/api/runs",
    tag = "runs",
    summary = "Runs, newest first",
    params(RunListQuery),
    responses(
        (status = 200, description = "Runs", body = RunList),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn list(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: RunListQuery = parse_query(&raw)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let runs = state.store.list_runs(q.mode, q.status, limit).await?;
    Ok(json(&RunList { runs: runs.into_iter().map(Run::from).collect() }))
}

/// `GET /api/runs/{id}`: the run with its equity curve.
#[utoipa::path(
    get,
    path = "/api/runs/{id}",
    tag = "runs",
    summary = "A run: status, progress, settings, metrics (periods_per_year named), portfolio, decision-log sha256 and its equity curve (at most 1000 points)",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 404, description = "Unknown run", body = ErrorBody),
    )
)]
pub async fn show(id: i64, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let run = run_or_404(&state, id).await?;
    let curve = state.store.equity_curve(id, CURVE_POINTS).await?;
    let equity_curve = curve.into_iter().map(|(time_ms, equity)| EquityPoint { equity, time_ms }).collect();
    Ok(json(&RunDetail { run, equity_curve }))
}

/// `POST /api/runs/{id}/stop`.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/stop",
    tag = "runs",
    summary = "Stop a run (pending: at once; running: at its next step)",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Stop requested", body = Run),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "The run has ended already", body = ErrorBody),
    )
)]
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
    Ok(json_with_status(&Run::from(run), StatusCode::ACCEPTED))
}

/// `GET /api/runs/{id}/decisions?from=&to=&cursor=&limit=&format=json|csv`.
#[utoipa::path(
    get,
    path = "/api/runs/{id}/decisions",
    tag = "runs",
    summary = "The decision log: one row per bar with market state, strategy state (replayed between a backtest's checkpoints), decision, risk-gate action, order, fill, position, cash and equity",
    params(("id" = i64, Path), DecisionsQuery),
    responses(
        (status = 200, description = "A page of rows, or the whole range as CSV (whose sha256 is the run's decision_log_sha256)",
            content((DecisionPage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "Replaying the strategy from a checkpoint did not reproduce the stored log (not_reproduced)", body = ErrorBody),
    )
)]
pub async fn decisions(id: i64, state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: DecisionsQuery = parse_query(&raw)?;
    let run = state.store.run(id).await?.ok_or_else(|| ApiError::not_found("unknown_run", format!("no run {id}")))?;
    let (from_ms, to_ms) = (time_param(q.from.as_deref(), "from")?, time_param(q.to.as_deref(), "to")?);
    match q.format.unwrap_or_default() {
        DecisionFormat::Csv => {
            // Streamed a page at a time (a year of 1-minute decisions is ~80 MB of CSV); the first
            // page is read before answering, so a failure there is still an error status.
            let mut pages = cgaf_trade::DecisionCsvPages::new(state.store.clone(), id, from_ms, to_ms);
            let first = pages.next().await.map_err(trade_error)?.unwrap_or_default();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
            tokio::spawn(async move {
                if tx.send(Ok(Bytes::from(first))).await.is_err() {
                    return;
                }
                loop {
                    let page = match pages.next().await {
                        Ok(Some(page)) => Ok(Bytes::from(page)),
                        Ok(None) => return,
                        Err(e) => Err(std::io::Error::other(e.to_string())),
                    };
                    let failed = page.is_err();
                    if tx.send(page).await.is_err() || failed {
                        return;
                    }
                }
            });
            let mut r = super::streamed(rx, "text/csv; charset=utf-8");
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"run-{id}-decisions.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(r)
        }
        DecisionFormat::Json => {
            let limit = q.limit.unwrap_or(1000);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(ApiError::bad_request("bad_query", format!("limit must be in 1..={MAX_PAGE}")));
            }
            let after_seq = q.cursor;
            let mut rows = state.store.decisions(id, &DecisionQuery { from_ms, to_ms, after_seq, limit }).await?;
            // A backtest stores its strategy state every chunk of bars; the rows between get it
            // by replay (a process without a plugin host answers the stored rows).
            if let Some(host) = &state.plugins {
                cgaf_trade::fill_strategy_states(&state.store, host, &run, &mut rows).await.map_err(trade_error)?;
            }
            let next = if rows.len() as i64 == limit { rows.last().map(|r| r.seq.to_string()) } else { None };
            let decisions = rows.into_iter().map(Decision::from).collect();
            Ok(json(&DecisionPage { decisions, next_cursor: next, run_id: id }))
        }
    }
}

/// `GET /api/leaderboard?metric=sharpe&mode=paper|backtest&min_trades=0&limit=50`.
#[utoipa::path(
    get,
    path = "/api/leaderboard",
    tag = "runs",
    summary = "Runs ranked by a metric, best first; ties in run order",
    params(LeaderboardQuery),
    responses(
        (status = 200, description = "The ranking", body = Leaderboard),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn leaderboard(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: LeaderboardQuery = parse_query(&raw)?;
    let metric = q.metric.unwrap_or_else(|| "sharpe".into());
    let Some(higher_is_better) = ranked_metric(&metric) else {
        return Err(ApiError::bad_request("bad_metric", format!("metric must be one of {}", ranked_metric_names())));
    };
    let min_trades = q.min_trades.unwrap_or(0);
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let entries = state.store.leaderboard(&metric, higher_is_better, q.mode, min_trades, limit).await?;
    let entries = entries.into_iter().map(LeaderboardEntry::from).collect();
    Ok(json(&Leaderboard { entries, metric, min_trades, mode: q.mode.map(|m| m.to_string()) }))
}
