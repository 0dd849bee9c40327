//! `cgaf plugin canary`: waits for a canary's verdict, printing what the replicas compared so
//! far, and prints the report.

use anyhow::{Context, Result};
use cgaf_api::models::{CanaryReport, PluginDetail};
use std::time::{Duration, Instant};

/// How often the canary is polled; progress is printed every `PRINT_EVERY`.
const POLL_EVERY: Duration = Duration::from_millis(500);
const PRINT_EVERY: Duration = Duration::from_secs(5);

/// Polls `GET /api/plugins/{name}` until canary `id` has ended; its final report.
pub async fn wait(http: &reqwest::Client, base: &str, name: &str, id: i64) -> Result<CanaryReport> {
    let mut printed = Instant::now();
    loop {
        let r =
            http.get(format!("{base}/api/plugins/{name}")).send().await.with_context(|| format!("reaching {base}"))?;
        let status = r.status();
        let body = r.bytes().await.with_context(|| format!("reading the service's answer ({status})"))?;
        anyhow::ensure!(status.is_success(), "the service answered {status}: {}", String::from_utf8_lossy(&body));
        let detail: PluginDetail =
            serde_json::from_slice(&body).context("the service's answer is not a PluginDetail")?;
        let report = detail
            .canaries
            .into_iter()
            .find(|c| c.id == id)
            .with_context(|| format!("canary {id} is not among the last canaries of {name}"))?;
        if report.state != "running" {
            return Ok(report);
        }
        if printed.elapsed() >= PRINT_EVERY {
            let calls = report.tally["calls"].as_u64().unwrap_or(0);
            eprintln!(
                "  {:.0} s: {calls} live calls compared, {} values changed, {:.2}× the time",
                report.elapsed_ms as f64 / 1000.0,
                report.tally["values_changed"].as_u64().unwrap_or(0),
                report.latency_ratio
            );
            printed = Instant::now();
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The report as a few lines of text.
pub fn print_human(r: &CanaryReport) {
    let t = &r.tally;
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    println!("canary {} of {}: {} vs active {} — {}", r.id, r.name, r.candidate_version, r.active_version, r.state);
    if let Some(reason) = &r.reason {
        println!("  {reason}");
    }
    println!(
        "  {} live calls in {:.1} s; candidate errors {}, active errors {}",
        n("calls"),
        r.elapsed_ms as f64 / 1000.0,
        n("candidate_errors"),
        n("active_errors")
    );
    if n("values_compared") > 0 {
        println!(
            "  outputs: {} of {} values changed, max |diff| {}, mean |diff| {:.3e}, {} pixels changed",
            n("values_changed"),
            n("values_compared"),
            t["max_abs_diff"],
            r.mean_abs_diff,
            n("pixels_changed")
        );
    }
    if n("decisions") > 0 {
        println!(
            "  decisions: {} of {} agree; max |PnL diff| {}",
            n("decisions_agreed"),
            n("decisions"),
            t["max_abs_pnl_diff"]
        );
    }
    println!("  time {:.2}× the active version's, peak memory {:.2}×", r.latency_ratio, r.memory_ratio);
}
