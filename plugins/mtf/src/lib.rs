//! Built-in plugin `mtf`: the Markov Transition Field of a series, bit-exact with pyts 0.14.1's
//! `MarkovTransitionField`.
//!
//! Parameters (pyts names, Python-literal values): `image_size` (int in [1, n] or float in
//! (0, 1], default `1.0`), `n_bins` (int >= 2, default `8`), `strategy` (`'quantile'`,
//! `'uniform'` or `'normal'`, default `'quantile'`), `overlapping` (bool, default `False`).
//! Errors carry pyts's text. pyts's warnings (e.g. equal quantiles) are dropped: the contract
//! has no channel for them. An `n_bins` above 2^24 that passes every pyts check is refused with
//! a `MemoryError: ...` text (pyts would try to allocate the bin edges) rather than trapping on
//! the memory cap.

use cgaf_kernels::params::{mtf_from_pairs, mtf_params, parameter_schema, Transform};
use cgaf_kernels::{check_series, resolve_size};
use cgaf_plugin_sdk::pyts;
use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The largest `n_bins` the plugin tries (the bin edges alone take `8 * n_bins` bytes).
const MAX_BINS: i64 = 1 << 24;

/// The `mtf` image transform.
pub struct Mtf;

impl ImageTransform for Mtf {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "mtf",
            env!("CARGO_PKG_VERSION"),
            PluginKind::ImageTransform,
            "Markov Transition Field (pyts MarkovTransitionField), bit-exact with pyts 0.14.1.",
            parameter_schema(Transform::Mtf),
        )
    }

    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let pairs = pyts::pairs(params);
        // Only when every pyts check passes, so pyts's error order is kept.
        if let Ok(p) = mtf_params(&pairs) {
            if p.n_bins > MAX_BINS
                && check_series(&series).is_ok()
                && resolve_size("image_size", p.image_size, series.len()).is_ok()
            {
                return Err(PluginError::InvalidParams(format!(
                    "MemoryError: n_bins={} needs {} bytes for the bin edges alone; this plugin accepts at most \
                     {MAX_BINS} bins.",
                    p.n_bins,
                    (p.n_bins as u128 - 1) * 8
                )));
            }
        }
        pyts::answer(mtf_from_pairs(&series, &pairs).map(|(m, _warnings)| m))
    }
}

export_image_transform!(Mtf);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    #[test]
    fn info_is_valid() {
        let info = Mtf::info();
        assert_eq!(validate_info(&info, PluginKind::ImageTransform), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("mtf", "1.0.0"));
        let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["image_size", "n_bins", "strategy", "overlapping"]);
    }

    #[test]
    fn transforms_like_the_kernel() {
        let x: Vec<f64> = (0..40).map(|i| (f64::from(i) * 0.7).cos()).collect();
        let params = vec![Param::new("n_bins", "4"), Param::new("image_size", "10"), Param::new("strategy", "uniform")];
        let m = Mtf::transform(x.clone(), params).unwrap();
        let p = cgaf_kernels::MtfParams {
            n_bins: 4,
            image_size: cgaf_kernels::SizeParam::Int(10),
            strategy: cgaf_kernels::MtfStrategy::Uniform,
            ..Default::default()
        };
        assert_eq!(m.data, cgaf_kernels::mtf(&x, &p).unwrap().0.data);
        assert_eq!(m.size, 10);
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let e = Mtf::transform(vec![1.0, 2.0, 3.0], vec![Param::new("n_bins", "1")]).unwrap_err();
        assert_eq!(e, PluginError::InvalidParams("ValueError: 'n_bins' must be greater than or equal to 2.".into()));
        let e = Mtf::transform(vec![1.0, 2.0], vec![Param::new("strategy", "'foo'")]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidParams(_)));
        let e = Mtf::transform(vec![f64::NAN], vec![Param::new("n_bins", "1")]).unwrap_err();
        assert_eq!(e, PluginError::InvalidInput("ValueError: Input contains NaN.".into()));
        let e = Mtf::transform(vec![1.0, 2.0], vec![Param::new("image_size", "nan")]);
        assert!(e.is_err());
        assert!(Mtf::transform(vec![5.0; 10], vec![]).is_ok());
        let e = Mtf::transform(vec![1.0, 2.0], vec![Param::new("n_bins", "100000000000")]).unwrap_err();
        assert!(e.message().starts_with("MemoryError: n_bins=100000000000 needs"), "{e:?}");
        let e = Mtf::transform(vec![1.0, 2.0], vec![Param::new("n_bins", "100000000000"), Param::new("strategy", "x")]);
        assert_eq!(e.unwrap_err().message(), "ValueError: 'strategy' must be 'uniform', 'quantile' or 'normal'.");
    }
}
