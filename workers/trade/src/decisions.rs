//! A run's stored decision log as CSV (the export of `GET /api/runs/{id}/decisions?format=csv`)
//! and its hash, read page by page: neither keeps more than a page of the log.

use crate::Error;
use cgaf_store::{DecisionQuery, Store};
use cgaf_trade_domain::decision::DecisionCsv;
use sha2::{Digest, Sha256};

/// Rows read per query while exporting.
const PAGE: i64 = 10_000;

/// A run's decision log (optionally a time range) as CSV, a page at a time: the header with the
/// first page; the pages concatenated are the export of `GET /api/runs/{id}/decisions?format=csv`
/// and what [`decision_log_sha256`] hashes.
pub struct DecisionCsvPages {
    store: Store,
    run_id: i64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    after: Option<i64>,
    page_rows: i64,
    started: bool,
    done: bool,
}

impl DecisionCsvPages {
    /// The pages of `run_id`'s log between `from_ms` and `to_ms`.
    pub fn new(store: Store, run_id: i64, from_ms: Option<i64>, to_ms: Option<i64>) -> Self {
        DecisionCsvPages { store, run_id, from_ms, to_ms, after: None, page_rows: PAGE, started: false, done: false }
    }

    /// Pages of `rows` rows instead of 10,000 (at least 1).
    pub fn page_rows(mut self, rows: i64) -> Self {
        self.page_rows = rows.max(1);
        self
    }

    /// The next page's CSV bytes; `None` after the last (a log without rows is the header alone).
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.done {
            return Ok(None);
        }
        let q =
            DecisionQuery { from_ms: self.from_ms, to_ms: self.to_ms, after_seq: self.after, limit: self.page_rows };
        let page = self.store.decisions(self.run_id, &q).await?;
        let mut w = if self.started { DecisionCsv::continuing(Vec::new()) } else { DecisionCsv::new(Vec::new())? };
        self.started = true;
        for row in &page {
            w.write(row)?;
        }
        match page.last() {
            Some(last) if page.len() as i64 == self.page_rows => self.after = Some(last.seq),
            _ => self.done = true,
        }
        Ok(Some(w.finish()?))
    }
}

/// sha256 (hex) of the run's whole decision log as CSV, hashed page by page.
pub async fn decision_log_sha256(store: &Store, run_id: i64) -> Result<String, Error> {
    let mut pages = DecisionCsvPages::new(store.clone(), run_id, None, None);
    let mut hash = Sha256::new();
    while let Some(page) = pages.next().await? {
        hash.update(&page);
    }
    Ok(hex::encode(hash.finalize()))
}
