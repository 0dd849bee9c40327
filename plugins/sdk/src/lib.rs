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
//! The macros hide the wit-bindgen glue and add safety checks the host would otherwise reject
//! the call for: a matrix's `data` must hold `size * size` values, and a strategy must answer
//! exactly one decision per bar with a finite target in `[-1, 1]` (a violation becomes
//! [`PluginError::Failed`]). On targets other than `wasm32` the macros only check that the type
//! implements the trait, so a plugin crate also builds (and unit-tests) natively.
//!
//! [`Params`] parses the `(name, value)` pairs a call receives against the plugin's declared
//! schema ([`PluginInfo::params`]), with defaults, types and messages naming the parameter.
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
pub mod params;

use std::cell::RefCell;

pub use bindings::types::{Bar, Decision, Matrix, Param, ParamSpec, PluginError, PluginInfo, PluginKind};
pub use params::Params;

/// The WIT package these bindings implement.
pub const WIT_PACKAGE: &str = "gaf:plugin@0.1.0";

/// An image transform (world `image-transform`): a series (oldest → newest) and parameters in,
/// a square matrix out.
///
/// ```
/// use cgaf_plugin_sdk::{
///     export_image_transform, ImageTransform, Matrix, Param, ParamSpec, Params, PluginError,
///     PluginInfo, PluginKind,
/// };
///
/// /// `m[i][j] = scale * x[i] * x[j]`.
/// pub struct OuterProduct;
///
/// impl ImageTransform for OuterProduct {
///     fn info() -> PluginInfo {
///         PluginInfo::new(
///             "outer-product",
///             "1.0.0",
///             PluginKind::ImageTransform,
///             "The scaled outer product of the series with itself.",
///             vec![ParamSpec::new("scale", "float", "1.0", "Factor applied to every cell.")],
///         )
///     }
///
///     fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
///         let info = Self::info();
///         let scale = Params::parse(&info.params, &params)?.get_f64("scale")?;
///         if series.is_empty() || series.iter().any(|v| !v.is_finite()) {
///             return Err(PluginError::InvalidInput("the series must be non-empty and finite".into()));
///         }
///         let data = series.iter().flat_map(|a| series.iter().map(move |b| scale * a * b)).collect();
///         Matrix::new(series.len(), data)
///     }
/// }
///
/// export_image_transform!(OuterProduct);
///
/// # fn main() {
/// let m = OuterProduct::transform(vec![1.0, 2.0], vec![Param::new("scale", "2")]).unwrap();
/// assert_eq!(m.data, [2.0, 4.0, 4.0, 8.0]);
/// # }
/// ```
pub trait ImageTransform {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Transforms `series` with `params`.
    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError>;
}

/// A strategy (world `strategy`): one instance per run, fed bars in time order, answering one
/// [`Decision`] per bar. The export macro wraps the instance in a `RefCell`, so the methods
/// take `&mut self`.
///
/// `state` must describe the instance completely: the host may call `restore` with it on a
/// fresh instance (created with the same parameters) and expects the same decisions as the
/// original would have made.
///
/// ```
/// use cgaf_plugin_sdk::{
///     export_strategy, Bar, Decision, Param, ParamSpec, Params, PluginError, PluginInfo,
///     PluginKind, Strategy,
/// };
///
/// /// Long when the close is above the previous close, short when below.
/// pub struct Momentum {
///     last: Option<f64>,
///     size: f64,
/// }
///
/// impl Strategy for Momentum {
///     fn info() -> PluginInfo {
///         PluginInfo::new(
///             "momentum",
///             "1.0.0",
///             PluginKind::Strategy,
///             "Follows the sign of the last close-to-close move.",
///             vec![ParamSpec::new("size", "float", "1.0", "Target size in (0, 1].")],
///         )
///     }
///
///     fn create(params: Vec<Param>) -> Result<Self, PluginError> {
///         let info = Self::info();
///         let size = Params::parse(&info.params, &params)?.get_f64("size")?;
///         if !(size > 0.0 && size <= 1.0) {
///             return Err(cgaf_plugin_sdk::params::invalid("size", "must be in (0, 1]"));
///         }
///         Ok(Momentum { last: None, size })
///     }
///
///     fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
///         let mut out = Vec::with_capacity(bars.len());
///         for bar in bars {
///             let target = match self.last {
///                 Some(prev) if bar.close > prev => self.size,
///                 Some(prev) if bar.close < prev => -self.size,
///                 _ => 0.0,
///             };
///             self.last = Some(bar.close);
///             out.push(Decision::new(target, None));
///         }
///         Ok(out)
///     }
///
///     fn state(&self) -> String {
///         match self.last {
///             Some(v) => format!("{{\"last\":{v:?}}}"),
///             None => "{\"last\":null}".into(),
///         }
///     }
///
///     fn restore(&mut self, state: String) -> Result<(), PluginError> {
///         let v = state.trim().trim_start_matches("{\"last\":").trim_end_matches('}');
///         self.last = if v == "null" {
///             None
///         } else {
///             Some(v.parse().map_err(|_| PluginError::InvalidInput("bad state".into()))?)
///         };
///         Ok(())
///     }
/// }
///
/// export_strategy!(Momentum);
///
/// # fn main() {
/// let bar = |close| Bar { time_ms: 0, open: close, high: close, low: close, close, volume: 0.0,
///     buy_volume: 0.0, sell_volume: 0.0 };
/// let mut s = Momentum::create(vec![]).unwrap();
/// let d = s.on_bars(vec![bar(1.0), bar(2.0), bar(1.5)]).unwrap();
/// assert_eq!(d.iter().map(|d| d.target).collect::<Vec<_>>(), [0.0, 1.0, -1.0]);
/// assert_eq!(s.state(), "{\"last\":1.5}");
/// # }
/// ```
pub trait Strategy: Sized + 'static {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Creates an instance; refuses unknown or invalid parameters.
    fn create(params: Vec<Param>) -> Result<Self, PluginError>;
    /// Feeds bars in time order; returns exactly one decision per bar, in the same order.
    fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError>;
    /// The instance's complete state as a JSON object.
    fn state(&self) -> String;
    /// Restores a state written by [`Strategy::state`].
    fn restore(&mut self, state: String) -> Result<(), PluginError>;
}

/// A blender (world `blender`): the last k matrices (oldest first, all the same size) in, one
/// matrix out. [`check_blend_inputs`] does the usual input checks.
///
/// ```
/// use cgaf_plugin_sdk::{
///     check_blend_inputs, export_blender, Blender, Matrix, Param, Params, PluginError,
///     PluginInfo, PluginKind,
/// };
///
/// /// The element-wise maximum.
/// pub struct BlendMax;
///
/// impl Blender for BlendMax {
///     fn info() -> PluginInfo {
///         PluginInfo::new("blend-max", "1.0.0", PluginKind::Blender, "Element-wise maximum.", vec![])
///     }
///
///     fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
///         Params::parse(&Self::info().params, &params)?;
///         let size = check_blend_inputs(&matrices)?;
///         let mut out = matrices[0].data.clone();
///         for m in &matrices[1..] {
///             for (o, v) in out.iter_mut().zip(&m.data) {
///                 *o = o.max(*v);
///             }
///         }
///         Matrix::new(size, out)
///     }
/// }
///
/// export_blender!(BlendMax);
///
/// # fn main() {
/// let a = Matrix::new(1, vec![1.0]).unwrap();
/// let b = Matrix::new(1, vec![3.0]).unwrap();
/// assert_eq!(BlendMax::blend(vec![a, b], vec![]).unwrap().data, [3.0]);
/// assert!(BlendMax::blend(vec![], vec![]).is_err());
/// # }
/// ```
pub trait Blender {
    /// Who this plugin is (name, version, kind, description, parameter schema).
    fn info() -> PluginInfo;
    /// Blends `matrices` (oldest first) with `params`.
    fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError>;
}

impl PluginInfo {
    /// A plugin description.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        kind: PluginKind,
        description: impl Into<String>,
        params: Vec<ParamSpec>,
    ) -> PluginInfo {
        PluginInfo { name: name.into(), version: version.into(), kind, description: description.into(), params }
    }
}

impl ParamSpec {
    /// A parameter declaration: name, accepted kinds (`int`, `float|none`, ...), default as
    /// Python text, and what it means.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        default: impl Into<String>,
        doc: impl Into<String>,
    ) -> ParamSpec {
        ParamSpec { name: name.into(), kind: kind.into(), default: default.into(), doc: doc.into() }
    }
}

impl Param {
    /// A parameter value: name and value text.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Param {
        Param { name: name.into(), value: value.into() }
    }
}

impl Matrix {
    /// A `size` × `size` matrix from row-major `data`; [`PluginError::Failed`] when `data`
    /// does not hold `size * size` values or `size` exceeds `u32`.
    pub fn new(size: usize, data: Vec<f64>) -> Result<Matrix, PluginError> {
        let m = Matrix {
            size: u32::try_from(size).map_err(|_| PluginError::Failed(format!("matrix size {size} exceeds u32")))?,
            data,
        };
        m.check().map_err(PluginError::Failed)?;
        Ok(m)
    }

    /// A `size` × `size` matrix of zeros.
    pub fn zeros(size: u32) -> Matrix {
        Matrix { size, data: vec![0.0; size as usize * size as usize] }
    }

    /// Whether `data` holds exactly `size * size` values; the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let want = u64::from(self.size) * u64::from(self.size);
        if self.data.len() as u64 == want {
            Ok(())
        } else {
            Err(format!("a matrix of size {} needs {want} values, got {}", self.size, self.data.len()))
        }
    }

    /// Element `(i, j)`, or `None` when out of range.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        let n = self.size as usize;
        if i < n && j < n {
            self.data.get(i * n + j).copied()
        } else {
            None
        }
    }
}

impl PluginError {
    /// The message, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            PluginError::InvalidParams(m) | PluginError::InvalidInput(m) | PluginError::Failed(m) => m,
        }
    }

    /// The WIT case name: `invalid-params`, `invalid-input` or `failed`.
    pub fn case(&self) -> &'static str {
        match self {
            PluginError::InvalidParams(_) => "invalid-params",
            PluginError::InvalidInput(_) => "invalid-input",
            PluginError::Failed(_) => "failed",
        }
    }
}

impl Decision {
    /// A decision with an optional reason.
    pub fn new(target: f64, reason: Option<String>) -> Decision {
        Decision { target, reason }
    }

    /// A decision with a reason.
    pub fn with_reason(target: f64, reason: impl Into<String>) -> Decision {
        Decision { target, reason: Some(reason.into()) }
    }
}

impl PluginKind {
    /// The WIT case name: `image-transform`, `strategy` or `blender`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::ImageTransform => "image-transform",
            PluginKind::Strategy => "strategy",
            PluginKind::Blender => "blender",
        }
    }
}

/// The usual blender input checks: at least one matrix, each well formed (`size * size`
/// values), all of the same size, every value finite. Returns the size; errors are
/// [`PluginError::InvalidInput`].
pub fn check_blend_inputs(matrices: &[Matrix]) -> Result<usize, PluginError> {
    let Some(first) = matrices.first() else {
        return Err(PluginError::InvalidInput("no matrices to blend".into()));
    };
    for (k, m) in matrices.iter().enumerate() {
        m.check().map_err(|e| PluginError::InvalidInput(format!("matrix {k}: {e}")))?;
        if m.size != first.size {
            return Err(PluginError::InvalidInput(format!(
                "matrix {k} has size {}, matrix 0 has size {}; all matrices must have the same size",
                m.size, first.size
            )));
        }
    }
    for (k, m) in matrices.iter().enumerate() {
        if let Some(at) = m.data.iter().position(|v| !v.is_finite()) {
            let n = (m.size as usize).max(1);
            return Err(PluginError::InvalidInput(format!(
                "matrix {k} holds {} at ({}, {}); values must be finite",
                m.data[at],
                at / n,
                at % n
            )));
        }
    }
    Ok(first.size as usize)
}

/// Checks a [`PluginInfo`] the way the host does at upload: the name is 1–64 characters of
/// `[a-z0-9-]`, not starting or ending with `-`; the version is semantic
/// (`MAJOR.MINOR.PATCH` with optional `-pre` and `+build`); the kind is `expected`; parameter
/// names are non-empty and unique.
///
/// ```
/// use cgaf_plugin_sdk::{validate_info, PluginInfo, PluginKind};
/// let ok = PluginInfo::new("sma-cross", "1.0.0", PluginKind::Strategy, "SMA crossover.", vec![]);
/// assert!(validate_info(&ok, PluginKind::Strategy).is_ok());
/// let bad = PluginInfo::new("BAD NAME!", "not-semver", PluginKind::Strategy, "", vec![]);
/// assert!(validate_info(&bad, PluginKind::Strategy).is_err());
/// ```
pub fn validate_info(info: &PluginInfo, expected: PluginKind) -> Result<(), String> {
    let n = &info.name;
    if n.is_empty()
        || n.len() > 64
        || !n.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        || n.starts_with('-')
        || n.ends_with('-')
    {
        return Err(format!(
            "invalid plugin name {n:?}: 1-64 characters of [a-z0-9-], not starting or ending with '-'"
        ));
    }
    if !is_semver(&info.version) {
        return Err(format!("invalid version {:?}: expected MAJOR.MINOR.PATCH", info.version));
    }
    if info.kind != expected {
        return Err(format!("info() says kind {}, expected {}", info.kind.as_str(), expected.as_str()));
    }
    for (i, p) in info.params.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(format!("parameter {i} has an empty name"));
        }
        if info.params[..i].iter().any(|q| q.name == p.name) {
            return Err(format!("parameter '{}' is declared twice", p.name));
        }
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH[-pre][+build]`, numbers without leading zeros.
fn is_semver(v: &str) -> bool {
    let (core, build) = match v.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    };
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
        && pre.is_none_or(ident_ok)
        && build.is_none_or(ident_ok)
}

/// Glue used by the export macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use std::string::String;
    pub use std::vec::Vec;

    /// A strategy instance behind the resource handle.
    pub struct StrategyCell<T>(RefCell<T>);

    fn busy() -> PluginError {
        PluginError::Failed("the strategy instance was re-entered".into())
    }

    /// `transform` with the output checked.
    pub fn transform<T: ImageTransform>(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let m = T::transform(series, params)?;
        m.check().map_err(|e| PluginError::Failed(format!("the plugin returned a malformed matrix: {e}")))?;
        Ok(m)
    }

    /// `blend` with the output checked.
    pub fn blend<T: Blender>(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let m = T::blend(matrices, params)?;
        m.check().map_err(|e| PluginError::Failed(format!("the plugin returned a malformed matrix: {e}")))?;
        Ok(m)
    }

    impl<T: Strategy> StrategyCell<T> {
        /// `create`.
        pub fn create(params: Vec<Param>) -> Result<StrategyCell<T>, PluginError> {
            T::create(params).map(|s| StrategyCell(RefCell::new(s)))
        }

        /// `on_bars` with the answer checked: one decision per bar, finite targets in [-1, 1].
        pub fn on_bars(&self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
            let n = bars.len();
            let out = self.0.try_borrow_mut().map_err(|_| busy())?.on_bars(bars)?;
            if out.len() != n {
                return Err(PluginError::Failed(format!("the strategy returned {} decisions for {n} bars", out.len())));
            }
            if let Some((i, d)) = out.iter().enumerate().find(|(_, d)| !(-1.0..=1.0).contains(&d.target)) {
                return Err(PluginError::Failed(format!("decision {i} has target {}, outside [-1, 1]", d.target)));
            }
            Ok(out)
        }

        /// `state`.
        pub fn state(&self) -> String {
            match self.0.try_borrow() {
                Ok(s) => s.state(),
                Err(_) => "{}".into(),
            }
        }

        /// `restore`.
        pub fn restore(&self, state: String) -> Result<(), PluginError> {
            self.0.try_borrow_mut().map_err(|_| busy())?.restore(state)
        }
    }
}

/// Exports a type implementing [`ImageTransform`] as the component's `image-transform`
/// world. Call it once, at the crate root of a `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_image_transform {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(dead_code)]
            struct __CgafGuest;
            impl $crate::bindings::image_transform::Guest for __CgafGuest {
                fn info() -> $crate::PluginInfo {
                    <$t as $crate::ImageTransform>::info()
                }
                fn transform(
                    series: $crate::__private::Vec<f64>,
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::Matrix, $crate::PluginError> {
                    $crate::__private::transform::<$t>(series, params)
                }
            }
    $crate::bindings::image_transform::export!(__CgafGuest with_types_in $crate::bindings::image_transform);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::ImageTransform>() {}
            __cgaf_assert::<$t>();
        };
    };
}

/// Exports a type implementing [`Strategy`] as the component's `strategy` world (the
/// `strategy` resource of interface `strategies`). Call it once, at the crate root of a
/// `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_strategy {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::strategy::exports::gaf::plugin::strategies as __cgaf_s;
            #[allow(dead_code)]
            struct __CgafGuest;
            struct __CgafInstance($crate::__private::StrategyCell<$t>);
            impl $crate::bindings::strategy::Guest for __CgafGuest {
                fn info() -> $crate::PluginInfo {
                    <$t as $crate::Strategy>::info()
                }
            }
            impl __cgaf_s::Guest for __CgafGuest {
                type Strategy = __CgafInstance;
            }
            impl __cgaf_s::GuestStrategy for __CgafInstance {
                fn create(
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<__cgaf_s::Strategy, $crate::PluginError> {
                    $crate::__private::StrategyCell::<$t>::create(params)
                        .map(|cell| __cgaf_s::Strategy::new(__CgafInstance(cell)))
                }
                fn on_bars(
                    &self,
                    bars: $crate::__private::Vec<$crate::Bar>,
                ) -> ::core::result::Result<$crate::__private::Vec<$crate::Decision>, $crate::PluginError> {
                    self.0.on_bars(bars)
                }
                fn state(&self) -> $crate::__private::String {
                    self.0.state()
                }
                fn restore(&self, state: $crate::__private::String) -> ::core::result::Result<(), $crate::PluginError> {
                    self.0.restore(state)
                }
            }
    $crate::bindings::strategy::export!(__CgafGuest with_types_in $crate::bindings::strategy);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::Strategy>() {}
            __cgaf_assert::<$t>();
        };
    };
}

/// Exports a type implementing [`Blender`] as the component's `blender` world. Call it once,
/// at the crate root of a `cdylib`. Off `wasm32` it only checks the trait.
#[macro_export]
macro_rules! export_blender {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(dead_code)]
            struct __CgafGuest;
            impl $crate::bindings::blender::Guest for __CgafGuest {
                fn info() -> $crate::PluginInfo {
                    <$t as $crate::Blender>::info()
                }
                fn blend(
                    matrices: $crate::__private::Vec<$crate::Matrix>,
                    params: $crate::__private::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::Matrix, $crate::PluginError> {
                    $crate::__private::blend::<$t>(matrices, params)
                }
            }
    $crate::bindings::blender::export!(__CgafGuest with_types_in $crate::bindings::blender);
        };
        const _: fn() = || {
            fn __cgaf_assert<T: $crate::Blender>() {}
            __cgaf_assert::<$t>();
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices() {
        assert!(Matrix::new(2, vec![0.0; 4]).is_ok());
        assert_eq!(
            Matrix::new(2, vec![0.0; 3]),
            Err(PluginError::Failed("a matrix of size 2 needs 4 values, got 3".into()))
        );
        let m = Matrix::new(2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.get(1, 0), Some(3.0));
        assert_eq!(m.get(2, 0), None);
        assert_eq!(Matrix::zeros(3).data.len(), 9);
        assert_eq!(Matrix::new(0, vec![]).map(|m| m.size), Ok(0));
    }

    #[test]
    fn blend_inputs() {
        let m = |size: u32, n: usize| Matrix { size, data: vec![1.0; n] };
        assert_eq!(check_blend_inputs(&[]), Err(PluginError::InvalidInput("no matrices to blend".into())));
        assert_eq!(check_blend_inputs(&[m(2, 4), m(2, 4)]), Ok(2));
        assert_eq!(
            check_blend_inputs(&[m(2, 4), m(3, 9)]).unwrap_err().message(),
            "matrix 1 has size 3, matrix 0 has size 2; all matrices must have the same size"
        );
        assert_eq!(
            check_blend_inputs(&[m(2, 4), m(2, 5)]).unwrap_err().message(),
            "matrix 1: a matrix of size 2 needs 4 values, got 5"
        );
        let nan = Matrix { size: 2, data: vec![1.0, 1.0, f64::NAN, 1.0] };
        assert_eq!(
            check_blend_inputs(&[m(2, 4), nan]).unwrap_err().message(),
            "matrix 1 holds NaN at (1, 0); values must be finite"
        );
    }

    #[test]
    fn info_validation() {
        let info = |name: &str, version: &str| PluginInfo::new(name, version, PluginKind::Blender, "x", vec![]);
        for (name, version) in [("blend-mean", "1.0.0"), ("a", "0.1.0-rc.1+build.5"), ("x9", "10.20.30")] {
            assert_eq!(validate_info(&info(name, version), PluginKind::Blender), Ok(()), "{name} {version}");
        }
        for (name, version) in
            [("BAD NAME!", "1.0.0"), ("", "1.0.0"), ("-a", "1.0.0"), ("a", "not-semver"), ("a", "1.0"), ("a", "01.0.0")]
        {
            assert!(validate_info(&info(name, version), PluginKind::Blender).is_err(), "{name} {version}");
        }
        assert!(validate_info(&info("a", "1.0.0"), PluginKind::Strategy).is_err());
        let dup = PluginInfo::new(
            "a",
            "1.0.0",
            PluginKind::Blender,
            "x",
            vec![ParamSpec::new("p", "int", "1", ""), ParamSpec::new("p", "int", "1", "")],
        );
        assert_eq!(validate_info(&dup, PluginKind::Blender), Err("parameter 'p' is declared twice".into()));
    }

    #[test]
    fn errors() {
        let e = PluginError::InvalidInput("ValueError: Input contains NaN.".into());
        assert_eq!(e.message(), "ValueError: Input contains NaN.");
        assert_eq!(e.case(), "invalid-input");
        assert_eq!(PluginKind::Strategy.as_str(), "strategy");
    }

    struct Liar;

    impl Strategy for Liar {
        fn info() -> PluginInfo {
            PluginInfo::new("liar", "1.0.0", PluginKind::Strategy, "Answers badly.", vec![])
        }
        fn create(_: Vec<Param>) -> Result<Self, PluginError> {
            Ok(Liar)
        }
        fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
            Ok(bars.iter().map(|b| Decision::new(b.close, None)).chain([Decision::new(0.0, None)]).collect())
        }
        fn state(&self) -> String {
            "{}".into()
        }
        fn restore(&mut self, _: String) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn strategy_answers_are_checked() {
        let bar = |close| Bar {
            time_ms: 0,
            open: close,
            high: close,
            low: close,
            close,
            volume: 0.0,
            buy_volume: 0.0,
            sell_volume: 0.0,
        };
        let cell = __private::StrategyCell::<Liar>::create(vec![]).unwrap();
        assert_eq!(cell.on_bars(vec![bar(0.5)]).unwrap_err().message(), "the strategy returned 2 decisions for 1 bars");
        assert_eq!(cell.state(), "{}");
        assert!(cell.restore("{}".into()).is_ok());
    }
}
