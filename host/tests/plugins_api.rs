//! Plugins over the API with the real binary: uploads are validated (hostile components refused
//! with the failing check named) while the service keeps serving; activation, rollback; and a hot
//! swap that reaches two replicas within a second while a client hammers `/api/gaf/image`.

mod common;

use cgaf_store::embedded::{EmbeddedOptions, EmbeddedPostgres};
use common::{component, eventually, Service};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn ready(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(90), "readiness", || {
        let (http, url) = (http.clone(), format!("{base}/readyz"));
        async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    bytes: Vec<u8>,
    activate: bool,
) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{base}/api/plugins?activate={activate}"))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

const SERIES: [f64; 6] = [0.0, 1.0, 3.0, 2.0, 5.0, 4.0];

async fn gadf_rows(http: &reqwest::Client, base: &str) -> Option<Vec<Vec<f64>>> {
    let r = http
        .post(format!("{base}/api/transforms/gadf"))
        .json(&serde_json::json!({"series": SERIES}))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_validated_and_versions_managed() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(
        dir.path(),
        &["--products", "BTC-USD:21", "--collect-schedule", "50ms", "--calculate-schedule", "100ms"],
    );
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    ready(&http, &base).await;
    let token = std::fs::read_to_string(dir.path().join("data/api-token")).unwrap().trim().to_string();

    // The built-ins are seeded and active.
    let list: serde_json::Value = http.get(format!("{base}/api/plugins")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in ["blend-ewma", "blend-mean", "blend-product", "gadf", "gasf", "mtf", "recurrence-plot", "sma-cross"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }

    // Writes need the token.
    let r = http.post(format!("{base}/api/plugins")).body(component("builtin", "gasf")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Every hostile component is refused with the check that failed; the service keeps serving.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", garbage, "not_a_component"),
        ("empty", Vec::new(), "empty_body"),
        ("wasi-sockets", component("hostile", "wasi-sockets"), "forbidden_import"),
        ("wasi-filesystem", component("hostile", "wasi-filesystem"), "forbidden_import"),
        ("wrong-world", component("hostile", "wrong-world"), "invalid_info"),
        ("bad-info", component("hostile", "bad-info"), "invalid_info"),
        ("slow-info", component("hostile", "slow-info"), "timeout"),
        ("loop", component("hostile", "loop"), "smoke_test_failed"),
        ("memory-bomb", component("hostile", "memory-bomb"), "smoke_test_failed"),
        ("stack-overflow", component("hostile", "stack-overflow"), "smoke_test_failed"),
        ("panic", component("hostile", "panic"), "smoke_test_failed"),
    ];
    for (name, bytes, code) in cases {
        let (status, body) = upload(&http, &base, &token, bytes, false).await;
        assert!((400..500).contains(&status), "{name}: {status} {body}");
        let got = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            got == code || (name == "wrong-world" && got == "wrong_world"),
            "{name}: code {got:?}, want {code:?}: {body}"
        );
        assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200, "after {name}");
    }
    eventually(Duration::from_secs(60), "images while hostile uploads were refused", || {
        let (http, url) = (http.clone(), format!("{base}/api/gaf/image?product=BTC-USD"));
        async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;

    // A new version: stored, not active until asked.
    let before = gadf_rows(&http, &base).await.unwrap();
    let (status, body) = upload(&http, &base, &token, component("hostile", "gadf-next"), false).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["version"].as_str(), body["active"].as_bool()),
        (Some("gadf"), Some("1.1.0"), Some(false))
    );
    let (status, _) = upload(&http, &base, &token, component("hostile", "gadf-next"), false).await;
    assert_eq!(status, 200, "the same bytes again are not a new version");
    let show: serde_json::Value =
        http.get(format!("{base}/api/plugins/gadf")).send().await.unwrap().json().await.unwrap();
    assert_eq!(show["active_version"], "1.0.0");
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);

    // Activate, then roll back.
    let r = http
        .post(format!("{base}/api/plugins/gadf/activate"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"version": "1.1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let transposed: Vec<Vec<f64>> = (0..before.len()).map(|i| before.iter().map(|row| row[i]).collect()).collect();
    eventually(Duration::from_secs(5), "the new version in use", || {
        let (http, base, t) = (http.clone(), base.clone(), transposed.clone());
        async move { (gadf_rows(&http, &base).await? == t).then_some(()) }
    })
    .await;
    let r = http.post(format!("{base}/api/plugins/gadf/rollback")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["active_version"], "1.0.0");
    eventually(Duration::from_secs(5), "the old version back", || {
        let (http, base, b) = (http.clone(), base.clone(), before.clone());
        async move { (gadf_rows(&http, &base).await? == b).then_some(()) }
    })
    .await;
    let r = http
        .post(format!("{base}/api/plugins/gadf/activate"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"version": "9.9.9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Multipart uploads work too (the same bytes again: stored already).
    let boundary = "cgaf-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gadf-next.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
    )
    .into_bytes();
    form.extend(component("hostile", "gadf-next"));
    form.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let r = http
        .post(format!("{base}/api/plugins"))
        .bearer_auth(&token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // The CLI talks to the same routes.
    let out = common::cgaf().args(["plugin", "list", "gadf", "--url", &base]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["active_version"], "1.0.0");
    let out = common::cgaf().args(["plugin", "rollback", "gadf", "--url", &base, "--token", &token]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = common::cgaf()
        .args(["plugin", "activate", "gadf", "1.0.0", "--url", &base, "--token", &token])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Stats of this replica are shown.
    let show: serde_json::Value =
        http.get(format!("{base}/api/plugins/gadf")).send().await.unwrap().json().await.unwrap();
    assert!(show["stats"]["1.0.0"]["calls"].as_u64().unwrap_or(0) > 0, "{show}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_switch_within_a_second_without_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions { data_dir: dir.path().join("pg"), ephemeral: true, port: None };
    let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&opts)).await.unwrap().unwrap();
    let url = pg.url();
    let args = [
        "--database-url",
        &url,
        "--products",
        "BTC-USD:21",
        "--collect-schedule",
        "50ms",
        "--calculate-schedule",
        "100ms",
        "--api-token",
        "swap-token",
    ];
    let replicas: Vec<Service> = (0..2)
        .map(|i| {
            let d = dir.path().join(format!("r{i}"));
            std::fs::create_dir_all(&d).unwrap();
            Service::start(&d, &args)
        })
        .collect();
    let http = reqwest::Client::new();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    for b in &bases {
        ready(&http, b).await;
        eventually(Duration::from_secs(60), "images", || {
            let (http, url) = (http.clone(), format!("{b}/api/gaf/image?product=BTC-USD"));
            async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
        })
        .await;
    }
    let before = gadf_rows(&http, &bases[0]).await.unwrap();
    let transposed: Vec<Vec<f64>> = (0..before.len()).map(|i| before.iter().map(|row| row[i]).collect()).collect();

    // A client hammers both replicas during the swap.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut hammers = Vec::new();
    for b in bases.clone() {
        let (http, stop, ok, failed) = (http.clone(), stop.clone(), ok.clone(), failed.clone());
        hammers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let good = match http.get(format!("{b}/api/gaf/image?product=BTC-USD")).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                if good {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, body) = upload(&http, &bases[0], "swap-token", component("hostile", "gadf-next"), true).await;
    let t0 = Instant::now();
    assert_eq!(status, 201, "{body}");
    let mut switched = Vec::new();
    for b in &bases {
        loop {
            if gadf_rows(&http, b).await.as_ref() == Some(&transposed) {
                switched.push(t0.elapsed());
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "{b} never switched");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.await.unwrap();
    }
    eprintln!(
        "switch times after the upload answered: {switched:?}; requests ok {} failed {}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    for t in &switched {
        assert!(*t < Duration::from_secs(1), "a replica took {t:?} to switch");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests during the swap");
    assert!(ok.load(Ordering::Relaxed) > 10);
    drop(replicas);
    drop(pg);
}
