//! How an import writes bars fast: the bars of a partition that does not exist yet are COPYed
//! into a table of their own (no key yet, rows frozen) by one of [`LOADERS`] connections of the
//! import's own, each in a transaction of its own, so PostgreSQL loads two partitions at once;
//! each table is keyed once with a sort as soon as its period is complete, the loaders commit
//! their tables when the bars end, and the import's transaction attaches them as their
//! partitions (`crypto_gaf.attach_bars_partition`), so the bars appear all at once or not at all.
//! COPY into an existing partition maintains its key row by row, which is most of what a large
//! import costs; bars of existing partitions still go that way, on the import's connection.
//!
//! The loaded tables are named after the import's load (`bars_1m_202501_load_7`), whose advisory
//! lock the import's transaction holds to its end: an import that fails drops them once its
//! transaction has rolled back ([`drop_abandoned`]), and one that died is swept by the next
//! import (`crypto_gaf.drop_abandoned_partition_loads`).

use crate::types::time_of_ms;
use crate::{Error, Result};
use cgaf_trade_domain::history::{block_period, BarOrigin, HistoryBar};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Connections an import loads its new partitions on. Two keep a small server's two cores busy
/// (the import's own connection meanwhile writes the blocks); a partition is loaded whole by one.
pub(crate) const LOADERS: usize = 2;

/// Pieces of work a loader holds before the import waits for it: a batch of bars is one.
const LOADER_QUEUE: usize = 2;

/// A partition the import makes: its name, range and the table its bars are loaded into.
#[derive(Debug)]
struct LoadedPartition {
    /// The partition's name (`bars_1m_202501`).
    name: String,
    /// Its range of close times, ms: `[starts, ends)`.
    ends: i64,
    /// The loader loading its table, once a bar of the period came.
    loader: Option<usize>,
}

impl LoadedPartition {
    /// The table its bars are loaded into by the import's `load`.
    fn table(&self, load: i32) -> String {
        format!("{}_load_{load}", self.name)
    }
}

/// What a loader is asked to do, in order.
#[derive(Debug)]
enum LoaderWork {
    /// Make the table `table` for the bars of the import closing in `[starts, ends)` ms.
    Make { table: String, product: String, interval_ms: i64, source: String, starts: i64, ends: i64 },
    /// COPY bars into a table made before.
    Copy { table: String, bars: Vec<HistoryBar> },
    /// Key a table: its period is complete.
    Key { table: String },
    /// Key what is left, and commit.
    Commit,
}

/// What a loader did, when it committed.
#[derive(Debug, Default, Clone, Copy)]
struct LoaderDone {
    /// Seconds spent COPYing.
    copying_s: f64,
    /// Seconds spent keying.
    keying_s: f64,
}

/// A connection loading partitions: where to send it work, and the task doing it.
struct Loader {
    work: mpsc::Sender<LoaderWork>,
    task: Option<tokio::task::JoinHandle<Result<LoaderDone>>>,
    /// Bars sent to it.
    sent: u64,
    /// Bars it has COPYed so far (a new partition goes to the loader with the fewest bars
    /// still to COPY).
    copied: Arc<AtomicU64>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader").field("sent", &self.sent).field("copied", &self.copied).finish()
    }
}

impl Loader {
    /// Starts a loader on a connection of its own.
    fn spawn(config: tokio_postgres::Config) -> Self {
        let (work, queue) = mpsc::channel(LOADER_QUEUE);
        let copied = Arc::new(AtomicU64::new(0));
        Loader { work, task: Some(tokio::spawn(load(config, queue, copied.clone()))), sent: 0, copied }
    }

    /// Bars sent to it and not COPYed yet.
    fn behind(&self) -> u64 {
        self.sent.saturating_sub(self.copied.load(Ordering::Relaxed))
    }

    /// Sends it work; when it ended already, gives the error it ended with.
    async fn send(&mut self, work: LoaderWork) -> Result<()> {
        if self.work.send(work).await.is_ok() {
            return Ok(());
        }
        match self.join().await {
            Err(e) => Err(e),
            Ok(_) => Err(Error::PartitionLoad("a loader ended before its work did".into())),
        }
    }

    /// Waits for it to end.
    async fn join(&mut self) -> Result<LoaderDone> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::PartitionLoad(format!("a loader failed: {e}")))?,
            None => Err(Error::PartitionLoad("a loader was waited for twice".into())),
        }
    }
}

/// A loader's task: one connection, one transaction, committed only when asked (the work ending
/// otherwise means the import failed, and the transaction rolls back with all it made).
async fn load(
    config: tokio_postgres::Config,
    mut queue: mpsc::Receiver<LoaderWork>,
    copied: Arc<AtomicU64>,
) -> Result<LoaderDone> {
    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "partition loader's connection ended");
        }
    });
    let done = async {
        let tx = client.transaction().await?;
        // Its commit need not wait for the disk: the import's own commit comes later in the WAL,
        // and waiting for that one makes this one durable too.
        tx.batch_execute("SET LOCAL synchronous_commit = off").await?;
        let mut done = LoaderDone::default();
        let mut unkeyed: Vec<String> = Vec::new();
        while let Some(work) = queue.recv().await {
            match work {
                LoaderWork::Make { table, product, interval_ms, source, starts, ends } => {
                    tx.execute(
                        "SELECT crypto_gaf.make_loaded_bars_table($1, $2, $3, $4, $5, $6)",
                        &[&table, &product, &interval_ms, &source, &time_of_ms(starts), &time_of_ms(ends)],
                    )
                    .await?;
                    unkeyed.push(table);
                }
                LoaderWork::Copy { table, bars } => {
                    let t = std::time::Instant::now();
                    copied.fetch_add(copy_loaded(&tx, &table, &bars).await?, Ordering::Relaxed);
                    done.copying_s += t.elapsed().as_secs_f64();
                }
                LoaderWork::Key { table } => {
                    let t = std::time::Instant::now();
                    unkeyed.retain(|u| *u != table);
                    tx.batch_execute(&key(&table)).await?;
                    done.keying_s += t.elapsed().as_secs_f64();
                }
                LoaderWork::Commit => {
                    let t = std::time::Instant::now();
                    let keys: String = unkeyed.iter().map(|table| key(table)).collect();
                    if !keys.is_empty() {
                        tx.batch_execute(&keys).await?;
                    }
                    done.keying_s += t.elapsed().as_secs_f64();
                    tx.commit().await?;
                    return Ok(done);
                }
            }
        }
        Err(Error::PartitionLoad("the import ended before its partitions were loaded".into()))
    }
    .await;
    drop(client);
    let _ = driver.await;
    done
}

/// The statement keying a loaded table (one sort).
fn key(table: &str) -> String {
    format!("ALTER TABLE crypto_gaf.\"{table}\" ADD PRIMARY KEY (product, interval_ms, close_time);\n")
}

/// Drops the loaded tables of imports whose transaction ended without attaching them: on the
/// import's own connection after its transaction failed (so after its rollback), they are its
/// own. Failing to is only logged: the next import sweeps them.
pub(crate) async fn drop_abandoned(client: &tokio_postgres::Client) {
    if let Err(e) = client.query_one("SELECT crypto_gaf.drop_abandoned_partition_loads()", &[]).await {
        tracing::warn!(error = %e, "dropping the tables of a failed import (the next import will)");
    }
}

/// The partitions of the intervals an import writes that did not exist when it began, the
/// tables loaded for them, and the loaders loading them.
#[derive(Debug)]
pub(crate) struct PartitionLoads {
    /// Per interval (ms), the missing partitions by the start of their period (ms).
    missing: BTreeMap<i64, BTreeMap<i64, LoadedPartition>>,
    /// The import's load: part of the loaded tables' names; its transaction holds its lock.
    load: i32,
    /// How the loaders connect.
    config: tokio_postgres::Config,
    /// The loaders started so far (at most [`LOADERS`]).
    loaders: Vec<Loader>,
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
    /// Seconds the loaders spent COPYing, summed (they work at once).
    pub loaders_copying_s: f64,
    /// Seconds the loaders spent keying their tables, summed.
    pub loaders_keying_s: f64,
    /// Seconds waited at the end for the loaders to finish and commit.
    pub waiting_for_loaders_s: f64,
    /// Seconds spent attaching the tables.
    pub attaching_s: f64,
}

impl PartitionLoads {
    /// Begins the import's load in `tx` (sweeping tables abandoned by imports that died), and
    /// finds the partitions of each of `intervals` that bars closing in `[first_ms, last_ms]`
    /// (widened by an interval each way, as the partitions an import needs are) fall in and that
    /// do not exist. The LIST partition of each interval must exist (`Store::prepare_import`
    /// makes it). Loaders connect with `config`.
    pub(crate) async fn find(
        config: &tokio_postgres::Config,
        tx: &tokio_postgres::Transaction<'_>,
        intervals: &[i64],
        first_ms: i64,
        last_ms: i64,
    ) -> Result<Self> {
        let mut loads = PartitionLoads {
            missing: BTreeMap::new(),
            load: tx.query_one("SELECT crypto_gaf.begin_partition_load()", &[]).await?.get(0),
            config: config.clone(),
            loaders: Vec::new(),
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
                    LoadedPartition { name: r.get(0), ends: ends.timestamp_millis(), loader: None },
                );
            }
        }
        Ok(loads)
    }

    /// Writes `bars` (of `interval_ms`, in close order) period by period: a missing partition's
    /// to the loader loading its table (made on its first bar, on the loader with the fewest
    /// bars still to COPY), else COPYed into `crypto_gaf.bars` in `tx`. Gives the bars written (or
    /// sent: the loaders' counts are checked when they commit).
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
            let loaded =
                missing.range(..=t).next_back().filter(|(_, p)| t < p.ends).map(|(&starts, p)| (starts, p.ends));
            let ends = match loaded {
                Some((_, ends)) => ends,
                None => {
                    let next_missing = missing.range(t..).next().map_or(i64::MAX, |(&starts, _)| starts);
                    block_period(interval_ms, t).1.min(next_missing)
                }
            };
            let n = rest.partition_point(|b| b.close_ms < ends).max(1);
            let (run, tail) = rest.split_at(n);
            rest = tail;
            let Some((starts, partition)) =
                loaded.and_then(|(starts, _)| missing.get_mut(&starts).map(|p| (starts, p)))
            else {
                written += copy_bars(tx, "crypto_gaf.bars", product, interval_ms, source, run).await?;
                continue;
            };
            let table = partition.table(self.load);
            let loader = match partition.loader {
                Some(loader) => loader,
                None => {
                    let loader = if self.loaders.len() < LOADERS {
                        self.loaders.push(Loader::spawn(self.config.clone()));
                        self.loaders.len() - 1
                    } else {
                        (0..self.loaders.len()).min_by_key(|&k| self.loaders[k].behind()).unwrap_or(0)
                    };
                    partition.loader = Some(loader);
                    // The partition of this interval loaded before is complete (bars come in
                    // close order).
                    if let Some((_, before)) = missing.range(..starts).rev().find(|(_, p)| p.loader.is_some()) {
                        let (done, by) = (before.table(self.load), before.loader.unwrap_or(loader));
                        self.loaders[by].send(LoaderWork::Key { table: done }).await?;
                    }
                    self.loaders[loader]
                        .send(LoaderWork::Make {
                            table: table.clone(),
                            product: product.to_string(),
                            interval_ms,
                            source: source.to_string(),
                            starts,
                            ends,
                        })
                        .await?;
                    loader
                }
            };
            self.loaders[loader].sent += run.len() as u64;
            self.loaders[loader].send(LoaderWork::Copy { table, bars: run.to_vec() }).await?;
            written += run.len() as u64;
        }
        Ok(written)
    }

    /// Has every loader key what is left and commit, waits for all of them, and attaches their
    /// tables as partitions in `tx`; to be called once all bars are sent, just before what reads
    /// them back through `crypto_gaf.bars`. On an error, loaders that committed leave their
    /// tables to [`drop_abandoned`].
    pub(crate) async fn attach(&mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<Attached> {
        let t = std::time::Instant::now();
        let mut done = Attached::default();
        let mut failed: Option<Error> = None;
        for loader in &mut self.loaders {
            if let Err(e) = loader.send(LoaderWork::Commit).await {
                failed.get_or_insert(e);
            }
        }
        for loader in &mut self.loaders {
            match loader.join().await {
                Ok(d) => {
                    done.loaders_copying_s += d.copying_s;
                    done.loaders_keying_s += d.keying_s;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        for loader in &self.loaders {
            let copied = loader.copied.load(Ordering::Relaxed);
            if copied != loader.sent {
                return Err(Error::PartitionLoad(format!("a loader COPYed {copied} bars of the {} sent", loader.sent)));
            }
        }
        done.waiting_for_loaders_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let loaded: Vec<(i64, i64, &LoadedPartition, String)> = self
            .missing
            .iter()
            .flat_map(|(&iv, m)| m.iter().map(move |(&starts, p)| (iv, starts, p)))
            .filter(|(_, _, p)| p.loader.is_some())
            .map(|(iv, starts, p)| (iv, starts, p, p.table(self.load)))
            .collect();
        for (iv, starts, p, table) in &loaded {
            let attached: bool = tx
                .query_one(
                    "SELECT crypto_gaf.attach_bars_partition($1, $2, $3, $4, $5)",
                    &[iv, table, &p.name, &time_of_ms(*starts), &time_of_ms(p.ends)],
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
