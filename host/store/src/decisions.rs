//! The decision log of runs: appending rows with the run's progress (fenced on the holder and on
//! the progress they continue from), reading pages, the equity series and curve, and discarding
//! a log that starts again. The row is the domain's [`DecisionRow`].

use crate::{Error, Result, Store};
use cgaf_trade_domain::{Bar, DecisionRow};
use serde_json::Value;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};

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

/// Column types of the decision log's binary COPY.
const DECISION_COPY_TYPES: [Type; 17] = [
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::JSON,
    Type::JSON,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::TEXT,
];

fn decision_row(r: &tokio_postgres::Row) -> Result<DecisionRow> {
    let Json(market): Json<Bar> =
        r.try_get("market").map_err(|e| Error::BadData { what: "decisions.market", detail: e.to_string() })?;
    Ok(DecisionRow {
        seq: r.get("seq"),
        time_ms: r.get("time_ms"),
        market,
        strategy_state: r.get("strategy_state"),
        target: r.get("target"),
        reason: r.get("reason"),
        gate: r.get("gate"),
        order_target: r.get("order_target"),
        fill_price: r.get("fill_price"),
        fill_quantity: r.get("fill_quantity"),
        fee: r.get("fee"),
        position: r.get("position"),
        held_target: r.get("held_target"),
        cash: r.get("cash"),
        equity: r.get("equity"),
        strategy_version: r.get("strategy_version"),
    })
}

impl Store {
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
        // Binary COPY: the decision log is the bulk of a backtest's writes.
        let sink = tx
            .copy_in(
                "COPY crypto_gaf.decisions (run_id, seq, time_ms, market, strategy_state, target, reason, gate,
                   order_target, fill_price, fill_quantity, fee, position, held_target, cash, equity, strategy_version)
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &DECISION_COPY_TYPES);
        futures::pin_mut!(writer);
        for r in rows {
            let market = Json(&r.market);
            let row: [&(dyn ToSql + Sync); 17] = [
                &run_id,
                &r.seq,
                &r.time_ms,
                &market,
                &r.strategy_state,
                &r.target,
                &r.reason,
                &r.gate,
                &r.order_target,
                &r.fill_price,
                &r.fill_quantity,
                &r.fee,
                &r.position,
                &r.held_target,
                &r.cash,
                &r.equity,
                &r.strategy_version,
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
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

    /// A page of a run's decision log, in `seq` order.
    pub async fn decisions(&self, run_id: i64, q: &DecisionQuery) -> Result<Vec<DecisionRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, time_ms, market, strategy_state, target, reason, gate, order_target, fill_price,
                   fill_quantity, fee, position, held_target, cash, equity, strategy_version
                 FROM crypto_gaf.decisions
                 WHERE run_id = $1 AND ($2::int8 IS NULL OR time_ms >= $2) AND ($3::int8 IS NULL OR time_ms < $3)
                   AND ($4::int8 IS NULL OR seq > $4)
                 ORDER BY seq LIMIT $5",
                &[&run_id, &q.from_ms, &q.to_ms, &q.after_seq, &q.limit.max(0)],
            )
            .await?;
        rows.iter().map(decision_row).collect()
    }

    /// The last row before `before_seq` that carries the strategy state (a checkpoint): its `seq`
    /// and state; `None` when no earlier row has one (the run's start).
    pub async fn decision_checkpoint(&self, run_id: i64, before_seq: i64) -> Result<Option<(i64, Value)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT seq, strategy_state FROM crypto_gaf.decisions
                 WHERE run_id = $1 AND seq < $2 AND strategy_state IS NOT NULL ORDER BY seq DESC LIMIT 1",
                &[&run_id, &before_seq],
            )
            .await?;
        Ok(row.map(|r| (r.get("seq"), r.get("strategy_state"))))
    }

    /// The run's equity and held-target series in `seq` order (for metrics).
    pub async fn run_series(&self, run_id: i64) -> Result<(Vec<f64>, Vec<f64>)> {
        let rows = self
            .client()
            .await?
            .query("SELECT equity, held_target FROM crypto_gaf.decisions WHERE run_id = $1 ORDER BY seq", &[&run_id])
            .await?;
        Ok(rows.iter().map(|r| (r.get::<_, f64>("equity"), r.get::<_, f64>("held_target"))).unzip())
    }

    /// The equity curve `(time_ms, equity)`, thinned to at most about `max_points` points (the
    /// last point always included).
    pub async fn equity_curve(&self, run_id: i64, max_points: i64) -> Result<Vec<(i64, f64)>> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) AS n FROM crypto_gaf.decisions WHERE run_id = $1", &[&run_id])
            .await?
            .get("n");
        let step = (n + max_points.max(1) - 1) / max_points.max(1);
        let rows = client
            .query(
                "SELECT time_ms, equity FROM crypto_gaf.decisions
                 WHERE run_id = $1 AND (seq % $2::int8 = 0 OR seq = $3::int8 - 1) ORDER BY seq",
                &[&run_id, &step.max(1), &n],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get("time_ms"), r.get("equity"))).collect())
    }

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
