//! Bar blocks (`crypto_gaf.bar_blocks`): the bars of one product, interval and partition period
//! as one encoded value ([`cgaf_trade_domain::history::bar_block`]), the copy runs read instead of
//! the period's rows. The rows stay the truth. The protocol that keeps a block equal to them:
//!
//! - every write of bars (`forget_bar_blocks`: collect's 1-second bar, rollups, an import's
//!   merge) takes the lock of the product's blocks of that interval shared and deletes the
//!   blocks of the periods it writes into, in its own transaction; retention drops a partition's
//!   block with the partition;
//! - blocks are written only by an import into a range with nothing stored around it
//!   (`BlockWriter`), a period's block as soon as its bars are written; at the end the import
//!   takes the lock exclusively (so it waits for every writer that has deleted blocks and not yet
//!   committed, and writers after it wait for its commit and then delete what they write over),
//!   and keeps a block only when a count of the period's rows equals its bars (nothing else is
//!   stored in the period), deleting every other block of the periods it wrote into.

use crate::types::time_of_ms;
use crate::{Error, Result, Store};
use cgaf_trade_domain::history::{block_period, decode_bar_block, encode_bar_block, HistoryBar};
use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

/// A stored block: its period and the bars it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarBlockEntry {
    /// Start of the period (ms, inclusive).
    pub starts_ms: i64,
    /// End of the period (ms, exclusive).
    pub ends_ms: i64,
    /// Bars in the block.
    pub bars: i64,
    /// Close of its first bar, ms.
    pub first_ms: i64,
    /// Close of its last bar, ms.
    pub last_ms: i64,
}

/// Deletes the blocks of `product`'s bars of `interval_ms` whose periods hold closes in
/// `(after_ms, until_ms]`, holding their lock shared until the transaction ends: what every
/// write of bars into that range does in its transaction (`crypto_gaf.forget_bar_blocks`).
pub(crate) async fn forget_bar_blocks<C: GenericClient>(
    client: &C,
    product: &str,
    interval_ms: i64,
    after_ms: i64,
    until_ms: i64,
) -> Result<()> {
    client
        .execute(
            "SELECT crypto_gaf.forget_bar_blocks($1, $2, $3, $4)",
            &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(until_ms)],
        )
        .await?;
    Ok(())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// The blocks of `product`'s bars of `interval_ms` holding bars that close in
    /// `(after_ms, until_ms]`, oldest first.
    pub async fn bar_block_directory(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<BarBlockEntry>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT starts, ends, bars, first_close, last_close FROM crypto_gaf.bar_blocks
                 WHERE product = $1 AND interval_ms = $2 AND last_close > $3 AND first_close <= $4
                 ORDER BY starts",
            )
            .await?;
        let rows =
            client.query(&statement, &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(until_ms)]).await?;
        Ok(rows
            .iter()
            .map(|r| BarBlockEntry {
                starts_ms: ms(r.get(0)),
                ends_ms: ms(r.get(1)),
                bars: i64::from(r.get::<_, i32>(2)),
                first_ms: ms(r.get(3)),
                last_ms: ms(r.get(4)),
            })
            .collect())
    }

    /// The bars of the block of `product`'s bars of `interval_ms` whose period starts at
    /// `starts_ms`, or `None` when there is none (any more).
    pub async fn bar_block(&self, product: &str, interval_ms: i64, starts_ms: i64) -> Result<Option<Vec<HistoryBar>>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT data FROM crypto_gaf.bar_blocks WHERE product = $1 AND interval_ms = $2 AND starts = $3",
            )
            .await?;
        let Some(row) = client.query_opt(&statement, &[&product, &interval_ms, &time_of_ms(starts_ms)]).await? else {
            return Ok(None);
        };
        let data: &[u8] = row.get(0);
        decode_bar_block(data).map(Some).map_err(|e| Error::BadData { what: "bar_blocks.data", detail: e.to_string() })
    }
}

/// Bars a period's block is given room for at once, at most (a period of 1-second bars holds
/// 86,400).
const PERIOD_CAPACITY: i64 = 100_000;

/// Writes the blocks of an import's bars of one interval as it goes (fed in close order): each
/// period's block when its last bar has passed, then, at the end of the import, keeps only the
/// blocks of periods that hold nothing but the bars the import wrote (see the module).
#[derive(Debug)]
pub(crate) struct BlockWriter {
    interval_ms: i64,
    /// The period being filled and its bars.
    current: Option<((i64, i64), Vec<HistoryBar>)>,
    /// The block of the period filled last, being encoded on a blocking thread while the import
    /// goes on (written when the next period is filled, or at the end).
    encoding: Option<tokio::task::JoinHandle<Result<Option<EncodedBlock>>>>,
    /// Periods whose block this import wrote, with the bars in it.
    written: Vec<(i64, i64)>,
    /// First and last close written.
    span: Option<(i64, i64)>,
}

impl BlockWriter {
    pub(crate) fn new(interval_ms: i64) -> Self {
        BlockWriter { interval_ms, current: None, encoding: None, written: Vec::new(), span: None }
    }

    /// The interval whose blocks it writes.
    pub(crate) fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Adds bars written by the import (close order, after those added before); writes the
    /// blocks of the periods they complete.
    pub(crate) async fn push(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        product: &str,
        bars: &[HistoryBar],
    ) -> Result<()> {
        if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
            self.span = Some(self.span.map_or((first.close_ms, last.close_ms), |(f, _)| (f, last.close_ms)));
        }
        let mut rest = bars;
        while let Some(first) = rest.first() {
            match &mut self.current {
                Some(((_, ends), period_bars)) if first.close_ms < *ends => {
                    let ends = *ends;
                    let n = rest.partition_point(|b| b.close_ms < ends);
                    period_bars.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                }
                _ => {
                    self.write_current(tx, product).await?;
                    let period = block_period(self.interval_ms, first.close_ms);
                    let whole = ((period.1 - period.0) / self.interval_ms.max(1)).clamp(1, PERIOD_CAPACITY);
                    self.current = Some((period, Vec::with_capacity(whole as usize)));
                }
            }
        }
        Ok(())
    }

    /// Writes the block of the period filled before, once encoded, and starts encoding the
    /// block of the period being filled (on a blocking thread, so it overlaps the import's next
    /// COPY). A period whose block another transaction holds keeps that one; the end of the
    /// import deletes it.
    pub(crate) async fn write_current(&mut self, tx: &tokio_postgres::Transaction<'_>, product: &str) -> Result<()> {
        self.write_encoded(tx, product).await?;
        if let Some((period, bars)) = self.current.take() {
            self.encoding = Some(tokio::task::spawn_blocking(move || EncodedBlock::encode(period, &bars)));
        }
        Ok(())
    }

    /// Writes the block being encoded, if any, once it is.
    async fn write_encoded(&mut self, tx: &tokio_postgres::Transaction<'_>, product: &str) -> Result<()> {
        let Some(encoding) = self.encoding.take() else {
            return Ok(());
        };
        let encoded = encoding
            .await
            .map_err(|e| Error::BadData { what: "bar_blocks.data", detail: format!("encoding a block: {e}") })??;
        if let Some(block) = encoded {
            if block.insert(tx, product, self.interval_ms).await? {
                self.written.push((block.period.0, i64::from(block.bars)));
            }
        }
        Ok(())
    }

    /// At the end of the import (its bars all written): writes the last period's block, takes
    /// the interval's block lock, and deletes every block of the periods written into except
    /// those this import wrote and whose period holds exactly their bars. The periods in `made`
    /// (`[starts, ends)`, ms) are partitions this import made and attached, holding its bars
    /// alone: the blocks of periods inside them are kept without counting the rows (a partition
    /// of 5-minute bars holds a year, their blocks a month each). Returns the blocks kept. Call
    /// for the import's intervals in rising order (the lock order of every writer).
    pub(crate) async fn finish(
        mut self,
        tx: &tokio_postgres::Transaction<'_>,
        product: &str,
        made: &[(i64, i64)],
    ) -> Result<u64> {
        self.write_current(tx, product).await?;
        self.write_encoded(tx, product).await?;
        let Some((first, last)) = self.span else {
            return Ok(0);
        };
        let iv = self.interval_ms;
        lock_bar_blocks(tx, product, iv).await?;
        // The rows stored in each other period whose block this import wrote (an index range
        // scan each, one round trip): a block is kept when they are its bars alone.
        let (alone, to_count): (Vec<_>, Vec<_>) =
            self.written.iter().partition(|(s, _)| in_made_partition(made, block_period(iv, *s)));
        let starts: Vec<DateTime<Utc>> = to_count.iter().map(|(s, _)| time_of_ms(*s)).collect();
        let counts: Vec<i64> = to_count.iter().map(|(_, n)| *n).collect();
        let mut kept: Vec<DateTime<Utc>> = tx
            .query(
                "SELECT bb.starts FROM crypto_gaf.bar_blocks bb
                 JOIN unnest($3::timestamptz[], $4::int8[]) AS w(starts, bars) ON w.starts = bb.starts
                 WHERE bb.product = $1 AND bb.interval_ms = $2
                   AND (SELECT count(*) FROM crypto_gaf.bars b WHERE b.product = $1 AND b.interval_ms = $2
                          AND b.close_time >= bb.starts AND b.close_time < bb.ends) = w.bars",
                &[&product, &iv, &starts, &counts],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        kept.extend(alone.iter().map(|(s, _)| time_of_ms(*s)));
        tx.execute(
            "DELETE FROM crypto_gaf.bar_blocks
             WHERE product = $1 AND interval_ms = $2 AND starts <= $4 AND ends > $3 AND NOT (starts = ANY($5))",
            &[&product, &iv, &time_of_ms(first - 1), &time_of_ms(last), &kept],
        )
        .await?;
        Ok(kept.len() as u64)
    }
}

/// Whether the block period `period` lies inside one of the partitions `made` (periods, ms).
fn in_made_partition(made: &[(i64, i64)], (starts, ends): (i64, i64)) -> bool {
    made.iter().any(|&(s, e)| s <= starts && ends <= e)
}

/// Inserts the block of `bars` (not empty, close order) for the period `[starts, ends)` unless
/// the period has one; true when it was written.
pub(crate) async fn insert_bar_block<C: GenericClient>(
    client: &C,
    product: &str,
    interval_ms: i64,
    period: (i64, i64),
    bars: &[HistoryBar],
) -> Result<bool> {
    match EncodedBlock::encode(period, bars)? {
        Some(block) => block.insert(client, product, interval_ms).await,
        None => Ok(false),
    }
}

/// A period's block, encoded and not written yet.
#[derive(Debug)]
pub(crate) struct EncodedBlock {
    /// The period, ms: `[starts, ends)`.
    period: (i64, i64),
    /// Bars in it.
    bars: i32,
    /// Close of its first bar, ms.
    first_ms: i64,
    /// Close of its last bar, ms.
    last_ms: i64,
    /// The encoded bars.
    data: Vec<u8>,
}

impl EncodedBlock {
    /// The block of `bars` (close order) for `period`; `None` when there are none.
    pub(crate) fn encode(period: (i64, i64), bars: &[HistoryBar]) -> Result<Option<Self>> {
        let (Some(f), Some(l)) = (bars.first(), bars.last()) else {
            return Ok(None);
        };
        let data =
            encode_bar_block(bars).map_err(|e| Error::BadData { what: "bar_blocks.data", detail: e.to_string() })?;
        Ok(Some(EncodedBlock { period, bars: bars.len() as i32, first_ms: f.close_ms, last_ms: l.close_ms, data }))
    }

    /// Inserts it unless its period has a block; true when it was written.
    async fn insert<C: GenericClient>(&self, client: &C, product: &str, interval_ms: i64) -> Result<bool> {
        let n = client
            .execute(
                "INSERT INTO crypto_gaf.bar_blocks (product, interval_ms, starts, ends, bars, first_close, last_close, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &product,
                    &interval_ms,
                    &time_of_ms(self.period.0),
                    &time_of_ms(self.period.1),
                    &self.bars,
                    &time_of_ms(self.first_ms),
                    &time_of_ms(self.last_ms),
                    &self.data,
                ],
            )
            .await?;
        Ok(n == 1)
    }
}

/// Takes the lock of `product`'s blocks of `interval_ms` exclusively until the transaction ends:
/// every writer that has deleted blocks has committed, and writers after wait (see the module).
pub(crate) async fn lock_bar_blocks<C: GenericClient>(client: &C, product: &str, interval_ms: i64) -> Result<()> {
    client
        .execute("SELECT pg_advisory_xact_lock(crypto_gaf.bar_blocks_lock($1, $2))", &[&product, &interval_ms])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_inside_a_partition_the_import_made_is_its_alone() {
        let year = (1_735_689_600_000, 1_767_225_600_000); // 2025
        let march = block_period(300_000, 1_741_000_000_000);
        assert!(march.0 > year.0 && march.1 < year.1, "{march:?}");
        assert!(in_made_partition(&[year], march));
        assert!(in_made_partition(&[march], march));
        assert!(!in_made_partition(&[], march));
        assert!(!in_made_partition(&[(year.0, march.1 - 1)], march), "a period reaching past the partition");
        assert!(!in_made_partition(&[(march.0 + 1, year.1)], march), "a period starting before it");
    }
}
