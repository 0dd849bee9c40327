//! Traces against a real OTLP receiver: the test serves OTLP/HTTP (protobuf) on 127.0.0.1:0,
//! runs `cgaf serve` on the simulator with `--otlp-endpoint` pointing at it, and checks that the
//! spans of a collect tick, a calculate cycle (per product, per image, per plugin call), an API
//! request and a backtest's chunks arrive with their parent/child links, and that the API
//! request's trace id is in a JSON log line.

mod common;

use common::{database_with_golden_bars, run_to_end, Service};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::Filter as _;

const TOKEN: &str = "traces-test-token";

/// What the receiver got: each span with the `service.name` of its resource.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP traces receiver on a free loopback port; its base URL and what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let route =
        warp::post().and(warp::path!("v1" / "traces")).and(warp::body::bytes()).map(move |body: bytes::Bytes| {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export request");
            let mut spans = store.lock().unwrap();
            for resource_spans in request.resource_spans {
                let service = resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| string(kv.value.as_ref()?.value.as_ref()?))
                    .unwrap_or_default();
                for scope in resource_spans.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
                }
            }
            warp::http::Response::builder()
                .header("content-type", "application/x-protobuf")
                .body(ExportTraceServiceResponse::default().encode_to_vec())
                .unwrap()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (base, received)
}

fn string(v: &AnyValue) -> Option<String> {
    match v {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The attribute `key` of `span` as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| string(kv.value.as_ref()?.value.as_ref()?))
}

/// The spans whose parent is `parent`, in its trace.
fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id).collect()
}

/// The spans received so far, once one of each kind the test looks for is there.
fn complete(received: &Received) -> Option<Vec<Span>> {
    let spans: Vec<Span> = received.lock().unwrap().iter().map(|(_, s)| s.clone()).collect();
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name);
    let computed = named("calculate.product").any(|p| {
        attribute(p, "outcome").as_deref() == Some("computed")
            && children(&spans, p).iter().filter(|i| i.name == "calculate.image").count() == 5
    });
    let ready = computed
        && named("calculate.cycle").count() > 0
        && named("collect.tick").any(|t| !children(&spans, t).is_empty())
        && named("GET /api/products").count() > 0
        && named("backtest.run").any(|r| children(&spans, r).iter().any(|c| c.name == "backtest.chunk"));
    ready.then_some(spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_their_links_and_the_logs_carry_trace_ids() {
    let (endpoint, received) = receiver().await;
    let db = database_with_golden_bars().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(
        dir.path(),
        &[
            "--database-url",
            &db.url,
            // The golden bars are BTC-USD's; the live product is another one.
            "--products",
            "ETH-USD:21",
            "--collect-schedule",
            "100ms",
            "--calculate-schedule",
            "200ms",
            "--trade-schedule",
            "100ms",
            "--api-token",
            TOKEN,
            "--otlp-endpoint",
            &endpoint,
            "--otlp-service-name",
            "cgaf-traces-test",
            "--log-format",
            "json",
            // The API's per-request line is a debug line.
            "--log",
            "info,cgaf_api=debug,tokio_postgres=warn",
        ],
    );
    let http = reqwest::Client::new();
    let base = svc.base.clone();
    common::wait_ready(&http, &base).await;

    // One request of its own route, and a backtest of the golden bars (3,000 bars: one chunk).
    assert_eq!(http.get(format!("{base}/api/products")).send().await.unwrap().status(), 200);
    let body = serde_json::json!({
        "strategy": "sma-cross", "params": {"fast": 10, "slow": 30}, "product": "BTC-USD", "mode": "backtest",
        "bar_interval": "1m",
    });
    let run = run_to_end(&http, &base, TOKEN, body).await;
    assert_eq!(run["status"], "finished", "{run}");

    // The batch processor exports every few seconds.
    let spans = cgaf_test_kit::eventually(Duration::from_secs(90), "the spans at the receiver", || {
        let received = received.clone();
        async move { complete(&received) }
    })
    .await;
    assert!(received.lock().unwrap().iter().all(|(service, _)| service == "cgaf-traces-test"));
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name);

    // A collect tick: a root span, one child per product fetched.
    let tick = named("collect.tick").find(|t| !children(&spans, t).is_empty()).unwrap();
    assert!(tick.parent_span_id.is_empty(), "a tick is a trace of its own");
    let fetched = children(&spans, tick);
    assert!(fetched
        .iter()
        .all(|c| c.name == "collect.product" && attribute(c, "product").as_deref() == Some("ETH-USD")));

    // A calculate cycle that computed: cycle → product → five images → each image's plugin calls.
    let product = named("calculate.product")
        .find(|p| {
            attribute(p, "outcome").as_deref() == Some("computed")
                && children(&spans, p).iter().filter(|i| i.name == "calculate.image").count() == 5
        })
        .unwrap();
    let cycle = spans.iter().find(|s| s.span_id == product.parent_span_id).expect("the product's cycle");
    assert_eq!((cycle.name.as_str(), cycle.trace_id.as_slice()), ("calculate.cycle", product.trace_id.as_slice()));
    assert!(cycle.parent_span_id.is_empty());
    let images = children(&spans, product);
    let mut labels: Vec<String> = images.iter().filter_map(|i| attribute(i, "image")).collect();
    labels.sort();
    assert_eq!(labels, ["buy", "midpoint_gadf", "midpoint_gasf", "orderbook", "sell"]);
    for image in &images {
        let calls = children(&spans, image);
        // One call per channel: the grey images one, the colour images three.
        let want = if attribute(image, "image").unwrap().starts_with("midpoint") { 1 } else { 3 };
        assert_eq!(calls.len(), want, "{image:?}");
        for call in calls {
            assert_eq!(call.name, "plugin.call");
            assert_eq!(attribute(call, "plugin"), attribute(image, "transform"));
            assert!(call.start_time_unix_nano >= image.start_time_unix_nano);
            assert!(call.end_time_unix_nano <= image.end_time_unix_nano);
        }
    }

    // The API request: a server span named by method and route template, with its status.
    let request = named("GET /api/products").next().unwrap();
    assert_eq!(attribute(request, "http.route").as_deref(), Some("/api/products"));
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert!(request.parent_span_id.is_empty());
    assert_eq!(attribute(request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attribute(request, "http.response.status_code").as_deref(), Some("200"));

    // The backtest: its chunks are children of the run's span.
    let backtest = named("backtest.run").find(|r| !children(&spans, r).is_empty()).unwrap();
    let chunks = children(&spans, backtest);
    let bars: i64 = chunks.iter().filter_map(|c| attribute(c, "bars")?.parse::<i64>().ok()).sum();
    assert_eq!(bars, 3000, "every bar is in one chunk");

    // The request's trace id (and span id) are on its JSON log line.
    let trace_id = hex::encode(&request.trace_id);
    let span_id = hex::encode(&request.span_id);
    let log = svc.log_text();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["trace_id"] == trace_id.as_str())
        .unwrap_or_else(|| panic!("no log line with trace id {trace_id}:\n{log}"));
    assert_eq!(line["span_id"], span_id.as_str(), "{line}");
    assert_eq!(line["fields"]["path"], "/api/products", "{line}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in a log file");
}
