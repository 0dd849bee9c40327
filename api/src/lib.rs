//! crypto-gaf HTTP API (warp): the original's `GET /api/gaf/image` JSON served from an in-memory
//! cache, binary PNGs with strong ETags, live product management behind a bearer token, plugins,
//! strategy runs and sweeps, health, readiness, Prometheus metrics and an OpenAPI document.
//!
//! Where things are: [`filters`] routes requests (the [`ROUTES`] table) to [`handlers`], one
//! module per area, which answer with the request and response types of [`models`] or an
//! [`ApiError`]; [`openapi`] generates the document from the handlers and models; [`ui`] holds
//! the web page served at `GET /` (embedded in the binary).

pub mod blend_events;
pub mod body;
pub mod br;
pub mod cache;
pub mod canary;
pub mod compiled;
pub mod error;
pub mod filters;
pub mod gzip;
pub mod handlers;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod plugin_limits;
pub mod state;
pub mod ui;

pub use cache::Cache;
pub use error::ApiError;
pub use filters::{ops_routes, route_label, routes, ROUTES};
pub use metrics::Metrics;
pub use state::{ApiSettings, ApiState};

use std::future::Future;
use std::sync::Arc;

/// Serves only the operational routes until `shutdown` completes.
pub async fn serve_ops(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(ops_routes(state)).incoming(listener).graceful(shutdown).run().await;
}

/// Serves the API on `listener` until `shutdown` completes; starts the cache refresher (the
/// API's one LISTEN connection, which also wakes the blend streams).
pub async fn serve(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let refresher = state.cache.spawn_refresher(state.store.clone(), state.blend_wakeups.clone());
    serve_routes(state, listener, shutdown).await;
    refresher.abort();
}

/// Serves the API without a cache refresher (the caller fills the cache; benchmarks). On
/// `shutdown` the event streams end, so the graceful stop does not wait for their clients.
pub async fn serve_routes(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_streams();
    };
    warp::serve(routes(state)).incoming(listener).graceful(shutdown).run().await;
}
