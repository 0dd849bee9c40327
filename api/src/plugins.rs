//! Plugin routes: upload (validated before it is stored), list, inspect, activate, roll back,
//! and run an image transform.

use crate::{authorize, parse_json, ApiError, ApiState};
use bytes::Bytes;
use cgaf_runtime::{Bar, Matrix, Plugin, PluginHost, PluginKind};
use cgaf_store::plugins::{NewPlugin, Stored};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

/// The process's plugin host, or 503 when it runs none.
pub(crate) fn host(state: &ApiState) -> Result<Arc<PluginHost>, ApiError> {
    state
        .plugins
        .clone()
        .ok_or_else(|| ApiError::unavailable("plugins_unavailable", "this process runs no plugin host", 5))
}

fn runtime_error(e: &cgaf_runtime::Error, status: StatusCode, check: &'static str) -> ApiError {
    ApiError::new(status, e.code(), format!("{check}: {e}"))
}

/// Runs a plugin once on sample data, as an upload check.
fn smoke_test(host: &PluginHost, plugin: &Arc<Plugin>) -> Result<(), cgaf_runtime::Error> {
    match plugin.info.kind {
        PluginKind::ImageTransform => {
            let series: Vec<f64> = (0..32).map(|i| (i as f64 * 0.4).sin() + 0.01 * i as f64).collect();
            host.transform_with(plugin, &series, &[]).map(|_| ())
        }
        PluginKind::Blender => {
            let m = Matrix { size: 4, data: (0..16).map(|i| i as f64 / 16.0).collect() };
            host.runtime.blend(plugin, &[m.clone(), m], &[]).map(|_| ())
        }
        PluginKind::Strategy => {
            let mut s = host.runtime.strategy(plugin, &[])?;
            let bars: Vec<Bar> = (0..64)
                .map(|i| {
                    let p = 100.0 + (i as f64 * 0.3).sin();
                    Bar {
                        time_ms: i * 1000,
                        open: p,
                        high: p + 0.1,
                        low: p - 0.1,
                        close: p,
                        volume: 1.0,
                        buy_volume: 0.5,
                        sell_volume: 0.5,
                    }
                })
                .collect();
            s.on_bars(&bars)?;
            s.state().map(|_| ())
        }
    }
}

/// Where the component bytes of an upload are: the raw body, or the first part of a multipart form.
async fn component_bytes(content_type: Option<String>, body: Bytes) -> Result<Bytes, ApiError> {
    let ct = content_type.unwrap_or_default();
    if ct.starts_with("multipart/form-data") {
        let boundary = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .ok_or_else(|| ApiError::bad_request("bad_multipart", "multipart body without a boundary"))?
            .trim_matches('"')
            .to_string();
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        while let Some(field) =
            mp.next_field().await.map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?
        {
            let data = field.bytes().await.map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?;
            if !data.is_empty() {
                return Ok(data);
            }
        }
        return Err(ApiError::bad_request("bad_multipart", "the multipart body holds no file"));
    }
    if !(ct.is_empty() || ct.starts_with("application/wasm") || ct.starts_with("application/octet-stream")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the component as application/wasm or multipart/form-data, not {ct:?}"),
        ));
    }
    Ok(body)
}

/// `POST /api/plugins[?activate=true]`.
pub async fn upload(
    state: Arc<ApiState>,
    raw_query: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let q = crate::parse_query(&raw_query)?;
    let activate = match q.get("activate").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(v) => {
            return Err(ApiError::bad_request("bad_query", format!("activate must be true or false, not {v:?}")))
        }
    };
    let bytes = component_bytes(content_type, body?).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty_body", "the request body is empty; send the component bytes"));
    }
    let host = host(&state)?;
    let (plugin, smoke) = {
        let (host, bytes) = (host.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || {
            let plugin = host.runtime.load(&bytes)?;
            let smoke = smoke_test(&host, &plugin);
            Ok::<_, cgaf_runtime::Error>((plugin, smoke))
        })
        .await
        .map_err(|e| ApiError::internal("validating the plugin", &e))?
        .map_err(|e| runtime_error(&e, StatusCode::UNPROCESSABLE_ENTITY, "validation"))?
    };
    smoke.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "smoke_test_failed", format!("smoke call on sample data: {e}"))
    })?;
    let info = &plugin.info;
    let stored = state
        .store
        .insert_plugin(&NewPlugin {
            name: &info.name,
            version: &info.version,
            kind: info.kind.as_str(),
            sha256: &plugin.sha256,
            bytes: &bytes,
            description: &info.description,
            params: serde_json::to_value(&info.params).unwrap_or_default(),
            builtin: false,
            uploader: Some("api"),
        })
        .await
        .map_err(|e| match e {
            cgaf_store::Error::PluginVersionExists(m) => ApiError::new(
                StatusCode::CONFLICT,
                "version_exists",
                format!("plugin {m} exists already with other bytes; bump the version"),
            ),
            e => e.into(),
        })?;
    if activate {
        state.store.activate_plugin(&info.name, &info.version, "upload", true).await?;
    }
    let status = if stored == Stored::Inserted { StatusCode::CREATED } else { StatusCode::OK };
    let body = serde_json::json!({
        "name": info.name, "version": info.version, "kind": info.kind, "sha256": plugin.sha256,
        "size": bytes.len(), "description": info.description, "params": info.params,
        "active": activate, "stored": stored == Stored::Inserted,
    });
    Ok(warp::reply::with_status(warp::reply::json(&body), status).into_response())
}

/// `GET /api/plugins`: every plugin with its versions.
pub async fn list(state: Arc<ApiState>) -> Result<Response, ApiError> {
    let versions = state.store.list_plugins().await?;
    let mut by_name: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for v in versions {
        by_name.entry(v.name.clone()).or_default().push(v);
    }
    let list: Vec<_> = by_name
        .into_iter()
        .map(|(name, vs)| {
            let active = vs.iter().find(|v| v.active).map(|v| v.version.clone());
            serde_json::json!({"name": name, "kind": vs[0].kind, "active_version": active, "versions": vs})
        })
        .collect();
    Ok(warp::reply::json(&list).into_response())
}

/// `GET /api/plugins/{name}`: versions, the active one, quarantines, and this replica's call stats.
pub async fn show(name: String, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let versions = state.store.plugin_versions(&name).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("unknown_plugin", format!("no plugin named {name:?}")));
    }
    let stats: HashMap<String, serde_json::Value> = state
        .plugins
        .as_ref()
        .map(|h| {
            h.registry
                .stats_of(&name)
                .into_iter()
                .map(|(v, s)| {
                    let mean = s.mean_seconds();
                    let mut j = serde_json::to_value(s).unwrap_or_default();
                    j["mean_seconds"] = mean.into();
                    (v, j)
                })
                .collect()
        })
        .unwrap_or_default();
    let active = versions.iter().find(|v| v.active).map(|v| v.version.clone());
    let body = serde_json::json!({
        "name": name, "kind": versions[0].kind, "active_version": active, "versions": versions, "stats": stats,
    });
    Ok(warp::reply::json(&body).into_response())
}

/// Body of `POST /api/plugins/{name}/activate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Activate {
    version: String,
}

/// `POST /api/plugins/{name}/activate`.
pub async fn activate(
    name: String,
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: Activate = parse_json(body)?;
    state.store.activate_plugin(&name, &req.version, "api", true).await.map_err(|e| match e {
        cgaf_store::Error::UnknownPlugin(m) => ApiError::not_found("unknown_plugin", format!("no plugin version {m}")),
        e => e.into(),
    })?;
    Ok(warp::reply::json(&serde_json::json!({"name": name, "active_version": req.version})).into_response())
}

/// `POST /api/plugins/{name}/rollback`.
pub async fn rollback(name: String, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let v = state.store.rollback_plugin(&name, "rollback").await.map_err(|e| match e {
        cgaf_store::Error::NothingToRollBack(m) => ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_roll_back",
            format!("plugin {m} has no earlier healthy version"),
        ),
        e => e.into(),
    })?;
    Ok(warp::reply::json(&serde_json::json!({"name": name, "active_version": v})).into_response())
}

/// Body of `POST /api/transforms/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformRequest {
    series: Vec<f64>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
}

/// A JSON parameter value as Python would write it.
pub fn python_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".into(),
        serde_json::Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:?}"),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => format!("({})", a.iter().map(python_text).collect::<Vec<_>>().join(", ")),
        serde_json::Value::Object(_) => v.to_string(),
    }
}

/// `POST /api/transforms/{name}`: `{"series": [...], "params": {"image_size": 8}}` → rows.
pub async fn transform(
    name: String,
    state: Arc<ApiState>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    let req: TransformRequest = parse_json(body)?;
    let host = host(&state)?;
    let params: Vec<(String, String)> = req.params.iter().map(|(k, v)| (k.clone(), python_text(v))).collect();
    let plugin = host
        .registry
        .get(&name)
        .map_err(|_| ApiError::not_found("unknown_plugin", format!("no active plugin named {name:?}")))?;
    if plugin.info.kind != PluginKind::ImageTransform {
        return Err(ApiError::bad_request("not_a_transform", format!("{name} is a {} plugin", plugin.info.kind)));
    }
    let m = tokio::task::spawn_blocking(move || host.transform_with(&plugin, &req.series, &params))
        .await
        .map_err(|e| ApiError::internal("running the transform", &e))?
        .map_err(|e| match &e {
            cgaf_runtime::Error::Plugin(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()),
            _ => ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string()),
        })?;
    let rows: Vec<&[f64]> = m.data.chunks(m.size.max(1)).collect();
    Ok(warp::reply::json(&rows).into_response())
}
