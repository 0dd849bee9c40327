//! End to end: the real `cgaf serve` process with its private PostgreSQL, the simulator and three
//! products, driven over HTTP. The other service tests here use a fresh database on the test
//! kit's cluster.

mod common;

use base64::Engine as _;
use cgaf_test_kit::eventually;
use common::Service;
use std::time::Duration;

fn decode_png(b64: &str) -> (u32, png::ColorType) {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("png");
    let info = reader.info();
    assert_eq!(info.width, info.height);
    (info.width, info.color_type)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_collects_calculates_and_serves_three_products() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(
        dir.path(),
        &[
            "--products",
            "BTC-USD:21,ETH-USD:25,SOL-USD:30",
            "--collect-schedule",
            "40ms",
            "--calculate-schedule",
            "100ms",
        ],
    );
    let http = reqwest::Client::new();
    let base = svc.base.clone();

    // Images appear for every product, each at its own max_size.
    for (product, size) in [("BTC-USD", 21), ("ETH-USD", 25), ("SOL-USD", 30)] {
        let url = format!("{base}/api/gaf/image?product={product}");
        let (body, text): (serde_json::Value, String) =
            eventually(Duration::from_secs(90), "images at full size", || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let r = http.get(&url).send().await.ok()?;
                    if r.status() != 200 {
                        return None;
                    }
                    let text = r.text().await.ok()?;
                    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                    (v["size"] == size).then_some((v, text))
                }
            })
            .await;
        // The original's key order.
        let keys = ["midpoint", "png1", "png2", "png3", "png4", "size", "date"];
        let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).expect(k)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "key order {at:?}");
        assert_eq!(body.as_object().unwrap().len(), keys.len());
        assert!(body["midpoint"].is_string());
        for (key, color) in [
            ("png1", png::ColorType::Rgb),
            ("png2", png::ColorType::Rgb),
            ("png3", png::ColorType::Rgb),
            ("png4", png::ColorType::Grayscale),
        ] {
            assert_eq!(decode_png(body[key].as_str().unwrap()), (size, color), "{product} {key}");
        }
    }

    // ETag and revalidation.
    let r = http.get(format!("{base}/api/gaf/image?product=BTC-USD")).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r =
        http.get(format!("{base}/api/gaf/image?product=BTC-USD")).header("if-none-match", &etag).send().await.unwrap();
    assert!(r.status() == 304 || r.status() == 200, "{}", r.status()); // 200 if new images arrived meanwhile
    let r = http.get(format!("{base}/api/gaf/image.png?product=ETH-USD&image=orderbook")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(&r.bytes().await.unwrap()[1..4], b"PNG");

    // Every malformed query gets a JSON 4xx.
    for (path, status) in [
        ("/api/gaf/image", 400),
        ("/api/gaf/image?product=", 400),
        ("/api/gaf/image?product=NOPE-USD", 404),
        ("/api/gaf/image?product=BTC%20USD", 400),
        ("/api/gaf/image?product=%ZZ", 400),
        ("/api/gaf/image.png?product=BTC-USD&image=nope", 400),
        ("/api/gaf/image.png", 400),
        ("/api/nothing", 404),
        ("/api/products/BTC-USD", 405),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
        assert_eq!(v["error"]["status"], status, "{path}");
    }

    // Products: writes need the token from the data folder.
    let token = std::fs::read_to_string(dir.path().join("data/api-token")).unwrap();
    let r = http
        .post(format!("{base}/api/products"))
        .json(&serde_json::json!({"product": "ADA-USD"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/api/products"))
        .bearer_auth("wrong")
        .json(&serde_json::json!({"product": "ADA-USD"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/api/products"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"product": "ADA-USD", "max_size": 22}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http.post(format!("{base}/api/products")).bearer_auth(token.trim()).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    // The new product is collected and served without a restart.
    eventually(Duration::from_secs(60), "images of a product added live", || {
        let http = http.clone();
        let url = format!("{base}/api/gaf/image?product=ADA-USD");
        async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    let r = http
        .put(format!("{base}/api/products/ADA-USD"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"max_size": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http.delete(format!("{base}/api/products/ADA-USD")).bearer_auth(token.trim()).send().await.unwrap();
    let status = r.status();
    assert_eq!(status, 204, "DELETE /api/products/ADA-USD: {}", r.text().await.unwrap_or_default());
    let r = http.get(format!("{base}/api/gaf/image?product=ADA-USD")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Health, readiness, metrics.
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["cgaf_samples_total", "cgaf_calculate_seconds", "cgaf_http_request_duration_seconds"] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // The default `--png-encoding auto` says which encoding its next cycle uses (0 fast, 1 small).
    let png_small = metrics.lines().find_map(|l| l.strip_prefix("cgaf_calculate_png_small ")).map(str::trim);
    assert!(matches!(png_small, Some("0" | "1")), "cgaf_calculate_png_small: {png_small:?}");

    // A clean stop: exit 0 and the private PostgreSQL stopped.
    let status = svc.terminate();
    assert!(status.success(), "exit status {status:?}; log:\n{}", svc.log_text());
    assert!(!dir.path().join("data/postgres/postmaster.pid").exists(), "PostgreSQL still running");
    // Its connections were closed before PostgreSQL stopped: no LISTEN or pooled connection
    // breaks on the way out (each used to log a warning).
    let log = svc.log_text();
    let stopping = log.split_once("shutting down").map(|(_, after)| after).expect("the log says it is shutting down");
    let broken: Vec<&str> =
        stopping.lines().filter(|l| l.contains("LISTEN connection") || l.contains("Connection error")).collect();
    assert!(broken.is_empty(), "connections broken by the stop: {broken:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_router_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let svc = Service::start(dir.path(), &["--database-url", &db.url, "--products", "BTC-USD", "--roles", "api"]);
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    let doc: serde_json::Value = eventually(Duration::from_secs(60), "the OpenAPI document", || {
        let http = http.clone();
        let url = format!("{base}/api/openapi.json");
        async move { http.get(&url).send().await.ok()?.json().await.ok() }
    })
    .await;
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut routes: Vec<(String, String)> =
        cgaf_api::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes, "ROUTES and the OpenAPI document differ");
    // Every documented route is served (never the router's 404/405).
    for (method, path) in &documented {
        let url = format!("{base}{}", path.replace("{product}", "BTC-USD").replace("{id}", "1"));
        let r = http.request(method.parse().unwrap(), &url).send().await.unwrap();
        let code = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string());
        assert!(r.status() != 405, "{method} {path}: 405");
        if r.status() == 404 {
            let v: serde_json::Value = r.json().await.unwrap();
            assert_ne!(v["error"]["code"], "not_found", "{method} {path} is not routed ({code:?})");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_only_process_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let args = ["--database-url", &db.url, "--products", "BTC-USD", "--roles", "collect,calculate"];
    let svc = Service::start(dir.path(), &args);
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    eventually(Duration::from_secs(60), "worker readiness", || {
        let (http, base) = (http.clone(), base.clone());
        async move { (http.get(format!("{base}/readyz")).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let m = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("cgaf_samples_total") || m.contains("# HELP"), "{m}");
    // The API itself is not served by a worker.
    assert_eq!(http.get(format!("{base}/api/products")).send().await.unwrap().status(), 404);
}

#[test]
fn metrics_command_reads_stdin_and_prints_snake_case_json() {
    use std::io::Write;
    let mut child = common::cgaf()
        .args(["metrics", "--periods-per-year", "252"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"{"equity": [100, 110, 99, 120]}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((v["total_return"].as_f64().unwrap() - 0.2).abs() < 1e-12, "{v}");
    assert!((v["max_drawdown"].as_f64().unwrap().abs() - 0.1).abs() < 1e-12, "{v}");
    assert_eq!(v["periods_per_year"], 252.0);
    for key in ["sharpe", "sortino", "cagr", "calmar"] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    let bad = common::cgaf().arg("metrics").stdin(std::process::Stdio::null()).output().unwrap();
    assert!(!bad.status.success());
}
