//! Built-in plugin `blend-product`: the element-wise product of the last k matrices.
//!
//! No parameters. Refuses (`invalid-input`) an empty list, matrices of different sizes,
//! malformed matrices and non-finite values. The product runs oldest → newest.

use cgaf_plugin_sdk::{
    check_blend_inputs, export_blender, Blender, Matrix, Param, Params, PluginError, PluginInfo, PluginKind,
};

/// The `blend-product` blender.
pub struct BlendProduct;

impl Blender for BlendProduct {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "blend-product",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Blender,
            "Element-wise product of the k matrices.",
            vec![],
        )
    }

    fn blend(matrices: Vec<Matrix>, params: Vec<Param>) -> Result<Matrix, PluginError> {
        Params::parse(&Self::info().params, &params)?;
        let size = check_blend_inputs(&matrices)?;
        let mut iter = matrices.into_iter();
        let mut acc = iter.next().map(|m| m.data).unwrap_or_default();
        for m in iter {
            for (a, v) in acc.iter_mut().zip(&m.data) {
                *a *= v;
            }
        }
        Matrix::new(size, acc)
    }
}

export_blender!(BlendProduct);

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
        let info = BlendProduct::info();
        assert_eq!(validate_info(&info, PluginKind::Blender), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("blend-product", "1.0.0"));
    }

    #[test]
    fn products() {
        let out = BlendProduct::blend(vec![m(&[1.0, 2.0, 3.0, 4.0]), m(&[3.0, 2.0, 1.0, 0.0]), m(&[0.5; 4])], vec![]);
        assert_eq!(out.unwrap(), m(&[1.5, 2.0, 1.5, 0.0]));
        assert_eq!(BlendProduct::blend(vec![m(&[-0.5])], vec![]).unwrap(), m(&[-0.5]));
    }

    #[test]
    fn refusals() {
        assert!(matches!(BlendProduct::blend(vec![], vec![]), Err(PluginError::InvalidInput(_))));
        let e = BlendProduct::blend(vec![m(&[1.0; 4]), m(&[1.0])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        let e = BlendProduct::blend(vec![m(&[f64::INFINITY])], vec![]).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        assert!(matches!(
            BlendProduct::blend(vec![m(&[1.0])], vec![Param::new("x", "1")]),
            Err(PluginError::InvalidParams(_))
        ));
    }
}
