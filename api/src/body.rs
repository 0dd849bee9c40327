//! Request bodies that are not read into memory: the unread body stream, and a body written to a
//! temporary file as it arrives (CSV imports).

use crate::ApiError;
use bytes::Bytes;
use warp::http::StatusCode;

/// A request body as it arrives, not read yet.
pub type BodyStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// `stream` (warp's body) as a [`BodyStream`] of byte chunks.
pub(crate) fn boxed_body<S, B>(stream: S) -> BodyStream
where
    S: futures::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: warp::Buf,
{
    use futures::StreamExt;
    Box::pin(stream.map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining()))))
}

/// 413: the body is larger than `max` bytes.
pub(crate) fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is larger than {max} bytes"),
    )
}

/// Writes a request body of up to `max` bytes to a temporary file (deleted when dropped) as it
/// arrives, so memory holds a chunk at a time.
pub(crate) async fn spool_body(body: BodyStream, max: u64) -> Result<tempfile::NamedTempFile, ApiError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let spool = tempfile::Builder::new()
        .prefix("cgaf-body-")
        .tempfile()
        .map_err(|e| ApiError::internal("creating a file for the body", &e))?;
    let file = spool.reopen().map_err(|e| ApiError::internal("opening the body's file", &e))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut body = body;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("bad_body", format!("reading the body: {e}")))?;
        written += chunk.len() as u64;
        if written > max {
            return Err(too_large(max));
        }
        out.write_all(&chunk).await.map_err(|e| ApiError::internal("writing the body to its file", &e))?;
    }
    out.flush().await.map_err(|e| ApiError::internal("writing the body to its file", &e))?;
    tracing::debug!(bytes = written, file = %spool.path().display(), "request body written to a file");
    Ok(spool)
}
