//! Per-plugin limits in the API: chosen at upload from what the upload's calls measured (or
//! asked for in its query, within the operator's caps), stored with the version, applied to the
//! runtime of every replica that loads the version, and shown on `GET /api/plugins/{name}`.

use crate::models::{PluginVersion, UploadQuery, VersionLimits};
use crate::{ApiError, ApiState};
use cgaf_runtime::{Measured, Plugin, PluginHost, PluginLimits};
use cgaf_store::plugin_limits::StoredLimits;
use cgaf_store::Store;
use std::time::Duration;
use warp::http::StatusCode;

/// Limits chosen for an upload, with what was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    /// The limits.
    pub limits: PluginLimits,
    /// What the upload's calls used.
    pub measured: Measured,
    /// True when the query asked for (some of) them.
    pub requested: bool,
}

fn refused(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The limits of an upload: what `q` asks for, else what `measured` suggests
/// ([`Measured::choose`]); a request above a cap or below what the upload's calls used is refused.
pub fn choose(q: &UploadQuery, measured: Measured, caps: PluginLimits) -> Result<Chosen, ApiError> {
    let mut limits = measured.choose(caps);
    if let Some(ms) = q.call_deadline_ms {
        limits.call_deadline = Duration::from_millis(ms);
    }
    if let Some(bytes) = q.memory_limit_bytes {
        limits.memory_limit = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    limits.check(caps).map_err(|m| refused("limit_above_cap", m))?;
    if q.memory_limit_bytes.is_some() && limits.memory_limit < measured.peak_memory {
        return Err(refused(
            "limit_below_measured",
            format!(
                "a memory limit of {} bytes is below the {} bytes the upload's calls used",
                limits.memory_limit, measured.peak_memory
            ),
        ));
    }
    let requested = q.call_deadline_ms.is_some() || q.memory_limit_bytes.is_some();
    Ok(Chosen { limits, measured, requested })
}

fn i64_of(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Stores `chosen` with `plugin`'s version and makes them its limits in this replica.
pub async fn store_and_apply(
    store: &Store,
    host: &PluginHost,
    plugin: &Plugin,
    chosen: &Chosen,
) -> Result<VersionLimits, cgaf_store::Error> {
    let stored = StoredLimits {
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        call_deadline_ms: i64_of(chosen.limits.call_deadline.as_millis()),
        memory_limit_bytes: i64_of(chosen.limits.memory_limit as u128),
        measured_peak_memory_bytes: i64_of(chosen.measured.peak_memory as u128),
        measured_slowest_call_us: i64_of(chosen.measured.slowest_call.as_micros()),
        requested: chosen.requested,
        set_at: None,
    };
    store.put_plugin_limits(&stored).await?;
    host.runtime.set_limits(plugin, chosen.limits);
    Ok(view(Some(&stored), host.runtime.caps()))
}

/// The limits of `stored` as a replica with `caps` applies them.
fn limits_of(stored: &StoredLimits, caps: PluginLimits) -> PluginLimits {
    PluginLimits {
        call_deadline: Duration::from_millis(u64::try_from(stored.call_deadline_ms).unwrap_or(0)),
        memory_limit: usize::try_from(stored.memory_limit_bytes).unwrap_or(0),
    }
    .capped(caps)
}

/// Applies `plugin`'s stored limits in this replica (capped by its caps); a version without
/// limits of its own runs under the caps.
pub async fn apply_stored(store: &Store, host: &PluginHost, plugin: &Plugin) -> Result<(), cgaf_store::Error> {
    let caps = host.runtime.caps();
    let limits = match store.plugin_limits(&plugin.info.name, &plugin.info.version).await? {
        Some(s) => limits_of(&s, caps),
        None => caps,
    };
    host.runtime.set_limits(plugin, limits);
    Ok(())
}

/// Fills the limits of `versions` (of plugin `name`) for `GET /api/plugins/{name}`: each
/// version's own, else the answering replica's caps (none without a plugin host); and the
/// contract of each version this replica has compiled.
pub async fn fill(state: &ApiState, name: &str, versions: &mut [PluginVersion]) -> Result<(), cgaf_store::Error> {
    let Some(host) = &state.plugins else { return Ok(()) };
    let stored = state.store.plugin_limits_of(name).await?;
    let caps = host.runtime.caps();
    for v in versions {
        v.limits = Some(view(stored.iter().find(|s| s.version == v.version), caps));
        v.contract = host.runtime.loaded(&v.sha256).map(|p| p.contract().as_str().to_string());
    }
    Ok(())
}

/// The answer's form of a version's limits: its own (`stored`), else the caps.
pub fn view(stored: Option<&StoredLimits>, caps: PluginLimits) -> VersionLimits {
    match stored {
        Some(s) => {
            let l = limits_of(s, caps);
            VersionLimits {
                call_deadline_ms: l.call_deadline.as_millis() as u64,
                chosen: if s.requested { "requested" } else { "measured" }.into(),
                measured_peak_memory_bytes: u64::try_from(s.measured_peak_memory_bytes).ok(),
                measured_slowest_call_ms: Some(s.measured_slowest_call_us as f64 / 1e3),
                memory_limit_bytes: l.memory_limit as u64,
            }
        }
        None => VersionLimits {
            call_deadline_ms: caps.call_deadline.as_millis() as u64,
            chosen: "caps".into(),
            measured_peak_memory_bytes: None,
            measured_slowest_call_ms: None,
            memory_limit_bytes: caps.memory_limit as u64,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: PluginLimits = PluginLimits { call_deadline: Duration::from_millis(500), memory_limit: 64 << 20 };
    const SMALL: Measured = Measured { peak_memory: 2 << 20, slowest_call: Duration::from_millis(1) };

    #[test]
    fn without_a_request_the_measurement_chooses() {
        let c = choose(&UploadQuery::default(), SMALL, CAPS).unwrap();
        assert_eq!(c.limits, SMALL.choose(CAPS));
        assert!(!c.requested);
    }

    #[test]
    fn a_request_within_the_caps_is_taken_and_one_above_is_refused() {
        let q = UploadQuery { memory_limit_bytes: Some(48 << 20), call_deadline_ms: Some(300), ..Default::default() };
        let c = choose(&q, SMALL, CAPS).unwrap();
        assert_eq!(c.limits, PluginLimits { call_deadline: Duration::from_millis(300), memory_limit: 48 << 20 });
        assert!(c.requested);
        let q = UploadQuery { memory_limit_bytes: Some(128 << 20), ..Default::default() };
        let e = choose(&q, SMALL, CAPS).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "limit_above_cap");
        let q = UploadQuery { call_deadline_ms: Some(501), ..Default::default() };
        assert_eq!(choose(&q, SMALL, CAPS).unwrap_err().code, "limit_above_cap");
        let q = UploadQuery { memory_limit_bytes: Some(1 << 20), ..Default::default() };
        assert_eq!(choose(&q, SMALL, CAPS).unwrap_err().code, "limit_below_measured");
    }
}
