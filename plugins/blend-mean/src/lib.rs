//! Built-in plugin `blend-mean`: the element-wise mean of the last k matrices.
//!
//! No parameters. Refuses (`invalid-input`) an empty list, matrices of different sizes,
//! malformed matrices and non-finite values. The sum runs oldest → newest, then divides by k.

use cgaf_plugin_sdk::{
    check_blend_inputs, export_blender, Blender, Matrix, Param, Params, PluginError, PluginInfo, PluginKind,
};

/// The `blend-mean` blender.
pub struct BlendMean;

impl Blender for BlendMean {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "blend-mean",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Blender,
            "Element-wise mean of the k matrices.",
            vec![],
        )
    }

    fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        Params::parse(&Self::info().params, &params)?;
        let size = check_blend_inputs(&matrices)?;
        let mut iter = matrices.into_iter();
        let mut acc = iter.next().map(|m| m.data).unwrap_or_default();
        let mut k = 1.0;
        for m in iter {
            for (a, v) in acc.iter_mut().zip(&m.data) {
                *a += v;
            }
            k += 1.0;
        }
        for a in &mut acc {
            *a /= k;
        }
        Matrix::new(size, acc)
    }
}

export_blender!(BlendMean);

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
        let info = BlendMean::info();
        assert_eq!(validate_info(&info, PluginKind::Blender), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("blend-mean", "1.0.0"));
    }

    #[test]
    fn means() {
        let out = BlendMean::blend(vec![m(&[1.0, 2.0, 3.0, 4.0]), m(&[3.0, 2.0, 1.0, 0.0]), m(&[2.0; 4])], vec![]);
        assert_eq!(out.unwrap(), m(&[2.0, 2.0, 2.0, 2.0]));
        assert_eq!(BlendMean::blend(vec![m(&[0.5])], vec![]).unwrap(), m(&[0.5]));
        assert_eq!(BlendMean::blend(vec![m(&[]), m(&[])], vec![]).unwrap(), m(&[]));
    }

    #[test]
    fn refusals() {
        let e = BlendMean::blend(vec![], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendMean::blend(vec![m(&[1.0; 4]), m(&[1.0; 9])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendMean::blend(vec![Matrix { size: 2, data: vec![1.0] }], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendMean::blend(vec![m(&[f64::NAN])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendMean::blend(vec![m(&[1.0])], vec![Param::new("alpha", "0.5")]).unwrap_err();
        assert_eq!(e, PluginError::InvalidParams("unknown parameter 'alpha'; accepted parameters: none".into()));
    }
}
