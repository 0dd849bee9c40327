//! `cgaf history download`: candles from an exchange into the history store — planned from what
//! is stored (re-running fetches only the gaps), paged and paced by the candle client, each window
//! written in its own transaction (a kill loses at most the window in flight), with progress; then
//! the whole periods downloaded are written as bar blocks (what runs read).

use crate::cli::HistoryDownloadArgs;
use crate::strategy_target::Progress;
use anyhow::{Context, Result};
use cgaf_collect::candles::{download, plan_download, CandleClient, CandleClientSettings, Granularity, RetryPolicy};
use cgaf_store::Store;
use cgaf_trade::domain::history::interval_label;
use cgaf_trade::domain::{parse_interval, parse_time};

/// Downloads `a.product`'s candles of `a.interval` in `[from, to)` that are not stored yet.
pub async fn run(store: &Store, a: &HistoryDownloadArgs) -> Result<()> {
    let interval = parse_interval(&a.interval).map_err(anyhow::Error::msg).context("--interval")?;
    let granularity = Granularity::from_interval_ms(interval).context("--interval")?;
    let now = chrono::Utc::now().timestamp_millis();
    let from = parse_time(&a.from).map_err(anyhow::Error::msg).context("--from")?;
    let to = match a.to.as_deref() {
        None | Some("now") => now,
        Some(t) => parse_time(t).map_err(anyhow::Error::msg).context("--to")?.min(now),
    };
    anyhow::ensure!(from < to, "--from must be before --to");
    // Closes already stored (any origin): only the rest is fetched.
    let stored = store.bar_closes(&a.product, interval, from, to).await?;
    let plan = plan_download(&a.product, granularity, from, to, stored.iter().copied())?;
    eprintln!(
        "{} {} bars of {} from {} to {}: {} expected, {} stored, {} windows to fetch",
        a.source,
        interval_label(interval),
        a.product,
        cgaf_trade::domain::history::rfc3339(from),
        cgaf_trade::domain::history::rfc3339(to),
        plan.bars_expected,
        plan.bars_stored,
        plan.windows.len()
    );
    let client = CandleClient::new(&CandleClientSettings {
        base_url: a.source_url.clone(),
        timeout: a.http_timeout,
        requests_per_second: a.requests_per_second,
        retry: RetryPolicy::default(),
    })?;
    let rollups: Vec<i64> =
        a.rollup_intervals.0.iter().copied().filter(|&c| c > interval && c % interval == 0).collect();
    let source = a.source.to_string();
    let mut progress = Progress::new("download");
    let summary = download(
        &client,
        &plan,
        |batch| {
            let (store, product, source, rollups) = (store.clone(), a.product.clone(), source.clone(), rollups.clone());
            async move {
                store.import_bars(&product, interval, &source, &batch.bars, &rollups, false).await.map(|r| r.written)
            }
        },
        |p| progress.set(p.windows_done as u64, p.windows_total as u64),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("downloading (what was written so far is kept; run the command again to resume)")?;
    progress.finish();
    // The whole periods of the range (a month of 1m bars, ...) as blocks: runs read each as one
    // value instead of its rows.
    let mut blocks = 0;
    for &iv in std::iter::once(&interval).chain(&rollups) {
        blocks += store.write_bar_blocks(&a.product, iv, from, to).await.context("writing bar blocks")?;
    }
    let mut out = serde_json::to_value(&summary)?;
    out["blocks"] = blocks.into();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
