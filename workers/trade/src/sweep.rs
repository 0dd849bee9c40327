//! Parameter sweeps: a grid of backtests over parameter values, optionally walk-forward, run in
//! parallel on all cores; a results table, the best parameters out of sample, and a heatmap.
//!
//! Walk-forward with `splits = k` cuts the bars into `k + 1` consecutive equal segments; fold `i`
//! trains on segment `i` and tests on segment `i + 1` (rolling windows). Every grid point is
//! backtested on every segment from a fresh strategy instance. A fold picks the grid point with
//! the best in-sample metric and reports its out-of-sample metric; `walk_forward` is the mean of
//! those (the honest estimate), and `best` is the grid point with the best mean out-of-sample
//! metric. Without splits, every point runs once over all bars and `best` is in sample.

use crate::backtest::{backtest_series, periods_per_year};
use crate::engine::{MarketBar, RunSettings};
use crate::request::{load_strategy, param_text, parse_interval, split_strategy, RiskArgs, TimeArg};
use crate::Error;
use cgaf_runtime::{Plugin, PluginHost, Runtime};
use cgaf_store::runs::{ranked_metric, ranked_metric_names};
use cgaf_store::{Store, SweepRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One axis of the grid: a list of values or a numeric range.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Axis {
    /// Explicit values.
    List(Vec<Value>),
    /// `from`, `from + step`, ... up to `to` inclusive.
    Range {
        /// First value.
        from: f64,
        /// Last value (inclusive).
        to: f64,
        /// Step (> 0).
        step: f64,
    },
}

impl Axis {
    /// Parses `5..50:5` (range with step), `5..50` (step 1) or `5,10,20` (list).
    pub fn parse(text: &str) -> Result<Axis, String> {
        if let Some((a, rest)) = text.split_once("..") {
            let (b, step) = rest.split_once(':').unwrap_or((rest, "1"));
            let num = |s: &str| s.trim().parse::<f64>().map_err(|_| format!("{s:?} in {text:?} is not a number"));
            return Ok(Axis::Range { from: num(a)?, to: num(b)?, step: num(step)? });
        }
        Ok(Axis::List(
            text.split(',')
                .map(|v| {
                    let v = v.trim();
                    v.parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| v.parse::<f64>().map(Value::from))
                        .unwrap_or_else(|_| Value::String(v.to_string()))
                })
                .collect(),
        ))
    }

    /// The axis' values.
    pub fn values(&self) -> Result<Vec<Value>, String> {
        match self {
            Axis::List(v) if v.is_empty() => Err("an empty list".into()),
            Axis::List(v) => Ok(v.clone()),
            Axis::Range { from, to, step } => {
                if !(step.is_finite() && *step > 0.0 && from.is_finite() && to.is_finite() && from <= to) {
                    return Err(format!("range {from}..{to} step {step} is empty or invalid"));
                }
                let count = ((to - from) / step + 1e-9).floor() + 1.0;
                if count > 10_000.0 {
                    return Err(format!("range {from}..{to} step {step} has {count} values (at most 10000)"));
                }
                let n = count as usize;
                let ints = from.fract() == 0.0 && step.fract() == 0.0;
                Ok((0..n)
                    .map(|i| {
                        // Rounded to 12 significant decimals: 0.1..0.3:0.1 gives 0.3, not 0.30000000000000004.
                        let v = from + step * i as f64;
                        let v = if v == 0.0 { v } else { format!("{v:.12e}").parse().unwrap_or(v) };
                        if ints {
                            Value::from(v as i64)
                        } else {
                            Value::from(v)
                        }
                    })
                    .collect())
            }
        }
    }
}

/// `POST /api/sweeps` body (and `cgaf sweep` options).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Strategy plugin, `name` or `name@version`.
    pub strategy: String,
    /// Product whose stored samples make the bars.
    pub product: String,
    /// Range start (inclusive).
    #[serde(default)]
    pub from: Option<TimeArg>,
    /// Range end (exclusive); default now.
    #[serde(default)]
    pub to: Option<TimeArg>,
    /// Bar length (default `1s`).
    #[serde(default = "one_second")]
    pub bar_interval: String,
    /// The grid: parameter name → values (`[5, 10]` or `{"from": 5, "to": 50, "step": 5}`); axes
    /// are taken in alphabetical order of the names.
    pub grid: Map<String, Value>,
    /// Parameters held fixed.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Walk-forward splits (0 = none).
    #[serde(default)]
    pub splits: usize,
    /// Metric to optimise (default `sharpe`).
    #[serde(default = "sharpe")]
    pub metric: String,
    /// Fee per fill, bps.
    #[serde(default)]
    pub fee_bps: f64,
    /// Slippage per fill, bps.
    #[serde(default)]
    pub slippage_bps: f64,
    /// Starting cash.
    #[serde(default = "ten_thousand")]
    pub starting_cash: f64,
    /// Risk limits.
    #[serde(default)]
    pub risk: RiskArgs,
}

fn one_second() -> String {
    "1s".into()
}
fn sharpe() -> String {
    "sharpe".into()
}
fn ten_thousand() -> f64 {
    10_000.0
}

/// One axis of a checked grid: a parameter and its values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridAxis {
    /// Parameter name.
    pub name: String,
    /// Its values, in order.
    pub values: Vec<Value>,
}

/// A checked sweep.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Grid axes: name and values, in alphabetical order of the names (JSON objects carry no
    /// order here), which is also the heatmap's x (first) and y (second) order.
    pub axes: Vec<GridAxis>,
    /// Fixed parameters as call parameters.
    pub fixed: Vec<(String, String)>,
    /// Walk-forward splits.
    pub splits: usize,
    /// Metric name.
    pub metric: String,
    /// Run settings.
    pub settings: RunSettings,
    /// Bar length, ms.
    pub interval_ms: i64,
    /// Range start (ms, inclusive), if given.
    pub from_ms: Option<i64>,
    /// Range end (ms, exclusive), if given (default: now).
    pub to_ms: Option<i64>,
}

impl SweepRequest {
    /// Checks the request (without touching the database).
    pub fn spec(&self) -> Result<SweepSpec, Error> {
        let run = crate::request::RunRequest {
            strategy: self.strategy.clone(),
            params: Map::new(),
            product: self.product.clone(),
            mode: "backtest".into(),
            from: None,
            to: None,
            bar_interval: self.bar_interval.clone(),
            fee_bps: self.fee_bps,
            slippage_bps: self.slippage_bps,
            starting_cash: self.starting_cash,
            risk: self.risk,
        };
        let settings = run.settings()?;
        let interval_ms =
            parse_interval(&self.bar_interval).map_err(|e| Error::Invalid(format!("bar_interval: {e}")))?;
        if ranked_metric(&self.metric).is_none() {
            return Err(Error::Invalid(format!("metric {:?} is not one of {}", self.metric, ranked_metric_names())));
        }
        if self.grid.is_empty() {
            return Err(Error::Invalid("grid: give at least one parameter with values".into()));
        }
        let mut axes = Vec::new();
        let mut points = 1usize;
        for (name, v) in &self.grid {
            let axis: Axis = serde_json::from_value(v.clone())
                .map_err(|_| Error::Invalid(format!("grid.{name}: a list of values or {{from, to, step}}")))?;
            let values = axis.values().map_err(|e| Error::Invalid(format!("grid.{name}: {e}")))?;
            for v in &values {
                param_text(v).map_err(|e| Error::Invalid(format!("grid.{name}: {e}")))?;
            }
            points = points.saturating_mul(values.len());
            axes.push(GridAxis { name: name.clone(), values });
        }
        if points > 100_000 {
            return Err(Error::Invalid(format!("grid has {points} points (at most 100000)")));
        }
        if self.splits > 50 {
            return Err(Error::Invalid("splits: at most 50".into()));
        }
        let from_ms = self.from.as_ref().map(|t| t.millis("from")).transpose()?;
        let to_ms = self.to.as_ref().map(|t| t.millis("to")).transpose()?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(Error::Invalid("from must be before to".into()));
            }
        }
        let mut fixed = Vec::new();
        for (k, v) in &self.params {
            if self.grid.contains_key(k) {
                return Err(Error::Invalid(format!("params.{k} is also in the grid")));
            }
            fixed.push((k.clone(), param_text(v).map_err(|e| Error::Invalid(format!("params.{k}: {e}")))?));
        }
        Ok(SweepSpec {
            axes,
            fixed,
            splits: self.splits,
            metric: self.metric.clone(),
            settings,
            interval_ms,
            from_ms,
            to_ms,
        })
    }
}

impl SweepRequest {
    /// Checks the request against the database too: the product exists, the strategy version
    /// exists and is a strategy. Returns the spec and the plugin.
    pub async fn check(&self, store: &Store, host: &PluginHost) -> Result<(SweepSpec, Arc<Plugin>), Error> {
        let spec = self.spec()?;
        crate::request::check_product(store, &self.product).await?;
        let (name, version) = split_strategy(&self.strategy);
        let plugin = load_strategy(store, host, name, version).await?;
        Ok((spec, plugin))
    }
}

impl SweepSpec {
    /// Every grid point's parameter values (axis order), first axis slowest.
    pub fn points(&self) -> Vec<Vec<Value>> {
        let mut out: Vec<Vec<Value>> = vec![vec![]];
        for GridAxis { values, .. } in &self.axes {
            out = out
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push(v.clone());
                        q
                    })
                })
                .collect();
        }
        out
    }

    /// Bar index ranges of the segments (one segment without splits).
    pub fn segments(&self, bars: usize) -> Vec<(usize, usize)> {
        let n = self.splits + 1;
        (0..n).map(|i| (bars * i / n, bars * (i + 1) / n)).collect()
    }
}

/// One backtest's outcome in a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The metric's value (`null` when undefined).
    pub value: Option<f64>,
    /// Trades.
    pub trades: usize,
    /// Total return.
    pub total_return: Option<f64>,
    /// Why the backtest could not run (for example parameters the strategy refuses).
    pub error: Option<String>,
}

/// Result of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepResult {
    /// The optimised metric.
    pub metric: String,
    /// Parameter names of the grid, in column order.
    pub axes: Vec<String>,
    /// Bars swept over.
    pub bars: usize,
    /// Segments as `[first bar time, last bar time]` in ms.
    pub segments: Vec<[i64; 2]>,
    /// One row per grid point.
    pub rows: Vec<Value>,
    /// Walk-forward folds (empty without splits).
    pub folds: Vec<Value>,
    /// Mean out-of-sample metric of the parameters each fold picked in sample (`null` without splits).
    pub walk_forward: Option<f64>,
    /// The best grid point: by mean out-of-sample metric with splits, in sample without.
    pub best: Option<Value>,
    /// Whether `best` was judged out of sample.
    pub best_out_of_sample: bool,
    /// What the heatmap shows.
    pub heatmap: Option<Heatmap>,
}

/// A heatmap: the metric over the first grid axis (x, left to right) and the second (y, bottom to
/// top; absent for a one-axis grid).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heatmap {
    /// x axis.
    pub x: GridAxis,
    /// y axis, when the grid has two.
    pub y: Option<GridAxis>,
    /// The metric shown.
    pub metric: String,
    /// `values[y][x]`, `null` where there is none.
    pub values: Vec<Vec<Option<f64>>>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Backtests one parameter set over `bars` (fresh instance, no log) and returns its cell.
fn one_backtest(
    runtime: &Runtime,
    plugin: &Arc<Plugin>,
    params: &[(String, String)],
    bars: &[MarketBar],
    spec: &SweepSpec,
) -> Cell {
    let run = || -> Result<Cell, Error> {
        let mut instance = runtime.strategy(plugin, params)?;
        let (series, _) = backtest_series(&mut instance, bars, &spec.settings, 4096)?;
        let m = series.metrics(periods_per_year(spec.interval_ms))?;
        let v = serde_json::to_value(&m).unwrap_or(Value::Null);
        Ok(Cell {
            value: v.get(&spec.metric).and_then(Value::as_f64).and_then(finite),
            trades: m.trades.unwrap_or(0),
            total_return: finite(m.total_return),
            error: None,
        })
    };
    run().unwrap_or_else(|e| Cell { value: None, trades: 0, total_return: None, error: Some(e.to_string()) })
}

/// Runs the sweep over `bars` on `threads` threads; `progress(done, total)` is called from the
/// workers after each backtest.
pub fn run_sweep(
    runtime: &Runtime,
    plugin: &Arc<Plugin>,
    spec: &SweepSpec,
    bars: &[MarketBar],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SweepResult, Error> {
    let points = spec.points();
    let segments = spec.segments(bars.len());
    if bars.len() < 2 * segments.len() {
        return Err(Error::Invalid(format!(
            "{} bars are too few for {} segment(s); widen the range or lower splits",
            bars.len(),
            segments.len()
        )));
    }
    let jobs: Vec<(usize, usize)> = (0..points.len()).flat_map(|p| (0..segments.len()).map(move |s| (p, s))).collect();
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cells: Vec<std::sync::Mutex<Option<Cell>>> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let params_of = |p: usize| -> Vec<(String, String)> {
        let mut out = spec.fixed.clone();
        for (GridAxis { name, .. }, v) in spec.axes.iter().zip(&points[p]) {
            out.push((name.clone(), param_text(v).unwrap_or_default()));
        }
        out
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(total.max(1)) {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(p, s)) = jobs.get(j) else { break };
                let (a, b) = segments[s];
                let cell = one_backtest(runtime, plugin, &params_of(p), &bars[a..b], spec);
                if let Ok(mut slot) = cells[j].lock() {
                    *slot = Some(cell);
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            });
        }
    });
    let cells: Vec<Cell> = cells
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or(Cell {
                value: None,
                trades: 0,
                total_return: None,
                error: Some("not run".into()),
            })
        })
        .collect();
    let nseg = segments.len();
    let cell = |p: usize, s: usize| &cells[p * nseg + s];
    let higher = higher_is_better(&spec.metric);
    let better = |a: f64, b: f64| if higher { a > b } else { a < b };
    // The mean over the segments where the metric is defined (a segment without trades has no
    // Sharpe, for example); `None` when it is defined on none.
    let mean = |vals: Vec<Option<f64>>| -> Option<f64> {
        let v: Vec<f64> = vals.into_iter().flatten().collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let splits = spec.splits;
    // Per point: in-sample = mean over training segments (all but the last; the only one without
    // splits), out-of-sample = mean over test segments (all but the first).
    let mut rows = Vec::new();
    let mut scores: Vec<Option<f64>> = Vec::new();
    for (p, values) in points.iter().enumerate() {
        let in_sample =
            if splits == 0 { cell(p, 0).value } else { mean((0..splits).map(|s| cell(p, s).value).collect()) };
        let oos = if splits == 0 { None } else { mean((1..nseg).map(|s| cell(p, s).value).collect()) };
        let mut row = Map::new();
        let mut ps = Map::new();
        for (GridAxis { name, .. }, v) in spec.axes.iter().zip(values) {
            ps.insert(name.clone(), v.clone());
        }
        row.insert("params".into(), Value::Object(ps));
        row.insert("in_sample".into(), json!(in_sample));
        row.insert("out_of_sample".into(), json!(oos));
        row.insert("trades".into(), json!((0..nseg).map(|s| cell(p, s).trades).sum::<usize>()));
        row.insert("total_return".into(), json!(if splits == 0 { cell(p, 0).total_return } else { None }));
        let err = (0..nseg).find_map(|s| cell(p, s).error.clone());
        row.insert("error".into(), json!(err));
        rows.push(Value::Object(row));
        scores.push(if splits == 0 { in_sample } else { oos });
    }
    let argbest = |score: &dyn Fn(usize) -> Option<f64>| -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for p in 0..points.len() {
            if let Some(v) = score(p) {
                if best.is_none_or(|(_, b)| better(v, b)) {
                    best = Some((p, v));
                }
            }
        }
        best.map(|(p, _)| p)
    };
    let mut folds = Vec::new();
    let mut fold_oos = Vec::new();
    for i in 0..splits {
        let pick = argbest(&|p| cell(p, i).value);
        let oos = pick.and_then(|p| cell(p, i + 1).value);
        fold_oos.push(oos);
        folds.push(json!({
            "fold": i,
            "train": [bars[segments[i].0].bar.time_ms, bars[segments[i].1 - 1].bar.time_ms],
            "test": [bars[segments[i + 1].0].bar.time_ms, bars[segments[i + 1].1 - 1].bar.time_ms],
            "best_in_sample": pick.map(|p| rows[p]["params"].clone()),
            "in_sample": pick.and_then(|p| cell(p, i).value),
            "out_of_sample": oos,
        }));
    }
    let best = argbest(&|p| scores[p]).map(|p| {
        let mut b = rows[p].clone();
        b["value"] = json!(scores[p]);
        b
    });
    let heatmap = heatmap_of(spec, &scores);
    Ok(SweepResult {
        metric: spec.metric.clone(),
        axes: spec.axes.iter().map(|a| a.name.clone()).collect(),
        bars: bars.len(),
        segments: segments.iter().map(|&(a, b)| [bars[a].bar.time_ms, bars[b - 1].bar.time_ms]).collect(),
        rows,
        folds,
        walk_forward: if splits == 0 { None } else { mean(fold_oos) },
        best,
        best_out_of_sample: splits > 0,
        heatmap,
    })
}

/// The heatmap of the first two axes; `None` with more than two.
fn heatmap_of(spec: &SweepSpec, scores: &[Option<f64>]) -> Option<Heatmap> {
    if !(1..=2).contains(&spec.axes.len()) {
        return None;
    }
    let x = spec.axes[0].clone();
    let y = spec.axes.get(1).cloned();
    let (nx, ny) = (x.values.len(), y.as_ref().map_or(1, |y| y.values.len()));
    // Points are first-axis-slowest: index = ix * ny + iy.
    let values = (0..ny).map(|iy| (0..nx).map(|ix| scores[ix * ny + iy]).collect()).collect();
    Some(Heatmap { x, y, metric: spec.metric.clone(), values })
}

impl SweepResult {
    /// The results table as CSV (see [`results_csv`]).
    pub fn csv(&self) -> Result<Vec<u8>, Error> {
        results_csv(&serde_json::to_value(self).map_err(|e| Error::Invalid(e.to_string()))?)
    }

    /// The heatmap as PNG (`None` with more than two grid axes).
    pub fn heatmap_png(&self) -> Option<Vec<u8>> {
        let h = self.heatmap.as_ref()?;
        crate::heatmap::render(&h.values, higher_is_better(&h.metric)).ok()
    }
}

/// A sweep result (as stored JSON) as a CSV table: the grid parameters, then the in-sample and
/// out-of-sample metric, trades, total return and error of every grid point.
pub fn results_csv(result: &Value) -> Result<Vec<u8>, Error> {
    let err = |e: csv::Error| Error::Io(std::io::Error::other(e.to_string()));
    let axes: Vec<String> = serde_json::from_value(result["axes"].clone()).unwrap_or_default();
    let cols = ["in_sample", "out_of_sample", "trades", "total_return", "error"];
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = axes.clone();
    header.extend(cols.map(String::from));
    w.write_record(&header).map_err(err)?;
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    for row in result["rows"].as_array().into_iter().flatten() {
        let mut rec: Vec<String> = axes.iter().map(|a| text(&row["params"][a])).collect();
        rec.extend(cols.iter().map(|k| text(&row[*k])));
        w.write_record(&rec).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

/// Whether a larger value of `metric` is better (true for a name that is not ranked).
pub fn higher_is_better(metric: &str) -> bool {
    ranked_metric(metric).unwrap_or(true)
}

/// Executes a claimed sweep: loads bars and plugin, runs it on `threads` threads with progress in
/// the database, and stores the result and heatmap (or why it failed).
pub async fn execute_sweep(store: &Store, host: &Arc<PluginHost>, sweep: &SweepRow, worker: &str, threads: usize) {
    let id = sweep.sweep_id;
    let r = sweep_inner(store, host, sweep, worker, threads).await;
    let end = match &r {
        Ok((value, png)) => store.end_sweep(id, worker, Ok((value, png.as_deref()))).await,
        Err(e) => {
            tracing::warn!(sweep = id, error = %e, "sweep failed");
            store.end_sweep(id, worker, Err(&e.to_string())).await
        }
    };
    if let Err(e) = end {
        tracing::warn!(sweep = id, error = %e, "storing a sweep's end");
    }
}

async fn sweep_inner(
    store: &Store,
    host: &Arc<PluginHost>,
    sweep: &SweepRow,
    worker: &str,
    threads: usize,
) -> Result<(Value, Option<Vec<u8>>), Error> {
    let req: SweepRequest =
        serde_json::from_value(sweep.request.clone()).map_err(|e| Error::Invalid(format!("sweep request: {e}")))?;
    let (spec, plugin) = req.check(store, host).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let to = spec.to_ms.unwrap_or(now);
    let bars =
        crate::worker::stored_bars(store, &req.product, spec.from_ms, Some(to), spec.interval_ms, to.min(now)).await?;
    let total = spec.points().len() * (spec.splits + 1);
    store.sweep_progress(sweep.sweep_id, worker, 0, total as i64).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let task = {
        let (host, plugin, spec, done) = (host.clone(), plugin.clone(), spec.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            run_sweep(&host.runtime, &plugin, &spec, &bars, threads, &|d, _| {
                done.store(d, Ordering::Relaxed);
            })
        })
    };
    tokio::pin!(task);
    let result = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| Error::Invalid(format!("sweep task: {e}")))??,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                let d = done.load(Ordering::Relaxed) as i64;
                // A database blip must not abandon threads that keep computing: log and go on.
                if let Err(e) = store.sweep_progress(sweep.sweep_id, worker, d, total as i64).await {
                    tracing::warn!(sweep = sweep.sweep_id, error = %e, "recording sweep progress");
                }
            }
        }
    };
    if let Err(e) = store.sweep_progress(sweep.sweep_id, worker, total as i64, total as i64).await {
        tracing::warn!(sweep = sweep.sweep_id, error = %e, "recording sweep progress");
    }
    let png = result.heatmap_png();
    let mut value = serde_json::to_value(&result).map_err(|e| Error::Invalid(e.to_string()))?;
    value["strategy"] = json!(format!("{}@{}", plugin.info.name, plugin.info.version));
    Ok((value, png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse() {
        assert_eq!(Axis::parse("5..20:5").unwrap().values().unwrap(), vec![json!(5), json!(10), json!(15), json!(20)]);
        assert_eq!(Axis::parse("1,2.5,x").unwrap().values().unwrap(), vec![json!(1), json!(2.5), json!("x")]);
        assert_eq!(Axis::parse("0.5..1:0.25").unwrap().values().unwrap(), vec![json!(0.5), json!(0.75), json!(1.0)]);
        assert!(Axis::parse("5..1").unwrap().values().is_err());
        assert!(Axis::parse("a..b").is_err());
        assert!(Axis::parse("0..1e30:1").unwrap().values().is_err(), "too many values, no overflow");
        assert_eq!(Axis::parse("0.1..0.3:0.1").unwrap().values().unwrap(), vec![json!(0.1), json!(0.2), json!(0.3)]);
    }

    #[test]
    fn spec_checks_and_points() {
        let req: SweepRequest = serde_json::from_value(json!({
            "strategy": "sma-cross", "product": "BTC-USD",
            "grid": {"fast": [5, 10], "slow": {"from": 20, "to": 40, "step": 10}}, "splits": 2
        }))
        .unwrap();
        let spec = req.spec().unwrap();
        let pts = spec.points();
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[1], vec![json!(5), json!(30)]);
        assert_eq!(spec.segments(9), vec![(0, 3), (3, 6), (6, 9)]);
        let mut bad = req.clone();
        bad.metric = "luck".into();
        assert!(bad.spec().unwrap_err().to_string().contains("luck"));
        let mut bad = req.clone();
        bad.grid.insert("fast".into(), json!([]));
        assert!(bad.spec().is_err());
        let mut bad = req;
        bad.from = Some(TimeArg::Millis(10));
        bad.to = Some(TimeArg::Text("not a time".into()));
        assert!(bad.spec().unwrap_err().to_string().contains("to"));
    }
}
