//! Pure numeric kernels of crypto-gaf: PAA, Gramian Angular Fields (GASF/GADF), Markov
//! Transition Fields and recurrence plots, reproducing pyts 0.14.1 bit for bit.
//!
//! Every transform takes one series (`&[f64]`, pyts's single-row batch `[x]`) and returns a
//! square row-major [`Matrix`]. The [`nd`] module offers the same transforms on `ndarray` views
//! (`ArrayView1` for a series, `ArrayView2` for a batch, one series per row) with `Array2` /
//! `Array3` out. The float operations follow pyts/numpy/scikit-learn exactly (sequential means,
//! scikit-learn's min-max scaling, two products then a subtraction without FMA, numpy's linear
//! percentile, Cephes `ndtri`), and the checks raise pyts's exact messages in pyts's order
//! ([`Error`]). The [`params`] module turns Python-literal strings into typed parameters for
//! the CLI and the wasm plugins.
//!
//! Statistics come from `ndarray-stats` where it reproduces numpy to the bit: the minimum and
//! maximum (min-max scaling, uniform MTF bins, the `'distance'` recurrence threshold). The
//! percentiles behind MTF's quantile bins and the `'point'` recurrence threshold stay ours
//! ([`stats`]): `ndarray-stats`'s linear interpolation computes `a + t·(b − a)` for every `t`,
//! where numpy's `_lerp` computes `b − (b − a)·(1 − t)` when `t ≥ 0.5`, which differs in the
//! last bit; and its selection draws random pivots (`rand::thread_rng`), which a sandboxed plugin
//! has no source for. Means stay sequential sums (numba's `np.mean` in pyts's PAA), not
//! `ndarray`'s unrolled sums.
//!
//! No I/O; the crate builds for `wasm32-wasip2` too (the built-in plugins use it). Besides
//! `thiserror`, `ndarray` and `ndarray-stats`, it depends on the plugin contract
//! (`cgaf-plugin-contract`: the Python-literal parser and parameter specs).
//!
//! ```
//! use cgaf_kernels::{gaf, GafMethod, GafParams, SizeParam};
//! let x: Vec<f64> = (0..16).map(f64::from).collect();
//! let p = GafParams { image_size: SizeParam::Int(4), ..GafParams::default() };
//! let m = gaf(&x, GafMethod::Summation, &p).unwrap();
//! assert_eq!(m.size, 4);
//! assert_eq!(m.get(0, 0), 1.0);
//! ```

pub mod error;
pub mod gaf;
pub mod mtf;
pub mod nd;
pub mod paa;
pub mod params;
pub mod rp;
pub mod scale;
pub mod stats;
pub mod validate;

pub use error::Error;
pub use gaf::{gadf, gaf, gaf_into, gaf_polar, gasf, GafMethod, GafParams};
pub use mtf::{bin_edges, mtf, mtf_detailed, MtfDetails, MtfParams, MtfStrategy};
pub use paa::{paa, paa_segments, paa_transform, segmentation, segmentation_with_window, PaaParams};
pub use params::{
    gaf_from_pairs, gaf_method, gaf_params, mtf_from_pairs, mtf_params, paa_from_pairs, paa_params, parameter_schema,
    parse_py_value, rp_from_pairs, rp_params, ParamSpec, PyValue, Transform,
};
pub use rp::{recurrence_plot, recurrence_plot_detailed, RpParams, Threshold};
pub use scale::min_max_scale;
pub use validate::{check_series, resolve_size, SizeParam};

/// The host's pixel mapping of a matrix value (the contract's).
pub use cgaf_plugin_contract::to_pixel;
/// The contract's square matrix: what every kernel returns.
pub use cgaf_plugin_contract::Matrix;
