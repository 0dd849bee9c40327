//! Host-side types of the plugin contract (independent of the generated bindings). What
//! `info()` answers and its rules ([`PluginInfo`], [`PluginKind`], [`ParamSpec`], names,
//! versions) are the contract crate's (`cgaf-plugin-contract`), re-exported here.

use serde::{Deserialize, Serialize};

pub use cgaf_plugin_contract::{check_plugin_name, ParamSpec, PluginInfo, PluginKind};

/// The contract's square matrix, row-major (one type for the kernels, the runtime and the SDK's
/// conversions).
pub use cgaf_plugin_contract::Matrix;

/// One OHLCV bar, stamped at its close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Close time, ms since the epoch.
    pub time_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Taker-buy volume.
    pub buy_volume: f64,
    /// Taker-sell volume.
    pub sell_volume: f64,
}

/// A strategy's decision for one bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Target position in [-1, 1].
    pub target: f64,
    /// Why.
    pub reason: Option<String>,
}

/// A square 8-bit greyscale image, row-major: what a transform's matrix becomes as pixels
/// ([`cgaf_plugin_contract::to_pixel`] of every value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    /// Rows (= columns).
    pub size: usize,
    /// `size * size` pixels.
    pub data: Vec<u8>,
}
