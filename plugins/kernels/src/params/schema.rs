//! The parameter schemas of the pyts transforms (pyts's names, kinds, defaults, in pyts's
//! order), as the plugin contract's [`ParamSpec`]s the built-in plugins return from `info()`.

use cgaf_plugin_contract::ParamSpec;

/// The transforms whose parameters can be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `GramianAngularField` (GASF / GADF).
    Gaf,
    /// `MarkovTransitionField`.
    Mtf,
    /// `RecurrencePlot`.
    RecurrencePlot,
    /// `PiecewiseAggregateApproximation`.
    Paa,
}

impl Transform {
    /// Looks a transform up by a short name (`gaf`, `gasf`, `gadf`, `mtf`, `rp`,
    /// `recurrence_plot`, `paa`) or its pyts class name; case-insensitive.
    pub fn from_name(name: &str) -> Option<Transform> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gaf" | "gasf" | "gadf" | "gramianangularfield" => Some(Transform::Gaf),
            "mtf" | "markovtransitionfield" => Some(Transform::Mtf),
            "rp" | "recurrence_plot" | "recurrenceplot" => Some(Transform::RecurrencePlot),
            "paa" | "piecewiseaggregateapproximation" => Some(Transform::Paa),
            _ => None,
        }
    }

    /// The pyts class name.
    pub fn pyts_class(self) -> &'static str {
        match self {
            Transform::Gaf => "GramianAngularField",
            Transform::Mtf => "MarkovTransitionField",
            Transform::RecurrencePlot => "RecurrencePlot",
            Transform::Paa => "PiecewiseAggregateApproximation",
        }
    }
}

fn spec(name: &str, kind: &str, default: &str, doc: &str) -> ParamSpec {
    ParamSpec::new(name, kind, default, doc)
}

/// The parameters of a transform (pyts names, in pyts's order). The GAF's `method` is chosen
/// by the transform (GASF / GADF) and parsed with [`gaf_method`](super::gaf_method); `flatten` is not offered.
pub fn parameter_schema(transform: Transform) -> Vec<ParamSpec> {
    match transform {
        Transform::Gaf => vec![
            spec(
                "image_size",
                "int|float",
                "1.0",
                "Image edge: an int in [1, n], or a float in (0, 1] giving ceil(v * n).",
            ),
            spec(
                "sample_range",
                "tuple|none",
                "(-1, 1)",
                "Min-max scaling range (a, b) with -1 <= a < b <= 1; None: no scaling, \
                 values must be in [-1, 1].",
            ),
            spec("overlapping", "bool", "False", "Whether the PAA segments may overlap."),
        ],
        Transform::Mtf => vec![
            spec(
                "image_size",
                "int|float",
                "1.0",
                "Image edge: an int in [1, n], or a float in (0, 1] giving ceil(v * n).",
            ),
            spec("n_bins", "int", "8", "Number of bins (at least 2)."),
            spec("strategy", "str", "'quantile'", "Bin edges: 'quantile', 'uniform' or 'normal'."),
            spec("overlapping", "bool", "False", "Whether the aggregation segments may overlap."),
        ],
        Transform::RecurrencePlot => vec![
            spec("dimension", "int|float", "1", "Trajectory dimension: an int in [1, n], or a float in (0, 1]."),
            spec(
                "time_delay",
                "int|float",
                "1",
                "Gap between trajectory points: an int in [1, n], or a float in (0, 1].",
            ),
            spec("threshold", "none|str|int|float", "None", "None (distances), 'point', 'distance', or a number > 0."),
            spec("percentage", "int|float", "10", "Percentage in [0, 100] for threshold 'point' or 'distance'."),
        ],
        Transform::Paa => vec![
            spec("window_size", "int|float|none", "1", "Segment length: an int in [1, n], a float in (0, 1], or None."),
            spec("output_size", "int|float|none", "None", "Number of segments (used when window_size is None)."),
            spec("overlapping", "bool", "True", "Whether the segments may overlap."),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_list_pyts_names() {
        let names = |t| parameter_schema(t).into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(Transform::Gaf), ["image_size", "sample_range", "overlapping"]);
        assert_eq!(names(Transform::Mtf), ["image_size", "n_bins", "strategy", "overlapping"]);
        assert_eq!(names(Transform::RecurrencePlot), ["dimension", "time_delay", "threshold", "percentage"]);
        assert_eq!(Transform::from_name("GASF"), Some(Transform::Gaf));
    }
}
