//! The OpenAPI 3.0 document of the API (`GET /api/openapi.json`).

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn product_param(location: &str) -> Value {
    json!({"name": "product", "in": location, "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "example": "BTC-USD"})
}

/// The document; every entry of [`crate::ROUTES`] appears in it.
pub fn document() -> Value {
    let secured = json!([{"bearer": []}]);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "crypto-gaf",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live crypto order books as Gramian Angular Field images. Compatible with the original crypto-gaf's GET /api/gaf/image."
        },
        "paths": {
            "/api/gaf/image": {"get": {
                "summary": "The latest images of a product (the original crypto-gaf JSON)",
                "parameters": [product_param("query"), {"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Images", "headers": {"ETag": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GafImage"}}}},
                    "304": {"description": "Not modified (If-None-Match matched the content ETag)"},
                    "400": error_response("Missing or malformed product"),
                    "404": error_response("Unknown product"),
                    "503": error_response("Not computed yet (fewer than 21 samples); see Retry-After")
                }
            }},
            "/api/gaf/image.png": {"get": {
                "summary": "One image of a product as PNG",
                "parameters": [product_param("query"),
                    {"name": "image", "in": "query", "required": false, "schema": {"type": "string", "enum": crate::cache::IMAGE_NAMES, "default": "midpoint-gadf"}}],
                "responses": {
                    "200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                    "304": {"description": "Not modified"},
                    "400": error_response("Bad query"),
                    "404": error_response("Unknown product"),
                    "503": error_response("Not computed yet")
                }
            }},
            "/api/products": {
                "get": {"summary": "All products", "responses": {"200": {"description": "Products",
                    "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}}}}}},
                "post": {"summary": "Add a product", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["product"],
                        "properties": {"product": {"type": "string"}, "max_size": {"type": "integer", "minimum": 21, "maximum": 1024, "default": 600}}}}}},
                    "responses": {"201": {"description": "Added", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                        "400": error_response("Bad body"), "401": error_response("Missing or wrong token"), "409": error_response("Exists already")}}
            },
            "/api/products/{product}": {
                "put": {"summary": "Change how many samples a product keeps", "security": secured, "parameters": [product_param("path")],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["max_size"],
                        "properties": {"max_size": {"type": "integer", "minimum": 21, "maximum": 1024}}}}}},
                    "responses": {"200": {"description": "Resized", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                        "400": error_response("Bad body"), "401": error_response("Missing or wrong token"), "404": error_response("Unknown product")}},
                "delete": {"summary": "Remove a product with its samples and images", "security": secured, "parameters": [product_param("path")],
                    "responses": {"204": {"description": "Removed"}, "401": error_response("Missing or wrong token"), "404": error_response("Unknown product")}}
            },
            "/api/plugins": {
                "post": {"summary": "Upload a plugin component (validated, then stored; not activated unless ?activate=true)", "security": secured,
                    "parameters": [{"name": "activate", "in": "query", "required": false, "schema": {"type": "boolean", "default": false}}],
                    "requestBody": {"required": true, "content": {
                        "application/wasm": {"schema": {"type": "string", "format": "binary"}},
                        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                    "responses": {"201": {"description": "Stored"}, "200": {"description": "The same version and bytes were stored already"},
                        "401": error_response("Missing or wrong token"), "409": error_response("Version exists with other bytes"),
                        "413": error_response("Too large"), "415": error_response("Not application/wasm or multipart"),
                        "422": error_response("Refused: not a component, forbidden import, wrong world, invalid info(), failed smoke call")}},
                "get": {"summary": "Every plugin with its versions", "responses": {"200": {"description": "Plugins"}}}
            },
            "/api/plugins/{name}": {"get": {"summary": "A plugin's versions, active version, quarantines and call statistics",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The plugin"}, "404": error_response("Unknown plugin")}}},
            "/api/plugins/{name}/activate": {"post": {"summary": "Make a version active on every replica", "security": secured,
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Activated"}, "401": error_response("Missing or wrong token"), "404": error_response("Unknown version")}}},
            "/api/plugins/{name}/rollback": {"post": {"summary": "Reactivate the previously active version", "security": secured,
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Rolled back"}, "401": error_response("Missing or wrong token"), "409": error_response("Nothing to roll back to")}}},
            "/api/transforms/{name}": {"post": {"summary": "Run the active image-transform plugin on a series",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "example": "gasf"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["series"],
                    "properties": {"series": {"type": "array", "items": {"type": "number"}}, "params": {"type": "object", "description": "pyts parameter names; values as JSON or Python text"}}}}}},
                "responses": {"200": {"description": "The matrix as rows"}, "404": error_response("No such transform"),
                    "422": error_response("The plugin refused the parameters or input"), "502": error_response("The plugin failed (trap, timeout, memory, invalid result)")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.0 document"}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "The process serves requests"}}}},
            "/readyz": {"get": {"summary": "Readiness: database reachable, migrations applied, cache loaded",
                "responses": {"200": {"description": "Ready"}, "503": error_response("Not ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "The API token: --api-token / CGAF_API_TOKEN, or the generated one in the data folder"}},
            "schemas": {
                "GafImage": {"type": "object", "required": ["midpoint", "png1", "png2", "png3", "png4", "size", "date"], "properties": {
                    "midpoint": {"type": "string", "nullable": true, "description": "Newest midpoint, exact decimal text"},
                    "png1": {"type": "string", "format": "byte", "description": "Order-book imbalance, RGB PNG, base64"},
                    "png2": {"type": "string", "format": "byte", "description": "Buys, RGB PNG, base64"},
                    "png3": {"type": "string", "format": "byte", "description": "Sells, RGB PNG, base64"},
                    "png4": {"type": "string", "format": "byte", "description": "Midpoint GADF, grayscale PNG, base64"},
                    "size": {"type": "integer", "description": "Image edge in pixels (= samples used)"},
                    "date": {"type": "string", "format": "date-time", "description": "Time of the response"}}},
                "Product": {"type": "object", "properties": {
                    "product": {"type": "string"}, "max_size": {"type": "integer"}, "size": {"type": "integer", "nullable": true},
                    "midpoint": {"type": "string", "nullable": true}, "computed": {"type": "boolean"},
                    "computed_at": {"type": "string", "format": "date-time", "nullable": true}}},
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}
            }
        }
    })
}
