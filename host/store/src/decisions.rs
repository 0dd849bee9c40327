//! The decision log of runs: appending rows with the run's progress (fenced on the holder and on
//! the progress they continue from), reading pages, checkpoints of the strategy state, the
//! equity series and curve, and discarding a log that starts again. The row is the domain's
//! [`DecisionRow`]; it is stored in blocks of consecutive rows ([`DecisionBlock`], table
//! `crypto_gaf.decision_blocks`), one block per append, small appends merged per span of 1024
//! rows.

use crate::{Error, Result, Store};
use cgaf_trade_domain::{Bar, DecisionBlock, DecisionRow};
use serde_json::Value;
use tokio_postgres::types::Json;

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

/// When an append's transaction is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendCommit {
    /// On disk when the append returns (a paper run resumes from its last append).
    Durable,
    /// Durable with the run's end (`synchronous_commit = off` for the append's transaction):
    /// a crash of PostgreSQL may lose the latest appends, together with the progress written
    /// with them, never a part of one. For a backtest, which a restart runs again from its start
    /// (its log discarded), and whose end is committed synchronously: that commit flushes the
    /// write-ahead log up to it, every append before it included.
    WithRunEnd,
}

/// Small appends (a paper run's steps, one block each) are merged into one block per span of this
/// many rows once the span is complete: a long paper run's log keeps about one block per
/// `MERGE_SPAN` rows, not one per step (each block costs a table row, an index entry and its
/// arrays; resuming decodes every block).
const MERGE_SPAN: i64 = 1024;

/// Merges the blocks lying wholly inside the span of [`MERGE_SPAN`] rows that an append of the
/// rows `[before, after)` completed (if it completed one), when there are two or more: their rows
/// decoded and stored again as one block. Blocks reaching across the span's bounds stay.
async fn merge_completed_span(
    tx: &deadpool_postgres::Transaction<'_>,
    run_id: i64,
    before: i64,
    after: i64,
) -> Result<()> {
    let end = after / MERGE_SPAN * MERGE_SPAN;
    if end <= before || end == 0 {
        return Ok(());
    }
    let start = end - MERGE_SPAN;
    let inside = tx
        .prepare_cached(
            "SELECT first_seq, time_ms, equity, data FROM crypto_gaf.decision_blocks
             WHERE run_id = $1 AND first_seq >= $2 AND first_seq + rows <= $3 ORDER BY first_seq",
        )
        .await?;
    let blocks = tx.query(&inside, &[&run_id, &start, &end]).await?;
    if blocks.len() < 2 {
        return Ok(());
    }
    let mut rows = Vec::new();
    for b in &blocks {
        rows.extend(block(b).decode().map_err(bad_block)?);
    }
    let delete = tx
        .prepare_cached(
            "DELETE FROM crypto_gaf.decision_blocks WHERE run_id = $1 AND first_seq >= $2 AND first_seq + rows <= $3",
        )
        .await?;
    tx.execute(&delete, &[&run_id, &start, &end]).await?;
    insert_block(tx, run_id, &rows).await
}

/// Blocks whose extent is read per query while a page is gathered.
const BLOCKS_PER_QUERY: i64 = 64;

/// A block also keeps the close time and equity of the rows whose `seq` is a multiple of this:
/// an equity curve thinned by at least as much reads only those (a year of 1-minute decisions:
/// 8,213 points instead of 525,600).
const CURVE_STRIDE: usize = 64;

fn bad_block(e: cgaf_trade_domain::Error) -> Error {
    Error::BadData { what: "decision_blocks.data", detail: e.to_string() }
}

/// A stored block of a run's log.
fn block(r: &tokio_postgres::Row) -> DecisionBlock {
    DecisionBlock {
        first_seq: r.get("first_seq"),
        time_ms: r.get("time_ms"),
        equity: r.get("equity"),
        data: r.get("data"),
    }
}

/// A row of the former one-row-per-bar table (read only to move it into blocks).
fn row_table_decision(r: &tokio_postgres::Row) -> Result<DecisionRow> {
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

/// Inserts `rows` (consecutive, not empty) as one block.
async fn insert_block(tx: &deadpool_postgres::Transaction<'_>, run_id: i64, rows: &[DecisionRow]) -> Result<()> {
    let b = DecisionBlock::encode(rows).map_err(bad_block)?;
    let (first_time, last_time) = (b.time_ms[0], b.time_ms[b.time_ms.len() - 1]);
    let on_curve = |i: &usize| (b.first_seq as usize + i).is_multiple_of(CURVE_STRIDE);
    let curve_time: Vec<i64> = (0..rows.len()).filter(on_curve).map(|i| b.time_ms[i]).collect();
    let curve_equity: Vec<f64> = (0..rows.len()).filter(on_curve).map(|i| b.equity[i]).collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO crypto_gaf.decision_blocks (run_id, first_seq, rows, first_time_ms, last_time_ms, time_ms,
               equity, curve_time_ms, curve_equity, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &run_id,
            &b.first_seq,
            &(rows.len() as i32),
            &first_time,
            &last_time,
            &b.time_ms,
            &b.equity,
            &curve_time,
            &curve_equity,
            &b.data,
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Appends decision rows (consecutive, continuing the log) as one block, and the run's
    /// progress, in one transaction, only while `holder` holds the run ([`Error::RunLost`]
    /// otherwise), committed as `commit` says. An append of fewer than 1024 rows that completes
    /// a span of 1024 rows merges the span's blocks into one (a paper run appends a block per
    /// step).
    pub async fn append_decisions(
        &self,
        run_id: i64,
        holder: &str,
        rows: &[DecisionRow],
        progress: &RunProgress,
        commit: AppendCommit,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if commit == AppendCommit::WithRunEnd {
            let deferred = tx.prepare_cached("SET LOCAL synchronous_commit = off").await?;
            tx.execute(&deferred, &[]).await?;
        }
        // Fenced on the holder and on the progress the rows continue from.
        let expected = progress.bars_done - rows.len() as i64;
        let fence = tx
            .prepare_cached(
                "SELECT 1 FROM crypto_gaf.runs
                 WHERE run_id = $1 AND holder = $2 AND status = 'running' AND bars_done = $3 FOR UPDATE",
            )
            .await?;
        if tx.query_opt(&fence, &[&run_id, &holder, &expected]).await?.is_none() {
            return Err(Error::RunLost(run_id));
        }
        if !rows.is_empty() {
            insert_block(&tx, run_id, rows).await?;
            if (rows.len() as i64) < MERGE_SPAN {
                merge_completed_span(&tx, run_id, expected, progress.bars_done).await?;
            }
        }
        let update = tx
            .prepare_cached(
                "UPDATE crypto_gaf.runs SET bars_done = $2, last_bar_ms = coalesce($3, last_bar_ms), portfolio = $4,
                   strategy_state = coalesce($5, strategy_state), heartbeat_at = now()
                 WHERE run_id = $1",
            )
            .await?;
        tx.execute(
            &update,
            &[&run_id, &progress.bars_done, &progress.last_bar_ms, &progress.portfolio, &progress.strategy_state],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of a run's decision log, in `seq` order.
    pub async fn decisions(&self, run_id: i64, q: &DecisionQuery) -> Result<Vec<DecisionRow>> {
        let client = self.client().await?;
        let limit = q.limit.max(0) as usize;
        let mut out = Vec::new();
        // The blocks that may hold rows of the page, by their extent; read and decoded in turn.
        let mut after_block: Option<i64> = None;
        while out.len() < limit {
            let extents = client
                .query(
                    "SELECT first_seq, rows FROM crypto_gaf.decision_blocks
                     WHERE run_id = $1 AND first_seq + rows - 1 > coalesce($2::int8, -1)
                       AND ($3::int8 IS NULL OR last_time_ms >= $3) AND ($4::int8 IS NULL OR first_time_ms < $4)
                       AND ($5::int8 IS NULL OR first_seq > $5)
                     ORDER BY first_seq LIMIT $6",
                    &[&run_id, &q.after_seq, &q.from_ms, &q.to_ms, &after_block, &BLOCKS_PER_QUERY],
                )
                .await?;
            if extents.is_empty() {
                break;
            }
            // Enough blocks to fill the page (a block's first rows may fall before the cursor or the range).
            let mut wanted = Vec::new();
            let mut rows = 0usize;
            for e in &extents {
                wanted.push(e.get::<_, i64>("first_seq"));
                rows += e.get::<_, i32>("rows") as usize;
                if out.len() + rows > limit {
                    break;
                }
            }
            after_block = wanted.last().copied();
            let blocks = client
                .query(
                    "SELECT first_seq, time_ms, equity, data FROM crypto_gaf.decision_blocks
                     WHERE run_id = $1 AND first_seq = ANY($2) ORDER BY first_seq",
                    &[&run_id, &wanted],
                )
                .await?;
            for b in &blocks {
                for r in block(b).decode().map_err(bad_block)? {
                    let wanted = q.after_seq.is_none_or(|a| r.seq > a)
                        && q.from_ms.is_none_or(|f| r.time_ms >= f)
                        && q.to_ms.is_none_or(|t| r.time_ms < t);
                    if wanted && out.len() < limit {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The last row before `before_seq` that carries the strategy state (a checkpoint): its `seq`
    /// and state; `None` when no earlier row has one (the run's start).
    pub async fn decision_checkpoint(&self, run_id: i64, before_seq: i64) -> Result<Option<(i64, Value)>> {
        let client = self.client().await?;
        let mut before = before_seq;
        loop {
            let Some(b) = client
                .query_opt(
                    "SELECT first_seq, time_ms, equity, data FROM crypto_gaf.decision_blocks
                     WHERE run_id = $1 AND first_seq < $2 ORDER BY first_seq DESC LIMIT 1",
                    &[&run_id, &before],
                )
                .await?
            else {
                return Ok(None);
            };
            let b = block(&b);
            let rows = b.decode().map_err(bad_block)?;
            let found =
                rows.into_iter().rev().filter(|r| r.seq < before_seq).find_map(|r| Some((r.seq, r.strategy_state?)));
            if found.is_some() {
                return Ok(found);
            }
            before = b.first_seq;
        }
    }

    /// The run's equity and held-target series in `seq` order (for metrics).
    pub async fn run_series(&self, run_id: i64) -> Result<(Vec<f64>, Vec<f64>)> {
        let blocks = self
            .client()
            .await?
            .query(
                "SELECT first_seq, time_ms, equity, data FROM crypto_gaf.decision_blocks
                 WHERE run_id = $1 ORDER BY first_seq",
                &[&run_id],
            )
            .await?;
        let (mut equity, mut held) = (Vec::new(), Vec::new());
        for b in &blocks {
            for r in block(b).decode().map_err(bad_block)? {
                equity.push(r.equity);
                held.push(r.held_target);
            }
        }
        Ok((equity, held))
    }

    /// The equity curve `(time_ms, equity)`: every `step`-th row (`seq % step == 0`) and the
    /// last, `step` chosen so that there are at most about `max_points` points. A step of at least
    /// 64 is rounded up to a multiple of 64, and only the blocks' every-64th-row
    /// arrays are read (what a long run's polls cost).
    pub async fn equity_curve(&self, run_id: i64, max_points: i64) -> Result<Vec<(i64, f64)>> {
        let client = self.client().await?;
        // The log's rows are seq 0..n in consecutive blocks: the last block tells n and the
        // last point.
        let Some(last) = client
            .query_opt(
                "SELECT first_seq + rows AS n, time_ms[rows] AS t, equity[rows] AS e FROM crypto_gaf.decision_blocks
                 WHERE run_id = $1 ORDER BY first_seq DESC LIMIT 1",
                &[&run_id],
            )
            .await?
        else {
            return Ok(Vec::new());
        };
        let n = usize::try_from(last.get::<_, i64>("n")).unwrap_or(0);
        let last_point: (i64, f64) = (last.get("t"), last.get("e"));
        let max_points = usize::try_from(max_points).unwrap_or(0).max(1);
        let step = n.div_ceil(max_points).max(1);
        // A long curve reads the every-64th-row arrays: its step is a multiple of 64 and the
        // points of a block are every 64th seq from its first multiple of 64. Only the blocks
        // holding a point (a seq that is a multiple of the step) are read: a paper run writes a
        // block per step, and a week of 1-second steps is 604,800 blocks.
        let (step, stride, times, equities) = if step >= CURVE_STRIDE {
            (step.div_ceil(CURVE_STRIDE) * CURVE_STRIDE, CURVE_STRIDE, "curve_time_ms", "curve_equity")
        } else {
            (step, 1, "time_ms", "equity")
        };
        let query = format!(
            "SELECT first_seq, {times} AS t, {equities} AS e FROM crypto_gaf.decision_blocks
             WHERE run_id = $1 AND (first_seq + rows - 1) / $2 * $2 >= first_seq ORDER BY first_seq"
        );
        let mut curve = Vec::new();
        let step_param = i64::try_from(step).unwrap_or(i64::MAX);
        for b in client.query(&query, &[&run_id, &step_param]).await? {
            let start = usize::try_from(b.get::<_, i64>("first_seq")).unwrap_or(0).div_ceil(stride) * stride;
            let (t, e): (Vec<i64>, Vec<f64>) = (b.get("t"), b.get("e"));
            for (j, point) in t.into_iter().zip(e).enumerate() {
                if (start + j * stride).is_multiple_of(step) {
                    curve.push(point);
                }
            }
        }
        // The last row, when it is not a point already.
        if n > 0 && !(n - 1).is_multiple_of(step) {
            curve.push(last_point);
        }
        Ok(curve)
    }

    /// Moves the rows of the former one-row-per-bar table (`crypto_gaf.decisions`, before
    /// migration 16) into blocks, a run at a time in one transaction, and drops the table. Does
    /// nothing once the table is gone. Called by [`Store::migrate`].
    pub(crate) async fn move_decision_rows_into_blocks(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::migrate::MIGRATION_LOCK]).await?;
        let exists: bool = tx.query_one("SELECT to_regclass('crypto_gaf.decisions') IS NOT NULL", &[]).await?.get(0);
        if !exists {
            return Ok(());
        }
        let runs: Vec<i64> = tx
            .query("SELECT DISTINCT run_id FROM crypto_gaf.decisions ORDER BY run_id", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut moved = 0usize;
        if !runs.is_empty() {
            tracing::info!(runs = runs.len(), "moving the decision log into blocks (migration 16), a run at a time");
        }
        for (done, run_id) in runs.iter().enumerate() {
            let before = moved;
            let mut after = -1i64;
            loop {
                let page = tx
                    .query(
                        "SELECT seq, time_ms, market, strategy_state, target, reason, gate, order_target, fill_price,
                           fill_quantity, fee, position, held_target, cash, equity, strategy_version
                         FROM crypto_gaf.decisions WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 2000",
                        &[run_id, &after],
                    )
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.get("seq");
                let rows = page.iter().map(row_table_decision).collect::<Result<Vec<_>>>()?;
                // A block holds consecutive rows: a gap in `seq` starts another.
                for run in rows.chunk_by(|a, b| b.seq == a.seq + 1) {
                    insert_block(&tx, *run_id, run).await?;
                }
                moved += rows.len();
            }
            // Progress: a large log takes a while to move.
            tracing::info!(
                run = run_id,
                rows = moved - before,
                done = done + 1,
                of = runs.len(),
                "moved a run's decision log"
            );
        }
        tx.batch_execute("DROP TABLE crypto_gaf.decisions").await?;
        tx.commit().await?;
        tracing::info!(runs = runs.len(), rows = moved, "moved the decision log into blocks");
        Ok(())
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
        tx.execute("DELETE FROM crypto_gaf.decision_blocks WHERE run_id = $1", &[&run_id]).await?;
        tx.commit().await?;
        Ok(())
    }
}
