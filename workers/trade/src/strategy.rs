//! Strategy plugins as the domain's [`Strategy`]: the one edge where a domain [`Bar`] becomes the
//! plugin contract's bar and the contract's decision becomes the domain's [`Decision`]; and
//! finding a strategy plugin by name and version.

use crate::Error;
use cgaf_runtime::{Plugin, PluginHost, PluginKind, StrategyInstance};
use cgaf_store::Store;
use cgaf_trade_domain::{Bar, Decision, Strategy, StrategyError};
use std::sync::Arc;

/// A sandboxed strategy instance, driven by the domain's engine.
pub struct PluginStrategy {
    instance: StrategyInstance,
    /// Reused buffer of contract bars.
    bars: Vec<cgaf_runtime::Bar>,
}

impl PluginStrategy {
    /// Wraps an instance.
    pub fn new(instance: StrategyInstance) -> Self {
        PluginStrategy { instance, bars: Vec::new() }
    }

    /// The instance.
    pub fn instance(&self) -> &StrategyInstance {
        &self.instance
    }

    /// The instance.
    pub fn instance_mut(&mut self) -> &mut StrategyInstance {
        &mut self.instance
    }
}

/// The plugin contract's bar of a domain bar (the book stays with the engine).
pub fn contract_bar(b: &Bar) -> cgaf_runtime::Bar {
    cgaf_runtime::bar_record!(cgaf_runtime::Bar, b)
}

/// A domain bar of the plugin contract's bar (an empty book).
pub fn domain_bar(b: &cgaf_runtime::Bar) -> Bar {
    cgaf_runtime::bar_record!(Bar, b, book: Default::default())
}

impl Strategy for PluginStrategy {
    fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError> {
        self.bars.clear();
        self.bars.extend(bars.iter().map(contract_bar));
        let decisions = self.instance.on_bars(&self.bars).map_err(StrategyError::new)?;
        Ok(decisions.into_iter().map(|d| Decision { target: d.target, reason: d.reason }).collect())
    }

    fn decide_one(&mut self, bar: &Bar) -> Option<Result<Decision, StrategyError>> {
        let d = self.instance.on_bar(&contract_bar(bar));
        Some(d.map(|d| Decision { target: d.target, reason: d.reason }).map_err(StrategyError::new))
    }

    fn targets(&mut self, bars: &[Bar]) -> Result<Vec<f64>, StrategyError> {
        self.bars.clear();
        self.bars.extend(bars.iter().map(contract_bar));
        self.instance.targets(&self.bars).map_err(StrategyError::new)
    }

    fn state(&mut self) -> Result<serde_json::Value, StrategyError> {
        self.instance.state().map_err(StrategyError::new)
    }
}

/// The strategy plugin `name` at `version` (the active version when `None`): from this process's
/// registry when it holds that version, else loaded from the database (compiled once per sha256).
pub async fn load_strategy(
    store: &Store,
    host: &PluginHost,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<Plugin>, Error> {
    let active = host.registry.get(name).ok();
    let plugin = match (version, active) {
        (None, Some(p)) => p,
        (Some(v), Some(p)) if p.info.version == v => p,
        (v, _) => {
            let version = match v {
                Some(v) => v.to_string(),
                None => store
                    .active_plugins()
                    .await?
                    .into_iter()
                    .find(|a| a.name == name)
                    .map(|a| a.version)
                    .ok_or_else(|| Error::Invalid(format!("strategy {name:?} has no active version")))?,
            };
            let bytes = match store.plugin_bytes(name, &version).await {
                Err(cgaf_store::Error::UnknownPlugin(_)) => {
                    return Err(Error::Invalid(format!("strategy {name}@{version} does not exist")))
                }
                r => r?,
            };
            tokio::task::block_in_place(|| host.runtime.load(&bytes))?
        }
    };
    if plugin.info.kind != PluginKind::Strategy {
        return Err(Error::Invalid(format!("plugin {name} is a {}, not a strategy", plugin.info.kind)));
    }
    Ok(plugin)
}
