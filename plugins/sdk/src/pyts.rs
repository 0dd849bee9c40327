//! Glue between the pyts kernels (`cgaf-kernels`) and the plugin contract, shared by the four
//! built-in image transforms (`gasf`, `gadf`, `mtf`, `recurrence-plot`); feature `pyts`.
//!
//! It lives here rather than in `cgaf-kernels` because it speaks the WIT types ([`Param`],
//! [`Matrix`], [`PluginError`]): the kernels stay free of any binding, for the host and the CLI.
//!
//! Errors keep pyts's wording: the message is `<PythonType>: <pyts message>`, e.g.
//! `ValueError: Input contains NaN.`. Data errors (NaN, infinity, an empty series, values
//! outside [-1, 1] with `sample_range=None`) are [`PluginError::InvalidInput`]; everything else
//! (unknown or unparsable parameters, wrong types, out-of-range values, including ranges that
//! depend on the series length) is [`PluginError::InvalidParams`].

use crate::{Matrix, Param, PluginError};
use cgaf_kernels::Error;

/// The call's parameters as the kernels' `(name, value)` pairs.
pub fn pairs(params: Vec<Param>) -> Vec<(String, String)> {
    params.into_iter().map(|p| (p.name, p.value)).collect()
}

/// A kernel error as a plugin error with pyts's `<PythonType>: <message>` text.
pub fn error(e: Error) -> PluginError {
    let text = format!("{}: {e}", e.python_type());
    match e {
        Error::InputNaN | Error::InputInfinite | Error::EmptySeries | Error::SampleRangeNoneOutOfBounds => {
            PluginError::InvalidInput(text)
        }
        _ => PluginError::InvalidParams(text),
    }
}

/// A kernel result as the call's answer.
pub fn answer(r: Result<cgaf_kernels::Matrix, Error>) -> Result<Matrix, PluginError> {
    let m = r.map_err(error)?;
    Matrix::new(m.size, m.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_pyts_text() {
        assert_eq!(error(Error::InputNaN), PluginError::InvalidInput("ValueError: Input contains NaN.".into()));
        assert_eq!(
            error(Error::SampleRangeType),
            PluginError::InvalidParams("TypeError: 'sample_range' must be None or a tuple.".into())
        );
        assert!(matches!(error(Error::NoTrajectories), PluginError::InvalidParams(_)));
    }
}
