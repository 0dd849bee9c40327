//! Strategy runs: the run, its equity curve, the decision log, the leaderboard, and the
//! queries of their routes. The request body is the trade crate's `RunRequest`; its schema
//! here is checked against the fields that type accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A stored run: what it runs, on what, how, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    /// Id.
    pub run_id: i64,
    /// Strategy plugin name.
    pub strategy: String,
    /// Its exact version.
    pub strategy_version: String,
    /// Parameters as an object of name → value text.
    pub params: Value,
    /// Product id.
    pub product: String,
    /// `backtest` or `paper`.
    pub mode: String,
    /// Range start (ms since the epoch, inclusive); a paper run's first bar boundary.
    pub from_ms: Option<i64>,
    /// Backtest range end (exclusive).
    pub to_ms: Option<i64>,
    /// Bar length, ms.
    pub bar_interval_ms: i64,
    /// Costs, cash and risk limits.
    pub settings: Value,
    /// `pending`, `running`, `finished`, `stopped` or `failed`.
    pub status: String,
    /// Why the run stopped or failed.
    pub status_reason: Option<String>,
    /// A stop was requested.
    pub stop_requested: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker running it.
    pub holder: Option<String>,
    /// Bars processed.
    pub bars_done: i64,
    /// Bars in the backtest range (backtests; counted when the run is created).
    pub bars_total: Option<i64>,
    /// Close time of the last processed bar.
    pub last_bar_ms: Option<i64>,
    /// Bars the run's range should hold (every bar lying wholly inside it): recorded when a
    /// backtest is created, and again from the bars read once it has read them all.
    pub bars_expected: Option<i64>,
    /// Bars the market history held in the range.
    pub bars_found: Option<i64>,
    /// Missing stretches: `{"count": n, "listed": [{"from_ms", "to_ms", "bars"}, ...]}`.
    pub gaps: Option<Value>,
    /// The portfolio after the last bar (cash, position, pending order...).
    pub portfolio: Option<Value>,
    /// The strategy's state after the last bar.
    pub strategy_state: Option<Value>,
    /// Metrics so far (final for ended runs; `periods_per_year` named).
    pub metrics: Option<Value>,
    /// sha256 of the decision log's CSV export (ended runs).
    pub decision_log_sha256: Option<String>,
}

impl From<cgaf_store::RunRow> for Run {
    fn from(r: cgaf_store::RunRow) -> Self {
        let s = r.spec;
        Self {
            run_id: r.run_id,
            strategy: s.strategy,
            strategy_version: s.strategy_version,
            params: s.params,
            product: s.product,
            mode: s.mode.to_string(),
            from_ms: s.from_ms,
            to_ms: s.to_ms,
            bar_interval_ms: s.bar_interval_ms,
            settings: s.settings,
            status: r.status.to_string(),
            status_reason: r.status_reason,
            stop_requested: r.stop_requested,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            holder: r.holder,
            bars_done: r.bars_done,
            bars_total: r.bars_total,
            last_bar_ms: r.last_bar_ms,
            bars_expected: r.bars_expected,
            bars_found: r.bars_found,
            gaps: r.gaps,
            portfolio: r.portfolio,
            strategy_state: r.strategy_state,
            metrics: r.metrics,
            decision_log_sha256: r.decision_log_sha256,
        }
    }
}

/// `GET /api/runs/{id}`: the run with its equity curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// Equity at the close of bars, at most 1000 points spread over the run.
    pub equity_curve: Vec<EquityPoint>,
}

/// One point of an equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EquityPoint {
    /// Equity at the close.
    pub equity: f64,
    /// Bar close time, ms since the epoch.
    pub time_ms: i64,
}

/// `GET /api/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    /// Runs, newest first.
    pub runs: Vec<Run>,
}

/// Query of `GET /api/runs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunListQuery {
    /// Only runs of this mode: `backtest` or `paper`.
    #[param(value_type = Option<String>)]
    pub mode: Option<cgaf_trade::domain::RunMode>,
    /// Only runs of this status: `pending`, `running`, `finished`, `stopped` or `failed`.
    #[param(value_type = Option<String>)]
    pub status: Option<cgaf_trade::domain::RunStatus>,
    /// Most runs answered (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// How `GET /api/runs/{id}/decisions` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionFormat {
    /// A JSON page of rows.
    #[default]
    Json,
    /// The whole range as CSV (its sha256 is the run's `decision_log_sha256`).
    Csv,
}

/// Query of `GET /api/runs/{id}/decisions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionsQuery {
    /// Bars closing at or after this time (ms since the epoch or RFC 3339).
    pub from: Option<String>,
    /// Bars closing before this time (ms since the epoch or RFC 3339).
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Rows per page (default 1000, at most 10000; JSON only).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<DecisionFormat>,
}

/// One row of the decision log: market state, strategy state, decision, risk-gate
/// action, order, fill, position, cash and equity (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// Cash after the bar.
    pub cash: f64,
    /// Equity at the close.
    pub equity: f64,
    /// Fee paid.
    pub fee: Option<f64>,
    /// Fill at this bar's open of the previous order: price.
    pub fill_price: Option<f64>,
    /// Signed units filled.
    pub fill_quantity: Option<f64>,
    /// What the risk gate did.
    pub gate: Option<String>,
    /// Target held over the bar.
    pub held_target: f64,
    /// The bar (`open`, `high`, `low`, `close`, `volume`, `buy_volume`, `sell_volume`) and the
    /// book at its close (`bid`, `ask`, `bid_depth`, `ask_depth`).
    pub market: Value,
    /// The order placed at this close (target to reach at the next open).
    pub order_target: Option<f64>,
    /// Position after the bar (units).
    pub position: f64,
    /// The strategy's reason.
    pub reason: Option<String>,
    /// 0-based bar index in the run.
    pub seq: i64,
    /// The strategy's state after this bar, when captured.
    pub strategy_state: Option<Value>,
    /// The strategy version that decided this bar, on paper runs (it changes when the run's
    /// version is quarantined and the previous one is put back); `null` on backtests.
    pub strategy_version: Option<String>,
    /// The strategy's target position.
    pub target: f64,
    /// Bar close time, ms since the epoch.
    pub time_ms: i64,
}

impl From<cgaf_trade::domain::DecisionRow> for Decision {
    fn from(d: cgaf_trade::domain::DecisionRow) -> Self {
        Self {
            cash: d.cash,
            equity: d.equity,
            fee: d.fee,
            fill_price: d.fill_price,
            fill_quantity: d.fill_quantity,
            gate: d.gate,
            held_target: d.held_target,
            market: serde_json::to_value(d.market).unwrap_or_default(),
            order_target: d.order_target,
            position: d.position,
            reason: d.reason,
            seq: d.seq,
            strategy_state: d.strategy_state,
            strategy_version: d.strategy_version,
            target: d.target,
            time_ms: d.time_ms,
        }
    }
}

/// A page of the decision log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionPage {
    /// Rows in `seq` order.
    pub decisions: Vec<Decision>,
    /// Cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
    /// The run.
    pub run_id: i64,
}

/// Query of `GET /api/leaderboard`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// Ranking metric (default `sharpe`): `sharpe`, `sortino`, `total_return`, `cagr`,
    /// `calmar`, `max_drawdown`, `win_rate`, `exposure` or `volatility`.
    pub metric: Option<String>,
    /// Only runs of this mode: `backtest` or `paper`.
    #[param(value_type = Option<String>)]
    pub mode: Option<cgaf_trade::domain::RunMode>,
    /// Only runs with at least this many trades (default 0).
    pub min_trades: Option<i64>,
    /// Most entries (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One leaderboard entry (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// All metrics of the run.
    pub metrics: Value,
    /// Mode.
    pub mode: String,
    /// Parameters.
    pub params: Value,
    /// Product.
    pub product: String,
    /// 1-based rank.
    pub rank: i64,
    /// The run.
    pub run_id: i64,
    /// Status.
    pub status: String,
    /// Strategy name.
    pub strategy: String,
    /// Strategy version.
    pub strategy_version: String,
    /// Trades.
    pub trades: i64,
    /// The ranking metric's value.
    pub value: f64,
}

impl From<cgaf_store::LeaderboardEntry> for LeaderboardEntry {
    fn from(e: cgaf_store::LeaderboardEntry) -> Self {
        Self {
            metrics: e.metrics,
            mode: e.mode.to_string(),
            params: e.params,
            product: e.product,
            rank: e.rank,
            run_id: e.run_id,
            status: e.status.to_string(),
            strategy: e.strategy,
            strategy_version: e.strategy_version,
            trades: e.trades,
            value: e.value,
        }
    }
}

/// `GET /api/leaderboard`: runs ranked by a metric, best first; ties in run order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Leaderboard {
    /// The ranking.
    pub entries: Vec<LeaderboardEntry>,
    /// The ranking metric.
    pub metric: String,
    /// The trade minimum applied.
    pub min_trades: i64,
    /// The mode filter applied.
    pub mode: Option<String>,
}

/// A time given as milliseconds since the epoch or as RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = TimeArg)]
pub enum TimeArgSchema {
    /// Milliseconds since the Unix epoch.
    Millis(i64),
    /// RFC 3339, e.g. `2026-11-21T10:00:00Z`.
    Text(String),
}

/// The schema of the `risk` object of run and sweep requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RiskArgs)]
pub struct RiskArgsSchema {
    /// Largest absolute target, fraction of equity in [0, 1] (default 1).
    #[schema(minimum = 0, maximum = 1)]
    pub max_position: Option<f64>,
    /// Largest drawdown from the equity peak before flatten-and-stop, fraction in (0, 1].
    pub max_drawdown: Option<f64>,
}

/// The schema of `POST /api/runs`'s body, `cgaf_trade::RunRequest` (a test holds the two
/// together field by field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RunRequest)]
pub struct RunRequestSchema {
    /// Strategy plugin, `name` (its active version) or `name@version`.
    #[schema(example = "sma-cross@1.0.0")]
    pub strategy: String,
    /// Parameters: numbers, strings or booleans by name.
    #[serde(default)]
    #[schema(example = json!({"fast": 5, "slow": 20}))]
    pub params: Map<String, Value>,
    /// Product id.
    #[schema(example = "BTC-USD")]
    pub product: String,
    /// `backtest` or `paper`.
    #[schema(example = "backtest")]
    pub mode: String,
    /// Backtest start, inclusive (default: the oldest stored sample).
    pub from: Option<TimeArgSchema>,
    /// Backtest end, exclusive (default: now).
    pub to: Option<TimeArgSchema>,
    /// Bar length, e.g. `1s`, `1m` (default `1s`).
    #[serde(default)]
    #[schema(default = "1s", example = "1m")]
    pub bar_interval: Option<String>,
    /// Fee per fill, basis points of notional (default 0).
    #[serde(default)]
    pub fee_bps: Option<f64>,
    /// Slippage per fill, basis points (default 0).
    #[serde(default)]
    pub slippage_bps: Option<f64>,
    /// Starting cash (default 10,000).
    #[serde(default)]
    #[schema(default = 10000)]
    pub starting_cash: Option<f64>,
    /// Risk limits (default: none).
    #[serde(default)]
    pub risk: Option<RiskArgsSchema>,
    /// Run even when the history covers the range only in part (default false: refused with 422).
    #[serde(default)]
    pub allow_gaps: Option<bool>,
    /// Periods per year for annualised metrics (default: follows the bar interval).
    #[serde(default)]
    pub periods_per_year: Option<f64>,
}
