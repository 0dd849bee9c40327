//! Folding a sweep's cells into its result: per-point in-sample and out-of-sample metrics, the
//! walk-forward folds, the best point, the heatmap; and the result as a CSV table.

use super::grid::{GridAxis, SweepSpec};
use crate::bars::Bar;
use crate::ranking::higher_is_better;
use crate::Error;
use serde::Serialize;
use serde_json::{json, Map, Value};

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

/// The result of a sweep from its cells (`cells[point * segments + segment]`).
pub(crate) fn summarize(
    spec: &SweepSpec,
    points: &[Vec<Value>],
    segments: &[(usize, usize)],
    bars: &[Bar],
    cells: &[Cell],
) -> SweepResult {
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
            "train": [bars[segments[i].0].time_ms, bars[segments[i].1 - 1].time_ms],
            "test": [bars[segments[i + 1].0].time_ms, bars[segments[i + 1].1 - 1].time_ms],
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
    SweepResult {
        metric: spec.metric.clone(),
        axes: spec.axes.iter().map(|a| a.name.clone()).collect(),
        bars: bars.len(),
        segments: segments.iter().map(|&(a, b)| [bars[a].time_ms, bars[b - 1].time_ms]).collect(),
        rows,
        folds,
        walk_forward: if splits == 0 { None } else { mean(fold_oos) },
        best,
        best_out_of_sample: splits > 0,
        heatmap,
    }
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
        results_csv(&serde_json::to_value(self).map_err(|e| Error::Output(e.to_string()))?)
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
    let err = |e: csv::Error| Error::Output(e.to_string());
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
    w.into_inner().map_err(|e| Error::Output(e.to_string()))
}
