//! Parameter parsing shared by the CLI and the wasm plugins: Python-literal strings to typed
//! parameters, with pyts's type checks and messages, and the parameter schemas.
//!
//! Values are written the way Python would write them: `8`, `0.5`, `1.0`, `None`/`none`,
//! `True`/`true`/`False`/`false`, tuples `-1,1` / `(-1, 1)` / `(0,1)`, lists `[-1,1]`,
//! quoted strings `'8'` / `"quantile"` or bare words `quantile`.
//!
//! Two ways in:
//! - [`gaf_from_pairs`], [`mtf_from_pairs`], [`rp_from_pairs`], [`paa_from_pairs`] take the
//!   series and the strings and check everything in pyts's exact order: unknown names and
//!   unparsable values first (Python fails when constructing the estimator), then the input
//!   (NaN/inf/empty), then each parameter in the order of pyts's `_check_params`.
//! - [`gaf_params`], [`mtf_params`], [`rp_params`], [`paa_params`] build typed parameters
//!   without a series: they run every check that does not need the series (types, `sample_range`,
//!   `n_bins >= 2`, `threshold > 0`, `percentage`), and the kernels run the rest (input,
//!   `image_size` / `dimension` / `time_delay` ranges, trajectories). With several faults at
//!   once the builder's error therefore comes before an input or range error, unlike pyts.

use crate::gaf::{gaf, GafMethod, GafParams};
use crate::mtf::{mtf, MtfParams, MtfStrategy};
use crate::paa::{paa_transform, PaaParams};
use crate::rp::{recurrence_plot, RpParams, Threshold};
use crate::validate::{check_series, resolve_size, SizeParam};
use crate::{Error, Matrix};
use std::fmt;

/// A Python literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False` (an `int` subclass for pyts's checks).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (quoted, or a bare word).
    Str(String),
    /// A tuple: `(a, b)`, `a, b`, `(a,)`, `()`.
    Tuple(Vec<PyValue>),
    /// A list: `[a, b]`.
    List(Vec<PyValue>),
}

impl PyValue {
    /// Python's type name (`NoneType`, `bool`, `int`, `float`, `str`, `tuple`, `list`).
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::Tuple(_) => "tuple",
            PyValue::List(_) => "list",
        }
    }

    /// Python truthiness (`bool(value)`).
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::Tuple(v) | PyValue::List(v) => !v.is_empty(),
        }
    }

    /// The value of a number (`bool`, `int` or `float`) as f64, else `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Bool(b) => Some(f64::from(u8::from(*b))),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value of an `int` (including `bool`), else `None`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            PyValue::Bool(b) => Some(i64::from(*b)),
            PyValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for PyValue {
    /// Python's `repr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, v: &[PyValue]) -> fmt::Result {
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        }
        match self {
            PyValue::None => f.write_str("None"),
            PyValue::Bool(true) => f.write_str("True"),
            PyValue::Bool(false) => f.write_str("False"),
            PyValue::Int(i) => write!(f, "{i}"),
            PyValue::Float(x) => f.write_str(&crate::error::py_float_repr(*x)),
            PyValue::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            PyValue::Tuple(v) => {
                f.write_str("(")?;
                seq(f, v)?;
                f.write_str(if v.len() == 1 { ",)" } else { ")" })
            }
            PyValue::List(v) => {
                f.write_str("[")?;
                seq(f, v)?;
                f.write_str("]")
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, Error> {
        Err(Error::Parse { name: String::new(), value: self.text.to_string(), reason: reason.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn item(&mut self) -> Result<PyValue, Error> {
        self.skip_ws();
        match self.peek() {
            None => self.fail("a value is missing"),
            Some(b'(') => {
                self.pos += 1;
                let (items, trailing_comma) = self.seq(b')')?;
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(PyValue::None))
                } else {
                    Ok(PyValue::Tuple(items))
                }
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(PyValue::List(self.seq(b']')?.0))
            }
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(c) if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => Ok(self.word()),
            Some(_) => self.fail(format!("unexpected character at offset {}", self.pos)),
        }
    }

    /// Items up to `close` (already past the opening bracket); also whether a comma trailed.
    fn seq(&mut self, close: u8) -> Result<(Vec<PyValue>, bool), Error> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat(close) {
            return Ok((items, false));
        }
        loop {
            items.push(self.item()?);
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
                if self.eat(close) {
                    return Ok((items, true));
                }
            } else if self.eat(close) {
                return Ok((items, false));
            } else {
                return self.fail(format!("expected ',' or '{}'", close as char));
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<PyValue, Error> {
        self.pos += 1;
        let mut out = String::new();
        let rest = &self.text[self.pos..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c as u32 == u32::from(quote) {
                self.pos += i + 1;
                return Ok(PyValue::Str(out));
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                    Some((_, e)) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        self.fail("unterminated string")
    }

    fn number(&mut self) -> Result<PyValue, Error> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let mut float = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || c == b'_' {
                self.pos += 1;
            } else if c == b'.' {
                float = true;
                self.pos += 1;
            } else if c == b'e' || c == b'E' {
                float = true;
                self.pos += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
        let tok: String = self.text[start..self.pos].chars().filter(|&c| c != '_').collect();
        let digits = tok.trim_start_matches(['+', '-']);
        if !digits.bytes().any(|c| c.is_ascii_digit()) {
            return self.fail(format!("'{tok}' is not a number"));
        }
        if float {
            match tok.parse::<f64>() {
                Ok(v) => Ok(PyValue::Float(v)),
                Err(_) => self.fail(format!("'{tok}' is not a number")),
            }
        } else {
            match tok.parse::<i64>() {
                Ok(v) => Ok(PyValue::Int(v)),
                Err(_) => self.fail(format!("'{tok}' is not a 64-bit integer")),
            }
        }
    }

    fn word(&mut self) -> PyValue {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            "None" | "none" => PyValue::None,
            "True" | "true" => PyValue::Bool(true),
            "False" | "false" => PyValue::Bool(false),
            w => PyValue::Str(w.to_string()),
        }
    }
}

/// Parses a parameter value written as Python would write it (see the module docs).
///
/// A top-level comma makes a tuple (`-1,1` is `(-1, 1)`); a bare word is a string, except
/// `None`/`none`, `True`/`true`, `False`/`false`.
pub fn parse_py_value(s: &str) -> Result<PyValue, Error> {
    let mut p = Parser { s: s.as_bytes(), text: s, pos: 0 };
    p.skip_ws();
    if p.peek().is_none() {
        return p.fail("the value is empty");
    }
    let first = p.item()?;
    p.skip_ws();
    if p.peek() == Some(b',') {
        let mut items = vec![first];
        while p.eat(b',') {
            p.skip_ws();
            if p.peek().is_none() {
                break;
            }
            items.push(p.item()?);
            p.skip_ws();
        }
        if p.peek().is_some() {
            return p.fail(format!("unexpected text at offset {}", p.pos));
        }
        return Ok(PyValue::Tuple(items));
    }
    if p.peek().is_some() {
        return p.fail(format!("unexpected text at offset {}", p.pos));
    }
    Ok(first)
}

/// The transforms whose parameters can be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `GramianAngularField` (GASF / GADF).
    Gaf,
    /// `MarkovTransitionField`.
    Mtf,
    /// `RecurrencePlot`.
    RecurrencePlot,
    /// `PiecewiseAggregateApproximation`.
    Paa,
}

impl Transform {
    /// Looks a transform up by a short name (`gaf`, `gasf`, `gadf`, `mtf`, `rp`,
    /// `recurrence_plot`, `paa`) or its pyts class name; case-insensitive.
    pub fn from_name(name: &str) -> Option<Transform> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gaf" | "gasf" | "gadf" | "gramianangularfield" => Some(Transform::Gaf),
            "mtf" | "markovtransitionfield" => Some(Transform::Mtf),
            "rp" | "recurrence_plot" | "recurrenceplot" => Some(Transform::RecurrencePlot),
            "paa" | "piecewiseaggregateapproximation" => Some(Transform::Paa),
            _ => None,
        }
    }

    /// The pyts class name.
    pub fn pyts_class(self) -> &'static str {
        match self {
            Transform::Gaf => "GramianAngularField",
            Transform::Mtf => "MarkovTransitionField",
            Transform::RecurrencePlot => "RecurrencePlot",
            Transform::Paa => "PiecewiseAggregateApproximation",
        }
    }
}

/// One parameter of a transform, for help texts and UIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// pyts's parameter name.
    pub name: &'static str,
    /// Accepted Python types, `|`-separated (`int|float`, `tuple|none`, `bool`, `int`, `str`, …).
    pub kind: &'static str,
    /// pyts's default, as Python text.
    pub default: &'static str,
    /// One-line description.
    pub doc: &'static str,
}

const fn spec(name: &'static str, kind: &'static str, default: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec { name, kind, default, doc }
}

/// The parameters of a transform (pyts names, in pyts's order). The GAF's `method` is chosen
/// by the transform (GASF / GADF) and parsed with [`gaf_method`]; `flatten` is not offered.
pub fn parameter_schema(transform: Transform) -> Vec<ParamSpec> {
    match transform {
        Transform::Gaf => vec![
            spec(
                "image_size",
                "int|float",
                "1.0",
                "Image edge: an int in [1, n], or a float in (0, 1] giving ceil(v * n).",
            ),
            spec(
                "sample_range",
                "tuple|none",
                "(-1, 1)",
                "Min-max scaling range (a, b) with -1 <= a < b <= 1; None: no scaling, \
                 values must be in [-1, 1].",
            ),
            spec("overlapping", "bool", "False", "Whether the PAA segments may overlap."),
        ],
        Transform::Mtf => vec![
            spec(
                "image_size",
                "int|float",
                "1.0",
                "Image edge: an int in [1, n], or a float in (0, 1] giving ceil(v * n).",
            ),
            spec("n_bins", "int", "8", "Number of bins (at least 2)."),
            spec("strategy", "str", "'quantile'", "Bin edges: 'quantile', 'uniform' or 'normal'."),
            spec("overlapping", "bool", "False", "Whether the aggregation segments may overlap."),
        ],
        Transform::RecurrencePlot => vec![
            spec("dimension", "int|float", "1", "Trajectory dimension: an int in [1, n], or a float in (0, 1]."),
            spec(
                "time_delay",
                "int|float",
                "1",
                "Gap between trajectory points: an int in [1, n], or a float in (0, 1].",
            ),
            spec("threshold", "none|str|int|float", "None", "None (distances), 'point', 'distance', or a number > 0."),
            spec("percentage", "int|float", "10", "Percentage in [0, 100] for threshold 'point' or 'distance'."),
        ],
        Transform::Paa => vec![
            spec("window_size", "int|float|none", "1", "Segment length: an int in [1, n], a float in (0, 1], or None."),
            spec("output_size", "int|float|none", "None", "Number of segments (used when window_size is None)."),
            spec("overlapping", "bool", "True", "Whether the segments may overlap."),
        ],
    }
}

/// Parsed `(name, value)` pairs of one transform.
struct Parsed {
    values: Vec<(&'static str, PyValue)>,
}

impl Parsed {
    fn new(transform: Transform, pairs: &[(String, String)]) -> Result<Parsed, Error> {
        let schema = parameter_schema(transform);
        let mut values: Vec<(&'static str, PyValue)> = Vec::new();
        for (name, text) in pairs {
            let name = name.trim();
            let Some(spec) = schema.iter().find(|s| s.name == name) else {
                return Err(Error::UnknownParameter {
                    name: name.to_string(),
                    transform: transform.pyts_class(),
                    accepted: schema.iter().map(|s| s.name).collect(),
                });
            };
            if values.iter().any(|(n, _)| *n == spec.name) {
                return Err(Error::DuplicateParameter(name.to_string()));
            }
            let v = parse_py_value(text).map_err(|e| match e {
                Error::Parse { value, reason, .. } => Error::Parse { name: name.to_string(), value, reason },
                other => other,
            })?;
            values.push((spec.name, v));
        }
        Ok(Parsed { values })
    }

    fn get(&self, name: &str) -> Option<&PyValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
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
fn gaf_validate(p: &Parsed, n: Option<usize>) -> Result<GafParams, Error> {
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
fn mtf_validate(p: &Parsed, n: Option<usize>) -> Result<MtfParams, Error> {
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
fn rp_validate(p: &Parsed, n: Option<usize>) -> Result<RpParams, Error> {
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
fn paa_validate(p: &Parsed, n: Option<usize>) -> Result<PaaParams, Error> {
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

/// Builds [`GafParams`] from `(name, value)` strings (names `image_size`, `sample_range`,
/// `overlapping`; pyts defaults for the others), with pyts's type and value checks.
/// Checks that need the series (`image_size` range) are left to [`gaf`](crate::gaf()); use
/// [`gaf_from_pairs`] for pyts's exact error order.
pub fn gaf_params(pairs: &[(String, String)]) -> Result<GafParams, Error> {
    gaf_validate(&Parsed::new(Transform::Gaf, pairs)?, None)
}

/// Parses a GAF method value (`summation`, `'s'`, `"difference"`, `d`, …) with pyts's message.
pub fn gaf_method(value: &str) -> Result<GafMethod, Error> {
    match parse_py_value(value)? {
        PyValue::Str(s) => GafMethod::from_pyts(&s),
        _ => Err(Error::Method),
    }
}

/// Builds [`MtfParams`] from `(name, value)` strings (names `image_size`, `n_bins`,
/// `strategy`, `overlapping`), with pyts's type and value checks. Checks that need the series
/// are left to [`mtf`](crate::mtf()); use [`mtf_from_pairs`] for pyts's exact error order.
pub fn mtf_params(pairs: &[(String, String)]) -> Result<MtfParams, Error> {
    mtf_validate(&Parsed::new(Transform::Mtf, pairs)?, None)
}

/// Builds [`RpParams`] from `(name, value)` strings (names `dimension`, `time_delay`,
/// `threshold`, `percentage`), with pyts's type and value checks. Checks that need the series
/// are left to [`recurrence_plot`](crate::recurrence_plot()); use [`rp_from_pairs`] for pyts's
/// exact error order.
pub fn rp_params(pairs: &[(String, String)]) -> Result<RpParams, Error> {
    rp_validate(&Parsed::new(Transform::RecurrencePlot, pairs)?, None)
}

/// Builds [`PaaParams`] from `(name, value)` strings (names `window_size`, `output_size`,
/// `overlapping`), with pyts's type checks. Use [`paa_from_pairs`] for pyts's exact error
/// order.
pub fn paa_params(pairs: &[(String, String)]) -> Result<PaaParams, Error> {
    paa_validate(&Parsed::new(Transform::Paa, pairs)?, None)
}

/// pyts's `GramianAngularField(**pairs, method=method).transform([x])[0]` with every check in
/// pyts's order: parameter names and syntax (Python fails at construction), the input, then
/// `image_size`, `sample_range`, and the post-PAA range check.
pub fn gaf_from_pairs(x: &[f64], method: GafMethod, pairs: &[(String, String)]) -> Result<Matrix, Error> {
    let raw = Parsed::new(Transform::Gaf, pairs)?;
    check_series(x)?;
    let p = gaf_validate(&raw, Some(x.len()))?;
    gaf(x, method, &p)
}

/// pyts's `MarkovTransitionField(**pairs).transform([x])[0]` and its warnings, with every check
/// in pyts's order (names and syntax, input, `image_size`, `n_bins`, `strategy`).
pub fn mtf_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<(Matrix, Vec<String>), Error> {
    let raw = Parsed::new(Transform::Mtf, pairs)?;
    check_series(x)?;
    let p = mtf_validate(&raw, Some(x.len()))?;
    mtf(x, &p)
}

/// pyts's `RecurrencePlot(**pairs).transform([x])[0]`, with every check in pyts's order (names
/// and syntax, input, `dimension`, `time_delay`, trajectories, `threshold`, `percentage`).
pub fn rp_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<Matrix, Error> {
    let raw = Parsed::new(Transform::RecurrencePlot, pairs)?;
    check_series(x)?;
    let p = rp_validate(&raw, Some(x.len()))?;
    recurrence_plot(x, &p)
}

/// pyts's `PiecewiseAggregateApproximation(**pairs).transform([x])[0]`, with every check in
/// pyts's order (names and syntax, input, both-None, `window_size` / `output_size`).
pub fn paa_from_pairs(x: &[f64], pairs: &[(String, String)]) -> Result<Vec<f64>, Error> {
    let raw = Parsed::new(Transform::Paa, pairs)?;
    check_series(x)?;
    let p = paa_validate(&raw, Some(x.len()))?;
    paa_transform(x, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn literals() {
        use PyValue::*;
        assert_eq!(parse_py_value("8").unwrap(), Int(8));
        assert_eq!(parse_py_value(" -3 ").unwrap(), Int(-3));
        assert_eq!(parse_py_value("0.5").unwrap(), Float(0.5));
        assert_eq!(parse_py_value("1.0").unwrap(), Float(1.0));
        assert_eq!(parse_py_value("1e-3").unwrap(), Float(0.001));
        assert_eq!(parse_py_value("none").unwrap(), None);
        assert_eq!(parse_py_value("None").unwrap(), None);
        assert_eq!(parse_py_value("True").unwrap(), Bool(true));
        assert_eq!(parse_py_value("false").unwrap(), Bool(false));
        assert_eq!(parse_py_value("-1,1").unwrap(), Tuple(vec![Int(-1), Int(1)]));
        assert_eq!(parse_py_value("(-1, 1)").unwrap(), Tuple(vec![Int(-1), Int(1)]));
        assert_eq!(parse_py_value("(0,1)").unwrap(), Tuple(vec![Int(0), Int(1)]));
        assert_eq!(parse_py_value("(0.5,)").unwrap(), Tuple(vec![Float(0.5)]));
        assert_eq!(parse_py_value("(7)").unwrap(), Int(7));
        assert_eq!(parse_py_value("()").unwrap(), Tuple(vec![]));
        assert_eq!(parse_py_value("[-1,1]").unwrap(), List(vec![Int(-1), Int(1)]));
        assert_eq!(parse_py_value("'8'").unwrap(), Str("8".into()));
        assert_eq!(parse_py_value("\"quantile\"").unwrap(), Str("quantile".into()));
        assert_eq!(parse_py_value("quantile").unwrap(), Str("quantile".into()));
        assert_eq!(parse_py_value("(0, (1, 'a'))").unwrap(), Tuple(vec![Int(0), Tuple(vec![Int(1), Str("a".into())])]));
        assert!(parse_py_value("").is_err());
        assert!(parse_py_value("(1, 2").is_err());
        assert!(parse_py_value("1 2").is_err());
        assert!(parse_py_value("'abc").is_err());
        assert!(parse_py_value("99999999999999999999").is_err());
        assert_eq!(parse_py_value("(-1, 1)").unwrap().to_string(), "(-1, 1)");
    }

    #[test]
    fn gaf_builder_checks() {
        let e = gaf_params(&pairs(&[("image_size", "'8'")])).unwrap_err();
        assert_eq!(e.python_type(), "TypeError");
        assert_eq!(e.to_string(), "'image_size' must be an integer or a float.");
        let p = gaf_params(&pairs(&[("image_size", "True")])).unwrap();
        assert_eq!(p.image_size, SizeParam::Int(1));
        let e = gaf_params(&pairs(&[("sample_range", "[-1, 1]")])).unwrap_err();
        assert_eq!((e.python_type(), e.to_string().as_str()), ("TypeError", "'sample_range' must be None or a tuple."));
        let e = gaf_params(&pairs(&[("sample_range", "(0, 1, 2)")])).unwrap_err();
        assert_eq!(e.to_string(), "If 'sample_range' is a tuple, its length must be equal to 2.");
        let e = gaf_params(&pairs(&[("sample_range", "(1, -1)")])).unwrap_err();
        assert_eq!(e, Error::SampleRangeBounds);
        let e = gaf_params(&pairs(&[("sample_range", "('a', 1)")])).unwrap_err();
        assert_eq!(e.to_string(), "'<=' not supported between instances of 'int' and 'str'");
        let p = gaf_params(&pairs(&[("sample_range", "None"), ("overlapping", "true")])).unwrap();
        assert_eq!(p.sample_range, None);
        assert!(p.overlapping);
        let e = gaf_params(&pairs(&[("method", "'s'")])).unwrap_err();
        assert_eq!(e.python_type(), "ValueError");
        assert_eq!(
            e.to_string(),
            "unknown parameter 'method' for GramianAngularField; accepted parameters: \
             image_size, sample_range, overlapping"
        );
        assert!(matches!(
            gaf_params(&pairs(&[("image_size", "8"), ("image_size", "9")])),
            Err(Error::DuplicateParameter(_))
        ));
        assert_eq!(gaf_method("'s'"), Ok(GafMethod::Summation));
        assert_eq!(gaf_method("difference"), Ok(GafMethod::Difference));
        assert_eq!(gaf_method("'x'"), Err(Error::Method));
    }

    #[test]
    fn mtf_and_rp_builder_checks() {
        assert_eq!(mtf_params(&pairs(&[("n_bins", "4.0")])), Err(Error::NBinsType));
        assert_eq!(mtf_params(&pairs(&[("strategy", "foo")])), Err(Error::Strategy));
        let p = mtf_params(&pairs(&[("strategy", "'normal'"), ("n_bins", "5")])).unwrap();
        assert_eq!((p.strategy, p.n_bins), (MtfStrategy::Normal, 5));
        assert_eq!(rp_params(&pairs(&[("threshold", "'foo'")])), Err(Error::ThresholdType));
        assert_eq!(rp_params(&pairs(&[("threshold", "point")])).unwrap().threshold, Threshold::Point);
        assert_eq!(rp_params(&pairs(&[("threshold", "3")])).unwrap().threshold, Threshold::Value(3.0));
        assert_eq!(rp_params(&pairs(&[("percentage", "'x'")])), Err(Error::PercentageType));
        assert_eq!(
            rp_params(&pairs(&[("dimension", "[1]")])).unwrap_err().to_string(),
            "'dimension' must be an integer or a float."
        );
    }

    #[test]
    fn schemas_list_pyts_names() {
        let names = |t| parameter_schema(t).iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(Transform::Gaf), ["image_size", "sample_range", "overlapping"]);
        assert_eq!(names(Transform::Mtf), ["image_size", "n_bins", "strategy", "overlapping"]);
        assert_eq!(names(Transform::RecurrencePlot), ["dimension", "time_delay", "threshold", "percentage"]);
        assert_eq!(Transform::from_name("GASF"), Some(Transform::Gaf));
    }
}
