//! Plugins: uploads, versions, activation, call statistics and image transforms.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Query of `POST /api/plugins`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Activate the version once stored: `true`, `1` or empty for yes, `false` or `0` for no
    /// (default no).
    #[param(value_type = Option<bool>)]
    pub activate: Option<String>,
    /// Deadline of one call of this version, ms, instead of the one chosen from the upload's
    /// measurement; refused (422) above the operator's cap.
    pub call_deadline_ms: Option<u64>,
    /// Linear memory of one instance of this version, bytes, instead of the one chosen from the
    /// upload's measurement; refused (422) above the operator's cap or below what the upload's
    /// calls used.
    pub memory_limit_bytes: Option<u64>,
}

/// The limits a plugin version's calls run under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionLimits {
    /// Deadline of one call, ms.
    pub call_deadline_ms: u64,
    /// `measured` (chosen from what the upload's calls used), `requested` (asked for on the
    /// upload) or `caps` (no limits of its own: the operator's caps of the answering replica).
    pub chosen: String,
    /// Largest linear memory the upload's calls used, bytes (none for `caps`).
    pub measured_peak_memory_bytes: Option<u64>,
    /// The upload's slowest call, ms (none for `caps`).
    pub measured_slowest_call_ms: Option<f64>,
    /// Linear memory of one instance, bytes.
    pub memory_limit_bytes: u64,
}

/// The answer to an upload (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadedPlugin {
    /// Whether the version is now active.
    pub active: bool,
    /// The contract version the component was built against and is served through: `0.1.0`, or
    /// the draft `0.2.0` (a strategy that answers sweeps through `targets`).
    pub contract: String,
    /// Description from `info()`.
    pub description: String,
    /// World: `image-transform`, `strategy` or `blender`.
    pub kind: String,
    /// The limits the version's calls run under.
    pub limits: VersionLimits,
    /// Name from `info()`.
    pub name: String,
    /// Parameter schema from `info()`.
    pub params: Value,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Size of the component, bytes.
    pub size: u64,
    /// False when the same name, version and bytes were stored already.
    pub stored: bool,
    /// Version from `info()`.
    pub version: String,
}

/// A stored plugin version, without its bytes (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginVersion {
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
    /// Whether this is the active version.
    pub active: bool,
    /// Shipped with the binary.
    pub builtin: bool,
    /// The contract version it is served through (`0.1.0` or the draft `0.2.0`), when the
    /// answering replica has it compiled (on `GET /api/plugins/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Description.
    pub description: String,
    /// World.
    pub kind: String,
    /// The limits the version's calls run under (on `GET /api/plugins/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<VersionLimits>,
    /// Name.
    pub name: String,
    /// Parameter schema.
    pub params: Value,
    /// Why it was quarantined.
    pub quarantine_reason: Option<String>,
    /// When it was quarantined.
    pub quarantined_at: Option<DateTime<Utc>>,
    /// sha256 of the component.
    pub sha256: String,
    /// Size of the component, bytes.
    pub size: i64,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Uploader.
    pub uploader: Option<String>,
    /// Version.
    pub version: String,
}

impl From<cgaf_store::plugins::PluginVersion> for PluginVersion {
    fn from(v: cgaf_store::plugins::PluginVersion) -> Self {
        Self {
            activated_at: v.activated_at,
            active: v.active,
            builtin: v.builtin,
            contract: None,
            description: v.description,
            kind: v.kind,
            limits: None,
            name: v.name,
            params: v.params,
            quarantine_reason: v.quarantine_reason,
            quarantined_at: v.quarantined_at,
            sha256: v.sha256,
            size: v.size,
            uploaded_at: v.uploaded_at,
            uploader: v.uploader,
            version: v.version,
        }
    }
}

/// A plugin with its versions, in `GET /api/plugins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginSummary {
    /// The active version, if any.
    pub active_version: Option<String>,
    /// World.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Every stored version.
    pub versions: Vec<PluginVersion>,
}

/// `GET /api/plugins/{name}`: versions, the active one, and this replica's call statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginDetail {
    /// The last changes of the active version, newest first (at most 20; the whole log is
    /// `GET /api/plugins/{name}/activations`).
    pub activations: Vec<PluginActivation>,
    /// The active version, if any.
    pub active_version: Option<String>,
    /// The last canaries, newest first (at most 10): a running one's report grows as replicas
    /// add what they compared.
    pub canaries: Vec<CanaryReport>,
    /// World.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Call statistics of this replica, by version.
    pub stats: BTreeMap<String, CallStats>,
    /// Every stored version.
    pub versions: Vec<PluginVersion>,
}

/// Call statistics of one plugin version in the answering process (every kind: transforms,
/// blenders and strategies in backtests, paper runs and sweeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallStats {
    /// Calls made.
    pub calls: u64,
    /// Plugin faults in a row (trap, timeout, memory, invalid result); reset by a success.
    pub consecutive_faults: u32,
    /// Calls that failed (any error).
    pub errors: u64,
    /// Plugin faults by kind (`trap`, `timeout`, `memory_limit`, `invalid_result`,
    /// `plugin_error`); kinds without faults are left out.
    pub faults: BTreeMap<String, u64>,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Slowest call, seconds.
    pub max_seconds: f64,
    /// Mean call time, seconds.
    pub mean_seconds: f64,
    /// Largest linear memory an instance of this version had, bytes.
    pub peak_memory_bytes: u64,
    /// Times this replica quarantined this version.
    pub quarantines: u64,
    /// Total call time, seconds.
    pub total_seconds: f64,
}

impl From<&cgaf_runtime::PluginStats> for CallStats {
    fn from(s: &cgaf_runtime::PluginStats) -> Self {
        Self {
            calls: s.calls,
            consecutive_faults: s.consecutive_faults,
            errors: s.errors,
            faults: s.faults.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            last_error: s.last_error.clone(),
            max_seconds: s.max_seconds,
            mean_seconds: s.mean_seconds(),
            peak_memory_bytes: s.peak_memory,
            quarantines: s.quarantines,
            total_seconds: s.total_seconds,
        }
    }
}

/// Body of `POST /api/plugins/{name}/activate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The version to make active.
    #[schema(example = "1.1.0")]
    pub version: String,
}

/// The answer to an activation or a rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActiveVersion {
    /// The version now active.
    pub active_version: String,
    /// The plugin.
    pub name: String,
}

/// Body of `POST /api/transforms/{name}`; the answer is the matrix as rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// The series to transform.
    pub series: Vec<f64>,
    /// pyts parameter names; values as JSON or Python text, e.g. `{"image_size": 8}`.
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// Query of a plugin's paged lists: `GET /api/plugins/{name}/failures` and `.../activations`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FailureListQuery {
    /// Only entries older than this id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Most entries answered (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A plugin call that faulted, as stored (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginFailure {
    /// The call: `transform`, `blend`, `create`, `restore`, `on_bars` or `state`.
    #[schema(example = "on_bars")]
    pub call: String,
    /// The typed error (`{"kind": "trap", "detail": "..."}`), as the runtime reports it.
    pub error: Value,
    /// The typed error's code: `trap`, `timeout`, `memory_limit`, `invalid_result` or `plugin_error`.
    #[schema(example = "trap")]
    pub error_code: String,
    /// The typed error as text.
    pub error_message: String,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
    /// Id (what `cgaf plugin replay` takes).
    pub id: i64,
    /// What the call was given (only on `GET /api/plugins/{name}/failures/{id}`; `null` in
    /// lists, and when the inputs were over the size cap).
    pub inputs: Option<Value>,
    /// Size of the inputs' JSON, bytes.
    pub inputs_bytes: i64,
    /// The limits the call ran under (`call_deadline_ms`, `info_deadline_ms`, `memory_limit`,
    /// `max_result_values`).
    pub limits: Value,
    /// Plugin name.
    pub name: String,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Plugin version.
    pub version: String,
}

impl From<cgaf_store::PluginFailure> for PluginFailure {
    fn from(f: cgaf_store::PluginFailure) -> Self {
        Self {
            call: f.call,
            error: f.error,
            error_code: f.error_code,
            error_message: f.error_message,
            failed_at: f.failed_at,
            id: f.id,
            inputs: f.inputs,
            inputs_bytes: f.inputs_bytes,
            limits: f.limits,
            name: f.name,
            sha256: f.sha256,
            version: f.version,
        }
    }
}

/// A page of a plugin's failed calls, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailureList {
    /// The failures, without their inputs.
    pub failures: Vec<PluginFailure>,
    /// `before` of the next page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// Body of `POST /api/plugins/{name}/canary`: the candidate and when to decide — once `calls`
/// live calls are compared (refused when they do not come in within `duration`, default an
/// hour), or, without `calls`, when `duration` ends.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// The candidate version (stored, same kind, not the active one).
    #[schema(example = "1.0.1")]
    pub version: String,
    /// Decide after this many live calls were compared.
    #[schema(example = 200)]
    pub calls: Option<u64>,
    /// Without `calls`: decide after this long, e.g. `90s`, `5m`, `1h`. With `calls`: the
    /// deadline for them (default 1h).
    #[schema(example = "60s")]
    pub duration: Option<String>,
    /// How far the candidate may differ and still be promoted; every field optional, strict
    /// defaults: `max_abs_diff` 0, `max_changed_pixels` 0 (fraction), `max_matrix_diff_norm` 0,
    /// `min_decision_agreement` 1, `max_abs_pnl_diff` 1e-9, `max_errors` 0, `max_latency_ratio`
    /// 3, `max_memory_ratio` 2, `min_calls` 1.
    #[schema(value_type = Object, example = json!({"max_latency_ratio": 2.0}))]
    pub tolerance: Option<Value>,
}

/// A canary: a candidate version compared in shadow with the active version on live inputs, and
/// what the comparison found (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CanaryReport {
    /// The active version it is compared with.
    pub active_version: String,
    /// The candidate version.
    pub candidate_version: String,
    /// Calls to compare before deciding, if asked.
    pub calls_asked: Option<i64>,
    /// Strategies: fraction of decisions with the same target (`null` before any).
    pub decision_agreement: Option<f64>,
    /// How long to compare, ms, if asked.
    pub duration_ms: Option<i64>,
    /// Time since the start (to the end, once ended), ms.
    pub elapsed_ms: i64,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Id.
    pub id: i64,
    /// Plugin kind.
    pub kind: String,
    /// Candidate time over active time for the compared calls.
    pub latency_ratio: f64,
    /// Mean absolute difference of the compared output values.
    pub mean_abs_diff: f64,
    /// Candidate peak memory over active peak memory.
    pub memory_ratio: f64,
    /// Plugin name.
    pub name: String,
    /// Why it ended: the verdict's reason, or the operator's.
    pub reason: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// `running`, `promoted`, `refused` or `cancelled`.
    #[schema(example = "promoted")]
    pub state: String,
    /// What was compared: `calls`, `active_errors`, `candidate_errors`, `first_candidate_error`,
    /// `values_compared`, `values_changed`, `pixels_changed`, `max_abs_diff`, `sum_abs_diff`,
    /// `max_matrix_diff_norm`, `decisions`, `decisions_agreed`, `max_abs_pnl_diff`,
    /// `active_seconds`, `candidate_seconds`, `active_peak_memory`, `candidate_peak_memory`.
    #[schema(value_type = Object)]
    pub tally: Value,
    /// The tolerance it is judged against (defaults filled in).
    #[schema(value_type = Object)]
    pub tolerance: Value,
}

impl From<cgaf_store::PluginCanary> for CanaryReport {
    fn from(c: cgaf_store::PluginCanary) -> Self {
        let t: cgaf_runtime::CanaryTally = serde_json::from_value(c.tally.clone()).unwrap_or_default();
        Self {
            active_version: c.active_version,
            candidate_version: c.candidate_version,
            calls_asked: c.target_calls,
            decision_agreement: (t.decisions > 0).then(|| t.decisions_agreed as f64 / t.decisions as f64),
            duration_ms: c.duration_ms,
            elapsed_ms: c.elapsed_ms,
            finished_at: c.finished_at,
            id: c.id,
            kind: c.kind,
            latency_ratio: t.latency_ratio(),
            mean_abs_diff: t.mean_abs_diff(),
            memory_ratio: t.memory_ratio(),
            name: c.name,
            reason: c.reason,
            started_at: c.started_at,
            state: c.state,
            tally: serde_json::to_value(&t).unwrap_or(c.tally),
            tolerance: c.tolerance,
        }
    }
}

/// One change of a plugin's active version (fields in the order they are answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginActivation {
    /// When.
    pub activated_at: DateTime<Utc>,
    /// Id (ascending with time; pass as `before` for the next page).
    pub id: i64,
    /// Why: `upload`, `api`, `rollback`, `built-in`, `quarantine`, `canary`.
    #[schema(example = "canary")]
    pub reason: String,
    /// The version made active.
    pub version: String,
}

impl From<cgaf_store::plugins::PluginActivation> for PluginActivation {
    fn from(a: cgaf_store::plugins::PluginActivation) -> Self {
        Self { activated_at: a.activated_at, id: a.id, reason: a.reason, version: a.version }
    }
}

/// A page of a plugin's activation log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivationList {
    /// The activations.
    pub activations: Vec<PluginActivation>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    pub next_before: Option<i64>,
}
