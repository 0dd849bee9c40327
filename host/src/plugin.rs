//! `cgaf plugin upload|list|activate|rollback`: the plugin routes of a running service.

use crate::cli::{GlobalArgs, PluginAction, PluginArgs};
use anyhow::{Context, Result};
use cgaf_api::models::{ActivateRequest, ActiveVersion, ErrorBody, PluginDetail, PluginSummary, UploadedPlugin};
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
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build()?;
    let base = args.url.trim_end_matches('/');
    match &args.action {
        PluginAction::Upload { file, activate } => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            eprintln!("uploading {} ({} bytes) ...", file.display(), bytes.len());
            let r = http
                .post(format!("{base}/api/plugins?activate={activate}"))
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
