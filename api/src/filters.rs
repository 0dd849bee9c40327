//! Routing: the table of routes, the warp filter of each (what it extracts for its handler),
//! and the router built from the table, with JSON errors for every rejection and request
//! metrics.

use crate::handlers::{
    canaries, history, images, kill_switch, matrices, matrix_sweeps, ops, plugins, products, runs, sweeps,
};
use crate::{error, ApiError, ApiState, Metrics};
use bytes::Bytes;
use std::convert::Infallible;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

/// Every route: method and path template. The router is built from this table (a route not in
/// it is not served), the OpenAPI document lists exactly these (a test holds them together),
/// and the request metrics label by it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/gaf/image"),
    ("GET", "/api/gaf/image.png"),
    ("GET", "/api/gaf/events"),
    ("GET", "/api/products"),
    ("POST", "/api/products"),
    ("PUT", "/api/products/{product}"),
    ("DELETE", "/api/products/{product}"),
    ("POST", "/api/plugins"),
    ("GET", "/api/plugins"),
    ("GET", "/api/plugins/{name}"),
    ("POST", "/api/plugins/{name}/activate"),
    ("POST", "/api/plugins/{name}/rollback"),
    ("POST", "/api/plugins/{name}/canary"),
    ("DELETE", "/api/plugins/{name}/canary"),
    ("GET", "/api/plugins/{name}/activations"),
    ("GET", "/api/plugins/{name}/failures"),
    ("GET", "/api/plugins/{name}/failures/{id}"),
    ("GET", "/api/plugins/{name}/versions/{version}/component"),
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
    ("GET", "/api/history"),
    ("GET", "/api/history/bars"),
    ("POST", "/api/history/imports"),
    ("GET", "/api/matrices/transitions"),
    ("GET", "/api/matrices/blends"),
    ("GET", "/api/matrices/forecasts"),
    ("GET", "/api/matrices/scores"),
    ("GET", "/api/matrices/rolling"),
    ("GET", "/api/matrices/heatmap.png"),
    ("GET", "/api/matrices/stream"),
    ("POST", "/api/matrices/sweeps"),
    ("GET", "/api/matrices/sweeps"),
    ("GET", "/api/matrices/sweeps/{id}"),
    ("GET", "/api/openapi.json"),
    ("GET", "/"),
    ("GET", "/ui/{asset}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// The routes every process serves, whatever its roles.
pub const OPS_ROUTES: &[(&str, &str)] = &[("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")];

fn with_state(state: Arc<ApiState>) -> impl Filter<Extract = (Arc<ApiState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The raw query string, empty when there is none (handlers parse it into their query type,
/// so a bad query is answered by the route itself).
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
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
            return Err(crate::body::too_large(max));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            buf.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// The request body unread, for a handler that checks the token before reading it and then
/// writes it somewhere other than memory ([`spool_body`]).
fn body_stream() -> impl Filter<Extract = (crate::body::BodyStream,), Error = Infallible> + Clone {
    warp::body::stream()
        .map(crate::body::boxed_body)
        .or(warp::any().map(|| -> crate::body::BodyStream { Box::pin(futures::stream::empty()) }))
        .unify()
}

fn respond(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| e.into_response())
}

/// The filter of one route of [`ROUTES`]; `None` for a method and template it does not know.
fn route(state: &Arc<ApiState>, method: &str, template: &str) -> Option<BoxedFilter<(Response,)>> {
    let s = || with_state(state.clone());
    let inm = || warp::header::optional::<String>("if-none-match");
    let auth = || warp::header::optional::<String>("authorization");
    let ct = || warp::header::optional::<String>("content-type");
    let max_body = state.max_json_body;
    let body = move || limited_body(max_body);
    let get = warp::get;
    let post = warp::post;
    let f = match (method, template) {
        ("GET", "/api/gaf/image") => warp::path!("api" / "gaf" / "image")
            .and(get())
            .and(s())
            .and(raw_query())
            .and(inm())
            .and(warp::header::optional::<String>("accept-encoding"))
            .then(images::gaf_image)
            .map(respond)
            .boxed(),
        ("GET", "/api/gaf/image.png") => warp::path!("api" / "gaf" / "image.png")
            .and(get())
            .and(s())
            .and(raw_query())
            .and(inm())
            .then(images::gaf_png)
            .map(respond)
            .boxed(),
        ("GET", "/api/gaf/events") => warp::path!("api" / "gaf" / "events")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(images::events)
            .map(respond)
            .boxed(),
        ("GET", "/api/products") => {
            warp::path!("api" / "products").and(get()).and(s()).then(products::list).map(respond).boxed()
        }
        ("POST", "/api/products") => warp::path!("api" / "products")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(products::add)
            .map(respond)
            .boxed(),
        ("PUT", "/api/products/{product}") => warp::path!("api" / "products" / String)
            .and(warp::put())
            .and(s())
            .and(auth())
            .and(body())
            .then(products::resize)
            .map(respond)
            .boxed(),
        ("DELETE", "/api/products/{product}") => warp::path!("api" / "products" / String)
            .and(warp::delete())
            .and(s())
            .and(auth())
            .then(products::remove)
            .map(respond)
            .boxed(),
        ("POST", "/api/plugins") => warp::path!("api" / "plugins")
            .and(post())
            .and(s())
            .and(raw_query())
            .and(auth())
            .and(ct())
            .and(limited_body(state.max_plugin_bytes))
            .then(plugins::upload)
            .map(respond)
            .boxed(),
        ("GET", "/api/plugins") => {
            warp::path!("api" / "plugins").and(get()).and(s()).then(plugins::list).map(respond).boxed()
        }
        ("GET", "/api/plugins/{name}") => {
            warp::path!("api" / "plugins" / String).and(get()).and(s()).then(plugins::show).map(respond).boxed()
        }
        ("POST", "/api/plugins/{name}/activate") => warp::path!("api" / "plugins" / String / "activate")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(plugins::activate)
            .map(respond)
            .boxed(),
        ("POST", "/api/plugins/{name}/rollback") => warp::path!("api" / "plugins" / String / "rollback")
            .and(post())
            .and(s())
            .and(auth())
            .then(plugins::rollback)
            .map(respond)
            .boxed(),
        ("POST", "/api/plugins/{name}/canary") => warp::path!("api" / "plugins" / String / "canary")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(canaries::start)
            .map(respond)
            .boxed(),
        ("DELETE", "/api/plugins/{name}/canary") => warp::path!("api" / "plugins" / String / "canary")
            .and(warp::delete())
            .and(s())
            .and(auth())
            .then(canaries::cancel)
            .map(respond)
            .boxed(),
        ("GET", "/api/plugins/{name}/activations") => warp::path!("api" / "plugins" / String / "activations")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(canaries::activations)
            .map(respond)
            .boxed(),
        ("GET", "/api/plugins/{name}/failures") => warp::path!("api" / "plugins" / String / "failures")
            .and(get())
            .and(s())
            .and(raw_query())
            .and(auth())
            .then(plugins::failures)
            .map(respond)
            .boxed(),
        ("GET", "/api/plugins/{name}/failures/{id}") => warp::path!("api" / "plugins" / String / "failures" / i64)
            .and(get())
            .and(s())
            .and(auth())
            .then(plugins::failure)
            .map(respond)
            .boxed(),
        ("GET", "/api/plugins/{name}/versions/{version}/component") => {
            warp::path!("api" / "plugins" / String / "versions" / String / "component")
                .and(get())
                .and(s())
                .and(auth())
                .then(plugins::component)
                .map(respond)
                .boxed()
        }
        ("POST", "/api/transforms/{name}") => warp::path!("api" / "transforms" / String)
            .and(post())
            .and(s())
            .and(body())
            .then(plugins::transform)
            .map(respond)
            .boxed(),
        ("POST", "/api/runs") => warp::path!("api" / "runs")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(runs::create)
            .map(respond)
            .boxed(),
        ("GET", "/api/runs") => {
            warp::path!("api" / "runs").and(get()).and(s()).and(raw_query()).then(runs::list).map(respond).boxed()
        }
        ("GET", "/api/runs/{id}") => {
            warp::path!("api" / "runs" / i64).and(get()).and(s()).then(runs::show).map(respond).boxed()
        }
        ("POST", "/api/runs/{id}/stop") => warp::path!("api" / "runs" / i64 / "stop")
            .and(post())
            .and(s())
            .and(auth())
            .then(runs::stop)
            .map(respond)
            .boxed(),
        ("GET", "/api/runs/{id}/decisions") => warp::path!("api" / "runs" / i64 / "decisions")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(runs::decisions)
            .map(respond)
            .boxed(),
        ("GET", "/api/leaderboard") => warp::path!("api" / "leaderboard")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(runs::leaderboard)
            .map(respond)
            .boxed(),
        ("GET", "/api/kill-switch") => {
            warp::path!("api" / "kill-switch").and(get()).and(s()).then(kill_switch::show).map(respond).boxed()
        }
        ("POST", "/api/kill-switch") => warp::path!("api" / "kill-switch")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(kill_switch::set)
            .map(respond)
            .boxed(),
        ("POST", "/api/sweeps") => warp::path!("api" / "sweeps")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(sweeps::create)
            .map(respond)
            .boxed(),
        ("GET", "/api/sweeps") => {
            warp::path!("api" / "sweeps").and(get()).and(s()).then(sweeps::list).map(respond).boxed()
        }
        ("GET", "/api/sweeps/{id}") => {
            warp::path!("api" / "sweeps" / i64).and(get()).and(s()).then(sweeps::show).map(respond).boxed()
        }
        ("GET", "/api/sweeps/{id}/results.csv") => warp::path!("api" / "sweeps" / i64 / "results.csv")
            .and(get())
            .and(s())
            .then(sweeps::results_csv)
            .map(respond)
            .boxed(),
        ("GET", "/api/sweeps/{id}/heatmap.png") => warp::path!("api" / "sweeps" / i64 / "heatmap.png")
            .and(get())
            .and(s())
            .then(sweeps::heatmap)
            .map(respond)
            .boxed(),
        ("GET", "/api/history") => {
            warp::path!("api" / "history").and(get()).and(s()).then(history::coverage).map(respond).boxed()
        }
        ("GET", "/api/history/bars") => warp::path!("api" / "history" / "bars")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(history::bars)
            .map(respond)
            .boxed(),
        ("POST", "/api/history/imports") => warp::path!("api" / "history" / "imports")
            .and(post())
            .and(s())
            .and(raw_query())
            .and(auth())
            .and(body_stream())
            .then(history::import)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/transitions") => warp::path!("api" / "matrices" / "transitions")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::transitions)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/blends") => warp::path!("api" / "matrices" / "blends")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::blends)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/forecasts") => warp::path!("api" / "matrices" / "forecasts")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::forecasts)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/scores") => warp::path!("api" / "matrices" / "scores")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::scores)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/rolling") => warp::path!("api" / "matrices" / "rolling")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::rolling)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/heatmap.png") => warp::path!("api" / "matrices" / "heatmap.png")
            .and(get())
            .and(s())
            .and(raw_query())
            .then(matrices::heatmap)
            .map(respond)
            .boxed(),
        ("POST", "/api/matrices/sweeps") => warp::path!("api" / "matrices" / "sweeps")
            .and(post())
            .and(s())
            .and(auth())
            .and(body())
            .then(matrix_sweeps::create)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/sweeps") => warp::path!("api" / "matrices" / "sweeps")
            .and(get())
            .and(s())
            .then(matrix_sweeps::list)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/sweeps/{id}") => warp::path!("api" / "matrices" / "sweeps" / i64)
            .and(get())
            .and(s())
            .then(matrix_sweeps::show)
            .map(respond)
            .boxed(),
        ("GET", "/api/matrices/stream") => warp::path!("api" / "matrices" / "stream")
            .and(get())
            .and(s())
            .and(raw_query())
            .and(warp::header::optional::<String>("last-event-id"))
            .then(matrices::stream)
            .map(respond)
            .boxed(),
        ("GET", "/api/openapi.json") => {
            warp::path!("api" / "openapi.json").and(get()).then(crate::openapi::serve_document).map(respond).boxed()
        }
        ("GET", "/") => warp::path::end().and(get()).and(s()).and(inm()).then(crate::ui::page).map(respond).boxed(),
        ("GET", "/ui/{asset}") => {
            warp::path!("ui" / String).and(get()).and(s()).and(inm()).then(crate::ui::asset).map(respond).boxed()
        }
        ("GET", "/healthz") => warp::path!("healthz").and(get()).then(ops::healthz).map(respond).boxed(),
        ("GET", "/readyz") => warp::path!("readyz").and(get()).and(s()).then(ops::readyz).map(respond).boxed(),
        ("GET", "/metrics") => warp::path!("metrics").and(get()).and(s()).then(ops::metrics).map(respond).boxed(),
        _ => return None,
    };
    Some(f)
}

/// The routes of `table`, tried in order, with JSON errors for every rejection and request
/// metrics.
fn router(state: &Arc<ApiState>, table: &[(&str, &str)]) -> BoxedFilter<(Response,)> {
    let filters: Vec<_> = table
        .iter()
        .filter_map(|(m, t)| {
            let f = route(state, m, t);
            if f.is_none() {
                tracing::error!(method = m, template = t, "a route of the table has no filter");
            }
            f
        })
        .collect();
    either_of(filters)
        .recover(error::recover)
        .unify()
        .with(request_log(&state.metrics))
        .map(Reply::into_response)
        .with(warp::trace(request_span))
        .map(Reply::into_response)
        .boxed()
}

/// The span of one request, `api.request`, exported as `METHOD /route/{template}` (a server
/// span with the method, the route template and, once answered, the status).
fn request_span(info: warp::trace::Info<'_>) -> tracing::Span {
    use tracing::field::Empty;
    let method = info.method().as_str();
    let route = route_label(method, info.path());
    tracing::info_span!(
        "api.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    )
}

/// The first of `filters` that matches, tried as a balanced tree so that a request passes
/// through a few boxed layers, not one per route.
fn either_of(mut filters: Vec<BoxedFilter<(Response,)>>) -> BoxedFilter<(Response,)> {
    match filters.len() {
        0 => warp::any().and_then(|| async { Err::<Response, _>(warp::reject::not_found()) }).boxed(),
        1 => filters.remove(0),
        n => {
            let second = filters.split_off(n / 2);
            either_of(filters).or(either_of(second)).unify().boxed()
        }
    }
}

/// The whole router: every route of [`ROUTES`], with CORS.
pub fn routes(state: Arc<ApiState>) -> BoxedFilter<(Response,)> {
    router(&state, ROUTES)
        .with(warp::cors().allow_any_origin().allow_methods(["GET", "POST", "PUT", "DELETE"]).allow_headers([
            "authorization",
            "content-type",
            "if-none-match",
        ]))
        .map(Reply::into_response)
        .boxed()
}

/// Only the operational routes ([`OPS_ROUTES`]), for worker-only processes.
pub fn ops_routes(state: Arc<ApiState>) -> BoxedFilter<(Response,)> {
    router(&state, OPS_ROUTES)
}

/// Records each request's latency by route template and status, and logs it at debug level;
/// the status goes on the request's span ([`request_span`]).
fn request_log(metrics: &Metrics) -> warp::log::Log<impl Fn(warp::log::Info<'_>) + Clone + Send> {
    let metrics_log = metrics.clone();
    warp::log::custom(move |info| {
        let span = tracing::Span::current();
        span.record("http.response.status_code", info.status().as_u16());
        if info.status().is_server_error() {
            span.record("otel.status_code", "error");
        }
        let route = route_label(info.method().as_str(), info.path());
        metrics_log
            .request_seconds
            .with_label_values(&[route, info.status().as_str()])
            .observe(info.elapsed().as_secs_f64());
        tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), elapsed = ?info.elapsed(), "request");
    })
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
