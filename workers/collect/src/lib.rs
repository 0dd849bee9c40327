//! crypto-gaf collect worker.

pub mod aggregate;
pub mod any_source;
pub mod candles;
pub mod coinbase;
pub mod coinbase_local;
mod decode;
pub mod error;
mod http;
pub mod sim;
pub mod source;
pub mod telemetry;

pub use aggregate::{aggregate_levels, Side};
pub use any_source::AnySource;
pub use coinbase::CoinbaseSource;
pub use coinbase_local::CoinbaseLocalSource;
pub use error::SourceError;
pub use http::USER_AGENT;
pub use sim::SimSource;
pub use source::{Fetched, MarketSource, SourceKind, SourceSettings};
pub mod worker;
pub use telemetry::CollectTelemetry;
pub use worker::{error_kind, Backoff, CollectError, CollectOutcome, CollectWorker};
