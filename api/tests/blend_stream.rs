//! The blend stream (`GET /api/matrices/stream`) end to end: a real server on 127.0.0.1:0 over a
//! real PostgreSQL (the test kit). A new live blend arrives as an event with its id; the stream
//! survives the database dropping every connection (the listener reconnects and the stream
//! re-reads the table); a client that reconnects with Last-Event-ID gets the blends it missed,
//! in order, then the live ones.

use cgaf_api::models::BlendEventModel;
use cgaf_api::{ApiSettings, ApiState, Metrics};
use cgaf_store::matrices::LIVE;
use cgaf_store::{BlendRow, DbSettings, MatrixCursor, MatrixRows, Store};
use std::sync::Arc;
use std::time::Duration;

const PRODUCT: &str = "BTC-USD";
const T0: i64 = 1_700_000_000_000;
/// A guard against a hung test, not a timing assertion.
const GUARD: Duration = Duration::from_secs(120);

async fn store() -> (cgaf_test_kit::TestDatabase, Store) {
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = Store::new(&DbSettings::new(db.url.clone())).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

/// Writes live blend number `i` (1, 2, …) of `granularity_ms` as the calculate worker does: with
/// the cursor, one step per blend. Retries while the database is reconnecting.
async fn insert_blend(store: &Store, i: i64, granularity_ms: i64) {
    let rows = MatrixRows {
        blends: vec![BlendRow {
            product: PRODUCT.into(),
            granularity_ms,
            t1_ms: T0 + i * granularity_ms,
            blender: "blend-mean".into(),
            blender_version: "1.0.0".into(),
            k: 4,
            matrices: 1,
            features: "book-imbalance@3".into(),
            size: 2,
            matrix: vec![1.0, 0.0, i as f64, 1.0],
            w: vec![0.5, -0.5],
            drift: (i > 1).then_some(0.25),
            diagonal_dominance: 1.0 - i as f64,
        }],
        ..Default::default()
    };
    for _ in 0..100 {
        if let Ok(cursor) = store.matrix_cursor(LIVE, PRODUCT).await {
            let from = cursor.map(|c| c.sample_id);
            let to = MatrixCursor { sample_id: from.unwrap_or(0) + 1, state: serde_json::json!({}) };
            if store.write_matrix_step(LIVE, PRODUCT, from, &to, &rows).await.is_ok() {
                return;
            }
        }
        // The pool is replacing dropped connections: try again shortly.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not write blend {i}");
}

/// Server-sent events read from a streaming response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its id, type and data.
#[derive(Debug)]
struct Event {
    id: String,
    event: String,
    data: String,
}

impl Events {
    async fn connect(base: &str, query: &str, last_event_id: Option<i64>) -> Events {
        let mut req = reqwest::Client::new().get(format!("{base}/api/matrices/stream?{query}"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events { response, buffer: String::new() }
    }

    /// The next event (keep-alive comments skipped).
    async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !event.is_empty() || !data.is_empty() {
                    return Event { id, event, data };
                }
                continue;
            }
            let chunk = tokio::time::timeout(GUARD, self.response.chunk()).await.expect("an event in time").unwrap();
            let chunk = chunk.expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event as a blend, checked against its SSE id.
    async fn blend(&mut self) -> BlendEventModel {
        let e = self.next().await;
        assert_eq!(e.event, "blend", "{e:?}");
        let b: BlendEventModel = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.id, b.id.to_string());
        b
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_blends_stream_live_survive_a_dropped_database_and_resume_after_last_event_id() {
    let (_db, store) = store().await;
    insert_blend(&store, 1, 5_000).await;
    let settings = ApiSettings { token: "t".into(), max_json_body: 1 << 16, max_plugin_bytes: 1 << 16 };
    let state = Arc::new(ApiState::new(store.clone(), Metrics::new(), &settings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cgaf_api::serve(state, listener, async move {
        let _ = stopped.await;
    }));

    // Bad requests are answered before the stream starts.
    let r = reqwest::get(format!("{base}/api/matrices/stream")).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new()
        .get(format!("{base}/api/matrices/stream?product={PRODUCT}"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A new blend arrives as an event carrying the row; the one before the connection does not,
    // nor does a blend of another granularity.
    let mut events = Events::connect(&base, &format!("product={PRODUCT}&granularity=5s"), None).await;
    insert_blend(&store, 2, 15_000).await;
    insert_blend(&store, 3, 5_000).await;
    let b = events.blend().await;
    let stored = store.matrix_blends_after(LIVE, PRODUCT, 5_000, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(b.id, stored[1].id);
    assert!(b.id > stored[0].id);
    assert_eq!((b.product.as_str(), b.granularity.as_str()), (PRODUCT, "5s"));
    assert_eq!(b.blend.t1_ms, T0 + 3 * 5_000);
    assert_eq!(b.blend.matrix, [1.0, 0.0, 3.0, 1.0]);
    assert_eq!((b.blend.blender.as_str(), b.blend.blender_version.as_str()), ("blend-mean", "1.0.0"));

    // PostgreSQL drops every other connection (the API's listener and pool among them): the
    // stream stays open and the next blend still arrives.
    let killed = store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(killed >= 1, "the listener's connection was among those dropped");
    insert_blend(&store, 4, 5_000).await;
    let b4 = events.blend().await;
    assert_eq!(b4.blend.t1_ms, T0 + 4 * 5_000);
    assert!(b4.id > b.id);

    // A client that was away resumes with Last-Event-ID: the missed blends first, in order,
    // then the live ones.
    drop(events);
    insert_blend(&store, 5, 5_000).await;
    insert_blend(&store, 6, 5_000).await;
    let mut events = Events::connect(&base, &format!("product={PRODUCT}"), Some(b4.id)).await;
    let (b5, b6) = (events.blend().await, events.blend().await);
    assert_eq!((b5.blend.t1_ms, b6.blend.t1_ms), (T0 + 5 * 5_000, T0 + 6 * 5_000));
    assert!(b4.id < b5.id && b5.id < b6.id);
    insert_blend(&store, 7, 5_000).await;
    assert_eq!(events.blend().await.blend.t1_ms, T0 + 7 * 5_000);
    // The query twin of the header resumes the same way.
    let mut again = Events::connect(&base, &format!("product={PRODUCT}&last_event_id={}", b5.id), None).await;
    assert_eq!(again.blend().await.id, b6.id);

    drop((events, again));
    let _ = stop.send(());
    server.await.unwrap();
}
