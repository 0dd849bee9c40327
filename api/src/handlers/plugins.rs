//! Plugin routes: upload (validated before it is stored), list, inspect, activate, roll back,
//! failed calls with their inputs and the stored component (for replays), and run an image
//! transform.

use super::{authorize, host, json, json_with_status, parse_json, parse_query};
use crate::models::{
    ActivateRequest, ActiveVersion, Binary, CallStats, CanaryReport, ErrorBody, FailureList, FailureListQuery,
    PluginDetail, PluginFailure, PluginSummary, PluginVersion, TransformRequest, UploadQuery, UploadedPlugin,
};
use crate::{compiled, ApiError, ApiState};
use bytes::Bytes;
use cgaf_runtime::PluginKind;
use cgaf_store::plugins::{NewPlugin, Stored};
use std::collections::BTreeMap;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

fn runtime_error(e: &cgaf_runtime::Error, status: StatusCode, check: &'static str) -> ApiError {
    ApiError::new(status, e.code(), format!("{check}: {e}"))
}

/// A store error, with an unknown plugin version as 404.
pub(super) fn store_error(e: cgaf_store::Error) -> ApiError {
    match e {
        cgaf_store::Error::UnknownPlugin(m) => ApiError::not_found("unknown_plugin", format!("no plugin version {m}")),
        e => e.into(),
    }
}

/// A stored version that did not load here: 404 when unknown, 422 naming `check` when the
/// runtime refused the component, 500 when the loading task failed.
pub(super) fn load_error(e: compiled::LoadError, check: &'static str) -> ApiError {
    match e {
        compiled::LoadError::Store(e) => store_error(e),
        compiled::LoadError::Runtime(e) => runtime_error(&e, StatusCode::UNPROCESSABLE_ENTITY, check),
        e @ compiled::LoadError::Task(_) => ApiError::internal("loading the plugin", &e),
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
#[utoipa::path(
    post,
    path = "/api/plugins",
    tag = "plugins",
    summary = "Upload a plugin component (validated, then stored; not activated unless ?activate=true)",
    security(("bearer" = [])),
    params(UploadQuery),
    request_body(
        description = "The component: its bytes, or the first file of a multipart form",
        content(
            (Binary = "application/wasm"),
            (Binary = "multipart/form-data"),
        )
    ),
    responses(
        (status = 201, description = "Stored", body = UploadedPlugin),
        (status = 200, description = "The same version and bytes were stored already", body = UploadedPlugin),
        (status = 400, description = "Empty body, bad multipart or bad query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "Version exists with other bytes", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not application/wasm or multipart", body = ErrorBody),
        (status = 422, description = "Refused: not a component, forbidden import, wrong world, invalid info(), failed smoke call", body = ErrorBody),
    )
)]
pub async fn upload(
    state: Arc<ApiState>,
    raw_query: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let q: UploadQuery = parse_query(&raw_query)?;
    let activate = match q.activate.as_deref() {
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
            // The smoke call, and a sizing call the version's limits are chosen from.
            let smoke = host.measure(&plugin);
            Ok::<_, cgaf_runtime::Error>((plugin, smoke))
        })
        .await
        .map_err(|e| ApiError::internal("validating the plugin", &e))?
        .map_err(|e| runtime_error(&e, StatusCode::UNPROCESSABLE_ENTITY, "validation"))?
    };
    let measured = smoke.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "smoke_test_failed", format!("smoke call on sample data: {e}"))
    })?;
    let chosen = crate::plugin_limits::choose(&q, measured, host.runtime.caps())?;
    // Before it can become active anywhere: the other replicas load this code, not compile it.
    compiled::share_if_missing(&state.store, &host, &plugin).await;
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
    let limits = crate::plugin_limits::store_and_apply(&state.store, &host, &plugin, &chosen).await?;
    if activate {
        state.store.activate_plugin(&info.name, &info.version, "upload", true).await?;
        // Read-your-write on this replica: active here before the answer, not only once the
        // notification has come round.
        host.registry.activate(plugin.clone());
    }
    let status = if stored == Stored::Inserted { StatusCode::CREATED } else { StatusCode::OK };
    let body = UploadedPlugin {
        active: activate,
        contract: plugin.contract().as_str().to_string(),
        description: info.description.clone(),
        kind: info.kind.as_str().to_string(),
        limits,
        name: info.name.clone(),
        params: serde_json::to_value(&info.params).map_err(|e| ApiError::internal("plugin parameters", &e))?,
        sha256: plugin.sha256.clone(),
        size: bytes.len() as u64,
        stored: stored == Stored::Inserted,
        version: info.version.clone(),
    };
    Ok(json_with_status(&body, status))
}

/// Makes `name@version` (just made active in the database by a rollback) active in this
/// replica's host before the answer. A version that does not load here is logged (the follower
/// logs it too) rather than failing a rollback the database has already made.
async fn use_here(state: &ApiState, name: &str, version: &str) {
    let Some(host) = state.plugins.clone() else { return };
    if host.registry.get(name).is_ok_and(|p| p.info.version == version) {
        return;
    }
    let loaded = match state.store.plugin_sha256(name, version).await {
        Ok(sha256) => compiled::load_stored(&state.store, &host, name, version, &sha256).await,
        Err(e) => Err(e.into()),
    };
    match loaded {
        Ok(plugin) => {
            host.registry.activate(plugin);
        }
        Err(e) => tracing::warn!(plugin = name, version, error = %e, "the rolled-back version does not load here"),
    }
}

/// The kind and active version of a plugin's versions (`None` for no versions).
fn kind_and_active(versions: &[PluginVersion]) -> Option<(String, Option<String>)> {
    let first = versions.first()?;
    Some((first.kind.clone(), versions.iter().find(|v| v.active).map(|v| v.version.clone())))
}

/// `GET /api/plugins`: every plugin with its versions.
#[utoipa::path(
    get,
    path = "/api/plugins",
    tag = "plugins",
    summary = "Every plugin with its versions",
    responses((status = 200, description = "Plugins, by name", body = Vec<PluginSummary>))
)]
pub async fn list(state: Arc<ApiState>) -> Result<Response, ApiError> {
    let versions = state.store.list_plugins().await?;
    let mut by_name: BTreeMap<String, Vec<PluginVersion>> = BTreeMap::new();
    for v in versions {
        by_name.entry(v.name.clone()).or_default().push(v.into());
    }
    let list: Vec<PluginSummary> = by_name
        .into_iter()
        .filter_map(|(name, versions)| {
            let (kind, active_version) = kind_and_active(&versions)?;
            Some(PluginSummary { active_version, kind, name, versions })
        })
        .collect();
    Ok(json(&list))
}

/// `GET /api/plugins/{name}`: versions, the active one, quarantines, and this replica's call stats.
#[utoipa::path(
    get,
    path = "/api/plugins/{name}",
    tag = "plugins",
    summary = "A plugin's versions, active version, quarantines, call statistics, canaries and last activations",
    params(("name" = String, Path, example = "gadf")),
    responses(
        (status = 200, description = "The plugin", body = PluginDetail),
        (status = 404, description = "Unknown plugin", body = ErrorBody),
    )
)]
pub async fn show(name: String, state: Arc<ApiState>) -> Result<Response, ApiError> {
    let mut versions: Vec<PluginVersion> =
        state.store.plugin_versions(&name).await?.into_iter().map(PluginVersion::from).collect();
    crate::plugin_limits::fill(&state, &name, &mut versions).await?;
    let Some((kind, active_version)) = kind_and_active(&versions) else {
        return Err(ApiError::not_found("unknown_plugin", format!("no plugin named {name:?}")));
    };
    let stats: BTreeMap<String, CallStats> = state
        .plugins
        .as_ref()
        .map(|h| h.registry.stats_of(&name).iter().map(|(v, s)| (v.clone(), CallStats::from(s))).collect())
        .unwrap_or_default();
    let canaries = state.store.plugin_canaries(&name, 10).await?.into_iter().map(CanaryReport::from).collect();
    let activations = state.store.plugin_activations(&name, None, 20).await?.into_iter().map(Into::into).collect();
    Ok(json(&PluginDetail { activations, active_version, canaries, kind, name, stats, versions }))
}

/// `GET /api/plugins/{name}/failures?before=&limit=`: the plugin's failed calls, newest first.
#[utoipa::path(
    get,
    path = "/api/plugins/{name}/failures",
    tag = "plugins",
    summary = "A plugin's failed calls (trap, timeout, limit, invalid result), newest first, paged (token)",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "momentum"), FailureListQuery),
    responses(
        (status = 200, description = "A page of failures, without inputs", body = FailureList),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    )
)]
pub async fn failures(
    name: String,
    state: Arc<ApiState>,
    raw: String,
    auth: Option<String>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let q: FailureListQuery = parse_query(&raw)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let failures: Vec<PluginFailure> =
        state.store.plugin_failures(&name, q.before, limit).await?.into_iter().map(PluginFailure::from).collect();
    let next_before = (failures.len() as i64 == limit).then(|| failures.last().map(|f| f.id)).flatten();
    Ok(json(&FailureList { failures, next_before }))
}

/// `GET /api/plugins/{name}/failures/{id}`: one failed call with its inputs.
#[utoipa::path(
    get,
    path = "/api/plugins/{name}/failures/{id}",
    tag = "plugins",
    summary = "One failed call with its inputs and limits: what `cgaf plugin replay` re-runs (token)",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "momentum"), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The failure", body = PluginFailure),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown failure", body = ErrorBody),
    )
)]
pub async fn failure(name: String, id: i64, state: Arc<ApiState>, auth: Option<String>) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    match state.store.plugin_failure(&name, id).await? {
        Some(f) => Ok(json(&PluginFailure::from(f))),
        None => Err(ApiError::not_found("unknown_failure", format!("plugin {name:?} has no failure {id}"))),
    }
}

/// `GET /api/plugins/{name}/versions/{version}/component`: the stored component bytes.
#[utoipa::path(
    get,
    path = "/api/plugins/{name}/versions/{version}/component",
    tag = "plugins",
    summary = "A stored version's component (application/wasm): what `cgaf plugin replay` runs without --wasm (token)",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "momentum"), ("version" = String, Path, example = "0.1.0")),
    responses(
        (status = 200, description = "The component", content_type = "application/wasm"),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown version", body = ErrorBody),
    )
)]
pub async fn component(
    name: String,
    version: String,
    state: Arc<ApiState>,
    auth: Option<String>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let bytes = state.store.plugin_bytes(&name, &version).await.map_err(store_error)?;
    Ok(super::bytes_with_type(bytes, "application/wasm"))
}

/// `POST /api/plugins/{name}/activate`.
#[utoipa::path(
    post,
    path = "/api/plugins/{name}/activate",
    tag = "plugins",
    summary = "Make a version active on every replica",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "gadf")),
    request_body = ActivateRequest,
    responses(
        (status = 200, description = "Activated", body = ActiveVersion),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown version", body = ErrorBody),
        (status = 422, description = "The stored version does not load here; nothing changed", body = ErrorBody),
    )
)]
pub async fn activate(
    name: String,
    state: Arc<ApiState>,
    auth: Option<String>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    authorize(&state, auth)?;
    let req: ActivateRequest = parse_json(body)?;
    // Loaded first: a version that does not load here is refused before anything changes.
    let loaded = match state.plugins.clone() {
        Some(host) => {
            let sha256 = state.store.plugin_sha256(&name, &req.version).await.map_err(store_error)?;
            let plugin = compiled::load_stored(&state.store, &host, &name, &req.version, &sha256)
                .await
                .map_err(|e| load_error(e, "activation"))?;
            Some(plugin)
        }
        None => None,
    };
    state.store.activate_plugin(&name, &req.version, "api", true).await.map_err(store_error)?;
    // Read-your-write on this replica: active here before the answer.
    if let (Some(host), Some(plugin)) = (state.plugins.as_ref(), loaded) {
        host.registry.activate(plugin);
    }
    Ok(json(&ActiveVersion { active_version: req.version, name }))
}

/// `POST /api/plugins/{name}/rollback`.
#[utoipa::path(
    post,
    path = "/api/plugins/{name}/rollback",
    tag = "plugins",
    summary = "Reactivate the previously active version",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "gadf")),
    responses(
        (status = 200, description = "Rolled back", body = ActiveVersion),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "Nothing to roll back to", body = ErrorBody),
    )
)]
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
    use_here(&state, &name, &v).await;
    Ok(json(&ActiveVersion { active_version: v, name }))
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
#[utoipa::path(
    post,
    path = "/api/transforms/{name}",
    tag = "plugins",
    summary = "Run the active image-transform plugin on a series",
    params(("name" = String, Path, example = "gasf")),
    request_body = TransformRequest,
    responses(
        (status = 200, description = "The matrix as rows", body = Vec<Vec<f64>>),
        (status = 400, description = "Bad body, or not an image transform", body = ErrorBody),
        (status = 404, description = "No such transform", body = ErrorBody),
        (status = 422, description = "The plugin refused the parameters or input", body = ErrorBody),
        (status = 502, description = "The plugin failed (trap, timeout, memory, invalid result)", body = ErrorBody),
    )
)]
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
    Ok(json(&rows))
}
