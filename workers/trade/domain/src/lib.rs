//! crypto-gaf trading domain (`cgaf-trade-domain`): everything about strategy runs that needs no
//! database, no plugin sandbox and no async runtime — so the worker, the API, the CLI and the
//! benchmarks share one definition of each rule.
//!
//! - [`bars`]: the [`Bar`] (OHLCV and the book at its close) built from samples without look-ahead.
//! - [`strategy`]: the [`Strategy`] trait the engine calls (the worker implements it over the
//!   plugin sandbox) and its per-bar [`Decision`].
//! - [`engine`]: the portfolio — fills at the next open with fees and slippage, the risk gate,
//!   one [`DecisionRow`] of the decision log per bar.
//! - [`decision`]: the decision-log row and its CSV form (export and hash); [`decision_block`]:
//!   its stored form, consecutive rows as one compressed block of columns.
//! - [`mod@backtest`]: feeding a strategy over bars ([`drive`]), equity series and metrics.
//! - [`metrics`]: trading performance — total return, CAGR, Sharpe, Sortino, max drawdown,
//!   Calmar, win rate, trades and exposure as `reference/backtesting-and-metrics.md` §4 defines them.
//! - [`history`]: the market-history bar, its origin, rollups, coverage and gaps, retention.
//! - [`ranking`]: the metrics runs and sweeps are ranked by.
//! - [`run`]: run modes and statuses.
//! - [`request`]: run requests (API and CLI) and their checks.
//! - [`sweep`] and [`heatmap`]: parameter grids, walk-forward, results and heatmap PNGs.

pub mod backtest;
pub mod bars;
pub mod decision;
pub mod decision_block;
pub mod engine;
pub mod error;
pub mod float_text;
pub mod heatmap;
pub mod history;
pub mod metrics;
mod packed;
pub mod ranking;
pub mod request;
pub mod run;
pub mod strategy;
pub mod sweep;

pub use backtest::{backtest, backtest_series, drive, periods_per_year, DriveOptions, Series, StateCapture};
pub use bars::{build_bars, fill_price_after, Bar, BarError, Book, SamplePoint};
pub use decision::{decision_log_csv, DecisionCsv, DecisionLogHash, DecisionRow};
pub use decision_block::DecisionBlock;
pub use engine::{Portfolio, RiskLimits, RunSettings, SettingsError};
pub use error::Error;
pub use history::{BarOrigin, Coverage, Gap, HistoryBar, HistorySettings};
pub use metrics::{
    metrics_from_json, returns_from_equity, trades_from_positions, Error as MetricsError, Metrics, Options, Trade,
    DEFAULT_PERIODS_PER_YEAR,
};
pub use ranking::{higher_is_better, ranked_metric, ranked_metric_names, RANKED_METRICS};
pub use request::{parse_interval, parse_time, RiskArgs, RunPlan, RunRequest, TimeArg};
pub use run::{RunMode, RunStatus, SweepStatus, UnknownName};
pub use strategy::{Decision, Strategy, StrategyError};
pub use sweep::{results_csv, run_sweep, Axis, SweepRequest, SweepResult, SweepSpec};
