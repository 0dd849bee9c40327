//! Samples: insert-and-trim with the collector cursor in one transaction, and the consistent
//! newest-first snapshot that calculate reads.

use crate::history::HistoryTable;
use crate::{Error, NewSample, Result, Store};
use cgaf_trade_domain::history::COLLECTED_INTERVAL_MS;
use rust_decimal::Decimal;

/// One product's newest samples, newest first (index 0 = now), read in a single statement so the
/// series cannot be misaligned. Numbers are parsed from PostgreSQL's exact decimal text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `sample_id` per sample.
    pub sample_ids: Vec<i64>,
    /// Midpoint as float64 (correctly rounded from the stored numeric).
    pub midpoints: Vec<f64>,
    /// The newest midpoint's exact decimal text.
    pub newest_midpoint: Option<String>,
    /// Ask sizes per sample and level (index 0 = best); as exact decimals.
    pub ask_sizes: Vec<Vec<Option<Decimal>>>,
    /// Bid sizes per sample and level.
    pub bid_sizes: Vec<Vec<Option<Decimal>>>,
    /// Buys `[price, size, numOrders]`, each a 5-row centred moving average over the product's
    /// samples (the original's SQL window); `None` where the window holds no value.
    pub buys: Vec<[Option<f64>; 3]>,
    /// Sells, as `buys`.
    pub sells: Vec<[Option<f64>; 3]>,
}

impl Snapshot {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.sample_ids.len()
    }
    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.sample_ids.is_empty()
    }
}

const SNAPSHOT_SQL: &str = "
SELECT sample_id, midpoint::text, ask_sizes::text[], bid_sizes::text[],
       (avg(buys[1]) OVER w)::text, (avg(buys[2]) OVER w)::text, (avg(buys[3]) OVER w)::text,
       (avg(sells[1]) OVER w)::text, (avg(sells[2]) OVER w)::text, (avg(sells[3]) OVER w)::text
FROM crypto_gaf.samples
WHERE product = $1 AND midpoint IS NOT NULL
WINDOW w AS (ORDER BY sample_id DESC ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING)
ORDER BY sample_id DESC
LIMIT $2";

fn parse_f64(what: &'static str, s: &str) -> Result<f64> {
    s.parse::<f64>().map_err(|e| Error::BadData { what, detail: format!("{s:?}: {e}") })
}

fn parse_levels(v: Option<Vec<Option<String>>>) -> Vec<Option<Decimal>> {
    v.unwrap_or_default()
        .into_iter()
        .map(|c| c.and_then(|s| s.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(&s).ok())))
        .collect()
}

impl Store {
    /// Inserts `sample`, trims the product to its newest `max_size` samples and stores the
    /// collector `cursor`, all in one transaction. Returns the new `sample_id`.
    pub async fn insert_sample(
        &self,
        sample: &NewSample,
        max_size: i32,
        source: &str,
        cursor: Option<&serde_json::Value>,
    ) -> Result<i64> {
        self.insert_sample_fenced(sample, max_size, source, cursor, None).await
    }

    /// As [`Store::insert_sample`], but only while worker `worker` holds the product's collect
    /// lease (checked and locked in the same transaction): a worker that lost its lease can
    /// never write a sample its successor also writes.
    ///
    /// The sample's 1-second bar of the history store (and its archive copy, when the archive is
    /// on) is written in the same transaction, so a restart neither loses nor double-counts it;
    /// a missing history partition is created and the transaction retried once.
    pub async fn insert_sample_fenced(
        &self,
        sample: &NewSample,
        max_size: i32,
        source: &str,
        cursor: Option<&serde_json::Value>,
        worker: Option<&str>,
    ) -> Result<i64> {
        match self.insert_sample_once(sample, max_size, source, cursor, worker).await {
            Err(e) if crate::history::needs_partition(&e) => {
                let t = sample.sampled_at.timestamp_millis();
                self.ensure_history_partitions(HistoryTable::Bars(COLLECTED_INTERVAL_MS), t, t + 86_400_000).await?;
                if self.archive_samples {
                    self.ensure_history_partitions(HistoryTable::SampleArchive, t, t + 86_400_000).await?;
                }
                self.insert_sample_once(sample, max_size, source, cursor, worker).await
            }
            r => r,
        }
    }

    async fn insert_sample_once(
        &self,
        sample: &NewSample,
        max_size: i32,
        source: &str,
        cursor: Option<&serde_json::Value>,
        worker: Option<&str>,
    ) -> Result<i64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(worker) = worker {
            let held = tx
                .query_opt(
                    "SELECT 1 FROM crypto_gaf.leases
                     WHERE role = 'collect' AND product = $1 AND holder = $2 AND expires_at > now() FOR UPDATE",
                    &[&sample.product, &worker],
                )
                .await?;
            if held.is_none() {
                return Err(Error::LeaseLost(sample.product.clone()));
            }
        }
        let ask_prices: Vec<Decimal> = sample.asks.iter().map(|l| l.price).collect();
        let ask_sizes: Vec<Decimal> = sample.asks.iter().map(|l| l.size).collect();
        let bid_prices: Vec<Decimal> = sample.bids.iter().map(|l| l.price).collect();
        let bid_sizes: Vec<Decimal> = sample.bids.iter().map(|l| l.size).collect();
        let row = tx
            .query_one(
                "INSERT INTO crypto_gaf.samples
                   (ask_prices, ask_sizes, bid_prices, bid_sizes, buys, midpoint, product, sells, sampled_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING sample_id",
                &[
                    &ask_prices,
                    &ask_sizes,
                    &bid_prices,
                    &bid_sizes,
                    &sample.buys.to_triple(),
                    &sample.midpoint,
                    &sample.product,
                    &sample.sells.to_triple(),
                    &sample.sampled_at,
                ],
            )
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                    Error::UnknownProduct(sample.product.clone())
                }
                _ => e.into(),
            })?;
        let id: i64 = row.get(0);
        crate::history::record_sample(&*tx, id, source, self.archive_samples).await?;
        trim(&*tx, &sample.product, max_size).await?;
        if let Some(cursor) = cursor {
            tx.execute(
                "INSERT INTO crypto_gaf.collector_cursors (product, source, cursor, updated_at)
                 VALUES ($1, $2, $3, now())
                 ON CONFLICT (product) DO UPDATE SET source = EXCLUDED.source, cursor = EXCLUDED.cursor,
                   updated_at = now()",
                &[&sample.product, &source, cursor],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Deletes all but the newest `max_size` samples of `product` (only that product's rows).
    pub async fn trim_samples(&self, product: &str, max_size: i32) -> Result<u64> {
        let client = self.client().await?;
        trim(&**client, product, max_size).await
    }

    /// The stored collector cursor of `product` for `source`; `None` when there is none or it was
    /// written by another source.
    pub async fn load_cursor(&self, product: &str, source: &str) -> Result<Option<serde_json::Value>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT cursor FROM crypto_gaf.collector_cursors WHERE product = $1 AND source = $2",
                &[&product, &source],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Reads the newest `max_size` samples of `product` as one consistent snapshot.
    pub async fn snapshot(&self, product: &str, max_size: i32) -> Result<Snapshot> {
        let rows = self.client().await?.query(SNAPSHOT_SQL, &[&product, &i64::from(max_size.max(0))]).await?;
        let mut s = Snapshot::default();
        for (i, r) in rows.iter().enumerate() {
            s.sample_ids.push(r.get(0));
            let mid: String = r.get(1);
            s.midpoints.push(parse_f64("samples.midpoint", &mid)?);
            if i == 0 {
                s.newest_midpoint = Some(mid);
            }
            s.ask_sizes.push(parse_levels(r.get(2)));
            s.bid_sizes.push(parse_levels(r.get(3)));
            let trio = |base: usize| -> Result<[Option<f64>; 3]> {
                let mut out = [None; 3];
                for (k, slot) in out.iter_mut().enumerate() {
                    let v: Option<String> = r.get(base + k);
                    *slot = v.map(|t| parse_f64("samples.buys/sells", &t)).transpose()?;
                }
                Ok(out)
            };
            s.buys.push(trio(4)?);
            s.sells.push(trio(7)?);
        }
        Ok(s)
    }

    /// Count of samples stored for `product`.
    pub async fn count_samples(&self, product: &str) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM crypto_gaf.samples WHERE product = $1", &[&product])
            .await?;
        Ok(row.get(0))
    }
}

async fn trim<C: tokio_postgres::GenericClient>(client: &C, product: &str, max_size: i32) -> Result<u64> {
    let keep = i64::from(max_size.max(1));
    Ok(client
        .execute(
            "DELETE FROM crypto_gaf.samples WHERE product = $1 AND sample_id < (
               SELECT sample_id FROM crypto_gaf.samples WHERE product = $1
               ORDER BY sample_id DESC OFFSET $2::bigint - 1 LIMIT 1)",
            &[&product, &keep],
        )
        .await?)
}
