//! The OpenAPI document of the API (`GET /api/openapi.json`), generated from the handlers'
//! `#[utoipa::path]` attributes and the models' schemas.

use crate::handlers::{
    canaries, history, images, kill_switch, matrices, matrix_sweeps, ops, plugins, products, runs, sweeps,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's description of the token scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The API token: --api-token / CGAF_API_TOKEN, or the generated one in the data folder",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route of [`crate::ROUTES`], by handler.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "crypto-gaf",
        description = "Live crypto order books as Gramian Angular Field images. Compatible with the original crypto-gaf's GET /api/gaf/image."
    ),
    paths(
        images::gaf_image,
        images::gaf_png,
        images::events,
        products::list,
        products::add,
        products::resize,
        products::remove,
        plugins::upload,
        plugins::list,
        plugins::show,
        plugins::activate,
        plugins::rollback,
        canaries::start,
        canaries::cancel,
        canaries::activations,
        plugins::failures,
        plugins::failure,
        plugins::component,
        plugins::transform,
        runs::create,
        runs::list,
        runs::show,
        runs::stop,
        runs::decisions,
        runs::leaderboard,
        kill_switch::show,
        kill_switch::set,
        sweeps::create,
        sweeps::list,
        sweeps::show,
        sweeps::results_csv,
        sweeps::heatmap,
        history::coverage,
        history::bars,
        history::import,
        matrices::transitions,
        matrices::blends,
        matrices::forecasts,
        matrices::scores,
        matrices::rolling,
        matrices::heatmap,
        matrices::stream,
        matrix_sweeps::create,
        matrix_sweeps::list,
        matrix_sweeps::show,
        serve_document,
        crate::ui::page,
        crate::ui::asset,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served: JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        document().to_json().unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "ops",
    summary = "This document",
    responses((status = 200, description = "This OpenAPI document"))
)]
pub async fn serve_document() -> Result<warp::reply::Response, crate::ApiError> {
    Ok(crate::handlers::bytes_with_type(document_json(), "application/json"))
}
