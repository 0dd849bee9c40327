//! crypto-gaf trade worker (`cgaf-trade`): claims strategy runs and sweeps from PostgreSQL, reads
//! their bars, executes them over the trading domain ([`cgaf_trade_domain`]) with strategies from
//! the plugin sandbox, and writes decisions, progress and results back.
//!
//! Public entry points (what the host and the API call):
//! - [`TradeWorker`]: `tick()` on a schedule, `shutdown()` on exit — it owns every backtest and
//!   sweep task it starts, and stops and joins them on shutdown.
//! - [`PrepareRun`] and [`CheckSweep`]: a run or sweep request checked against the database and
//!   the plugin before it is stored.
//! - [`DecisionCsvPages`]: a run's decision log as CSV from the database, a page at a time;
//!   [`fill_strategy_states`]: the strategy states between a backtest's checkpoints, replayed.
//! - [`PluginStrategy`]: a sandboxed strategy instance as the domain's [`Strategy`].
//!
//! Modules: [`strategy`] (plugins as strategies), [`csv_import`] (a CSV of bars into the history), [`request`] (request checks), [`bars`] (bars
//! from the market history, with coverage), [`decisions`] (the stored log as CSV and its hash), [`runs`] (what
//! backtests and paper runs share), [`replay`] (states between checkpoints), [`backtest`], [`paper`], [`sweep`] (the sweep job), [`telemetry`]
//! (its Prometheus metrics) and [`worker`] (the scheduler-facing worker).

pub mod backtest;
pub mod bars;
pub mod csv_import;
pub mod decisions;
pub mod error;
pub mod paper;
pub mod replay;
pub mod request;
pub mod runs;
pub mod shadow;
pub mod strategy;
pub mod sweep;
pub mod telemetry;
pub mod worker;

pub use cgaf_trade_domain as domain;
pub use cgaf_trade_domain::{RunRequest, Strategy, SweepRequest};
pub use csv_import::{import_csv, CsvImport, CsvImportTarget, FileRead, ImportProgress};
pub use decisions::{decision_log_sha256, DecisionCsvPages};
pub use error::Error;
pub use replay::fill_strategy_states;
pub use request::{CheckSweep, PrepareRun, PreparedRun};
pub use strategy::{load_strategy, PluginStrategy};
pub use telemetry::TradeTelemetry;
pub use worker::{TickReport, TradeWorker, WorkerSettings};
