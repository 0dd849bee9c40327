//! Integration tests of the market sources against local HTTP servers that speak the
//! coinbase-local and Coinbase Exchange contracts, and of the simulator's determinism.

use cgaf_collect::{
    AnySource, CoinbaseLocalSource, CoinbaseSource, Fetched, MarketSource, SimSource, SourceError, SourceKind,
    SourceSettings,
};
use cgaf_store::{Level, NewSample, TradeSummary};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::http::Response;
use warp::Filter;

type Query = HashMap<String, String>;
type Log = Arc<Mutex<Vec<(String, Query)>>>;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn level(p: &str, s: &str, n: u32) -> Level {
    Level { price: d(p), size: d(s), num_orders: n }
}

fn json_reply(status: u16, body: impl Into<String>) -> Response<String> {
    Response::builder().status(status).header("content-type", "application/json").body(body.into()).unwrap()
}

/// Serves `routes` on an ephemeral local port.
macro_rules! serve {
    ($routes:expr) => {{
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve($routes).incoming(listener).run());
        addr
    }};
}

const TIMEOUT: Duration = Duration::from_secs(5);
const SHORT_TIMEOUT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// coinbase-local
// ---------------------------------------------------------------------------------------------

fn interval_body() -> Value {
    json!({
        "aggregation": 10,
        "depth": 3,
        "date": "2025-10-21T12:00:00.123456Z",
        "midpoint": "43123.455",
        "sequence": 123456789,
        "asks": [["43130.1", "0.52", 7], ["43136.25", "1.25000000", 3], ["43150", "0", 0]],
        "bids": [["43115.9", "1.10", 4], ["43105.5", "0.3", 2], ["43095.123", "2.5", 5]]
    })
}

fn market_orders_body(since: Option<u64>) -> Value {
    match since {
        None => json!({
            "sequence": 123456789,
            "buy": {"price": 0.0, "size": 0.0, "numOrders": 0},
            "sell": {"price": 0.0, "size": 0.0, "numOrders": 0}
        }),
        Some(since) => json!({
            "sequence": since + 5,
            "buy": {"price": 43125.123456, "size": 0.75, "numOrders": 3},
            "sell": {"price": "43120.5", "size": "0.125", "numOrders": 1}
        }),
    }
}

/// A coinbase-local that answers per scenario (the first path segment), logging every request.
async fn coinbase_local_server(log: Log) -> SocketAddr {
    let log = warp::any().map(move || log.clone());
    let interval = warp::path!(String / "api" / "orderBook" / "interval")
        .and(warp::query::<Query>())
        .and(warp::header::optional::<String>("user-agent"))
        .and(log.clone())
        .and_then(|scenario: String, q: Query, ua: Option<String>, log: Log| async move {
            let mut logged = q.clone();
            logged.insert("user-agent".into(), ua.unwrap_or_default());
            log.lock().unwrap().push(("interval".into(), logged));
            let reply = match scenario.as_str() {
                "ok" | "bad-orders" | "null-sequence" => json_reply(200, interval_body().to_string()),
                "unavailable" => json_reply(503, r#"{"detail":"Order book for BTC-USD is not ready yet"}"#),
                "unknown" => json_reply(400, r#"{"detail":"Unknown product FOO-USD"}"#),
                "malformed" => json_reply(200, r#"{"aggregation": 10, "midpoint": "43123.4", "asks": [["1"#),
                "null-midpoint" => {
                    let mut b = interval_body();
                    b["midpoint"] = Value::Null;
                    json_reply(200, b.to_string())
                }
                "bad-decimal" => {
                    let mut b = interval_body();
                    b["asks"][1][0] = json!("43,136.25");
                    json_reply(200, b.to_string())
                }
                "empty" => {
                    let mut b = interval_body();
                    b["bids"] = json!([]);
                    json_reply(200, b.to_string())
                }
                // Never answers: the client's timeout must end the request.
                "slow" => std::future::pending().await,
                _ => json_reply(404, r#"{"detail":"Not Found"}"#),
            };
            Ok::<_, Infallible>(reply)
        });
    let orders = warp::path!(String / "api" / "orderBook" / "marketOrders")
        .and(warp::query::<Query>())
        .and(log)
        .and_then(|scenario: String, q: Query, log: Log| async move {
            log.lock().unwrap().push(("marketOrders".into(), q.clone()));
            let since = q.get("since").map(|s| s.parse::<u64>().unwrap());
            let reply = match scenario.as_str() {
                "bad-orders" => {
                    let mut b = market_orders_body(Some(1));
                    b["buy"]["size"] = json!("abc");
                    json_reply(200, b.to_string())
                }
                "null-sequence" => {
                    let mut b = market_orders_body(since);
                    b["sequence"] = Value::Null;
                    json_reply(200, b.to_string())
                }
                _ => json_reply(200, market_orders_body(since).to_string()),
            };
            Ok::<_, Infallible>(reply)
        });
    serve!(interval.or(orders))
}

fn local(addr: SocketAddr, scenario: &str, timeout: Duration) -> CoinbaseLocalSource {
    CoinbaseLocalSource::new(&format!("http://{addr}/{scenario}"), Decimal::TEN, 3, timeout).unwrap()
}

#[tokio::test]
async fn coinbase_local_parses_exact_decimals_and_round_trips_the_cursor() {
    let log: Log = Default::default();
    let addr = coinbase_local_server(log.clone()).await;
    let mut src = local(addr, "ok", TIMEOUT);
    assert_eq!(src.name(), "coinbase-local");

    let first = src.fetch("BTC-USD", None).await.unwrap();
    let s = &first.sample;
    assert_eq!(s.product, "BTC-USD");
    assert_eq!(s.midpoint, d("43123.455"));
    assert_eq!(s.midpoint.to_string(), "43123.455");
    // Asks stay asks (the original swapped them), index 0 nearest the midpoint.
    assert_eq!(s.asks, vec![level("43130.1", "0.52", 7), level("43136.25", "1.25", 3), level("43150", "0", 0)]);
    assert_eq!(s.bids, vec![level("43115.9", "1.10", 4), level("43105.5", "0.3", 2), level("43095.123", "2.5", 5)]);
    assert_eq!(s.buys, TradeSummary::default());
    assert_eq!(s.sells, TradeSummary::default());
    assert_eq!(first.cursor, Some(json!({"since": 123456789})));

    // The cursor goes through JSON text (as it would through Postgres) and comes back.
    let stored: Value = serde_json::from_str(&first.cursor.unwrap().to_string()).unwrap();
    let second = src.fetch("BTC-USD", Some(&stored)).await.unwrap();
    assert_eq!(second.sample.buys, TradeSummary { price: d("43125.123456"), size: d("0.75"), num_orders: 3 });
    assert_eq!(second.sample.sells, TradeSummary { price: d("43120.5"), size: d("0.125"), num_orders: 1 });
    assert_eq!(second.cursor, Some(json!({"since": 123456794})));

    let log = log.lock().unwrap();
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["interval", "marketOrders", "interval", "marketOrders"]);
    let interval = &log[0].1;
    assert_eq!(interval["product"], "BTC-USD");
    assert_eq!(interval["aggregation"], "10");
    assert_eq!(interval["depth"], "3");
    assert!(interval["user-agent"].starts_with("cgaf/"), "{:?}", interval["user-agent"]);
    // `since` omitted on the first call, then the previous sequence.
    assert!(!log[1].1.contains_key("since"), "{:?}", log[1].1);
    assert_eq!(log[1].1["product"], "BTC-USD");
    assert_eq!(log[3].1["since"], "123456789");
}

#[tokio::test]
async fn coinbase_local_base_url_with_trailing_slash_and_foreign_cursor() {
    let log: Log = Default::default();
    let addr = coinbase_local_server(log.clone()).await;
    let mut src = CoinbaseLocalSource::new(&format!("http://{addr}/ok/"), Decimal::TEN, 3, TIMEOUT).unwrap();
    // A cursor from another source kind is ignored (first-run behaviour), not an error.
    let f = src.fetch("ETH-USD", Some(&json!({"after_trade_id": 5}))).await.unwrap();
    assert_eq!(f.sample.product, "ETH-USD");
    let log = log.lock().unwrap();
    assert_eq!(log[0].1["product"], "ETH-USD");
    assert!(!log[1].1.contains_key("since"));
}

#[tokio::test]
async fn coinbase_local_through_any_source() {
    let addr = coinbase_local_server(Default::default()).await;
    let settings = SourceSettings {
        kind: SourceKind::CoinbaseLocal,
        url: Some(format!("http://{addr}/ok")),
        http_timeout: TIMEOUT,
        ..SourceSettings::default()
    };
    let mut src = AnySource::new(&settings).unwrap();
    assert_eq!(src.name(), "coinbase-local");
    let f = src.fetch("BTC-USD", None).await.unwrap();
    assert_eq!(f.sample.asks[0], level("43130.1", "0.52", 7));
}

async fn local_error(scenario: &str, timeout: Duration) -> SourceError {
    let addr = coinbase_local_server(Default::default()).await;
    let mut src = local(addr, scenario, timeout);
    src.fetch("BTC-USD", Some(&json!({"since": 1}))).await.expect_err(scenario)
}

#[tokio::test]
async fn coinbase_local_503_is_a_retryable_status() {
    match local_error("unavailable", TIMEOUT).await {
        e @ SourceError::Status { status: 503, .. } => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("not ready"), "{e}");
        }
        other => panic!("expected Status 503, got {other:?}"),
    }
}

#[tokio::test]
async fn coinbase_local_400_is_a_permanent_status() {
    match local_error("unknown", TIMEOUT).await {
        SourceError::Status { status: 400, ref body_snippet, .. } => {
            assert!(body_snippet.contains("Unknown product"), "{body_snippet}");
        }
        other => panic!("expected Status 400, got {other:?}"),
    }
    assert!(!local_error("unknown", TIMEOUT).await.is_retryable());
}

#[tokio::test]
async fn coinbase_local_malformed_json_is_decode() {
    let e = local_error("malformed", TIMEOUT).await;
    assert!(matches!(e, SourceError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("invalid JSON"), "{e}");
}

#[tokio::test]
async fn coinbase_local_null_field_is_decode() {
    let e = local_error("null-midpoint", TIMEOUT).await;
    assert!(matches!(e, SourceError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("`midpoint` is null"), "{e}");
    let e = local_error("null-sequence", TIMEOUT).await;
    assert!(e.to_string().contains("`sequence` is null"), "{e}");
}

#[tokio::test]
async fn coinbase_local_bad_decimals_are_decode() {
    let e = local_error("bad-decimal", TIMEOUT).await;
    assert!(matches!(e, SourceError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("asks[1][0]"), "{e}");
    let e = local_error("bad-orders", TIMEOUT).await;
    assert!(e.to_string().contains("buy.size"), "{e}");
}

#[tokio::test]
async fn coinbase_local_empty_book() {
    let e = local_error("empty", TIMEOUT).await;
    assert!(matches!(e, SourceError::EmptyBook { side: "bid", .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn coinbase_local_timeout() {
    let e = local_error("slow", SHORT_TIMEOUT).await;
    assert!(matches!(e, SourceError::Timeout { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn connection_refused_is_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut src = local(addr, "ok", TIMEOUT);
    let e = src.fetch("BTC-USD", None).await.unwrap_err();
    assert!(matches!(e, SourceError::Http { .. }), "{e:?}");
    assert!(e.is_retryable());
    let mut cb = CoinbaseSource::new(&format!("http://{addr}"), Decimal::TEN, 3, TIMEOUT).unwrap();
    assert!(matches!(cb.fetch("BTC-USD", None).await, Err(SourceError::Http { .. })));
}

// ---------------------------------------------------------------------------------------------
// Coinbase Exchange
// ---------------------------------------------------------------------------------------------

fn exchange_book() -> Value {
    json!({
        "sequence": 1924393896u64,
        "bids": [
            ["59998.50", "1.00000000", 3],
            ["59995.00", "0.50000000", 1],
            ["59989.99", "0.25", 2],
            ["59965", "3", 1]
        ],
        "asks": [
            ["60001.50", "0.50000000", 2],
            ["60003.25", "0.25", 1],
            ["60009.99", "1.0", 3],
            ["60025.00", "2", 4],
            ["60040", "1", 1]
        ],
        "auction_mode": false,
        "auction": null,
        "time": "2026-01-05T10:00:00.000000Z"
    })
}

/// Deterministic synthetic trade `id`: (maker side, price, size).
fn trade_fields(id: u64) -> (&'static str, String, String) {
    let side = match id % 3 {
        0 => "buy",
        _ => "sell",
    };
    let price = format!("{}.{:02}000000", 60000 + id % 7, id % 100);
    let size = format!("0.{:08}", 1_000_000 + (id * 7919) % 9_000_000);
    (side, price, size)
}

fn trade_json(id: u64) -> Value {
    let (side, price, size) = trade_fields(id);
    json!({"trade_id": id, "side": side, "size": size, "price": price,
           "time": "2023-09-10T13:47:41.447577Z"})
}

/// Expected taker summaries (buys, sells) of trades `ids`.
fn expected(ids: impl Iterator<Item = u64>) -> (TradeSummary, TradeSummary) {
    let mut acc = [(Decimal::ZERO, Decimal::ZERO, 0u32); 2];
    for id in ids {
        let (maker, price, size) = trade_fields(id);
        let taker_buy = maker == "sell";
        let a = &mut acc[usize::from(!taker_buy)];
        a.0 += d(&price) * d(&size);
        a.1 += d(&size);
        a.2 += 1;
    }
    let s = |a: (Decimal, Decimal, u32)| {
        if a.2 == 0 {
            TradeSummary::default()
        } else {
            TradeSummary { price: (a.0 / a.1).normalize(), size: a.1.normalize(), num_orders: a.2 }
        }
    };
    (s(acc[0]), s(acc[1]))
}

#[derive(Default)]
struct Exchange {
    /// Newest trade id; trades run from 1 to it.
    newest: u64,
    requests: Vec<(String, Query)>,
}

async fn exchange_server(state: Arc<Mutex<Exchange>>) -> SocketAddr {
    let st = warp::any().map(move || state.clone());
    let book = warp::path!("products" / String / "book")
        .and(warp::query::<Query>())
        .and(warp::header::optional::<String>("user-agent"))
        .and(st.clone())
        .and_then(|product: String, q: Query, ua: Option<String>, st: Arc<Mutex<Exchange>>| async move {
            let mut logged = q.clone();
            logged.insert("user-agent".into(), ua.unwrap_or_default());
            st.lock().unwrap().requests.push((format!("book {product}"), logged));
            let reply = match product.as_str() {
                "BTC-USD" | "FLIP-USD" => json_reply(200, exchange_book().to_string()),
                "EMPTY-USD" => {
                    let mut b = exchange_book();
                    b["asks"] = json!([]);
                    json_reply(200, b.to_string())
                }
                "LIMITED-USD" => json_reply(429, r#"{"message":"Public rate limit exceeded"}"#),
                "BADTRADE-USD" => json_reply(200, exchange_book().to_string()),
                _ => json_reply(404, r#"{"message":"NotFound"}"#),
            };
            Ok::<_, Infallible>(reply)
        });
    let trades = warp::path!("products" / String / "trades").and(warp::query::<Query>()).and(st).and_then(
        |product: String, q: Query, st: Arc<Mutex<Exchange>>| async move {
            let mut st = st.lock().unwrap();
            st.requests.push((format!("trades {product}"), q.clone()));
            if product == "FLIP-USD" {
                let body = json!([
                    {"trade_id": 11, "side": "sell", "size": "0.27426731",
                     "price": "25820.42000000", "time": "2023-09-10T13:47:41.447577Z"},
                    {"trade_id": 10, "side": "buy", "size": "0.5",
                     "price": "25820.00000000", "time": "2023-09-10T13:47:40.000000Z"},
                    {"trade_id": 9, "side": "buy", "size": "9",
                     "price": "1.00000000", "time": "2023-09-10T13:47:39.000000Z"}
                ]);
                return Ok::<_, Infallible>(json_reply(200, body.to_string()));
            }
            if product == "BADTRADE-USD" {
                let body = json!([{"trade_id": 11, "side": "sell", "size": "1", "time": "x"}]);
                return Ok(json_reply(200, body.to_string()));
            }
            let limit: u64 = q.get("limit").map_or(100, |l| l.parse().unwrap());
            let below = q.get("after").map_or(st.newest + 1, |a| a.parse().unwrap());
            let top = below.saturating_sub(1).min(st.newest);
            let ids: Vec<u64> = (1..=top).rev().take(limit as usize).collect();
            let body = Value::Array(ids.iter().map(|&i| trade_json(i)).collect());
            let mut resp = json_reply(200, body.to_string());
            if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
                let h = resp.headers_mut();
                h.insert("cb-before", first.to_string().parse().unwrap());
                h.insert("cb-after", last.to_string().parse().unwrap());
            }
            Ok(resp)
        },
    );
    serve!(book.or(trades))
}

fn exchange(addr: SocketAddr, aggregation: Decimal) -> CoinbaseSource {
    CoinbaseSource::new(&format!("http://{addr}"), aggregation, 3, TIMEOUT).unwrap()
}

#[tokio::test]
async fn coinbase_book_is_aggregated_like_coinbase_local() {
    let state = Arc::new(Mutex::new(Exchange { newest: 500, ..Default::default() }));
    let addr = exchange_server(state.clone()).await;
    let mut src = exchange(addr, Decimal::TEN);
    assert_eq!(src.name(), "coinbase");
    let f = src.fetch("BTC-USD", None).await.unwrap();
    let s = &f.sample;
    assert_eq!(s.midpoint, d("60000"));
    // Asks: bucket ceil(p/10): 6001 = (60000, 60010] holds three levels; 6002 is empty; 6003 has
    // 60025; 60040 is beyond depth.
    let vwap = (d("60001.50") * d("0.5") + d("60003.25") * d("0.25") + d("60009.99") * d("1.0")) / d("1.75");
    assert_eq!(
        s.asks,
        vec![
            Level { price: vwap.normalize(), size: d("1.75"), num_orders: 6 },
            level("60020", "0", 0),
            level("60025", "2", 4),
        ]
    );
    // Bids: bucket floor(p/10): 5999 = [59990, 60000) two levels; 5998 one; 5997 empty.
    let vwap = (d("59998.5") * d("1") + d("59995") * d("0.5")) / d("1.5");
    assert_eq!(
        s.bids,
        vec![
            Level { price: vwap.normalize(), size: d("1.5"), num_orders: 4 },
            level("59989.99", "0.25", 2),
            level("59970", "0", 0),
        ]
    );
    // First run: no trades counted, newest id recorded.
    assert_eq!(s.buys, TradeSummary::default());
    assert_eq!(s.sells, TradeSummary::default());
    assert_eq!(f.cursor, Some(json!({"after_trade_id": 500})));

    let st = state.lock().unwrap();
    assert_eq!(st.requests.len(), 2);
    assert_eq!(st.requests[0].0, "book BTC-USD");
    assert_eq!(st.requests[0].1["level"], "2");
    assert!(st.requests[0].1["user-agent"].starts_with("cgaf/"));
    assert_eq!(st.requests[1].0, "trades BTC-USD");
    assert_eq!(st.requests[1].1["limit"], "100");
    assert!(!st.requests[1].1.contains_key("after"));
}

#[tokio::test]
async fn coinbase_raw_levels_with_zero_aggregation() {
    let addr = exchange_server(Arc::new(Mutex::new(Exchange::default()))).await;
    let mut src = exchange(addr, Decimal::ZERO);
    let f = src.fetch("BTC-USD", None).await.unwrap();
    assert_eq!(
        f.sample.asks,
        vec![level("60001.5", "0.5", 2), level("60003.25", "0.25", 1), level("60009.99", "1", 3)]
    );
    assert_eq!(f.sample.bids, vec![level("59998.5", "1", 3), level("59995", "0.5", 1), level("59989.99", "0.25", 2)]);
    // No trades at all yet: the cursor starts at 0 so the first trades will be counted.
    assert_eq!(f.cursor, Some(json!({"after_trade_id": 0})));
}

#[tokio::test]
async fn coinbase_trades_paginate_and_flip_to_taker_side() {
    let state = Arc::new(Mutex::new(Exchange { newest: 1100, ..Default::default() }));
    let addr = exchange_server(state.clone()).await;
    let mut src = exchange(addr, Decimal::TEN);

    let first = src.fetch("BTC-USD", None).await.unwrap();
    assert_eq!(first.cursor, Some(json!({"after_trade_id": 1100})));

    // 250 new trades: three pages (1350..1251, 1250..1151, 1150..1051 which reaches 1100).
    state.lock().unwrap().newest = 1350;
    state.lock().unwrap().requests.clear();
    let cursor: Value = serde_json::from_str(&first.cursor.unwrap().to_string()).unwrap();
    let second = src.fetch("BTC-USD", Some(&cursor)).await.unwrap();
    let (buys, sells) = expected(1101..=1350);
    assert_eq!(second.sample.buys, buys);
    assert_eq!(second.sample.sells, sells);
    assert_eq!(buys.num_orders + sells.num_orders, 250);
    assert!(buys.num_orders > 0 && sells.num_orders > 0);
    assert_eq!(second.cursor, Some(json!({"after_trade_id": 1350})));
    {
        let st = state.lock().unwrap();
        let afters: Vec<Option<&str>> = st
            .requests
            .iter()
            .filter(|(k, _)| k.starts_with("trades"))
            .map(|(_, q)| q.get("after").map(String::as_str))
            .collect();
        assert_eq!(afters, [None, Some("1251"), Some("1151")]);
    }

    // Nothing new: empty summaries, same cursor, one page.
    let third = src.fetch("BTC-USD", second.cursor.as_ref()).await.unwrap();
    assert_eq!(third.sample.buys, TradeSummary::default());
    assert_eq!(third.sample.sells, TradeSummary::default());
    assert_eq!(third.cursor, Some(json!({"after_trade_id": 1350})));

    // A backlog larger than the page cap: only the newest pages are counted.
    state.lock().unwrap().newest = 2000;
    let mut capped = exchange(addr, Decimal::TEN).with_max_trade_pages(2);
    let fourth = capped.fetch("BTC-USD", third.cursor.as_ref()).await.unwrap();
    let (buys, sells) = expected(1801..=2000);
    assert_eq!(fourth.sample.buys, buys);
    assert_eq!(fourth.sample.sells, sells);
    assert_eq!(fourth.cursor, Some(json!({"after_trade_id": 2000})));
}

#[tokio::test]
async fn coinbase_maker_side_is_flipped() {
    let addr = exchange_server(Arc::new(Mutex::new(Exchange::default()))).await;
    let mut src = exchange(addr, Decimal::TEN);
    let f = src.fetch("FLIP-USD", Some(&json!({"after_trade_id": 9}))).await.unwrap();
    // Maker "sell" = taker buy; maker "buy" = taker sell; trade 9 is already known.
    assert_eq!(f.sample.buys, TradeSummary { price: d("25820.42"), size: d("0.27426731"), num_orders: 1 });
    assert_eq!(f.sample.sells, TradeSummary { price: d("25820"), size: d("0.5"), num_orders: 1 });
    assert_eq!(f.cursor, Some(json!({"after_trade_id": 11})));
}

#[tokio::test]
async fn coinbase_errors_are_typed() {
    let addr = exchange_server(Arc::new(Mutex::new(Exchange { newest: 5, ..Default::default() }))).await;
    let mut src = exchange(addr, Decimal::TEN);
    match src.fetch("NOPE-USD", None).await {
        Err(e @ SourceError::Status { status: 404, .. }) => assert!(!e.is_retryable()),
        other => panic!("expected 404, got {other:?}"),
    }
    match src.fetch("LIMITED-USD", None).await {
        Err(e @ SourceError::Status { status: 429, .. }) => assert!(e.is_retryable()),
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(matches!(src.fetch("EMPTY-USD", None).await, Err(SourceError::EmptyBook { side: "ask", .. })));
    match src.fetch("BADTRADE-USD", Some(&json!({"after_trade_id": 1}))).await {
        Err(e @ SourceError::Decode { .. }) => assert!(e.to_string().contains("trades[0]"), "{e}"),
        other => panic!("expected Decode, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Simulator
// ---------------------------------------------------------------------------------------------

/// Runs `n` steps feeding each cursor to the next fetch.
async fn run(src: &mut impl MarketSource, product: &str, start: Option<Value>, n: usize) -> Vec<Fetched> {
    let mut cursor = start;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let f = src.fetch(product, cursor.as_ref()).await.unwrap();
        // Through text, as through Postgres jsonb.
        cursor = f.cursor.as_ref().map(|c| serde_json::from_str(&c.to_string()).unwrap());
        out.push(f);
    }
    out
}

/// The sample without its wall-clock timestamp.
fn market(s: &NewSample) -> NewSample {
    NewSample { sampled_at: chrono::DateTime::UNIX_EPOCH, ..s.clone() }
}

fn sim(seed: u64) -> SimSource {
    SimSource::new(seed, Decimal::TEN, 3)
}

#[tokio::test]
async fn sim_same_seed_same_samples() {
    let a = run(&mut sim(7), "BTC-USD", None, 50).await;
    let b = run(&mut sim(7), "BTC-USD", None, 50).await;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(market(&x.sample), market(&y.sample));
        assert_eq!(x.cursor, y.cursor);
    }
    let c = run(&mut sim(8), "BTC-USD", None, 50).await;
    assert_ne!(market(&a[49].sample), market(&c[49].sample));
}

#[tokio::test]
async fn sim_resumes_exactly_from_a_cursor() {
    let whole = run(&mut sim(11), "ETH-USD", None, 40).await;
    // "Restart": a new source, given only the stored cursor of sample 20.
    let cursor = whole[19].cursor.clone().unwrap();
    let resumed = run(&mut sim(11), "ETH-USD", Some(cursor), 20).await;
    for (x, y) in whole[20..].iter().zip(&resumed) {
        assert_eq!(market(&x.sample), market(&y.sample));
        assert_eq!(x.cursor, y.cursor);
    }
}

#[tokio::test]
async fn sim_products_differ() {
    let btc = run(&mut sim(1), "BTC-USD", None, 5).await;
    let eth = run(&mut sim(1), "ETH-USD", None, 5).await;
    let sol = run(&mut sim(1), "SOL-USD", None, 5).await;
    let ada = run(&mut sim(1), "ADA-USD", None, 5).await;
    let mid = |f: &[Fetched]| f[4].sample.midpoint;
    assert!(mid(&btc) > d("50000") && mid(&btc) < d("70000"), "{}", mid(&btc));
    assert!(mid(&eth) > d("2500") && mid(&eth) < d("3500"), "{}", mid(&eth));
    assert!(mid(&sol) > d("40") && mid(&sol) < d("160"), "{}", mid(&sol));
    assert_ne!(mid(&sol), mid(&ada));
    assert_ne!(btc[4].cursor, eth[4].cursor);
}

#[tokio::test]
async fn sim_book_shape_empty_levels_and_trades() {
    for depth in [3usize, 5] {
        let mut src = SimSource::new(3, Decimal::TEN, depth);
        let out = run(&mut src, "BTC-USD", None, 1000).await;
        let (mut empty, mut total, mut no_buys, mut some_buys, mut no_sells) = (0, 0, 0, 0, 0);
        for f in &out {
            let s = &f.sample;
            assert_eq!(s.asks.len(), depth);
            assert_eq!(s.bids.len(), depth);
            assert!(s.asks[0].price > s.midpoint && s.bids[0].price < s.midpoint);
            assert!(s.asks[0].size > Decimal::ZERO && s.bids[0].size > Decimal::ZERO);
            // Levels sit on the aggregation grid: ask i in ((b0+i-1)*10, (b0+i)*10].
            let ten = Decimal::TEN;
            let a0 = (s.asks[0].price / ten).ceil();
            let b0 = (s.bids[0].price / ten).floor();
            for (i, l) in s.asks.iter().enumerate() {
                let b = a0 + Decimal::from(i);
                assert!(l.price > (b - Decimal::ONE) * ten && l.price <= b * ten, "{l:?} in {b}");
                assert!(l.price.scale() <= 2 && l.size.scale() <= 8);
            }
            for (i, l) in s.bids.iter().enumerate() {
                let b = b0 - Decimal::from(i);
                assert!(l.price >= b * ten && l.price < (b + Decimal::ONE) * ten, "{l:?} in {b}");
                assert!(l.price.scale() <= 2 && l.size.scale() <= 8);
            }
            for l in s.asks.iter().chain(&s.bids) {
                total += 1;
                if l.size.is_zero() {
                    empty += 1;
                    assert_eq!(l.num_orders, 0);
                    assert!((l.price % ten).is_zero(), "{l:?}");
                } else {
                    assert!(l.num_orders > 0);
                }
            }
            for t in [&s.buys, &s.sells] {
                if t.num_orders == 0 {
                    assert_eq!(*t, TradeSummary::default());
                } else {
                    assert!(t.size > Decimal::ZERO && t.price.scale() <= 2);
                    let rel = ((t.price - s.midpoint) / s.midpoint).abs();
                    assert!(rel < d("0.01"), "{t:?} vs {}", s.midpoint);
                }
            }
            if s.buys.num_orders == 0 {
                no_buys += 1;
            } else {
                some_buys += 1;
            }
            if s.sells.num_orders == 0 {
                no_sells += 1;
            }
        }
        let frac = empty as f64 / total as f64;
        assert!((0.005..0.15).contains(&frac), "empty fraction {frac} (depth {depth})");
        assert!(no_buys > 0 && some_buys > 0 && no_sells > 0, "{no_buys} {some_buys} {no_sells}");
    }
}

#[tokio::test]
async fn sim_volatility_clusters() {
    let out = run(&mut sim(5), "BTC-USD", None, 3000).await;
    let logs: Vec<f64> =
        out.iter().map(|f| rust_decimal::prelude::ToPrimitive::to_f64(&f.sample.midpoint).unwrap().ln()).collect();
    let rets: Vec<f64> = logs.windows(2).map(|w| w[1] - w[0]).collect();
    let stds: Vec<f64> = rets
        .chunks(100)
        .map(|c| {
            let m = c.iter().sum::<f64>() / c.len() as f64;
            (c.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / c.len() as f64).sqrt()
        })
        .collect();
    let max = stds.iter().cloned().fold(f64::MIN, f64::max);
    let min = stds.iter().cloned().fold(f64::MAX, f64::min);
    assert!(max / min > 1.5, "window volatility {min}..{max}");
    // And the price actually moves across the run.
    let first = out[0].sample.midpoint;
    assert!(out.iter().any(|f| (f.sample.midpoint - first).abs() > d("50")));
}

#[tokio::test]
async fn sim_is_the_default_any_source() {
    let mut src = AnySource::new(&SourceSettings::default()).unwrap();
    assert_eq!(src.kind(), SourceKind::Sim);
    assert_eq!(src.name(), "sim");
    let f = src.fetch("BTC-USD", None).await.unwrap();
    assert_eq!(f.sample.asks.len(), 3);
    assert!(f.cursor.is_some());
}
