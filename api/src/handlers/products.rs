//! Products: list, add, resize, remove (writes need the token).

use super::images::product_entry;
use super::{authorize, json, json_with_status, parse_json};
use crate::models::{ErrorBody, NewProduct, Product, ResizeProduct};
use crate::{ApiError, ApiState};
use bytes::Bytes;
use cgaf_store::products::{validate_max_size, validate_product_id};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// `GET /api/products`.
#[utoipa::path(
    get,
    path = "/api/products",
    tag = "products",
    summary = "All products",
    responses(
        (status = 200, description = "Products", body = Vec<Product>),
        (status = 503, description = "The image cache is loading", body = ErrorBody),
    )
)]
pub async fn list(state: Arc<ApiState>) -> Result<Response, ApiError> {
    if !state.cache.is_loaded() {
        return Err(ApiError::unavailable("starting", "the image cache is loading", 1));
    }
    let list: Vec<Product> = state.cache.all().iter().map(|p| Product::from(p.as_ref())).collect();
    Ok(json(&list))
}

/// `POST /api/products`.
#[utoipa::path(
    post,
    path = "/api/products",
    tag = "products",
    summary = "Add a product",
    security(("bearer" = [])),
    request_body = NewProduct,
    responses(
        (status = 201, description = "Added", body = Product),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "Exists already", body = ErrorBody),
    )
)]
pub async fn add(
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
    Ok(json_with_status(&Product::from(entry.as_ref()), StatusCode::CREATED))
}

/// `PUT /api/products/{product}`.
#[utoipa::path(
    put,
    path = "/api/products/{product}",
    tag = "products",
    summary = "Change how many samples a product keeps",
    security(("bearer" = [])),
    params(("product" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "BTC-USD")),
    request_body = ResizeProduct,
    responses(
        (status = 200, description = "Resized", body = Product),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
    )
)]
pub async fn resize(
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
    Ok(json(&Product::from(entry.as_ref())))
}

/// `DELETE /api/products/{product}`.
#[utoipa::path(
    delete,
    path = "/api/products/{product}",
    tag = "products",
    summary = "Remove a product with its samples and images",
    security(("bearer" = [])),
    params(("product" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "BTC-USD")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
    )
)]
pub async fn remove(product: String, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    validate_product_id(&product).map_err(|m| ApiError::bad_request("bad_product", m))?;
    state.store.remove_product(&product).await?;
    state.cache.put(&product, None);
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}
