//! `cgaf plugin upload|list|activate|rollback|replay|canary`: the plugin routes of a running
//! service (`replay` re-runs a stored failure locally, see `plugin_replay`; `canary` waits for
//! the verdict, see `plugin_canary`); and
//! `cgaf plugin new|build|test`, which need no service.

use crate::cli::{GlobalArgs, PluginAction, PluginArgs, PluginKindArg};
use anyhow::{Context, Result};
use cgaf_api::models::{
    ActivateRequest, ActiveVersion, CanaryReport, ErrorBody, PluginDetail, PluginSummary, UploadedPlugin,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn token(args: &PluginArgs, g: &GlobalArgs) -> Result<String> {
    resolve_token(args.token.as_deref(), g)
}

/// The API token: the explicit one, else `<data-dir>/api-token`.
pub(crate) fn resolve_token(explicit: Option<&str>, g: &GlobalArgs) -> Result<String> {
    if let Some(t) = explicit.filter(|t| !t.is_empty()) {
        return Ok(t.to_string());
    }
    let path = g.data_dir.join("api-token");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .with_context(|| format!("no --token / CGAF_API_TOKEN, and reading {} failed", path.display()))
}

/// The service's error answer as an error.
fn service_error(status: reqwest::StatusCode, body: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => anyhow::anyhow!("the service answered {status} {}: {}", b.error.code, b.error.message),
        Err(_) => anyhow::anyhow!("the service answered {status} : no details"),
    }
}

/// The JSON body of a successful answer, or the service's error as an error.
pub(crate) async fn answer(r: reqwest::Response) -> Result<serde_json::Value> {
    let status = r.status();
    let body = r.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(service_error(status, &body));
    }
    Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// The body of a successful answer as the API's model `T`, or the service's error as an error.
async fn answer_as<T: DeserializeOwned>(r: reqwest::Response) -> Result<T> {
    let status = r.status();
    let body = r.bytes().await.with_context(|| format!("reading the service's answer ({status})"))?;
    if !status.is_success() {
        return Err(service_error(status, &body));
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("the service's answer is not a {}", std::any::type_name::<T>()))
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs the command.
pub async fn run(g: &GlobalArgs, args: &PluginArgs) -> Result<()> {
    if let Some(r) = tokio::task::block_in_place(|| local(g, &args.action)) {
        return r;
    }
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build()?;
    let base = args.url.trim_end_matches('/');
    match &args.action {
        PluginAction::Upload { file, activate, memory_limit, call_deadline } => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            eprintln!("uploading {} ({} bytes) ...", file.display(), bytes.len());
            let mut query = format!("activate={activate}");
            if let Some(b) = memory_limit {
                query.push_str(&format!("&memory_limit_bytes={b}"));
            }
            if let Some(d) = call_deadline {
                query.push_str(&format!("&call_deadline_ms={}", d.as_millis()));
            }
            let r = http
                .post(format!("{base}/api/plugins?{query}"))
                .bearer_auth(token(args, g)?)
                .header("content-type", "application/wasm")
                .body(bytes)
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            print_json(&answer_as::<UploadedPlugin>(r).await?)
        }
        PluginAction::List { name: Some(n) } => {
            let r =
                http.get(format!("{base}/api/plugins/{n}")).send().await.with_context(|| format!("reaching {base}"))?;
            print_json(&answer_as::<PluginDetail>(r).await?)
        }
        PluginAction::List { name: None } => {
            let r = http.get(format!("{base}/api/plugins")).send().await.with_context(|| format!("reaching {base}"))?;
            print_json(&answer_as::<Vec<PluginSummary>>(r).await?)
        }
        PluginAction::Activate { name, plugin_version: version } => {
            let r = http
                .post(format!("{base}/api/plugins/{name}/activate"))
                .bearer_auth(token(args, g)?)
                .json(&ActivateRequest { version: version.clone() })
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            print_json(&answer_as::<ActiveVersion>(r).await?)
        }
        PluginAction::Replay { name, id, wasm, json } => {
            let token = token(args, g)?;
            let failure = crate::plugin_replay::fetch_failure(&http, base, &token, name, *id).await?;
            let bytes = match wasm {
                Some(f) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
                None => crate::plugin_replay::fetch_component(&http, base, &token, name, &failure.version).await?,
            };
            let report = tokio::task::block_in_place(|| crate::plugin_replay::replay(&g.data_dir, &failure, &bytes))?;
            if *json {
                print_json(&report)?;
            } else {
                crate::plugin_replay::print_human(&report);
            }
            anyhow::ensure!(
                report.as_hoped(wasm.is_some()),
                "replay of failure {id}: {}",
                if wasm.is_some() { "the build still fails" } else { "the failure was not reproduced" }
            );
            Ok(())
        }
        PluginAction::Canary { name, plugin_version, calls, duration, tolerance, no_wait, cancel, json } => {
            let token = token(args, g)?;
            let report = if *cancel {
                let r = http
                    .delete(format!("{base}/api/plugins/{name}/canary"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .with_context(|| format!("reaching {base}"))?;
                answer_as::<CanaryReport>(r).await?
            } else {
                let tolerance = tolerance
                    .as_deref()
                    .map(serde_json::from_str::<serde_json::Value>)
                    .transpose()
                    .context("--tolerance is not JSON")?;
                let duration = match (calls, duration) {
                    (None, None) => Some("60s".to_string()),
                    (_, d) => d.clone(),
                };
                let body = serde_json::json!({
                    "version": plugin_version, "calls": calls, "duration": duration, "tolerance": tolerance,
                });
                let r = http
                    .post(format!("{base}/api/plugins/{name}/canary"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .with_context(|| format!("reaching {base}"))?;
                let started = answer_as::<CanaryReport>(r).await?;
                eprintln!(
                    "canary {} of {name}: {} in shadow beside {} ...",
                    started.id, started.candidate_version, started.active_version
                );
                if *no_wait {
                    started
                } else {
                    crate::plugin_canary::wait(&http, base, name, started.id).await?
                }
            };
            if *json {
                print_json(&report)?;
            } else {
                crate::plugin_canary::print_human(&report);
            }
            anyhow::ensure!(
                matches!(report.state.as_str(), "promoted" | "running") || (*cancel && report.state == "cancelled"),
                "canary {} of {name}: {} — {}",
                report.id,
                report.state,
                report.reason.as_deref().unwrap_or("")
            );
            Ok(())
        }
        PluginAction::New { .. } | PluginAction::Build { .. } | PluginAction::Test { .. } => Ok(()),
        PluginAction::Rollback { name } => {
            let r = http
                .post(format!("{base}/api/plugins/{name}/rollback"))
                .bearer_auth(token(args, g)?)
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            print_json(&answer_as::<ActiveVersion>(r).await?)
        }
    }
}

/// `new`, `build` and `test`: the actions without a service (`None` for the others).
fn local(g: &GlobalArgs, action: &PluginAction) -> Option<Result<()>> {
    Some(match action {
        PluginAction::New { kind, name, lang, dir, sdk_path, sdk_git } => (|| {
            let p = crate::plugin_new::NewPlugin {
                kind: match kind {
                    PluginKindArg::Strategy => cgaf_runtime::PluginKind::Strategy,
                    PluginKindArg::ImageTransform => cgaf_runtime::PluginKind::ImageTransform,
                    PluginKindArg::Blender => cgaf_runtime::PluginKind::Blender,
                },
                name: name.clone(),
                lang: *lang,
                dir: dir.clone().unwrap_or_else(|| name.into()),
                sdk: crate::plugin_new::SdkSource::choose(sdk_path.as_deref(), sdk_git.as_deref())?,
            };
            let files = crate::plugin_new::write(&p)?;
            for f in &files {
                eprintln!("wrote {}", f.display());
            }
            if p.lang == crate::plugin_new::PluginLang::Rust {
                eprintln!("SDK: {}", p.sdk.dependency_line());
            }
            eprintln!("next: cd {} && cgaf plugin build", p.dir.display());
            Ok(())
        })(),
        PluginAction::Build { dir, componentize_py, json } => (|| {
            let wasm = crate::plugin_build::build(dir, componentize_py.as_deref())?;
            let summary = crate::plugin_build::check(&g.data_dir, &wasm)?;
            if *json {
                print_json(&summary)
            } else {
                println!(
                    "{} {} {} ({} bytes, sha256 {}): passes the upload checks",
                    summary["kind"].as_str().unwrap_or("?"),
                    summary["name"].as_str().unwrap_or("?"),
                    summary["version"].as_str().unwrap_or("?"),
                    summary["bytes"],
                    summary["sha256"].as_str().unwrap_or("?")
                );
                println!("{}", wasm.display());
                Ok(())
            }
        })(),
        PluginAction::Test {
            file,
            bars,
            bar_interval,
            product,
            from,
            to,
            simulator,
            sim_seed,
            sim_bars,
            series,
            matrices,
            params,
            png,
            json,
        } => (|| {
            use crate::plugin_test_bars::BarsFrom;
            let bars = match (bars, product, simulator) {
                (Some(f), _, _) => BarsFrom::Csv(f.clone()),
                (None, p, true) => BarsFrom::Simulator {
                    product: p.clone().unwrap_or_else(|| "BTC-USD".into()),
                    seed: *sim_seed,
                    bars: *sim_bars,
                },
                (None, Some(p), false) => BarsFrom::Stored {
                    database: crate::settings::DatabaseSettings::from_args(g),
                    product: p.clone(),
                    from: from.clone(),
                    to: to.clone(),
                },
                (None, None, false) => BarsFrom::Walk,
            };
            let inputs = crate::plugin_test::TestInputs {
                file: file.clone(),
                bars,
                bar_interval: bar_interval.clone(),
                series: series.clone(),
                matrices: matrices.clone(),
                params: crate::cli::name_value_pairs(params).map_err(|e| anyhow::anyhow!("--param: {e}"))?,
                png: png.clone(),
            };
            let report = crate::plugin_test::run(&g.data_dir, &inputs)?;
            if *json {
                print_json(&report)?;
            } else {
                crate::plugin_test::print_human(&report);
            }
            match report["failure"].as_str() {
                Some(f) => anyhow::bail!("{} failed: {f}", file.display()),
                None => Ok(()),
            }
        })(),
        _ => return None,
    })
}
