//! crypto-gaf trade worker (`cgaf-trade`): strategy runs (backtests and paper runs), fills, the
//! decision log (FMEL), parameter sweeps and performance metrics.
//!
//! - [`bars`]: OHLCV bars from samples without look-ahead.
//! - [`engine`]: the portfolio — fills at the next open with fees and slippage, the risk gate,
//!   one decision-log [`Record`] per bar.
//! - [`backtest`]: feeding a strategy over bars ([`drive`]), equity series and metrics.
//! - [`metrics`]: total return, CAGR, Sharpe, Sortino, max drawdown, Calmar, win rate, trades and
//!   exposure exactly as `reference/backtesting-and-metrics.md` §4 defines them.
//! - [`request`]: run requests (API and CLI) checked into stored runs.
//! - [`worker`]: the trade worker that claims runs from PostgreSQL — backtests, paper runs that
//!   survive restarts — and the decision log's CSV export and hash.
//! - [`sweep`] and [`heatmap`]: parameter grids, walk-forward, results and heatmap PNGs.

pub mod backtest;
pub mod bars;
pub mod engine;
pub mod error;
pub mod heatmap;
pub mod metrics;
pub mod request;
pub mod sweep;
pub mod worker;

pub use backtest::{backtest, drive, periods_per_year, Decider, DriveOptions, Series};
pub use bars::{build_bars, fill_price_after, BarError, SamplePoint};
pub use engine::{Book, MarketBar, Portfolio, Record, RiskLimits, RunSettings};
pub use error::Error;
pub use metrics::{
    metrics_from_json, returns_from_equity, trades_from_positions, Error as MetricsError, Metrics, Options, Trade,
    DEFAULT_PERIODS_PER_YEAR,
};
pub use request::RunRequest;
pub use sweep::{SweepRequest, SweepResult};
pub use worker::{TradeWorker, WorkerSettings};
