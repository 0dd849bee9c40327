//! pyts's parameter checks, in pyts's order and with its messages: the `(name, value)` pairs
//! read with the contract's rules ([`Parsed`]), then each transform's type and range checks.

use super::schema::{parameter_schema, Transform};
use crate::gaf::GafParams;
use crate::mtf::{MtfParams, MtfStrategy};
use crate::paa::PaaParams;
use crate::rp::{RpParams, Threshold};
use crate::validate::{resolve_size, SizeParam};
use crate::Error;
use cgaf_plugin_contract::{ParamError, ParamSet, PyValue};

/// Parsed `(name, value)` pairs of one transform: names declared in its schema, each given
/// once, values strict Python literals; errors with pyts-style texts.
pub(super) struct Parsed {
    values: Vec<(String, PyValue)>,
}

impl Parsed {
    pub(super) fn new(transform: Transform, pairs: &[(String, String)]) -> Result<Parsed, Error> {
        let schema = parameter_schema(transform);
        let set = ParamSet::parse_literals(&schema, pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).map_err(
            |e| match e {
                ParamError::Unknown { name, accepted } => {
                    Error::UnknownParameter { name, transform: transform.pyts_class(), accepted }
                }
                ParamError::Duplicate(name) => Error::DuplicateParameter(name),
                ParamError::Unreadable { name, value, reason } => Error::Parse { name, value, reason },
                other => Error::PyValueError(other.to_string()),
            },
        )?;
        Ok(Parsed { values: set.iter().map(|(name, v)| (name.to_string(), v.clone())).collect() })
    }

    fn get(&self, name: &str) -> Option<&PyValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// pyts's size check: `isinstance(v, (int, np.integer, float, np.floating))`, then (when the
/// series length is known) the range. `False` always fails the range, with `(got False)`.
fn size_param(name: &str, v: &PyValue, n: Option<usize>) -> Result<SizeParam, Error> {
    let sp = match v {
        PyValue::Bool(false) => return Err(Error::SizeIntRange { name: name.to_string(), got: "False".into() }),
        PyValue::Bool(true) => SizeParam::Int(1),
        PyValue::Int(i) => SizeParam::Int(*i),
        PyValue::Float(f) => SizeParam::Fraction(*f),
        _ => return Err(Error::SizeType { name: name.to_string() }),
    };
    if let Some(n) = n {
        resolve_size(name, sp, n)?;
    }
    Ok(sp)
}

/// `-1 <= a < b <= 1` as Python evaluates it: left to right, short-circuiting, a TypeError when
/// a non-number is compared.
fn sample_range(v: &PyValue) -> Result<Option<(f64, f64)>, Error> {
    let items = match v {
        PyValue::None => return Ok(None),
        PyValue::Tuple(items) => items,
        _ => return Err(Error::SampleRangeType),
    };
    if items.len() != 2 {
        return Err(Error::SampleRangeLength);
    }
    let unsupported = |op: &str, l: &str, r: &PyValue| {
        Error::PyTypeError(format!("'{op}' not supported between instances of '{l}' and '{}'", r.type_name()))
    };
    let a = items[0].as_f64().ok_or_else(|| unsupported("<=", "int", &items[0]))?;
    let lower_ok = -1.0 <= a;
    if !lower_ok {
        return Err(Error::SampleRangeBounds);
    }
    let b = items[1].as_f64().ok_or_else(|| unsupported("<", items[0].type_name(), &items[1]))?;
    if !(a < b && b <= 1.0) {
        return Err(Error::SampleRangeBounds);
    }
    Ok(Some((a, b)))
}

/// GAF checks in pyts's order; the range checks need `n`.
pub(super) fn gaf_validate(p: &Parsed, n: Option<usize>) -> Result<GafParams, Error> {
    let mut out = GafParams::default();
    if let Some(v) = p.get("image_size") {
        out.image_size = size_param("image_size", v, n)?;
    } else if let Some(n) = n {
        resolve_size("image_size", out.image_size, n)?;
    }
    if let Some(v) = p.get("sample_range") {
        out.sample_range = sample_range(v)?;
    }
    if let Some(v) = p.get("overlapping") {
        out.overlapping = v.truthy();
    }
    Ok(out)
}

/// MTF checks in pyts's order; the range checks need `n`.
pub(super) fn mtf_validate(p: &Parsed, n: Option<usize>) -> Result<MtfParams, Error> {
    let mut out = MtfParams::default();
    if let Some(v) = p.get("image_size") {
        out.image_size = size_param("image_size", v, n)?;
    } else if let Some(n) = n {
        resolve_size("image_size", out.image_size, n)?;
    }
    if let Some(v) = p.get("n_bins") {
        out.n_bins = v.as_int().ok_or(Error::NBinsType)?;
        if out.n_bins < 2 {
            return Err(Error::NBinsTooSmall);
        }
    }
    if let Some(v) = p.get("strategy") {
        out.strategy = match v {
            PyValue::Str(s) => MtfStrategy::from_pyts(s)?,
            _ => return Err(Error::Strategy),
        };
    }
    if let Some(v) = p.get("overlapping") {
        out.overlapping = v.truthy();
    }
    Ok(out)
}

/// Recurrence-plot checks in pyts's order; the range and trajectory checks need `n`.
pub(super) fn rp_validate(p: &Parsed, n: Option<usize>) -> Result<RpParams, Error> {
    let mut out = RpParams::default();
    if let Some(v) = p.get("dimension") {
        out.dimension = size_param("dimension", v, n)?;
    }
    if let Some(v) = p.get("time_delay") {
        out.time_delay = size_param("time_delay", v, n)?;
    }
    if let Some(n) = n {
        let m = resolve_size("dimension", out.dimension, n)?;
        let tau = resolve_size("time_delay", out.time_delay, n)?;
        if (m as u128 - 1) * tau as u128 >= n as u128 {
            return Err(Error::NoTrajectories);
        }
    }
    if let Some(v) = p.get("threshold") {
        out.threshold = match v {
            PyValue::None => Threshold::None,
            PyValue::Str(s) if s == "point" => Threshold::Point,
            PyValue::Str(s) if s == "distance" => Threshold::Distance,
            _ => {
                let t = v.as_f64().ok_or(Error::ThresholdType)?;
                if t <= 0.0 {
                    return Err(Error::ThresholdNonPositive);
                }
                Threshold::Value(t)
            }
        };
    }
    if let Some(v) = p.get("percentage") {
        out.percentage = v.as_f64().ok_or(Error::PercentageType)?;
        if !(0.0 <= out.percentage && out.percentage <= 100.0) {
            return Err(Error::PercentageRange);
        }
    }
    Ok(out)
}

/// PAA checks in pyts's order; the range checks need `n`. As in pyts, `output_size` is only
/// looked at when `window_size` is None.
pub(super) fn paa_validate(p: &Parsed, n: Option<usize>) -> Result<PaaParams, Error> {
    let mut out = PaaParams::default();
    let window = p.get("window_size");
    let output = p.get("output_size");
    let is_none = |v: Option<&PyValue>| matches!(v, Some(PyValue::None));
    if is_none(window) && matches!(output, None | Some(PyValue::None)) {
        return Err(Error::PaaBothNone);
    }
    let opt_size = |name: &str, v: &PyValue| match v {
        PyValue::None => Ok(None),
        PyValue::Bool(_) | PyValue::Int(_) | PyValue::Float(_) => size_param(name, v, n).map(Some),
        _ => Err(Error::PaaSizeType { name: name.to_string() }),
    };
    match window {
        Some(v) => out.window_size = opt_size("window_size", v)?,
        None => {
            if let Some(n) = n {
                resolve_size("window_size", SizeParam::Int(1), n)?;
            }
        }
    }
    if out.window_size.is_none() {
        if let Some(v) = output {
            out.output_size = opt_size("output_size", v)?;
        }
    }
    if let Some(v) = p.get("overlapping") {
        out.overlapping = v.truthy();
    }
    Ok(out)
}
