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
        accepted: Vec<String>,
    },
    /// A [`Matrix`](crate::Matrix) whose `data` does not hold `size²` values (only a matrix
    /// built by hand can be malformed).
    #[error("a matrix of size {size} needs size² values, got {len}")]
    MatrixShape {
        /// The matrix's edge.
        size: usize,
        /// The number of values it holds.
        len: usize,
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

pub use cgaf_plugin_contract::py_float_repr;

impl From<cgaf_plugin_contract::LiteralError> for Error {
    /// A lone value that is not a Python literal (no parameter name).
    fn from(e: cgaf_plugin_contract::LiteralError) -> Self {
        Error::Parse { name: String::new(), value: e.text, reason: e.reason }
    }
}
