//! How an import writes bars fast: the bars of a partition that does not exist yet are COPYed
//! into a table of their own (no key yet, rows frozen), on a connection of the import's own in a
//! transaction of the table's own, so PostgreSQL loads several partitions at once; each table is
//! keyed with one sort and committed as soon as its period is complete, and the import's
//! transaction attaches it as its partition (`crypto_gaf.attach_bars_partition`) while the bars
//! still stream: the bars appear all at once or not at all, at the import's commit. COPY into an
//! existing partition maintains its key row by row, which is most of what a large import costs;
//! bars of existing partitions still go that way, on the import's connection.
//!
//! At its first attach, the import's transaction takes the interval partitions (`bars_1m`, ...)
//! of all its intervals, in rising interval order, and holds them to its commit: two imports
//! then wait for each other instead of deadlocking. Reading and writing bars go on meanwhile;
//! making or dropping a partition of those intervals waits for the import's commit, without
//! queueing for the lock (schema migration 21), so reads and writes do not queue behind it.
//! Attaching at the end instead left ~40 attaches (~2 ms each) on one connection after the last
//! bar, with the other core idle: 0.06–0.1 s of a year's import.
//!
//! The loaded tables are named after the import's load (`bars_1m_202501_load_7`), whose advisory
//! lock the import's transaction holds to its end: an import that fails drops them once its
//! transaction has rolled back ([`drop_abandoned`]), and one that died is swept by the next
//! import (`crypto_gaf.drop_abandoned_partition_loads`).

use crate::types::time_of_ms;
use crate::{Error, Result};
use cgaf_trade_domain::history::{block_period, BarOrigin, HistoryBar};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Connections an import loads its new partitions on, beyond one per interval it writes (a
/// table's period is loaded by one connection in one transaction, and each interval has at most
/// one table being filled at a time): three keep a small server's two cores busy while one waits
/// for the disk (a key's build ends with an fsync), the import's own connection meanwhile writing
/// the blocks and attaching.
pub(crate) const LOADERS: usize = 3;

/// Bars sent to the loaders and not COPYed yet, at most (~136 bytes each): what lets every
/// loader have work queued.
const LOADING_BARS: usize = 200_000;

/// A free loader this far behind gets a new connection beside it for a new table (up to the
/// limit), so that the tables load at once instead of one after the other.
const BEHIND_FOR_ANOTHER: u64 = 10_000;

/// A partition the import makes: its name, range and the table its bars are loaded into.
#[derive(Debug)]
struct LoadedPartition {
    /// The partition's name (`bars_1m_202501`).
    name: String,
    /// Its range of close times, ms: `[starts, ends)`.
    ends: i64,
    /// The loader loading its table, once a bar of the period came.
    loader: Option<usize>,
    /// Attached (or its rows moved into the partition another transaction made).
    attached: bool,
}

impl LoadedPartition {
    /// The table its bars are loaded into by the import's `load`.
    fn table(&self, load: i32) -> String {
        format!("{}_load_{load}", self.name)
    }
}

/// What a loader is asked to do, in order: a table's `Make`, its `Copy`s and its `Key`, then the
/// next table's; `Close` at the end.
#[derive(Debug)]
enum LoaderWork {
    /// Begin a transaction and make the table `table` in it, for the bars of the import of
    /// `interval_ms` closing in `[starts, ends)` ms.
    Make { table: String, product: String, interval_ms: i64, source: String, starts: i64, ends: i64 },
    /// COPY the bars `run` of a batch into the table; `room` goes back to the import once they
    /// are. The batch is shared with the import (and the other loaders), not copied.
    Copy { bars: Arc<Vec<HistoryBar>>, run: std::ops::Range<usize>, room: tokio::sync::OwnedSemaphorePermit },
    /// Key the table and commit: its period is complete (or the bars ended).
    Key,
    /// No more tables.
    Close,
}

impl LoaderWork {
    /// What it is, for an error.
    fn what(&self) -> &'static str {
        match self {
            LoaderWork::Make { .. } => "a table to make",
            LoaderWork::Copy { .. } => "bars to COPY",
            LoaderWork::Key => "a key to build",
            LoaderWork::Close => "the end",
        }
    }
}

/// A table a loader committed, ready to be attached: its interval and the start of its period.
#[derive(Debug, Clone, Copy)]
struct Loaded {
    interval_ms: i64,
    starts: i64,
}

/// What a loader did, when it closed.
#[derive(Debug, Default, Clone, Copy)]
struct LoaderDone {
    /// Seconds spent COPYing.
    copying_s: f64,
    /// Seconds spent keying and committing.
    keying_s: f64,
}

/// A connection loading tables, one at a time: where to send it work, and the task doing it.
struct Loader {
    work: mpsc::UnboundedSender<LoaderWork>,
    task: Option<tokio::task::JoinHandle<Result<LoaderDone>>>,
    /// Bars sent to it.
    sent: u64,
    /// Bars it has COPYed so far.
    copied: Arc<AtomicU64>,
    /// The table it is filling (its `Key` not sent yet), by interval and period start.
    filling: Option<(i64, i64)>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("sent", &self.sent)
            .field("copied", &self.copied)
            .field("filling", &self.filling)
            .finish()
    }
}

impl Loader {
    /// Starts a loader on a connection of its own; it reports each table it commits to `loaded`,
    /// and ends at its next piece of work once `stop` is set.
    fn spawn(config: tokio_postgres::Config, loaded: mpsc::UnboundedSender<Loaded>, stop: Arc<AtomicBool>) -> Self {
        // Unbounded: the bars in flight are bounded by the import's room for them.
        let (work, queue) = mpsc::unbounded_channel();
        let copied = Arc::new(AtomicU64::new(0));
        Loader {
            work,
            task: Some(tokio::spawn(load(config, queue, copied.clone(), loaded, stop))),
            sent: 0,
            copied,
            filling: None,
        }
    }

    /// Bars sent to it and not COPYed yet.
    fn behind(&self) -> u64 {
        self.sent.saturating_sub(self.copied.load(Ordering::Relaxed))
    }

    /// Sends it work; when it ended already, gives the error it ended with.
    async fn send(&mut self, work: LoaderWork) -> Result<()> {
        if self.work.send(work).is_ok() {
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

/// A loader's task: one connection, a transaction per table, committed when the table is keyed
/// (the work ending otherwise means the import failed: the open transaction rolls back with its
/// table, and the committed tables are the import's to drop).
async fn load(
    config: tokio_postgres::Config,
    mut queue: mpsc::UnboundedReceiver<LoaderWork>,
    copied: Arc<AtomicU64>,
    loaded: mpsc::UnboundedSender<Loaded>,
    stop: Arc<AtomicBool>,
) -> Result<LoaderDone> {
    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "partition loader's connection ended");
        }
    });
    let done = async {
        // Its commits need not wait for the disk: the import's own commit comes later in the
        // WAL, and waiting for that one makes these durable too. Its keys are built without
        // parallel workers: the loaders already keep the cores busy, and a worker is a process
        // to start (for a year of 5-minute bars, the only table large enough to get one).
        client.batch_execute("SET synchronous_commit = off; SET max_parallel_maintenance_workers = 0").await?;
        let mut done = LoaderDone::default();
        loop {
            let work = queue.recv().await;
            if stop.load(Ordering::Relaxed) {
                return Err(Error::PartitionLoad("the import was abandoned".into()));
            }
            let (table, interval_ms, starts) = match work {
                Some(LoaderWork::Make { table, product, interval_ms, source, starts, ends }) => {
                    let tx = client.transaction().await?;
                    tx.execute(
                        "SELECT crypto_gaf.make_loaded_bars_table($1, $2, $3, $4, $5, $6)",
                        &[&table, &product, &interval_ms, &source, &time_of_ms(starts), &time_of_ms(ends)],
                    )
                    .await?;
                    fill(tx, &table, &mut queue, &copied, &stop, &mut done).await?;
                    (table, interval_ms, starts)
                }
                Some(LoaderWork::Close) => return Ok(done),
                Some(other) => {
                    return Err(Error::PartitionLoad(format!("a loader was sent {} with no table", other.what())))
                }
                None => return Err(Error::PartitionLoad("the import ended before its partitions were loaded".into())),
            };
            tracing::debug!(table, "loaded table committed");
            // The import attaches it; when the import has ended, it drops it.
            let _ = loaded.send(Loaded { interval_ms, starts });
        }
    }
    .await;
    drop(client);
    let _ = driver.await;
    done
}

/// Fills the table `table` made in `tx`: its bars in one COPY (PostgreSQL sets up each COPY with
/// a tuple slot per buffered row, up to a thousand, so a COPY per piece of a batch cost it ~5 %
/// of an import), then keys it and commits.
async fn fill(
    tx: tokio_postgres::Transaction<'_>,
    table: &str,
    queue: &mut mpsc::UnboundedReceiver<LoaderWork>,
    copied: &AtomicU64,
    stop: &AtomicBool,
    done: &mut LoaderDone,
) -> Result<()> {
    use futures::SinkExt;
    let mut copy = None;
    let mut sent = 0u64;
    loop {
        let work = queue.recv().await;
        if stop.load(Ordering::Relaxed) {
            // The table's transaction rolls back with it.
            return Err(Error::PartitionLoad("the import was abandoned".into()));
        }
        match work {
            Some(LoaderWork::Copy { bars, run, room }) => {
                let t = std::time::Instant::now();
                if copy.is_none() {
                    copy = Some(Box::pin(
                        tx.copy_in::<_, bytes::Bytes>(&format!(
                            "COPY crypto_gaf.\"{table}\" ({LOADED_COLUMNS}) FROM STDIN (FORMAT binary, FREEZE)"
                        ))
                        .await?,
                    ));
                }
                let Some(sink) = copy.as_mut() else {
                    return Err(Error::PartitionLoad(format!("{table}: its COPY did not begin")));
                };
                let mut out = bytes::BytesMut::with_capacity(COPY_CHUNK_BYTES + 1024);
                if sent == 0 {
                    out.extend_from_slice(COPY_HEADER);
                }
                let run = bars.get(run.clone()).ok_or_else(|| {
                    Error::PartitionLoad(format!("{table}: bars {run:?} of a batch of {}", bars.len()))
                })?;
                for b in run {
                    encode_loaded_row(&mut out, b);
                    if out.len() >= COPY_CHUNK_BYTES {
                        sink.send(out.split().freeze()).await?;
                    }
                }
                sink.send(out.freeze()).await?;
                sent += run.len() as u64;
                copied.fetch_add(run.len() as u64, Ordering::Relaxed);
                drop(room);
                done.copying_s += t.elapsed().as_secs_f64();
            }
            Some(LoaderWork::Key) => {
                let t = std::time::Instant::now();
                if let Some(mut sink) = copy.take() {
                    sink.send(bytes::Bytes::from_static(COPY_TRAILER)).await?;
                    let rows = sink.as_mut().finish().await?;
                    if rows != sent {
                        return Err(Error::PartitionLoad(format!(
                            "{table}: COPY wrote {rows} rows of the {sent} sent"
                        )));
                    }
                }
                done.copying_s += t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                tx.batch_execute(&key(table)).await?;
                tx.commit().await?;
                done.keying_s += t.elapsed().as_secs_f64();
                return Ok(());
            }
            Some(other) => {
                return Err(Error::PartitionLoad(format!("a loader filling {table} was sent {}", other.what())))
            }
            None => return Err(Error::PartitionLoad("the import ended before its partitions were loaded".into())),
        }
    }
}

/// The statement keying a loaded table (one sort).
fn key(table: &str) -> String {
    format!("ALTER TABLE crypto_gaf.\"{table}\" ADD PRIMARY KEY (product, interval_ms, close_time)")
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
    /// The loaders started so far (at most one per interval and [`LOADERS`]).
    loaders: Vec<Loader>,
    /// Room for bars sent to the loaders and not COPYed yet: a permit per bar, at most
    /// [`LOADING_BARS`].
    room: Arc<Semaphore>,
    /// Where the loaders report the tables they commit.
    loaded: mpsc::UnboundedSender<Loaded>,
    /// The tables committed and not attached yet.
    committed: mpsc::UnboundedReceiver<Loaded>,
    /// Whether the import's transaction holds the interval partitions (at its first attach).
    locked: bool,
    /// Set when the import fails: the loaders end at their next piece of work.
    stop: Arc<AtomicBool>,
    /// What was attached so far.
    done: Attached,
}

/// What the attaches of [`PartitionLoads`] did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Attached {
    /// Loaded tables that became partitions.
    pub attached: u32,
    /// Loaded tables whose partition another transaction made meanwhile (their rows were
    /// inserted into it).
    pub moved: u32,
    /// The partitions attached, per interval (ms): their periods (ms, `[starts, ends)`). They
    /// hold the import's bars alone.
    pub made: BTreeMap<i64, Vec<(i64, i64)>>,
    /// Seconds the loaders spent COPYing, summed (they work at once).
    pub loaders_copying_s: f64,
    /// Seconds the loaders spent keying and committing their tables, summed.
    pub loaders_keying_s: f64,
    /// Seconds waited at the end for the loaders to finish.
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
        let (loaded, committed) = mpsc::unbounded_channel();
        let mut loads = PartitionLoads {
            missing: BTreeMap::new(),
            load: tx.query_one("SELECT crypto_gaf.begin_partition_load()", &[]).await?.get(0),
            config: config.clone(),
            loaders: Vec::new(),
            room: Arc::new(Semaphore::new(LOADING_BARS)),
            loaded,
            committed,
            locked: false,
            stop: Arc::new(AtomicBool::new(false)),
            done: Attached::default(),
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
                    LoadedPartition { name: r.get(0), ends: ends.timestamp_millis(), loader: None, attached: false },
                );
            }
        }
        Ok(loads)
    }

    /// Whether bars of `interval_ms` closing at `from_ms` and at `to_ms` go to different tables
    /// loaded by the import (so a table's period is complete once the bars up to `to_ms` are
    /// written).
    pub(crate) fn crosses(&self, interval_ms: i64, from_ms: i64, to_ms: i64) -> bool {
        let Some(missing) = self.missing.get(&interval_ms) else { return false };
        let of = |t: i64| missing.range(..=t).next_back().filter(|(_, p)| t < p.ends).map(|(&starts, _)| starts);
        of(from_ms) != of(to_ms)
    }

    /// The loader for a new table: a free one (whose table's key was sent) that is not far
    /// behind, else a new one while there are fewer than one per interval and [`LOADERS`], else
    /// the free one least behind.
    fn loader_for_new_table(&mut self) -> Result<usize> {
        let free = (0..self.loaders.len())
            .filter(|&k| self.loaders[k].filling.is_none())
            .min_by_key(|&k| self.loaders[k].behind());
        let limit = self.missing.len() + LOADERS;
        match free {
            Some(k) if self.loaders[k].behind() < BEHIND_FOR_ANOTHER || self.loaders.len() >= limit => Ok(k),
            _ if self.loaders.len() < limit => {
                self.loaders.push(Loader::spawn(self.config.clone(), self.loaded.clone(), self.stop.clone()));
                Ok(self.loaders.len() - 1)
            }
            _ => Err(Error::PartitionLoad(format!("all {} loaders are filling a table", self.loaders.len()))),
        }
    }

    /// Writes `bars` (of `interval_ms`, in close order) period by period: a missing partition's
    /// to the loader loading its table (made on its first bar; the table before it of the same
    /// interval is then complete, and keyed), else COPYed into `crypto_gaf.bars` in `tx`. Gives
    /// the bars written (or sent: the loaders' counts are checked when they close).
    pub(crate) async fn copy(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        product: &str,
        interval_ms: i64,
        source: &str,
        bars: &Arc<Vec<HistoryBar>>,
    ) -> Result<u64> {
        let mut written = 0;
        let mut at = 0;
        while let Some(first) = bars.get(at) {
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
            let n = bars[at..].partition_point(|b| b.close_ms < ends).max(1);
            let run = at..at + n;
            at += n;
            let Some((starts, ends)) = loaded else {
                written += copy_bars(tx, "crypto_gaf.bars", product, interval_ms, source, &bars[run]).await?;
                continue;
            };
            let loader = match self.missing.get(&interval_ms).and_then(|m| m.get(&starts)).and_then(|p| p.loader) {
                Some(loader) => loader,
                None => {
                    // The table of this interval filled before is complete (bars come in close
                    // order).
                    if let Some(k) =
                        self.loaders.iter().position(|l| l.filling.is_some_and(|(iv, _)| iv == interval_ms))
                    {
                        self.loaders[k].filling = None;
                        self.loaders[k].send(LoaderWork::Key).await?;
                    }
                    let loader = self.loader_for_new_table()?;
                    let partition = self
                        .missing
                        .get_mut(&interval_ms)
                        .and_then(|m| m.get_mut(&starts))
                        .ok_or_else(|| Error::PartitionLoad("a missing partition went missing".into()))?;
                    partition.loader = Some(loader);
                    let table = partition.table(self.load);
                    self.loaders[loader].filling = Some((interval_ms, starts));
                    self.loaders[loader]
                        .send(LoaderWork::Make {
                            table,
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
            let room = self
                .room
                .clone()
                .acquire_many_owned(n.min(LOADING_BARS) as u32)
                .await
                .map_err(|e| Error::PartitionLoad(format!("the loaders' room: {e}")))?;
            self.loaders[loader].sent += n as u64;
            self.loaders[loader].send(LoaderWork::Copy { bars: bars.clone(), run, room }).await?;
            written += n as u64;
        }
        Ok(written)
    }

    /// Attaches in `tx` the tables the loaders have committed (the first time, taking the
    /// interval partitions of all of the import's intervals, in rising order).
    pub(crate) async fn attach_committed(&mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
        let t = std::time::Instant::now();
        while let Ok(table) = self.committed.try_recv() {
            self.attach(tx, table).await?;
        }
        self.done.attaching_s += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Attaches one committed table.
    async fn attach(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        Loaded { interval_ms, starts }: Loaded,
    ) -> Result<()> {
        if !self.locked {
            let intervals: Vec<i64> = self.missing.keys().copied().collect();
            let lists: Vec<String> = tx
                .query(
                    "SELECT format('crypto_gaf.%I', 'bars_' || crypto_gaf.interval_label(iv))
                     FROM unnest($1::int8[]) iv ORDER BY iv",
                    &[&intervals],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            tx.batch_execute(&format!("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE", lists.join(", "))).await?;
            self.locked = true;
        }
        let load = self.load;
        let p = self
            .missing
            .get_mut(&interval_ms)
            .and_then(|m| m.get_mut(&starts))
            .ok_or_else(|| Error::PartitionLoad("a loader committed a table the import did not make".into()))?;
        let attached: bool = tx
            .query_one(
                "SELECT crypto_gaf.attach_bars_partition($1, $2, $3, $4, $5)",
                &[&interval_ms, &p.table(load), &p.name, &time_of_ms(starts), &time_of_ms(p.ends)],
            )
            .await?
            .get(0);
        p.attached = true;
        if attached {
            self.done.attached += 1;
            self.done.made.entry(interval_ms).or_default().push((starts, p.ends));
        } else {
            self.done.moved += 1;
        }
        Ok(())
    }

    /// Ends the loaders of an import that failed, and waits for them: a table being filled rolls
    /// back, and one being committed is committed before this returns, so that
    /// [`drop_abandoned`], after the import's rollback, finds every table the import left.
    pub(crate) async fn abandon(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for loader in &mut self.loaders {
            // Wakes a loader waiting for work; one that ended already is past caring.
            let _ = loader.work.send(LoaderWork::Close);
        }
        for loader in &mut self.loaders {
            if loader.task.is_some() {
                if let Err(e) = loader.join().await {
                    tracing::debug!(error = %e, "a loader of a failed import ended");
                }
            }
        }
    }

    /// Has every loader key the table it is filling and close, waits for all of them, and
    /// attaches the tables not attached yet in `tx`; to be called once all bars are sent, just
    /// before what reads them back through `crypto_gaf.bars`. On an error, tables that were
    /// committed and not attached are left to [`drop_abandoned`].
    pub(crate) async fn finish(&mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<Attached> {
        let t = std::time::Instant::now();
        let mut failed: Option<Error> = None;
        for loader in &mut self.loaders {
            let key = if loader.filling.take().is_some() { loader.send(LoaderWork::Key).await } else { Ok(()) };
            if let Err(e) = key.and(loader.send(LoaderWork::Close).await) {
                failed.get_or_insert(e);
            }
        }
        for loader in &mut self.loaders {
            match loader.join().await {
                Ok(d) => {
                    self.done.loaders_copying_s += d.copying_s;
                    self.done.loaders_keying_s += d.keying_s;
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
        self.done.waiting_for_loaders_s = t.elapsed().as_secs_f64();
        self.attach_committed(tx).await?;
        let unattached =
            self.missing.values().flat_map(|m| m.values()).filter(|p| p.loader.is_some() && !p.attached).count();
        if unattached > 0 {
            return Err(Error::PartitionLoad(format!("{unattached} loaded tables were not committed")));
        }
        Ok(std::mem::take(&mut self.done))
    }
}
/// The columns of a loaded table's COPY; the others are the table's defaults (the product,
/// interval, origin and source every row of the import shares) or NULL (the book and sample
/// count, which only collected bars have).
const LOADED_COLUMNS: &str = "close_time, open, high, low, close, volume, buy_volume, sell_volume";

/// Bytes of COPY data sent at a time.
const COPY_CHUNK_BYTES: usize = 1 << 18;

/// The binary COPY header: signature, flags (none), header extension length (none).
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The binary COPY trailer: a field count of -1.
const COPY_TRAILER: &[u8] = b"\xff\xff";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// One row of [`LOADED_COLUMNS`] in binary COPY: the field count, then each field's length
/// (-1 for NULL) and big-endian value (timestamptz as microseconds from 2000-01-01). Assembled
/// on the stack and appended at once (a `put` per field costs a `memcpy` call each).
fn encode_loaded_row(out: &mut bytes::BytesMut, b: &HistoryBar) {
    let mut row = [0u8; LOADED_ROW_BYTES];
    row[..2].copy_from_slice(&8i16.to_be_bytes());
    let mut at = 2;
    let mut field = |row: &mut [u8; LOADED_ROW_BYTES], value: Option<[u8; 8]>| match value {
        Some(v) => {
            row[at..at + 4].copy_from_slice(&8i32.to_be_bytes());
            row[at + 4..at + 12].copy_from_slice(&v);
            at += 12;
        }
        None => {
            row[at..at + 4].copy_from_slice(&(-1i32).to_be_bytes());
            at += 4;
        }
    };
    field(&mut row, Some((b.close_ms * 1000 - PG_EPOCH_US).to_be_bytes()));
    for v in [b.open, b.high, b.low, b.close, b.volume] {
        field(&mut row, Some(v.to_be_bytes()));
    }
    for v in [b.buy_volume, b.sell_volume] {
        field(&mut row, v.map(f64::to_be_bytes));
    }
    out.extend_from_slice(&row[..at]);
}

/// The most bytes [`encode_loaded_row`] writes: the field count and eight 8-byte fields.
const LOADED_ROW_BYTES: usize = 2 + 8 * 12;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The row as tokio-postgres' `BufMut` writes it, field by field (the form before the
    /// stack-assembled one).
    fn by_fields(b: &HistoryBar) -> Vec<u8> {
        use bytes::BufMut;
        let mut out = bytes::BytesMut::new();
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
        out.to_vec()
    }

    #[test]
    fn a_loaded_row_is_the_binary_copy_of_its_fields() {
        let volumes = [None, Some(0.0), Some(-0.0), Some(12.5), Some(f64::NAN), Some(f64::MAX)];
        let mut rows = bytes::BytesMut::new();
        let mut expected = Vec::new();
        for (k, (buy, sell)) in volumes.iter().flat_map(|&b| volumes.iter().map(move |&s| (b, s))).enumerate() {
            let bar = HistoryBar {
                close_ms: 1_735_689_600_000 + k as i64 * 60_000 - 86_400_000 * 366 * 40,
                open: 1.0 + k as f64,
                high: f64::INFINITY,
                low: -3.25,
                close: 1e-300,
                volume: 7.0,
                buy_volume: buy,
                sell_volume: sell,
                sample_count: None,
                book: None,
            };
            encode_loaded_row(&mut rows, &bar);
            expected.extend(by_fields(&bar));
        }
        assert_eq!(rows.to_vec(), expected);
        assert!(rows.len() > 36 * 2 * 12, "every field written: {} bytes", rows.len());
    }
}
