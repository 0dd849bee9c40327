//! The market-source abstraction of the collect worker: one trait, three implementations (the
//! deterministic simulator, a coinbase-local compatible REST client and the public Coinbase
//! Exchange REST API), their settings, and [`AnySource`] which picks one at start-up.

use crate::coinbase::CoinbaseSource;
use crate::coinbase_local::CoinbaseLocalSource;
use crate::error::SourceError;
use crate::sim::SimSource;
use cgaf_store::NewSample;
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Default base URL of coinbase-local (the original's `COINBASE_URL` default).
pub const DEFAULT_COINBASE_LOCAL_URL: &str = "http://coinbase-local:4201";
/// Default base URL of the public Coinbase Exchange REST API.
pub const DEFAULT_COINBASE_URL: &str = "https://api.exchange.coinbase.com";
/// Default bucket width of the order-book aggregation (quote currency), as in the original.
pub const DEFAULT_AGGREGATION: Decimal = Decimal::TEN;
/// Default number of levels per side, as in the original.
pub const DEFAULT_DEPTH: usize = 3;
/// Largest accepted depth (coinbase-local's limit).
pub const MAX_DEPTH: usize = 500;
/// Default HTTP timeout, as in the original.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What one successful fetch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The sample to store.
    pub sample: NewSample,
    /// The cursor to persist and pass to the next fetch of the same product (`None`: nothing to
    /// remember).
    pub cursor: Option<serde_json::Value>,
}

/// A source of order-book samples.
pub trait MarketSource: Send {
    /// Fetch one sample of `product`; `cursor` is what the previous successful fetch of this product returned (persisted in Postgres by the caller, so it survives restarts), None on first run.
    ///
    /// A cursor that this source does not recognise (e.g. written by another source kind) is
    /// ignored with a warning and treated as a first run, so switching sources never wedges a
    /// product.
    fn fetch(
        &mut self,
        product: &str,
        cursor: Option<&serde_json::Value>,
    ) -> impl std::future::Future<Output = Result<Fetched, SourceError>> + Send;

    /// Short name of the source kind (`"sim"`, `"coinbase-local"`, `"coinbase"`), for logs and
    /// metrics.
    fn name(&self) -> &'static str;
}

/// Which kind of source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourceKind {
    /// The deterministic simulator (no network); the default.
    #[default]
    Sim,
    /// A coinbase-local compatible REST service.
    CoinbaseLocal,
    /// The public Coinbase Exchange REST API.
    Coinbase,
}

impl SourceKind {
    /// The canonical name: `"sim"`, `"coinbase-local"` or `"coinbase"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Sim => "sim",
            SourceKind::CoinbaseLocal => "coinbase-local",
            SourceKind::Coinbase => "coinbase",
        }
    }

    /// The base URL used when none is configured (`None` for the simulator).
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            SourceKind::Sim => None,
            SourceKind::CoinbaseLocal => Some(DEFAULT_COINBASE_LOCAL_URL),
            SourceKind::Coinbase => Some(DEFAULT_COINBASE_URL),
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = SourceError;

    /// Parses `sim`, `coinbase-local` or `coinbase` (case-insensitive; `_` accepted for `-`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "sim" | "simulator" => Ok(SourceKind::Sim),
            "coinbase-local" => Ok(SourceKind::CoinbaseLocal),
            "coinbase" => Ok(SourceKind::Coinbase),
            _ => Err(SourceError::Config(format!(
                "unknown source {s:?} (expected \"sim\", \"coinbase-local\" or \"coinbase\")"
            ))),
        }
    }
}

/// Everything needed to build a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings {
    /// Which source.
    pub kind: SourceKind,
    /// Base URL of a REST source; `None` means the kind's default ([`SourceKind::default_url`]).
    /// Ignored by the simulator.
    pub url: Option<String>,
    /// Bucket width of the order-book aggregation in quote currency; 0 = raw levels. Must be ≥ 0
    /// (and a whole number for coinbase-local, whose API takes an integer).
    pub aggregation: Decimal,
    /// Levels per side, 1..=500.
    pub depth: usize,
    /// Timeout of each HTTP request (connect + reply).
    pub http_timeout: Duration,
    /// Seed of the simulator.
    pub seed: u64,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            kind: SourceKind::Sim,
            url: None,
            aggregation: DEFAULT_AGGREGATION,
            depth: DEFAULT_DEPTH,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            seed: 0,
        }
    }
}

impl SourceSettings {
    /// The effective base URL (configured or default); `None` for the simulator.
    pub fn effective_url(&self) -> Option<&str> {
        match self.kind {
            SourceKind::Sim => None,
            kind => Some(
                self.url
                    .as_deref()
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| kind.default_url().expect("REST kinds have a default URL")),
            ),
        }
    }

    /// Checks the settings that all sources share.
    pub fn validate(&self) -> Result<(), SourceError> {
        if self.depth == 0 || self.depth > MAX_DEPTH {
            return Err(SourceError::Config(format!("depth must be between 1 and {MAX_DEPTH}, got {}", self.depth)));
        }
        if self.aggregation.is_sign_negative() && !self.aggregation.is_zero() {
            return Err(SourceError::Config(format!("aggregation must not be negative, got {}", self.aggregation)));
        }
        if self.kind == SourceKind::CoinbaseLocal && !self.aggregation.fract().is_zero() {
            return Err(SourceError::Config(format!(
                "coinbase-local takes a whole-number aggregation, got {}",
                self.aggregation
            )));
        }
        if self.kind != SourceKind::Sim && self.http_timeout.is_zero() {
            return Err(SourceError::Config("the HTTP timeout must be positive".into()));
        }
        Ok(())
    }
}

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

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn fetch_futures_are_send() {
        let mut src = AnySource::new(&SourceSettings::default()).unwrap();
        let fut = src.fetch("BTC-USD", None);
        assert_send(&fut);
    }

    #[test]
    fn kind_round_trips() {
        for kind in [SourceKind::Sim, SourceKind::CoinbaseLocal, SourceKind::Coinbase] {
            assert_eq!(kind.to_string().parse::<SourceKind>().unwrap(), kind);
        }
        assert_eq!("Coinbase_Local".parse::<SourceKind>().unwrap(), SourceKind::CoinbaseLocal);
        assert!(matches!("binance".parse::<SourceKind>(), Err(SourceError::Config(_))));
    }

    #[test]
    fn defaults() {
        let s = SourceSettings::default();
        assert_eq!(s.kind, SourceKind::Sim);
        assert_eq!(s.aggregation, Decimal::from(10));
        assert_eq!(s.depth, 3);
        assert_eq!(s.effective_url(), None);
        let s = SourceSettings { kind: SourceKind::CoinbaseLocal, ..SourceSettings::default() };
        assert_eq!(s.effective_url(), Some("http://coinbase-local:4201"));
        let s = SourceSettings { kind: SourceKind::Coinbase, ..SourceSettings::default() };
        assert_eq!(s.effective_url(), Some("https://api.exchange.coinbase.com"));
        let s = SourceSettings { url: Some("http://x:1/".into()), ..s };
        assert_eq!(s.effective_url(), Some("http://x:1/"));
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
