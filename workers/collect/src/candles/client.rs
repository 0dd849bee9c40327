//! The candles HTTP client: one request per window of at most [`MAX_CANDLES_PER_REQUEST`]
//! candles, paced to a request rate, retried with exponential backoff (honouring `Retry-After`)
//! on 429, 408, 5xx and transport failures, and decoded strictly into
//! [`HistoryBar`]s, oldest first.

use super::{iso_seconds, Granularity};
use crate::decode::Ctx;
use crate::error::SourceError;
use crate::http::{HttpJson, RawReply, MAX_BODY};
use crate::source::DEFAULT_COINBASE_URL;
use cgaf_trade_domain::history::HistoryBar;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Most candles the exchange returns for one request.
pub const MAX_CANDLES_PER_REQUEST: i64 = 300;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per window, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub initial_delay: Duration,
    /// Longest computed wait.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): the server's `Retry-After` when
    /// it sent one (at most [`RetryPolicy::max_retry_after`]), else `initial_delay × 2^(attempt−1)`
    /// capped at [`RetryPolicy::max_delay`].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }
}

/// The settings of a [`CandleClient`].
#[derive(Debug, Clone, PartialEq)]
pub struct CandleClientSettings {
    /// The Exchange REST base URL (default [`DEFAULT_COINBASE_URL`]).
    pub base_url: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Most requests started per second, retries included (the public limit is about 10).
    pub requests_per_second: f64,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
}

impl Default for CandleClientSettings {
    fn default() -> Self {
        CandleClientSettings {
            base_url: DEFAULT_COINBASE_URL.to_owned(),
            timeout: Duration::from_secs(30),
            requests_per_second: 3.0,
            retry: RetryPolicy::default(),
        }
    }
}

/// Requests sent and retried by a client since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
}

/// Spaces request starts at least `gap` apart.
#[derive(Debug)]
struct Pacer {
    gap: Duration,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl Pacer {
    /// Waits for the next free slot and takes it.
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.gap);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// A client of the Coinbase Exchange candles endpoint.
#[derive(Debug)]
pub struct CandleClient {
    http: HttpJson,
    pacer: Pacer,
    retry: RetryPolicy,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// One attempt's failure and whether another attempt may help.
struct Failure {
    error: SourceError,
    retry_after: Option<Duration>,
}

impl CandleClient {
    /// Checks the settings (URL, positive timeout, a finite positive rate, at least one attempt)
    /// and builds the client.
    pub fn new(settings: &CandleClientSettings) -> Result<CandleClient, SourceError> {
        let rate = settings.requests_per_second;
        if !rate.is_finite() || rate <= 0.0 {
            return Err(SourceError::Config(format!("the candle request rate must be above zero, got {rate}")));
        }
        let gap = Duration::try_from_secs_f64(1.0 / rate)
            .map_err(|_| SourceError::Config(format!("the candle request rate {rate}/s is out of range")))?;
        if settings.retry.max_attempts == 0 {
            return Err(SourceError::Config("the candle client needs at least one attempt per request".into()));
        }
        Ok(CandleClient {
            http: HttpJson::new(&settings.base_url, settings.timeout)?,
            pacer: Pacer { gap, next: tokio::sync::Mutex::new(None) },
            retry: settings.retry.clone(),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.http.base().as_str()
    }

    /// Requests and retries so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats { requests: self.requests.load(Ordering::Relaxed), retries: self.retries.load(Ordering::Relaxed) }
    }

    /// The bars of `product` closing from `first_close_ms` to `last_close_ms` (both included,
    /// both multiples of the granularity, at most [`MAX_CANDLES_PER_REQUEST`] bars apart), oldest
    /// first; buckets the exchange has no candle for are simply absent. Retries as the
    /// [`RetryPolicy`] says; an undecodable or invalid candle is a [`SourceError::Decode`] naming it;
    /// a 4xx other than 408/429 is a [`SourceError::Status`] carrying the exchange's `message`.
    pub async fn fetch(
        &self,
        product: &str,
        granularity: Granularity,
        first_close_ms: i64,
        last_close_ms: i64,
    ) -> Result<Vec<HistoryBar>, SourceError> {
        self.fetch_counted(product, granularity, first_close_ms, last_close_ms).await.map_err(|(e, _)| e)
    }

    /// [`CandleClient::fetch`], with the attempts made when it fails.
    pub(crate) async fn fetch_counted(
        &self,
        product: &str,
        granularity: Granularity,
        first_close_ms: i64,
        last_close_ms: i64,
    ) -> Result<Vec<HistoryBar>, (SourceError, u32)> {
        let g_ms = granularity.ms();
        if first_close_ms.rem_euclid(g_ms) != 0 || last_close_ms.rem_euclid(g_ms) != 0 {
            let message =
                format!("candle window closes {first_close_ms}..={last_close_ms} are not multiples of {g_ms} ms");
            return Err((SourceError::Config(message), 0));
        }
        let count = (last_close_ms - first_close_ms) / g_ms + 1;
        if !(1..=MAX_CANDLES_PER_REQUEST).contains(&count) {
            let message = format!("a candle window holds 1 to {MAX_CANDLES_PER_REQUEST} candles, not {count}");
            return Err((SourceError::Config(message), 0));
        }
        // Coinbase's `start` and `end` are bucket starts, both included.
        let url = self.http.url(
            &["products", product, "candles"],
            &[
                ("granularity", granularity.seconds().to_string()),
                ("start", iso_seconds(first_close_ms - g_ms)),
                ("end", iso_seconds(last_close_ms - g_ms)),
            ],
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.pacer.wait().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match self.http.get(url.clone()).await {
                Ok(reply) => match classify(reply) {
                    Ok((shown, body)) => {
                        return decode_candles(&shown, &body, granularity, first_close_ms, last_close_ms)
                            .map_err(|e| (e, attempt));
                    }
                    Err(f) => f,
                },
                Err(error) => Failure { error, retry_after: None },
            };
            if !failure.error.is_retryable() || attempt >= self.retry.max_attempts {
                return Err((failure.error, attempt));
            }
            let wait = self.retry.delay(attempt, failure.retry_after);
            tracing::warn!(%url, attempt, ?wait, error = %failure.error, "candle request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A success reply's URL and JSON body, or the failure of a non-2xx or oversized reply.
fn classify(reply: RawReply) -> Result<(String, Value), Failure> {
    if !(200..300).contains(&reply.status) {
        let retry_after = reply
            .headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| parse_retry_after(h, chrono::Utc::now()));
        let text = String::from_utf8_lossy(&reply.body);
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| text.into_owned());
        return Err(Failure { error: SourceError::status(&reply.url, reply.status, &message), retry_after });
    }
    if reply.body.len() > MAX_BODY {
        let error = SourceError::decode(&reply.url, format!("reply larger than {MAX_BODY} bytes"));
        return Err(Failure { error, retry_after: None });
    }
    let body = Ctx(&reply.url).parse(&reply.body).map_err(|error| Failure { error, retry_after: None })?;
    Ok((reply.url, body))
}

/// A `Retry-After` value: delay seconds or an HTTP date (a past date means no wait).
pub(crate) fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// A candle field as a float: a JSON number or a numeric string.
fn number(c: &Ctx<'_>, value: &Value, what: &str) -> Result<f64, SourceError> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.filter(|f| f.is_finite()).ok_or_else(|| c.err(format!("{what}: expected a number, got {value}")))
}

/// Decodes `[[time, low, high, open, close, volume], …]` (any order) into the valid bars closing
/// inside `first_close_ms..=last_close_ms`, oldest first, one per close.
fn decode_candles(
    url: &str,
    body: &Value,
    granularity: Granularity,
    first_close_ms: i64,
    last_close_ms: i64,
) -> Result<Vec<HistoryBar>, SourceError> {
    let c = Ctx(url);
    let g = granularity.seconds();
    let rows = c.array(body, "reply")?;
    let mut bars = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let what = format!("candles[{i}]");
        let fields = c.array(row, &what)?;
        if fields.len() < 6 {
            return Err(c.err(format!(
                "{what}: expected [time, low, high, open, close, volume], got {} element(s)",
                fields.len()
            )));
        }
        let time = i64::try_from(c.uint(&fields[0], &format!("{what}[0] (time)"))?)
            .map_err(|_| c.err(format!("{what}: time {} is out of range", fields[0])))?;
        if time % g != 0 {
            return Err(c.err(format!("{what}: time {time} is not a multiple of the granularity {g} s")));
        }
        let Some(close_ms) = time.checked_add(g).and_then(|t| t.checked_mul(1_000)) else {
            return Err(c.err(format!("{what}: time {time} is out of range")));
        };
        let bar = HistoryBar {
            close_ms,
            low: number(&c, &fields[1], &format!("{what}[1] (low)"))?,
            high: number(&c, &fields[2], &format!("{what}[2] (high)"))?,
            open: number(&c, &fields[3], &format!("{what}[3] (open)"))?,
            close: number(&c, &fields[4], &format!("{what}[4] (close)"))?,
            volume: number(&c, &fields[5], &format!("{what}[5] (volume)"))?,
            buy_volume: None,
            sell_volume: None,
            sample_count: None,
            book: None,
        };
        if let Some(reason) = bar.invalid_reason() {
            return Err(c.err(format!("{what} (bucket starting {}): {reason}", iso_seconds(time * 1_000))));
        }
        if (first_close_ms..=last_close_ms).contains(&close_ms) {
            bars.push(bar);
        } else {
            tracing::debug!(url, time, "ignoring a candle outside the requested window");
        }
    }
    bars.sort_by_key(|b| b.close_ms);
    let before = bars.len();
    bars.dedup_by_key(|b| b.close_ms);
    if bars.len() != before {
        tracing::warn!(url, duplicates = before - bars.len(), "the exchange sent the same bucket twice; kept one");
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            max_retry_after: Duration::from_secs(2),
        };
        let waits: Vec<u128> = (1..=5).map(|a| p.delay(a, None).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
        assert_eq!(p.delay(1, Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(p.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(2));
        assert_eq!(p.delay(u32::MAX, None), Duration::from_millis(700));
    }

    #[test]
    fn retry_after_seconds_or_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn settings_are_checked() {
        let ok = CandleClientSettings { base_url: "http://127.0.0.1:1".into(), ..Default::default() };
        assert!(CandleClient::new(&ok).is_ok());
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            let s = CandleClientSettings { requests_per_second: rate, ..ok.clone() };
            assert!(matches!(CandleClient::new(&s), Err(SourceError::Config(_))), "{rate}");
        }
        let s = CandleClientSettings { retry: RetryPolicy { max_attempts: 0, ..Default::default() }, ..ok.clone() };
        assert!(matches!(CandleClient::new(&s), Err(SourceError::Config(_))));
        let s = CandleClientSettings { base_url: "ftp://x".into(), ..ok };
        assert!(matches!(CandleClient::new(&s), Err(SourceError::Config(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_requests() {
        let pacer = Pacer { gap: Duration::from_millis(250), next: tokio::sync::Mutex::new(None) };
        let start = Instant::now();
        for _ in 0..4 {
            pacer.wait().await;
        }
        // Paused clock: exactly three gaps elapsed, no wall time involved.
        assert_eq!(Instant::now() - start, Duration::from_millis(750));
    }

    #[test]
    fn candles_decode_oldest_first_inside_the_window() {
        let body = json!([
            [180, 9.5, 11.0, 10.0, 10.5, 2.25],
            [120, "9", "10.5", "9.5", "10", "1.5"],
            [60, 8.0, 9.0, 8.5, 9.0, 0],
            [0, 8.0, 9.0, 8.5, 9.0, 0]
        ]);
        let bars = decode_candles("u", &body, Granularity::OneMinute, 120_000, 240_000).unwrap();
        let closes: Vec<i64> = bars.iter().map(|b| b.close_ms).collect();
        assert_eq!(closes, [120_000, 180_000, 240_000]);
        assert_eq!(
            bars[2],
            HistoryBar {
                close_ms: 240_000,
                open: 10.0,
                high: 11.0,
                low: 9.5,
                close: 10.5,
                volume: 2.25,
                ..Default::default()
            }
        );
        assert_eq!(
            (bars[1].low, bars[1].high, bars[1].open, bars[1].close, bars[1].volume),
            (9.0, 10.5, 9.5, 10.0, 1.5)
        );
    }

    #[test]
    fn bad_candles_are_named() {
        let cases = [
            (json!({"message": "x"}), "expected an array"),
            (json!([[60, 1, 2, 1]]), "candles[0]: expected [time, low, high, open, close, volume]"),
            (json!([[60, 1, 2, 1, 2, 1], [61, 1, 2, 1, 2, 1]]), "candles[1]: time 61 is not a multiple"),
            (json!([[60, 3, 2, 2, 2, 1]]), "candles[0] (bucket starting 1970-01-01T00:01:00Z): high 2 is below low 3"),
            (json!([[60, 1, 2, 1, 2, -1]]), "volume -1"),
            (json!([[60, 1, "abc", 1, 2, 1]]), "candles[0][2] (high): expected a number"),
            (json!([[-60, 1, 2, 1, 2, 1]]), "candles[0][0] (time)"),
            (json!([[60, 0, 2, 1, 2, 1]]), "prices must be finite and above zero"),
        ];
        for (body, needle) in cases {
            let e = decode_candles("http://x/c", &body, Granularity::OneMinute, 60_000, 600_000).unwrap_err();
            assert!(matches!(e, SourceError::Decode { .. }), "{e:?}");
            assert!(e.to_string().contains(needle), "{e} should contain {needle:?}");
            assert!(e.to_string().contains("http://x/c"), "{e}");
        }
    }
}
