//! The matrix pipeline: transitions, blends, forecasts and scores by product, granularity and
//! time range (paged JSON or CSV), the latest blend as a heatmap PNG, and rolling scores.

use super::{bytes_with_type, json, parse_query};
use crate::models::{
    Binary, BlendModel, BlendsPage, ErrorBody, ForecastModel, ForecastsPage, MatrixHeatmapQuery, MatrixRowsQuery,
    RollingScoreModel, RollingScores, RollingScoresQuery, ScoreModel, ScoresPage, TransitionModel, TransitionsPage,
};
use crate::{ApiError, ApiState};
use cgaf_store::matrices::LIVE;
use cgaf_store::MatrixQuery;
use cgaf_trade::domain::history::interval_label;
use cgaf_trade::domain::{parse_interval, parse_time};
use std::fmt::Write as _;
use std::sync::Arc;
use warp::reply::Response;

/// Rows per page by default, and at most.
const DEFAULT_PAGE: i64 = 1_000;
const MAX_PAGE: i64 = 10_000;

fn rfc3339(ms: i64) -> String {
    cgaf_trade::domain::history::rfc3339(ms)
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request("bad_query", message)
}

fn granularity_of(v: Option<&str>) -> Result<i64, ApiError> {
    parse_interval(v.unwrap_or("5s")).map_err(|e| bad(format!("granularity: {e}")))
}

fn time_of(v: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    v.map(|v| parse_time(v).map_err(|e| bad(format!("{name}: {e}")))).transpose()
}

/// What a row route reads, and how it answers.
struct RowsRequest {
    query: MatrixQuery,
    csv: bool,
}

fn rows_request(raw: &str) -> Result<RowsRequest, ApiError> {
    let q: MatrixRowsQuery = parse_query(raw)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad(format!("limit must be 1..={MAX_PAGE}")));
    }
    let newest_first = match q.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => return Err(bad(format!("order must be asc or desc, not {other:?}"))),
    };
    let csv = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => return Err(bad(format!("format must be json or csv, not {other:?}"))),
    };
    Ok(RowsRequest {
        query: MatrixQuery {
            pipeline: q.pipeline.unwrap_or_else(|| LIVE.to_string()),
            product: q.product,
            granularity_ms: granularity_of(q.granularity.as_deref())?,
            from_ms: time_of(q.from.as_deref(), "from")?,
            to_ms: time_of(q.to.as_deref(), "to")?,
            limit,
            offset: q.offset.unwrap_or(0).max(0),
            newest_first,
        },
        csv,
    })
}

fn next_offset(q: &MatrixQuery, n: usize) -> Option<i64> {
    (n as i64 == q.limit).then_some(q.offset + q.limit)
}

/// A vector as one CSV field: values separated by spaces.
fn vector(v: &[f64]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv(header: &str, lines: impl Iterator<Item = String>) -> Response {
    let mut out = String::from(header);
    out.push('\n');
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    bytes_with_type(out, "text/csv")
}

/// `GET /api/matrices/transitions`.
#[utoipa::path(
    get,
    path = "/api/matrices/transitions",
    tag = "matrices",
    summary = "Transition matrices of a product and granularity (by t1): a page of JSON or CSV",
    params(MatrixRowsQuery),
    responses(
        (status = 200, description = "A page (JSON) or text/csv", body = TransitionsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn transitions(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let r = rows_request(&raw)?;
    let rows = state.store.matrix_transitions(&r.query).await?;
    let next = next_offset(&r.query, rows.len());
    let rows: Vec<TransitionModel> = rows
        .into_iter()
        .map(|t| TransitionModel {
            t0: rfc3339(t.t0_ms),
            t1: rfc3339(t.t1_ms),
            t0_ms: t.t0_ms,
            t1_ms: t.t1_ms,
            mode: t.mode,
            features: t.features,
            size: t.size,
            matrix: t.matrix,
            residual: t.residual,
        })
        .collect();
    if r.csv {
        return Ok(csv(
            "t0,t1,mode,features,size,residual,matrix",
            rows.iter().map(|t| {
                format!(
                    "{},{},{},\"{}\",{},{},{}",
                    t.t0,
                    t.t1,
                    t.mode,
                    t.features,
                    t.size,
                    t.residual,
                    vector(&t.matrix)
                )
            }),
        ));
    }
    let q = r.query;
    Ok(json(&TransitionsPage {
        product: q.product,
        granularity: interval_label(q.granularity_ms),
        pipeline: q.pipeline,
        rows,
        next_offset: next,
    }))
}

fn blend_model(b: cgaf_store::BlendRow) -> BlendModel {
    BlendModel {
        t1: rfc3339(b.t1_ms),
        t1_ms: b.t1_ms,
        blender: b.blender,
        blender_version: b.blender_version,
        k: b.k,
        matrices: b.matrices,
        features: b.features,
        size: b.size,
        matrix: b.matrix,
        w: b.w,
        drift: b.drift,
        diagonal_dominance: b.diagonal_dominance,
    }
}

/// `GET /api/matrices/blends`.
#[utoipa::path(
    get,
    path = "/api/matrices/blends",
    tag = "matrices",
    summary = "Blended matrices of a product and granularity (by t1), with the newest w, drift and diagonal dominance",
    params(MatrixRowsQuery),
    responses(
        (status = 200, description = "A page (JSON) or text/csv", body = BlendsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn blends(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let r = rows_request(&raw)?;
    let rows = state.store.matrix_blends(&r.query).await?;
    let next = next_offset(&r.query, rows.len());
    let rows: Vec<BlendModel> = rows.into_iter().map(blend_model).collect();
    if r.csv {
        return Ok(csv(
            "t1,blender,blender_version,k,matrices,features,size,drift,diagonal_dominance,w,matrix",
            rows.iter().map(|b| {
                format!(
                    "{},{},{},{},{},\"{}\",{},{},{},{},{}",
                    b.t1,
                    b.blender,
                    b.blender_version,
                    b.k,
                    b.matrices,
                    b.features,
                    b.size,
                    opt(b.drift),
                    b.diagonal_dominance,
                    vector(&b.w),
                    vector(&b.matrix)
                )
            }),
        ));
    }
    let q = r.query;
    Ok(json(&BlendsPage {
        product: q.product,
        granularity: interval_label(q.granularity_ms),
        pipeline: q.pipeline,
        rows,
        next_offset: next,
    }))
}

/// `GET /api/matrices/forecasts`.
#[utoipa::path(
    get,
    path = "/api/matrices/forecasts",
    tag = "matrices",
    summary = "Forecasts ŵ(t+1) = M_blend·w(t) of a product and granularity (by the time of w(t))",
    params(MatrixRowsQuery),
    responses(
        (status = 200, description = "A page (JSON) or text/csv", body = ForecastsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn forecasts(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let r = rows_request(&raw)?;
    let rows = state.store.matrix_forecasts(&r.query).await?;
    let next = next_offset(&r.query, rows.len());
    let rows: Vec<ForecastModel> = rows
        .into_iter()
        .map(|f| ForecastModel {
            base: rfc3339(f.base_ms),
            base_ms: f.base_ms,
            blender: f.blender,
            features: f.features,
            forecast: f.forecast,
        })
        .collect();
    if r.csv {
        return Ok(csv(
            "base,blender,features,forecast",
            rows.iter().map(|f| format!("{},{},\"{}\",{}", f.base, f.blender, f.features, vector(&f.forecast))),
        ));
    }
    let q = r.query;
    Ok(json(&ForecastsPage {
        product: q.product,
        granularity: interval_label(q.granularity_ms),
        pipeline: q.pipeline,
        rows,
        next_offset: next,
    }))
}

/// `GET /api/matrices/scores`.
#[utoipa::path(
    get,
    path = "/api/matrices/scores",
    tag = "matrices",
    summary = "Forecast scores (MAE, RMSE, skill against the naive forecast, drift, diagonal dominance) by the time scored against",
    params(MatrixRowsQuery),
    responses(
        (status = 200, description = "A page (JSON) or text/csv", body = ScoresPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn scores(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let r = rows_request(&raw)?;
    let rows = state.store.matrix_scores(&r.query).await?;
    let next = next_offset(&r.query, rows.len());
    let rows: Vec<ScoreModel> = rows
        .into_iter()
        .map(|s| ScoreModel {
            base: rfc3339(s.base_ms),
            base_ms: s.base_ms,
            actual: rfc3339(s.actual_ms),
            actual_ms: s.actual_ms,
            blender: s.blender,
            features: s.features,
            mae: s.mae,
            rmse: s.rmse,
            naive_mae: s.naive_mae,
            naive_rmse: s.naive_rmse,
            skill: s.skill,
            drift: s.drift,
            diagonal_dominance: s.diagonal_dominance,
        })
        .collect();
    if r.csv {
        return Ok(csv(
            "base,actual,blender,mae,rmse,naive_mae,naive_rmse,skill,drift,diagonal_dominance",
            rows.iter().map(|s| {
                format!(
                    "{},{},{},{},{},{},{},{},{},{}",
                    s.base,
                    s.actual,
                    s.blender,
                    s.mae,
                    s.rmse,
                    s.naive_mae,
                    s.naive_rmse,
                    opt(s.skill),
                    opt(s.drift),
                    s.diagonal_dominance
                )
            }),
        ));
    }
    let q = r.query;
    Ok(json(&ScoresPage {
        product: q.product,
        granularity: interval_label(q.granularity_ms),
        pipeline: q.pipeline,
        rows,
        next_offset: next,
    }))
}

/// `GET /api/matrices/heatmap.png`.
#[utoipa::path(
    get,
    path = "/api/matrices/heatmap.png",
    tag = "matrices",
    summary = "The latest blended matrix as a PNG heatmap: diverging blue–white–red about zero, with a legend",
    params(MatrixHeatmapQuery),
    responses(
        (status = 200, description = "image/png", body = Binary, content_type = "image/png"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No blend yet", body = ErrorBody),
    )
)]
pub async fn heatmap(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: MatrixHeatmapQuery = parse_query(&raw)?;
    let query = MatrixQuery {
        pipeline: q.pipeline.unwrap_or_else(|| LIVE.to_string()),
        product: q.product,
        granularity_ms: granularity_of(q.granularity.as_deref())?,
        from_ms: None,
        to_ms: None,
        limit: 1,
        offset: 0,
        newest_first: true,
    };
    let Some(b) = state.store.matrix_blends(&query).await?.into_iter().next() else {
        return Err(ApiError::not_found("no_blend", format!("no blend of {} yet", query.product)));
    };
    let png = cgaf_trade::domain::heatmap::render_diverging(&b.matrix, b.size.max(0) as usize)
        .map_err(|e| ApiError::internal("heatmap", &e))?;
    Ok(bytes_with_type(png, "image/png"))
}

/// `GET /api/matrices/rolling`.
#[utoipa::path(
    get,
    path = "/api/matrices/rolling",
    tag = "matrices",
    summary = "Rolling forecast scores per product, granularity and blender (means over the newest scores)",
    params(RollingScoresQuery),
    responses(
        (status = 200, description = "Rolling scores", body = RollingScores),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn rolling(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: RollingScoresQuery = parse_query(&raw)?;
    let window = q.window.unwrap_or(100);
    if !(1..=100_000).contains(&window) {
        return Err(bad("window must be 1..=100000".into()));
    }
    let pipeline = q.pipeline.unwrap_or_else(|| LIVE.to_string());
    let scores = state
        .store
        .rolling_matrix_scores(&pipeline, window)
        .await?
        .into_iter()
        .map(|s| RollingScoreModel {
            granularity: interval_label(s.granularity_ms),
            product: s.product,
            blender: s.blender,
            n: s.n,
            mae: s.mae,
            rmse: s.rmse,
            naive_rmse: s.naive_rmse,
            skill: s.skill,
            drift: s.drift,
            diagonal_dominance: s.diagonal_dominance,
        })
        .collect();
    Ok(json(&RollingScores { pipeline, window, scores }))
}
