//! The service's plugins: built-ins seeded into the registry at start-up, the active set of
//! every replica kept in step with PostgreSQL through LISTEN/NOTIFY, quarantine stored, and the
//! calls that faulted stored with their inputs (off the call's path, through a bounded queue).

use crate::settings::PluginSettings;
use anyhow::{Context, Result};
use cgaf_runtime::{FailureRecord, PluginHost};
use cgaf_store::plugins::{NewPlugin, Stored, PLUGINS_CHANNEL};
use cgaf_store::Store;
use std::path::Path;
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The built-in component of `name`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// A plugin host with every built-in installed, without a database (for `cgaf transform`,
/// offline backtests and the bench), with the default sandbox and the compile cache in `data_dir`.
pub fn offline_host(data_dir: &Path) -> Result<PluginHost> {
    let settings = PluginSettings::defaults(data_dir);
    let host = PluginHost::new(settings.runtime, settings.quarantine_after)?;
    for (name, bytes) in BUILTINS {
        host.install(bytes).with_context(|| format!("loading built-in plugin {name}"))?;
    }
    Ok(host)
}

/// Stores every built-in version and activates it where its name has no active version.
pub async fn seed_builtins(store: &Store, host: &Arc<PluginHost>) -> Result<()> {
    let active = store.active_plugins().await?;
    for (name, bytes) in BUILTINS {
        let plugin = cgaf_api::compiled::load_builtin(store, host, bytes)
            .await
            .with_context(|| format!("loading built-in plugin {name}"))?;
        let info = &plugin.info;
        let stored = store
            .insert_plugin(&NewPlugin {
                name: &info.name,
                version: &info.version,
                kind: info.kind.as_str(),
                sha256: &plugin.sha256,
                bytes,
                description: &info.description,
                params: serde_json::to_value(&info.params)?,
                builtin: true,
                uploader: Some("built-in"),
            })
            .await;
        match stored {
            Ok(Stored::Inserted) => {
                tracing::info!(plugin = %info.name, version = %info.version, "built-in plugin stored")
            }
            Ok(Stored::Unchanged) => {}
            // Another replica stored it at the same moment.
            Err(cgaf_store::Error::Db(e)) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(e.into()),
        }
        if !active.iter().any(|a| a.name == info.name) {
            store.activate_plugin(&info.name, &info.version, "built-in", false).await?;
        }
    }
    Ok(())
}

/// How often a reload is read again when this replica changed a name while it was reading.
const RELOAD_ATTEMPTS: usize = 5;

/// Loads the active set from the database into `host` (bytes fetched only for new sha256s).
/// A version this replica activated itself (an API write) while the set was being read is not
/// undone by the stale set: the set is read again.
pub async fn sync_active(store: &Store, host: &Arc<PluginHost>) -> Result<()> {
    for _ in 0..RELOAD_ATTEMPTS {
        if load_active_once(store, host).await? {
            return Ok(());
        }
    }
    tracing::debug!("active plugins kept changing here during reloads; the next notification reloads");
    Ok(())
}

/// One reload; false when a name changed in this replica meanwhile (nothing replaced).
async fn load_active_once(store: &Store, host: &Arc<PluginHost>) -> Result<bool> {
    let seen = host.registry.epoch();
    let active = store.active_plugins().await?;
    let mut plugins = Vec::with_capacity(active.len());
    for a in &active {
        let current = host.registry.get(&a.name).ok().filter(|p| p.sha256 == a.sha256);
        let plugin = match current {
            Some(p) => p,
            None => {
                match cgaf_api::compiled::load_stored(store, host, &a.name, &a.version, &a.sha256).await {
                    Ok(p) => {
                        tracing::info!(plugin = %a.name, version = %a.version, "plugin version active");
                        host.clear_quarantine_request(&a.name, &a.version);
                        p
                    }
                    // The database failed: nothing is replaced (the next notification reloads).
                    Err(cgaf_api::compiled::LoadError::Store(e)) => return Err(e.into()),
                    Err(e) => {
                        tracing::error!(plugin = %a.name, version = %a.version, error = %e, "active plugin does not load");
                        continue;
                    }
                }
            }
        };
        plugins.push(plugin);
    }
    Ok(host.registry.replace_all_unless_changed(plugins, seen))
}

/// Starts the plugin host of a serving process: seeds built-ins, loads the active set and
/// stores quarantines. The returned future follows activations of every replica (LISTEN/NOTIFY)
/// until the store's listener ends; the caller runs it in its task set.
pub async fn start(
    store: &Store,
    settings: &PluginSettings,
) -> Result<(Arc<PluginHost>, impl std::future::Future<Output = ()> + Send + 'static)> {
    let host = Arc::new(PluginHost::new(settings.runtime.clone(), settings.quarantine_after)?);
    seed_builtins(store, &host).await.context("seeding built-in plugins")?;
    sync_active(store, &host).await.context("loading active plugins")?;
    cgaf_api::canary::sync(store, &host).await.context("loading running canaries")?;
    {
        let store = store.clone();
        let handle = tokio::runtime::Handle::current();
        host.set_quarantine_hook(move |q| {
            let store = store.clone();
            // A short write whose result is only logged; it runs on the runtime, which the host
            // shuts down after its task set.
            handle.spawn(async move {
                match store.quarantine_plugin(&q.name, &q.version, &q.reason).await {
                    Ok(now) => tracing::warn!(plugin = %q.name, version = %q.version, reason = %q.reason, active = ?now, "plugin version quarantined"),
                    Err(e) => tracing::error!(plugin = %q.name, error = %e, "storing a quarantine"),
                }
            });
        });
    }
    let failures = {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<FailureRecord>(FAILURE_QUEUE);
        host.set_failure_sink(move |record| {
            // Never blocks a call: when the writer lags, the record is dropped (and logged).
            if let Err(e) = tx.try_send(record) {
                tracing::warn!(error = %e, "plugin failure record dropped (queue full)");
            }
        });
        let (store, keep, max_bytes) = (store.clone(), settings.failures_kept, settings.failure_max_bytes);
        async move {
            while let Some(record) = rx.recv().await {
                let failure = stored_failure(&record, max_bytes);
                if let Err(e) = store.insert_plugin_failure(&failure, keep).await {
                    tracing::warn!(plugin = %record.name, error = %e, "storing a plugin failure");
                }
            }
        }
    };
    let follow = {
        let (store, host) = (store.clone(), host.clone());
        let mut events = store.listen(&[PLUGINS_CHANNEL]);
        async move {
            // Any event — a (re)connection or a change — reloads the active set; a burst of
            // notifications is coalesced into one reload.
            while let Some(_event) = events.recv().await {
                while events.try_recv().is_ok() {}
                if let Err(e) = sync_active(&store, &host).await {
                    tracing::warn!(error = %e, "reloading active plugins");
                }
                if let Err(e) = cgaf_api::canary::sync(&store, &host).await {
                    tracing::warn!(error = %e, "reloading running canaries");
                }
            }
        }
    };
    // Once a second: this replica's canary comparisons added to the stored tallies, and the
    // canaries that are done decided.
    let canaries = {
        let (store, host) = (store.clone(), host.clone());
        async move {
            let mut every = tokio::time::interval(cgaf_api::canary::JUDGE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                cgaf_api::canary::judge(&store, &host).await;
            }
        }
    };
    let follow = async move {
        tokio::select! {
            () = follow => {}
            () = failures => {}
            () = canaries => {}
        }
    };
    Ok((host, follow))
}

/// Failure records waiting to be stored; more are dropped, never waited for.
const FAILURE_QUEUE: usize = 256;

/// A failure record as stored: its inputs as JSON when within `max_bytes`.
fn stored_failure(r: &FailureRecord, max_bytes: u64) -> cgaf_store::NewPluginFailure {
    let inputs = serde_json::to_value(&r.inputs).unwrap_or(serde_json::Value::Null);
    let inputs_bytes = serde_json::to_vec(&inputs).map(|v| v.len()).unwrap_or(0) as u64;
    cgaf_store::NewPluginFailure {
        name: r.name.clone(),
        version: r.version.clone(),
        sha256: r.sha256.clone(),
        call: r.inputs.call_name().to_string(),
        error_code: r.error.code().to_string(),
        error: serde_json::to_value(&r.error).unwrap_or(serde_json::Value::Null),
        error_message: r.error.to_string(),
        limits: serde_json::to_value(r.limits).unwrap_or(serde_json::Value::Null),
        inputs: (inputs_bytes <= max_bytes).then_some(inputs),
        inputs_bytes: inputs_bytes.min(i64::MAX as u64) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_cache_path_is_absolute_for_the_default_relative_data_dir() {
        let s = PluginSettings::defaults(Path::new("./.cgaf"));
        let dir = s.runtime.cache_dir.expect("a cache folder");
        assert!(dir.is_absolute(), "{}", dir.display());
        assert!(dir.ends_with(".cgaf/wasm-cache"));
    }
}
