//! The OpenAPI document, the route table and the router agree both ways: every route of
//! `ROUTES` is documented and served, every documented route is in `ROUTES`, and the router
//! serves nothing else (it is built from the table; a method a path does not have gets 405).

use cgaf_api::{ApiSettings, ApiState, Metrics, ROUTES};
use cgaf_store::{DbSettings, Store};
use std::collections::BTreeSet;
use std::sync::Arc;

/// State whose database is unreachable: every route is still routed (the database routes answer
/// 503), which is all these tests ask.
fn state_without_database() -> Arc<ApiState> {
    let store = Store::new(&DbSettings::new("postgres://nobody:nothing@127.0.0.1:1/none")).unwrap();
    let settings = ApiSettings { token: "t".into(), max_json_body: 1 << 16, max_plugin_bytes: 1 << 16 };
    Arc::new(ApiState::new(store, Metrics::new(), &settings))
}

fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(cgaf_api::openapi::document_json()).unwrap();
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn document_lists_exactly_the_route_table() {
    let table: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(table.len(), ROUTES.len(), "ROUTES holds a route twice");
    let documented = documented();
    let missing: Vec<_> = table.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&table).collect();
    assert!(missing.is_empty(), "routes without documentation: {missing:?}");
    assert!(extra.is_empty(), "documented routes that are not in ROUTES: {extra:?}");
}

fn concrete(template: &str) -> String {
    template.replace("{product}", "BTC-USD").replace("{name}", "gasf").replace("{id}", "1")
}

async fn answer(api: &warp::filters::BoxedFilter<(warp::reply::Response,)>, method: &str, path: &str) -> (u16, String) {
    let r = warp::test::request().method(method).path(path).reply(api).await;
    let code = serde_json::from_slice::<serde_json::Value>(r.body())
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (r.status().as_u16(), code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_exactly_the_route_table() {
    let api = cgaf_api::routes(state_without_database());
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for template in paths {
        let path = concrete(template);
        for method in methods {
            let in_table = ROUTES.contains(&(method, template));
            let (status, code) = answer(&api, method, &path).await;
            let routed = !(code == "not_found" || code == "method_not_allowed");
            assert_eq!(routed, in_table, "{method} {template}: {status} {code:?}");
        }
    }
    // Paths outside the table are the router's 404.
    for path in ["/api", "/api/nothing", "/api/runs/1/other", "/api/gaf/image/extra"] {
        assert_eq!(answer(&api, "GET", path).await, (404, "not_found".into()), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_serve_only_the_operational_routes() {
    let api = cgaf_api::ops_routes(state_without_database());
    for (method, template) in ROUTES {
        let (_, code) = answer(&api, method, &concrete(template)).await;
        let served = code != "not_found" && code != "method_not_allowed";
        let ops = ["/healthz", "/readyz", "/metrics"].contains(template);
        assert_eq!(served, ops, "{method} {template}: {code:?}");
    }
}
