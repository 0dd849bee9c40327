//! What `cgaf backtest` and `cgaf sweep` share: the strategy target (service or offline bars),
//! parameters, costs and risk limits, the offline plugin, the HTTP client and the progress bar.

use crate::cli::{name_value_pairs, GlobalArgs, StrategyTarget};
use anyhow::{bail, Context, Result};
use cgaf_runtime::{Plugin, PluginHost};
use cgaf_trade::domain::request::{split_strategy, RiskArgs, TimeArg};
use cgaf_trade::domain::Bar;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A progress bar on a terminal, a progress line every few seconds otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    last_line: Instant,
}

impl Progress {
    pub(crate) fn new(what: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} {bar:40.cyan/blue} {pos}/{len} ({percent}%) {per_sec} eta {eta}")
            {
                b.set_style(style);
            }
            b.set_prefix(what);
            b
        });
        Progress { bar, what, last_line: Instant::now() }
    }

    pub(crate) fn set(&mut self, done: u64, total: u64) {
        match &self.bar {
            Some(b) => {
                b.set_length(total);
                b.set_position(done);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) && total > 0 => {
                eprintln!("{}: {done}/{total} ({:.0}%)", self.what, done as f64 * 100.0 / total as f64);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub(crate) fn name_value(entries: &[String], what: &str) -> Result<Map<String, Value>> {
    let pairs = name_value_pairs(entries).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

pub(crate) fn time_arg(s: &Option<String>) -> Option<TimeArg> {
    s.as_ref().map(|t| TimeArg::Text(t.clone()))
}

pub(crate) fn risk(t: &StrategyTarget) -> RiskArgs {
    RiskArgs { max_position: t.max_position, max_drawdown: t.max_drawdown }
}

/// Reads a CSV of bars: `time_ms,open,high,low,close,volume` and optionally `buy_volume,sell_volume`.
pub fn read_bars(path: &Path) -> Result<Vec<Bar>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = |name: &str| col(name).with_context(|| format!("{}: no {name:?} column", path.display()));
    let (t, o, h, l, c, v) =
        (need("time_ms")?, need("open")?, need("high")?, need("low")?, need("close")?, need("volume")?);
    let (bv, sv) = (col("buy_volume"), col("sell_volume"));
    let mut bars = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let num = |k: usize| -> Result<f64> {
            let s = rec.get(k).unwrap_or("");
            let x: f64 =
                s.trim().parse().with_context(|| format!("{} row {}: {s:?} is not a number", path.display(), i + 2))?;
            if !x.is_finite() {
                bail!("{} row {}: {s:?} is not finite", path.display(), i + 2);
            }
            Ok(x)
        };
        let time_ms: i64 = rec
            .get(t)
            .unwrap_or("")
            .trim()
            .parse()
            .with_context(|| format!("{} row {}: time_ms is not an integer", path.display(), i + 2))?;
        if bars.last().is_some_and(|b: &Bar| b.time_ms >= time_ms) {
            bail!("{} row {}: time_ms does not increase", path.display(), i + 2);
        }
        let volume = num(v)?;
        for (k, name) in [(o, "open"), (h, "high"), (l, "low"), (c, "close")] {
            if num(k)? <= 0.0 {
                bail!("{} row {}: {name} must be above zero", path.display(), i + 2);
            }
        }
        let buy = bv.map(num).transpose()?.unwrap_or(volume / 2.0);
        let sell = sv.map(num).transpose()?.unwrap_or(volume - buy);
        bars.push(Bar {
            time_ms,
            open: num(o)?,
            high: num(h)?,
            low: num(l)?,
            close: num(c)?,
            volume,
            buy_volume: buy,
            sell_volume: sell,
            book: Default::default(),
        });
    }
    Ok(bars)
}

/// The strategy to run offline: a component file, or the built-in of that name.
pub(crate) fn offline_plugin(g: &GlobalArgs, t: &StrategyTarget) -> Result<(PluginHost, Arc<Plugin>)> {
    let host = crate::plugin_host::offline_host(&g.data_dir)?;
    let plugin = match &t.plugin {
        Some(file) => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            host.runtime.load(&bytes).with_context(|| format!("loading {}", file.display()))?
        }
        None => {
            let (name, version) = split_strategy(&t.strategy);
            let p = host.registry.get(name).with_context(|| format!("no built-in strategy {name:?}"))?;
            if version.is_some_and(|v| v != p.info.version) {
                bail!("the built-in {name} is version {}; pass --plugin FILE.wasm for another", p.info.version);
            }
            p
        }
    };
    Ok((host, plugin))
}

pub(crate) fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?)
}
