//! `cgaf plugin upload|list|activate|rollback`: the plugin routes of a running service.

use crate::cli::{GlobalArgs, PluginAction, PluginArgs};
use anyhow::{bail, Context, Result};

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

/// The JSON body of a successful answer, or the service's error as an error.
pub(crate) async fn answer(r: reqwest::Response) -> Result<serde_json::Value> {
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let msg = body["error"]["message"].as_str().unwrap_or("no details");
        let code = body["error"]["code"].as_str().unwrap_or("");
        bail!("the service answered {status} {code}: {msg}");
    }
    Ok(body)
}

/// Runs the command.
pub async fn run(g: &GlobalArgs, args: &PluginArgs) -> Result<()> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build()?;
    let base = args.url.trim_end_matches('/');
    let out = match &args.action {
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
            answer(r).await?
        }
        PluginAction::List { name } => {
            let url = match name {
                Some(n) => format!("{base}/api/plugins/{n}"),
                None => format!("{base}/api/plugins"),
            };
            answer(http.get(url).send().await.with_context(|| format!("reaching {base}"))?).await?
        }
        PluginAction::Activate { name, version } => {
            let r = http
                .post(format!("{base}/api/plugins/{name}/activate"))
                .bearer_auth(token(args, g)?)
                .json(&serde_json::json!({ "version": version }))
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            answer(r).await?
        }
        PluginAction::Rollback { name } => {
            let r = http
                .post(format!("{base}/api/plugins/{name}/rollback"))
                .bearer_auth(token(args, g)?)
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            answer(r).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
