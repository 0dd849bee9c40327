//! [`AnySource`]: one of the source implementations, chosen at start-up from
//! [`SourceSettings`].

use crate::coinbase::CoinbaseSource;
use crate::coinbase_local::CoinbaseLocalSource;
use crate::error::SourceError;
use crate::sim::SimSource;
use crate::source::{
    Fetched, MarketSource, SourceKind, SourceSettings, DEFAULT_COINBASE_LOCAL_URL, DEFAULT_COINBASE_URL,
};

/// One of the source implementations, chosen at run time.
#[derive(Debug)]
pub enum AnySource {
    /// The deterministic simulator.
    Sim(SimSource),
    /// A coinbase-local compatible REST service.
    CoinbaseLocal(CoinbaseLocalSource),
    /// The public Coinbase Exchange REST API.
    Coinbase(CoinbaseSource),
}

impl AnySource {
    /// Builds the source `settings` describe, after validating them.
    pub fn new(settings: &SourceSettings) -> Result<Self, SourceError> {
        settings.validate()?;
        let url = settings.effective_url();
        Ok(match settings.kind {
            SourceKind::Sim => AnySource::Sim(SimSource::new(settings.seed, settings.aggregation, settings.depth)),
            SourceKind::CoinbaseLocal => AnySource::CoinbaseLocal(CoinbaseLocalSource::new(
                url.unwrap_or(DEFAULT_COINBASE_LOCAL_URL),
                settings.aggregation,
                settings.depth,
                settings.http_timeout,
            )?),
            SourceKind::Coinbase => AnySource::Coinbase(CoinbaseSource::new(
                url.unwrap_or(DEFAULT_COINBASE_URL),
                settings.aggregation,
                settings.depth,
                settings.http_timeout,
            )?),
        })
    }

    /// The kind of the wrapped source.
    pub fn kind(&self) -> SourceKind {
        match self {
            AnySource::Sim(_) => SourceKind::Sim,
            AnySource::CoinbaseLocal(_) => SourceKind::CoinbaseLocal,
            AnySource::Coinbase(_) => SourceKind::Coinbase,
        }
    }
}

impl MarketSource for AnySource {
    async fn fetch(&mut self, product: &str, cursor: Option<&serde_json::Value>) -> Result<Fetched, SourceError> {
        match self {
            AnySource::Sim(s) => s.fetch(product, cursor).await,
            AnySource::CoinbaseLocal(s) => s.fetch(product, cursor).await,
            AnySource::Coinbase(s) => s.fetch(product, cursor).await,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            AnySource::Sim(s) => s.name(),
            AnySource::CoinbaseLocal(s) => s.name(),
            AnySource::Coinbase(s) => s.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::time::Duration;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn fetch_futures_are_send() {
        let mut src = AnySource::new(&SourceSettings::default()).unwrap();
        let fut = src.fetch("BTC-USD", None);
        assert_send(&fut);
    }

    #[test]
    fn validation() {
        let ok = SourceSettings::default();
        assert!(ok.validate().is_ok());
        for bad in [
            SourceSettings { depth: 0, ..ok.clone() },
            SourceSettings { depth: 501, ..ok.clone() },
            SourceSettings { aggregation: Decimal::NEGATIVE_ONE, ..ok.clone() },
            SourceSettings { kind: SourceKind::CoinbaseLocal, aggregation: Decimal::new(5, 1), ..ok.clone() },
            SourceSettings { kind: SourceKind::Coinbase, http_timeout: Duration::ZERO, ..ok.clone() },
            SourceSettings { kind: SourceKind::Coinbase, url: Some("nope".into()), ..ok.clone() },
        ] {
            assert!(matches!(AnySource::new(&bad), Err(SourceError::Config(_))), "{bad:?}");
        }
        let cb = SourceSettings { kind: SourceKind::Coinbase, aggregation: Decimal::new(5, 1), ..ok };
        let src = AnySource::new(&cb).unwrap();
        assert_eq!(src.kind(), SourceKind::Coinbase);
        assert_eq!(src.name(), "coinbase");
    }
}
