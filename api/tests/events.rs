//! `GET /api/gaf/events` over a real socket: an `images` event when the stream opens and one
//! when the cache's images of the product change (none for another product's change), the
//! stream ends when the server shuts down (a graceful stop does not wait for it), and the page
//! at `GET /` with its Content-Security-Policy, ETag and `--ui=false`.

use base64::Engine as _;
use cgaf_api::models::ImagesChanged;
use cgaf_api::{ApiSettings, ApiState, Metrics};
use cgaf_store::{DbSettings, GafRow, Store};
use std::sync::Arc;
use std::time::Duration;

/// State whose database is unreachable: the cache is filled by the test.
fn state() -> ApiState {
    let store = Store::new(&DbSettings::new("postgres://nobody:nothing@127.0.0.1:1/none")).unwrap();
    let settings = ApiSettings { token: "t".into(), max_json_body: 1 << 16, max_plugin_bytes: 1 << 16 };
    ApiState::new(store, Metrics::new(), &settings)
}

/// A computed row whose five "PNGs" are `tag` followed by the image's index.
fn row(product: &str, tag: &str) -> GafRow {
    let b64 = |i: u8| Some(base64::engine::general_purpose::STANDARD.encode(format!("{tag}{i}")));
    GafRow {
        product: product.into(),
        max_size: 30,
        midpoint: Some(format!("100.{}", tag.len())),
        midpoint_gasf: b64(0),
        midpoint_gadf: b64(1),
        orderbook: b64(2),
        buy: b64(3),
        sell: b64(4),
        size: Some(30),
        computed_at: Some(chrono::Utc::now()),
    }
}

/// Reads the stream until a whole `images` event has arrived; its data.
async fn next_event(res: &mut reqwest::Response, buf: &mut String) -> Option<ImagesChanged> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event:images") {
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                return Some(serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), res.chunk()).await.expect("no event within 30 s");
        match chunk.unwrap() {
            Some(c) => buf.push_str(std::str::from_utf8(&c).unwrap()),
            None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_changed_events_and_shutdown() {
    let state = Arc::new(state());
    state.cache.replace_all(&[row("BTC-USD", "a"), row("ETH-USD", "a")]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cgaf_api::serve_routes(state.clone(), listener, async move {
        let _ = stop_rx.await;
    }));
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let bad = client.get(format!("{base}/api/gaf/events")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = client.get(format!("{base}/api/gaf/events?product=NOPE-USD")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let mut res = client.get(format!("{base}/api/gaf/events?product=BTC-USD")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let first = next_event(&mut res, &mut buf).await.unwrap();
    assert!(first.computed);
    assert_eq!(first.product, "BTC-USD");
    assert_eq!(first.size, Some(30));
    let names: Vec<&str> = first.images.iter().map(|i| i.image.as_str()).collect();
    assert_eq!(names, cgaf_api::cache::IMAGE_NAMES);
    // The ETags are those of /api/gaf/image.png.
    let png = client.get(format!("{base}/api/gaf/image.png?product=BTC-USD&image=orderbook")).send().await.unwrap();
    assert_eq!(png.headers()["etag"].to_str().unwrap(), first.images[2].etag);
    assert_eq!(first.images[2].bytes, "a2".len());

    // Another product changes, then this one: one event, this product's new images.
    state.cache.put("ETH-USD", Some(&row("ETH-USD", "b")));
    state.cache.put("BTC-USD", Some(&row("BTC-USD", "bb")));
    let second = next_event(&mut res, &mut buf).await.unwrap();
    assert_eq!(second.product, "BTC-USD");
    assert_eq!(second.midpoint.as_deref(), Some("100.2"));
    assert!(second.images.iter().zip(&first.images).all(|(a, b)| a.etag != b.etag));
    // Removed: an event saying the images are gone.
    state.cache.put("BTC-USD", None);
    let gone = next_event(&mut res, &mut buf).await.unwrap();
    assert!(!gone.computed && gone.images.is_empty());

    // Shutdown ends the stream and the server, although the client keeps listening.
    stop_tx.send(()).unwrap();
    assert!(next_event(&mut res, &mut buf).await.is_none(), "the stream goes on after shutdown");
    tokio::time::timeout(Duration::from_secs(30), server).await.expect("the server waits for the stream").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_its_policy_and_turned_off_by_the_flag() {
    let on = cgaf_api::routes(Arc::new(state()));
    let page = warp::test::request().path("/").reply(&on).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, cgaf_api::ui::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let etag = page.headers()["etag"].to_str().unwrap().to_string();
    let again = warp::test::request().path("/").header("if-none-match", &etag).reply(&on).await;
    assert_eq!(again.status(), 304);
    for a in cgaf_api::ui::ASSETS {
        let r = warp::test::request().path(&format!("/ui/{}", a.name)).reply(&on).await;
        assert_eq!(r.status(), 200, "{}", a.name);
        assert_eq!(r.headers()["content-type"], a.content_type);
        assert_eq!(r.body().as_ref(), a.body);
    }
    let missing = warp::test::request().path("/ui/nothing.js").reply(&on).await;
    assert_eq!(missing.status(), 404);

    let off = cgaf_api::routes(Arc::new(state().with_ui(false)));
    for path in ["/", "/ui/app.js"] {
        let r = warp::test::request().path(path).reply(&off).await;
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"]["code"], "ui_disabled");
    }
}
