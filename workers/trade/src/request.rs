//! Run and sweep requests checked against the database and the plugin before they are stored:
//! the product exists, the strategy version exists and is a strategy, the plugin accepts the
//! parameters, and paper runs cannot start while the kill switch is engaged.

use crate::strategy::load_strategy;
use crate::Error;
use cgaf_runtime::{Plugin, PluginHost};
use cgaf_store::{RunSpec, Store};
use cgaf_trade_domain::request::{params_of, split_strategy};
use cgaf_trade_domain::{RunMode, RunRequest, SweepRequest, SweepSpec};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// Refuses a product that does not exist.
pub async fn check_product(store: &Store, product: &str) -> Result<(), Error> {
    if store.has_product(product).await? {
        Ok(())
    } else {
        Err(Error::Invalid(format!("unknown product {product:?}")))
    }
}

/// A run request checked into the run to store.
pub trait PrepareRun {
    /// Checks the request against the database and the plugin (version exists, parameters
    /// accepted) and returns the run to store. `now_ms` is the current time.
    fn prepare(&self, store: &Store, host: &PluginHost, now_ms: i64) -> impl Future<Output = Result<RunSpec, Error>>;
}

impl PrepareRun for RunRequest {
    async fn prepare(&self, store: &Store, host: &PluginHost, now_ms: i64) -> Result<RunSpec, Error> {
        let plan = self.plan(now_ms)?;
        if self.mode == RunMode::Paper && store.kill_switch().await?.engaged {
            return Err(Error::Invalid("the kill switch is engaged: paper runs cannot start".into()));
        }
        check_product(store, &self.product).await?;
        let (name, version) = split_strategy(&self.strategy);
        let plugin = load_strategy(store, host, name, version).await?;
        let params = Value::Object(plan.params);
        let call_params = params_of(&params);
        // Creating an instance checks the parameters the plugin's way.
        tokio::task::block_in_place(|| host.runtime.strategy(&plugin, &call_params)).map_err(|e| match e {
            cgaf_runtime::Error::Plugin(p) => Error::Invalid(format!("params: {p}")),
            e => Error::Plugin(e),
        })?;
        Ok(RunSpec {
            strategy: plugin.info.name.clone(),
            strategy_version: plugin.info.version.clone(),
            params,
            product: self.product.clone(),
            mode: self.mode,
            from_ms: plan.from_ms,
            to_ms: plan.to_ms,
            bar_interval_ms: plan.bar_interval_ms,
            settings: serde_json::to_value(plan.settings).map_err(|e| Error::Invalid(e.to_string()))?,
        })
    }
}

/// A sweep request checked against the database.
pub trait CheckSweep {
    /// Checks the request against the database too: the product exists, the strategy version
    /// exists and is a strategy. Returns the spec and the plugin.
    fn check(&self, store: &Store, host: &PluginHost) -> impl Future<Output = Result<(SweepSpec, Arc<Plugin>), Error>>;
}

impl CheckSweep for SweepRequest {
    async fn check(&self, store: &Store, host: &PluginHost) -> Result<(SweepSpec, Arc<Plugin>), Error> {
        let spec = self.spec()?;
        check_product(store, &self.product).await?;
        let (name, version) = split_strategy(&self.strategy);
        let plugin = load_strategy(store, host, name, version).await?;
        Ok((spec, plugin))
    }
}
