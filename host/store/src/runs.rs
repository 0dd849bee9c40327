//! Strategy runs, the decision log (FMEL), the kill switch, the leaderboard and sweeps.
//!
//! A run is claimed by one trade worker at a time (`holder` + `heartbeat_at`); every write of a
//! run's progress is fenced on the holder, so a worker that lost a run can never write a decision
//! its successor also writes.

use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// What a run runs, on what, and how: everything given when it is created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
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
    /// Costs, cash and risk limits (the trade worker's `RunSettings` as JSON).
    pub settings: Value,
}

/// A stored run: its spec and where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub run_id: i64,
    /// What it runs (serialised inline).
    #[serde(flatten)]
    pub spec: RunSpec,
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
    /// Bars in the backtest range (backtests).
    pub bars_total: Option<i64>,
    /// Close time of the last processed bar.
    pub last_bar_ms: Option<i64>,
    /// The portfolio after the last bar (cash, position, pending order...).
    pub portfolio: Option<Value>,
    /// The strategy's state after the last bar.
    pub strategy_state: Option<Value>,
    /// Metrics so far (final for ended runs).
    pub metrics: Option<Value>,
    /// sha256 of the decision log's CSV export (ended runs).
    pub decision_log_sha256: Option<String>,
}

const RUN_COLUMNS: &str = "run_id, strategy, strategy_version, params, product, mode, from_ms, to_ms, bar_interval_ms,
  settings, status, status_reason, stop_requested, created_at, started_at, finished_at, holder, bars_done, bars_total,
  last_bar_ms, portfolio, strategy_state, metrics, decision_log_sha256";

fn run_row(r: &tokio_postgres::Row) -> RunRow {
    RunRow {
        run_id: r.get(0),
        spec: RunSpec {
            strategy: r.get(1),
            strategy_version: r.get(2),
            params: r.get(3),
            product: r.get(4),
            mode: r.get(5),
            from_ms: r.get(6),
            to_ms: r.get(7),
            bar_interval_ms: r.get(8),
            settings: r.get(9),
        },
        status: r.get(10),
        status_reason: r.get(11),
        stop_requested: r.get(12),
        created_at: r.get(13),
        started_at: r.get(14),
        finished_at: r.get(15),
        holder: r.get(16),
        bars_done: r.get(17),
        bars_total: r.get(18),
        last_bar_ms: r.get(19),
        portfolio: r.get(20),
        strategy_state: r.get(21),
        metrics: r.get(22),
        decision_log_sha256: r.get(23),
    }
}

/// One row of the decision log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRow {
    /// 0-based bar index in the run.
    pub seq: i64,
    /// Bar close time, ms since the epoch.
    pub time_ms: i64,
    /// Market state: the bar (`open`, `high`, `low`, `close`, `volume`, `buy_volume`,
    /// `sell_volume`) and the book at its close (`bid`, `ask`, `bid_depth`, `ask_depth`).
    pub market: Value,
    /// The strategy's state after this bar, when captured.
    pub strategy_state: Option<Value>,
    /// The strategy's target position.
    pub target: f64,
    /// The strategy's reason.
    pub reason: Option<String>,
    /// What the risk gate did.
    pub gate: Option<String>,
    /// The order placed at this close (target to reach at the next open).
    pub order_target: Option<f64>,
    /// Fill at this bar's open of the previous order: price.
    pub fill_price: Option<f64>,
    /// Signed units filled.
    pub fill_quantity: Option<f64>,
    /// Fee paid.
    pub fee: Option<f64>,
    /// Position after the bar (units).
    pub position: f64,
    /// Target held over the bar.
    pub held_target: f64,
    /// Cash after the bar.
    pub cash: f64,
    /// Equity at the close.
    pub equity: f64,
}

/// Market keys of a decision row, in CSV column order.
pub const MARKET_KEYS: [&str; 11] =
    ["open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "bid", "ask", "bid_depth", "ask_depth"];

impl DecisionRow {
    /// The CSV header of [`DecisionRow::csv_record`].
    pub fn csv_header() -> Vec<&'static str> {
        let mut h = vec!["seq", "time_ms"];
        h.extend(MARKET_KEYS);
        h.extend([
            "target",
            "reason",
            "gate",
            "order_target",
            "fill_price",
            "fill_quantity",
            "fee",
            "position",
            "held_target",
            "cash",
            "equity",
            "strategy_state",
        ]);
        h
    }

    /// The row as CSV fields (numbers in Rust's shortest round-trip form, empty for none).
    pub fn csv_record(&self) -> Vec<String> {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut out = vec![self.seq.to_string(), self.time_ms.to_string()];
        for k in MARKET_KEYS {
            out.push(match self.market.get(k) {
                Some(Value::Number(n)) => n.as_f64().map(|v| v.to_string()).unwrap_or_default(),
                _ => String::new(),
            });
        }
        out.push(self.target.to_string());
        out.push(self.reason.clone().unwrap_or_default());
        out.push(self.gate.clone().unwrap_or_default());
        out.push(opt(self.order_target));
        out.push(opt(self.fill_price));
        out.push(opt(self.fill_quantity));
        out.push(opt(self.fee));
        out.push(self.position.to_string());
        out.push(self.held_target.to_string());
        out.push(self.cash.to_string());
        out.push(self.equity.to_string());
        out.push(self.strategy_state.as_ref().map(|s| s.to_string()).unwrap_or_default());
        out
    }
}

/// A page of the decision log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionQuery {
    /// Only bars closing at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only bars closing before this time (ms).
    pub to_ms: Option<i64>,
    /// Only rows after this `seq` (the cursor of the previous page).
    pub after_seq: Option<i64>,
    /// Largest number of rows.
    pub limit: i64,
}

/// Progress of a run written together with its new decision rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    /// Bars processed in total.
    pub bars_done: i64,
    /// Close time of the last processed bar.
    pub last_bar_ms: Option<i64>,
    /// The portfolio after it.
    pub portfolio: Value,
    /// The strategy state after it.
    pub strategy_state: Option<Value>,
}

/// The kill switch's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillSwitch {
    /// True while engaged.
    pub engaged: bool,
    /// Why it was last changed.
    pub reason: Option<String>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A stored sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
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
    /// The results (table, best parameters), once finished.
    pub result: Option<Value>,
}

const SWEEP_COLUMNS: &str =
    "sweep_id, request, status, status_reason, created_at, finished_at, jobs_done, jobs_total, result";

fn sweep_row(r: &tokio_postgres::Row) -> SweepRow {
    SweepRow {
        sweep_id: r.get(0),
        request: r.get(1),
        status: r.get(2),
        status_reason: r.get(3),
        created_at: r.get(4),
        finished_at: r.get(5),
        jobs_done: r.get(6),
        jobs_total: r.get(7),
        result: r.get(8),
    }
}

/// Metrics runs are ranked by (the leaderboard, sweeps), and whether higher is better.
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
    pub mode: String,
    /// Status.
    pub status: String,
    /// The ranking metric's value.
    pub value: f64,
    /// Trades.
    pub trades: i64,
    /// All metrics.
    pub metrics: Value,
}

fn ttl_secs(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Store {
    /// Creates a run (status `pending`); returns its id.
    pub async fn insert_run(&self, run: &RunSpec) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO crypto_gaf.runs
                   (strategy, strategy_version, params, product, mode, from_ms, to_ms, bar_interval_ms, settings)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING run_id",
                &[
                    &run.strategy,
                    &run.strategy_version,
                    &run.params,
                    &run.product,
                    &run.mode,
                    &run.from_ms,
                    &run.to_ms,
                    &run.bar_interval_ms,
                    &run.settings,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    /// One run.
    pub async fn run(&self, run_id: i64) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM crypto_gaf.runs WHERE run_id = $1");
        Ok(self.client().await?.query_opt(&sql, &[&run_id]).await?.as_ref().map(run_row))
    }

    /// Runs, newest first, optionally of one mode and/or status.
    pub async fn list_runs(&self, mode: Option<&str>, status: Option<&str>, limit: i64) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM crypto_gaf.runs
             WHERE ($1::text IS NULL OR mode = $1) AND ($2::text IS NULL OR status = $2)
             ORDER BY run_id DESC LIMIT $3"
        );
        let rows = self.client().await?.query(&sql, &[&mode, &status, &limit]).await?;
        Ok(rows.iter().map(run_row).collect())
    }

    /// Claims the runs this worker may run: pending ones, its own, and running ones whose holder
    /// stopped heartbeating for `ttl`; renews the heartbeat of all of them. Returns them.
    pub async fn claim_runs(&self, worker: &str, ttl: Duration) -> Result<Vec<RunRow>> {
        let sql = format!(
            "UPDATE crypto_gaf.runs SET holder = $1, heartbeat_at = now(),
               status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
               started_at = coalesce(started_at, now())
             WHERE run_id IN (
               SELECT run_id FROM crypto_gaf.runs
               WHERE status IN ('pending', 'running')
                 AND (holder IS NULL OR holder = $1 OR heartbeat_at < now() - make_interval(secs => $2))
               ORDER BY run_id FOR UPDATE SKIP LOCKED)
             RETURNING {RUN_COLUMNS}"
        );
        let rows = self.client().await?.query(&sql, &[&worker, &ttl_secs(ttl)]).await?;
        let mut runs: Vec<RunRow> = rows.iter().map(run_row).collect();
        runs.sort_by_key(|r| r.run_id);
        Ok(runs)
    }

    /// Appends decision rows and the run's progress in one transaction, only while `holder`
    /// holds the run ([`Error::RunLost`] otherwise).
    pub async fn append_decisions(
        &self,
        run_id: i64,
        holder: &str,
        rows: &[DecisionRow],
        progress: &RunProgress,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Fenced on the holder and on the progress the rows continue from.
        let expected = progress.bars_done - rows.len() as i64;
        let held = tx
            .query_opt(
                "SELECT 1 FROM crypto_gaf.runs
                 WHERE run_id = $1 AND holder = $2 AND status = 'running' AND bars_done = $3 FOR UPDATE",
                &[&run_id, &holder, &expected],
            )
            .await?;
        if held.is_none() {
            return Err(Error::RunLost(run_id));
        }
        for chunk in rows.chunks(2000) {
            let col = |f: fn(&DecisionRow) -> Option<f64>| chunk.iter().map(f).collect::<Vec<Option<f64>>>();
            let seq: Vec<i64> = chunk.iter().map(|r| r.seq).collect();
            let time: Vec<i64> = chunk.iter().map(|r| r.time_ms).collect();
            let market: Vec<Value> = chunk.iter().map(|r| r.market.clone()).collect();
            let state: Vec<Option<Value>> = chunk.iter().map(|r| r.strategy_state.clone()).collect();
            let reason: Vec<Option<String>> = chunk.iter().map(|r| r.reason.clone()).collect();
            let gate: Vec<Option<String>> = chunk.iter().map(|r| r.gate.clone()).collect();
            tx.execute(
                "INSERT INTO crypto_gaf.decisions (run_id, seq, time_ms, market, strategy_state, target, reason, gate,
                   order_target, fill_price, fill_quantity, fee, position, held_target, cash, equity)
                 SELECT $1, * FROM unnest($2::int8[], $3::int8[], $4::jsonb[], $5::jsonb[], $6::float8[], $7::text[],
                   $8::text[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::float8[], $14::float8[],
                   $15::float8[], $16::float8[])",
                &[
                    &run_id,
                    &seq,
                    &time,
                    &market,
                    &state,
                    &col(|r| Some(r.target)),
                    &reason,
                    &gate,
                    &col(|r| r.order_target),
                    &col(|r| r.fill_price),
                    &col(|r| r.fill_quantity),
                    &col(|r| r.fee),
                    &col(|r| Some(r.position)),
                    &col(|r| Some(r.held_target)),
                    &col(|r| Some(r.cash)),
                    &col(|r| Some(r.equity)),
                ],
            )
            .await?;
        }
        tx.execute(
            "UPDATE crypto_gaf.runs SET bars_done = $2, last_bar_ms = coalesce($3, last_bar_ms), portfolio = $4,
               strategy_state = coalesce($5, strategy_state), heartbeat_at = now()
             WHERE run_id = $1",
            &[&run_id, &progress.bars_done, &progress.last_bar_ms, &progress.portfolio, &progress.strategy_state],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets what a backtest will process.
    pub async fn set_run_total(&self, run_id: i64, holder: &str, bars_total: i64) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET bars_total = $3 WHERE run_id = $1 AND holder = $2",
                &[&run_id, &holder, &bars_total],
            )
            .await?;
        Ok(())
    }

    /// Stores a running run's current metrics (only while `holder` holds it).
    pub async fn set_run_metrics(&self, run_id: i64, holder: &str, metrics: &Value) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET metrics = $3 WHERE run_id = $1 AND holder = $2 AND status = 'running'",
                &[&run_id, &holder, metrics],
            )
            .await?;
        Ok(())
    }

    /// Ends a run held by `holder`: `status` (`finished`, `stopped`, `failed`), why, final metrics
    /// and the decision log's hash.
    pub async fn end_run(
        &self,
        run_id: i64,
        holder: &str,
        status: &str,
        reason: Option<&str>,
        metrics: Option<&Value>,
        sha256: Option<&str>,
    ) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE crypto_gaf.runs SET status = $3, status_reason = $4, metrics = coalesce($5, metrics),
                   decision_log_sha256 = $6, finished_at = now(), holder = NULL
                 WHERE run_id = $1 AND holder = $2 AND status IN ('pending', 'running')",
                &[&run_id, &holder, &status, &reason, &metrics, &sha256],
            )
            .await?;
        if n == 0 {
            return Err(Error::RunLost(run_id));
        }
        Ok(())
    }

    /// Asks a run to stop. A pending run stops at once; a running one at its worker's next step.
    /// Returns the run afterwards, `None` when it does not exist.
    pub async fn request_stop(&self, run_id: i64, reason: &str) -> Result<Option<RunRow>> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE crypto_gaf.runs SET stop_requested = true,
                   status = CASE WHEN status = 'pending' THEN 'stopped' ELSE status END,
                   status_reason = CASE WHEN status = 'pending' THEN $2 ELSE status_reason END,
                   finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END
                 WHERE run_id = $1 AND status IN ('pending', 'running')",
                &[&run_id, &reason],
            )
            .await?;
        self.run(run_id).await
    }

    /// Whether a stop was requested for the run.
    pub async fn stop_requested(&self, run_id: i64) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT stop_requested FROM crypto_gaf.runs WHERE run_id = $1", &[&run_id])
            .await?;
        Ok(row.is_none_or(|r| r.get(0)))
    }

    /// A page of a run's decision log, in `seq` order.
    pub async fn decisions(&self, run_id: i64, q: &DecisionQuery) -> Result<Vec<DecisionRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, time_ms, market, strategy_state, target, reason, gate, order_target, fill_price,
                   fill_quantity, fee, position, held_target, cash, equity
                 FROM crypto_gaf.decisions
                 WHERE run_id = $1 AND ($2::int8 IS NULL OR time_ms >= $2) AND ($3::int8 IS NULL OR time_ms < $3)
                   AND ($4::int8 IS NULL OR seq > $4)
                 ORDER BY seq LIMIT $5",
                &[&run_id, &q.from_ms, &q.to_ms, &q.after_seq, &q.limit.max(0)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DecisionRow {
                seq: r.get(0),
                time_ms: r.get(1),
                market: r.get(2),
                strategy_state: r.get(3),
                target: r.get(4),
                reason: r.get(5),
                gate: r.get(6),
                order_target: r.get(7),
                fill_price: r.get(8),
                fill_quantity: r.get(9),
                fee: r.get(10),
                position: r.get(11),
                held_target: r.get(12),
                cash: r.get(13),
                equity: r.get(14),
            })
            .collect())
    }

    /// The run's equity and held-target series in `seq` order (for metrics).
    pub async fn run_series(&self, run_id: i64) -> Result<(Vec<f64>, Vec<f64>)> {
        let rows = self
            .client()
            .await?
            .query("SELECT equity, held_target FROM crypto_gaf.decisions WHERE run_id = $1 ORDER BY seq", &[&run_id])
            .await?;
        Ok(rows.iter().map(|r| (r.get::<_, f64>(0), r.get::<_, f64>(1))).unzip())
    }

    /// The equity curve `(time_ms, equity)`, thinned to at most about `max_points` points (the
    /// last point always included).
    pub async fn equity_curve(&self, run_id: i64, max_points: i64) -> Result<Vec<(i64, f64)>> {
        let client = self.client().await?;
        let n: i64 =
            client.query_one("SELECT count(*) FROM crypto_gaf.decisions WHERE run_id = $1", &[&run_id]).await?.get(0);
        let step = (n + max_points.max(1) - 1) / max_points.max(1);
        let rows = client
            .query(
                "SELECT time_ms, equity FROM crypto_gaf.decisions
                 WHERE run_id = $1 AND (seq % $2::int8 = 0 OR seq = $3::int8 - 1) ORDER BY seq",
                &[&run_id, &step.max(1), &n],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The kill switch.
    pub async fn kill_switch(&self) -> Result<KillSwitch> {
        let r = self
            .client()
            .await?
            .query_one("SELECT engaged, reason, changed_at FROM crypto_gaf.kill_switch WHERE id", &[])
            .await?;
        Ok(KillSwitch { engaged: r.get(0), reason: r.get(1), changed_at: r.get(2) })
    }

    /// Engages or releases the kill switch.
    pub async fn set_kill_switch(&self, engaged: bool, reason: &str) -> Result<KillSwitch> {
        let r = self
            .client()
            .await?
            .query_one(
                "UPDATE crypto_gaf.kill_switch SET engaged = $1, reason = $2, changed_at = now() WHERE id
                 RETURNING engaged, reason, changed_at",
                &[&engaged, &reason],
            )
            .await?;
        Ok(KillSwitch { engaged: r.get(0), reason: r.get(1), changed_at: r.get(2) })
    }

    /// Runs ranked by `metric` (one of [`RANKED_METRICS`]), best first; ties broken by
    /// `run_id` (the earlier run first) so the order is stable. Runs without the metric, or with
    /// fewer than `min_trades` trades, are left out.
    pub async fn leaderboard(
        &self,
        metric: &str,
        mode: Option<&str>,
        min_trades: i64,
        limit: i64,
    ) -> Result<Vec<LeaderboardEntry>> {
        let Some(higher) = ranked_metric(metric) else {
            return Err(Error::Config(format!("unknown metric {metric:?}")));
        };
        // `metric` is one of the constant names, so formatting it into the SQL is safe.
        let name = metric;
        let order = if higher { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT run_id, strategy, strategy_version, params, product, mode, status,
               (metrics->>'{name}')::float8 AS value, coalesce((metrics->>'trades')::int8, 0) AS trades, metrics
             FROM crypto_gaf.runs
             WHERE metrics IS NOT NULL AND jsonb_typeof(metrics->'{name}') = 'number'
               AND ($1::text IS NULL OR mode = $1) AND coalesce((metrics->>'trades')::int8, 0) >= $2
             ORDER BY value {order}, run_id ASC LIMIT $3"
        );
        let rows = self.client().await?.query(&sql, &[&mode, &min_trades, &limit]).await?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| LeaderboardEntry {
                rank: i as i64 + 1,
                run_id: r.get(0),
                strategy: r.get(1),
                strategy_version: r.get(2),
                params: r.get(3),
                product: r.get(4),
                mode: r.get(5),
                status: r.get(6),
                value: r.get(7),
                trades: r.get(8),
                metrics: r.get(9),
            })
            .collect())
    }

    /// Creates a sweep (status `pending`); returns its id.
    pub async fn insert_sweep(&self, request: &Value) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one("INSERT INTO crypto_gaf.sweeps (request) VALUES ($1) RETURNING sweep_id", &[request])
            .await?;
        Ok(row.get(0))
    }

    /// One sweep.
    pub async fn sweep(&self, sweep_id: i64) -> Result<Option<SweepRow>> {
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM crypto_gaf.sweeps WHERE sweep_id = $1");
        Ok(self.client().await?.query_opt(&sql, &[&sweep_id]).await?.as_ref().map(sweep_row))
    }

    /// Sweeps, newest first.
    pub async fn list_sweeps(&self, limit: i64) -> Result<Vec<SweepRow>> {
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM crypto_gaf.sweeps ORDER BY sweep_id DESC LIMIT $1");
        Ok(self.client().await?.query(&sql, &[&limit]).await?.iter().map(sweep_row).collect())
    }

    /// A finished sweep's heatmap PNG.
    pub async fn sweep_heatmap(&self, sweep_id: i64) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT heatmap_png FROM crypto_gaf.sweeps WHERE sweep_id = $1", &[&sweep_id])
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    /// Claims one sweep this worker may run (pending, or abandoned by a silent holder).
    pub async fn claim_sweep(&self, worker: &str, ttl: Duration) -> Result<Option<SweepRow>> {
        let sql = format!(
            "UPDATE crypto_gaf.sweeps SET holder = $1, heartbeat_at = now(), status = 'running', jobs_done = 0
             WHERE sweep_id = (
               SELECT sweep_id FROM crypto_gaf.sweeps
               WHERE status = 'pending' OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $2))
               ORDER BY sweep_id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {SWEEP_COLUMNS}"
        );
        Ok(self.client().await?.query_opt(&sql, &[&worker, &ttl_secs(ttl)]).await?.as_ref().map(sweep_row))
    }

    /// Records a sweep's progress (and renews the claim).
    pub async fn sweep_progress(&self, sweep_id: i64, holder: &str, done: i64, total: i64) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.sweeps SET jobs_done = $3, jobs_total = $4, heartbeat_at = now()
                 WHERE sweep_id = $1 AND holder = $2",
                &[&sweep_id, &holder, &done, &total],
            )
            .await?;
        Ok(())
    }

    /// Ends a sweep: its result and heatmap, or why it failed.
    pub async fn end_sweep(
        &self,
        sweep_id: i64,
        holder: &str,
        result: std::result::Result<(&Value, Option<&[u8]>), &str>,
    ) -> Result<()> {
        let client = self.client().await?;
        match result {
            Ok((value, png)) => {
                client
                    .execute(
                        "UPDATE crypto_gaf.sweeps SET status = 'finished', result = $3, heatmap_png = $4,
                           finished_at = now(), holder = NULL WHERE sweep_id = $1 AND holder = $2",
                        &[&sweep_id, &holder, value, &png],
                    )
                    .await?
            }
            Err(reason) => {
                client
                    .execute(
                        "UPDATE crypto_gaf.sweeps SET status = 'failed', status_reason = $3, finished_at = now(),
                           holder = NULL WHERE sweep_id = $1 AND holder = $2",
                        &[&sweep_id, &holder, &reason],
                    )
                    .await?
            }
        };
        Ok(())
    }

    /// Samples of `product` taken in `[from_ms, to_ms)` (either bound optional), oldest first, as
    /// the trade worker needs them: time, midpoint, taker buy and sell size, best bid and ask and
    /// the summed sizes of the stored levels.
    pub async fn sample_points(
        &self,
        product: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<SamplePointRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT floor(extract(epoch FROM sampled_at) * 1000)::int8 AS t, midpoint::float8,
                   coalesce(buys[2], 0)::float8, coalesce(sells[2], 0)::float8,
                   coalesce(bid_prices[1], 0)::float8, coalesce(ask_prices[1], 0)::float8,
                   coalesce((SELECT sum(x) FROM unnest(bid_sizes) x), 0)::float8,
                   coalesce((SELECT sum(x) FROM unnest(ask_sizes) x), 0)::float8
                 FROM crypto_gaf.samples
                 WHERE product = $1 AND midpoint IS NOT NULL
                   AND ($2::int8 IS NULL OR sampled_at >= to_timestamp($2::float8 / 1000))
                   AND ($3::int8 IS NULL OR sampled_at < to_timestamp($3::float8 / 1000))
                 ORDER BY sampled_at, sample_id",
                &[&product, &from_ms, &to_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SamplePointRow {
                time_ms: r.get(0),
                midpoint: r.get(1),
                buy_size: r.get(2),
                sell_size: r.get(3),
                bid: r.get(4),
                ask: r.get(5),
                bid_depth: r.get(6),
                ask_depth: r.get(7),
            })
            .collect())
    }
}

/// A sample as the trade worker reads it (see [`Store::sample_points`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePointRow {
    /// When it was taken, ms since the epoch.
    pub time_ms: i64,
    /// Midpoint.
    pub midpoint: f64,
    /// Taker-buy size since the previous sample.
    pub buy_size: f64,
    /// Taker-sell size since the previous sample.
    pub sell_size: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Summed bid sizes.
    pub bid_depth: f64,
    /// Summed ask sizes.
    pub ask_depth: f64,
}

impl Store {
    /// Discards a run's decision log and progress (a backtest restarting on a new worker).
    pub async fn reset_run_log(&self, run_id: i64, holder: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE crypto_gaf.runs SET bars_done = 0, last_bar_ms = NULL, portfolio = NULL, strategy_state = NULL
                 WHERE run_id = $1 AND holder = $2",
                &[&run_id, &holder],
            )
            .await?;
        if n == 0 {
            return Err(Error::RunLost(run_id));
        }
        tx.execute("DELETE FROM crypto_gaf.decisions WHERE run_id = $1", &[&run_id]).await?;
        tx.commit().await?;
        Ok(())
    }
}
