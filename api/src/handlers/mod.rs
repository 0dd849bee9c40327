//! Route handlers, one module per area. Each takes what its route's filters extract and
//! answers with a model of [`crate::models`] or an [`ApiError`].

pub mod canaries;
pub mod history;
pub mod images;
pub mod kill_switch;
pub mod matrices;
pub mod matrix_sweeps;
pub mod ops;
pub mod plugins;
pub mod products;
pub mod runs;
pub mod sweeps;

use crate::{ApiError, ApiState};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// Checks an `Authorization: Bearer <token>` header against the API token.
pub(crate) fn authorize(state: &ApiState, auth: Option<String>) -> Result<(), ApiError> {
    let Some(auth) = auth else {
        return Err(ApiError::unauthorized("this route needs 'Authorization: Bearer <token>'"));
    };
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?;
    if !state.token_matches(token.trim()) {
        return Err(ApiError::unauthorized("invalid token"));
    }
    Ok(())
}

/// The process's plugin host, or 503 when it runs none.
pub(crate) fn host(state: &ApiState) -> Result<Arc<cgaf_runtime::PluginHost>, ApiError> {
    state
        .plugins
        .clone()
        .ok_or_else(|| ApiError::unavailable("plugins_unavailable", "this process runs no plugin host", 5))
}

/// A JSON request body as `T` (400 `bad_body` when it is not).
pub(crate) fn parse_json<T: DeserializeOwned>(body: Result<Bytes, ApiError>) -> Result<T, ApiError> {
    let body = body?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("bad_body", format!("request body: {e}")))
}

/// The query string as `T` (400 `bad_query` when it is not).
pub(crate) fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw).map_err(|e| ApiError::bad_request("bad_query", format!("query string: {e}")))
}

/// `model` as a JSON answer with `status`.
pub(crate) fn json_with_status<T: Serialize>(model: &T, status: StatusCode) -> Response {
    warp::reply::with_status(warp::reply::json(model), status).into_response()
}

/// `model` as a JSON answer (200).
pub(crate) fn json<T: Serialize>(model: &T) -> Response {
    warp::reply::json(model).into_response()
}

/// A body streamed from `parts` as they come (an error ends the answer early), with a static
/// content type: long CSV exports, page by page.
pub(crate) fn streamed(
    parts: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    content_type: &'static str,
) -> Response {
    let stream = futures::stream::unfold(parts, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut r = warp::reply::stream(stream).into_response();
    r.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static(content_type));
    r
}

/// `bytes` answered with a static content type.
pub(crate) fn bytes_with_type(bytes: impl Into<Bytes>, content_type: &'static str) -> Response {
    let mut r = Response::new(bytes.into().into());
    r.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static(content_type));
    r
}
