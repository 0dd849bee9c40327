//! Keeps the history store in shape on the host's schedule: partitions created ahead of time,
//! coarser bars rolled up from the finer ones, the bars of each ended period written as a block
//! (what runs read instead of the period's rows), and whole partitions dropped by retention.

use cgaf_store::{HistoryTable, Product, Store};
use cgaf_trade::domain::history::HistorySettings;

/// How long after its close a coarse bar is rolled up (samples committed just after a close still
/// land in their 1-second bar).
const ROLLUP_GRACE_MS: i64 = 2_000;
/// Partitions are created this far ahead of now.
const AHEAD_MS: i64 = 2 * 86_400_000;
/// A period's block is written once the period ended this many of its bars ago (and
/// [`ROLLUP_GRACE_MS`]): the rollups recompute the last two coarse bars, which forgets the block
/// of the period they fall in.
const BLOCK_AFTER_BARS: i64 = 3;
/// Blocks written per product and interval in one pass at most (a start over a long history
/// catches up over several passes instead of holding up the rollups).
const BLOCKS_PER_PASS: u64 = 8;
/// Every ended period is looked at again this often for a missing block: a late write into a
/// period forgets its block, and the period gets it back within this time.
const BLOCKS_REVISIT_MS: i64 = 3_600_000;

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeeperReport {
    /// Partitions created.
    pub partitions_created: i32,
    /// Coarse bars written by rollups.
    pub bars_rolled_up: u64,
    /// Bar blocks written for ended periods.
    pub blocks_written: u64,
    /// Partitions dropped by retention.
    pub partitions_dropped: Vec<String>,
}

/// The history store's maintenance, per the service's [`HistorySettings`].
#[derive(Debug, Clone)]
pub struct HistoryKeeper {
    /// What to keep.
    pub settings: HistorySettings,
    /// Partitions exist up to this time (ms); they are made again a day before it runs out.
    partitions_until_ms: i64,
    /// Per product and interval, the last instant up to which every ended period was looked at
    /// for a missing block (from the first stored bar on, after a start).
    blocks_looked_until: std::collections::HashMap<(String, i64), i64>,
    /// When the looking started from the first stored bar again (ms; every
    /// [`BLOCKS_REVISIT_MS`]).
    blocks_revisited_at_ms: i64,
}

impl HistoryKeeper {
    /// A keeper of `settings` (no partitions made yet).
    pub fn new(settings: HistorySettings) -> HistoryKeeper {
        HistoryKeeper {
            settings,
            partitions_until_ms: i64::MIN,
            blocks_looked_until: Default::default(),
            blocks_revisited_at_ms: i64::MIN,
        }
    }

    /// Creates the partitions around `now_ms` that collect and the rollups write into, unless
    /// they exist for more than a day ahead already.
    pub async fn ensure_partitions(&mut self, store: &Store, now_ms: i64) -> cgaf_store::Result<i32> {
        if now_ms + AHEAD_MS / 2 < self.partitions_until_ms {
            return Ok(0);
        }
        let mut made = 0;
        for iv in self.settings.stored_intervals() {
            made += store.ensure_history_partitions(HistoryTable::Bars(iv), now_ms - iv, now_ms + AHEAD_MS).await?;
        }
        if self.settings.keep_samples_ms.is_some() {
            made += store.ensure_history_partitions(HistoryTable::SampleArchive, now_ms, now_ms + AHEAD_MS).await?;
        }
        self.partitions_until_ms = now_ms + AHEAD_MS;
        Ok(made)
    }

    /// Rolls up every configured interval of `product` from its source interval, recomputing the
    /// last two coarse bars (so samples that arrived late are included) and every closed one
    /// after them.
    pub async fn roll_up(&self, store: &Store, product: &str, now_ms: i64) -> cgaf_store::Result<u64> {
        let mut written = 0;
        for &coarse in &self.settings.rollup_intervals {
            let fine = self.settings.rollup_source(coarse);
            let after = match store.last_bar_ms(product, coarse).await? {
                Some(last) => last - 2 * coarse,
                None => 0,
            };
            written += store.roll_up(product, fine, coarse, after, now_ms - ROLLUP_GRACE_MS).await?;
        }
        Ok(written)
    }

    /// Writes the block of every ended period of `product`'s stored intervals that has none: the
    /// collected bars (and any other written without one) become what an import's are, one value a
    /// period for runs to read. Each period is looked at after it ended, and every ended period
    /// again every [`BLOCKS_REVISIT_MS`] (a block a later write forgot is written back then).
    pub async fn write_blocks(&mut self, store: &Store, product: &str, now_ms: i64) -> cgaf_store::Result<u64> {
        if now_ms.saturating_sub(self.blocks_revisited_at_ms) >= BLOCKS_REVISIT_MS {
            self.blocks_looked_until.clear();
            self.blocks_revisited_at_ms = now_ms;
        }
        let mut written = 0;
        for iv in self.settings.stored_intervals() {
            let key = (product.to_string(), iv);
            let after = match self.blocks_looked_until.get(&key) {
                Some(&t) => t,
                None => match store.first_bar_ms(product, iv).await? {
                    Some(first) => first - 1,
                    None => continue,
                },
            };
            let until = now_ms - BLOCK_AFTER_BARS * iv - ROLLUP_GRACE_MS;
            let (n, looked_until) =
                store.write_missing_bar_blocks(product, iv, (after, until), BLOCKS_PER_PASS).await?;
            written += n;
            self.blocks_looked_until.insert(key, looked_until);
        }
        Ok(written)
    }

    /// Drops the partitions past their interval's retention (and the sample archive's).
    pub async fn apply_retention(&self, store: &Store, now_ms: i64) -> cgaf_store::Result<Vec<String>> {
        let mut dropped = Vec::new();
        for iv in self.settings.stored_intervals() {
            if let Some(keep) = self.settings.retention.keep_ms(iv) {
                dropped.extend(store.drop_history_partitions(HistoryTable::Bars(iv), now_ms - keep).await?);
            }
        }
        if let Some(keep) = self.settings.keep_samples_ms {
            dropped.extend(store.drop_history_partitions(HistoryTable::SampleArchive, now_ms - keep).await?);
        }
        Ok(dropped)
    }

    /// One pass over `products`: partitions, rollups, blocks of ended periods, retention.
    pub async fn tick(&mut self, store: &Store, products: &[Product], now_ms: i64) -> cgaf_store::Result<KeeperReport> {
        let mut report = KeeperReport {
            partitions_created: self.ensure_partitions(store, now_ms).await?,
            ..KeeperReport::default()
        };
        for p in products {
            report.bars_rolled_up += self.roll_up(store, &p.product, now_ms).await?;
            report.blocks_written += self.write_blocks(store, &p.product, now_ms).await?;
        }
        report.partitions_dropped = self.apply_retention(store, now_ms).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_store::{DbSettings, Level, NewSample, TradeSummary};
    use std::time::Duration;

    /// 2025-03-10 00:00:00 UTC, ms.
    const DAY: i64 = 1_741_564_800_000;

    fn sample(at_ms: i64, price: &str) -> NewSample {
        let lvl = |p: &str| Level { price: p.parse().unwrap(), size: "1".parse().unwrap(), num_orders: 1 };
        let trades = TradeSummary { price: price.parse().unwrap(), size: "1".parse().unwrap(), num_orders: 1 };
        NewSample {
            product: "BTC-USD".into(),
            midpoint: price.parse().unwrap(),
            asks: vec![lvl("200")],
            bids: vec![lvl("1")],
            buys: trades,
            sells: trades,
            sampled_at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap(),
        }
    }

    /// The block count of each interval.
    async fn block_counts(store: &Store) -> Vec<(i64, i64)> {
        let client = store.client().await.unwrap();
        let rows = client
            .query(
                "SELECT interval_ms, count(*) FROM crypto_gaf.bar_blocks WHERE product = 'BTC-USD'
                 GROUP BY interval_ms ORDER BY interval_ms",
                &[],
            )
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// Collected bars get blocks as an import's do, once their period has ended: runs then read
    /// the blocks, which equal the rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bars_of_ended_periods_get_blocks_equal_to_their_rows() {
        let database = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
        let store = Store::new(&DbSettings::new(database.url.clone())).unwrap();
        store.wait_ready(Duration::from_secs(30)).await.unwrap();
        store.migrate().await.unwrap();
        store.add_product("BTC-USD", 5).await.unwrap();
        // Samples over two days of March 2025: a minute at noon of each.
        for day in [DAY, DAY + 86_400_000] {
            for s in 0..60 {
                let at = day + 43_200_000 + s * 1000 + 500;
                store.insert_sample(&sample(at, &format!("{}", 100 + s % 7)), 5, "sim", None).await.unwrap();
            }
        }
        let mut keeper = HistoryKeeper::new(HistorySettings::default());
        let now = chrono::Utc::now().timestamp_millis();
        keeper.roll_up(&store, "BTC-USD", now).await.unwrap();
        assert_eq!(block_counts(&store).await, []);
        // The two days of 1s bars; March's 1m, 5m and 15m; 2025's 1h and 1d (all ended).
        let written = keeper.write_blocks(&store, "BTC-USD", now).await.unwrap();
        assert_eq!(written, 7);
        let expected = [(1000, 2), (60_000, 1), (300_000, 1), (900_000, 1), (3_600_000, 1), (86_400_000, 1)];
        assert_eq!(block_counts(&store).await, expected);
        // Runs read them, and they are the rows.
        for iv in [1000, 60_000, 3_600_000] {
            let mut reader = cgaf_trade::bars::BarReader::open(&store, "BTC-USD", iv, Some(DAY), DAY + 3 * 86_400_000)
                .await
                .unwrap();
            let mut read = Vec::new();
            while let Some(page) = reader.next_page().await.unwrap() {
                read.extend(page);
            }
            let rows: Vec<_> = store
                .bars_page("BTC-USD", iv, DAY - 1, DAY + 3 * 86_400_000, 1_000_000)
                .await
                .unwrap()
                .iter()
                .map(|b| b.to_bar())
                .collect();
            assert!(!rows.is_empty());
            assert_eq!(read, rows, "interval {iv}");
        }
        // Each period is looked at once: nothing more to write.
        assert_eq!(keeper.write_blocks(&store, "BTC-USD", now).await.unwrap(), 0);
        // A late sample lands in its 1-second bar and forgets that day's block; this keeper has
        // looked at the day, and looks again when the revisit time has passed (or a new one,
        // after the service started again, at once).
        store.insert_sample(&sample(DAY + 43_200_000 + 90_500, "120"), 5, "sim", None).await.unwrap();
        assert_eq!(block_counts(&store).await[0], (1000, 1));
        assert_eq!(keeper.write_blocks(&store, "BTC-USD", now).await.unwrap(), 0);
        assert_eq!(keeper.write_blocks(&store, "BTC-USD", now + BLOCKS_REVISIT_MS - 1).await.unwrap(), 0);
        assert_eq!(keeper.write_blocks(&store, "BTC-USD", now + BLOCKS_REVISIT_MS).await.unwrap(), 1);
        assert_eq!(block_counts(&store).await, expected);
        store.insert_sample(&sample(DAY + 43_200_000 + 91_500, "121"), 5, "sim", None).await.unwrap();
        assert_eq!(block_counts(&store).await[0], (1000, 1));
        let mut restarted = HistoryKeeper::new(HistorySettings::default());
        assert_eq!(restarted.write_blocks(&store, "BTC-USD", now).await.unwrap(), 1);
        assert_eq!(block_counts(&store).await, expected);
        // A day that has not ended three seconds ago gets no block yet.
        let mut early = HistoryKeeper::new(HistorySettings::default());
        store.insert_sample(&sample(DAY + 5 * 86_400_000 - 1500, "130"), 5, "sim", None).await.unwrap();
        assert_eq!(early.write_blocks(&store, "BTC-USD", DAY + 5 * 86_400_000 + 4000).await.unwrap(), 0);
        assert_eq!(early.write_blocks(&store, "BTC-USD", DAY + 5 * 86_400_000 + 5000).await.unwrap(), 1);
    }
}
