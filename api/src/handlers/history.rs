//! The market history: what is stored, bars as paged JSON or streamed CSV, and CSV imports.

use super::{authorize, json, json_with_status, parse_query};
use crate::body::{spool_body, BodyStream};
use crate::models::{
    BarsPage, BarsQuery, ErrorBody, HistoryBarModel, HistoryCoverage, HistoryRange, ImportQuery, ImportReportModel,
};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_trade::domain::history::{
    interval_label, write_bars_csv_header, write_bars_csv_rows, CsvImportOptions, TimeIs,
};
use cgaf_trade::domain::{parse_interval, parse_time};
use cgaf_trade::{import_csv, CsvImport, CsvImportTarget};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

/// Bars per JSON page by default, and at most.
const DEFAULT_PAGE: i64 = 10_000;
const MAX_PAGE: i64 = 50_000;

fn rfc3339(ms: i64) -> String {
    cgaf_trade::domain::history::rfc3339(ms)
}

fn interval_of(v: Option<&str>) -> Result<i64, ApiError> {
    parse_interval(v.unwrap_or("1m")).map_err(|e| ApiError::bad_request("bad_query", format!("interval: {e}")))
}

fn time_of(v: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    v.map(|v| parse_time(v).map_err(|e| ApiError::bad_request("bad_query", format!("{name}: {e}")))).transpose()
}

/// `GET /api/history`.
#[utoipa::path(
    get,
    path = "/api/history",
    tag = "history",
    summary = "What the market-history store holds per product and interval: first, last, bars, missing bars and gaps",
    responses((status = 200, description = "Coverage", body = HistoryCoverage))
)]
pub async fn coverage(state: Arc<ApiState>) -> Result<Response, ApiError> {
    let ranges = state
        .store
        .history_coverage(None)
        .await?
        .into_iter()
        .map(|r| HistoryRange {
            interval: interval_label(r.interval_ms),
            first: rfc3339(r.first_ms - r.interval_ms),
            last: rfc3339(r.last_ms),
            product: r.product,
            interval_ms: r.interval_ms,
            count: r.count,
            missing: r.missing,
            gaps: r.gaps,
        })
        .collect();
    Ok(json(&HistoryCoverage { ranges }))
}

/// `GET /api/history/bars`.
#[utoipa::path(
    get,
    path = "/api/history/bars",
    tag = "history",
    summary = "Stored bars of a product and interval: a page of JSON (follow next_after) or the whole range as streamed CSV",
    params(BarsQuery),
    responses(
        (status = 200, description = "A page of bars (JSON) or text/csv", body = BarsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn bars(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: BarsQuery = parse_query(&raw)?;
    let interval = interval_of(q.interval.as_deref())?;
    let from = time_of(q.from.as_deref(), "from")?;
    let to = time_of(q.to.as_deref(), "to")?.unwrap_or(i64::MAX / 4);
    // Bars lying wholly inside [from, to): closes after the first boundary at or after `from`.
    let start = from.map_or(0, |f| (f + interval - 1).div_euclid(interval) * interval);
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let limit = q.limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(ApiError::bad_request("bad_query", format!("limit must be 1..={MAX_PAGE}")));
            }
            let after = q.after.unwrap_or(start).max(start);
            let page = state.store.stored_bars_page(&q.product, interval, after, to, limit).await?;
            let next_after = (page.len() as i64 == limit).then(|| page.last().map(|b| b.bar.close_ms)).flatten();
            let bars = page
                .into_iter()
                .map(|s| HistoryBarModel {
                    close_ms: s.bar.close_ms,
                    open: s.bar.open,
                    high: s.bar.high,
                    low: s.bar.low,
                    close: s.bar.close,
                    volume: s.bar.volume,
                    buy_volume: s.bar.buy_volume,
                    sell_volume: s.bar.sell_volume,
                    sample_count: s.bar.sample_count,
                    origin: s.origin.to_string(),
                    source: s.source,
                })
                .collect();
            Ok(json(&BarsPage { product: q.product, interval: interval_label(interval), bars, next_after }))
        }
        "csv" => Ok(csv_stream(state, q.product, interval, start, to)),
        other => Err(ApiError::bad_request("bad_query", format!("format must be json or csv, not {other:?}"))),
    }
}

/// The bars of a range as CSV, page by page, while the client reads.
fn csv_stream(state: Arc<ApiState>, product: String, interval: i64, start: i64, to: i64) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut after = start;
        let mut first = true;
        loop {
            let page = match state.store.bars_page(&product, interval, after, to, MAX_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            // The header once, then each page's rows.
            let mut buf = Vec::new();
            let header = if first { write_bars_csv_header(&mut buf, TimeIs::Open) } else { Ok(()) };
            if let Err(e) = header.and_then(|()| write_bars_csv_rows(&mut buf, &page, interval, TimeIs::Open)) {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
            first = false;
            if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return;
            }
            match page.last() {
                Some(last) if page.len() as i64 == MAX_PAGE => after = last.close_ms,
                _ => return,
            }
        }
    });
    super::streamed(rx, "text/csv")
}

/// `POST /api/history/imports`.
#[utoipa::path(
    post,
    path = "/api/history/imports",
    tag = "history",
    summary = "Import a CSV of bars (as `cgaf history import`): in one transaction, collected bars never overwritten",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 201, description = "Imported", body = ImportReportModel),
        (status = 400, description = "A bad row (line and column named) or query; nothing written", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "Imported bars are stored with other values (pass replace=true)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
pub async fn import(
    state: Arc<ApiState>,
    raw: String,
    auth: Option<String>,
    body: BodyStream,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let q: ImportQuery = parse_query(&raw)?;
    let interval = interval_of(q.interval.as_deref())?;
    let time_is: TimeIs = q
        .time_is
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(|e| ApiError::bad_request("bad_query", format!("time_is: {e}")))?;
    // The body goes to a file as it arrives, and is imported from there as `cgaf history
    // import` imports a file: streamed in batches when it can be, so memory stays bounded.
    let spool = spool_body(body, state.max_import_bytes).await?;
    let options = CsvImportOptions { interval_ms: interval, time_is, skip_bad: q.skip_bad.unwrap_or(false) };
    let source = q.source.clone().unwrap_or_else(|| "csv:api".into());
    let target = CsvImportTarget {
        product: &q.product,
        source: &source,
        rollups: &state.rollup_intervals,
        replace: q.replace.unwrap_or(false),
    };
    let CsvImport { file, report, parse_s } =
        import_csv(&state.store, spool.path(), "the CSV", options, &target, None).await.map_err(|e| match e {
            cgaf_trade::Error::BadCsv(m) => ApiError::bad_request("bad_csv", m),
            cgaf_trade::Error::Store(e) => ApiError::from(e),
            e => ApiError::internal("import", &e),
        })?;
    let model = ImportReportModel {
        product: q.product,
        interval: interval_label(interval),
        rows_read: file.rows_read,
        bars: file.bars,
        skipped_bad_rows: file.skipped_count,
        skipped: file.skipped,
        duplicates_dropped: file.duplicates_dropped,
        written: report.written,
        unchanged: report.unchanged,
        kept_collected: report.kept_collected,
        rolled_up: report.rolled_up,
        blocks: report.blocks,
        streamed: parse_s.is_none(),
    };
    Ok(json_with_status(&model, StatusCode::CREATED))
}
