//! Run and sweep requests checked against the database and the plugin before they are stored:
//! the history covers the range (or gaps are allowed), the strategy version exists and is a
//! strategy, the plugin accepts the parameters, and paper runs cannot start while the kill switch
//! is engaged (or for a product nobody collects).

use crate::bars::{covered_range_text, range_coverage};
use crate::strategy::load_strategy;
use crate::Error;
use cgaf_runtime::{Plugin, PluginHost};
use cgaf_store::{RunSpec, Store};
use cgaf_trade_domain::history::{interval_label, rfc3339, Coverage};
use cgaf_trade_domain::request::{params_of, split_strategy};
use cgaf_trade_domain::{RunMode, RunRequest, RunSettings, SweepRequest, SweepSpec};
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

/// Resolves a backtest range against the history: without `to`, up to the newest bar there is
/// (never past now); refuses a range with no bars at all, and one with gaps unless
/// `settings.allow_gaps` — both naming what the history covers. Returns the range and what it
/// holds.
pub async fn resolve_range(
    store: &Store,
    product: &str,
    interval_ms: i64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    settings: &RunSettings,
    now_ms: i64,
) -> Result<ResolvedRange, Error> {
    let label = interval_label(interval_ms);
    let asked = |to: i64| format!("{}..{}", from_ms.map_or("the first bar".to_string(), rfc3339), rfc3339(to));
    let mut to = to_ms.unwrap_or(now_ms).min(now_ms);
    let mut coverage = range_coverage(store, product, interval_ms, from_ms, to).await?;
    if coverage.bars_found == 0 {
        return Err(Error::NotCovered(format!(
            "no {label} bars of {product} in {}; {}",
            asked(to),
            covered_range_text(store, product, interval_ms).await?
        )));
    }
    if to_ms.is_none() {
        if let Some(last) = coverage.last_ms {
            // Up to the newest bar: the same bars, without the trailing gap up to now.
            to = last;
            coverage = coverage.ending_at_last_bar();
        }
    }
    if !coverage.complete() && !settings.allow_gaps {
        return Err(Error::NotCovered(format!(
            "the history holds {} of the {} {label} bars of {product} in {} ({} missing); {}; pass \"allow_gaps\": true (--allow-gaps) to run over the bars that exist",
            coverage.bars_found,
            coverage.bars_expected,
            asked(to),
            coverage.bars_expected - coverage.bars_found,
            covered_range_text(store, product, interval_ms).await?
        )));
    }
    Ok(ResolvedRange { from_ms, to_ms: to, coverage })
}

/// A backtest range checked against the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRange {
    /// Range start (inclusive), as asked.
    pub from_ms: Option<i64>,
    /// Range end (exclusive): as asked, or the newest bar's close.
    pub to_ms: i64,
    /// What the history holds in the range.
    pub coverage: Coverage,
}

/// A run request checked into the run to store.
#[derive(Debug, Clone)]
pub struct PreparedRun {
    /// What the run runs.
    pub spec: RunSpec,
    /// What its range held (backtests), recorded with the run.
    pub coverage: Option<Coverage>,
}

/// A run request checked against the database and the plugin.
pub trait PrepareRun {
    /// Checks the request against the database and the plugin (version exists, parameters
    /// accepted) and returns the run to store. `now_ms` is the current time.
    fn prepare(
        &self,
        store: &Store,
        host: &PluginHost,
        now_ms: i64,
    ) -> impl Future<Output = Result<PreparedRun, Error>>;
}

impl PrepareRun for RunRequest {
    async fn prepare(&self, store: &Store, host: &PluginHost, now_ms: i64) -> Result<PreparedRun, Error> {
        let plan = self.plan(now_ms)?;
        if self.mode == RunMode::Paper && store.kill_switch().await?.engaged {
            return Err(Error::Invalid("the kill switch is engaged: paper runs cannot start".into()));
        }
        let (from_ms, to_ms, coverage) = match self.mode {
            RunMode::Paper => {
                check_product(store, &self.product).await?;
                (plan.from_ms, plan.to_ms, None)
            }
            RunMode::Backtest => {
                let range = resolve_range(
                    store,
                    &self.product,
                    plan.bar_interval_ms,
                    plan.from_ms,
                    plan.to_ms,
                    &plan.settings,
                    now_ms,
                )
                .await?;
                (range.from_ms, Some(range.to_ms), Some(range.coverage))
            }
        };
        let (name, version) = split_strategy(&self.strategy);
        let plugin = load_strategy(store, host, name, version).await?;
        let params = Value::Object(plan.params);
        let call_params = params_of(&params);
        // Creating an instance checks the parameters the plugin's way.
        tokio::task::block_in_place(|| host.runtime.strategy(&plugin, &call_params)).map_err(|e| match e {
            cgaf_runtime::Error::Plugin(p) => Error::Invalid(format!("params: {p}")),
            e => Error::Plugin(e),
        })?;
        let spec = RunSpec {
            strategy: plugin.info.name.clone(),
            strategy_version: plugin.info.version.clone(),
            params,
            product: self.product.clone(),
            mode: self.mode,
            from_ms,
            to_ms,
            bar_interval_ms: plan.bar_interval_ms,
            settings: serde_json::to_value(plan.settings).map_err(|e| Error::Invalid(e.to_string()))?,
        };
        Ok(PreparedRun { spec, coverage })
    }
}

/// A sweep request checked against the database.
pub trait CheckSweep {
    /// Checks the request against the database too: the history covers the range (the spec's
    /// `to` is resolved as a backtest's), the strategy version exists and is a strategy. Returns
    /// the spec and the plugin.
    fn check(&self, store: &Store, host: &PluginHost) -> impl Future<Output = Result<(SweepSpec, Arc<Plugin>), Error>>;
}

impl CheckSweep for SweepRequest {
    async fn check(&self, store: &Store, host: &PluginHost) -> Result<(SweepSpec, Arc<Plugin>), Error> {
        let mut spec = self.spec()?;
        let now = chrono::Utc::now().timestamp_millis();
        let range =
            resolve_range(store, &self.product, spec.interval_ms, spec.from_ms, spec.to_ms, &spec.settings, now)
                .await?;
        spec.to_ms = Some(range.to_ms);
        let (name, version) = split_strategy(&self.strategy);
        let plugin = load_strategy(store, host, name, version).await?;
        Ok((spec, plugin))
    }
}
