//! `GET /api/gaf/image` (the original crypto-gaf's JSON; `br`- or gzip-encoded for clients that
//! accept it) and `GET /api/gaf/image.png`, both from the in-memory cache, with strong ETags; and
//! `GET /api/gaf/events`, a server-sent-event stream of "images changed" fed by the cache.

use super::parse_query;
use crate::cache::{self, CachedProduct};
use crate::gzip::{accepts_br, accepts_gzip};
use crate::models::{Binary, ErrorBody, EventsQuery, GafImage, ImageQuery, ImageVersion, ImagesChanged, PngQuery};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_store::products::validate_product_id;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// The `product` query parameter, checked.
fn required_product(product: Option<String>) -> Result<String, ApiError> {
    let p = product.ok_or_else(|| ApiError::bad_request("missing_product", "query parameter 'product' is required"))?;
    validate_product_id(&p).map_err(|m| ApiError::bad_request("bad_product", m))?;
    Ok(p)
}

/// True when an `If-None-Match` header matches `etag` (weak comparison, `*` matches).
fn etag_matches(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(h) = if_none_match else { return false };
    h.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn not_modified(etag: &str) -> Response {
    let mut r = warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response();
    if let Ok(v) = etag.parse() {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The cache entry of `product`: 404 when unknown, 503 while the cache loads.
pub(crate) fn product_entry(state: &ApiState, product: &str) -> Result<Arc<CachedProduct>, ApiError> {
    state.cache.get(product).ok_or_else(|| {
        if state.cache.is_loaded() {
            ApiError::not_found("unknown_product", format!("unknown product {product:?}; see /api/products"))
        } else {
            ApiError::unavailable("starting", "the image cache is loading", 1)
        }
    })
}

fn not_computed(product: &str) -> ApiError {
    ApiError::unavailable(
        "not_computed",
        format!("images of {product} are not computed yet: they need at least 21 samples"),
        1,
    )
}

/// `GET /api/gaf/image?product=`: the cached body with the response time as `date`.
#[utoipa::path(
    get,
    path = "/api/gaf/image",
    tag = "images",
    summary = "The latest images of a product (the original crypto-gaf JSON)",
    params(
        ImageQuery,
        ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer"),
        ("Accept-Encoding" = Option<String>, Header, description = "`br` or `gzip` to get the answer compressed (once per change, when first asked for; `br` preferred, about 0.75 of the size, gzip 0.77; uncompressed until the compressed form is made)"),
    ),
    responses(
        (status = 200, description = "Images", body = GafImage, headers(("ETag" = String, description = "Strong ETag over the content (the date excluded)"))),
        (status = 304, description = "Not modified (If-None-Match matched the content ETag)"),
        (status = 400, description = "Missing or malformed product", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 503, description = "Not computed yet (fewer than 21 samples); see Retry-After", body = ErrorBody),
    )
)]
pub async fn gaf_image(
    state: Arc<ApiState>,
    raw: String,
    inm: Option<String>,
    accept_encoding: Option<String>,
) -> Result<Response, ApiError> {
    let q: ImageQuery = parse_query(&raw)?;
    let product = required_product(q.product)?;
    let entry = product_entry(&state, &product)?;
    let images = entry.images.clone().ok_or_else(|| not_computed(&product))?;
    // `br` for a client that accepts it, else gzip for one that accepts that; each form is made
    // once per change, when first asked for, and the answer is plain until it is made. A client
    // accepting both never makes the gzip form: brotli at quality 1 is the cheaper of the two
    // to make and no larger.
    let enc = accept_encoding.as_deref();
    let (br, gzip) = if accepts_br(enc) {
        (images.br(), None)
    } else if accepts_gzip(enc) {
        (None, images.gzip())
    } else {
        (None, None)
    };
    let (etag, coding) = match (br, gzip) {
        (Some(_), _) => (&images.br_etag, Some("br")),
        (None, Some(_)) => (&images.gzip_etag, Some("gzip")),
        (None, None) => (&images.etag, None),
    };
    if [&images.etag, &images.gzip_etag, &images.br_etag].iter().any(|t| etag_matches(inm.as_deref(), t)) {
        let mut r = not_modified(etag);
        r.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        return Ok(r);
    }
    let tail = GafImage::json_suffix(chrono::Utc::now());
    // The cached part is shared, never copied; only the date is made per answer.
    let (head, rest, len) = match (br, gzip) {
        (Some(b), _) => (b.head(), b.tail(tail.as_bytes()), b.answer_len(tail.len())),
        (None, Some(g)) => (g.head(), g.tail(tail.as_bytes()), g.answer_len(tail.len())),
        (None, None) => (images.json_prefix.clone(), Bytes::from(tail.clone()), images.json_prefix.len() + tail.len()),
    };
    let chunks = [Ok::<_, Infallible>(head), Ok(rest)];
    let mut res = warp::reply::stream(futures::stream::iter(chunks)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    if let Ok(v) = etag.parse() {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

/// `GET /api/gaf/image.png?product=&image=`: one image as PNG.
#[utoipa::path(
    get,
    path = "/api/gaf/image.png",
    tag = "images",
    summary = "One image of a product as PNG",
    params(PngQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer")),
    responses(
        (status = 200, description = "PNG", content_type = "image/png", body = Binary, headers(("ETag" = String))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 503, description = "Not computed yet", body = ErrorBody),
    )
)]
pub async fn gaf_png(state: Arc<ApiState>, raw: String, inm: Option<String>) -> Result<Response, ApiError> {
    let q: PngQuery = parse_query(&raw)?;
    let product = required_product(q.product)?;
    let name = q.image.as_deref().unwrap_or("midpoint-gadf");
    let idx = cache::IMAGE_NAMES.iter().position(|n| *n == name).ok_or_else(|| {
        ApiError::bad_request("bad_image", format!("unknown image {name:?}; one of {}", cache::IMAGE_NAMES.join(", ")))
    })?;
    let entry = product_entry(&state, &product)?;
    let images = entry.images.clone().ok_or_else(|| not_computed(&product))?;
    let png = images.pngs[idx]
        .clone()
        .ok_or_else(|| ApiError::internal("decoding a stored image", &"invalid base64 in crypto_gaf.gafs"))?;
    if etag_matches(inm.as_deref(), &png.etag) {
        return Ok(not_modified(&png.etag));
    }
    let mut res = super::bytes_with_type(png.bytes, "image/png");
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = png.etag.parse() {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

/// How often an idle event stream sends a comment, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before it reconnects a dropped event stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The events of one stream, as the stream warp sends.
struct EventStream(tokio::sync::mpsc::Receiver<warp::sse::Event>);

impl futures::Stream for EventStream {
    type Item = Result<warp::sse::Event, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// What an `images` event says about `product` now.
fn images_changed(state: &ApiState, product: &str) -> ImagesChanged {
    let entry = state.cache.get(product);
    let computed = entry.as_ref().and_then(|e| e.images.clone());
    let images = computed
        .as_ref()
        .map(|c| {
            cache::IMAGE_NAMES
                .iter()
                .zip(c.pngs.iter())
                .filter_map(|(name, png)| {
                    let png = png.as_ref()?;
                    Some(ImageVersion { bytes: png.bytes.len(), etag: png.etag.clone(), image: (*name).to_string() })
                })
                .collect()
        })
        .unwrap_or_default();
    ImagesChanged {
        computed: computed.is_some(),
        computed_at: entry.as_ref().and_then(|e| e.computed_at),
        images,
        midpoint: entry.as_ref().and_then(|e| e.midpoint.clone()),
        product: product.to_string(),
        size: entry.as_ref().and_then(|e| e.size),
    }
}

/// The identity of an [`ImagesChanged`]: equal keys need no new event.
fn change_key(c: &ImagesChanged) -> String {
    let etags: Vec<&str> = c.images.iter().map(|i| i.etag.as_str()).collect();
    format!("{}:{}:{}", c.computed, c.midpoint.as_deref().unwrap_or(""), etags.join(","))
}

fn images_event(c: &ImagesChanged) -> warp::sse::Event {
    match warp::sse::Event::default().event("images").json_data(c) {
        Ok(e) => e,
        Err(err) => {
            tracing::warn!(error = %err, "serialising an images event");
            warp::sse::Event::default().event("images").data("{}")
        }
    }
}

/// `GET /api/gaf/events?product=`: server-sent events, one `images` event when the stream
/// opens and one each time the product's images change (from the LISTEN/NOTIFY cache).
#[utoipa::path(
    get,
    path = "/api/gaf/events",
    tag = "images",
    summary = "Server-sent events: the images of a product changed",
    description = "A `text/event-stream`. Each `images` event's data is an `ImagesChanged`: sent when the stream opens and whenever the product's images change; fetch the images that changed from `/api/gaf/image.png` with their ETag. A comment every 15 s keeps an idle stream open; the stream ends when the server shuts down (browsers reconnect by themselves).",
    params(EventsQuery),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = ImagesChanged),
        (status = 400, description = "Missing or malformed product", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 503, description = "The image cache is loading", body = ErrorBody),
    )
)]
pub async fn events(state: Arc<ApiState>, raw: String) -> Result<Response, ApiError> {
    let q: EventsQuery = parse_query(&raw)?;
    let product = required_product(q.product)?;
    product_entry(&state, &product)?;
    // Subscribe before reading the current state: a change in between is sent, not lost.
    let mut changes = state.cache.subscribe();
    let first = images_changed(&state, &product);
    let (tx, rx) = tokio::sync::mpsc::channel::<warp::sse::Event>(16);
    // One task per stream: it ends when the client goes (the channel closes), at shutdown, or
    // when the cache goes away; the stream ends with it.
    tokio::spawn(async move {
        let mut last = change_key(&first);
        if tx.send(images_event(&first).retry(RECONNECT_AFTER)).await.is_err() {
            return;
        }
        let closed = state.closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                _ = &mut closed => return,
                _ = tx.closed() => return,
                got = changes.recv() => match got {
                    Ok(p) if *p != *product => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        let now = images_changed(&state, &product);
                        let key = change_key(&now);
                        if key == last {
                            continue;
                        }
                        last = key;
                        if tx.send(images_event(&now)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = EventStream(rx);
    let mut res = warp::sse::reply(warp::sse::keep_alive().interval(KEEP_ALIVE).stream(stream)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}
