//! The web page at `GET /`: plain HTML, CSS and ES modules from `api/ui/`, embedded in the
//! binary (no build step, no CDN), answered with strong ETags and a strict
//! Content-Security-Policy. Off with `--ui=false` (`/` and `/ui/*` are then 404).

use crate::models::ErrorBody;
use crate::{ApiError, ApiState};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// The policy of every page answer: nothing inline, nothing from elsewhere; images also from
/// `data:` and `blob:` URLs (the live images are fetched and shown as blobs).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// One embedded file of the page.
#[derive(Debug)]
pub struct Asset {
    /// File name, as in `/ui/{name}`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $name)),
        }
    };
}

/// Every file of the page.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("images.js", "text/javascript; charset=utf-8"),
    asset!("runs.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    asset!("leaderboard.js", "text/javascript; charset=utf-8"),
    asset!("sweeps.js", "text/javascript; charset=utf-8"),
    asset!("plugins.js", "text/javascript; charset=utf-8"),
    asset!("health.js", "text/javascript; charset=utf-8"),
    asset!("matrices.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The quoted strong ETag of each asset, by [`ASSETS`] index.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..16]))).collect())
}

fn disabled() -> ApiError {
    ApiError::not_found("ui_disabled", "the web page is off (--ui=false)")
}

fn secure(headers: &mut warp::http::HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The answer for asset `name`: 304 when `If-None-Match` holds its ETag.
fn answer(name: &str, inm: Option<&str>) -> Result<Response, ApiError> {
    let idx = ASSETS
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found("unknown_asset", format!("the page has no file {name:?}")))?;
    let asset = &ASSETS[idx];
    let etag = &etags()[idx];
    let matches =
        inm.is_some_and(|h| h.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag));
    let mut res = if matches {
        warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response()
    } else {
        crate::handlers::bytes_with_type(asset.body, asset.content_type)
    };
    let h = res.headers_mut();
    // Revalidated on every load (cheap with the ETag), so a new binary's page is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = etag.parse() {
        h.insert(header::ETAG, v);
    }
    secure(h);
    Ok(res)
}

/// `GET /`: the page.
#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    summary = "The web page (HTML; off with --ui=false)",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer")),
    responses(
        (status = 200, description = "The page, with a Content-Security-Policy", content_type = "text/html"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "The page is off (--ui=false)", body = ErrorBody),
    )
)]
pub async fn page(state: Arc<ApiState>, inm: Option<String>) -> Result<Response, ApiError> {
    if !state.ui {
        return Err(disabled());
    }
    answer("index.html", inm.as_deref())
}

/// `GET /ui/{asset}`: a file of the page (script, style sheet, icon).
#[utoipa::path(
    get,
    path = "/ui/{asset}",
    tag = "ui",
    summary = "A file of the web page",
    params(
        ("asset" = String, Path, description = "File name, e.g. `app.js`"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer"),
    ),
    responses(
        (status = 200, description = "The file, with its Content-Type"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such file, or the page is off", body = ErrorBody),
    )
)]
pub async fn asset(name: String, state: Arc<ApiState>, inm: Option<String>) -> Result<Response, ApiError> {
    if !state.ui {
        return Err(disabled());
    }
    answer(&name, inm.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_referenced_and_nothing_is_inline() {
        let index = std::str::from_utf8(ASSETS[0].body).unwrap();
        for a in &ASSETS[1..] {
            let referenced = ASSETS.iter().any(|b| std::str::from_utf8(b.body).unwrap_or("").contains(a.name));
            assert!(referenced, "{} is embedded but no file refers to it", a.name);
        }
        assert!(!index.contains("<script>") && !index.contains("style="), "inline script or style in index.html");
        for a in ASSETS {
            // Nothing from elsewhere: the only absolute URL allowed is the SVG namespace name.
            let text = std::str::from_utf8(a.body).unwrap_or("").replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://") && !text.contains("https://"), "{} refers to another site", a.name);
        }
    }

    #[test]
    fn etags_are_strong_and_distinct() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        let unique: std::collections::BTreeSet<_> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len());
        assert!(tags.iter().all(|t| t.starts_with('"') && !t.starts_with("W/")));
    }
}
