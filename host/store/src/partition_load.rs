//! How an import writes bars fast: the bars of a partition that does not exist yet are COPYed
//! into a table of their own (made in the import's transaction, no key yet, rows frozen), keyed
//! once with a sort, and attached as that partition when the import ends
//! (`crypto_gaf.attach_bars_partition`). COPY into an existing partition maintains its key row by
//! row, which is most of what a large import costs; bars of existing partitions still go that way.

use crate::types::time_of_ms;
use crate::Result;
use cgaf_trade_domain::history::{block_period, BarOrigin, HistoryBar};
use std::collections::BTreeMap;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// A partition the import makes: its name, range and the table its bars are loaded into.
#[derive(Debug)]
struct LoadedPartition {
    /// The partition's name (`bars_1m_202501`).
    name: String,
    /// Its range of close times, ms: `[starts, ends)`.
    ends: i64,
    /// The table loaded so far, once a bar of the period came.
    table: Option<String>,
}

/// The partitions of the intervals an import writes that did not exist when it began, and the
/// tables loaded for them.
#[derive(Debug, Default)]
pub(crate) struct PartitionLoads {
    /// Per interval (ms), the missing partitions by the start of their period (ms).
    missing: BTreeMap<i64, BTreeMap<i64, LoadedPartition>>,
    /// Part of the loaded tables' names, so two imports at once never pick the same name.
    backend: i32,
}

/// What [`PartitionLoads::attach`] did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Attached {
    /// Loaded tables that became partitions.
    pub attached: u32,
    /// Loaded tables whose partition another transaction made meanwhile (their rows were
    /// inserted into it).
    pub moved: u32,
    /// The partitions attached, per interval (ms): the starts of their periods (ms). They hold
    /// the import's bars alone.
    pub made: BTreeMap<i64, Vec<i64>>,
    /// Seconds spent keying the loaded tables.
    pub keying_s: f64,
    /// Seconds spent attaching them.
    pub attaching_s: f64,
}

impl PartitionLoads {
    /// The partitions of each of `intervals` that bars closing in `[first_ms, last_ms]` (widened
    /// by an interval each way, as the partitions an import needs are) fall in and that do not
    /// exist. The LIST partition of each interval must exist (`Store::prepare_import` makes it).
    pub(crate) async fn find(
        tx: &tokio_postgres::Transaction<'_>,
        intervals: &[i64],
        first_ms: i64,
        last_ms: i64,
    ) -> Result<Self> {
        let mut loads = PartitionLoads {
            backend: tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0),
            ..Default::default()
        };
        for &iv in intervals {
            let rows = tx
                .query(
                    "SELECT name, starts, ends FROM crypto_gaf.history_partition_periods('bars', $1, $2, $3) WHERE NOT made",
                    &[&iv, &time_of_ms(first_ms - iv), &time_of_ms(last_ms + iv)],
                )
                .await?;
            let missing = loads.missing.entry(iv).or_default();
            for r in rows {
                let starts: chrono::DateTime<chrono::Utc> = r.get(1);
                let ends: chrono::DateTime<chrono::Utc> = r.get(2);
                missing.insert(
                    starts.timestamp_millis(),
                    LoadedPartition { name: r.get(0), ends: ends.timestamp_millis(), table: None },
                );
            }
        }
        Ok(loads)
    }

    /// COPYs `bars` (of `interval_ms`, in close order) period by period: into the table loaded
    /// for a missing partition (made on its first bar), else into `crypto_gaf.bars`. Gives the
    /// bars written.
    pub(crate) async fn copy(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        product: &str,
        interval_ms: i64,
        source: &str,
        bars: &[HistoryBar],
    ) -> Result<u64> {
        let mut written = 0;
        let mut rest = bars;
        while let Some(first) = rest.first() {
            let missing = self.missing.entry(interval_ms).or_default();
            let t = first.close_ms;
            // The run of bars in one partition: a missing one (by the start of its period),
            // else an existing one up to the next missing one.
            let loaded = missing.range(..=t).next_back().filter(|(_, p)| t < p.ends).map(|(&starts, _)| starts);
            let ends = match loaded {
                Some(starts) => missing[&starts].ends,
                None => {
                    let next_missing = missing.range(t..).next().map_or(i64::MAX, |(&starts, _)| starts);
                    block_period(interval_ms, t).1.min(next_missing)
                }
            };
            let n = rest.partition_point(|b| b.close_ms < ends).max(1);
            let (run, tail) = rest.split_at(n);
            rest = tail;
            written += match loaded.and_then(|starts| missing.get_mut(&starts).map(|p| (starts, p))) {
                Some((starts, partition)) => {
                    let table = match &partition.table {
                        Some(table) => table.clone(),
                        None => {
                            let table = format!("{}_load_{}", partition.name, self.backend);
                            tx.execute(
                                "SELECT crypto_gaf.make_loaded_bars_table($1, $2, $3, $4, $5, $6)",
                                &[
                                    &table,
                                    &product,
                                    &interval_ms,
                                    &source,
                                    &time_of_ms(starts),
                                    &time_of_ms(partition.ends),
                                ],
                            )
                            .await?;
                            partition.table = Some(table.clone());
                            table
                        }
                    };
                    copy_loaded(tx, &table, run).await?
                }
                None => copy_bars(tx, "crypto_gaf.bars", product, interval_ms, source, run).await?,
            };
        }
        Ok(written)
    }

    /// Keys every loaded table (one sort each) and attaches it as its partition; to be called
    /// once all bars are copied, just before what reads them back through `crypto_gaf.bars`.
    pub(crate) async fn attach(self, tx: &tokio_postgres::Transaction<'_>) -> Result<Attached> {
        let loaded: Vec<(i64, i64, LoadedPartition)> = self
            .missing
            .into_iter()
            .flat_map(|(iv, m)| m.into_iter().map(move |(starts, p)| (iv, starts, p)))
            .filter(|(_, _, p)| p.table.is_some())
            .collect();
        // The keys first: the parent's lock, taken by the first attach, is held to the end of
        // the transaction, and every other import and partition maker waits for it.
        let t = std::time::Instant::now();
        let keys: String = loaded
            .iter()
            .filter_map(|(_, _, p)| p.table.as_deref())
            .map(|table| {
                format!("ALTER TABLE crypto_gaf.\"{table}\" ADD PRIMARY KEY (product, interval_ms, close_time);\n")
            })
            .collect();
        if !keys.is_empty() {
            tx.batch_execute(&keys).await?;
        }
        let mut done = Attached { keying_s: t.elapsed().as_secs_f64(), ..Default::default() };
        let t = std::time::Instant::now();
        for (iv, starts, p) in &loaded {
            let attached: bool = tx
                .query_one(
                    "SELECT crypto_gaf.attach_bars_partition($1, $2, $3, $4, $5)",
                    &[iv, &p.table, &p.name, &time_of_ms(*starts), &time_of_ms(p.ends)],
                )
                .await?
                .get(0);
            if attached {
                done.attached += 1;
                done.made.entry(*iv).or_default().push(*starts);
            } else {
                done.moved += 1;
            }
        }
        done.attaching_s = t.elapsed().as_secs_f64();
        Ok(done)
    }
}

/// The columns of a loaded table's COPY; the others are the table's defaults (the product,
/// interval, origin and source every row of the import shares) or NULL (the book and sample
/// count, which only collected bars have).
const LOADED_COLUMNS: &str = "close_time, open, high, low, close, volume, buy_volume, sell_volume";

/// Bytes of COPY data sent at a time.
const COPY_CHUNK_BYTES: usize = 1 << 18;

/// COPYs `bars` into the loaded table `table` (made in this transaction: rows frozen), in
/// PostgreSQL's binary COPY format written here directly: eight fields a row, every one of them a
/// fixed-size value or NULL, which needs none of the generic row writer's per-field work.
async fn copy_loaded(tx: &tokio_postgres::Transaction<'_>, table: &str, bars: &[HistoryBar]) -> Result<u64> {
    use futures::SinkExt;
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY crypto_gaf.\"{table}\" ({LOADED_COLUMNS}) FROM STDIN (FORMAT binary, FREEZE)"
        ))
        .await?;
    futures::pin_mut!(sink);
    let mut out = bytes::BytesMut::with_capacity(COPY_CHUNK_BYTES + 1024);
    out.extend_from_slice(COPY_HEADER);
    for b in bars {
        encode_loaded_row(&mut out, b);
        if out.len() >= COPY_CHUNK_BYTES {
            sink.send(out.split().freeze()).await?;
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    sink.send(out.freeze()).await?;
    Ok(sink.finish().await?)
}

/// The binary COPY header: signature, flags (none), header extension length (none).
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// One row of [`LOADED_COLUMNS`] in binary COPY: the field count, then each field's length
/// (-1 for NULL) and big-endian value (timestamptz as microseconds from 2000-01-01).
fn encode_loaded_row(out: &mut bytes::BytesMut, b: &HistoryBar) {
    use bytes::BufMut;
    out.put_i16(8);
    out.put_i32(8);
    out.put_i64(b.close_ms * 1000 - PG_EPOCH_US);
    for v in [b.open, b.high, b.low, b.close, b.volume] {
        out.put_i32(8);
        out.put_f64(v);
    }
    for v in [b.buy_volume, b.sell_volume] {
        match v {
            Some(v) => {
                out.put_i32(8);
                out.put_f64(v);
            }
            None => out.put_i32(-1),
        }
    }
}

/// The columns of a bar, as COPY and the merge write them.
pub(crate) const BAR_COLUMNS: &str = "product, interval_ms, close_time, open, high, low, close, volume, buy_volume, \
     sell_volume, sample_count, bid, ask, bid_depth, ask_depth, origin, source";

/// The types of [`BAR_COLUMNS`].
const BAR_COPY_TYPES: [Type; 17] = [
    Type::TEXT,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::INT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
];

/// COPYs `bars` into `table` (`crypto_gaf.bars`, or a table of its shape) as imported bars,
/// every column of them.
pub(crate) async fn copy_bars(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    product: &str,
    interval_ms: i64,
    source: &str,
    bars: &[HistoryBar],
) -> Result<u64> {
    let sink = tx.copy_in(&format!("COPY {table} ({BAR_COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
    let writer = BinaryCopyInWriter::new(sink, &BAR_COPY_TYPES);
    futures::pin_mut!(writer);
    let origin = BarOrigin::Imported.as_str();
    for b in bars {
        let close = time_of_ms(b.close_ms);
        let book = b.book;
        let (bid, ask, bid_depth, ask_depth) =
            (book.map(|k| k.bid), book.map(|k| k.ask), book.map(|k| k.bid_depth), book.map(|k| k.ask_depth));
        let row: [&(dyn ToSql + Sync); 17] = [
            &product,
            &interval_ms,
            &close,
            &b.open,
            &b.high,
            &b.low,
            &b.close,
            &b.volume,
            &b.buy_volume,
            &b.sell_volume,
            &b.sample_count,
            &bid,
            &ask,
            &bid_depth,
            &ask_depth,
            &origin,
            &source,
        ];
        writer.as_mut().write(&row).await?;
    }
    Ok(writer.finish().await?)
}
