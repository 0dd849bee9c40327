//! API errors, always answered as JSON `{"error": {"status", "code", "message"}}`.

use crate::models::{ErrorBody, ErrorDetail};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `unknown_product`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds after which to retry (503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }
    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 503 with Retry-After.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        Self { retry_after: Some(retry_after), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }
    /// 500 for a failure inside the service; the details go to the log, not to the client.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{context} failed; see the service log"))
    }
}

impl From<cgaf_store::Error> for ApiError {
    fn from(e: cgaf_store::Error) -> Self {
        match &e {
            cgaf_store::Error::UnknownProduct(p) => {
                ApiError::not_found("unknown_product", format!("unknown product {p:?}"))
            }
            cgaf_store::Error::ProductExists(p) => {
                ApiError::new(StatusCode::CONFLICT, "product_exists", format!("product {p:?} exists already"))
            }
            cgaf_store::Error::ReplayExists(_) => ApiError::new(StatusCode::CONFLICT, "name_in_use", e.to_string()),
            cgaf_store::Error::ImportConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "import_conflict", e.to_string())
            }
            e if e.is_connection() => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable("database_unavailable", "the database is unavailable", 2)
            }
            e => ApiError::internal("database query", e),
        }
    }
}

impl warp::reject::Reject for ApiError {}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, status: self.status.as_u16() },
        };
        let mut res = warp::reply::with_status(warp::reply::json(&body), self.status).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut().insert(warp::http::header::RETRY_AFTER, s.into());
        }
        res
    }
}

/// Turns every rejection into a JSON error (never HTML, never an empty body).
pub async fn recover(rej: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let err = if let Some(e) = rej.find::<ApiError>() {
        e.clone()
    } else if rej.is_not_found() {
        ApiError::not_found("not_found", "no such route; see /api/openapi.json")
    } else if let Some(e) = rej.find::<warp::reject::MethodNotAllowed>() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", e.to_string())
    } else if let Some(e) = rej.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::bad_request("bad_body", format!("request body: {e}"))
    } else if let Some(e) = rej.find::<warp::reject::PayloadTooLarge>() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::UnsupportedMediaType>() {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::InvalidQuery>() {
        ApiError::bad_request("bad_query", e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::MissingHeader>() {
        ApiError::bad_request("missing_header", e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::InvalidHeader>() {
        ApiError::bad_request("bad_header", e.to_string())
    } else if let Some(e) = rej.find::<warp::reject::LengthRequired>() {
        ApiError::new(StatusCode::LENGTH_REQUIRED, "length_required", e.to_string())
    } else {
        ApiError::internal("request", &format!("{rej:?}"))
    };
    Ok(err.into_response())
}
