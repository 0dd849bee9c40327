//! Keeps the history store in shape on the host's schedule: partitions created ahead of time,
//! coarser bars rolled up from the finer ones, and whole partitions dropped by retention.

use cgaf_store::{HistoryTable, Product, Store};
use cgaf_trade::domain::history::HistorySettings;

/// How long after its close a coarse bar is rolled up (samples committed just after a close still
/// land in their 1-second bar).
const ROLLUP_GRACE_MS: i64 = 2_000;
/// Partitions are created this far ahead of now.
const AHEAD_MS: i64 = 2 * 86_400_000;

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeeperReport {
    /// Partitions created.
    pub partitions_created: i32,
    /// Coarse bars written by rollups.
    pub bars_rolled_up: u64,
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
}

impl HistoryKeeper {
    /// A keeper of `settings` (no partitions made yet).
    pub fn new(settings: HistorySettings) -> HistoryKeeper {
        HistoryKeeper { settings, partitions_until_ms: i64::MIN }
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

    /// One pass over `products`: partitions, rollups, retention.
    pub async fn tick(&mut self, store: &Store, products: &[Product], now_ms: i64) -> cgaf_store::Result<KeeperReport> {
        let mut report = KeeperReport {
            partitions_created: self.ensure_partitions(store, now_ms).await?,
            ..KeeperReport::default()
        };
        for p in products {
            report.bars_rolled_up += self.roll_up(store, &p.product, now_ms).await?;
        }
        report.partitions_dropped = self.apply_retention(store, now_ms).await?;
        Ok(report)
    }
}
