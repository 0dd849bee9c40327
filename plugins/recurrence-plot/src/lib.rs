//! Built-in plugin `recurrence-plot`: the recurrence plot of a series, bit-exact with pyts
//! 0.14.1's `RecurrencePlot`.
//!
//! Parameters (pyts names, Python-literal values): `dimension` and `time_delay` (int in
//! [1, n] or float in (0, 1], default `1`), `threshold` (`none`, `'point'`, `'distance'` or a
//! number > 0, default `None`), `percentage` (number in [0, 100], default `10`). Errors carry
//! pyts's text.

use cgaf_kernels::params::{parameter_schema, rp_from_pairs, Transform};
use cgaf_plugin_sdk::pyts;
use cgaf_plugin_sdk::{export_image_transform, ImageTransform, Matrix, Param, PluginError, PluginInfo, PluginKind};

/// The `recurrence-plot` image transform.
pub struct RecurrencePlot;

impl ImageTransform for RecurrencePlot {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "recurrence-plot",
            env!("CARGO_PKG_VERSION"),
            PluginKind::ImageTransform,
            "Recurrence plot (pyts RecurrencePlot), bit-exact with pyts 0.14.1.",
            parameter_schema(Transform::RecurrencePlot),
        )
    }

    fn transform(series: Vec<f64>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        pyts::answer(rp_from_pairs(&series, &pyts::pairs(params)))
    }
}

export_image_transform!(RecurrencePlot);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    #[test]
    fn info_is_valid() {
        let info = RecurrencePlot::info();
        assert_eq!(validate_info(&info, PluginKind::ImageTransform), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("recurrence-plot", "1.0.0"));
        let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dimension", "time_delay", "threshold", "percentage"]);
    }

    #[test]
    fn transforms_like_the_kernel() {
        let x: Vec<f64> = (0..20).map(|i| f64::from(i % 7)).collect();
        let params =
            vec![Param::new("dimension", "3"), Param::new("time_delay", "2"), Param::new("threshold", "point")];
        let m = RecurrencePlot::transform(x.clone(), params).unwrap();
        let p = cgaf_kernels::RpParams {
            dimension: cgaf_kernels::SizeParam::Int(3),
            time_delay: cgaf_kernels::SizeParam::Int(2),
            threshold: cgaf_kernels::Threshold::Point,
            ..Default::default()
        };
        assert_eq!(m.data, cgaf_kernels::recurrence_plot(&x, &p).unwrap().data);
        assert_eq!(m.size, 16);
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let e = RecurrencePlot::transform(vec![1.0, 2.0], vec![Param::new("dimension", "3")]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidParams(_)), "{e:?}");
        let e = RecurrencePlot::transform(vec![1.0, 2.0], vec![Param::new("threshold", "-1")]).unwrap_err();
        assert_eq!(
            e,
            PluginError::InvalidParams(
                "ValueError: If 'threshold' is a float or an integer, it must be greater than 0.".into()
            )
        );
        let e = RecurrencePlot::transform(vec![], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
    }
}
