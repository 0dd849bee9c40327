//! Parameter sweeps. The request body is the trade crate's `SweepRequest`; its schema here is
//! checked against the fields that type accepts.

use super::runs::{RiskArgsSchema, TimeArgSchema};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A stored sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sweep {
    /// Id.
    pub sweep_id: i64,
    /// The request as given.
    pub request: Value,
    /// `pending`, `running`, `finished` or `failed`.
    pub status: String,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Backtests done.
    pub jobs_done: i64,
    /// Backtests in total.
    pub jobs_total: Option<i64>,
    /// Once finished: rows per grid point, walk-forward folds, best parameters out of sample,
    /// heatmap axes.
    pub result: Option<Value>,
}

impl From<cgaf_store::SweepRow> for Sweep {
    fn from(s: cgaf_store::SweepRow) -> Self {
        Self {
            sweep_id: s.sweep_id,
            request: s.request,
            status: s.status.to_string(),
            status_reason: s.status_reason,
            created_at: s.created_at,
            finished_at: s.finished_at,
            jobs_done: s.jobs_done,
            jobs_total: s.jobs_total,
            result: s.result,
        }
    }
}

/// `GET /api/sweeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SweepList {
    /// Sweeps, newest first.
    pub sweeps: Vec<Sweep>,
}

/// The schema of `POST /api/sweeps`'s body, `cgaf_trade::SweepRequest` (a test holds the two
/// together field by field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SweepRequest)]
pub struct SweepRequestSchema {
    /// Strategy plugin, `name` or `name@version`.
    pub strategy: String,
    /// Product whose market history makes the bars.
    pub product: String,
    /// Range start, inclusive.
    pub from: Option<TimeArgSchema>,
    /// Range end, exclusive (default now).
    pub to: Option<TimeArgSchema>,
    /// Bar length (default `1s`).
    #[serde(default)]
    #[schema(default = "1s")]
    pub bar_interval: Option<String>,
    /// The grid: parameter name → values (`[5, 10]` or `{"from": 5, "to": 50, "step": 5}`);
    /// axes are taken in alphabetical order of the names.
    #[schema(example = json!({"fast": {"from": 5, "to": 50, "step": 5}, "slow": [20, 50, 100, 200]}))]
    pub grid: Map<String, Value>,
    /// Parameters held fixed.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Walk-forward splits (k+1 rolling segments; default 0 = none).
    #[serde(default)]
    pub splits: Option<u32>,
    /// Metric to optimise (default `sharpe`).
    #[serde(default)]
    #[schema(default = "sharpe")]
    pub metric: Option<String>,
    /// Fee per fill, bps.
    #[serde(default)]
    pub fee_bps: Option<f64>,
    /// Slippage per fill, bps.
    #[serde(default)]
    pub slippage_bps: Option<f64>,
    /// Starting cash (default 10,000).
    #[serde(default)]
    pub starting_cash: Option<f64>,
    /// Risk limits.
    #[serde(default)]
    pub risk: Option<RiskArgsSchema>,
    /// Run even when the history covers the range only in part (default false: refused with 422).
    #[serde(default)]
    pub allow_gaps: Option<bool>,
    /// Periods per year for annualised metrics (default: follows the bar interval).
    #[serde(default)]
    pub periods_per_year: Option<f64>,
}
