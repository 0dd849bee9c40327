//! The leaderboard: runs ranked by one of the domain's ranked metrics.

use crate::runs::parse_name;
use crate::{Error, Result, Store};
use cgaf_trade_domain::{RunMode, RunStatus};
use serde::Serialize;
use serde_json::Value;

/// One leaderboard entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderboardEntry {
    /// 1-based rank.
    pub rank: i64,
    /// The run.
    pub run_id: i64,
    /// Strategy name.
    pub strategy: String,
    /// Strategy version.
    pub strategy_version: String,
    /// Parameters.
    pub params: Value,
    /// Product.
    pub product: String,
    /// Mode.
    pub mode: RunMode,
    /// Status.
    pub status: RunStatus,
    /// The ranking metric's value.
    pub value: f64,
    /// Trades.
    pub trades: i64,
    /// All metrics.
    pub metrics: Value,
}

impl Store {
    /// Runs ranked by the stored metric `metric` (the caller knows which metrics are ranked and
    /// which way: `higher_is_better`), best first; ties broken by `run_id` (the earlier run
    /// first) so the order is stable. Runs without the metric, or with fewer than `min_trades`
    /// trades, are left out.
    pub async fn leaderboard(
        &self,
        metric: &str,
        higher_is_better: bool,
        mode: Option<RunMode>,
        min_trades: i64,
        limit: i64,
    ) -> Result<Vec<LeaderboardEntry>> {
        // The name is formatted into the SQL: only a plain key is accepted.
        if metric.is_empty() || !metric.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(Error::Config(format!("metric {metric:?} is not a metric key")));
        }
        let (name, higher) = (metric, higher_is_better);
        let order = if higher { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT run_id, strategy, strategy_version, params, product, mode, status,
               (metrics->>'{name}')::float8 AS value, coalesce((metrics->>'trades')::int8, 0) AS trades, metrics
             FROM crypto_gaf.runs
             WHERE metrics IS NOT NULL AND jsonb_typeof(metrics->'{name}') = 'number'
               AND ($1::text IS NULL OR mode = $1) AND coalesce((metrics->>'trades')::int8, 0) >= $2
             ORDER BY value {order}, run_id ASC LIMIT $3"
        );
        let mode = mode.map(RunMode::as_str);
        let rows = self.client().await?.query(&sql, &[&mode, &min_trades, &limit]).await?;
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(LeaderboardEntry {
                    rank: i as i64 + 1,
                    run_id: r.get("run_id"),
                    strategy: r.get("strategy"),
                    strategy_version: r.get("strategy_version"),
                    params: r.get("params"),
                    product: r.get("product"),
                    mode: parse_name(r, "mode")?,
                    status: parse_name(r, "status")?,
                    value: r.get("value"),
                    trades: r.get("trades"),
                    metrics: r.get("metrics"),
                })
            })
            .collect()
    }
}
