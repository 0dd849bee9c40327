//! The market-source abstraction of the collect worker: the [`MarketSource`] trait that the
//! three implementations (the deterministic simulator, a coinbase-local compatible REST client
//! and the public Coinbase Exchange REST API) implement, and their settings.
//! [`crate::any_source::AnySource`] picks one at start-up.

use crate::error::SourceError;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
