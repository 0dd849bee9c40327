//! `cgaf plugin replay NAME ID [--wasm FILE]`: a failed call stored by the service
//! (`GET /api/plugins/{name}/failures/{id}`), re-run locally in the same sandbox under the limits
//! it ran under — with the stored component, or with a fixed build — and the typed errors
//! compared.

use anyhow::{Context, Result};
use cgaf_api::models::PluginFailure;
use cgaf_runtime::{CallInputs, CallLimits, Error, Runtime, RuntimeSettings, StrategyCall};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call failed again with the same typed error.
    Reproduced,
    /// The call succeeded (with `--wasm`: the fix works).
    Fixed,
    /// The call failed with another error.
    Different,
}

/// The report of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The failure replayed.
    pub failure_id: i64,
    /// `name@version` of the component run.
    pub ran: String,
    /// The failing call.
    pub call: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The stored typed error.
    pub expected: Error,
    /// What the replay got, when it failed.
    pub got: Option<Error>,
}

impl ReplayReport {
    /// True when the replay did what it was asked: reproduced the failure with the stored
    /// component, or passed with a fixed build.
    pub fn as_hoped(&self, fixed_build: bool) -> bool {
        if fixed_build {
            self.outcome == Outcome::Fixed
        } else {
            self.outcome == Outcome::Reproduced
        }
    }
}

/// Fetches failure `id` of `name` from the service at `base`.
pub async fn fetch_failure(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    id: i64,
) -> Result<PluginFailure> {
    let r = http
        .get(format!("{base}/api/plugins/{name}/failures/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?;
    let body = body_of(r).await?;
    serde_json::from_slice(&body).context("the service's failure is not a PluginFailure")
}

/// The body of a successful answer, or the service's answer as an error.
async fn body_of(r: reqwest::Response) -> Result<Vec<u8>> {
    let status = r.status();
    let body = r.bytes().await.with_context(|| format!("reading the service's answer ({status})"))?;
    if !status.is_success() {
        anyhow::bail!("the service answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

/// Fetches the stored component of `name@version`.
pub async fn fetch_component(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    version: &str,
) -> Result<Vec<u8>> {
    let r = http
        .get(format!("{base}/api/plugins/{name}/versions/{version}/component"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?;
    body_of(r).await
}

/// Re-runs `failure` with `bytes` (the stored component or a fixed build) in a sandbox with the
/// limits the call ran under and the compile cache in `data_dir`. Blocks.
pub fn replay(data_dir: &Path, failure: &PluginFailure, bytes: &[u8]) -> Result<ReplayReport> {
    let expected: Error = serde_json::from_value(failure.error.clone()).context("the stored typed error")?;
    let limits: CallLimits = serde_json::from_value(failure.limits.clone()).context("the stored limits")?;
    let inputs: CallInputs = match &failure.inputs {
        Some(i) => serde_json::from_value(i.clone()).context("the stored inputs")?,
        None => anyhow::bail!(
            "failure {} kept no inputs: they were {} bytes, over the service's cap (--plugin-failure-max-bytes)",
            failure.id,
            failure.inputs_bytes
        ),
    };
    let settings = crate::settings::runtime_with_cache(
        RuntimeSettings {
            call_deadline: Duration::from_millis(limits.call_deadline_ms),
            info_deadline: Duration::from_millis(limits.info_deadline_ms),
            memory_limit: limits.memory_limit,
            max_result_values: limits.max_result_values,
            ..RuntimeSettings::default()
        },
        data_dir,
    );
    let runtime = Runtime::new(settings)?;
    let plugin = runtime.load(bytes).context("loading the component")?;
    anyhow::ensure!(
        plugin.info.name == failure.name,
        "the component is plugin {:?}, the failure is of {:?}",
        plugin.info.name,
        failure.name
    );
    let got = call(&runtime, &plugin, &inputs).err();
    let outcome = match &got {
        None => Outcome::Fixed,
        Some(e) if *e == expected => Outcome::Reproduced,
        Some(_) => Outcome::Different,
    };
    Ok(ReplayReport {
        failure_id: failure.id,
        ran: format!("{}@{}", plugin.info.name, plugin.info.version),
        call: inputs.call_name().to_string(),
        outcome,
        expected,
        got,
    })
}

/// Makes the recorded call: for a strategy, a fresh instance with the recorded parameters, the
/// recorded state restored, the recorded `on-bars` calls fed, then the failing call.
fn call(runtime: &Runtime, plugin: &std::sync::Arc<cgaf_runtime::Plugin>, inputs: &CallInputs) -> Result<(), Error> {
    match inputs {
        CallInputs::ImageTransform { series, params } => runtime.transform(plugin, series, params).map(drop),
        CallInputs::Blender { matrices, params } => runtime.blend(plugin, matrices, params).map(drop),
        CallInputs::Strategy { params, restored, fed, failed } => {
            let mut instance = runtime.strategy(plugin, params)?;
            if let Some(state) = restored {
                instance.restore_text(state.clone())?;
            }
            for bars in fed {
                instance.on_bars(bars)?;
            }
            match failed {
                StrategyCall::Create => Ok(()),
                StrategyCall::Restore { state } => instance.restore_text(state.clone()),
                StrategyCall::OnBars { bars } => instance.on_bars(bars).map(drop),
                StrategyCall::State => instance.state().map(drop),
            }
        }
    }
}

/// Prints a report for people.
pub fn print_human(r: &ReplayReport) {
    let expected = format!("{}: {}", r.expected.code(), r.expected);
    match (&r.outcome, &r.got) {
        (Outcome::Reproduced, _) => println!("reproduced: {} failed in {} with {expected}", r.ran, r.call),
        (Outcome::Fixed, _) => println!("fixed: {} passes {} (it failed with {expected})", r.ran, r.call),
        (Outcome::Different, Some(e)) => {
            println!("different: {} failed in {} with {}: {e} (recorded: {expected})", r.ran, r.call, e.code())
        }
        (Outcome::Different, None) => println!("different: {} (recorded: {expected})", r.ran),
    }
}
