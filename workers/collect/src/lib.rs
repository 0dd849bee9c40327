//! crypto-gaf collect worker.

pub mod aggregate;
pub mod coinbase;
pub mod coinbase_local;
mod decode;
pub mod error;
mod http;
pub mod sim;
pub mod source;

pub use aggregate::{aggregate_levels, Side};
pub use coinbase::CoinbaseSource;
pub use coinbase_local::CoinbaseLocalSource;
pub use error::SourceError;
pub use http::USER_AGENT;
pub use sim::SimSource;
pub use source::{AnySource, Fetched, MarketSource, SourceKind, SourceSettings};
pub mod worker;
pub use worker::{error_kind, Backoff, CollectError, CollectOutcome, CollectWorker};
