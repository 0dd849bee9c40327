//! Built-in plugin `gasf`: the Gramian Angular Summation Field of a series, bit-exact with pyts
//! 0.14.1's `GramianAngularField(method='summation')`.
//!
//! Parameters (pyts names, Python-literal values): `image_size` (int in [1, n] or float in
//! (0, 1], default `1.0`), `sample_range` (tuple `(a, b)` with -1 <= a < b <= 1, or `none`;
//! default `(-1, 1)`), `overlapping` (bool, default `False`). Errors carry pyts's text, e.g.
//! `ValueError: Input contains NaN.`.

use cgaf_kernels::params::{gaf_from_pairs, parameter_schema, Transform};
use cgaf_kernels::GafMethod;
use cgaf_plugin_sdk::pyts;
use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The `gasf` image transform.
pub struct Gasf;

impl ImageTransform for Gasf {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "gasf",
            env!("CARGO_PKG_VERSION"),
            PluginKind::ImageTransform,
            "Gramian Angular Summation Field (pyts GramianAngularField, method='summation'), bit-exact with \
             pyts 0.14.1.",
            parameter_schema(Transform::Gaf),
        )
    }

    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        pyts::answer(gaf_from_pairs(&series, GafMethod::Summation, &pyts::pairs(params)))
    }
}

export_image_transform!(Gasf);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    #[test]
    fn info_is_valid() {
        let info = Gasf::info();
        assert_eq!(validate_info(&info, PluginKind::ImageTransform), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("gasf", "1.0.0"));
        let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["image_size", "sample_range", "overlapping"]);
    }

    #[test]
    fn transforms_like_pyts() {
        let x: Vec<f64> = (0..16).map(f64::from).collect();
        let m = Gasf::transform(x.clone(), vec![Param::new("image_size", "4")]).unwrap();
        assert_eq!(m.size, 4);
        assert_eq!(m.data.len(), 16);
        assert_eq!(m.data[0], 1.0);
        let p = cgaf_kernels::GafParams { image_size: cgaf_kernels::SizeParam::Int(4), ..Default::default() };
        let k = cgaf_kernels::gasf(&x, &p).unwrap();
        assert_eq!(m.data, k.data);
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let e = Gasf::transform(vec![1.0, f64::NAN], vec![]).unwrap_err();
        assert_eq!(e, PluginError::InvalidInput("ValueError: Input contains NaN.".into()));
        let e = Gasf::transform(vec![], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = Gasf::transform(vec![1.0, 2.0], vec![Param::new("image_size", "3")]).unwrap_err();
        assert!(e.message().starts_with("ValueError: If 'image_size' is an integer"), "{e:?}");
        let e = Gasf::transform(vec![1.0, 2.0], vec![Param::new("method", "'d'")]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidParams(_)));
        let e = Gasf::transform(vec![1.0, 2.0], vec![Param::new("image_size", "'8'")]).unwrap_err();
        assert_eq!(e.message(), "TypeError: 'image_size' must be an integer or a float.");
    }
}
