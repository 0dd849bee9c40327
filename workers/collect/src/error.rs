//! The error type of the market sources: what went wrong fetching one sample, and whether
//! retrying soon can help.

use std::time::Duration;

/// Longest body excerpt kept in [`SourceError::Status`].
pub const BODY_SNIPPET_LEN: usize = 256;

/// Why a market source could not produce a sample.
///
/// No variant is fatal for the worker: the caller logs it, backs off and tries again (see
/// [`SourceError::is_retryable`] for which errors are worth a quick retry).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The HTTP request failed below the HTTP layer: DNS, connection refused or reset, TLS, a
    /// broken body stream.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The URL that was requested (without credentials; the sources never use any).
        url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The request, or reading its body, took longer than the configured HTTP timeout.
    #[error("HTTP request to {url} timed out after {timeout:?}")]
    Timeout {
        /// The URL that was requested.
        url: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The server answered with a non-success status.
    #[error("HTTP {status} from {url}: {body_snippet}")]
    Status {
        /// The URL that was requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (at most [`BODY_SNIPPET_LEN`] characters).
        body_snippet: String,
    },
    /// The reply was not what the contract promises: invalid JSON, a missing or null field, a
    /// value of the wrong type or a price/size that is not a decimal number.
    #[error("cannot decode reply from {context}: {message}")]
    Decode {
        /// Where the reply came from (URL or source name).
        context: String,
        /// What was wrong, naming the field.
        message: String,
    },
    /// The order book has no asks or no bids, so there is no midpoint.
    #[error("the order book of {product} is empty ({side} side)")]
    EmptyBook {
        /// The product whose book was empty.
        product: String,
        /// `"ask"`, `"bid"` or `"both"`.
        side: &'static str,
    },
    /// The source settings are invalid (bad URL, depth out of range, ...).
    #[error("invalid source configuration: {0}")]
    Config(String),
}

impl SourceError {
    /// Whether retrying after a short backoff may succeed.
    ///
    /// True for transport errors, timeouts, 5xx/408/429 replies and empty books (a book that is
    /// being rebuilt after a reconnect). False for other 4xx replies (e.g. an unknown product),
    /// undecodable replies and configuration errors: those need a human or a new release, so a
    /// caller should keep running but back off to its longest interval.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Http { .. } | SourceError::Timeout { .. } => true,
            SourceError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            SourceError::EmptyBook { .. } => true,
            SourceError::Decode { .. } | SourceError::Config(_) => false,
        }
    }

    /// Builds a [`SourceError::Decode`].
    pub fn decode(context: impl Into<String>, message: impl Into<String>) -> Self {
        SourceError::Decode { context: context.into(), message: message.into() }
    }

    /// Builds a [`SourceError::Status`], cutting the body down to [`BODY_SNIPPET_LEN`] characters.
    pub fn status(url: impl Into<String>, status: u16, body: &str) -> Self {
        let mut body_snippet: String = body.trim().chars().take(BODY_SNIPPET_LEN).collect();
        if body.trim().chars().count() > BODY_SNIPPET_LEN {
            body_snippet.push('…');
        }
        SourceError::Status { url: url.into(), status, body_snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(SourceError::status("u", 503, "").is_retryable());
        assert!(SourceError::status("u", 429, "").is_retryable());
        assert!(!SourceError::status("u", 400, "").is_retryable());
        assert!(!SourceError::status("u", 404, "").is_retryable());
        assert!(!SourceError::decode("u", "bad").is_retryable());
        assert!(!SourceError::Config("x".into()).is_retryable());
        assert!(SourceError::Timeout { url: "u".into(), timeout: Duration::from_millis(1) }.is_retryable());
        assert!(SourceError::EmptyBook { product: "BTC-USD".into(), side: "ask" }.is_retryable());
    }

    #[test]
    fn status_snippet_is_bounded() {
        let body = "x".repeat(1000);
        match SourceError::status("u", 500, &body) {
            SourceError::Status { body_snippet, .. } => {
                assert_eq!(body_snippet.chars().count(), BODY_SNIPPET_LEN + 1)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
