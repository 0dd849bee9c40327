//! Parameter parsing shared by the CLI and the wasm plugins: Python-literal strings to typed
//! parameters, with pyts's type checks and messages, and the parameter schemas. The literal
//! parser, the schema type and the name/duplicate checks are the plugin contract's
//! (`cgaf-plugin-contract`); this module adds pyts's own checks (`checks`) and schemas
//! ([`schema`]).
//!
//! Values are written the way Python would write them: `8`, `0.5`, `1.0`, `None`/`none`,
//! `True`/`true`/`False`/`false`, tuples `-1,1` / `(-1, 1)` / `(0,1)`, lists `[-1,1]`,
//! quoted strings `'8'` / `"quantile"` or bare words `quantile`.
//!
//! Two ways in:
//! - [`gaf_from_pairs`], [`mtf_from_pairs`], [`rp_from_pairs`], [`paa_from_pairs`] take the
//!   series and the strings and check everything in pyts's exact order: unknown names and
//!   unparsable values first (Python fails when constructing the estimator), then the input
//!   (NaN/inf/empty), then each parameter in the order of pyts's `_check_params`.
//! - [`gaf_params`], [`mtf_params`], [`rp_params`], [`paa_params`] build typed parameters
//!   without a series: they run every check that does not need the series (types, `sample_range`,
//!   `n_bins >= 2`, `threshold > 0`, `percentage`), and the kernels run the rest (input,
//!   `image_size` / `dimension` / `time_delay` ranges, trajectories). With several faults at
//!   once the builder's error therefore comes before an input or range error, unlike pyts.

mod checks;
pub mod schema;

use crate::gaf::{gaf, GafMethod, GafParams};
use crate::mtf::{mtf, MtfParams};
use crate::paa::{paa_transform, PaaParams};
use crate::rp::{recurrence_plot, RpParams};
use crate::validate::check_series;
use crate::{Error, Matrix};
use checks::{gaf_validate, mtf_validate, paa_validate, rp_validate, Parsed};

pub use cgaf_plugin_contract::{parse_py_value, ParamSpec, PyValue};
pub use schema::{parameter_schema, Transform};

/// Builds [`GafParams`] from `(name, value)` strings (names `image_size`, `sample_range`,
/// `overlapping`; pyts defaults for the others), with pyts's type and value checks.
/// Checks that need the series (`image_size` range) are left to [`gaf`](crate::gaf()); use
/// [`gaf_from_pairs`] for pyts's exact error order.
pub fn gaf_params(pairs: &[(String, String)]) -> Result<GafParams, Error> {
    gaf_validate(&Parsed::new(Transform::Gaf, pairs)?, None)
}

/// Parses a GAF method value (`summation`, `'s'`, `"difference"`, `d`, …) with pyts's message.
pub fn gaf_method(value: &str) -> Result<GafMethod, Error> {
    match parse_py_value(value)? {
        PyValue::Str(s) => GafMethod::from_pyts(&s),
        _ => Err(Error::Method),
    }
}

/// Builds [`MtfParams`] from `(name, value)` strings (names `image_size`, `n_bins`,
/// `strategy`, `overlapping`), with pyts's type and value checks. Checks that need the series
/// are left to [`mtf`](crate::mtf()); use [`mtf_from_pairs`] for pyts's exact error order.
pub fn mtf_params(pairs: &[(String, String)]) -> Result<MtfParams, Error> {
    mtf_validate(&Parsed::new(Transform::Mtf, pairs)?, None)
}

/// Builds [`RpParams`] from `(name, value)` strings (names `dimension`, `time_delay`,
/// `threshold`, `percentage`), with pyts's type and value checks. Checks that need the series
/// are left to [`recurrence_plot`](crate::recurrence_plot()); use [`rp_from_pairs`] for pyts's
/// exact error order.
pub fn rp_params(pairs: &[(String, String)]) -> Result<RpParams, Error> {
    rp_validate(&Parsed::new(Transform::RecurrencePlot, pairs)?, None)
}

/// Builds [`PaaParams`] from `(name, value)` strings (names `window_size`, `output_size`,
/// `overlapping`), with pyts's type checks. Use [`paa_from_pairs`] for pyts's exact error
/// order.
pub fn paa_params(pairs: &[(String, String)]) -> Result<PaaParams, Error> {
    paa_validate(&Parsed::new(Transform::Paa, pairs)?, None)
}

/// pyts's `GramianAngularField(**pairs, method=method).transform([x])[0]` with every check in
/// pyts's order: parameter names and syntax (Python fails at construction), the input, then
/// `image_size`, `sample_range`, and the post-PAA range check.
pub fn gaf_from_pairs(x: &[f64], method: GafMethod, pairs: &[(String, String)]) -> Result<Matrix, Error> {
    let raw = Parsed::new(Transform::Gaf, pairs)?;
    check_series(x)?;
    let p = gaf_validate(&raw, Some(x.len()))?;
    gaf(x, method, &p)
}

/// pyts's `MarkovTransitionField(**pairs).transform([x])[0]` and its warnings, with every check
/// in pyts's order (names and syntax, input, `image_size`, `n_bins`, `strategy`).
pub fn mtf_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<(Matrix, Vec<String>), Error> {
    let raw = Parsed::new(Transform::Mtf, pairs)?;
    check_series(x)?;
    let p = mtf_validate(&raw, Some(x.len()))?;
    mtf(x, &p)
}

/// pyts's `RecurrencePlot(**pairs).transform([x])[0]`, with every check in pyts's order (names
/// and syntax, input, `dimension`, `time_delay`, trajectories, `threshold`, `percentage`).
pub fn rp_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<Matrix, Error> {
    let raw = Parsed::new(Transform::RecurrencePlot, pairs)?;
    check_series(x)?;
    let p = rp_validate(&raw, Some(x.len()))?;
    recurrence_plot(x, &p)
}

/// pyts's `PiecewiseAggregateApproximation(**pairs).transform([x])[0]`, with every check in
/// pyts's order (names and syntax, input, both-None, `window_size` / `output_size`).
pub fn paa_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<Vec<f64>, Error> {
    let raw = Parsed::new(Transform::Paa, pairs)?;
    check_series(x)?;
    let p = paa_validate(&raw, Some(x.len()))?;
    paa_transform(x, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MtfStrategy, SizeParam, Threshold};

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn gaf_builder_checks() {
        let e = gaf_params(&pairs(&[("image_size", "'8'")])).unwrap_err();
        assert_eq!(e.python_type(), "TypeError");
        assert_eq!(e.to_string(), "'image_size' must be an integer or a float.");
        let p = gaf_params(&pairs(&[("image_size", "True")])).unwrap();
        assert_eq!(p.image_size, SizeParam::Int(1));
        let e = gaf_params(&pairs(&[("sample_range", "[-1, 1]")])).unwrap_err();
        assert_eq!((e.python_type(), e.to_string().as_str()), ("TypeError", "'sample_range' must be None or a tuple."));
        let e = gaf_params(&pairs(&[("sample_range", "(0, 1, 2)")])).unwrap_err();
        assert_eq!(e.to_string(), "If 'sample_range' is a tuple, its length must be equal to 2.");
        let e = gaf_params(&pairs(&[("sample_range", "(1, -1)")])).unwrap_err();
        assert_eq!(e, Error::SampleRangeBounds);
        let e = gaf_params(&pairs(&[("sample_range", "('a', 1)")])).unwrap_err();
        assert_eq!(e.to_string(), "'<=' not supported between instances of 'int' and 'str'");
        let p = gaf_params(&pairs(&[("sample_range", "None"), ("overlapping", "true")])).unwrap();
        assert_eq!(p.sample_range, None);
        assert!(p.overlapping);
        let e = gaf_params(&pairs(&[("method", "'s'")])).unwrap_err();
        assert_eq!(e.python_type(), "ValueError");
        assert_eq!(
            e.to_string(),
            "unknown parameter 'method' for GramianAngularField; accepted parameters: \
             image_size, sample_range, overlapping"
        );
        assert!(matches!(
            gaf_params(&pairs(&[("image_size", "8"), ("image_size", "9")])),
            Err(Error::DuplicateParameter(_))
        ));
        assert_eq!(gaf_method("'s'"), Ok(GafMethod::Summation));
        assert_eq!(gaf_method("difference"), Ok(GafMethod::Difference));
        assert_eq!(gaf_method("'x'"), Err(Error::Method));
    }

    #[test]
    fn mtf_and_rp_builder_checks() {
        assert_eq!(mtf_params(&pairs(&[("n_bins", "4.0")])), Err(Error::NBinsType));
        assert_eq!(mtf_params(&pairs(&[("strategy", "foo")])), Err(Error::Strategy));
        let p = mtf_params(&pairs(&[("strategy", "'normal'"), ("n_bins", "5")])).unwrap();
        assert_eq!((p.strategy, p.n_bins), (MtfStrategy::Normal, 5));
        assert_eq!(rp_params(&pairs(&[("threshold", "'foo'")])), Err(Error::ThresholdType));
        assert_eq!(rp_params(&pairs(&[("threshold", "point")])).unwrap().threshold, Threshold::Point);
        assert_eq!(rp_params(&pairs(&[("threshold", "3")])).unwrap().threshold, Threshold::Value(3.0));
        assert_eq!(rp_params(&pairs(&[("percentage", "'x'")])), Err(Error::PercentageType));
        assert_eq!(
            rp_params(&pairs(&[("dimension", "[1]")])).unwrap_err().to_string(),
            "'dimension' must be an integer or a float."
        );
    }
}
