//! The market-history store: bars per product and interval in the partitioned `crypto_gaf.bars`
//! (written by collect in each sample's transaction, rolled up, imported, read in pages), its
//! partitions (created ahead, dropped by retention) and the optional raw-sample archive.

use crate::bar_blocks::{forget_bar_blocks, insert_bar_block, lock_bar_blocks, BlockWriter};
use crate::partition_load::{copy_bars, drop_abandoned, PartitionLoads, BAR_COLUMNS};
use crate::{Error, Result, Store};
use cgaf_trade_domain::history::{interval_label, BarOrigin, HistoryBar, Rollup};
use cgaf_trade_domain::Book;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

/// A history table whose partitions the store manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryTable {
    /// `crypto_gaf.bars`, partitions of one interval.
    Bars(i64),
    /// `crypto_gaf.sample_archive` (a partition per day).
    SampleArchive,
}

impl HistoryTable {
    fn parent_and_interval(self) -> (&'static str, i64) {
        match self {
            HistoryTable::Bars(iv) => ("bars", iv),
            HistoryTable::SampleArchive => ("sample_archive", 0),
        }
    }
}

pub use crate::types::time_of_ms;

/// Coverage of one product and interval in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRange {
    /// Product id.
    pub product: String,
    /// Bar interval, ms.
    pub interval_ms: i64,
    /// Close of the first bar, ms.
    pub first_ms: i64,
    /// Close of the last bar, ms.
    pub last_ms: i64,
    /// Bars stored.
    pub count: i64,
    /// Bars missing between the first and the last.
    pub missing: i64,
    /// Stretches of missing bars between the first and the last.
    pub gaps: i64,
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Bars written (new or replacing an imported bar).
    pub written: u64,
    /// Bars left as they were because a collected bar holds their time (collected wins).
    pub kept_collected: u64,
    /// Bars equal to the imported bar already stored (nothing to do).
    pub unchanged: u64,
    /// Coarser bars rolled up from the imported ones.
    pub rolled_up: u64,
    /// Bar blocks written (periods of an interval holding nothing but the bars imported, read
    /// by runs as one value each: `crypto_gaf.bar_blocks`).
    pub blocks: u64,
}

/// The 1-second bar of sample `$1`, upserted: a later sample extends it, a late one lands in it
/// without moving its open or close. Only collected bars are touched (`origin` precedence).
const UPSERT_SECOND_BAR: &str = "
INSERT INTO crypto_gaf.bars AS b (product, interval_ms, close_time, open, high, low, close, volume,
    buy_volume, sell_volume, sample_count, bid, ask, bid_depth, ask_depth, first_sample_at,
    last_sample_at, origin, source)
SELECT s.product, 1000,
       to_timestamp((floor(extract(epoch FROM s.sampled_at))::int8 + 1)::float8),
       m, m, m, m, bv + sv, bv, sv, 1,
       coalesce(s.bid_prices[1], 0)::float8, coalesce(s.ask_prices[1], 0)::float8,
       coalesce((SELECT sum(x) FROM unnest(s.bid_sizes) x), 0)::float8,
       coalesce((SELECT sum(x) FROM unnest(s.ask_sizes) x), 0)::float8,
       s.sampled_at, s.sampled_at, 'collected', $2
FROM crypto_gaf.samples s,
     LATERAL (SELECT s.midpoint::float8 AS m, coalesce(s.buys[2], 0)::float8 AS bv,
                     coalesce(s.sells[2], 0)::float8 AS sv) v
WHERE s.sample_id = $1 AND s.midpoint IS NOT NULL
ON CONFLICT (product, interval_ms, close_time) DO UPDATE SET
  open = CASE WHEN EXCLUDED.first_sample_at < b.first_sample_at THEN EXCLUDED.open ELSE b.open END,
  high = greatest(b.high, EXCLUDED.high),
  low = least(b.low, EXCLUDED.low),
  close = CASE WHEN EXCLUDED.last_sample_at >= b.last_sample_at THEN EXCLUDED.close ELSE b.close END,
  buy_volume = b.buy_volume + EXCLUDED.buy_volume,
  sell_volume = b.sell_volume + EXCLUDED.sell_volume,
  volume = (b.buy_volume + EXCLUDED.buy_volume) + (b.sell_volume + EXCLUDED.sell_volume),
  sample_count = b.sample_count + 1,
  bid = CASE WHEN EXCLUDED.last_sample_at >= b.last_sample_at THEN EXCLUDED.bid ELSE b.bid END,
  ask = CASE WHEN EXCLUDED.last_sample_at >= b.last_sample_at THEN EXCLUDED.ask ELSE b.ask END,
  bid_depth = CASE WHEN EXCLUDED.last_sample_at >= b.last_sample_at THEN EXCLUDED.bid_depth ELSE b.bid_depth END,
  ask_depth = CASE WHEN EXCLUDED.last_sample_at >= b.last_sample_at THEN EXCLUDED.ask_depth ELSE b.ask_depth END,
  first_sample_at = least(b.first_sample_at, EXCLUDED.first_sample_at),
  last_sample_at = greatest(b.last_sample_at, EXCLUDED.last_sample_at)
WHERE b.origin = 'collected'";

/// The block of the period of sample `$1`'s 1-second bar, deleted ([`forget_bar_blocks`]).
const FORGET_SECOND_BAR_BLOCK: &str = "
SELECT crypto_gaf.forget_bar_blocks(product, 1000, to_timestamp(floor(extract(epoch FROM sampled_at))::float8),
                                    to_timestamp((floor(extract(epoch FROM sampled_at))::int8 + 1)::float8))
FROM crypto_gaf.samples WHERE sample_id = $1 AND midpoint IS NOT NULL";

const ARCHIVE_SAMPLE: &str = "
INSERT INTO crypto_gaf.sample_archive (product, sampled_at, sample_id, midpoint, ask_prices, ask_sizes,
    bid_prices, bid_sizes, buys, sells)
SELECT product, sampled_at, sample_id, midpoint, ask_prices, ask_sizes, bid_prices, bid_sizes, buys, sells
FROM crypto_gaf.samples WHERE sample_id = $1 AND midpoint IS NOT NULL
ON CONFLICT DO NOTHING";

/// Recomputes the bars of interval `$3` of product `$1` from its bars of interval `$2` closing
/// after `$4`, up to closes at or before `$5`; a stored bar is only replaced by its origin.
const ROLL_UP: &str = "
INSERT INTO crypto_gaf.bars AS b (product, interval_ms, close_time, open, high, low, close, volume,
    buy_volume, sell_volume, sample_count, bid, ask, bid_depth, ask_depth, origin, source)
SELECT $1, $3::int8, to_timestamp(c_ms / 1000.0),
       (array_agg(open ORDER BY close_time))[1], max(high), min(low),
       (array_agg(close ORDER BY close_time DESC))[1],
       sum(volume ORDER BY close_time), sum(buy_volume ORDER BY close_time),
       sum(sell_volume ORDER BY close_time), sum(sample_count),
       (array_agg(bid ORDER BY close_time DESC) FILTER (WHERE bid IS NOT NULL))[1],
       (array_agg(ask ORDER BY close_time DESC) FILTER (WHERE bid IS NOT NULL))[1],
       (array_agg(bid_depth ORDER BY close_time DESC) FILTER (WHERE bid IS NOT NULL))[1],
       (array_agg(ask_depth ORDER BY close_time DESC) FILTER (WHERE bid IS NOT NULL))[1],
       CASE WHEN bool_or(origin = 'collected') THEN 'collected' ELSE 'imported' END,
       CASE WHEN min(source) = max(source) THEN min(source) ELSE 'mixed' END
FROM (SELECT (((extract(epoch FROM close_time) * 1000)::int8 - 1) / $3::int8 + 1) * $3::int8 AS c_ms, *
      FROM crypto_gaf.bars
      WHERE product = $1 AND interval_ms = $2 AND close_time > $4 AND close_time <= $5) f
GROUP BY c_ms
HAVING c_ms <= (extract(epoch FROM $5::timestamptz) * 1000)::int8
ON CONFLICT (product, interval_ms, close_time) DO UPDATE SET
  open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
  volume = EXCLUDED.volume, buy_volume = EXCLUDED.buy_volume, sell_volume = EXCLUDED.sell_volume,
  sample_count = EXCLUDED.sample_count, bid = EXCLUDED.bid, ask = EXCLUDED.ask,
  bid_depth = EXCLUDED.bid_depth, ask_depth = EXCLUDED.ask_depth, source = EXCLUDED.source
WHERE b.origin = EXCLUDED.origin";

fn is_missing_partition(e: &Error) -> bool {
    matches!(e, Error::Db(db) if db.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION)
        && db.as_db_error().is_some_and(|d| d.message().contains("no partition")))
}

/// Writes the history rows of the sample just inserted (its 1-second bar, and its archive copy
/// when `archive`), inside the sample's transaction.
pub(crate) async fn record_sample<C: GenericClient>(
    client: &C,
    sample_id: i64,
    source: &str,
    archive: bool,
) -> Result<()> {
    client.execute(UPSERT_SECOND_BAR, &[&sample_id, &source]).await?;
    client.execute(FORGET_SECOND_BAR_BLOCK, &[&sample_id]).await?;
    if archive {
        client.execute(ARCHIVE_SAMPLE, &[&sample_id]).await?;
    }
    Ok(())
}

/// True when `e` says a history partition is missing (the caller creates it and retries).
pub(crate) fn needs_partition(e: &Error) -> bool {
    is_missing_partition(e)
}

/// The columns of a stored bar that [`row_to_bar`] reads, in its order.
const BAR_READ_COLUMNS: &str =
    "close_time, open, high, low, close, volume, buy_volume, sell_volume, sample_count, bid, ask, bid_depth, ask_depth";

fn row_to_bar(r: &tokio_postgres::Row) -> HistoryBar {
    let close: DateTime<Utc> = r.get(0);
    let bid: Option<f64> = r.get(9);
    HistoryBar {
        close_ms: close.timestamp_millis(),
        open: r.get(1),
        high: r.get(2),
        low: r.get(3),
        close: r.get(4),
        volume: r.get(5),
        buy_volume: r.get(6),
        sell_volume: r.get(7),
        sample_count: r.get(8),
        book: bid.map(|bid| Book {
            bid,
            ask: r.get::<_, Option<f64>>(10).unwrap_or(0.0),
            bid_depth: r.get::<_, Option<f64>>(11).unwrap_or(0.0),
            ask_depth: r.get::<_, Option<f64>>(12).unwrap_or(0.0),
        }),
    }
}

/// A stored bar with its origin and source (export).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBar {
    /// The bar.
    pub bar: HistoryBar,
    /// Collected or imported.
    pub origin: BarOrigin,
    /// What it came from.
    pub source: String,
}

impl Store {
    /// Creates the partitions of `table` covering `[from_ms, to_ms]`; returns how many were new.
    pub async fn ensure_history_partitions(&self, table: HistoryTable, from_ms: i64, to_ms: i64) -> Result<i32> {
        let (parent, iv) = table.parent_and_interval();
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT crypto_gaf.ensure_history_partitions($1, $2, $3, $4)",
                &[&parent, &iv, &time_of_ms(from_ms), &time_of_ms(to_ms)],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Drops the partitions of `table` that end at or before `before_ms` (retention); returns
    /// their names.
    pub async fn drop_history_partitions(&self, table: HistoryTable, before_ms: i64) -> Result<Vec<String>> {
        let (parent, iv) = table.parent_and_interval();
        let rows = self
            .client()
            .await?
            .query("SELECT crypto_gaf.drop_history_partitions($1, $2, $3)", &[&parent, &iv, &time_of_ms(before_ms)])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Recomputes product `product`'s bars of `coarse_ms` from its bars of `fine_ms` closing in
    /// `(after_ms, until_ms]` (whole coarse bars closing at or before `until_ms` only). Returns
    /// the bars written.
    pub async fn roll_up(
        &self,
        product: &str,
        fine_ms: i64,
        coarse_ms: i64,
        after_ms: i64,
        until_ms: i64,
    ) -> Result<u64> {
        let (count, first, last) = self.count_bars(product, fine_ms, after_ms, until_ms).await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(0);
        };
        if count > 0 {
            self.ensure_history_partitions(HistoryTable::Bars(coarse_ms), first, last + coarse_ms).await?;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let written = roll_up_with(&*tx, product, fine_ms, coarse_ms, after_ms, until_ms).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// The close of the newest bar of `product` and `interval_ms`, if any.
    pub async fn last_bar_ms(&self, product: &str, interval_ms: i64) -> Result<Option<i64>> {
        self.bar_close_bound(product, interval_ms, "max").await
    }

    /// Close of the first stored bar of `product` at `interval_ms`, if any.
    pub async fn first_bar_ms(&self, product: &str, interval_ms: i64) -> Result<Option<i64>> {
        self.bar_close_bound(product, interval_ms, "min").await
    }

    /// `aggregate` (`min` or `max`) of the closes of `product`'s bars at `interval_ms`.
    async fn bar_close_bound(&self, product: &str, interval_ms: i64, aggregate: &str) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_one(
                &format!("SELECT {aggregate}(close_time) FROM crypto_gaf.bars WHERE product = $1 AND interval_ms = $2"),
                &[&product, &interval_ms],
            )
            .await?;
        Ok(row.get::<_, Option<DateTime<Utc>>>(0).map(|t| t.timestamp_millis()))
    }

    async fn bar_rows(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<tokio_postgres::Row>> {
        Ok(self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {BAR_READ_COLUMNS}, origin, source FROM crypto_gaf.bars
                     WHERE product = $1 AND interval_ms = $2 AND close_time > $3 AND close_time <= $4
                     ORDER BY close_time LIMIT $5"
                ),
                &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(to_ms), &limit],
            )
            .await?)
    }

    /// Up to `limit` bars of `product` and `interval_ms` closing in `(after_ms, to_ms]`, oldest
    /// first: one range scan of the primary key. Page through a range by passing the last close
    /// as the next `after_ms`.
    ///
    /// Only the columns a bar holds are read (not its origin and source), and each row becomes a
    /// bar as it arrives instead of the whole page being kept as rows first.
    pub async fn bars_page(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<HistoryBar>> {
        use futures::TryStreamExt as _;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {BAR_READ_COLUMNS} FROM crypto_gaf.bars
                 WHERE product = $1 AND interval_ms = $2 AND close_time > $3 AND close_time <= $4
                 ORDER BY close_time LIMIT $5"
            ))
            .await?;
        let (after, to) = (time_of_ms(after_ms), time_of_ms(to_ms));
        let params: [&(dyn ToSql + Sync); 5] = [&product, &interval_ms, &after, &to, &limit];
        let rows = client.query_raw(&statement, params).await?;
        futures::pin_mut!(rows);
        let mut bars = Vec::with_capacity(usize::try_from(limit.clamp(0, 1 << 16)).unwrap_or(0));
        while let Some(row) = rows.try_next().await? {
            bars.push(row_to_bar(&row));
        }
        Ok(bars)
    }

    /// Writes the block of each period of `product`'s bars of `interval_ms` that overlaps
    /// `(after_ms, until_ms]` and ends by `until_ms` (whole periods only: the current month is
    /// left to its rows), from the period's rows, each in a transaction holding the blocks' lock
    /// exclusively ([`crate::bar_blocks`]); a period without bars gets none. For history that did
    /// not come from an import into an empty range (downloads, collected bars). Returns the
    /// blocks written.
    pub async fn write_bar_blocks(&self, product: &str, interval_ms: i64, after_ms: i64, until_ms: i64) -> Result<u64> {
        let mut written = 0;
        for period in whole_periods(interval_ms, after_ms, until_ms) {
            written += u64::from(self.write_bar_block(product, interval_ms, period).await?);
        }
        Ok(written)
    }

    /// As [`Store::write_bar_blocks`], for the periods that have no block yet only (a period
    /// whose block a later write forgot counts as having none), stopping after `most` blocks
    /// written. Returns the blocks written and the last instant of the last period looked at
    /// (`after_ms` when there was none): the `after_ms` of the next call.
    pub async fn write_missing_bar_blocks(
        &self,
        product: &str,
        interval_ms: i64,
        (after_ms, until_ms): (i64, i64),
        most: u64,
    ) -> Result<(u64, i64)> {
        if whole_periods(interval_ms, after_ms, until_ms).next().is_none() {
            return Ok((0, after_ms));
        }
        let have: std::collections::HashSet<i64> = self
            .bar_block_directory(product, interval_ms, after_ms, until_ms)
            .await?
            .iter()
            .map(|b| b.starts_ms)
            .collect();
        let (mut written, mut looked_until) = (0, after_ms);
        for (starts, ends) in whole_periods(interval_ms, after_ms, until_ms) {
            if written >= most {
                break;
            }
            if !have.contains(&starts) {
                written += u64::from(self.write_bar_block(product, interval_ms, (starts, ends)).await?);
            }
            looked_until = ends - 1;
        }
        Ok((written, looked_until))
    }

    /// Writes the block of one period from its rows (replacing any), in a transaction holding
    /// the blocks' lock exclusively; false when the period has no bars.
    async fn write_bar_block(&self, product: &str, interval_ms: i64, (starts, ends): (i64, i64)) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_bar_blocks(&*tx, product, interval_ms).await?;
        tx.execute(
            "DELETE FROM crypto_gaf.bar_blocks WHERE product = $1 AND interval_ms = $2 AND starts = $3",
            &[&product, &interval_ms, &time_of_ms(starts)],
        )
        .await?;
        let bars: Vec<HistoryBar> = tx
            .query(
                &format!(
                    "SELECT {BAR_READ_COLUMNS} FROM crypto_gaf.bars
                     WHERE product = $1 AND interval_ms = $2 AND close_time >= $3 AND close_time < $4
                     ORDER BY close_time"
                ),
                &[&product, &interval_ms, &time_of_ms(starts), &time_of_ms(ends)],
            )
            .await?
            .iter()
            .map(row_to_bar)
            .collect();
        let written = insert_bar_block(&*tx, product, interval_ms, (starts, ends), &bars).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// As [`Store::bars_page`], with each bar's origin and source (export).
    pub async fn stored_bars_page(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<StoredBar>> {
        self.bar_rows(product, interval_ms, after_ms, to_ms, limit)
            .await?
            .iter()
            .map(|r| {
                let origin: String = r.get(13);
                Ok(StoredBar {
                    bar: row_to_bar(r),
                    origin: origin.parse().map_err(|e: cgaf_trade_domain::UnknownName| Error::BadData {
                        what: "bars.origin",
                        detail: e.to_string(),
                    })?,
                    source: r.get(14),
                })
            })
            .collect()
    }

    /// Bars of `product` and `interval_ms` closing in `(after_ms, to_ms]`: count, first and last close.
    ///
    /// The periods wholly inside the range that have a block ([`crate::bar_blocks`]) are counted
    /// from their blocks' entries (a year of 1-minute bars imported into an empty range: 11 or
    /// 12 entries instead of 525,600 index entries); the rest from the rows
    /// ([`Store::count_bar_rows`]).
    pub async fn count_bars(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
    ) -> Result<(i64, Option<i64>, Option<i64>)> {
        let blocks: Vec<_> = self
            .bar_block_directory(product, interval_ms, after_ms, to_ms)
            .await?
            .into_iter()
            .filter(|b| b.starts_ms > after_ms && b.ends_ms - 1 <= to_ms)
            .collect();
        if blocks.is_empty() {
            return self.count_bar_rows(product, interval_ms, after_ms, to_ms).await;
        }
        // The stretches between the blocks' periods: (after, starts - 1], (ends - 1, starts' - 1], ...
        let mut stretches = Vec::new();
        let mut cursor = after_ms;
        for b in &blocks {
            if b.starts_ms - 1 > cursor {
                stretches.push((cursor, b.starts_ms - 1));
            }
            cursor = b.ends_ms - 1;
        }
        if to_ms > cursor {
            stretches.push((cursor, to_ms));
        }
        let counted = futures::future::try_join_all(
            stretches.iter().map(|&(a, u)| self.count_bar_rows(product, interval_ms, a, u)),
        )
        .await?;
        let mut count: i64 = blocks.iter().map(|b| b.bars).sum();
        let mut first = blocks.iter().map(|b| b.first_ms).min();
        let mut last = blocks.iter().map(|b| b.last_ms).max();
        for (n, f, l) in counted {
            count += n;
            first = first.into_iter().chain(f).min();
            last = last.into_iter().chain(l).max();
        }
        Ok((count, first, last))
    }

    /// Bars of `product` and `interval_ms` closing in `(after_ms, to_ms]` counted from their rows:
    /// count, first and last close.
    ///
    /// A count visits every bar's index entry (~110 ns each; a year of 1-minute bars is 60–90 ms).
    /// Over more than [`SPLIT_COUNT_BARS`] intervals, the range between its first and last bar (two
    /// index probes) is cut in two halves counted at once on two connections, so both cores work.
    pub async fn count_bar_rows(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
    ) -> Result<(i64, Option<i64>, Option<i64>)> {
        if interval_ms <= 0 || to_ms.saturating_sub(after_ms) / interval_ms <= SPLIT_COUNT_BARS {
            return self.count_bars_in(product, interval_ms, after_ms, to_ms).await;
        }
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT min(close_time), max(close_time) FROM crypto_gaf.bars
                 WHERE product = $1 AND interval_ms = $2 AND close_time > $3 AND close_time <= $4",
                &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(to_ms)],
            )
            .await?;
        let (Some(first), Some(last)) = (r_ms(row.get(0)), r_ms(row.get(1))) else {
            return Ok((0, None, None));
        };
        // (first - 1, middle] and (middle, last]: every bar of the range, each in one half.
        let middle = first + (last - first) / 2;
        let (low, high) = futures::try_join!(
            self.count_bars_in(product, interval_ms, first - 1, middle),
            self.count_bars_in(product, interval_ms, middle, last)
        )?;
        Ok((low.0 + high.0, Some(first), Some(last)))
    }

    /// [`Store::count_bar_rows`] in one query.
    async fn count_bars_in(
        &self,
        product: &str,
        interval_ms: i64,
        after_ms: i64,
        to_ms: i64,
    ) -> Result<(i64, Option<i64>, Option<i64>)> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT count(*), min(close_time), max(close_time) FROM crypto_gaf.bars
                 WHERE product = $1 AND interval_ms = $2 AND close_time > $3 AND close_time <= $4",
                &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(to_ms)],
            )
            .await?;
        let t = |i: usize| r_ms(row.get::<_, Option<DateTime<Utc>>>(i));
        Ok((row.get(0), t(1), t(2)))
    }

    /// Closes of `product`'s stored bars of `interval_ms` in `(after_ms, to_ms]`, oldest first.
    pub async fn bar_closes(&self, product: &str, interval_ms: i64, after_ms: i64, to_ms: i64) -> Result<Vec<i64>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT (extract(epoch FROM close_time) * 1000)::int8 FROM crypto_gaf.bars
                 WHERE product = $1 AND interval_ms = $2 AND close_time > $3 AND close_time <= $4 ORDER BY close_time",
                &[&product, &interval_ms, &time_of_ms(after_ms), &time_of_ms(to_ms)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The intervals holding bars of `product`, finest first.
    pub async fn stored_intervals(&self, product: &str) -> Result<Vec<i64>> {
        let rows = self.client().await?.query(STORED_INTERVALS, &[&product]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Coverage per product and interval (optionally one product): first and last close, count,
    /// missing bars and gap stretches between them.
    pub async fn history_coverage(&self, product: Option<&str>) -> Result<Vec<StoredRange>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT product, interval_ms, min(close_time), max(close_time), count(*),
                        count(*) FILTER (WHERE step > interval_ms)
                 FROM (SELECT product, interval_ms, close_time,
                              (extract(epoch FROM close_time - lag(close_time) OVER w) * 1000)::int8 AS step
                       FROM crypto_gaf.bars WHERE $1::text IS NULL OR product = $1
                       WINDOW w AS (PARTITION BY product, interval_ms ORDER BY close_time)) s
                 GROUP BY product, interval_ms ORDER BY product, interval_ms",
                &[&product],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let interval_ms: i64 = r.get(1);
                let first_ms = r_ms(r.get(2)).unwrap_or(0);
                let last_ms = r_ms(r.get(3)).unwrap_or(0);
                let count: i64 = r.get(4);
                StoredRange {
                    product: r.get(0),
                    interval_ms,
                    first_ms,
                    last_ms,
                    count,
                    missing: ((last_ms - first_ms) / interval_ms.max(1) + 1 - count).max(0),
                    gaps: r.get(5),
                }
            })
            .collect())
    }

    /// Imports `bars` (sorted by close, validated) of `product` and `interval_ms` from `source`
    /// in one transaction, then rolls them up into each of `rollups` (coarser intervals, each
    /// rolled up from the largest of the imported interval and the earlier rollups dividing it).
    ///
    /// Precedence: an imported bar never replaces a collected one (counted in
    /// [`ImportReport::kept_collected`]); it replaces an earlier imported bar of the same time
    /// only when `replace` is set — otherwise a stored imported bar with other values fails the
    /// whole import ([`Error::ImportConflict`]) and nothing is written.
    pub async fn import_bars(
        &self,
        product: &str,
        interval_ms: i64,
        source: &str,
        bars: &[HistoryBar],
        rollups: &[i64],
        replace: bool,
    ) -> Result<ImportReport> {
        let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
            return Ok(ImportReport::default());
        };
        let (first_ms, last_ms) = (first.close_ms, last.close_ms);
        let rollups = self.prepare_import(interval_ms, rollups).await?;
        let intervals: Vec<i64> = std::iter::once(interval_ms).chain(rollups.iter().copied()).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nothing stored around the file at its interval or a rollup's, over the widest rollup
        // buckets it touches: COPY it and its rollups (computed here by the domain's rule, the
        // same as the database's) straight into the table.
        let existing = stored_around(&tx, product, interval_ms, &rollups, first_ms, last_ms).await?;
        if existing == 0 {
            let written = copy_whole(&self.config, &tx, (product, interval_ms, source), &rollups, bars).await;
            let written = match written {
                Ok(report) => tx.commit().await.map(|()| report).map_err(Error::from),
                Err(e) => {
                    drop(tx);
                    Err(e)
                }
            };
            if written.is_err() {
                // The transaction rolled back (its ROLLBACK goes before this on the connection).
                drop_abandoned(&client).await;
            }
            return written;
        }
        // The merge writes with SQL through crypto_gaf.bars: every partition must exist, made
        // outside this transaction (which holds a lock on the parent that making one waits for).
        tx.rollback().await?;
        for &iv in &intervals {
            self.ensure_history_partitions(HistoryTable::Bars(iv), first_ms - iv, last_ms + iv).await?;
        }
        let tx = client.transaction().await?;
        let mut report = ImportReport::default();
        tx.batch_execute("CREATE TEMP TABLE incoming_bars (LIKE crypto_gaf.bars) ON COMMIT DROP").await?;
        copy_bars(&tx, "incoming_bars", product, interval_ms, source, bars).await?;
        let row = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE b.origin = 'collected'),
                        count(*) FILTER (WHERE b.origin = 'imported' AND (b.open, b.high, b.low, b.close, b.volume,
                             b.buy_volume, b.sell_volume) IS NOT DISTINCT FROM (i.open, i.high, i.low, i.close,
                             i.volume, i.buy_volume, i.sell_volume)),
                        count(*) FILTER (WHERE b.origin = 'imported' AND (b.open, b.high, b.low, b.close, b.volume,
                             b.buy_volume, b.sell_volume) IS DISTINCT FROM (i.open, i.high, i.low, i.close,
                             i.volume, i.buy_volume, i.sell_volume)),
                        min(i.close_time) FILTER (WHERE b.origin = 'imported' AND (b.open, b.high, b.low, b.close,
                             b.volume, b.buy_volume, b.sell_volume) IS DISTINCT FROM (i.open, i.high, i.low,
                             i.close, i.volume, i.buy_volume, i.sell_volume))
                 FROM incoming_bars i JOIN crypto_gaf.bars b
                   ON b.product = i.product AND b.interval_ms = i.interval_ms AND b.close_time = i.close_time",
                &[],
            )
            .await?;
        report.kept_collected = row.get::<_, i64>(0) as u64;
        report.unchanged = row.get::<_, i64>(1) as u64;
        let differing: i64 = row.get(2);
        if differing > 0 && !replace {
            let at: Option<DateTime<Utc>> = row.get(3);
            return Err(Error::ImportConflict {
                product: product.to_string(),
                interval: interval_label(interval_ms),
                count: differing,
                first: at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            });
        }
        forget_bar_blocks(&*tx, product, interval_ms, first_ms - interval_ms, last_ms).await?;
        report.written = tx
            .execute(
                &format!(
                    "INSERT INTO crypto_gaf.bars AS b ({BAR_COLUMNS})
                     SELECT {BAR_COLUMNS} FROM incoming_bars
                     ON CONFLICT (product, interval_ms, close_time) DO UPDATE SET
                       open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
                       volume = EXCLUDED.volume, buy_volume = EXCLUDED.buy_volume,
                       sell_volume = EXCLUDED.sell_volume, source = EXCLUDED.source
                     WHERE b.origin = 'imported' AND (b.open, b.high, b.low, b.close, b.volume, b.buy_volume,
                       b.sell_volume) IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low,
                       EXCLUDED.close, EXCLUDED.volume, EXCLUDED.buy_volume, EXCLUDED.sell_volume)"
                ),
                &[],
            )
            .await?;
        let mut sources = vec![interval_ms];
        for &coarse in &rollups {
            let fine = sources.iter().copied().filter(|f| coarse % f == 0).max().unwrap_or(interval_ms);
            let after = (first_ms - interval_ms).div_euclid(coarse) * coarse - coarse;
            let until = (last_ms.div_euclid(coarse) + 1) * coarse;
            report.rolled_up += roll_up_with(&*tx, product, fine, coarse, after, until).await?;
            sources.push(coarse);
        }
        tx.commit().await?;
        // The merge forgot the blocks of the periods it wrote into: those that have ended get
        // theirs again from their rows, and periods around them that kept theirs are not read
        // again. The current period is left to its rows, as after a download. A block is a read
        // copy: failing to write one leaves the rows as they are.
        let now = Utc::now().timestamp_millis();
        for iv in std::iter::once(interval_ms).chain(rollups.iter().copied()) {
            let last_period = cgaf_trade_domain::history::block_period(iv, last_ms + iv);
            let until = if last_period.1 <= now { last_period.1 - 1 } else { last_period.0 - 1 };
            match self.write_missing_bar_blocks(product, iv, (first_ms - 2 * iv, until), u64::MAX).await {
                Ok((n, _)) => report.blocks += n,
                Err(e) => tracing::warn!(product, interval_ms = iv, error = %e, "writing bar blocks after a merge"),
            }
        }
        Ok(report)
    }
}

/// The block periods of `interval_ms` ([`cgaf_trade_domain::history::block_period`]) that overlap
/// `(after_ms, until_ms]` and end by `until_ms`, as (starts, ends) in ms, oldest first.
fn whole_periods(interval_ms: i64, after_ms: i64, until_ms: i64) -> impl Iterator<Item = (i64, i64)> {
    use cgaf_trade_domain::history::block_period;
    let first = block_period(interval_ms, after_ms.saturating_add(1));
    std::iter::successors(Some(first), move |&(_, ends)| Some(block_period(interval_ms, ends)))
        .take_while(move |&(starts, ends)| ends - 1 <= until_ms && starts < ends)
}

/// Bars stored for `product` at `interval_ms` or one of `rollups` over the widest rollup buckets
/// that bars closing from `first_ms` to `last_ms` touch: an import over none of them can COPY
/// its bars and their rollups straight into the table.
async fn stored_around(
    tx: &tokio_postgres::Transaction<'_>,
    product: &str,
    interval_ms: i64,
    rollups: &[i64],
    first_ms: i64,
    last_ms: i64,
) -> Result<i64> {
    let widest = rollups.iter().copied().max().unwrap_or(interval_ms);
    let around = ((first_ms - interval_ms).div_euclid(widest) * widest, (last_ms.div_euclid(widest) + 1) * widest);
    let intervals: Vec<i64> = std::iter::once(interval_ms).chain(rollups.iter().copied()).collect();
    Ok(tx
        .query_one(
            "SELECT count(*) FROM crypto_gaf.bars WHERE product = $1 AND interval_ms = ANY($2)
               AND close_time > $3 AND close_time <= $4",
            &[&product, &intervals, &time_of_ms(around.0), &time_of_ms(around.1)],
        )
        .await?
        .get(0))
}

/// Bars of one interval COPYed straight into the table batch by batch (close order), and rolled
/// up on the way into each of `rollups`: each from the largest earlier rollup dividing it, else
/// from the bars themselves, with the domain's rule (the database's); coarse bars are written as
/// they close, in parts of [`ROLLUP_FLUSH_BARS`], so memory stays bounded by a batch. What an
/// import writes into a range with nothing stored around it, whether read whole or streamed.
struct RolledUpCopy<'a> {
    product: &'a str,
    interval_ms: i64,
    source: &'a str,
    rollups: Vec<i64>,
    /// Each rollup's source: an earlier rollup (index), else the bars themselves.
    sources: Vec<Option<usize>>,
    rolling: Vec<Rollup>,
    /// Closed coarse bars not written yet, per rollup.
    pending: Vec<Vec<HistoryBar>>,
    /// The blocks of the bars (first) and of each rollup.
    blocks: Vec<BlockWriter>,
    /// The partitions the import makes, and the tables loaded for them.
    loads: PartitionLoads,
    report: ImportReport,
    /// Where the import's time went, for its log line.
    timing: CopyTiming,
}

/// Seconds an import spent in each of its steps (logged when it ends).
#[derive(Debug, Default, Clone, Copy)]
struct CopyTiming {
    /// COPYing the imported bars and the rollups (or handing them to a loader).
    copying: f64,
    /// Encoding and writing the blocks of the bars and of the rollups (at once with the COPY).
    blocks: f64,
    /// Rolling up.
    rolling_up: f64,
    /// Checking the blocks against the rows at the end.
    checking_blocks: f64,
}

impl<'a> RolledUpCopy<'a> {
    fn new(product: &'a str, interval_ms: i64, source: &'a str, rollups: &[i64], loads: PartitionLoads) -> Self {
        let sources = rollups
            .iter()
            .enumerate()
            .map(|(j, &coarse)| (0..j).filter(|&i| coarse % rollups[i] == 0).max_by_key(|&i| rollups[i]))
            .collect();
        RolledUpCopy {
            product,
            interval_ms,
            source,
            rollups: rollups.to_vec(),
            sources,
            rolling: rollups.iter().map(|&c| Rollup::new(c)).collect(),
            pending: vec![Vec::new(); rollups.len()],
            blocks: std::iter::once(interval_ms).chain(rollups.iter().copied()).map(BlockWriter::new).collect(),
            loads,
            report: ImportReport::default(),
            timing: CopyTiming::default(),
        }
    }

    /// Writes the next batch and the coarse bars it closes.
    async fn push(&mut self, tx: &tokio_postgres::Transaction<'_>, batch: Vec<HistoryBar>) -> Result<()> {
        self.write(tx, Arc::new(batch), false).await
    }

    /// Writes each rollup's last bar and what is pending, and keeps the blocks of the periods
    /// the import alone fills (intervals in rising order: the blocks' lock order); gives what
    /// was written.
    async fn finish(mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<ImportReport> {
        let finished = self.finish_writing(tx).await;
        if finished.is_err() {
            self.loads.abandon().await;
        }
        finished
    }

    /// Ends the import's loaders after it failed (see [`PartitionLoads::abandon`]).
    async fn abandon(mut self) {
        self.loads.abandon().await;
    }

    /// What [`RolledUpCopy::finish`] does.
    async fn finish_writing(&mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<ImportReport> {
        self.write(tx, Arc::new(Vec::new()), true).await?;
        // The last periods' blocks are encoded while the loaders key their last tables.
        for b in &mut self.blocks {
            b.write_current(tx, self.product).await?;
        }
        let attached = self.loads.finish(tx).await?;
        let t = std::time::Instant::now();
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.sort_by_key(|b| b.interval_ms());
        for b in blocks {
            let made = attached.made.get(&b.interval_ms()).map_or(&[][..], |m| m.as_slice());
            self.report.blocks += b.finish(tx, self.product, made).await?;
        }
        self.timing.checking_blocks += t.elapsed().as_secs_f64();
        let CopyTiming { copying, blocks, rolling_up, checking_blocks } = self.timing;
        tracing::info!(
            product = self.product,
            bars = self.report.written,
            rolled_up = self.report.rolled_up,
            blocks = self.report.blocks,
            copying_s = copying,
            blocks_s = blocks,
            rolling_up_s = rolling_up,
            partitions_attached = attached.attached,
            partitions_made_meanwhile = attached.moved,
            loaders_copying_s = attached.loaders_copying_s,
            loaders_keying_s = attached.loaders_keying_s,
            waiting_for_loaders_s = attached.waiting_for_loaders_s,
            attaching_s = attached.attaching_s,
            checking_blocks_s = checking_blocks,
            "import written"
        );
        Ok(std::mem::take(&mut self.report))
    }

    /// Writes `batch` and the coarse bars it closes (at the `end`, each rollup's last bar too):
    /// the bars and the parts of the rollups that are due go to COPY (or a loader) while the
    /// blocks of the periods they complete are written, at once on the connection. The loaders
    /// share `batch` (and the rollups' parts) rather than copy them.
    async fn write(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        batch: Arc<Vec<HistoryBar>>,
        end: bool,
    ) -> Result<()> {
        let t = std::time::Instant::now();
        let closed = self.roll(&batch, end);
        let mut due: Vec<(i64, Arc<Vec<HistoryBar>>)> = Vec::new();
        for (j, out) in closed.iter().enumerate() {
            let pending = &mut self.pending[j];
            pending.extend_from_slice(out);
            // Flushed in parts, and whenever a table the import loads is complete (so it is
            // keyed, committed and attached while the bars stream).
            let complete = match (pending.first(), pending.last()) {
                (Some(a), Some(b)) => end || self.loads.crosses(self.rollups[j], a.close_ms, b.close_ms),
                _ => false,
            };
            if complete || pending.len() >= ROLLUP_FLUSH_BARS {
                due.push((self.rollups[j], Arc::new(std::mem::take(pending))));
            }
        }
        self.timing.rolling_up += t.elapsed().as_secs_f64();
        let (product, interval_ms, source) = (self.product, self.interval_ms, self.source);
        let loads = &mut self.loads;
        let copying = async {
            let t = std::time::Instant::now();
            let written =
                if batch.is_empty() { 0 } else { loads.copy(tx, product, interval_ms, source, &batch).await? };
            let mut rolled_up = 0;
            for (coarse, part) in &due {
                rolled_up += loads.copy(tx, product, *coarse, source, part).await?;
            }
            Ok::<_, Error>((written, rolled_up, t.elapsed().as_secs_f64()))
        };
        let blocks = &mut self.blocks;
        let blocking = async {
            let t = std::time::Instant::now();
            for (writer, bars) in
                blocks.iter_mut().zip(std::iter::once(batch.as_slice()).chain(closed.iter().map(Vec::as_slice)))
            {
                writer.push(tx, product, bars).await?;
            }
            Ok::<_, Error>(t.elapsed().as_secs_f64())
        };
        let ((written, rolled_up, copying_s), blocks_s) = futures::try_join!(copying, blocking)?;
        // The tables the loaders committed meanwhile become partitions now.
        self.loads.attach_committed(tx).await?;
        self.report.written += written;
        self.report.rolled_up += rolled_up;
        self.timing.copying += copying_s;
        self.timing.blocks += blocks_s;
        Ok(())
    }

    /// Rolls `batch` up, rollup by rollup (a rollup's source comes before it; at the `end`, each
    /// rollup's last bar too): the coarse bars each closes.
    fn roll(&mut self, batch: &[HistoryBar], end: bool) -> Vec<Vec<HistoryBar>> {
        let mut closed: Vec<Vec<HistoryBar>> = Vec::with_capacity(self.rollups.len());
        for j in 0..self.rollups.len() {
            let input: &[HistoryBar] = match self.sources[j] {
                None => batch,
                Some(i) => &closed[i],
            };
            let r = &mut self.rolling[j];
            let mut out: Vec<HistoryBar> = input.iter().filter_map(|b| r.push(b)).collect();
            if end {
                out.extend(std::mem::replace(r, Rollup::new(self.rollups[j])).finish());
            }
            closed.push(out);
        }
        closed
    }
}

/// What [`Store::import_bar_batches`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamedImport {
    /// The bars were written (committed).
    Written(ImportReport),
    /// Nothing was written, for the reason given: bars are stored around the range (an import
    /// over them needs [`Store::import_bars`]' merge), or the batches ended with an error or not
    /// at the last bar announced.
    NotStreamed(String),
}

/// Bars of a file read whole written at a time (see [`copy_whole`]).
const WHOLE_FILE_BATCH_BARS: usize = 50_000;

/// Coarse bars rolled up while batches stream by, written in parts of this many.
const ROLLUP_FLUSH_BARS: usize = 10_000;

impl Store {
    /// The rollups of an import of bars of `interval_ms` (those of `rollups` that are coarser
    /// multiples of it), with the LIST partition of each interval made (the range partitions
    /// are made by the import: loaded whole where missing, see [`PartitionLoads`]).
    async fn prepare_import(&self, interval_ms: i64, rollups: &[i64]) -> Result<Vec<i64>> {
        let rollups: Vec<i64> = rollups.iter().copied().filter(|&c| c > interval_ms && c % interval_ms == 0).collect();
        let client = self.client().await?;
        for &iv in std::iter::once(&interval_ms).chain(&rollups) {
            client.execute("SELECT crypto_gaf.ensure_bars_interval($1)", &[&iv]).await?;
        }
        Ok(rollups)
    }

    /// Imports the bars of a file as they are read, in one transaction, with memory bounded by a
    /// batch: `batches` (close order, validated, the first closing at `first_ms` and the last at
    /// `last_ms`) are COPYed as they come, and rolled up on the way into each of `rollups` (each
    /// from the largest of the imported interval and the earlier rollups dividing it, as
    /// [`Store::import_bars`] does, so the bars written are the same). Only for a range with
    /// nothing stored around it ([`StreamedImport::NotStreamed`] otherwise, and nothing written);
    /// an `Err` batch, or a last bar other than `last_ms`, rolls everything back.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_bar_batches(
        &self,
        product: &str,
        interval_ms: i64,
        source: &str,
        (first_ms, last_ms): (i64, i64),
        rollups: &[i64],
        mut batches: tokio::sync::mpsc::Receiver<std::result::Result<Vec<HistoryBar>, String>>,
    ) -> Result<StreamedImport> {
        let preparing = std::time::Instant::now();
        let rollups = self.prepare_import(interval_ms, rollups).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if stored_around(&tx, product, interval_ms, &rollups, first_ms, last_ms).await? > 0 {
            return Ok(StreamedImport::NotStreamed(format!(
                "bars of {product} are stored around {} .. {}",
                time_of_ms(first_ms).to_rfc3339(),
                time_of_ms(last_ms).to_rfc3339()
            )));
        }
        let target = (product, interval_ms, source);
        let streamed =
            stream_batches(&self.config, &tx, target, &rollups, (first_ms, last_ms), &mut batches, preparing).await;
        let streamed = match streamed {
            Ok(StreamedImport::Written(report)) => {
                let t = std::time::Instant::now();
                match tx.commit().await {
                    Ok(()) => {
                        tracing::info!(product, committing_s = t.elapsed().as_secs_f64(), "import committed");
                        Ok(StreamedImport::Written(report))
                    }
                    Err(e) => Err(Error::from(e)),
                }
            }
            other => {
                drop(tx);
                other
            }
        };
        if !matches!(streamed, Ok(StreamedImport::Written(_))) {
            // The transaction rolled back (its ROLLBACK goes before this on the connection).
            drop_abandoned(&client).await;
        }
        streamed
    }
}

/// Who an import writes for: product, interval (ms) and source.
type ImportTarget<'a> = (&'a str, i64, &'a str);

/// The bars of a whole file and their `rollups` COPYed in `tx`, into a range with nothing stored
/// around it (their new partitions loaded and attached, see [`PartitionLoads`]).
async fn copy_whole(
    config: &tokio_postgres::Config,
    tx: &tokio_postgres::Transaction<'_>,
    (product, interval_ms, source): ImportTarget<'_>,
    rollups: &[i64],
    bars: &[HistoryBar],
) -> Result<ImportReport> {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Ok(ImportReport::default());
    };
    let intervals: Vec<i64> = std::iter::once(interval_ms).chain(rollups.iter().copied()).collect();
    let loads = PartitionLoads::find(config, tx, &intervals, first.close_ms, last.close_ms).await?;
    plan_generically(tx).await?;
    let mut copy = RolledUpCopy::new(product, interval_ms, source, rollups, loads);
    // In batches, as a streamed import writes them: the loaders get a batch's bars while the
    // next is copied (memory bounded by the bars in flight).
    for batch in bars.chunks(WHOLE_FILE_BATCH_BARS) {
        if let Err(e) = copy.push(tx, batch.to_vec()).await {
            copy.abandon().await;
            return Err(e);
        }
    }
    copy.finish(tx).await
}

/// Has the rest of `tx` plan its statements once for any parameters: a block's INSERT binds
/// megabytes, and the plan PostgreSQL makes for the values of an unnamed statement copies them
/// into itself twice (constant folding, then the plan's copy), ~2 % of the server's time in a
/// year's import. The import's other statements are plain lookups, calls and the attaches.
async fn plan_generically(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan").await?;
    Ok(())
}

/// `batches` COPYed in `tx` as they come, with their `rollups` ([`Store::import_bar_batches`]),
/// up to the commit.
async fn stream_batches(
    config: &tokio_postgres::Config,
    tx: &tokio_postgres::Transaction<'_>,
    (product, interval_ms, source): ImportTarget<'_>,
    rollups: &[i64],
    (first_ms, last_ms): (i64, i64),
    batches: &mut tokio::sync::mpsc::Receiver<std::result::Result<Vec<HistoryBar>, String>>,
    preparing: std::time::Instant,
) -> Result<StreamedImport> {
    let intervals: Vec<i64> = std::iter::once(interval_ms).chain(rollups.iter().copied()).collect();
    let loads = PartitionLoads::find(config, tx, &intervals, first_ms, last_ms).await?;
    plan_generically(tx).await?;
    let mut copy = RolledUpCopy::new(product, interval_ms, source, rollups, loads);
    let preparing = preparing.elapsed();
    match stream_into(tx, &mut copy, batches).await {
        Ok((waiting, last_seen)) => {
            tracing::info!(
                product,
                preparing_s = preparing.as_secs_f64(),
                waiting_for_batches_s = waiting.as_secs_f64(),
                "import read"
            );
            if last_seen != Some(last_ms) {
                copy.abandon().await;
                return Ok(StreamedImport::NotStreamed(format!(
                    "the batches ended at {last_seen:?}, not at the last bar announced ({last_ms})"
                )));
            }
            Ok(StreamedImport::Written(copy.finish(tx).await?))
        }
        Err(e) => {
            copy.abandon().await;
            match e {
                Streaming::Ended(why) => Ok(StreamedImport::NotStreamed(why)),
                Streaming::Failed(e) => Err(e),
            }
        }
    }
}

/// Why [`stream_into`] stopped before the batches' end.
enum Streaming {
    /// A batch was an error (the file's reader gave up): its reason.
    Ended(String),
    /// Writing failed.
    Failed(Error),
}

/// `batches` written into `copy` as they come, up to their end: the time spent waiting for them,
/// and the last bar's close.
async fn stream_into(
    tx: &tokio_postgres::Transaction<'_>,
    copy: &mut RolledUpCopy<'_>,
    batches: &mut tokio::sync::mpsc::Receiver<std::result::Result<Vec<HistoryBar>, String>>,
) -> std::result::Result<(std::time::Duration, Option<i64>), Streaming> {
    let mut last_seen: Option<i64> = None;
    let mut waiting = std::time::Duration::ZERO;
    loop {
        let t = std::time::Instant::now();
        let Some(batch) = batches.recv().await else { break };
        waiting += t.elapsed();
        let batch = batch.map_err(Streaming::Ended)?;
        if let Some(b) = batch.last() {
            last_seen = Some(b.close_ms);
        }
        copy.push(tx, batch).await.map_err(Streaming::Failed)?;
    }
    Ok((waiting, last_seen))
}

/// The intervals `$1` (a product) has bars of: one index probe per interval. (A `WHERE EXISTS`
/// is planned as a join that, without statistics on the partitions, as right after an import,
/// reads every bar of the product: 120 ms for a year of 1-minute bars and its rollups, in every
/// run.)
#[doc(hidden)]
pub const STORED_INTERVALS: &str =
    "SELECT p.iv FROM (SELECT DISTINCT interval_ms AS iv FROM crypto_gaf.history_partitions WHERE parent = 'bars') p
     CROSS JOIN LATERAL (SELECT 1 FROM crypto_gaf.bars b WHERE b.product = $1 AND b.interval_ms = p.iv LIMIT 1) stored
     ORDER BY p.iv";

/// Ranges of more intervals than this are counted in two halves at once ([`Store::count_bar_rows`]).
pub const SPLIT_COUNT_BARS: i64 = 100_000;

fn r_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

async fn roll_up_with<C: GenericClient>(
    client: &C,
    product: &str,
    fine_ms: i64,
    coarse_ms: i64,
    after_ms: i64,
    until_ms: i64,
) -> Result<u64> {
    forget_bar_blocks(client, product, coarse_ms, after_ms, until_ms.saturating_add(coarse_ms)).await?;
    Ok(client.execute(ROLL_UP, &[&product, &fine_ms, &coarse_ms, &time_of_ms(after_ms), &time_of_ms(until_ms)]).await?)
}
