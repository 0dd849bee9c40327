//! The OpenAPI 3.0 document of the API (`GET /api/openapi.json`).

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn product_param(location: &str) -> Value {
    json!({"name": "product", "in": location, "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "example": "BTC-USD"})
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}})
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
            "/api/runs": {
                "post": {"summary": "Start a strategy run: a backtest over stored samples or a paper run following live samples", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunRequest"}}}},
                    "responses": {"201": {"description": "Created (status pending; a trade worker starts it)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
                        "400": error_response("Bad request: unknown strategy/version/product, parameters refused by the plugin, bad settings, kill switch engaged (paper)"),
                        "401": error_response("Missing or wrong token")}},
                "get": {"summary": "Runs, newest first",
                    "parameters": [{"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["backtest", "paper"]}},
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "running", "finished", "stopped", "failed"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100, "maximum": 1000}}],
                    "responses": {"200": {"description": "{\"runs\": [Run]}"}}}
            },
            "/api/runs/{id}": {"get": {"summary": "A run: status, progress, settings, metrics (periods_per_year named), portfolio, decision-log sha256 and its equity curve (at most 1000 points)",
                "parameters": [id_param()],
                "responses": {"200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}}, "404": error_response("Unknown run")}}},
            "/api/runs/{id}/stop": {"post": {"summary": "Stop a run (pending: at once; running: at its next step)", "security": secured,
                "parameters": [id_param()],
                "responses": {"202": {"description": "Stop requested"}, "401": error_response("Missing or wrong token"), "404": error_response("Unknown run"),
                    "409": error_response("The run has ended already")}}},
            "/api/runs/{id}/decisions": {"get": {"summary": "The decision log (FMEL): one row per bar with market state, strategy state, decision, risk-gate action, order, fill, position, cash and equity",
                "parameters": [id_param(),
                    {"name": "from", "in": "query", "description": "Bars closing at or after (ms since the epoch or RFC 3339)", "schema": {"type": "string"}},
                    {"name": "to", "in": "query", "description": "Bars closing before", "schema": {"type": "string"}},
                    {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 1000, "maximum": 10000}},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}}],
                "responses": {"200": {"description": "{\"decisions\": [...], \"next_cursor\": string|null} or the whole range as CSV (whose sha256 is the run's decision_log_sha256)",
                    "content": {"application/json": {}, "text/csv": {}}}, "400": error_response("Bad query"), "404": error_response("Unknown run")}}},
            "/api/leaderboard": {"get": {"summary": "Runs ranked by a metric, best first; ties in run order",
                "parameters": [{"name": "metric", "in": "query", "schema": {"type": "string", "default": "sharpe",
                        "enum": ["sharpe", "sortino", "total_return", "cagr", "calmar", "max_drawdown", "win_rate", "exposure", "volatility"]}},
                    {"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["backtest", "paper"]}},
                    {"name": "min_trades", "in": "query", "schema": {"type": "integer", "default": 0}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "maximum": 1000}}],
                "responses": {"200": {"description": "{\"entries\": [{rank, run_id, strategy, params, value, trades, metrics}]}"}, "400": error_response("Bad query")}}},
            "/api/kill-switch": {
                "get": {"summary": "The global kill switch", "responses": {"200": {"description": "{engaged, reason, changed_at}"}}},
                "post": {"summary": "Engage or release the kill switch: while engaged every paper run flattens and stops, and no paper run starts", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["engaged"],
                        "properties": {"engaged": {"type": "boolean"}, "reason": {"type": "string"}}}}}},
                    "responses": {"200": {"description": "The new state"}, "400": error_response("Bad body"), "401": error_response("Missing or wrong token")}}
            },
            "/api/sweeps": {
                "post": {"summary": "Start a parameter sweep (grid, optional walk-forward splits) over stored samples", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SweepRequest"}}}},
                    "responses": {"201": {"description": "Created (status pending)"}, "400": error_response("Bad request"), "401": error_response("Missing or wrong token")}},
                "get": {"summary": "Sweeps, newest first", "responses": {"200": {"description": "{\"sweeps\": [...]}"}}}
            },
            "/api/sweeps/{id}": {"get": {"summary": "A sweep: status, progress (jobs_done/jobs_total) and, once finished, its result: rows per grid point, walk-forward folds, best parameters out of sample, heatmap axes",
                "parameters": [id_param()], "responses": {"200": {"description": "The sweep"}, "404": error_response("Unknown sweep")}}},
            "/api/sweeps/{id}/results.csv": {"get": {"summary": "The results table as CSV", "parameters": [id_param()],
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, "404": error_response("Unknown sweep"), "503": error_response("Not finished yet")}}},
            "/api/sweeps/{id}/heatmap.png": {"get": {"summary": "The heatmap: first grid parameter left to right, second bottom to top, viridis from worst to best, grey = no value",
                "parameters": [id_param()],
                "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": error_response("Unknown sweep or no heatmap"), "503": error_response("Not finished yet")}}},
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
                "RunRequest": {"type": "object", "required": ["strategy", "product", "mode"], "additionalProperties": false, "properties": {
                    "strategy": {"type": "string", "example": "sma-cross@1.0.0", "description": "name (active version) or name@version"},
                    "params": {"type": "object", "example": {"fast": 5, "slow": 20}},
                    "product": {"type": "string", "example": "BTC-USD"},
                    "mode": {"type": "string", "enum": ["backtest", "paper"]},
                    "from": {"description": "Backtest start, ms since the epoch or RFC 3339 (default: the oldest stored sample)"},
                    "to": {"description": "Backtest end, exclusive (default: now)"},
                    "bar_interval": {"type": "string", "default": "1s", "example": "1m"},
                    "fee_bps": {"type": "number", "default": 0}, "slippage_bps": {"type": "number", "default": 0},
                    "starting_cash": {"type": "number", "default": 10000},
                    "risk": {"type": "object", "additionalProperties": false, "properties": {
                        "max_position": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
                        "max_drawdown": {"type": "number", "description": "fraction, e.g. 0.2: flatten and stop beyond it"}}}}},
                "Run": {"type": "object", "properties": {
                    "run_id": {"type": "integer"}, "strategy": {"type": "string"}, "strategy_version": {"type": "string"},
                    "params": {"type": "object"}, "product": {"type": "string"}, "mode": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "running", "finished", "stopped", "failed"]},
                    "status_reason": {"type": "string", "nullable": true}, "bars_done": {"type": "integer"}, "bars_total": {"type": "integer", "nullable": true},
                    "portfolio": {"type": "object", "nullable": true}, "metrics": {"type": "object", "nullable": true},
                    "decision_log_sha256": {"type": "string", "nullable": true},
                    "equity_curve": {"type": "array", "items": {"type": "object", "properties": {"time_ms": {"type": "integer"}, "equity": {"type": "number"}}}}}},
                "SweepRequest": {"type": "object", "required": ["strategy", "product", "grid"], "additionalProperties": false, "properties": {
                    "strategy": {"type": "string"}, "product": {"type": "string"}, "from": {}, "to": {},
                    "bar_interval": {"type": "string", "default": "1s"},
                    "grid": {"type": "object", "example": {"fast": {"from": 5, "to": 50, "step": 5}, "slow": [20, 50, 100, 200]}},
                    "params": {"type": "object", "description": "fixed parameters"},
                    "splits": {"type": "integer", "default": 0, "description": "walk-forward splits (k+1 rolling segments)"},
                    "metric": {"type": "string", "default": "sharpe"},
                    "fee_bps": {"type": "number"}, "slippage_bps": {"type": "number"}, "starting_cash": {"type": "number"}, "risk": {"type": "object"}}},
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}
            }
        }
    })
}
