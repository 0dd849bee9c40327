//! crypto-gaf HTTP API (warp): the original's `GET /api/gaf/image` JSON served from an in-memory
//! cache, binary PNGs with strong ETags, live product management behind a bearer token, health,
//! readiness, Prometheus metrics and an OpenAPI document.

pub mod cache;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod plugins;
pub mod runs;

pub use cache::Cache;
pub use error::ApiError;
pub use metrics::Metrics;

use bytes::Bytes;
use cgaf_store::products::{validate_max_size, validate_product_id};
use cgaf_store::Store;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use warp::filters::BoxedFilter;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

/// Every route: method and path template. The OpenAPI document and the request metrics use it;
/// a test holds the router, this table and the document together.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/gaf/image"),
    ("GET", "/api/gaf/image.png"),
    ("GET", "/api/products"),
    ("POST", "/api/products"),
    ("PUT", "/api/products/{product}"),
    ("DELETE", "/api/products/{product}"),
    ("POST", "/api/plugins"),
    ("GET", "/api/plugins"),
    ("GET", "/api/plugins/{name}"),
    ("POST", "/api/plugins/{name}/activate"),
    ("POST", "/api/plugins/{name}/rollback"),
    ("POST", "/api/transforms/{name}"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/{id}"),
    ("POST", "/api/runs/{id}/stop"),
    ("GET", "/api/runs/{id}/decisions"),
    ("GET", "/api/leaderboard"),
    ("GET", "/api/kill-switch"),
    ("POST", "/api/kill-switch"),
    ("POST", "/api/sweeps"),
    ("GET", "/api/sweeps"),
    ("GET", "/api/sweeps/{id}"),
    ("GET", "/api/sweeps/{id}/results.csv"),
    ("GET", "/api/sweeps/{id}/heatmap.png"),
    ("GET", "/api/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The bearer token that writes must present.
    pub token: String,
    /// Largest accepted JSON request body, bytes.
    pub max_json_body: u64,
    /// Largest accepted plugin upload, bytes.
    pub max_plugin_bytes: u64,
}

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database (writes and readiness only; reads come from the cache).
    pub store: Store,
    /// The image cache.
    pub cache: Cache,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The plugin host (uploads are validated with it; transforms run on it).
    pub plugins: Option<Arc<cgaf_runtime::PluginHost>>,
    max_plugin_bytes: u64,
    token_digest: [u8; 32],
    max_json_body: u64,
    serves_api: bool,
}

impl ApiState {
    /// State over `store`, with a fresh cache.
    pub fn new(store: Store, metrics: Metrics, settings: &ApiSettings) -> Self {
        Self {
            store,
            cache: Cache::default(),
            metrics,
            plugins: None,
            max_plugin_bytes: settings.max_plugin_bytes,
            token_digest: Sha256::digest(settings.token.as_bytes()).into(),
            max_json_body: settings.max_json_body,
            serves_api: true,
        }
    }

    /// State of a worker-only process: it serves `/healthz`, `/readyz` and `/metrics` only, and
    /// its readiness does not wait for an image cache.
    pub fn ops_only(store: Store, metrics: Metrics) -> Self {
        Self {
            serves_api: false,
            ..Self::new(store, metrics, &ApiSettings { token: String::new(), max_json_body: 0, max_plugin_bytes: 0 })
        }
    }

    /// The same state with a plugin host.
    pub fn with_plugins(mut self, host: Arc<cgaf_runtime::PluginHost>) -> Self {
        self.plugins = Some(host);
        self
    }

    /// Constant-time check of a presented token (digests are compared, so length leaks nothing).
    pub fn token_matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        d.ct_eq(&self.token_digest).into()
    }
}

fn with_state(state: Arc<ApiState>) -> impl Filter<Extract = (Arc<ApiState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The raw query string, empty when there is none.
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

pub(crate) fn parse_query(raw: &str) -> Result<HashMap<String, String>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map(|v| v.into_iter().collect())
        .map_err(|e| ApiError::bad_request("bad_query", format!("query string: {e}")))
}

fn required_product(q: &HashMap<String, String>) -> Result<String, ApiError> {
    let p = q
        .get("product")
        .ok_or_else(|| ApiError::bad_request("missing_product", "query parameter 'product' is required"))?;
    validate_product_id(p).map_err(|m| ApiError::bad_request("bad_product", m))?;
    Ok(p.clone())
}

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

fn product_entry(state: &ApiState, product: &str) -> Result<Arc<cache::CachedProduct>, ApiError> {
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

async fn gaf_image(state: Arc<ApiState>, raw: String, inm: Option<String>) -> Result<Response, ApiError> {
    let q = parse_query(&raw)?;
    let product = required_product(&q)?;
    let entry = product_entry(&state, &product)?;
    let images = entry.images.clone().ok_or_else(|| not_computed(&product))?;
    if etag_matches(inm.as_deref(), &images.etag) {
        return Ok(not_modified(&images.etag));
    }
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let tail = Bytes::from(format!("{date}\"}}"));
    let len = images.json_prefix.len() + tail.len();
    let chunks = [Ok::<_, Infallible>(images.json_prefix.clone()), Ok(tail)];
    let mut res = warp::reply::stream(futures::stream::iter(chunks)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().expect("static header"));
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::CACHE_CONTROL, "no-cache".parse().expect("static header"));
    if let Ok(v) = images.etag.parse() {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

async fn gaf_png(state: Arc<ApiState>, raw: String, inm: Option<String>) -> Result<Response, ApiError> {
    let q = parse_query(&raw)?;
    let product = required_product(&q)?;
    let name = q.get("image").map(String::as_str).unwrap_or("midpoint-gadf");
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
    let mut res = Response::new(png.bytes.into());
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, "image/png".parse().expect("static header"));
    h.insert(header::CACHE_CONTROL, "no-cache".parse().expect("static header"));
    if let Ok(v) = png.etag.parse() {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

fn product_json(p: &cache::CachedProduct) -> serde_json::Value {
    serde_json::json!({
        "product": p.product,
        "max_size": p.max_size,
        "size": p.size,
        "midpoint": p.midpoint,
        "computed": p.images.is_some(),
        "computed_at": p.computed_at,
    })
}

async fn list_products(state: Arc<ApiState>) -> Result<Response, ApiError> {
    if !state.cache.is_loaded() {
        return Err(ApiError::unavailable("starting", "the image cache is loading", 1));
    }
    let list: Vec<_> = state.cache.all().iter().map(|p| product_json(p)).collect();
    Ok(warp::reply::json(&list).into_response())
}

/// Body of `POST /api/products`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    product: String,
    max_size: Option<i64>,
}

/// Body of `PUT /api/products/{product}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResizeProduct {
    max_size: i64,
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: Result<Bytes, ApiError>) -> Result<T, ApiError> {
    let body = body?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("bad_body", format!("request body: {e}")))
}

/// The request body, read up to `max` bytes. Errors are values, not rejections, so the
/// handler can check the token first and every failure is answered by the route itself.
fn limited_body(max: u64) -> impl Filter<Extract = (Result<Bytes, ApiError>,), Error = Infallible> + Clone {
    warp::body::stream().then(move |stream| collect_body(stream, max)).or(warp::any().map(|| Ok(Bytes::new()))).unify()
}

async fn collect_body<S, B>(stream: S, max: u64) -> Result<Bytes, ApiError>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: warp::Buf,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::bad_request("bad_body", format!("reading the body: {e}")))?;
        if (buf.len() + chunk.remaining()) as u64 > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {max} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            buf.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

async fn add_product(
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: NewProduct = parse_json(body)?;
    validate_product_id(&req.product).map_err(|m| ApiError::bad_request("bad_product", m))?;
    let max_size =
        validate_max_size(req.max_size.unwrap_or(600)).map_err(|m| ApiError::bad_request("bad_max_size", m))?;
    state.store.add_product(&req.product, max_size).await?;
    state.cache.refresh(&state.store, &req.product).await?;
    let entry = product_entry(&state, &req.product)?;
    Ok(warp::reply::with_status(warp::reply::json(&product_json(&entry)), StatusCode::CREATED).into_response())
}

async fn resize_product(
    product: String,
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    validate_product_id(&product).map_err(|m| ApiError::bad_request("bad_product", m))?;
    let req: ResizeProduct = parse_json(body)?;
    let max_size = validate_max_size(req.max_size).map_err(|m| ApiError::bad_request("bad_max_size", m))?;
    state.store.resize_product(&product, max_size).await?;
    state.cache.refresh(&state.store, &product).await?;
    let entry = product_entry(&state, &product)?;
    Ok(warp::reply::json(&product_json(&entry)).into_response())
}

async fn remove_product(product: String, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    validate_product_id(&product).map_err(|m| ApiError::bad_request("bad_product", m))?;
    state.store.remove_product(&product).await?;
    state.cache.put(&product, None);
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}

async fn readyz(state: Arc<ApiState>) -> Result<Response, ApiError> {
    match state.store.migrations_applied().await {
        Ok(true) if !state.serves_api || state.cache.is_loaded() => {
            Ok(warp::reply::json(&serde_json::json!({"status": "ready"})).into_response())
        }
        Ok(true) => Err(ApiError::unavailable("starting", "the image cache is loading", 1)),
        Ok(false) => Err(ApiError::unavailable("migrations_pending", "database migrations are not applied", 2)),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check");
            Err(ApiError::unavailable("database_unavailable", "the database is unreachable", 2))
        }
    }
}

fn respond(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| e.into_response())
}

/// The whole router, with JSON errors for every rejection and request metrics.
pub fn routes(state: Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let s = || with_state(state.clone());
    let inm = || warp::header::optional::<String>("if-none-match");
    let auth = || warp::header::optional::<String>("authorization");
    let max_body = state.max_json_body;
    let body = move || limited_body(max_body);

    let image =
        warp::path!("api" / "gaf" / "image").and(warp::get()).and(s()).and(raw_query()).and(inm()).then(gaf_image);
    let png =
        warp::path!("api" / "gaf" / "image.png").and(warp::get()).and(s()).and(raw_query()).and(inm()).then(gaf_png);
    let products = warp::path!("api" / "products").and(warp::get()).and(s()).then(list_products);
    let add = warp::path!("api" / "products").and(warp::post()).and(s()).and(auth()).and(body()).then(add_product);
    let resize =
        warp::path!("api" / "products" / String).and(warp::put()).and(s()).and(auth()).and(body()).then(resize_product);
    let remove = warp::path!("api" / "products" / String).and(warp::delete()).and(s()).and(auth()).then(remove_product);
    let max_plugin = state.max_plugin_bytes;
    let ct = || warp::header::optional::<String>("content-type");
    let upload = warp::path!("api" / "plugins")
        .and(warp::post())
        .and(s())
        .and(raw_query())
        .and(auth())
        .and(ct())
        .and(limited_body(max_plugin))
        .then(plugins::upload);
    let plugin_list = warp::path!("api" / "plugins").and(warp::get()).and(s()).then(plugins::list);
    let plugin_show = warp::path!("api" / "plugins" / String).and(warp::get()).and(s()).then(plugins::show);
    let plugin_activate = warp::path!("api" / "plugins" / String / "activate")
        .and(warp::post())
        .and(s())
        .and(auth())
        .and(body())
        .then(plugins::activate);
    let plugin_rollback = warp::path!("api" / "plugins" / String / "rollback")
        .and(warp::post())
        .and(s())
        .and(auth())
        .then(plugins::rollback);
    let transform =
        warp::path!("api" / "transforms" / String).and(warp::post()).and(s()).and(body()).then(plugins::transform);
    let run_create = warp::path!("api" / "runs").and(warp::post()).and(s()).and(auth()).and(body()).then(runs::create);
    let run_list = warp::path!("api" / "runs").and(warp::get()).and(s()).and(raw_query()).then(runs::list);
    let run_show = warp::path!("api" / "runs" / i64).and(warp::get()).and(s()).then(runs::show);
    let run_stop = warp::path!("api" / "runs" / i64 / "stop").and(warp::post()).and(s()).and(auth()).then(runs::stop);
    let run_decisions = warp::path!("api" / "runs" / i64 / "decisions")
        .and(warp::get())
        .and(s())
        .and(raw_query())
        .then(runs::decisions);
    let leaderboard =
        warp::path!("api" / "leaderboard").and(warp::get()).and(s()).and(raw_query()).then(runs::leaderboard);
    let kill_get = warp::path!("api" / "kill-switch").and(warp::get()).and(s()).then(runs::kill_switch);
    let kill_set = warp::path!("api" / "kill-switch")
        .and(warp::post())
        .and(s())
        .and(auth())
        .and(body())
        .then(runs::set_kill_switch);
    let sweep_create =
        warp::path!("api" / "sweeps").and(warp::post()).and(s()).and(auth()).and(body()).then(runs::create_sweep);
    let sweep_list = warp::path!("api" / "sweeps").and(warp::get()).and(s()).then(runs::list_sweeps);
    let sweep_show = warp::path!("api" / "sweeps" / i64).and(warp::get()).and(s()).then(runs::show_sweep);
    let sweep_csv = warp::path!("api" / "sweeps" / i64 / "results.csv").and(warp::get()).and(s()).then(runs::sweep_csv);
    let sweep_png =
        warp::path!("api" / "sweeps" / i64 / "heatmap.png").and(warp::get()).and(s()).then(runs::sweep_heatmap);
    let strategy_routes = run_create
        .map(respond)
        .or(run_list.map(respond))
        .unify()
        .or(run_show.map(respond))
        .unify()
        .or(run_stop.map(respond))
        .unify()
        .or(run_decisions.map(respond))
        .unify()
        .or(leaderboard.map(respond))
        .unify()
        .or(kill_get.map(respond))
        .unify()
        .or(kill_set.map(respond))
        .unify()
        .or(sweep_create.map(respond))
        .unify()
        .or(sweep_list.map(respond))
        .unify()
        .or(sweep_show.map(respond))
        .unify()
        .or(sweep_csv.map(respond))
        .unify()
        .or(sweep_png.map(respond))
        .unify()
        .boxed();
    let openapi = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .map(|| Ok::<_, ApiError>(warp::reply::json(&openapi::document()).into_response()));
    image
        .map(respond)
        .or(png.map(respond))
        .unify()
        .or(products.map(respond))
        .unify()
        .or(add.map(respond))
        .unify()
        .or(resize.map(respond))
        .unify()
        .or(remove.map(respond))
        .unify()
        .or(upload.map(respond))
        .unify()
        .or(plugin_list.map(respond))
        .unify()
        .or(plugin_show.map(respond))
        .unify()
        .or(plugin_activate.map(respond))
        .unify()
        .or(plugin_rollback.map(respond))
        .unify()
        .or(transform.map(respond))
        .unify()
        .or(strategy_routes)
        .unify()
        .or(openapi.map(respond))
        .unify()
        .or(ops(state.clone()))
        .unify()
        .recover(error::recover)
        .unify()
        .with(request_log(&state.metrics))
        .with(warp::cors().allow_any_origin().allow_methods(["GET", "POST", "PUT", "DELETE"]).allow_headers([
            "authorization",
            "content-type",
            "if-none-match",
        ]))
        .map(Reply::into_response)
        .boxed()
}

/// `/healthz`, `/readyz` and `/metrics`: served by every process, whatever its roles.
fn ops(state: Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let s = || with_state(state.clone());
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| Ok::<_, ApiError>(warp::reply::json(&serde_json::json!({"status": "ok"})).into_response()));
    let ready = warp::path!("readyz").and(warp::get()).and(s()).then(readyz);
    let metrics = warp::path!("metrics").and(warp::get()).and(s()).map(|st: Arc<ApiState>| {
        let mut r = Response::new(st.metrics.render().into());
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8".parse().expect("static header"));
        Ok::<_, ApiError>(r)
    });

    healthz.map(respond).or(ready.map(respond)).unify().or(metrics.map(respond)).unify().boxed()
}

/// Records each request's latency by route template and status, and logs it at debug level.
fn request_log(metrics: &Metrics) -> warp::log::Log<impl Fn(warp::log::Info<'_>) + Clone + Send> {
    let metrics_log = metrics.clone();
    warp::log::custom(move |info| {
        let route = route_label(info.method().as_str(), info.path());
        metrics_log
            .request_seconds
            .with_label_values(&[route, info.status().as_str()])
            .observe(info.elapsed().as_secs_f64());
        tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), elapsed = ?info.elapsed(), "request");
    })
}

/// Only the operational routes, for worker-only processes.
pub fn ops_routes(state: Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let metrics = state.metrics.clone();
    ops(state).recover(error::recover).unify().with(request_log(&metrics)).map(Reply::into_response).boxed()
}

/// Serves only the operational routes until `shutdown` completes.
pub async fn serve_ops(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(ops_routes(state)).incoming(listener).graceful(shutdown).run().await;
}

/// The route template a request path belongs to (bounded label cardinality).
pub fn route_label(method: &str, path: &str) -> &'static str {
    for (m, template) in ROUTES {
        if *m != method {
            continue;
        }
        let t: Vec<&str> = template.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        if t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b) {
            return template;
        }
    }
    "other"
}

/// Serves the API on `listener` until `shutdown` completes; starts the cache refresher.
pub async fn serve(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let refresher = state.cache.spawn_refresher(state.store.clone());
    serve_routes(state, listener, shutdown).await;
    refresher.abort();
}

/// Serves the API without a cache refresher (the caller fills the cache; benchmarks).
pub async fn serve_routes(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(state)).incoming(listener).graceful(shutdown).run().await;
}
