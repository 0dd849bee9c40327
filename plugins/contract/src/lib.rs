//! The rules of the crypto-gaf plugin contract (`wit/plugin.wit`, `gaf:plugin@0.1.0`) in one
//! place, shared by the host's runtime, the guest SDK, the pyts kernels and the built-in plugins.
//!
//! - [`name`]: what a plugin name may look like ([`check_plugin_name`]).
//! - [`version`]: plugin versions are semver ([`parse_version`], ordered as semver orders them).
//! - [`info`]: what `info()` answers ([`PluginInfo`], [`PluginKind`], [`ParamSpec`]) and its
//!   validation ([`PluginInfo::validate`]).
//! - [`literal`]: the one parser of parameter values written as Python literals
//!   ([`parse_py_value`], [`PyValue`]).
//! - [`params`]: parameter pairs checked against a schema ([`ParamSet`]).
//! - [`matrix`]: the contract's square [`Matrix`].
//! - [`bar_record!`]: a bar's eight fields copied into another bar type (every contract
//!   version's bindings, the runtime and the trade engine have their own).
//!
//! No WebAssembly runtime and no generated bindings: the crate builds for the host and for
//! `wasm32-wasip2`. The SDK and the runtime convert these types to and from their WIT-generated
//! twins at one edge each.

pub mod error;
pub mod info;
pub mod literal;
pub mod matrix;
pub mod name;
pub mod params;
pub mod version;

pub use error::{Error, ParamError};
pub use info::{ParamSpec, PluginInfo, PluginKind, MAX_DESCRIPTION_BYTES, MAX_PARAMS};
pub use literal::{parse_param_value, parse_py_value, py_float_repr, LiteralError, PyValue};
pub use matrix::{to_pixel, Matrix};
pub use name::{check_plugin_name, MAX_NAME_LEN};
pub use params::ParamSet;
pub use version::{parse_version, Version};

/// Builds a bar of type `$t` from the eight contract fields of `$b` (any value with `time_ms`,
/// `open`, `high`, `low`, `close`, `volume`, `buy_volume` and `sell_volume`), plus any other
/// fields named after it: `bar_record!(Bar, b, book: Default::default())`. Every contract
/// version's bindings generate their own bar type, so the SDK, the runtime and the trade engine
/// each convert between two of them.
#[macro_export]
macro_rules! bar_record {
    ($t:path, $b:expr $(, $field:ident : $value:expr)* $(,)?) => {{
        let b = $b;
        $t {
            time_ms: b.time_ms,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            buy_volume: b.buy_volume,
            sell_volume: b.sell_volume,
            $($field: $value,)*
        }
    }};
}
