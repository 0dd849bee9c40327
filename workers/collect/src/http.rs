//! The HTTP plumbing shared by the REST sources: one `reqwest` client per source with a timeout and
//! a `User-Agent`, URL building that tolerates a trailing slash, and GET-as-JSON with every failure
//! mapped to a [`SourceError`] variant.

use crate::decode::Ctx;
use crate::error::SourceError;
use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use serde_json::Value;
use std::time::Duration;

/// The `User-Agent` the REST sources send: `cgaf/<crate version>`.
pub const USER_AGENT: &str = concat!("cgaf/", env!("CARGO_PKG_VERSION"));

/// Largest reply body accepted (a full level-2 book of a busy product is a few MB).
pub(crate) const MAX_BODY: usize = 32 * 1024 * 1024;

/// A client for one REST base URL.
#[derive(Debug, Clone)]
pub(crate) struct HttpJson {
    client: Client,
    base: Url,
    timeout: Duration,
}

/// A decoded JSON reply and its headers.
#[derive(Debug)]
pub(crate) struct JsonReply {
    pub(crate) url: String,
    pub(crate) body: Value,
    pub(crate) headers: HeaderMap,
}

/// A reply of any status, its body read but not decoded.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl HttpJson {
    /// Validates `base` (http or https, no query) and builds the client.
    pub(crate) fn new(base: &str, timeout: Duration) -> Result<Self, SourceError> {
        if timeout.is_zero() {
            return Err(SourceError::Config("the HTTP timeout must be positive".into()));
        }
        let base = parse_base_url(base)?;
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| SourceError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, base, timeout })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `base` + path `segments` (each percent-encoded as needed) + `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            // A base with a host is never "cannot-be-a-base" (checked in `parse_base_url`).
            let mut path = url.path_segments_mut().expect("http(s) URL has a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// GETs `url` and decodes the body as JSON; non-2xx replies become [`SourceError::Status`].
    pub(crate) async fn get_json(&self, url: Url) -> Result<JsonReply, SourceError> {
        let reply = self.get(url).await?;
        if !(200..300).contains(&reply.status) {
            return Err(SourceError::status(&reply.url, reply.status, &String::from_utf8_lossy(&reply.body)));
        }
        if reply.body.len() > MAX_BODY {
            return Err(SourceError::decode(&reply.url, format!("reply larger than {MAX_BODY} bytes")));
        }
        let value = Ctx(&reply.url).parse(&reply.body)?;
        Ok(JsonReply { url: reply.url, body: value, headers: reply.headers })
    }

    /// GETs `url` and reads the body (at most a little past [`MAX_BODY`]) whatever the status;
    /// only transport failures are errors. For callers that treat some statuses specially.
    pub(crate) async fn get(&self, url: Url) -> Result<RawReply, SourceError> {
        let shown = url.to_string();
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(response).await.map_err(|e| self.transport_error(&shown, e))?;
        Ok(RawReply { url: shown, status, headers, body })
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> SourceError {
        if e.is_timeout() {
            SourceError::Timeout { url: url.to_owned(), timeout: self.timeout }
        } else {
            SourceError::Http { url: url.to_owned(), source: e }
        }
    }
}

/// Reads the body, stopping a little past [`MAX_BODY`] so a runaway reply cannot eat memory.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// Parses and checks a base URL: absolute, http or https, with a host.
pub(crate) fn parse_base_url(base: &str) -> Result<Url, SourceError> {
    let url = Url::parse(base.trim()).map_err(|e| SourceError::Config(format!("invalid source URL {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SourceError::Config(format!("source URL {base:?} must be http or https")));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(SourceError::Config(format!("source URL {base:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SourceError::Config(format!("source URL {base:?} must not have a query or fragment")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_trailing_slash() {
        for base in ["http://coinbase-local:4201", "http://coinbase-local:4201/"] {
            let h = HttpJson::new(base, Duration::from_secs(1)).unwrap();
            let u = h.url(&["api", "orderBook", "interval"], &[("product", "BTC-USD".into())]);
            assert_eq!(u.as_str(), "http://coinbase-local:4201/api/orderBook/interval?product=BTC-USD");
        }
        let h = HttpJson::new("https://example.com/prefix/", Duration::from_secs(1)).unwrap();
        let u = h.url(&["products", "BTC-USD", "book"], &[("level", "2".into())]);
        assert_eq!(u.as_str(), "https://example.com/prefix/products/BTC-USD/book?level=2");
        let u = h.url(&["products", "A/B", "book"], &[]);
        assert_eq!(u.as_str(), "https://example.com/prefix/products/A%2FB/book");
    }

    #[test]
    fn bad_base_urls() {
        for bad in ["", "coinbase-local:4201", "ftp://x", "http://x/?a=1", "mailto:a@b"] {
            assert!(matches!(HttpJson::new(bad, Duration::from_secs(1)), Err(SourceError::Config(_))), "{bad}");
        }
        assert!(matches!(HttpJson::new("http://x", Duration::ZERO), Err(SourceError::Config(_))));
    }
}
