//! Loading stored plugin versions the fast way: a replica that compiled a version stores its
//! signed native code ([`cgaf_runtime::Artifact`], schema migration 11) before the version is
//! activated, and every other replica loads that code instead of compiling the component again —
//! a hot swap on another replica then costs a fetch and a deserialize, not a compile. Without an
//! artifact key (`--plugin-artifact-key`), or when the stored code is refused, a replica compiles
//! as before. Used by the upload, activate and rollback handlers and by the host's follower of
//! activations, so every path that makes a version active here takes the same route.

use cgaf_runtime::{Artifact, Plugin, PluginHost};
use cgaf_store::plugin_artifacts::StoredArtifact;
use cgaf_store::Store;
use std::sync::Arc;

/// Why a stored version could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the version or its compiled code.
    #[error(transparent)]
    Store(#[from] cgaf_store::Error),
    /// The component is refused by this replica's runtime.
    #[error(transparent)]
    Runtime(#[from] cgaf_runtime::Error),
    /// The blocking compile task did not finish.
    #[error("the loading task failed: {0}")]
    Task(String),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, cgaf_runtime::Error> + Send + 'static,
) -> Result<T, LoadError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(|e| LoadError::Task(e.to_string()))??)
}

/// Stores `plugin`'s signed native code for the other replicas (nothing without an artifact
/// key). A failure is logged, not returned: the others then compile, as without a key.
pub async fn share(store: &Store, host: &Arc<PluginHost>, plugin: &Arc<Plugin>) {
    let (h, p) = (host.clone(), plugin.clone());
    let artifact = match blocking(move || h.runtime.artifact(&p)).await {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(plugin = %plugin.info.name, version = %plugin.info.version, error = %e, "serializing compiled plugin");
            return;
        }
    };
    let stored = StoredArtifact {
        sha256: artifact.sha256,
        engine: artifact.engine,
        code: artifact.code,
        signature: artifact.signature,
    };
    let bytes = stored.code.len();
    match store.put_plugin_artifact(&stored).await {
        Ok(()) => {
            tracing::debug!(plugin = %plugin.info.name, version = %plugin.info.version, bytes, "compiled plugin shared")
        }
        Err(e) => {
            tracing::warn!(plugin = %plugin.info.name, version = %plugin.info.version, error = %e, "storing compiled plugin")
        }
    }
}

/// As [`share`], unless code of this component for this engine is stored already (an upload of
/// bytes some replica compiled before: nothing to serialize or write again).
pub async fn share_if_missing(store: &Store, host: &Arc<PluginHost>, plugin: &Arc<Plugin>) {
    if host.runtime.settings().artifact_key.is_none() {
        return;
    }
    match store.has_plugin_artifact(&plugin.sha256, host.runtime.engine_fingerprint()).await {
        Ok(true) => {}
        Ok(false) => share(store, host, plugin).await,
        Err(e) => {
            tracing::warn!(plugin = %plugin.info.name, error = %e, "reading shared compiled plugins; sharing");
            share(store, host, plugin).await;
        }
    }
}

/// Loads version `name@version` (component `sha256`) as this replica's runtime runs it: from
/// the signed code another replica stored when there is some and it is accepted, else by
/// compiling the stored component — whose code is then shared in turn. The version's stored
/// limits are applied to it ([`crate::plugin_limits::apply_stored`]).
pub async fn load_stored(
    store: &Store,
    host: &Arc<PluginHost>,
    name: &str,
    version: &str,
    sha256: &str,
) -> Result<Arc<Plugin>, LoadError> {
    let plugin = load(store, host, sha256, Component::Stored { name, version }).await?;
    // Its own limits (chosen at upload), else the caps.
    crate::plugin_limits::apply_stored(store, host, &plugin).await?;
    Ok(plugin)
}

/// Loads a built-in component (embedded in the binary) the same way as [`load_stored`].
pub async fn load_builtin(
    store: &Store,
    host: &Arc<PluginHost>,
    bytes: &'static [u8],
) -> Result<Arc<Plugin>, LoadError> {
    let sha256 = cgaf_runtime::runtime::sha256_hex(bytes);
    load(store, host, &sha256, Component::Builtin(bytes)).await
}

/// Where a component's bytes are when it has to be compiled.
enum Component<'a> {
    Stored { name: &'a str, version: &'a str },
    Builtin(&'static [u8]),
}

async fn load(
    store: &Store,
    host: &Arc<PluginHost>,
    sha256: &str,
    component: Component<'_>,
) -> Result<Arc<Plugin>, LoadError> {
    if let Some(p) = host.runtime.loaded(sha256) {
        return Ok(p);
    }
    if host.runtime.settings().artifact_key.is_some() {
        match store.plugin_artifact(sha256, host.runtime.engine_fingerprint()).await {
            Ok(Some(a)) => {
                let artifact = Artifact { engine: a.engine, sha256: a.sha256, code: a.code, signature: a.signature };
                let h = host.clone();
                match blocking(move || h.runtime.load_artifact(&artifact)).await {
                    Ok(p) => {
                        tracing::info!(plugin = %p.info.name, version = %p.info.version, "loaded the compiled plugin another replica shared");
                        return Ok(p);
                    }
                    Err(e) => tracing::warn!(sha256, error = %e, "shared compiled plugin refused; compiling"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(sha256, error = %e, "reading shared compiled plugin; compiling"),
        }
    }
    let bytes = match component {
        Component::Stored { name, version } => store.plugin_bytes(name, version).await?,
        Component::Builtin(bytes) => bytes.to_vec(),
    };
    let h = host.clone();
    let plugin = blocking(move || h.runtime.load(&bytes)).await?;
    share(store, host, &plugin).await;
    Ok(plugin)
}
