//! A local fake of the Coinbase Exchange candles endpoint, for tests (feature `fake-exchange`).
//!
//! It serves `GET /products/{id}/candles?granularity=&start=&end=` the way the exchange does:
//! granularity must be one of 60, 300, 900, 3600, 21600, 86400 (else 400 `Unsupported
//! granularity`); `start` and `end` are RFC 3339 bucket starts, both included, and may cover at
//! most 300 buckets (else 400 `granularity too small for the requested time range. Count of
//! aggregations requested exceeds 300`); without them the newest 300 candles come back; rows are
//! `[time, low, high, open, close, volume]`, newest first, `time` the bucket start in epoch
//! seconds; buckets without a candle are simply absent; an unknown product is 404 `NotFound`.
//! Errors carry `{"message": …}` like the exchange's.
//!
//! Failures can be injected ([`FakeBehaviour`]: the first K requests, every Nth, or all from the
//! Nth on answer 429 or 5xx, optionally with `Retry-After`), and every request is logged
//! ([`FakeExchange::requests`]) so tests can assert paging and retries. The server listens on
//! `127.0.0.1:0` and stops when the [`FakeExchange`] is dropped.

use super::{Granularity, MAX_CANDLES_PER_REQUEST};
use cgaf_trade_domain::history::HistoryBar;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;
use warp::http::Response;
use warp::Filter;

/// The candles of one product at one granularity, as history bars (stamped at their close).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSeries {
    /// The product id.
    pub product: String,
    /// The candle width.
    pub granularity: Granularity,
    /// The candles; served as given (invalid ones included, for decode tests).
    pub bars: Vec<HistoryBar>,
}

/// Injected failures. Request numbers count every request the fake received, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBehaviour {
    /// Requests 1 … `fail_first` fail.
    pub fail_first: u64,
    /// Every request whose number is a multiple of this fails too.
    pub fail_every: Option<u64>,
    /// Every request from this number on fails (a dead exchange, to stop a download midway).
    pub fail_from: Option<u64>,
    /// The status of injected failures (429 or a 5xx).
    pub failure_status: u16,
    /// The `Retry-After` header sent with injected failures.
    pub retry_after: Option<String>,
}

impl Default for FakeBehaviour {
    fn default() -> Self {
        FakeBehaviour { fail_first: 0, fail_every: None, fail_from: None, failure_status: 429, retry_after: None }
    }
}

impl FakeBehaviour {
    /// No failures.
    pub fn healthy() -> FakeBehaviour {
        FakeBehaviour::default()
    }

    fn fails(&self, n: u64) -> bool {
        n <= self.fail_first
            || self.fail_every.is_some_and(|k| k > 0 && n.is_multiple_of(k))
            || self.fail_from.is_some_and(|f| n >= f)
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRequest {
    /// The product in the path.
    pub product: String,
    /// The `granularity` parameter as sent.
    pub granularity: Option<String>,
    /// The `start` parameter as sent.
    pub start: Option<String>,
    /// The `end` parameter as sent.
    pub end: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Candles returned.
    pub candles: usize,
}

#[derive(Debug)]
struct State {
    /// (product, granularity seconds) → bucket start (s) → bar.
    candles: HashMap<(String, i64), BTreeMap<i64, HistoryBar>>,
    products: HashSet<String>,
    behaviour: FakeBehaviour,
    requests: Vec<FakeRequest>,
}

/// A running fake exchange.
#[derive(Debug)]
pub struct FakeExchange {
    url: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeExchange {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeExchange {
    /// Starts a fake serving `series` on `127.0.0.1:0` with `behaviour`. A product of any series
    /// is known at every granularity (no candles where no series was given).
    pub async fn start(
        series: impl IntoIterator<Item = FakeSeries>,
        behaviour: FakeBehaviour,
    ) -> std::io::Result<FakeExchange> {
        let mut candles: HashMap<(String, i64), BTreeMap<i64, HistoryBar>> = HashMap::new();
        let mut products = HashSet::new();
        for s in series {
            let g = s.granularity.seconds();
            let map = candles.entry((s.product.clone(), g)).or_default();
            for bar in s.bars {
                map.insert(bar.close_ms.div_euclid(1_000) - g, bar);
            }
            products.insert(s.product);
        }
        let state = Arc::new(Mutex::new(State { candles, products, behaviour, requests: Vec::new() }));
        let shared = state.clone();
        let route = warp::path!("products" / String / "candles")
            .and(warp::get())
            .and(warp::query::<HashMap<String, String>>())
            .map(move |product: String, query: HashMap<String, String>| answer(&shared, product, &query));
        let fallback = warp::any().map(|| reply(404, &json!({"message": "NotFound"}), None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(warp::serve(route.or(fallback)).incoming(listener).run());
        Ok(FakeExchange { url, state, server })
    }

    /// The base URL (`http://127.0.0.1:PORT`), for [`super::CandleClientSettings::base_url`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        lock(&self.state).requests.clone()
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Replaces the injected failures (request numbering continues).
    pub fn set_behaviour(&self, behaviour: FakeBehaviour) {
        lock(&self.state).behaviour = behaviour;
    }
}

/// Deterministic valid bars: `count` consecutive bars of `granularity` closing from
/// `first_close_ms` on, on a gentle zig-zag around 100 with prices in quarters (exact in JSON).
pub fn synthetic_bars(granularity: Granularity, first_close_ms: i64, count: usize) -> Vec<HistoryBar> {
    (0..count)
        .map(|k| {
            let step = (k % 40) as f64;
            let level = if step < 20.0 { step } else { 40.0 - step };
            let open = 100.0 + level * 0.25;
            let close = open + if k % 2 == 0 { 0.25 } else { -0.25 };
            HistoryBar {
                close_ms: first_close_ms + granularity.ms() * k as i64,
                open,
                high: open.max(close) + 0.5,
                low: open.min(close) - 0.5,
                close,
                volume: 1.0 + (k % 7) as f64 * 0.125,
                ..Default::default()
            }
        })
        .collect()
}

fn reply(status: u16, body: &Value, retry_after: Option<&str>) -> Response<String> {
    let mut builder = Response::builder().status(status).header("content-type", "application/json");
    if let Some(wait) = retry_after {
        builder = builder.header("retry-after", wait);
    }
    builder.body(body.to_string()).unwrap_or_else(|_| Response::new(String::new()))
}

fn parse_time(value: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(value.trim()).ok().map(|t| t.timestamp())
}

/// Answers one candles request and logs it.
fn answer(state: &Mutex<State>, product: String, query: &HashMap<String, String>) -> Response<String> {
    let mut state = lock(state);
    let number = state.requests.len() as u64 + 1;
    let mut log = FakeRequest {
        product: product.clone(),
        granularity: query.get("granularity").cloned(),
        start: query.get("start").cloned(),
        end: query.get("end").cloned(),
        status: 200,
        candles: 0,
    };
    let outcome = if state.behaviour.fails(number) {
        let status = state.behaviour.failure_status;
        let message = if status == 429 { "Public rate limit exceeded" } else { "Internal server error" };
        Err((status, message.to_owned(), state.behaviour.retry_after.clone()))
    } else {
        candles(&state, &product, query).map_err(|(status, message)| (status, message, None))
    };
    let response = match outcome {
        Ok(rows) => {
            log.candles = rows.len();
            reply(200, &Value::Array(rows), None)
        }
        Err((status, message, retry_after)) => {
            log.status = status;
            reply(status, &json!({ "message": message }), retry_after.as_deref())
        }
    };
    state.requests.push(log);
    response
}

/// The rows for a request, newest first, or the exchange's error.
fn candles(state: &State, product: &str, query: &HashMap<String, String>) -> Result<Vec<Value>, (u16, String)> {
    if !state.products.contains(product) {
        return Err((404, "NotFound".into()));
    }
    let g = query
        .get("granularity")
        .and_then(|g| g.trim().parse::<i64>().ok())
        .and_then(Granularity::from_seconds)
        .ok_or((400, "Unsupported granularity".to_owned()))?
        .seconds();
    let (start, end) = match (query.get("start"), query.get("end")) {
        (None, None) => (None, None),
        (Some(s), Some(e)) => {
            let start = parse_time(s).ok_or((400, "Invalid start".to_owned()))?;
            let end = parse_time(e).ok_or((400, "Invalid end".to_owned()))?;
            if end < start {
                return Err((400, "Invalid end: end must be after start".into()));
            }
            // Bucket starts inside [start, end].
            let buckets = end.div_euclid(g) - (start + g - 1).div_euclid(g) + 1;
            if buckets > MAX_CANDLES_PER_REQUEST {
                return Err((
                    400,
                    "granularity too small for the requested time range. Count of aggregations requested exceeds 300"
                        .into(),
                ));
            }
            (Some(start), Some(end))
        }
        _ => return Err((400, "start and end must be given together".into())),
    };
    let Some(series) = state.candles.get(&(product.to_owned(), g)) else {
        return Ok(Vec::new());
    };
    let selected: Vec<(&i64, &HistoryBar)> = match (start, end) {
        (Some(s), Some(e)) => series.range(s..=e).rev().collect(),
        _ => series.iter().rev().take(MAX_CANDLES_PER_REQUEST as usize).collect(),
    };
    Ok(selected.into_iter().map(|(t, b)| json!([t, b.low, b.high, b.open, b.close, b.volume])).collect())
}
