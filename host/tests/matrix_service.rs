//! The matrix pipeline in the running service, over samples the test writes: a tuning sweep
//! started, followed and ranked through the API (run by the calculate worker with the real
//! blender plugins, each combination equal to a `cgaf replay` of the same settings), and restart
//! resume at every step — `cgaf` killed (SIGKILL, by its test-only failpoint) right after every
//! step commits, and PostgreSQL killed and restarted mid-stream — storing exactly the rows of an
//! uninterrupted run.

mod common;

use cgaf_calculate::matrix::worker::rows_sha256;
use cgaf_embedded_postgres::{EmbeddedOptions, EmbeddedPostgres};
use cgaf_store::matrices::LIVE;
use cgaf_store::{DbSettings, Product, Store};
use cgaf_test_kit::eventually;
use common::{cgaf, Service};
use serde_json::{json, Value};
use std::time::Duration;

const PRODUCT: &str = "BTC-USD";
const TOKEN: &str = "matrix-test-token";
/// The first sample's time; samples are 250 ms apart.
const T0: i64 = 1_700_000_001_000;
const GRANULARITIES: &str = "1s,5s";
const G: [i64; 2] = [1_000, 5_000];

/// Writes samples `from..to` of a deterministic series (prices, three book levels a side, taker
/// flow) for `PRODUCT`, in one statement over a connection of its own (so it works the moment
/// the server is back after a restart).
async fn insert_samples(url: &str, from: i64, to: i64) {
    let sql = "INSERT INTO crypto_gaf.samples
                 (product, sampled_at, midpoint, bid_prices, bid_sizes, ask_prices, ask_sizes, buys, sells)
               SELECT $1, to_timestamp(0) + ($2::int8 + i * 250) * interval '1 millisecond',
                      round((100 + sin(i * 0.11) + 0.01 * i)::numeric, 6),
                      ARRAY[99, 98, 97]::numeric[],
                      ARRAY(SELECT round((1 + (sin(i * 0.37 + k + 1.3) + 1) * 2)::numeric, 6) FROM generate_series(0, 2) k),
                      ARRAY[101, 102, 103]::numeric[],
                      ARRAY(SELECT round((1 + (sin(i * 0.37 + k) + 1) * 2)::numeric, 6) FROM generate_series(0, 2) k),
                      ARRAY[100, round(((cos(i * 0.9) + 1) * 0.5)::numeric, 6), 1],
                      ARRAY[100, round(((sin(i * 0.4) + 1) * 0.5)::numeric, 6), 1]
               FROM generate_series($3::int8, $4::int8 - 1) i ORDER BY i";
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let n = client.execute(sql, &[&PRODUCT, &T0, &from, &to]).await.unwrap();
    assert_eq!(n as i64, to - from);
}

async fn prepared_store(url: &str) -> Store {
    let store = Store::new(&DbSettings::new(url.to_string())).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    store.ensure_products(&[Product { product: PRODUCT.into(), max_size: 100_000 }]).await.unwrap();
    store
}

async fn newest_sample(url: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.query_one("SELECT max(sample_id) FROM crypto_gaf.samples", &[]).await.unwrap().get(0)
}

/// Waits until the live pipeline's cursor stands at `sample_id`.
async fn consumed(store: &Store, sample_id: i64) {
    eventually(Duration::from_secs(120), &format!("the live cursor at sample {sample_id}"), || async {
        let c = store.matrix_cursor(LIVE, PRODUCT).await.ok()??;
        assert!(c.sample_id <= sample_id, "the cursor passed {sample_id}: {}", c.sample_id);
        (c.sample_id == sample_id).then_some(())
    })
    .await;
}

fn service_args(url: &str) -> Vec<String> {
    [
        "--database-url",
        url,
        "--products",
        PRODUCT,
        "--api-token",
        TOKEN,
        "--calculate-schedule",
        "100ms",
        "--lease-ttl",
        "1s",
        "--matrix-granularities",
        GRANULARITIES,
        "--matrix-k",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_sweep_through_the_api_is_ranked_and_each_combination_equals_cgaf_replay() {
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = prepared_store(&db.url).await;
    insert_samples(&db.url, 0, 200).await;
    let last = newest_sample(&db.url).await;
    let mut args = service_args(&db.url);
    args.extend(["--roles", "api,calculate", "--sweep-threads", "2"].map(String::from));
    let svc = Service::start(dir.path(), &refs(&args));
    let (http, base) = (reqwest::Client::new(), svc.base.clone());
    common::wait_ready(&http, &base).await;
    consumed(&store, last).await;
    let url = format!("{base}/api/matrices/sweeps");
    let post = |body: Value| http.post(&url).bearer_auth(TOKEN).json(&body);
    let body = |k: Value, solver: Value, blender: Value| {
        json!({"name": "tune", "product": PRODUCT, "from": "2023-11-14T22:13:21Z", "to": T0 + 3_600_000,
               "k": k, "solver": solver, "blender": blender})
    };
    let good = body(json!([2, 4]), json!(["min-norm", "stochastic"]), json!(["blend-mean", "blend-ewma:alpha=0.3"]));

    // Refused: no token, bad axes, a plugin that is no blender, an empty range, unknown fields
    // and products.
    let (s, _) = send(http.post(&url).json(&good)).await;
    assert_eq!(s, 401);
    let mut unknown_product = good.clone();
    unknown_product["product"] = json!("NOPE-USD");
    let mut empty_range = good.clone();
    empty_range["to"] = json!(T0 - 1_000_000_000);
    let mut extra = good.clone();
    extra["colour"] = json!(1);
    for (b, status, needle) in [
        (body(json!([0]), json!(["min-norm"]), json!(["blend-mean"])), 400, "k must be"),
        (body(json!([]), json!(["min-norm"]), json!(["blend-mean"])), 400, "at least one"),
        (body(json!([2]), json!(["lasso"]), json!(["blend-mean"])), 400, "solver"),
        (body(json!([2]), json!(["min-norm"]), json!(["gasf"])), 400, "not a blender"),
        (body(json!([2]), json!(["min-norm"]), json!(["no-such-blender"])), 400, "blender no-such-blender"),
        (body(json!([2]), json!(["min-norm"]), json!(["Bad Name"])), 400, "blender name"),
        (empty_range, 400, "to must be after from"),
        (extra, 400, "unknown field"),
        (unknown_product, 404, "NOPE-USD"),
    ] {
        let (s, r) = send(post(b)).await;
        assert_eq!(s, status, "{needle}: {r}");
        assert!(r["error"]["message"].as_str().unwrap_or_default().contains(needle), "{needle}: {r}");
    }

    // Started: stored pending (or already claimed), 8 combinations; the name is taken now.
    let (s, created) = send(post(good.clone())).await;
    assert_eq!(s, 201, "{created}");
    assert!(matches!(created["status"].as_str(), Some("pending" | "running")), "{created}");
    assert_eq!(created["combinations_total"], 8);
    assert_eq!(
        created["grid"],
        json!({"k": [2, 4], "solver": ["min-norm", "stochastic:1"], "blender": ["blend-mean", "blend-ewma:alpha=0.3"]})
    );
    let (s, r) = send(post(good.clone())).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("name_in_use")), "{r}");
    let id = created["id"].as_i64().unwrap();

    // Followed to its end through the API.
    let done = eventually(Duration::from_secs(180), "the matrix sweep to end", || {
        let (http, url) = (http.clone(), format!("{base}/api/matrices/sweeps/{id}"));
        async move {
            let r: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            assert!(r["combinations_done"].as_i64()? <= 8, "{r}");
            matches!(r["status"].as_str(), Some("finished" | "failed")).then_some(r)
        }
    })
    .await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!((done["combinations_done"].as_i64(), done["combinations_total"].as_i64()), (Some(8), Some(8)));
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.len(), 8);
    assert_eq!(results.iter().map(|r| r["rank"].as_i64().unwrap()).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r["scores"].as_i64().unwrap() > 0 && r["faults"] == 0), "{done}");
    let rmse: Vec<f64> = results.iter().map(|r| r["rmse"].as_f64().unwrap()).collect();
    assert!(rmse.windows(2).all(|w| w[0] <= w[1]), "ranked by RMSE: {rmse:?}");
    assert!(rmse[0] < rmse[7], "the grid makes a difference: {rmse:?}");
    assert!(results.iter().all(|r| r["skill"].is_f64()), "{done}");
    let (s, list) = send(http.get(&url)).await;
    assert_eq!(s, 200);
    assert_eq!(list["sweeps"][0]["id"], id, "{list}");
    assert_eq!(list["sweeps"][0]["status"], "finished");

    // A combination's rows are those of `cgaf replay` with the same settings; the live rows are
    // untouched (their replays hold their own rows).
    let live_before = rows_sha256(&store, LIVE, PRODUCT, &G).await.unwrap();
    let out = cgaf()
        .args(["replay", "--data-dir", dir.path().join("data").to_str().unwrap(), "--database-url", &db.url])
        .args(["--product", PRODUCT, "--from", &T0.to_string(), "--to", &(T0 + 3_600_000).to_string()])
        .args(["--matrix-granularities", GRANULARITIES, "--k", "4", "--solver", "stochastic"])
        .args(["--blender", "blend-ewma:alpha=0.3", "--name", "single"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let single: Value = serde_json::from_slice(&out.stdout).unwrap();
    let same = results
        .iter()
        .find(|r| r["k"] == 4 && r["solver"] == "stochastic:1" && r["blender"] == "blend-ewma:alpha=0.3")
        .unwrap();
    assert_eq!(single["rows_sha256"], same["rows_sha256"], "{single} vs {same}");
    assert_eq!(same["replay"], "tune/k=4/solver=stochastic:1/blender=blend-ewma:alpha=0.3");
    let replayed = rows_sha256(&store, same["replay"].as_str().unwrap(), PRODUCT, &G).await.unwrap();
    assert_eq!(Some(replayed.as_str()), same["rows_sha256"].as_str());
    assert_eq!(rows_sha256(&store, LIVE, PRODUCT, &G).await.unwrap(), live_before);
}

/// Row counts of the live pipeline: rollups, transitions, blends, forecasts, scores.
async fn live_counts(store: &Store) -> Vec<i64> {
    let client = store.client().await.unwrap();
    let mut out = Vec::new();
    for t in ["matrix_rollups", "matrix_transitions", "matrix_blends", "matrix_forecasts", "matrix_scores"] {
        let sql = format!("SELECT count(*) FROM crypto_gaf.{t} WHERE pipeline = 'live'");
        out.push(client.query_one(&sql, &[]).await.unwrap().get(0));
    }
    out
}

/// Waits for a `cgaf` that kills itself; true when it died of SIGKILL.
async fn killed_itself(svc: &mut Service) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let child = &mut svc.child;
    let status = cgaf_test_kit::wait_until(Duration::from_secs(120), "cgaf to kill itself after a step", || {
        child.try_wait().unwrap()
    });
    status.signal() == Some(9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_every_step_and_with_postgres_restarted_the_rows_equal_an_uninterrupted_run() {
    // PostgreSQL is killed here, so this test runs a cluster of its own.
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions::new(dir.path().join("pg"));
    let mut pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&opts)).await.unwrap().unwrap();
    {
        let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute("CREATE DATABASE reference").await.unwrap();
        client.batch_execute("CREATE DATABASE interrupted").await.unwrap();
    }
    const CHUNK: i64 = 13;
    const CHUNKS: i64 = 14;
    const PG_RESTART_AT: i64 = 6;

    // The uninterrupted run: every sample there before the service starts, consumed in one go.
    let reference_url = pg.database_url("reference");
    let reference = prepared_store(&reference_url).await;
    insert_samples(&reference_url, 0, CHUNK * CHUNKS).await;
    let mut args = service_args(&reference_url);
    args.extend(["--roles", "calculate"].map(String::from));
    let mut svc = Service::start(dir.path(), &refs(&args));
    consumed(&reference, newest_sample(&reference_url).await).await;
    assert!(svc.terminate().success(), "{}", svc.log_text());

    // The interrupted run: the samples arrive a chunk at a time; every `cgaf` commits one step
    // (the chunk) and is killed right after it by its failpoint; once, PostgreSQL is killed and
    // started again while `cgaf` runs, with a chunk written after it is back.
    let url = pg.database_url("interrupted");
    let store = prepared_store(&url).await;
    let mut args = service_args(&url);
    args.extend(["--roles", "calculate"].map(String::from));
    let mut killed = 0;
    let mut chunk = 0;
    while chunk < CHUNKS {
        // Every life shares the data folder (and its compiled plugins); each logs to a file of its own.
        let life = dir.path();
        insert_samples(&url, chunk * CHUNK, (chunk + 1) * CHUNK).await;
        let end = newest_sample(&url).await;
        if chunk == PG_RESTART_AT {
            let mut svc = Service::start(life, &refs(&args));
            consumed(&store, end).await;
            let logged = svc.log_text().len();
            pg = tokio::task::spawn_blocking(move || {
                pg.kill().unwrap();
                pg
            })
            .await
            .unwrap();
            eventually(Duration::from_secs(60), "the outage in the service's log", || {
                let log = svc.log_text();
                async move { log.get(logged..).unwrap_or_default().contains("claiming products").then_some(()) }
            })
            .await;
            pg = tokio::task::spawn_blocking(move || {
                pg.restart().unwrap();
                pg
            })
            .await
            .unwrap();
            chunk += 1;
            insert_samples(&url, chunk * CHUNK, (chunk + 1) * CHUNK).await;
            consumed(&store, newest_sample(&url).await).await;
            assert!(svc.terminate().success(), "{}", svc.log_text());
        } else {
            let mut a = refs(&args);
            a.extend(["--matrix-abort-after-steps", "1"]);
            let mut svc = Service::start(life, &a);
            assert!(killed_itself(&mut svc).await, "{}", svc.log_text());
            assert!(svc.log_text().contains("matrix failpoint"), "{}", svc.log_text());
            killed += 1;
            // The step committed before the kill: exactly the chunk, with its cursor.
            assert_eq!(store.matrix_cursor(LIVE, PRODUCT).await.unwrap().map(|c| c.sample_id), Some(end));
        }
        chunk += 1;
    }
    assert_eq!(killed, CHUNKS - 2);

    let counts = live_counts(&store).await;
    assert_eq!(counts, live_counts(&reference).await, "rollups, transitions, blends, forecasts, scores");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    assert_eq!(
        rows_sha256(&store, LIVE, PRODUCT, &G).await.unwrap(),
        rows_sha256(&reference, LIVE, PRODUCT, &G).await.unwrap(),
        "the interrupted run stored other rows than the uninterrupted one"
    );
    drop(pg);
}
