//! The error type: one variant per pyts / scikit-learn failure, displayed with pyts's exact message.

/// A refused input or parameter.
///
/// `Display` is the exact message pyts 0.14.1 raises (without the `ValueError: ` prefix);
/// [`Error::python_type`] names the Python exception class.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The series contains a NaN (scikit-learn `check_array`).
    #[error("Input contains NaN.")]
    InputNaN,
    /// The series contains ±infinity (scikit-learn `check_array`).
    #[error("Input contains infinity or a value too large for dtype('float64').")]
    InputInfinite,
    /// The series is empty (scikit-learn `check_array` on shape `(1, 0)`).
    #[error("Found array with 0 feature(s) (shape=(1, 0)) while a minimum of 1 is required.")]
    EmptySeries,
    /// A size parameter is neither an integer nor a float (TypeError).
    #[error("'{name}' must be an integer or a float.")]
    SizeType {
        /// Parameter name (`image_size`, `dimension`, `time_delay`).
        name: String,
    },
    /// A PAA size parameter is neither an integer nor a float nor None (TypeError).
    #[error("If specified, '{name}' must be an integer or a float.")]
    PaaSizeType {
        /// Parameter name (`window_size` or `output_size`).
        name: String,
    },
    /// An integer size parameter is outside `[1, n_timestamps]`.
    #[error(
        "If '{name}' is an integer, it must be greater than or equal to 1 and lower than or \
         equal to n_timestamps (got {got})."
    )]
    SizeIntRange {
        /// Parameter name.
        name: String,
        /// The value given, as Python prints it (`20`, `-1`, `False`).
        got: String,
    },
    /// A float size parameter is outside `(0, 1]`.
    #[error(
        "If '{name}' is a float, it must be greater than 0 and lower than or equal to 1 (got {}).",
        py_float_repr(*.got)
    )]
    SizeFloatRange {
        /// Parameter name.
        name: String,
        /// The value given.
        got: f64,
    },
    /// PAA got neither `window_size` nor `output_size` (TypeError).
    #[error("'window_size' and 'output_size' cannot be both None.")]
    PaaBothNone,
    /// `sample_range` is neither None nor a tuple (TypeError).
    #[error("'sample_range' must be None or a tuple.")]
    SampleRangeType,
    /// `sample_range` is a tuple whose length is not 2.
    #[error("If 'sample_range' is a tuple, its length must be equal to 2.")]
    SampleRangeLength,
    /// `sample_range` does not satisfy `-1 <= a < b <= 1`.
    #[error("If 'sample_range' is a tuple, it must satisfy -1 <= sample_range[0] < sample_range[1] <= 1.")]
    SampleRangeBounds,
    /// `sample_range=None` but the (PAA-reduced) series leaves `[-1, 1]`.
    #[error("If 'sample_range' is None, all the values of X must be between -1 and 1.")]
    SampleRangeNoneOutOfBounds,
    /// Unknown GAF method.
    #[error("'method' must be either 'summation', 's', 'difference' or 'd'.")]
    Method,
    /// `n_bins` is not an integer (TypeError).
    #[error("'n_bins' must be an integer.")]
    NBinsType,
    /// `n_bins < 2`.
    #[error("'n_bins' must be greater than or equal to 2.")]
    NBinsTooSmall,
    /// Unknown MTF strategy.
    #[error("'strategy' must be 'uniform', 'quantile' or 'normal'.")]
    Strategy,
    /// `n_timestamps - (dimension - 1) * time_delay < 1`.
    #[error(
        "The number of trajectories must be positive. Consider trying with smaller values for \
         'dimension' and 'time_delay'."
    )]
    NoTrajectories,
    /// `threshold` has an unsupported type or value (TypeError).
    #[error("'threshold' must be either None, 'point', 'distance', a float or an integer.")]
    ThresholdType,
    /// A numeric `threshold` is not positive.
    #[error("If 'threshold' is a float or an integer, it must be greater than 0.")]
    ThresholdNonPositive,
    /// `percentage` is not a number (TypeError).
    #[error("'percentage' must be a float or an integer.")]
    PercentageType,
    /// `percentage` is outside `[0, 100]`.
    #[error("'percentage' must be between 0 and 100.")]
    PercentageRange,
    /// Any other Python `TypeError`, with its exact message (e.g. an unsupported comparison).
    #[error("{0}")]
    PyTypeError(String),
    /// Any other Python `ValueError`, with its exact message
    /// (e.g. `cannot convert float NaN to integer`).
    #[error("{0}")]
    PyValueError(String),
    /// A parameter string could not be parsed as a Python literal.
    #[error("could not parse the value of parameter '{name}' ({value:?}): {reason}")]
    Parse {
        /// Parameter name (empty when parsing a lone value).
        name: String,
        /// The text given.
        value: String,
        /// What went wrong.
        reason: String,
    },
    /// A parameter name the transform does not know.
    #[error("unknown parameter '{name}' for {transform}; accepted parameters: {}", .accepted.join(", "))]
    UnknownParameter {
        /// The name given.
        name: String,
        /// The pyts class name.
        transform: &'static str,
        /// The names the transform accepts.
        accepted: Vec<&'static str>,
    },
    /// The same parameter was given twice.
    #[error("parameter '{0}' was given more than once")]
    DuplicateParameter(String),
}

impl Error {
    /// The Python exception class pyts raises for this error: `"ValueError"` or `"TypeError"`.
    pub fn python_type(&self) -> &'static str {
        match self {
            Error::SizeType { .. }
            | Error::PaaSizeType { .. }
            | Error::PaaBothNone
            | Error::SampleRangeType
            | Error::NBinsType
            | Error::ThresholdType
            | Error::PercentageType
            | Error::PyTypeError(_) => "TypeError",
            _ => "ValueError",
        }
    }
}

/// Formats a float the way Python's `repr(float)` / f-string `{x}` does
/// (`0.0`, `1.5`, `7.000000000000001`, `1e-05`, `1e+16`, `nan`, `inf`).
pub fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip digits, in scientific form: "d.ddde<exp>".
    let sci = format!("{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() { first.to_string() } else { format!("{first}.{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mant}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::py_float_repr;

    #[test]
    fn python_float_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.14, "0.14"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (7.000000000000001, "7.000000000000001"),
            (123.456, "123.456"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(py_float_repr(v), want, "{v:?}");
        }
    }
}
