//! The guest SDK of crypto-gaf plugins: everything a WebAssembly component needs to implement
//! one of the worlds of the plugin contract `gaf:plugin@0.1.0` (`wit/plugin.wit`).
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2` (which makes it a component). It
//! implements one trait and calls the matching export macro once, at its crate root:
//!
//! | world | trait | macro |
//! |---|---|---|
//! | `image-transform` | [`ImageTransform`] | [`export_image_transform!`] |
//! | `strategy` | [`Strategy`] | [`export_strategy!`] |
//! | `blender` | [`Blender`] | [`export_blender!`] |
//!
//! [`export_strategy_next!`] exports a [`Strategy`] as the strategy world of the draft contract
//! `gaf:plugin@0.2.0` instead (`wit-next/`): 0.1.0's resource plus `targets`, bars as columns
//! in and one `list<f64>` of targets out, which sweeps call instead of `on-bars` (about 40 % of
//! a sweep's time was moving records and reason strings across the sandbox boundary), and
//! `on-bar`, one bar as flat values in and one decision out, which runs call once per bar instead
//! of a one-bar `on-bars`. Override [`Strategy::targets`] to skip building decisions and
//! [`Strategy::on_bar`] to skip the one-bar list. The built-in `sma-cross` uses it; a draft
//! may still change, so a plugin built against it is rebuilt with the host that serves it.
//!
//! The macros hide the wit-bindgen glue and add safety checks the host would otherwise reject
//! the call for: a matrix's `data` must hold `size * size` values, and a strategy must answer
//! exactly one decision per bar with a finite target in `[-1, 1]` (a violation becomes
//! [`PluginError::Failed`]). On targets other than `wasm32` the macros only check that the type
//! implements the trait, so a plugin crate also builds (and unit-tests) natively.
//!
//! [`PluginInfo`], [`PluginKind`] and [`ParamSpec`] are the plugin contract's own types
//! (crate `cgaf-plugin-contract`, which also holds the name and version rules); the export
//! macros convert them to the WIT types at the component's edge. [`Params`] parses the
//! `(name, value)` pairs a call receives against the plugin's declared schema
//! ([`PluginInfo::params`]), with defaults, types and messages naming the parameter.
//!
//! With the feature `pyts`, the module `pyts` holds the glue between the pyts kernels
//! (`cgaf-kernels`) and this contract that the built-in image transforms share.
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! cgaf-plugin-sdk = { path = ".../plugins/sdk" }
//! ```
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2   # target/wasm32-wasip2/release/<lib>.wasm
//! ```
//!
//! Plugins run without files, network, environment or clock: use none of them (printing is
//! harmless but goes nowhere). A panic or trap fails the call; return a [`PluginError`]
//! instead.
//!
//! What a component built with this SDK imports: the types-only interface
//! `gaf:plugin/types@0.1.0` and what Rust's std links for `wasm32-wasip2` through its panic
//! path (`wasi:io/{poll,error,streams}`, `wasi:cli/{environment,exit,stdin,stdout,stderr}` and
//! `wasi:cli/terminal-{input,output,stdin,stdout,stderr}`, all at `@0.2.6`). `std::fs` adds
//! `wasi:filesystem/*` and `wasi:clocks/wall-clock`, `std::net` adds `wasi:sockets/*`,
//! `std::time` adds `wasi:clocks/*`, a `HashMap` with the default hasher adds `wasi:random/*`;
//! the host refuses components importing interfaces outside its allow-list.

#![warn(missing_docs)]

pub mod bindings;
mod export;
pub mod info;
pub mod params;
#[cfg(feature = "pyts")]
pub mod pyts;
pub mod types;
pub mod worlds;

pub use bindings::types::{Bar, Decision, Matrix, Param, PluginError};
pub use cgaf_plugin_contract::{ParamSpec, PluginInfo, PluginKind};
#[doc(hidden)]
pub use export::glue as __private;
pub use info::validate_info;
pub use params::Params;
pub use types::{check_blend_inputs, BarColumns};
pub use worlds::{Blender, ImageTransform, Strategy};

/// The WIT package these bindings implement.
pub const WIT_PACKAGE: &str = "gaf:plugin@0.1.0";
