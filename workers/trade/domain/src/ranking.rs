//! The metrics runs are ranked by — on the leaderboard and in sweeps — and which way is better.

/// Metrics runs are ranked by, and whether higher is better.
pub const RANKED_METRICS: [(&str, bool); 9] = [
    ("sharpe", true),
    ("sortino", true),
    ("total_return", true),
    ("cagr", true),
    ("calmar", true),
    ("max_drawdown", true),
    ("win_rate", true),
    ("exposure", true),
    ("volatility", false),
];

/// Whether `metric` is one of [`RANKED_METRICS`] and whether higher is better: `None` for an
/// unknown metric.
pub fn ranked_metric(metric: &str) -> Option<bool> {
    RANKED_METRICS.iter().find(|(m, _)| *m == metric).map(|&(_, higher)| higher)
}

/// The names of [`RANKED_METRICS`], for error messages.
pub fn ranked_metric_names() -> String {
    RANKED_METRICS.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
}

/// Whether a larger value of `metric` is better (true for a name that is not ranked).
pub fn higher_is_better(metric: &str) -> bool {
    ranked_metric(metric).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatility_ranks_low_first_and_unknown_names_are_none() {
        assert_eq!(ranked_metric("sharpe"), Some(true));
        assert_eq!(ranked_metric("volatility"), Some(false));
        assert_eq!(ranked_metric("luck"), None);
        assert!(ranked_metric_names().starts_with("sharpe, sortino"));
    }
}
