//! Every route in process (`warp::test`) against a real PostgreSQL: its success answer parses
//! as its model, and an error answer has the error shape with the expected code.

use base64::Engine as _;
use bytes::Bytes;
use cgaf_api::models::{
    ActiveVersion, BarsPage, DecisionPage, ErrorBody, GafImage, HistoryCoverage, ImportReportModel, KillSwitch,
    Leaderboard, PluginDetail, PluginSummary, Product, Run, RunDetail, RunList, Status, Sweep, SweepList,
    UploadedPlugin,
};
use cgaf_api::models::{BlendsPage, ForecastsPage, RollingScores, ScoresPage, TransitionsPage};
use cgaf_api::{ApiSettings, ApiState, Metrics};
use cgaf_runtime::{PluginHost, RuntimeSettings};
use cgaf_store::gafs::{GafImages, SampleSignature};
use cgaf_store::{DbSettings, Store};
use cgaf_trade::domain::history::HistoryBar;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use warp::filters::BoxedFilter;
use warp::reply::Response;

const TOKEN: &str = "test-token";

/// A migrated database of its own, on the test binary's cluster (the test kit).
struct Db {
    store: Store,
}

/// The one place this file gets a database.
async fn database() -> Db {
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(db.url)).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    Db { store }
}

/// A built-in plugin component, built once by the test kit from the one plugin list.
fn builtin_component(path: &str) -> Vec<u8> {
    cgaf_test_kit::plugins::read(path)
}

/// A plugin host with generous deadlines (tests share slow machines) and `components` active.
fn plugin_host(components: &[&[u8]]) -> Arc<PluginHost> {
    let settings = RuntimeSettings {
        call_deadline: Duration::from_secs(10),
        info_deadline: Duration::from_secs(10),
        pooling: false,
        ..RuntimeSettings::default()
    };
    let host = PluginHost::new(settings, 5).unwrap();
    for c in components {
        host.install(c).unwrap();
    }
    Arc::new(host)
}

fn api(store: &Store, host: Option<Arc<PluginHost>>) -> (Arc<ApiState>, BoxedFilter<(Response,)>) {
    let settings = ApiSettings { token: TOKEN.into(), max_json_body: 1 << 20, max_plugin_bytes: 32 << 20 };
    let mut state = ApiState::new(store.clone(), Metrics::new(), &settings);
    if let Some(h) = host {
        state = state.with_plugins(h);
    }
    let state = Arc::new(state);
    (state.clone(), cgaf_api::routes(state))
}

/// One answer: status, headers and body.
struct Answer(warp::http::Response<Bytes>);

impl Answer {
    fn status(&self) -> u16 {
        self.0.status().as_u16()
    }
    fn header(&self, name: &str) -> &str {
        self.0.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(self.0.body()).into_owned()
    }
    /// The body as the model `T`, after checking the status.
    fn model<T: DeserializeOwned>(&self, status: u16) -> T {
        assert_eq!(self.status(), status, "{}", self.text());
        serde_json::from_slice(self.0.body()).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    /// Checks the error shape, its status and its code; returns its message.
    fn error(&self, status: u16, code: &str) -> String {
        let e: ErrorBody = self.model(status);
        assert_eq!((e.error.status, e.error.code.as_str()), (status, code), "{}", e.error.message);
        assert!(!e.error.message.is_empty());
        e.error.message
    }
}

struct Client {
    filter: BoxedFilter<(Response,)>,
}

impl Client {
    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Answer {
        let mut r = warp::test::request().method(method).path(path);
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        Answer(r.reply(&self.filter).await)
    }
    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, None).await
    }
    async fn write(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send(method, path, Some(TOKEN), Some(body.to_string().into_bytes())).await
    }
    async fn write_anonymously(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send(method, path, None, Some(body.to_string().into_bytes())).await
    }
}

fn history_bar(close_ms: i64, price: f64) -> HistoryBar {
    HistoryBar {
        close_ms,
        open: price,
        high: price + 1.0,
        low: price - 1.0,
        close: price + 0.5,
        volume: 1.0,
        buy_volume: None,
        sell_volume: None,
        sample_count: None,
        book: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_routes() {
    let db = database().await;
    let (_state, filter) = api(&db.store, None);
    let c = Client { filter };
    let empty: HistoryCoverage = c.get("/api/history").await.model(200);
    assert!(empty.ranges.is_empty());

    // Imports: the token, a bad row named by line and column (nothing written), then the file.
    let mut csv = String::from("time,open,high,low,close,volume\n");
    for k in 0..30 {
        let p = 100.0 + k as f64;
        csv.push_str(&format!("{},{p},{},{},{p},2\n", 1_735_689_600 + k * 60, p + 1.0, p - 1.0));
    }
    let path = "/api/history/imports?product=BTC-USD&interval=1m";
    c.send("POST", path, None, Some(csv.clone().into_bytes())).await.error(401, "unauthorized");
    let bad = csv.replace("1735689780,103,104,102", "1735689780,103,101,102");
    let message = c.send("POST", path, Some(TOKEN), Some(bad.into_bytes())).await.error(400, "bad_csv");
    assert!(message.contains("line 5") && message.contains("nothing was written"), "{message}");
    c.send("POST", "/api/history/imports?interval=1m", Some(TOKEN), Some(csv.clone().into_bytes()))
        .await
        .error(400, "bad_query");
    let report: ImportReportModel = c.send("POST", path, Some(TOKEN), Some(csv.clone().into_bytes())).await.model(201);
    assert_eq!((report.bars, report.written, report.rolled_up), (30, 30, 6 + 2 + 1 + 1));
    // A clean file over a range with nothing stored streams in batches, as the CLI's does.
    assert!(report.streamed, "{report:?}");
    // Other values over imported bars: 409 unless replace=true.
    let other = csv.replace(",2\n", ",3\n");
    c.send("POST", path, Some(TOKEN), Some(other.clone().into_bytes())).await.error(409, "import_conflict");
    let replaced: ImportReportModel =
        c.send("POST", &format!("{path}&replace=true"), Some(TOKEN), Some(other.into_bytes())).await.model(201);
    assert_eq!(replaced.written, 30);
    // Over stored bars the file is read whole and merged.
    assert!(!replaced.streamed, "{replaced:?}");

    let coverage: HistoryCoverage = c.get("/api/history").await.model(200);
    let minutes = coverage.ranges.iter().find(|r| r.interval == "1m").unwrap();
    assert_eq!((minutes.count, minutes.first.as_str(), minutes.gaps), (30, "2025-01-01T00:00:00Z", 0));

    // Bars: JSON pages that chain, and the range as CSV.
    let page: BarsPage = c.get("/api/history/bars?product=BTC-USD&interval=1m&limit=20").await.model(200);
    assert_eq!((page.bars.len(), page.bars[0].origin.as_str()), (20, "imported"));
    let next = page.next_after.unwrap();
    let rest: BarsPage =
        c.get(&format!("/api/history/bars?product=BTC-USD&interval=1m&limit=20&after={next}")).await.model(200);
    assert_eq!((rest.bars.len(), rest.next_after), (10, None));
    let r = c.get("/api/history/bars?product=BTC-USD&interval=1m&format=csv&from=2025-01-01T00:10:00Z").await;
    assert_eq!((r.status(), r.header("content-type")), (200, "text/csv"));
    let text = r.text();
    assert!(
        text.starts_with("time,open,high,low,close,volume,buy_volume,sell_volume\n2025-01-01T00:10:00Z,110,"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 21);
    c.get("/api/history/bars?product=BTC-USD&format=xml").await.error(400, "bad_query");
    c.get("/api/history/bars?product=BTC-USD&interval=soon").await.error(400, "bad_query");
    c.get("/api/history/bars?interval=1m").await.error(400, "bad_query");
}

#[tokio::test]
async fn an_import_larger_than_the_limit_is_refused_and_writes_nothing() {
    let db = database().await;
    let settings = ApiSettings { token: TOKEN.into(), max_json_body: 1 << 20, max_plugin_bytes: 32 << 20 };
    let state = ApiState::new(db.store.clone(), Metrics::new(), &settings).with_history_imports(200, vec![300_000]);
    let c = Client { filter: cgaf_api::routes(Arc::new(state)) };
    let mut csv = String::from("time,open,high,low,close,volume\n");
    for k in 0..10 {
        csv.push_str(&format!("{},100,101,99,100,2\n", 1_735_689_600 + k * 60));
    }
    assert!(csv.len() > 200);
    let path = "/api/history/imports?product=BTC-USD&interval=1m";
    // The token is checked before the body is read.
    c.send("POST", path, None, Some(csv.clone().into_bytes())).await.error(401, "unauthorized");
    let message = c.send("POST", path, Some(TOKEN), Some(csv.into_bytes())).await.error(413, "payload_too_large");
    assert!(message.contains("200 bytes"), "{message}");
    let coverage: HistoryCoverage = c.get("/api/history").await.model(200);
    assert!(coverage.ranges.is_empty(), "{coverage:?}");
    // Within the limit it imports, streamed, with its rollups.
    let small = "time,open,high,low,close,volume\n1735689600,100,101,99,100,2\n1735689660,100,101,99,100,2\n";
    let report: ImportReportModel = c.send("POST", path, Some(TOKEN), Some(small.into())).await.model(201);
    assert_eq!((report.written, report.rolled_up, report.streamed), (2, 1, true));
}

/// Matrix-pipeline rows of `n` consecutive 5 s buckets, written as one step with a cursor.
fn matrix_rows(n: i64) -> cgaf_store::MatrixRows {
    use cgaf_store::{BlendRow, ForecastRow, MatrixRows, ScoreRow, TransitionRow};
    let t = |k: i64| 1_764_374_400_000 + k * 5_000;
    let features = "book-imbalance@1,taker-flow".to_string();
    let product = "BTC-USD".to_string();
    let mut rows = MatrixRows::default();
    for k in 1..=n {
        let m = vec![0.9, 0.1, 0.2 * k as f64 / n as f64, 1.0 - 0.2 * k as f64 / n as f64];
        rows.transitions.push(TransitionRow {
            product: product.clone(),
            granularity_ms: 5_000,
            t0_ms: t(k - 1),
            t1_ms: t(k),
            mode: "stochastic".into(),
            features: features.clone(),
            size: 2,
            matrix: m.clone(),
            residual: 0.01,
        });
        rows.blends.push(BlendRow {
            product: product.clone(),
            granularity_ms: 5_000,
            t1_ms: t(k),
            blender: "blend-mean".into(),
            blender_version: "1.0.0".into(),
            k: 4,
            matrices: k.min(4) as i32,
            features: features.clone(),
            size: 2,
            matrix: if k == n { vec![1.0, -0.5, 0.25, 0.0] } else { m },
            w: vec![0.5, -0.5],
            drift: (k > 1).then_some(0.1),
            diagonal_dominance: 0.8,
        });
        rows.forecasts.push(ForecastRow {
            product: product.clone(),
            granularity_ms: 5_000,
            base_ms: t(k),
            blender: "blend-mean".into(),
            features: features.clone(),
            forecast: vec![0.4, -0.4],
        });
        if k > 1 {
            rows.scores.push(ScoreRow {
                product: product.clone(),
                granularity_ms: 5_000,
                base_ms: t(k - 1),
                actual_ms: t(k),
                blender: "blend-mean".into(),
                features: features.clone(),
                mae: 0.1 * k as f64,
                rmse: 0.2,
                naive_mae: 0.3,
                naive_rmse: 0.4,
                skill: Some(0.5),
                drift: Some(0.1),
                diagonal_dominance: 0.8,
            });
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_routes() {
    let db = database().await;
    let (_state, filter) = api(&db.store, None);
    let c = Client { filter };
    c.get("/api/matrices/heatmap.png?product=BTC-USD").await.error(404, "no_blend");
    let empty: BlendsPage = c.get("/api/matrices/blends?product=BTC-USD").await.model(200);
    assert!(empty.rows.is_empty() && empty.next_offset.is_none());
    let cursor = cgaf_store::MatrixCursor { sample_id: 7, state: json!({}) };
    db.store.write_matrix_step("live", "BTC-USD", None, &cursor, &matrix_rows(6)).await.unwrap();
    // A second writer from the same cursor is refused and writes nothing.
    let again = db.store.write_matrix_step("live", "BTC-USD", None, &cursor, &matrix_rows(6)).await;
    assert!(matches!(again, Err(cgaf_store::Error::CursorMoved(_)) | Err(cgaf_store::Error::Db(_))), "{again:?}");

    let page: TransitionsPage = c.get("/api/matrices/transitions?product=BTC-USD&limit=4").await.model(200);
    assert_eq!((page.rows.len(), page.next_offset, page.granularity.as_str()), (4, Some(4), "5s"));
    assert_eq!(page.rows[0].t1, "2025-11-29T00:00:05Z");
    let rest: TransitionsPage = c.get("/api/matrices/transitions?product=BTC-USD&limit=4&offset=4").await.model(200);
    assert_eq!((rest.rows.len(), rest.next_offset), (2, None));
    let newest: BlendsPage = c.get("/api/matrices/blends?product=BTC-USD&order=desc&limit=1").await.model(200);
    assert_eq!(newest.rows[0].matrix, [1.0, -0.5, 0.25, 0.0]);
    let ranged: ForecastsPage = c
        .get("/api/matrices/forecasts?product=BTC-USD&from=2025-11-29T00:00:10Z&to=2025-11-29T00:00:20Z")
        .await
        .model(200);
    assert_eq!(ranged.rows.iter().map(|f| f.base_ms % 100_000).collect::<Vec<_>>(), [10_000, 15_000]);
    let scores: ScoresPage = c.get("/api/matrices/scores?product=BTC-USD").await.model(200);
    assert_eq!(scores.rows.len(), 5);
    let r = c.get("/api/matrices/scores?product=BTC-USD&format=csv").await;
    assert_eq!((r.status(), r.header("content-type")), (200, "text/csv"));
    let text = r.text();
    assert!(text.starts_with("base,actual,blender,mae,rmse,naive_mae,naive_rmse,skill,drift,diagonal_dominance\n"));
    assert_eq!(text.lines().count(), 6);
    let r = c.get("/api/matrices/blends?product=BTC-USD&format=csv&limit=1").await;
    assert!(r.text().lines().nth(1).unwrap().contains("\"book-imbalance@1,taker-flow\""), "{}", r.text());
    let rolling: RollingScores = c.get("/api/matrices/rolling?window=2").await.model(200);
    assert_eq!(rolling.scores.len(), 1);
    let s = &rolling.scores[0];
    assert_eq!((s.n, s.granularity.as_str(), s.blender.as_str()), (2, "5s", "blend-mean"));
    assert!((s.mae - 0.55).abs() < 1e-12 && (s.skill.unwrap() - 0.5).abs() < 1e-12);
    let png = c.get("/api/matrices/heatmap.png?product=BTC-USD&granularity=5s").await;
    assert_eq!((png.status(), png.header("content-type")), (200, "image/png"));
    assert!(png.0.body().starts_with(b"\x89PNG"));
    c.get("/api/matrices/blends?product=BTC-USD&granularity=soon").await.error(400, "bad_query");
    c.get("/api/matrices/blends?product=BTC-USD&limit=0").await.error(400, "bad_query");
    c.get("/api/matrices/blends?product=BTC-USD&order=up").await.error(400, "bad_query");
    c.get("/api/matrices/blends").await.error(400, "bad_query");
    c.get("/api/matrices/rolling?window=0").await.error(400, "bad_query");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `GET /api/gaf/image?product=BTC-USD` with `accept` as Accept-Encoding until the answer comes
/// encoded as `coding` (the encoded form is made on the first such request; answers are plain
/// meanwhile); every answer is a 200 that varies on Accept-Encoding.
async fn encoded_answer(filter: &BoxedFilter<(Response,)>, accept: &str, coding: &str) -> warp::http::Response<Bytes> {
    for _ in 0..1000 {
        let r = warp::test::request()
            .path("/api/gaf/image?product=BTC-USD")
            .header("accept-encoding", accept)
            .reply(filter)
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["vary"], "accept-encoding");
        if r.headers().get("content-encoding").is_some_and(|v| v == coding) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the {coding} answer never came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_products_and_operational_routes() {
    let db = database().await;
    let (state, filter) = api(&db.store, None);
    let c = Client { filter };

    // Before the cache's first load.
    c.get("/api/products").await.error(503, "starting");
    state.cache.replace_all(&db.store.load_all_gafs().await.unwrap());

    // Products.
    c.write_anonymously("POST", "/api/products", json!({"product": "BTC-USD"})).await.error(401, "unauthorized");
    let r = c.write("POST", "/api/products", json!({"product": "BTC-USD", "max_size": 21})).await;
    let p: Product = r.model(201);
    assert_eq!((p.product.as_str(), p.max_size, p.computed), ("BTC-USD", 21, false));
    assert_eq!(
        r.text(),
        r#"{"computed":false,"computed_at":null,"max_size":21,"midpoint":null,"product":"BTC-USD","size":null}"#,
        "the wire form of a product"
    );
    c.write("POST", "/api/products", json!({"product": "BTC-USD"})).await.error(409, "product_exists");
    c.write("POST", "/api/products", json!({"product": "BTC USD"})).await.error(400, "bad_product");
    c.write("POST", "/api/products", json!({"product": "A-USD", "colour": 1})).await.error(400, "bad_body");
    let list: Vec<Product> = c.get("/api/products").await.model(200);
    assert_eq!(list.iter().map(|p| p.product.as_str()).collect::<Vec<_>>(), ["BTC-USD"]);
    let p: Product = c.write("PUT", "/api/products/BTC-USD", json!({"max_size": 22})).await.model(200);
    assert_eq!(p.max_size, 22);
    c.write("PUT", "/api/products/BTC-USD", json!({"max_size": 5})).await.error(400, "bad_max_size");
    c.write("PUT", "/api/products/NOPE-USD", json!({"max_size": 30})).await.error(404, "unknown_product");

    // Images: not computed, then computed.
    c.get("/api/gaf/image?product=BTC-USD").await.error(503, "not_computed");
    let pngs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![0x89, b'P', b'N', b'G', i]).collect();
    let images = GafImages {
        midpoint: "100.5".into(),
        midpoint_gasf: b64(&pngs[0]),
        midpoint_gadf: b64(&pngs[1]),
        orderbook: b64(&pngs[2]),
        buy: b64(&pngs[3]),
        sell: b64(&pngs[4]),
        size: 21,
    };
    db.store.write_images("BTC-USD", &images, SampleSignature { newest_sample_id: 1, count: 21 }).await.unwrap();
    state.cache.refresh(&db.store, "BTC-USD").await.unwrap();
    let r = c.get("/api/gaf/image?product=BTC-USD&_=1700000000").await;
    let body: GafImage = r.model(200);
    assert_eq!(r.header("content-type"), "application/json; charset=utf-8");
    let expected_prefix = format!(
        r#"{{"midpoint":"100.5","png1":"{}","png2":"{}","png3":"{}","png4":"{}","size":21,"date":""#,
        images.orderbook, images.buy, images.sell, images.midpoint_gadf
    );
    let text = r.text();
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert_eq!(text.len(), expected_prefix.len() + "2026-11-28T20:30:00.000Z\"}".len(), "{text}");
    chrono::NaiveDateTime::parse_from_str(&body.date, "%Y-%m-%dT%H:%M:%S%.3fZ").expect("date with milliseconds");
    let etag = r.header("etag").to_string();
    let again = c.send("GET", "/api/gaf/image?product=BTC-USD", None, None);
    assert_eq!(again.await.header("etag"), etag);
    let r = warp::test::request()
        .path("/api/gaf/image?product=BTC-USD")
        .header("if-none-match", &etag)
        .reply(&c.filter)
        .await;
    assert_eq!(r.status(), 304);
    // A client accepting gzip gets the same JSON gzip-encoded, with its own ETag, once the
    // prefix is deflated (made on the first such request; answers are plain meanwhile).
    let gz = encoded_answer(&c.filter, "gzip, deflate", "gzip").await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["content-length"].to_str().unwrap(), gz.body().len().to_string());
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body()[..]), &mut unzipped).unwrap();
    assert!(unzipped.starts_with(&expected_prefix), "{unzipped}");
    let dated: GafImage = serde_json::from_str(&unzipped).unwrap();
    chrono::NaiveDateTime::parse_from_str(&dated.date, "%Y-%m-%dT%H:%M:%S%.3fZ").expect("date with milliseconds");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(gz_etag, etag, "another representation, another tag");
    let r = warp::test::request()
        .path("/api/gaf/image?product=BTC-USD")
        .header("accept-encoding", "gzip")
        .header("if-none-match", &gz_etag)
        .reply(&c.filter)
        .await;
    assert_eq!(r.status(), 304);
    // A client accepting br gets it once it is made (preferred over gzip; plain meanwhile).
    let br = encoded_answer(&c.filter, "br;q=1.0, gzip;q=0.8", "br").await;
    assert_eq!(br.headers()["content-length"].to_str().unwrap(), br.body().len().to_string());
    let mut unbrotli = String::new();
    std::io::Read::read_to_string(&mut brotli::Decompressor::new(&br.body()[..], 4096), &mut unbrotli).unwrap();
    assert!(unbrotli.starts_with(&expected_prefix), "{unbrotli}");
    let dated: GafImage = serde_json::from_str(&unbrotli).unwrap();
    chrono::NaiveDateTime::parse_from_str(&dated.date, "%Y-%m-%dT%H:%M:%S%.3fZ").expect("date with milliseconds");
    let br_etag = br.headers()["etag"].to_str().unwrap().to_string();
    assert!(br_etag != etag && br_etag != gz_etag, "another representation, another tag");
    let r = warp::test::request()
        .path("/api/gaf/image?product=BTC-USD")
        .header("accept-encoding", "br")
        .header("if-none-match", &br_etag)
        .reply(&c.filter)
        .await;
    assert_eq!((r.status().as_u16(), r.headers()["etag"].to_str().unwrap()), (304, br_etag.as_str()));
    // No br for a client that refuses it: gzip, the other accepted coding.
    let r = warp::test::request()
        .path("/api/gaf/image?product=BTC-USD")
        .header("accept-encoding", "br;q=0, gzip")
        .reply(&c.filter)
        .await;
    assert_eq!(r.headers()["content-encoding"], "gzip");
    // No gzip for a client that refuses it.
    let r = warp::test::request()
        .path("/api/gaf/image?product=BTC-USD")
        .header("accept-encoding", "gzip;q=0, identity")
        .reply(&c.filter)
        .await;
    assert!(!r.headers().contains_key("content-encoding"));
    c.get("/api/gaf/image").await.error(400, "missing_product");
    c.get("/api/gaf/image?product=").await.error(400, "bad_product");
    c.get("/api/gaf/image?product=NOPE-USD").await.error(404, "unknown_product");
    let r = c.get("/api/gaf/image.png?product=BTC-USD&image=orderbook").await;
    assert_eq!((r.status(), r.header("content-type")), (200, "image/png"));
    assert_eq!(r.0.body().as_ref(), pngs[2].as_slice());
    let r = c.get("/api/gaf/image.png?product=BTC-USD").await;
    assert_eq!(r.0.body().as_ref(), pngs[1].as_slice(), "midpoint-gadf by default");
    c.get("/api/gaf/image.png?product=BTC-USD&image=nope").await.error(400, "bad_image");

    // Removal.
    c.send("DELETE", "/api/products/BTC-USD", None, None).await.error(401, "unauthorized");
    let r = c.send("DELETE", "/api/products/BTC-USD", Some(TOKEN), None).await;
    assert_eq!(r.status(), 204, "{}", r.text());
    c.get("/api/gaf/image?product=BTC-USD").await.error(404, "unknown_product");
    c.send("DELETE", "/api/products/BTC-USD", Some(TOKEN), None).await.error(404, "unknown_product");

    // Operational routes; their only client error is a method they do not have.
    assert_eq!(c.get("/healthz").await.model::<Status>(200).status, "ok");
    assert_eq!(c.get("/readyz").await.model::<Status>(200).status, "ready");
    let r = c.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().contains("cgaf_http_request_duration_seconds"), "{}", r.text());
    let doc: Value = c.get("/api/openapi.json").await.model(200);
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."), "{doc}");
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        c.send("POST", path, None, None).await.error(405, "method_not_allowed");
    }
    c.get("/api/nothing").await.error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_routes() {
    let db = database().await;
    let gasf = builtin_component(cgaf_test_kit::plugins::BUILTIN_GASF);
    let host = plugin_host(&[&gasf]);
    let (_state, filter) = api(&db.store, Some(host));
    let c = Client { filter };
    let upload = |query: &'static str, token: Option<&'static str>, bytes: Vec<u8>| {
        let r = warp::test::request().method("POST").path(query).header("content-type", "application/wasm").body(bytes);
        let r = match token {
            Some(t) => r.header("authorization", format!("Bearer {t}")),
            None => r,
        };
        let filter = c.filter.clone();
        async move { Answer(r.reply(&filter).await) }
    };

    // Upload: stored and activated, then the same bytes again.
    upload("/api/plugins", None, gasf.clone()).await.error(401, "unauthorized");
    let first: UploadedPlugin = upload("/api/plugins?activate=true", Some(TOKEN), gasf.clone()).await.model(201);
    assert_eq!(
        (first.name.as_str(), first.kind.as_str(), first.active, first.stored),
        ("gasf", "image-transform", true, true)
    );
    assert_eq!(first.size, gasf.len() as u64);
    let again: UploadedPlugin = upload("/api/plugins", Some(TOKEN), gasf.clone()).await.model(200);
    assert!(!again.stored);
    upload("/api/plugins", Some(TOKEN), Vec::new()).await.error(400, "empty_body");
    upload("/api/plugins", Some(TOKEN), b"not a component".to_vec()).await.error(422, "not_a_component");
    upload("/api/plugins?activate=maybe", Some(TOKEN), gasf.clone()).await.error(400, "bad_query");
    upload("/api/plugins?colour=red", Some(TOKEN), gasf.clone()).await.error(400, "bad_query");

    // List and show.
    let list: Vec<PluginSummary> = c.get("/api/plugins").await.model(200);
    let entry = list.iter().find(|p| p.name == "gasf").expect("gasf listed");
    assert_eq!(entry.active_version.as_deref(), Some(first.version.as_str()));
    let detail: PluginDetail = c.get("/api/plugins/gasf").await.model(200);
    assert_eq!((detail.kind.as_str(), detail.versions.len()), ("image-transform", 1));
    c.get("/api/plugins/nope").await.error(404, "unknown_plugin");

    // Activation and rollback (a second version stored directly: the store does not validate).
    c.write("POST", "/api/plugins/gasf/activate", json!({"version": "9.9.9"})).await.error(404, "unknown_plugin");
    c.write_anonymously("POST", "/api/plugins/gasf/activate", json!({"version": first.version}))
        .await
        .error(401, "unauthorized");
    c.write("POST", "/api/plugins/gasf/rollback", json!({})).await.error(409, "nothing_to_roll_back");
    db.store
        .insert_plugin(&cgaf_store::plugins::NewPlugin {
            name: "gasf",
            version: "9.0.0",
            kind: "image-transform",
            sha256: "00",
            bytes: b"not loaded by this test",
            description: "another version",
            params: json!([]),
            builtin: false,
            uploader: Some("test"),
        })
        .await
        .unwrap();
    // A stored version that does not load here is refused before anything changes.
    let message =
        c.write("POST", "/api/plugins/gasf/activate", json!({"version": "9.0.0"})).await.error(422, "not_a_component");
    assert!(message.contains("activation"), "{message}");
    c.write("POST", "/api/plugins/gasf/rollback", json!({})).await.error(409, "nothing_to_roll_back");
    // The same component stored again as another version (directly: the store does not validate).
    db.store
        .insert_plugin(&cgaf_store::plugins::NewPlugin {
            name: "gasf",
            version: "9.1.0",
            kind: "image-transform",
            sha256: "01",
            bytes: &gasf,
            description: "another version",
            params: json!([]),
            builtin: false,
            uploader: Some("test"),
        })
        .await
        .unwrap();
    let a: ActiveVersion = c.write("POST", "/api/plugins/gasf/activate", json!({"version": "9.1.0"})).await.model(200);
    assert_eq!((a.name.as_str(), a.active_version.as_str()), ("gasf", "9.1.0"));
    let r: ActiveVersion = c.write("POST", "/api/plugins/gasf/rollback", json!({})).await.model(200);
    assert_eq!(r.active_version, first.version);

    // Transforms.
    let rows: Vec<Vec<f64>> = c
        .write_anonymously("POST", "/api/transforms/gasf", json!({"series": [0.0, 1.0, 3.0, 2.0, 5.0, 4.0]}))
        .await
        .model(200);
    assert_eq!((rows.len(), rows[0].len()), (6, 6));
    c.write_anonymously("POST", "/api/transforms/nope", json!({"series": [1.0, 2.0]}))
        .await
        .error(404, "unknown_plugin");
    c.write_anonymously("POST", "/api/transforms/gasf", json!({"serie": [1.0]})).await.error(400, "bad_body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sweep_and_kill_switch_routes() {
    let db = database().await;
    db.store.add_product("BTC-USD", 21).await.unwrap();
    // A minute of 1 s bars in the history (closing at 1 s .. 60 s).
    let bars: Vec<HistoryBar> = (1..=60).map(|k| history_bar(k * 1000, 100.0 + ((k * 7) % 11) as f64)).collect();
    db.store.import_bars("BTC-USD", 1000, "test", &bars, &[], false).await.unwrap();
    let host = plugin_host(&[&builtin_component(cgaf_test_kit::plugins::BUILTIN_SMA_CROSS)]);
    let (_state, filter) = api(&db.store, Some(host));
    let c = Client { filter };
    let backtest = json!({
        "strategy": "sma-cross", "params": {"fast": 3, "slow": 8}, "product": "BTC-USD", "mode": "backtest",
        "from": 0, "to": 60_000, "bar_interval": "1s",
    });

    // Runs.
    c.write_anonymously("POST", "/api/runs", backtest.clone()).await.error(401, "unauthorized");
    let mut bad = backtest.clone();
    bad["mode"] = json!("later");
    // The mode is an enum of the request type: a body that does not parse is a bad body.
    let message = c.write("POST", "/api/runs", bad).await.error(400, "bad_body");
    assert!(message.contains("mode must be one of backtest, paper"), "{message}");
    let mut bad = backtest.clone();
    bad["colour"] = json!(1);
    c.write("POST", "/api/runs", bad).await.error(400, "bad_body");
    // A range the history does not cover: 422 naming what it covers.
    let mut uncovered = backtest.clone();
    uncovered["from"] = json!(100_000);
    uncovered["to"] = json!(200_000);
    let message = c.write("POST", "/api/runs", uncovered).await.error(422, "range_not_covered");
    assert!(
        message.contains("1s bars from 1970-01-01T00:00:00Z to 1970-01-01T00:01:00Z (60 bars, 0 missing)"),
        "{message}"
    );
    let run: Run = c.write("POST", "/api/runs", backtest.clone()).await.model(201);
    assert_eq!((run.strategy.as_str(), run.mode.as_str(), run.status.as_str()), ("sma-cross", "backtest", "pending"));
    let id = run.run_id;
    let list: RunList = c.get("/api/runs?mode=backtest&limit=5").await.model(200);
    assert_eq!(list.runs.iter().map(|r| r.run_id).collect::<Vec<_>>(), [id]);
    c.get("/api/runs?colour=red").await.error(400, "bad_query");
    c.get("/api/runs?limit=many").await.error(400, "bad_query");
    let detail: RunDetail = c.get(&format!("/api/runs/{id}")).await.model(200);
    assert_eq!((detail.run.run_id, detail.equity_curve.len()), (id, 0));
    c.get("/api/runs/999").await.error(404, "unknown_run");

    // The decision log, as JSON and CSV.
    let page: DecisionPage = c.get(&format!("/api/runs/{id}/decisions?from=0&limit=10")).await.model(200);
    assert_eq!((page.run_id, page.decisions.len(), page.next_cursor), (id, 0, None));
    let r = c.get(&format!("/api/runs/{id}/decisions?format=csv")).await;
    assert_eq!((r.status(), r.header("content-type")), (200, "text/csv; charset=utf-8"));
    assert!(r.text().starts_with("seq,time_ms,"), "{}", r.text());
    c.get(&format!("/api/runs/{id}/decisions?format=xml")).await.error(400, "bad_query");
    c.get(&format!("/api/runs/{id}/decisions?limit=0")).await.error(400, "bad_query");
    c.get(&format!("/api/runs/{id}/decisions?from=yesterday")).await.error(400, "bad_query");
    c.get("/api/runs/999/decisions").await.error(404, "unknown_run");

    // The leaderboard.
    let board: Leaderboard = c.get("/api/leaderboard?metric=sortino&mode=backtest").await.model(200);
    assert_eq!((board.metric.as_str(), board.mode.as_deref(), board.entries.len()), ("sortino", Some("backtest"), 0));
    c.get("/api/leaderboard?metric=luck").await.error(400, "bad_metric");
    c.get("/api/leaderboard?mode=live").await.error(400, "bad_query");

    // Stopping: a pending run stops at once; then it has ended.
    c.send("POST", &format!("/api/runs/{id}/stop"), None, None).await.error(401, "unauthorized");
    let stopped: Run = c.send("POST", &format!("/api/runs/{id}/stop"), Some(TOKEN), None).await.model(202);
    assert_eq!(stopped.run_id, id);
    c.send("POST", &format!("/api/runs/{id}/stop"), Some(TOKEN), None).await.error(409, "run_ended");
    c.send("POST", "/api/runs/999/stop", Some(TOKEN), None).await.error(404, "unknown_run");

    // The kill switch refuses paper runs while engaged.
    let k: KillSwitch = c.get("/api/kill-switch").await.model(200);
    assert!(!k.engaged);
    c.write_anonymously("POST", "/api/kill-switch", json!({"engaged": true})).await.error(401, "unauthorized");
    c.write("POST", "/api/kill-switch", json!({"engaged": "yes"})).await.error(400, "bad_body");
    let k: KillSwitch = c.write("POST", "/api/kill-switch", json!({"engaged": true})).await.model(200);
    assert_eq!((k.engaged, k.reason.as_deref()), (true, Some("engaged via the API")));
    let mut paper = backtest.clone();
    paper["mode"] = json!("paper");
    for key in ["from", "to"] {
        paper.as_object_mut().unwrap().remove(key);
    }
    let refused = c.write("POST", "/api/runs", paper).await.error(400, "invalid_request");
    assert!(refused.contains("kill switch"), "{refused}");
    let k: KillSwitch =
        c.write("POST", "/api/kill-switch", json!({"engaged": false, "reason": "test"})).await.model(200);
    assert_eq!((k.engaged, k.reason.as_deref()), (false, Some("test")));

    // Sweeps.
    let sweep = json!({"strategy": "sma-cross", "product": "BTC-USD", "from": 0, "to": 60_000,
                       "grid": {"fast": [2, 3]}, "params": {"slow": 8}});
    c.write_anonymously("POST", "/api/sweeps", sweep.clone()).await.error(401, "unauthorized");
    c.write("POST", "/api/sweeps", json!({"strategy": "sma-cross", "product": "BTC-USD"})).await.error(400, "bad_body");
    let s: Sweep = c.write("POST", "/api/sweeps", sweep.clone()).await.model(201);
    assert_eq!((s.status.as_str(), &s.request), ("pending", &sweep));
    let sid = s.sweep_id;
    let list: SweepList = c.get("/api/sweeps").await.model(200);
    assert_eq!(list.sweeps.iter().map(|s| s.sweep_id).collect::<Vec<_>>(), [sid]);
    let shown: Sweep = c.get(&format!("/api/sweeps/{sid}")).await.model(200);
    assert_eq!(shown.sweep_id, sid);
    c.get("/api/sweeps/999").await.error(404, "unknown_sweep");
    c.get(&format!("/api/sweeps/{sid}/results.csv")).await.error(503, "sweep_not_finished");
    c.get(&format!("/api/sweeps/{sid}/heatmap.png")).await.error(503, "sweep_not_finished");
    c.get("/api/sweeps/999/results.csv").await.error(404, "unknown_sweep");
    c.get("/api/sweeps/999/heatmap.png").await.error(404, "unknown_sweep");
    // Finished by a worker (here: the test, through the store).
    let claimed = db.store.claim_sweep("test-worker", Duration::from_secs(60)).await.unwrap().expect("claimed");
    assert_eq!(claimed.sweep_id, sid);
    let result = json!({"axes": ["fast"], "rows": [{"params": {"fast": 2}, "in_sample": 0.5, "trades": 3}]});
    let png = [0x89, b'P', b'N', b'G'];
    db.store.end_sweep(sid, "test-worker", Ok((&result, Some(&png[..])))).await.unwrap();
    let r = c.get(&format!("/api/sweeps/{sid}/results.csv")).await;
    assert_eq!((r.status(), r.header("content-type")), (200, "text/csv; charset=utf-8"));
    assert_eq!(r.text().lines().next(), Some("fast,in_sample,out_of_sample,trades,total_return,error"));
    let r = c.get(&format!("/api/sweeps/{sid}/heatmap.png")).await;
    assert_eq!((r.status(), r.header("content-type"), r.0.body().as_ref()), (200, "image/png", &png[..]));
}
