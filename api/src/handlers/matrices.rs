//! The matrix pipeline: transitions, blends, forecasts and scores by product, granularity and
//! time range (paged JSON or CSV), the latest blend as a heatmap PNG, rolling scores, and the
//! live stream of new blends (server-sent events, resumable by event id).

use super::{bytes_with_type, json, parse_query};
use crate::blend_events::BlendWakeup;
use crate::models::{
    Binary, BlendEventModel, BlendModel, BlendsPage, ErrorBody, ForecastModel, ForecastsPage, MatrixHeatmapQuery,
    MatrixRowsQuery, MatrixStreamQuery, RollingScoreModel, RollingScores, RollingScoresQuery, ScoreModel, ScoresPage,
    TransitionModel, TransitionsPage,
};
use crate::{ApiError, ApiState};
use cgaf_store::matrices::LIVE;
use cgaf_store::MatrixQuery;
use cgaf_trade::domain::history::interval_label;
use cgaf_trade::domain::{parse_interval, parse_time};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use warp::reply::Response;
use warp::sse::Event;
use warp::Reply as _;

/// Rows per page by default, and at most.
const DEFAULT_PAGE: i64 = 1_000;
const MAX_PAGE: i64 = 10_000;

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

/// A row model of the row routes: made from its store row, written as one CSV line, paged.
trait RowModel: Sized + serde::Serialize {
    /// The store's row.
    type Row;
    /// The JSON page of these rows.
    type Page: serde::Serialize;
    /// The CSV header line.
    const CSV_HEADER: &'static str;
    /// One CSV line.
    fn csv_line(&self) -> String;
    /// The page of `rows` read by `q`.
    fn page(q: MatrixQuery, rows: Vec<Self>, next_offset: Option<i64>) -> Self::Page;
}

/// The page of every row route: product, granularity and pipeline of the query, the rows, and
/// the next page's offset.
macro_rules! page {
    ($page:ident) => {
        fn page(q: MatrixQuery, rows: Vec<Self>, next_offset: Option<i64>) -> $page {
            $page {
                product: q.product,
                granularity: interval_label(q.granularity_ms),
                pipeline: q.pipeline,
                rows,
                next_offset,
            }
        }
    };
}

impl RowModel for TransitionModel {
    type Row = cgaf_store::TransitionRow;
    type Page = TransitionsPage;
    const CSV_HEADER: &'static str = "t0,t1,mode,features,size,residual,matrix";
    fn csv_line(&self) -> String {
        let t = self;
        format!("{},{},{},\"{}\",{},{},{}", t.t0, t.t1, t.mode, t.features, t.size, t.residual, vector(&t.matrix))
    }
    page!(TransitionsPage);
}

impl RowModel for BlendModel {
    type Row = cgaf_store::BlendRow;
    type Page = BlendsPage;
    const CSV_HEADER: &'static str =
        "t1,blender,blender_version,k,matrices,features,size,drift,diagonal_dominance,w,matrix";
    fn csv_line(&self) -> String {
        let b = self;
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
    }
    page!(BlendsPage);
}

impl RowModel for ForecastModel {
    type Row = cgaf_store::ForecastRow;
    type Page = ForecastsPage;
    const CSV_HEADER: &'static str = "base,blender,features,forecast";
    fn csv_line(&self) -> String {
        format!("{},{},\"{}\",{}", self.base, self.blender, self.features, vector(&self.forecast))
    }
    page!(ForecastsPage);
}

impl RowModel for ScoreModel {
    type Row = cgaf_store::ScoreRow;
    type Page = ScoresPage;
    const CSV_HEADER: &'static str = "base,actual,blender,mae,rmse,naive_mae,naive_rmse,skill,drift,diagonal_dominance";
    fn csv_line(&self) -> String {
        let s = self;
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
    }
    page!(ScoresPage);
}

/// Every row route: the query string → the store's page of rows (`read`) → the models, as a
/// JSON page or CSV.
async fn rows_page<M, F, Fut>(raw: &str, read: F) -> Result<Response, ApiError>
where
    M: RowModel + From<M::Row>,
    F: FnOnce(MatrixQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<M::Row>, cgaf_store::Error>>,
{
    let r = rows_request(raw)?;
    let rows = read(r.query.clone()).await?;
    let next = next_offset(&r.query, rows.len());
    let rows: Vec<M> = rows.into_iter().map(M::from).collect();
    if r.csv {
        return Ok(csv(M::CSV_HEADER, rows.iter().map(M::csv_line)));
    }
    Ok(json(&M::page(r.query, rows, next)))
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
    rows_page::<TransitionModel, _, _>(&raw, |q| async move { state.store.matrix_transitions(&q).await }).await
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
    rows_page::<BlendModel, _, _>(&raw, |q| async move { state.store.matrix_blends(&q).await }).await
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
    rows_page::<ForecastModel, _, _>(&raw, |q| async move { state.store.matrix_forecasts(&q).await }).await
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
    rows_page::<ScoreModel, _, _>(&raw, |q| async move { state.store.matrix_scores(&q).await }).await
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

/// Blends read per wake-up, at most (a resuming client gets the rest on the next read).
const STREAM_PAGE: i64 = 500;
/// Comment lines keep idle streams open through proxies.
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Longest wait between retries of a failed read.
const STREAM_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One client's place in the blend stream: the last id sent, and what is read but not yet sent.
struct BlendFollower {
    store: cgaf_store::Store,
    product: String,
    granularity_ms: i64,
    /// The last id sent (at connection: the resume id, or the newest id then).
    after: i64,
    /// True when the table may hold rows after `after`.
    stale: bool,
    wakeups: broadcast::Receiver<BlendWakeup>,
    ready: VecDeque<cgaf_store::StoredBlend>,
}

impl BlendFollower {
    /// The next blend to send: waits for a wake-up and reads the table after the last id sent;
    /// retries failed reads with capped backoff, so a lost database connection only delays.
    async fn next(&mut self) -> cgaf_store::StoredBlend {
        let mut backoff = Duration::from_millis(100);
        loop {
            if let Some(b) = self.ready.pop_front() {
                return b;
            }
            if !self.stale {
                match self.wakeups.recv().await {
                    Ok(BlendWakeup::Product(p)) => self.stale = p == self.product,
                    Ok(BlendWakeup::All) | Err(broadcast::error::RecvError::Lagged(_)) => self.stale = true,
                    Err(broadcast::error::RecvError::Closed) => {
                        // No listener any more: poll the table.
                        tokio::time::sleep(STREAM_MAX_BACKOFF).await;
                        self.stale = true;
                    }
                }
                continue;
            }
            match self
                .store
                .matrix_blends_after(LIVE, &self.product, self.granularity_ms, self.after, STREAM_PAGE)
                .await
            {
                Ok(rows) => {
                    self.stale = rows.len() as i64 == STREAM_PAGE;
                    if let Some(last) = rows.last() {
                        self.after = last.id;
                    }
                    self.ready.extend(rows);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    tracing::warn!(product = %self.product, error = %e, "blend stream: reading blends; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(STREAM_MAX_BACKOFF);
                }
            }
        }
    }
}

fn blend_event(b: cgaf_store::StoredBlend) -> Event {
    let id = b.id;
    let model = BlendEventModel::from(b);
    Event::default().id(id.to_string()).event("blend").data(serde_json::to_string(&model).unwrap_or_default())
}

/// `GET /api/matrices/stream`.
#[utoipa::path(
    get,
    path = "/api/matrices/stream",
    tag = "matrices",
    summary = "New live blends of a product and granularity as server-sent events (event `blend`, id = the blend's id); \
               with Last-Event-ID (header or query) the blends after that id come first",
    params(
        MatrixStreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "text/event-stream of `blend` events (each `data:` one BlendEventModel) and keep-alive comments",
         body = BlendEventModel, content_type = "text/event-stream"),
        (status = 400, description = "Bad query or Last-Event-ID", body = ErrorBody),
        (status = 503, description = "Database unavailable (the client retries)", body = ErrorBody),
    )
)]
pub async fn stream(state: Arc<ApiState>, raw: String, last_event_id: Option<String>) -> Result<Response, ApiError> {
    let q: MatrixStreamQuery = parse_query(&raw)?;
    let granularity_ms = granularity_of(q.granularity.as_deref())?;
    let resume = match last_event_id.as_deref().map(str::trim) {
        Some(h) => Some(h.parse::<i64>().map_err(|_| bad(format!("Last-Event-ID {h:?} is not an event id")))?),
        None => q.last_event_id,
    };
    // Subscribe before fixing the position, so no blend falls between the two.
    let wakeups = state.blend_wakeups.subscribe();
    let after = match resume {
        Some(id) => id,
        None => state.store.matrix_blend_newest_id(LIVE, &q.product, granularity_ms).await?,
    };
    let mut follower = BlendFollower {
        store: state.store.clone(),
        product: q.product,
        granularity_ms,
        after,
        stale: resume.is_some(),
        wakeups,
        ready: VecDeque::new(),
    };
    // The follower runs as a task of its own (warp wants a `Sync` stream; the database futures
    // are not) and ends when the client goes away.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                b = follower.next() => {
                    if tx.send(blend_event(b)).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    let events = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    Ok(warp::sse::reply(warp::sse::keep_alive().interval(STREAM_KEEP_ALIVE).stream(events)).into_response())
}
