//! Built-in plugin `blend-ewma`: the exponentially weighted moving average of the last k
//! matrices.
//!
//! Parameter `alpha` (float in (0, 1], default 0.5). Oldest → newest, element-wise:
//! `m = first; m = alpha * next + (1 - alpha) * m` for each following matrix, so the newest
//! matrix weighs `alpha` and `alpha = 1` returns the newest. Refuses (`invalid-input`) an
//! empty list, matrices of different sizes, malformed matrices and non-finite values.

use cgaf_plugin_sdk::params::invalid;
use cgaf_plugin_sdk::{
    check_blend_inputs, export_blender, Blender, Matrix, Param, ParamSpec, Params, PluginError, PluginInfo, PluginKind,
};

/// The `blend-ewma` blender.
pub struct BlendEwma;

impl Blender for BlendEwma {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "blend-ewma",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Blender,
            "Exponentially weighted moving average of the k matrices, oldest to newest: \
             m = alpha * next + (1 - alpha) * m.",
            vec![ParamSpec::new("alpha", "float", "0.5", "Weight of each newer matrix, in (0, 1].")],
        )
    }

    fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        let info = Self::info();
        let alpha = Params::parse(&info.params, &params)?.get_f64("alpha")?;
        if !(alpha > 0.0 && alpha <= 1.0) {
            return Err(invalid("alpha", &format!("must be in (0, 1], got {alpha}")));
        }
        let size = check_blend_inputs(&matrices)?;
        let keep = 1.0 - alpha;
        let mut iter = matrices.into_iter();
        let mut acc = iter.next().map(|m| m.data).unwrap_or_default();
        for m in iter {
            for (a, v) in acc.iter_mut().zip(&m.data) {
                *a = alpha * v + keep * *a;
            }
        }
        Matrix::new(size, acc)
    }
}

export_blender!(BlendEwma);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    fn m(data: &[f64]) -> Matrix {
        let size = (data.len() as f64).sqrt() as u32;
        Matrix { size, data: data.to_vec() }
    }

    #[test]
    fn info_is_valid() {
        let info = BlendEwma::info();
        assert_eq!(validate_info(&info, PluginKind::Blender), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("blend-ewma", "1.0.0"));
    }

    #[test]
    fn recursion_oldest_to_newest() {
        let ms = || vec![m(&[0.0, 4.0, 8.0, 0.0]), m(&[4.0, 0.0, 0.0, 8.0]), m(&[8.0, 8.0, 4.0, 4.0])];
        // Default alpha 0.5: ((a + b) / 2 + c) / 2.
        assert_eq!(BlendEwma::blend(ms(), vec![]).unwrap(), m(&[5.0, 5.0, 4.0, 4.0]));
        assert_eq!(BlendEwma::blend(ms(), vec![Param::new("alpha", "1")]).unwrap(), m(&[8.0, 8.0, 4.0, 4.0]));
        let a = 0.25;
        let want: Vec<f64> = [(0.0, 4.0, 8.0), (4.0, 0.0, 8.0), (8.0, 0.0, 4.0), (0.0, 8.0, 4.0)]
            .iter()
            .map(|&(x, y, z)| a * z + (1.0 - a) * (a * y + (1.0 - a) * x))
            .collect();
        assert_eq!(BlendEwma::blend(ms(), vec![Param::new("alpha", "0.25")]).unwrap().data, want);
        assert_eq!(BlendEwma::blend(vec![m(&[3.0])], vec![]).unwrap(), m(&[3.0]));
    }

    #[test]
    fn refusals() {
        for bad in ["0", "0.0", "-0.5", "1.5", "'x'", "none", "true"] {
            let e = BlendEwma::blend(vec![m(&[1.0])], vec![Param::new("alpha", bad)]).unwrap_err();
            assert!(matches!(e, PluginError::InvalidParams(_)), "{bad}: {e:?}");
            assert!(e.message().starts_with("parameter 'alpha'"), "{bad}: {e:?}");
        }
        assert!(matches!(BlendEwma::blend(vec![], vec![]), Err(PluginError::InvalidInput(_))));
        let e = BlendEwma::blend(vec![m(&[1.0; 4]), m(&[1.0])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendEwma::blend(vec![m(&[1.0]), m(&[f64::NAN])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
    }
}
