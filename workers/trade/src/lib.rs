//! crypto-gaf trade worker (`cgaf-trade`): strategy runs (backtests and paper runs), fills, the
//! decision log and performance metrics.
//!
//! This crate so far holds bars without look-ahead ([`bars`]) and the performance metrics of
//! issue 4 ([`metrics`]): total return, CAGR,
//! annualised Sharpe and Sortino ratios, maximum drawdown, Calmar ratio, win rate, trade count and
//! exposure, defined exactly as `reference/backtesting-and-metrics.md` §4 (empyrical / quantstats /
//! NautilusTrader conventions) and checked against `reference/metrics_example.py`.
//! [`metrics_from_json`] is the entry point behind `cgaf metrics`.

pub mod bars;
pub mod metrics;

pub use bars::{build_bars, fill_price_after, BarError, SamplePoint};

pub use metrics::{
    metrics_from_json, returns_from_equity, trades_from_positions, Error as MetricsError, Metrics, Options, Trade,
    DEFAULT_PERIODS_PER_YEAR,
};
