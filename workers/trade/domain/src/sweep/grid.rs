//! The sweep request and its grid: axes (lists or ranges), the checked [`SweepSpec`], its grid
//! points and walk-forward segments.

use crate::engine::RunSettings;
use crate::ranking::{ranked_metric, ranked_metric_names};
use crate::request::{param_text, parse_interval, RiskArgs, RunRequest, TimeArg};
use crate::run::RunMode;
use crate::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Strategy plugin, `name` or `name@version`.
    pub strategy: String,
    /// Product whose market history makes the bars.
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
    /// Run even when the history covers the range only in part.
    #[serde(default)]
    pub allow_gaps: bool,
    /// Periods per year for annualised metrics (default: follows the bar interval).
    #[serde(default)]
    pub periods_per_year: Option<f64>,
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
        let run = RunRequest {
            strategy: self.strategy.clone(),
            params: Map::new(),
            product: self.product.clone(),
            mode: RunMode::Backtest,
            from: None,
            to: None,
            bar_interval: self.bar_interval.clone(),
            fee_bps: self.fee_bps,
            slippage_bps: self.slippage_bps,
            starting_cash: self.starting_cash,
            risk: self.risk,
            allow_gaps: self.allow_gaps,
            periods_per_year: self.periods_per_year,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
