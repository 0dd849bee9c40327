//! Canary promotion across replicas. Every replica with a plugin host loads the running canaries
//! from PostgreSQL (on each plugins notification: [`sync`]) so its live calls of the active
//! version are shadowed by the candidate; once a second ([`judge`]) it adds what it compared to
//! the stored tally and, when the calls or the duration asked for are reached (or the candidate
//! failed), decides: promoted — the candidate activated on every replica in the same
//! transaction — or refused with the reason. The first replica to decide wins; the others see the
//! canary ended.

use crate::compiled::{self, LoadError};
use cgaf_runtime::canary::judge as judge_canary;
use cgaf_runtime::{Canary, CanaryTally, PluginHost, Tolerance, Verdict};
use cgaf_store::{CanaryEnd, PluginCanary, Store};
use std::sync::Arc;

/// How often [`judge`] runs.
pub const JUDGE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Loads the running canaries into `host` (a candidate already loaded is kept). A candidate
/// that does not load on this replica refuses its canary.
pub async fn sync(store: &Store, host: &Arc<PluginHost>) -> Result<(), LoadError> {
    let running = store.running_plugin_canaries().await?;
    let known = host.canaries();
    let mut set = Vec::with_capacity(running.len());
    for c in running {
        let candidate = match known.iter().find(|k| k.id == c.id && k.candidate.sha256 == c.candidate_sha256) {
            Some(k) => k.candidate.clone(),
            None => {
                match compiled::load_stored(store, host, &c.name, &c.candidate_version, &c.candidate_sha256).await {
                    Ok(p) => {
                        tracing::info!(plugin = %c.name, candidate = %c.candidate_version, active = %c.active_version,
                        canary = c.id, "canary shadows the active version");
                        p
                    }
                    Err(LoadError::Store(e)) => return Err(e.into()),
                    Err(e) => {
                        let reason = format!("the candidate does not load on a replica: {e}");
                        tracing::warn!(plugin = %c.name, canary = c.id, %reason, "canary refused");
                        store.finish_plugin_canary(c.id, CanaryEnd::Refused, &reason).await?;
                        continue;
                    }
                }
            }
        };
        set.push(Canary::new(c.id, c.name, c.active_version, candidate));
    }
    host.set_canaries(set);
    Ok(())
}

/// Adds this replica's tally of every running canary to the stored one and decides those that
/// are done. A tally that could not be written is kept for the next round.
pub async fn judge(store: &Store, host: &Arc<PluginHost>) {
    for canary in host.canaries() {
        let delta = canary.take();
        let row = if delta.is_empty() {
            store.plugin_canary(canary.id).await.map(|r| r.filter(|r| r.state == "running"))
        } else {
            store
                .add_plugin_canary_tally(canary.id, |stored| {
                    let mut t: CanaryTally = serde_json::from_value(stored).unwrap_or_default();
                    t.merge(&delta);
                    serde_json::to_value(&t).unwrap_or_default()
                })
                .await
        };
        match row {
            Ok(Some(row)) => decide(store, host, &canary, &row).await,
            Ok(None) => {}
            Err(e) => {
                canary.put_back(&delta);
                tracing::warn!(plugin = %canary.name, canary = canary.id, error = %e, "adding to a canary's tally");
            }
        }
    }
}

/// Where a canary's window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// Still comparing.
    Open,
    /// What was asked for is reached: the calls, or (without calls) the duration.
    Reached,
    /// Calls were asked for and the duration (their deadline) passed first.
    Expired,
}

/// With calls asked for, the canary is decided once they are compared, and refused when the
/// duration (the deadline for them) passes first; with a duration alone, decided when it ends.
fn window(row: &PluginCanary, tally: &CanaryTally) -> Window {
    let ended = row.duration_ms.is_some_and(|d| row.elapsed_ms >= d);
    match row.target_calls {
        Some(n) if tally.calls >= n.max(0) as u64 => Window::Reached,
        Some(_) if ended => Window::Expired,
        Some(_) => Window::Open,
        None if ended => Window::Reached,
        None => Window::Open,
    }
}

async fn decide(store: &Store, host: &Arc<PluginHost>, canary: &Canary, row: &PluginCanary) {
    let tally: CanaryTally = serde_json::from_value(row.tally.clone()).unwrap_or_default();
    let tolerance: Tolerance = serde_json::from_value(row.tolerance.clone()).unwrap_or_default();
    let active_now = host.registry.get(&row.name).map(|p| p.info.version.clone()).ok();
    let verdict = match active_now {
        Some(v) if v != row.active_version => {
            Verdict::Refuse(format!("the active version changed from {} to {v} during the canary", row.active_version))
        }
        _ => match window(row, &tally) {
            // A candidate that fails is refused at once, even when its calls were not all in.
            Window::Expired => match judge_canary(&tally, &tolerance, false) {
                Verdict::Continue => Verdict::Refuse(format!(
                    "only {} of the {} live calls asked for were compared within {} s",
                    tally.calls,
                    row.target_calls.unwrap_or_default(),
                    row.duration_ms.unwrap_or_default() / 1000
                )),
                v => v,
            },
            w => judge_canary(&tally, &tolerance, w == Window::Reached),
        },
    };
    let (end, reason) = match verdict {
        Verdict::Continue => return,
        Verdict::Promote(r) => (CanaryEnd::Promoted, r),
        Verdict::Refuse(r) => (CanaryEnd::Refused, r),
    };
    match store.finish_plugin_canary(row.id, end, &reason).await {
        Ok(true) => {
            tracing::info!(plugin = %row.name, candidate = %row.candidate_version, canary = row.id,
                verdict = end.as_str(), %reason, "canary decided");
            if end == CanaryEnd::Promoted {
                // Read-your-write here; the other replicas follow the activation's notification.
                host.registry.activate(canary.candidate.clone());
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(plugin = %row.name, canary = row.id, error = %e, "ending a canary"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target_calls: Option<i64>, duration_ms: Option<i64>, elapsed_ms: i64) -> PluginCanary {
        PluginCanary {
            id: 1,
            name: "gasf".into(),
            kind: "image-transform".into(),
            active_version: "1.0.0".into(),
            candidate_version: "1.0.1".into(),
            candidate_sha256: String::new(),
            target_calls,
            duration_ms,
            tolerance: serde_json::json!({}),
            state: "running".into(),
            reason: None,
            tally: serde_json::json!({}),
            started_at: chrono::Utc::now(),
            finished_at: None,
            elapsed_ms,
        }
    }

    fn calls(n: u64) -> CanaryTally {
        CanaryTally { calls: n, ..Default::default() }
    }

    #[test]
    fn calls_are_the_target_and_the_duration_their_deadline() {
        assert_eq!(window(&row(Some(10), Some(60_000), 1_000), &calls(3)), Window::Open);
        assert_eq!(window(&row(Some(10), Some(60_000), 1_000), &calls(10)), Window::Reached);
        assert_eq!(window(&row(Some(10), Some(60_000), 60_000), &calls(3)), Window::Expired);
        assert_eq!(window(&row(Some(10), Some(60_000), 60_000), &calls(12)), Window::Reached);
        assert_eq!(window(&row(Some(10), None, 10_000_000), &calls(3)), Window::Open);
        assert_eq!(window(&row(None, Some(60_000), 59_999), &calls(3)), Window::Open);
        assert_eq!(window(&row(None, Some(60_000), 60_000), &calls(0)), Window::Reached);
    }
}
