//! Run requests as the API takes them and the CLI sends them, and their checks that need nothing
//! but the request ([`RunRequest::plan`]); the worker adds the checks against the database and
//! the plugin.

use crate::engine::{RiskLimits, RunSettings};
use crate::run::RunMode;
use crate::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A time given as milliseconds since the epoch or as RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TimeArg {
    /// Milliseconds since the Unix epoch.
    Millis(i64),
    /// RFC 3339, e.g. `2026-11-21T10:00:00Z`.
    Text(String),
}

impl TimeArg {
    /// Milliseconds since the epoch.
    pub fn millis(&self, field: &str) -> Result<i64, Error> {
        match self {
            TimeArg::Millis(ms) => Ok(*ms),
            TimeArg::Text(s) => parse_time(s).map_err(|e| Error::Invalid(format!("{field}: {e}"))),
        }
    }
}

/// Parses milliseconds since the epoch or RFC 3339 text.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{s:?} is neither milliseconds since the epoch nor RFC 3339 ({e})"))
}

/// Parses a bar interval such as `250ms`, `1s`, `5m`, `1h`, `1d` into milliseconds.
pub fn parse_interval(s: &str) -> Result<i64, String> {
    // The one duration grammar of the project (humantime: `250ms`, `1s`, `5m`, `1h`, `1d`), as
    // for the service's schedules.
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("bar interval {s:?} is not like 1s, 5m, 1h, 1d: {e}"))?;
    match i64::try_from(d.as_millis()) {
        Ok(ms) if ms > 0 && ms <= 7 * 86_400_000 && d.subsec_nanos() % 1_000_000 == 0 => Ok(ms),
        _ => Err(format!("bar interval {s:?} must be whole milliseconds between 1ms and 7d")),
    }
}

/// `POST /api/runs` body (and `cgaf backtest` options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Strategy plugin, `name` (its active version) or `name@version`.
    pub strategy: String,
    /// Parameters: numbers, strings or booleans by name.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Product id.
    pub product: String,
    /// `backtest` or `paper`.
    pub mode: RunMode,
    /// Backtest start (inclusive).
    #[serde(default)]
    pub from: Option<TimeArg>,
    /// Backtest end (exclusive); default now.
    #[serde(default)]
    pub to: Option<TimeArg>,
    /// Bar length, e.g. `1s`, `1m` (default `1s`).
    #[serde(default = "default_interval")]
    pub bar_interval: String,
    /// Fee per fill, basis points of notional (default 0).
    #[serde(default)]
    pub fee_bps: f64,
    /// Slippage per fill, basis points (default 0).
    #[serde(default)]
    pub slippage_bps: f64,
    /// Starting cash (default 10,000).
    #[serde(default = "default_cash")]
    pub starting_cash: f64,
    /// Risk limits (default: no limits).
    #[serde(default)]
    pub risk: RiskArgs,
    /// Run even when the history covers the range only in part (default false: such a run is
    /// refused, naming what is covered).
    #[serde(default)]
    pub allow_gaps: bool,
    /// Periods per year for annualised metrics (default: follows the bar interval).
    #[serde(default)]
    pub periods_per_year: Option<f64>,
}

/// The `risk` object of a run request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskArgs {
    /// Largest absolute target, fraction of equity in [0, 1] (default 1).
    pub max_position: Option<f64>,
    /// Largest drawdown from the equity peak before flatten-and-stop, fraction in (0, 1].
    pub max_drawdown: Option<f64>,
}

fn default_interval() -> String {
    "1s".into()
}

fn default_cash() -> f64 {
    10_000.0
}

/// A parameter value as the plugin contract takes it: text written as Python would.
pub fn param_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("none".into()),
        other => Err(format!("{other} is not a number, string, boolean or null")),
    }
}

/// Parameters of a stored run (`{name: text}`) as call parameters.
pub fn params_of(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits `name@version`.
pub fn split_strategy(s: &str) -> (&str, Option<&str>) {
    match s.split_once('@') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (s.trim(), None),
    }
}

/// A run request checked on its own: what it asks for, in the units a run is stored in.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// Costs, cash and limits.
    pub settings: RunSettings,
    /// Bar length, ms.
    pub bar_interval_ms: i64,
    /// Range start (inclusive); a paper run's first bar boundary.
    pub from_ms: Option<i64>,
    /// Backtest range end (exclusive); `None` = up to the newest stored bar.
    pub to_ms: Option<i64>,
    /// Parameters as name → Python-literal text.
    pub params: Map<String, Value>,
}

impl RunRequest {
    /// The run's settings, checked.
    pub fn settings(&self) -> Result<RunSettings, Error> {
        let s = RunSettings {
            starting_cash: self.starting_cash,
            fee_bps: self.fee_bps,
            slippage_bps: self.slippage_bps,
            risk: RiskLimits {
                max_position: self.risk.max_position.unwrap_or(1.0),
                max_drawdown: self.risk.max_drawdown,
            },
            periods_per_year: self.periods_per_year,
            allow_gaps: self.allow_gaps,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks everything that needs no database and no plugin, at `now_ms`: settings, interval,
    /// range, parameter values. A paper run starts at the next bar boundary, so its first bar is
    /// a whole one.
    pub fn plan(&self, now_ms: i64) -> Result<RunPlan, Error> {
        let settings = self.settings()?;
        let interval = parse_interval(&self.bar_interval).map_err(|e| Error::Invalid(format!("bar_interval: {e}")))?;
        let (from_ms, to_ms) = match self.mode {
            RunMode::Backtest => {
                let from = self.from.as_ref().map(|t| t.millis("from")).transpose()?;
                // Without `to`, the run goes to the newest stored bar (resolved against the
                // history when the run is prepared).
                let to = self.to.as_ref().map(|t| t.millis("to")).transpose()?;
                if from.is_some_and(|f| f >= to.unwrap_or(now_ms)) {
                    return Err(Error::Invalid("from must be before to".into()));
                }
                (from, to)
            }
            RunMode::Paper => {
                if self.from.is_some() || self.to.is_some() {
                    return Err(Error::Invalid(
                        "a paper run follows live samples: from and to are not accepted".into(),
                    ));
                }
                (Some((now_ms.div_euclid(interval) + 1) * interval), None)
            }
        };
        let mut params = Map::new();
        for (k, v) in &self.params {
            let text = param_text(v).map_err(|e| Error::Invalid(format!("params.{k}: {e}")))?;
            params.insert(k.clone(), Value::String(text));
        }
        Ok(RunPlan { settings, bar_interval_ms: interval, from_ms, to_ms, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_times_parse() {
        assert_eq!(parse_interval("1s"), Ok(1000));
        assert_eq!(parse_interval("250ms"), Ok(250));
        assert_eq!(parse_interval("5m"), Ok(300_000));
        assert_eq!(parse_interval("1d"), Ok(86_400_000));
        assert!(parse_interval("0s").is_err());
        assert_eq!(parse_interval("1w"), Ok(7 * 86_400_000));
        assert!(parse_interval("2w").is_err());
        assert!(parse_interval("1500us").is_err());
        assert_eq!(parse_interval("1m 30s"), Ok(90_000));
        assert!(parse_interval("s").is_err());
        assert_eq!(parse_time("2026-11-21T00:00:00Z"), Ok(1_795_219_200_000));
        assert_eq!(parse_time("1000"), Ok(1000));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn params_become_python_text() {
        assert_eq!(param_text(&serde_json::json!(5)).unwrap(), "5");
        assert_eq!(param_text(&serde_json::json!(0.5)).unwrap(), "0.5");
        assert_eq!(param_text(&serde_json::json!("x")).unwrap(), "x");
        assert!(param_text(&serde_json::json!([1])).is_err());
        assert_eq!(split_strategy("sma-cross@1.0.0"), ("sma-cross", Some("1.0.0")));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<RunRequest, _> =
            serde_json::from_value(serde_json::json!({"strategy": "s", "product": "p", "mode": "paper", "fees": 1}));
        assert!(r.unwrap_err().to_string().contains("unknown field"));
        let r: RunRequest =
            serde_json::from_value(serde_json::json!({"strategy": "s", "product": "p", "mode": "paper"})).unwrap();
        assert_eq!((r.bar_interval.as_str(), r.starting_cash), ("1s", 10_000.0));
        let r: Result<RunRequest, _> =
            serde_json::from_value(serde_json::json!({"strategy": "s", "product": "p", "mode": "live"}));
        assert!(r.unwrap_err().to_string().contains("mode must be one of backtest, paper, not \"live\""));
    }

    #[test]
    fn a_request_survives_its_json_form() {
        let r: RunRequest = serde_json::from_value(serde_json::json!({
            "strategy": "s", "product": "p", "mode": "backtest", "from": "2026-11-21T00:00:00Z", "to": 5,
            "params": {"fast": 5}, "risk": {"max_drawdown": 0.2}
        }))
        .unwrap();
        let back: RunRequest = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn plans_check_ranges_and_start_paper_runs_on_a_boundary() {
        let mut r: RunRequest =
            serde_json::from_value(serde_json::json!({"strategy": "s", "product": "p", "mode": "paper"})).unwrap();
        let plan = r.plan(2500).unwrap();
        assert_eq!((plan.from_ms, plan.to_ms), (Some(3000), None));
        r.to = Some(TimeArg::Millis(1));
        assert!(r.plan(2500).is_err());
        r.mode = RunMode::Backtest;
        r.from = Some(TimeArg::Millis(5));
        assert!(r.plan(2500).unwrap_err().to_string().contains("from must be before to"));
        r.from = None;
        r.params.insert("fast".into(), serde_json::json!(5));
        let plan = r.plan(2500).unwrap();
        assert_eq!((plan.from_ms, plan.to_ms), (None, Some(1)));
        assert_eq!(plan.params["fast"], "5");
    }
}
