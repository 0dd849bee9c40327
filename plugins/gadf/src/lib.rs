//! Built-in plugin `gadf`: the Gramian Angular Difference Field of a series, bit-exact with pyts
//! 0.14.1's `GramianAngularField(method='difference')`.
//!
//! Parameters (pyts names, Python-literal values): `image_size` (int in [1, n] or float in
//! (0, 1], default `1.0`), `sample_range` (tuple `(a, b)` with -1 <= a < b <= 1, or `none`;
//! default `(-1, 1)`), `overlapping` (bool, default `False`). Errors carry pyts's text, e.g.
//! `ValueError: Input contains NaN.`.

use cgaf_kernels::params::{gaf_from_pairs, parameter_schema, Transform};
use cgaf_kernels::GafMethod;
use cgaf_plugin_sdk::pyts;
use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The `gadf` image transform.
pub struct Gadf;

impl ImageTransform for Gadf {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "gadf",
            env!("CARGO_PKG_VERSION"),
            PluginKind::ImageTransform,
            "Gramian Angular Difference Field (pyts GramianAngularField, method='difference'), bit-exact with \
             pyts 0.14.1.",
            parameter_schema(Transform::Gaf),
        )
    }

    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        pyts::answer(gaf_from_pairs(&series, GafMethod::Difference, &pyts::pairs(params)))
    }
}

export_image_transform!(Gadf);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    #[test]
    fn info_is_valid() {
        let info = Gadf::info();
        assert_eq!(validate_info(&info, PluginKind::ImageTransform), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("gadf", "1.0.0"));
        assert_eq!(info.params.len(), 3);
    }

    #[test]
    fn transforms_like_the_kernel() {
        let x: Vec<f64> = (0..10).map(|i| f64::from(i).sin()).collect();
        let m = Gadf::transform(x.clone(), vec![Param::new("sample_range", "none")]).unwrap();
        let p = cgaf_kernels::GafParams { sample_range: None, ..Default::default() };
        assert_eq!(m.data, cgaf_kernels::gadf(&x, &p).unwrap().data);
        assert_eq!(m.size, 10);
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let e = Gadf::transform(vec![f64::INFINITY], vec![]).unwrap_err();
        assert_eq!(
            e,
            PluginError::InvalidInput(
                "ValueError: Input contains infinity or a value too large for dtype('float64').".into()
            )
        );
        let e = Gadf::transform(vec![2.0, 3.0], vec![Param::new("sample_range", "None")]).unwrap_err();
        assert_eq!(
            e,
            PluginError::InvalidInput(
                "ValueError: If 'sample_range' is None, all the values of X must be between -1 and 1.".into()
            )
        );
        let e = Gadf::transform(vec![1.0], vec![Param::new("image_size", "(")]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidParams(_)), "{e:?}");
    }
}
