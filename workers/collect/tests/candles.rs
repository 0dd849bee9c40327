//! The candle downloader against the fake Coinbase Exchange (feature `fake-exchange`): paging,
//! backoff on 429 and 5xx, immediate failure on other 4xx, exchange gaps, incremental re-runs and
//! resuming after a download died midway, with an in-memory store standing in for PostgreSQL.

use cgaf_collect::candles::fake::{synthetic_bars, FakeBehaviour, FakeExchange, FakeSeries};
use cgaf_collect::candles::{
    download, plan_download, CandleClient, CandleClientSettings, DownloadError, DownloadPlan, DownloadProgress,
    DownloadSummary, Granularity, RetryPolicy,
};
use cgaf_collect::SourceError;
use cgaf_trade_domain::history::{Gap, HistoryBar};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const M: i64 = 60_000;
/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600_000;
const G: Granularity = Granularity::OneMinute;

type Store = Arc<Mutex<BTreeMap<i64, HistoryBar>>>;

/// 700 one-minute bars closing T0 + 1 min … T0 + 700 min.
fn bars_700() -> Vec<HistoryBar> {
    synthetic_bars(G, T0 + M, 700)
}

fn settings(url: &str, attempts: u32) -> CandleClientSettings {
    CandleClientSettings {
        base_url: url.to_owned(),
        timeout: Duration::from_secs(10),
        requests_per_second: 1_000.0,
        retry: RetryPolicy {
            max_attempts: attempts,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retry_after: Duration::from_millis(10),
        },
    }
}

async fn fake(bars: Vec<HistoryBar>, behaviour: FakeBehaviour) -> FakeExchange {
    let series = FakeSeries { product: "BTC-USD".into(), granularity: G, bars };
    FakeExchange::start([series], behaviour).await.unwrap()
}

/// Plans [T0, T0 + 700 min) against what `store` holds.
fn plan(store: &Store) -> DownloadPlan {
    let stored: Vec<i64> = store.lock().unwrap().keys().copied().collect();
    plan_download("BTC-USD", G, T0, T0 + 700 * M, stored).unwrap()
}

/// Downloads `plan` into `store`, one "transaction" per window; returns the summary or error and
/// every progress report.
async fn run(
    client: &CandleClient,
    plan: &DownloadPlan,
    store: &Store,
) -> (Result<DownloadSummary, DownloadError<Infallible>>, Vec<DownloadProgress>) {
    let mut reports = Vec::new();
    let result = download(
        client,
        plan,
        |batch| {
            let store = store.clone();
            async move {
                let mut s = store.lock().unwrap();
                for bar in &batch.bars {
                    assert!(s.insert(bar.close_ms, *bar).is_none(), "a stored bar was written again");
                }
                Ok::<u64, Infallible>(batch.bars.len() as u64)
            }
        },
        |p| reports.push(*p),
    )
    .await;
    (result, reports)
}

#[tokio::test]
async fn pages_over_more_than_300_candles_then_a_rerun_asks_for_nothing() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();

    let p = plan(&store);
    assert_eq!((p.bars_expected, p.bars_stored, p.windows.len()), (700, 0, 3));
    let (summary, reports) = run(&client, &p, &store).await;
    let summary = summary.unwrap();
    assert_eq!(summary.windows, 3);
    assert_eq!(summary.requests, 3);
    assert_eq!(summary.retries, 0);
    assert_eq!((summary.bars_fetched, summary.bars_written), (700, 700));
    assert_eq!((summary.exchange_gap_bars, summary.exchange_gap_count), (0, 0));
    assert_eq!(exchange.request_count(), 3);
    // Oldest first, exactly the exchange's candles, stamped at their close.
    let stored: Vec<HistoryBar> = store.lock().unwrap().values().copied().collect();
    assert_eq!(stored, bars_700());
    assert!(stored.iter().all(|b| b.buy_volume.is_none() && b.sample_count.is_none() && b.book.is_none()));

    // Requests name bucket starts, both ends included, ≤ 300 buckets each.
    let requests = exchange.requests();
    let params: Vec<(&str, &str, &str)> = requests
        .iter()
        .map(|r| (r.granularity.as_deref().unwrap(), r.start.as_deref().unwrap(), r.end.as_deref().unwrap()))
        .collect();
    assert_eq!(
        params,
        [
            ("60", "2025-01-01T00:00:00Z", "2025-01-01T04:59:00Z"),
            ("60", "2025-01-01T05:00:00Z", "2025-01-01T09:59:00Z"),
            ("60", "2025-01-01T10:00:00Z", "2025-01-01T11:39:00Z"),
        ]
    );
    assert_eq!(requests.iter().map(|r| r.candles).collect::<Vec<_>>(), [300, 300, 100]);

    // Progress: once before the first window, then after each.
    let done: Vec<(usize, usize, u64)> =
        reports.iter().map(|p| (p.windows_done, p.windows_total, p.bars_written)).collect();
    assert_eq!(done, [(0, 3, 0), (1, 3, 300), (2, 3, 600), (3, 3, 700)]);
    assert_eq!(reports[3].last_close_ms, Some(T0 + 700 * M));

    // Everything is stored: the re-run plans nothing and sends no request.
    let again = plan(&store);
    assert!(again.is_complete());
    let (summary, _) = run(&client, &again, &store).await;
    let summary = summary.unwrap();
    assert_eq!((summary.windows, summary.requests, summary.bars_written), (0, 0, 0));
    assert_eq!(summary.bars_already_stored, 700);
    assert_eq!(exchange.request_count(), 3);
}

#[tokio::test]
async fn a_rerun_after_a_partial_download_fetches_only_the_missing_window() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();
    {
        let mut s = store.lock().unwrap();
        for bar in bars_700() {
            let minute = (bar.close_ms - T0) / M;
            if !(400..=450).contains(&minute) {
                s.insert(bar.close_ms, bar);
            }
        }
    }
    let p = plan(&store);
    assert_eq!(p.windows.len(), 1);
    assert_eq!((p.windows[0].first_close_ms, p.windows[0].last_close_ms), (T0 + 400 * M, T0 + 450 * M));
    let (summary, _) = run(&client, &p, &store).await;
    let summary = summary.unwrap();
    assert_eq!((summary.requests, summary.bars_written, summary.exchange_gap_bars), (1, 51, 0));
    assert_eq!(exchange.request_count(), 1);
    assert_eq!(store.lock().unwrap().values().copied().collect::<Vec<_>>(), bars_700());
}

#[tokio::test]
async fn resumes_after_a_download_died_midway() {
    // The exchange dies after the first window: requests 2 on answer 503.
    let behaviour = FakeBehaviour { fail_from: Some(2), failure_status: 503, ..FakeBehaviour::healthy() };
    let exchange = fake(bars_700(), behaviour).await;
    let client = CandleClient::new(&settings(exchange.url(), 2)).unwrap();
    let store = Store::default();

    let (result, reports) = run(&client, &plan(&store), &store).await;
    let err = result.unwrap_err();
    let DownloadError::Fetch(window_error) = &err else { panic!("expected a fetch error, got {err:?}") };
    assert_eq!(window_error.attempts, 2);
    assert_eq!(window_error.window.first_close_ms, T0 + 301 * M);
    assert!(matches!(window_error.source, SourceError::Status { status: 503, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("after 2 attempt(s)"), "{message}");
    assert!(message.contains("HTTP 503 from http://127.0.0.1:"), "{message}");
    assert!(message.contains("/products/BTC-USD/candles?granularity=60&start=2025-01-01T05%3A00%3A00Z"), "{message}");
    assert_eq!(exchange.request_count(), 3);
    // The first window was stored before the failure.
    assert_eq!(store.lock().unwrap().len(), 300);
    assert_eq!(reports.last().map(|p| p.bars_written), Some(300));

    // The exchange is back: the re-run plans and fetches only the rest.
    exchange.set_behaviour(FakeBehaviour::healthy());
    let p = plan(&store);
    assert_eq!(p.bars_stored, 300);
    assert_eq!(p.windows.len(), 2);
    assert_eq!(p.windows[0].first_close_ms, T0 + 301 * M);
    let (summary, _) = run(&client, &p, &store).await;
    let summary = summary.unwrap();
    assert_eq!((summary.requests, summary.bars_written), (2, 400));
    assert_eq!(exchange.request_count(), 5);
    assert_eq!(store.lock().unwrap().values().copied().collect::<Vec<_>>(), bars_700());
}

#[tokio::test]
async fn rate_limits_are_retried_and_counted() {
    let behaviour =
        FakeBehaviour { fail_first: 2, failure_status: 429, retry_after: Some("0".into()), ..FakeBehaviour::healthy() };
    let exchange = fake(bars_700(), behaviour).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let bars = client.fetch("BTC-USD", G, T0 + M, T0 + 300 * M).await.unwrap();
    assert_eq!(bars, bars_700()[..300]);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (3, 2));
    assert_eq!(exchange.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [429, 429, 200]);

    // Every second request limited: a whole download still completes, each retry counted.
    exchange.set_behaviour(FakeBehaviour { fail_every: Some(2), failure_status: 429, ..FakeBehaviour::healthy() });
    let store = Store::default();
    let (summary, _) = run(&client, &plan(&store), &store).await;
    let summary = summary.unwrap();
    // Requests 4 (limited), 5, 6 (limited), 7, 8 (limited), 9: three windows, three retries.
    assert_eq!((summary.windows, summary.requests, summary.retries, summary.bars_written), (3, 6, 3, 700));
    assert_eq!(exchange.request_count(), 9);
}

#[tokio::test]
async fn server_errors_exhaust_the_attempts_and_name_url_and_status() {
    let behaviour = FakeBehaviour { fail_from: Some(1), failure_status: 500, ..FakeBehaviour::healthy() };
    let exchange = fake(bars_700(), behaviour).await;
    let client = CandleClient::new(&settings(exchange.url(), 4)).unwrap();
    let err = client.fetch("BTC-USD", G, T0 + M, T0 + 10 * M).await.unwrap_err();
    match &err {
        SourceError::Status { url, status: 500, body_snippet } => {
            assert!(url.starts_with(exchange.url()), "{url}");
            assert!(url.contains("/products/BTC-USD/candles?granularity=60"), "{url}");
            assert_eq!(body_snippet, "Internal server error");
        }
        other => panic!("expected HTTP 500, got {other:?}"),
    }
    assert_eq!(exchange.request_count(), 4);
    assert_eq!(client.stats().retries, 3);
}

#[tokio::test]
async fn other_client_errors_fail_at_once_with_the_exchange_message() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 5)).unwrap();
    let err = client.fetch("NOPE-USD", G, T0 + M, T0 + 10 * M).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Status { status: 404, body_snippet, .. } if body_snippet == "NotFound"),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 404 from"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(exchange.request_count(), 1);

    // A window larger than one request never leaves the client.
    let err = client.fetch("BTC-USD", G, T0 + M, T0 + 301 * M).await.unwrap_err();
    assert!(matches!(err, SourceError::Config(_)), "{err:?}");
    assert_eq!(exchange.request_count(), 1);
}

#[tokio::test]
async fn the_fake_refuses_what_coinbase_refuses() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let http = reqwest::Client::new();
    let get = |query: &str| {
        let url = format!("{}/products/BTC-USD/candles?{query}", exchange.url());
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = get("granularity=120&start=2025-01-01T00:00:00Z&end=2025-01-01T01:00:00Z").await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Unsupported granularity")));
    // 301 bucket starts: refused; 300: served.
    let (status, body) = get("granularity=60&start=2025-01-01T00:00:00Z&end=2025-01-01T05:00:00Z").await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("exceeds 300"), "{body}");
    let (status, body) = get("granularity=60&start=2025-01-01T00:00:00Z&end=2025-01-01T04:59:00Z").await;
    assert_eq!(status, 200);
    let rows = body.as_array().unwrap();
    assert_eq!(rows.len(), 300);
    // Newest first, bucket starts in seconds.
    assert_eq!(rows[0][0], serde_json::json!((T0 + 299 * M) / 1000));
    assert_eq!(rows[299][0], serde_json::json!(T0 / 1000));
    // Without a range: the newest 300.
    let (status, body) = get("granularity=60").await;
    assert_eq!(status, 200);
    assert_eq!(body[0][0], serde_json::json!((T0 + 699 * M) / 1000));
    assert_eq!(body.as_array().unwrap().len(), 300);
    // Another granularity of a known product has no candles here.
    let (status, body) = get("granularity=3600").await;
    assert_eq!((status, body), (200, serde_json::json!([])));
}

#[tokio::test]
async fn gaps_the_exchange_had_are_counted_and_rechecked() {
    // No candles for minutes 10–14, 295–310 (across the first window boundary) and 650–700.
    let holes = |m: i64| (10..=14).contains(&m) || (295..=310).contains(&m) || (650..=700).contains(&m);
    let bars: Vec<HistoryBar> = bars_700().into_iter().filter(|b| !holes((b.close_ms - T0) / M)).collect();
    let exchange = fake(bars.clone(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();

    let (summary, reports) = run(&client, &plan(&store), &store).await;
    let summary = summary.unwrap();
    assert_eq!(summary.requests, 3);
    assert_eq!(summary.bars_written, 700 - 72);
    assert_eq!(summary.exchange_gap_bars, 72);
    assert_eq!(summary.exchange_gap_count, 3);
    let gap = |a: i64, b: i64| Gap { from_ms: T0 + a * M, to_ms: T0 + b * M, bars: b - a + 1 };
    assert_eq!(summary.exchange_gaps, [gap(10, 14), gap(295, 310), gap(650, 700)]);
    assert_eq!(reports.last().unwrap().exchange_gap_bars, 72);
    assert_eq!(store.lock().unwrap().values().copied().collect::<Vec<_>>(), bars);

    // The re-run asks again for the gaps only (three windows: 10–309, 310, 650–700), finds the
    // same gaps and writes nothing.
    let p = plan(&store);
    let spans: Vec<(i64, i64)> =
        p.windows.iter().map(|w| ((w.first_close_ms - T0) / M, (w.last_close_ms - T0) / M)).collect();
    assert_eq!(spans, [(10, 309), (310, 310), (650, 700)]);
    let (summary, _) = run(&client, &p, &store).await;
    let summary = summary.unwrap();
    assert_eq!((summary.requests, summary.bars_written, summary.bars_fetched), (3, 0, 0));
    assert_eq!(summary.exchange_gaps, [gap(10, 14), gap(295, 310), gap(650, 700)]);
}

#[tokio::test]
async fn stored_bars_inside_a_window_are_not_written_again() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();
    // Stored: everything but minutes 5 and 200, which share one window.
    {
        let mut s = store.lock().unwrap();
        for bar in bars_700().into_iter().filter(|b| ![5, 200].contains(&((b.close_ms - T0) / M))) {
            s.insert(bar.close_ms, bar);
        }
    }
    let p = plan(&store);
    assert_eq!(p.windows.len(), 1);
    let (summary, _) = run(&client, &p, &store).await;
    let summary = summary.unwrap();
    assert_eq!((summary.requests, summary.bars_fetched, summary.bars_written), (1, 2, 2));
    assert_eq!(summary.exchange_gap_bars, 0);
    assert_eq!(store.lock().unwrap().len(), 700);
}

#[tokio::test]
async fn an_invalid_candle_is_a_decode_error_naming_it() {
    let mut bars = bars_700();
    bars[4].high = bars[4].low - 1.0;
    let exchange = fake(bars, FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();
    let (result, _) = run(&client, &plan(&store), &store).await;
    let err = result.unwrap_err();
    let DownloadError::Fetch(window_error) = &err else { panic!("expected a fetch error, got {err:?}") };
    assert!(matches!(window_error.source, SourceError::Decode { .. }), "{err:?}");
    let message = err.to_string();
    // Newest first: the bad candle (bucket 00:04) is row 295 of the first window.
    assert!(message.contains("candles[295] (bucket starting 2025-01-01T00:04:00Z)"), "{message}");
    assert!(message.contains("is below low"), "{message}");
    assert_eq!(window_error.attempts, 1);
    assert_eq!(exchange.request_count(), 1);
    assert!(store.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_sink_stops_the_download_naming_the_window() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let p = plan(&Store::default());
    let mut calls = 0;
    // Any Debug + Display error type will do (here a plain String).
    let result = download(
        &client,
        &p,
        |batch| {
            calls += 1;
            let fail = calls == 2;
            async move {
                if fail {
                    Err("disk full".to_owned())
                } else {
                    Ok(batch.bars.len() as u64)
                }
            }
        },
        |_| {},
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(&err, DownloadError::Sink { window, .. } if window.first_close_ms == T0 + 301 * M), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(err.to_string().contains("closing 2025-01-01T05:01:00Z..=2025-01-01T10:00:00Z"), "{err}");
    assert_eq!(exchange.request_count(), 2);
}

#[tokio::test]
async fn the_summary_serializes_for_the_cli() {
    let exchange = fake(bars_700(), FakeBehaviour::healthy()).await;
    let client = CandleClient::new(&settings(exchange.url(), 3)).unwrap();
    let store = Store::default();
    let (summary, _) = run(&client, &plan(&store), &store).await;
    let json = serde_json::to_value(summary.unwrap()).unwrap();
    assert_eq!(json["product"], "BTC-USD");
    assert_eq!(json["granularity"], "1m");
    assert_eq!(json["bars_written"], 700);
    assert_eq!(json["exchange_gaps"], serde_json::json!([]));
}

/// The lead's CLI may spawn the download or keep the client in shared state, and wrap the error
/// with `?`: the types must allow it.
#[test]
fn download_types_are_send_and_errors_are_errors() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    error::<DownloadError<String>>();
    error::<DownloadError<std::io::Error>>();
    let client = CandleClient::new(&settings("http://127.0.0.1:1", 1)).unwrap();
    send_sync(&client);
    let p = plan(&Store::default());
    let fut = download(&client, &p, |b| async move { Ok::<u64, String>(b.bars.len() as u64) }, |_| {});
    send(&fut);
}
