//! The collect loop body: per product, fetch one sample from the source and store it with the
//! source's cursor in one transaction; back off per product after failures.

use crate::source::{Fetched, MarketSource};
use crate::telemetry::CollectTelemetry;
use crate::SourceError;
use cgaf_store::{Product, Store};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Why collecting one product failed this time.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The market source failed (transport, timeout, status, bad payload).
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] cgaf_store::Error),
}

/// What happened to one product in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectOutcome {
    /// A sample was stored with this id.
    Stored(i64),
    /// The product is backing off after failures; next attempt after this long.
    BackingOff(Duration),
}

/// Capped exponential backoff per product.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay after a failure.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(500), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// Delay after `failures` consecutive failures (≥ 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, Default)]
struct ProductState {
    /// `None` = not loaded from the database yet (first run, or after a database error).
    cursor: Option<Option<serde_json::Value>>,
    failures: u32,
    next_attempt: Option<Instant>,
}

/// The collect worker for one source.
pub struct CollectWorker<S> {
    source: S,
    store: Store,
    backoff: Backoff,
    state: HashMap<String, ProductState>,
    worker: Option<String>,
    telemetry: Option<CollectTelemetry>,
}

impl<S: MarketSource> CollectWorker<S> {
    /// A worker that stores samples of `source` in `store`.
    pub fn new(source: S, store: Store, backoff: Backoff) -> Self {
        Self { source, store, backoff, state: HashMap::new(), worker: None, telemetry: None }
    }

    /// Writes samples only while worker `worker` holds each product's collect lease (fencing
    /// for several replicas).
    pub fn with_worker(mut self, worker: impl Into<String>) -> Self {
        self.worker = Some(worker.into());
        self
    }

    /// Records samples and source failures in `telemetry`.
    pub fn with_telemetry(mut self, telemetry: CollectTelemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// One cycle over `products`. Never fails as a whole: each product reports its own result.
    /// Traced as the span `collect.tick`, with a `collect.product` child per product fetched.
    #[tracing::instrument(name = "collect.tick", skip_all, fields(products = products.len()))]
    pub async fn run_once(&mut self, products: &[Product]) -> Vec<(String, Result<CollectOutcome, CollectError>)> {
        self.state.retain(|k, _| products.iter().any(|p| &p.product == k));
        if let Some(t) = &self.telemetry {
            t.retain(products.iter().map(|p| p.product.as_str()));
        }
        let mut out = Vec::with_capacity(products.len());
        for p in products {
            let now = Instant::now();
            let st = self.state.entry(p.product.clone()).or_default();
            if let Some(next) = st.next_attempt {
                if next > now {
                    out.push((p.product.clone(), Ok(CollectOutcome::BackingOff(next - now))));
                    continue;
                }
            }
            let r = self.collect_product(p).await;
            let st = self.state.entry(p.product.clone()).or_default();
            match &r {
                Ok(_) => {
                    st.failures = 0;
                    st.next_attempt = None;
                }
                Err(e) => {
                    st.failures += 1;
                    let delay = self.backoff.delay(st.failures);
                    st.next_attempt = Some(Instant::now() + delay);
                    tracing::warn!(product = %p.product, failures = st.failures, retry_in = ?delay, error = %e, "collect failed");
                    if matches!(e, CollectError::Store(_)) {
                        // The commit may or may not have happened: the database is the truth.
                        for s in self.state.values_mut() {
                            s.cursor = None;
                        }
                    }
                }
            }
            if let Some(t) = &self.telemetry {
                match &r {
                    Ok(CollectOutcome::Stored(_)) => t.stored(&p.product),
                    Ok(CollectOutcome::BackingOff(_)) => {}
                    Err(CollectError::Source(e)) => t.failed(&p.product, error_kind(e)),
                    Err(CollectError::Store(_)) => t.failed(&p.product, "database"),
                }
            }
            out.push((p.product.clone(), r));
        }
        out
    }

    #[tracing::instrument(name = "collect.product", skip_all, fields(product = %p.product))]
    async fn collect_product(&mut self, p: &Product) -> Result<CollectOutcome, CollectError> {
        let source_name = self.source.name();
        let st = self.state.entry(p.product.clone()).or_default();
        let cursor = match &st.cursor {
            Some(c) => c.clone(),
            None => {
                let c = self.store.load_cursor(&p.product, source_name).await?;
                self.state.entry(p.product.clone()).or_default().cursor = Some(c.clone());
                c
            }
        };
        let Fetched { sample, cursor } = self.source.fetch(&p.product, cursor.as_ref()).await?;
        let id = self
            .store
            .insert_sample_fenced(&sample, p.max_size, source_name, cursor.as_ref(), self.worker.as_deref())
            .await?;
        if let Some(c) = cursor {
            self.state.entry(p.product.clone()).or_default().cursor = Some(Some(c));
        }
        Ok(CollectOutcome::Stored(id))
    }
}

/// A short label of a source error for metrics: `http`, `timeout`, `status`, `decode`,
/// `empty_book`, `config`.
pub fn error_kind(e: &SourceError) -> &'static str {
    match e {
        SourceError::Http { .. } => "http",
        SourceError::Timeout { .. } => "timeout",
        SourceError::Status { .. } => "status",
        SourceError::Decode { .. } => "decode",
        SourceError::EmptyBook { .. } => "empty_book",
        SourceError::Config(_) => "config",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(4), Duration::from_millis(800));
        assert_eq!(b.delay(5), Duration::from_secs(1));
        assert_eq!(b.delay(60), Duration::from_secs(1));
    }
}
