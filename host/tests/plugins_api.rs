//! Plugins over the API with the real binary: uploads are validated (hostile components refused
//! with the failing check named) while the service keeps serving; activation, rollback; and a hot
//! swap that reaches two replicas while a client hammers `/api/gaf/image`, with no failed request.
//! The database of each test is a fresh one on the test kit's cluster.

mod common;

use cgaf_test_kit::{eventually, plugins};
use common::Service;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `cgaf serve` on `database_url`, one product, quick schedules.
fn service_args(database_url: &str) -> Vec<&str> {
    let schedules = ["--collect-schedule", "50ms", "--calculate-schedule", "100ms"];
    [["--database-url", database_url, "--products", "BTC-USD:21"].as_slice(), &schedules].concat()
}

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
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let svc = Service::start(dir.path(), &service_args(&db.url));
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
    let r = http.post(format!("{base}/api/plugins")).body(plugins::read(plugins::BUILTIN_GASF)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Every hostile component is refused with the check that failed; the service keeps serving.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", garbage, "not_a_component"),
        ("empty", Vec::new(), "empty_body"),
        ("wasi-sockets", plugins::read(plugins::HOSTILE_WASI_SOCKETS), "forbidden_import"),
        ("wasi-filesystem", plugins::read(plugins::HOSTILE_WASI_FILESYSTEM), "forbidden_import"),
        ("wrong-world", plugins::read(plugins::HOSTILE_WRONG_WORLD), "invalid_info"),
        ("bad-info", plugins::read(plugins::FIXTURE_BAD_INFO), "invalid_info"),
        ("slow-info", plugins::read(plugins::HOSTILE_SLOW_INFO), "timeout"),
        ("loop", plugins::read(plugins::HOSTILE_LOOP), "smoke_test_failed"),
        ("memory-bomb", plugins::read(plugins::HOSTILE_MEMORY_BOMB), "smoke_test_failed"),
        ("stack-overflow", plugins::read(plugins::HOSTILE_STACK_OVERFLOW), "smoke_test_failed"),
        ("panic", plugins::read(plugins::HOSTILE_PANIC), "smoke_test_failed"),
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
    let (status, body) = upload(&http, &base, &token, plugins::read(plugins::FIXTURE_GADF_NEXT), false).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["version"].as_str(), body["active"].as_bool()),
        (Some("gadf"), Some("1.1.0"), Some(false))
    );
    let (status, _) = upload(&http, &base, &token, plugins::read(plugins::FIXTURE_GADF_NEXT), false).await;
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
    // Read-your-write: the replica that answered serves the new version at once (no waiting for
    // the notification to come round).
    assert_eq!(gadf_rows(&http, &base).await, Some(transposed.clone()), "the new version in use at once");
    let r = http.post(format!("{base}/api/plugins/gadf/rollback")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["active_version"], "1.0.0");
    assert_eq!(gadf_rows(&http, &base).await, Some(before.clone()), "the old version back at once");
    // Back and forth twelve times: never a moment on the other version after an answer.
    for k in 0..12 {
        let version = if k % 2 == 0 { "1.1.0" } else { "1.0.0" };
        let r = http
            .post(format!("{base}/api/plugins/gadf/activate"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"version": version}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let want = if k % 2 == 0 { &transposed } else { &before };
        assert_eq!(gadf_rows(&http, &base).await.as_ref(), Some(want), "activation {k} ({version}) in use at once");
    }
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
    form.extend(plugins::read(plugins::FIXTURE_GADF_NEXT));
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
async fn two_replicas_switch_without_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let mut args = service_args(&db.url);
    // Both hold the artifact key: the replica that compiles a version shares its code.
    args.extend(["--api-token", "swap-token", "--plugin-artifact-key", "swap-test-artifact-key-0123456789abcdef"]);
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
    let served = |n: u64| {
        let ok = ok.clone();
        move || {
            let ok = ok.clone();
            async move { (ok.load(Ordering::Relaxed) >= n).then_some(()) }
        }
    };
    eventually(Duration::from_secs(30), "the client's first images", served(1)).await;

    let (status, body) = upload(&http, &bases[0], "swap-token", plugins::read(plugins::FIXTURE_GADF_NEXT), true).await;
    assert_eq!(status, 201, "{body}");
    for b in &bases {
        eventually(Duration::from_secs(30), &format!("{b} to switch to the new version"), || {
            let (http, b, t) = (http.clone(), b.clone(), transposed.clone());
            async move { (gadf_rows(&http, &b).await.as_ref() == Some(&t)).then_some(()) }
        })
        .await;
    }
    // The client keeps being served after the switch.
    let after_switch = ok.load(Ordering::Relaxed) + 10;
    eventually(Duration::from_secs(30), "images after the switch", served(after_switch)).await;
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests during the swap");
    // The other replica loaded the code the uploading replica compiled, instead of compiling.
    let log = std::fs::read_to_string(&replicas[1].log).unwrap();
    assert!(
        log.lines().any(|l| l.contains("loaded the compiled plugin another replica shared") && l.contains("1.1.0")),
        "replica 2 compiled gadf 1.1.0 itself:\n{log}"
    );
    drop(replicas);
}
