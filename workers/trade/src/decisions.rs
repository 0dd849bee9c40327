//! A run's stored decision log as CSV (the export of `GET /api/runs/{id}/decisions?format=csv`)
//! and its hash.

use crate::Error;
use cgaf_store::{DecisionQuery, Store};
use cgaf_trade_domain::decision::{csv_sha256, DecisionCsv};

/// Rows read per query while exporting.
const PAGE: i64 = 10_000;

/// Writes a run's decision log (optionally a time range) as CSV: the export of
/// `GET /api/runs/{id}/decisions?format=csv`, and what [`decision_log_sha256`] hashes.
pub async fn decisions_csv(
    store: &Store,
    run_id: i64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> Result<Vec<u8>, Error> {
    let mut w = DecisionCsv::new(Vec::new())?;
    let mut after = None;
    loop {
        let page = store.decisions(run_id, &DecisionQuery { from_ms, to_ms, after_seq: after, limit: PAGE }).await?;
        for row in &page {
            w.write(row)?;
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = Some(last.seq),
            _ => break,
        }
    }
    Ok(w.finish()?)
}

/// sha256 (hex) of the run's whole decision log as CSV.
pub async fn decision_log_sha256(store: &Store, run_id: i64) -> Result<String, Error> {
    Ok(csv_sha256(&decisions_csv(store, run_id, None, None).await?))
}
