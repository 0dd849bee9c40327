//! Bars of a run from the market-history store: read page by page (memory stays bounded; a
//! period with a block, `crypto_gaf.bar_blocks`, as one page read as one value), rolled
//! up on the fly when the run's interval is a multiple of a stored one, with the coverage of the
//! range (bars expected, found, gaps) counted as they are read. Sub-second intervals are built
//! from the raw-sample archive (or, without one, the image window's samples).

use crate::Error;
use cgaf_store::{BarBlockEntry, SamplePointRow, Store};
use cgaf_trade_domain::history::HistoryBar;
use cgaf_trade_domain::history::{interval_label, rfc3339, Coverage, Rollup};
use cgaf_trade_domain::{build_bars, Bar, Book, SamplePoint};
use std::collections::VecDeque;

/// Stored bars read per query.
pub const PAGE_BARS: i64 = 50_000;

/// Stored bars read by a reader's first query; each next query reads twice as many, up to
/// [`PAGE_BARS`]. A run steps the first page while the next is read: a small first page starts
/// the strategy sooner (a page of 50,000 bars takes ~25 ms to read).
pub const FIRST_PAGE_BARS: i64 = 10_000;

/// A stored sample as bars need it.
pub fn sample_point(s: &SamplePointRow) -> SamplePoint {
    SamplePoint {
        time_ms: s.time_ms,
        midpoint: s.midpoint,
        buy_size: s.buy_size,
        sell_size: s.sell_size,
        book: Book { bid: s.bid, ask: s.ask, bid_depth: s.bid_depth, ask_depth: s.ask_depth },
    }
}

/// Where the bars of an interval come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarSource {
    /// Stored bars of this interval (the run's own, or a finer one dividing it, rolled up).
    Stored(i64),
    /// Raw samples (sub-second intervals): the sample archive, else the image window.
    Samples,
}

/// The source of `product`'s bars of `interval_ms`: the coarsest stored interval that divides it
/// (fewest rows read; stored coarser bars are rollups of the finer ones, so the bars are the
/// same), or raw samples below one second.
pub async fn choose_source(store: &Store, product: &str, interval_ms: i64) -> Result<BarSource, Error> {
    let stored = store.stored_intervals(product).await?;
    match stored.iter().copied().filter(|s| interval_ms % s == 0).max() {
        Some(s) => Ok(BarSource::Stored(s)),
        None if interval_ms < 1000 => Ok(BarSource::Samples),
        None => Ok(BarSource::Stored(interval_ms)),
    }
}

/// The closes `(after, until]` of the bars lying wholly inside `[from_ms, to_ms)`.
fn close_bounds(interval_ms: i64, from_ms: Option<i64>, to_ms: i64) -> (i64, i64) {
    let after =
        from_ms.map_or(0, |f| (f.div_euclid(interval_ms) + i64::from(f.rem_euclid(interval_ms) != 0)) * interval_ms);
    (after, to_ms.div_euclid(interval_ms) * interval_ms)
}

/// Reads the bars of a range page by page.
#[derive(Debug)]
pub struct BarReader {
    store: Store,
    product: String,
    interval_ms: i64,
    source: BarSource,
    cursor: i64,
    until: i64,
    from_ms: Option<i64>,
    to_ms: i64,
    rollup: Option<Rollup>,
    coverage: Coverage,
    /// Bars the next query of rows reads.
    page_bars: i64,
    /// The blocks of the range not read yet (whole periods read as one value each).
    blocks: VecDeque<BarBlockEntry>,
    done: bool,
}

impl BarReader {
    /// A reader of `product`'s bars of `interval_ms` lying wholly inside `[from_ms, to_ms)`
    /// (from the first stored bar when `from_ms` is `None`).
    pub async fn open(
        store: &Store,
        product: &str,
        interval_ms: i64,
        from_ms: Option<i64>,
        to_ms: i64,
    ) -> Result<BarReader, Error> {
        if interval_ms <= 0 {
            return Err(Error::Invalid(format!("bar interval must be positive (got {interval_ms} ms)")));
        }
        let source = choose_source(store, product, interval_ms).await?;
        let (after, until) = close_bounds(interval_ms, from_ms, to_ms);
        let blocks = match source {
            BarSource::Stored(s) if until > after => store.bar_block_directory(product, s, after, until).await?.into(),
            _ => VecDeque::new(),
        };
        let rollup = match source {
            BarSource::Stored(s) if s != interval_ms => Some(Rollup::new(interval_ms)),
            _ => None,
        };
        Ok(BarReader {
            store: store.clone(),
            product: product.to_string(),
            interval_ms,
            source,
            cursor: after,
            until,
            from_ms,
            to_ms,
            rollup,
            coverage: Coverage::new(interval_ms, from_ms, Some(to_ms)),
            page_bars: FIRST_PAGE_BARS,
            blocks,
            done: false,
        })
    }

    /// Where the bars come from.
    pub fn source(&self) -> BarSource {
        self.source
    }

    /// The next page of bars, oldest first; `None` once the range is read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Bar>>, Error> {
        if self.done {
            return Ok(None);
        }
        let bars = match self.source {
            BarSource::Samples => {
                self.done = true;
                let points: Vec<SamplePoint> = self
                    .store
                    .sample_points(&self.product, self.from_ms, Some(self.until))
                    .await?
                    .iter()
                    .map(sample_point)
                    .collect();
                build_bars(&points, self.interval_ms, Some(self.until)).map_err(cgaf_trade_domain::Error::from)?
            }
            BarSource::Stored(s) => {
                let page = self.next_stored_page(s).await?;
                match &mut self.rollup {
                    None => page.iter().map(|b| b.to_bar()).collect(),
                    Some(r) => {
                        let mut out: Vec<Bar> = page.iter().filter_map(|b| r.push(b)).map(|b| b.to_bar()).collect();
                        if self.done {
                            out.extend(
                                std::mem::replace(r, Rollup::new(self.interval_ms)).finish().map(|b| b.to_bar()),
                            );
                        }
                        out
                    }
                }
            }
        };
        for b in &bars {
            self.coverage.push(b.time_ms);
        }
        if bars.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(bars))
    }

    /// The next stored bars of interval `s` after the cursor, oldest first: a period's block
    /// where the period has one, else a page of rows up to the next block's period. Empty only
    /// once the range is read (`done`).
    async fn next_stored_page(&mut self, s: i64) -> Result<Vec<HistoryBar>, Error> {
        loop {
            if self.cursor >= self.until {
                self.done = true;
                return Ok(Vec::new());
            }
            while self.blocks.front().is_some_and(|b| b.last_ms <= self.cursor) {
                self.blocks.pop_front();
            }
            if let Some(b) = self.blocks.front().copied().filter(|b| b.starts_ms <= self.cursor + 1) {
                // Every stored bar closing from the cursor to the period's end is in the block.
                self.blocks.pop_front();
                if let Some(bars) = self.store.bar_block(&self.product, s, b.starts_ms).await? {
                    let (after, until) = (self.cursor, self.until);
                    self.cursor = (b.ends_ms - 1).min(until);
                    self.done = self.cursor >= until;
                    let page: Vec<HistoryBar> =
                        bars.into_iter().filter(|x| x.close_ms > after && x.close_ms <= until).collect();
                    if page.is_empty() {
                        continue;
                    }
                    return Ok(page);
                }
                // Gone since (written over): the period's rows are read below.
            }
            let bound = self.blocks.front().map_or(self.until, |b| (b.starts_ms - 1).min(self.until));
            let page = self.store.bars_page(&self.product, s, self.cursor, bound, self.page_bars).await?;
            let full = page.len() as i64 == self.page_bars;
            self.page_bars = (self.page_bars * 2).min(PAGE_BARS);
            self.cursor = match page.last() {
                Some(last) if full => last.close_ms,
                _ => bound,
            };
            self.done = self.cursor >= self.until;
            if !page.is_empty() {
                return Ok(page);
            }
        }
    }

    /// Reads every remaining bar (for sweeps, which need the whole series).
    pub async fn read_all(&mut self) -> Result<Vec<Bar>, Error> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// The coverage of the whole range from a count on the primary key, before reading — when
    /// the interval is stored itself (`None` when the bars are rolled up or built from samples:
    /// then only reading them tells).
    pub async fn counted_coverage(&self) -> Result<Option<Coverage>, Error> {
        if self.source != BarSource::Stored(self.interval_ms) {
            return Ok(None);
        }
        let (count, first, last) =
            self.store.count_bars(&self.product, self.interval_ms, self.cursor, self.until).await?;
        Ok(Some(Coverage::counted(self.interval_ms, self.from_ms, Some(self.to_ms), count, first, last)))
    }

    /// The coverage of what was read (call once every page is read).
    pub fn coverage(&self) -> Coverage {
        self.coverage.clone().finish()
    }
}

/// The coverage of `product`'s bars of `interval_ms` in `[from_ms, to_ms)`: counted without
/// reading them when the interval is stored itself, else by reading the finer bars (gaps are
/// listed only then).
pub async fn range_coverage(
    store: &Store,
    product: &str,
    interval_ms: i64,
    from_ms: Option<i64>,
    to_ms: i64,
) -> Result<Coverage, Error> {
    let mut reader = BarReader::open(store, product, interval_ms, from_ms, to_ms).await?;
    if let Some(c) = reader.counted_coverage().await? {
        return Ok(c);
    }
    while reader.next_page().await?.is_some() {}
    Ok(reader.coverage())
}

/// A message naming what `product`'s history of `interval_ms` covers, for refusals.
pub async fn covered_range_text(store: &Store, product: &str, interval_ms: i64) -> Result<String, Error> {
    let ranges = store.history_coverage(Some(product)).await?;
    let label = interval_label(interval_ms);
    let usable: Vec<String> = ranges
        .iter()
        .filter(|r| interval_ms % r.interval_ms == 0)
        .map(|r| {
            format!(
                "{} bars from {} to {} ({} bars, {} missing)",
                interval_label(r.interval_ms),
                rfc3339(r.first_ms - r.interval_ms),
                rfc3339(r.last_ms),
                r.count,
                r.missing
            )
        })
        .collect();
    Ok(if interval_ms < 1000 {
        format!(
            "{product}'s {label} bars are built from raw samples: the sample archive (serve --keep-samples) or, without one, the image window's newest samples"
        )
    } else if usable.is_empty() {
        format!("{product} has no history at {label} or any interval dividing it (import a CSV or run `cgaf history download`)")
    } else {
        format!("{product}'s history usable for {label} bars: {}", usable.join("; "))
    })
}
