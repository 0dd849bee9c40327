//! The one parser of parameter values written as Python literals, and Python's `repr` of them.
//!
//! A value is written the way Python would write it: `8`, `-3`, `1_000`, `0.5`, `.5`, `2.`,
//! `1e-3`, `None`/`none`, `True`/`true`/`False`/`false`, quoted strings `'8'` / `"quantile"`
//! (escapes `\\`, `\'`, `\"`, `\n`, `\t`), bare words `quantile`, tuples `(-1, 1)` / `(0.5,)`
//! / `()` — a top-level comma also makes one: `-1,1` — and lists `[1, 2]`, nested freely.
//! `(7)` is `7`, as in Python. `_` may only stand between digits; `1e999` is the float `inf`,
//! as in Python.
//!
//! [`parse_py_value`] accepts only that grammar (the pyts transforms use it, so a typo is
//! refused rather than taken for a string). [`parse_param_value`] is the same parser with one
//! fallback for plugin parameters: a text that is not a literal and does not start like one
//! (a digit, a sign or `.` followed by a digit, a quote, `(` or `[`) is the bare string it
//! reads as (`-`, `a-b`, `{"a": 1}`).

use std::fmt;

/// A Python literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False` (an `int` subclass in Python).
    Bool(bool),
    /// An integer (64 bits).
    Int(i64),
    /// A float (may be infinite: `1e999`).
    Float(f64),
    /// A string (quoted, or a bare word).
    Str(String),
    /// A tuple.
    Tuple(Vec<PyValue>),
    /// A list.
    List(Vec<PyValue>),
}

impl PyValue {
    /// Python's type name: `NoneType`, `bool`, `int`, `float`, `str`, `tuple`, `list`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            other => other.kind_name(),
        }
    }

    /// The kind name parameter schemas use ([`ParamSpec::kind`](crate::ParamSpec::kind)):
    /// `none`, `bool`, `int`, `float`, `str`, `tuple`, `list`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            PyValue::None => "none",
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

    /// Whether every float in the value (nested ones included) is finite.
    pub fn is_finite(&self) -> bool {
        match self {
            PyValue::Float(f) => f.is_finite(),
            PyValue::Tuple(v) | PyValue::List(v) => v.iter().all(PyValue::is_finite),
            _ => true,
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
            PyValue::Float(x) => f.write_str(&py_float_repr(*x)),
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

/// A value text that is not a Python literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct LiteralError {
    /// The whole text given.
    pub text: String,
    /// What is wrong with it (`unterminated string`, `'1e' is not a number`, ...).
    pub reason: String,
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, LiteralError> {
        Err(LiteralError { text: self.text.to_string(), reason: reason.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.s.get(self.pos + offset).copied()
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

    fn item(&mut self) -> Result<PyValue, LiteralError> {
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
    fn seq(&mut self, close: u8) -> Result<(Vec<PyValue>, bool), LiteralError> {
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

    fn string(&mut self, quote: u8) -> Result<PyValue, LiteralError> {
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

    /// Digits with single `_` between digits; returns how many digits were read.
    fn digits(&mut self) -> usize {
        let mut n = 0;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                n += 1;
                self.pos += 1;
            } else if c == b'_' && n > 0 && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]`, at least one mantissa digit.
    fn number(&mut self) -> Result<PyValue, LiteralError> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let mut digits = self.digits();
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            digits += self.digits();
        }
        let mut exponent_ok = true;
        if digits > 0 && matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            exponent_ok = self.digits() > 0;
        }
        let tok: String = self.text[start..self.pos].chars().filter(|&c| c != '_').collect();
        if digits == 0 || !exponent_ok {
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
                Err(_) => self.fail(format!("'{tok}' is out of range for a 64-bit integer")),
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

/// Parses a value written as a Python literal (see the module docs); nothing else is accepted.
///
/// ```
/// use cgaf_plugin_contract::{parse_py_value, PyValue};
/// assert_eq!(parse_py_value("-1,1"), Ok(PyValue::Tuple(vec![PyValue::Int(-1), PyValue::Int(1)])));
/// assert_eq!(parse_py_value("quantile"), Ok(PyValue::Str("quantile".into())));
/// assert!(parse_py_value("1 2").is_err());
/// ```
pub fn parse_py_value(text: &str) -> Result<PyValue, LiteralError> {
    let mut p = Parser { s: text.as_bytes(), text, pos: 0 };
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

/// [`parse_py_value`], except that a text which is not a literal and does not start like one
/// is the bare string it reads as (trimmed): `-`, `a-b`, `{"a": 1}`.
///
/// ```
/// use cgaf_plugin_contract::{parse_param_value, PyValue};
/// assert_eq!(parse_param_value("a-b"), Ok(PyValue::Str("a-b".into())));
/// assert!(parse_param_value("12abc").is_err());
/// ```
pub fn parse_param_value(text: &str) -> Result<PyValue, LiteralError> {
    let err = match parse_py_value(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let t = text.trim();
    let b = t.as_bytes();
    let starts_like_literal = match b.first() {
        None => true,
        Some(c) if c.is_ascii_digit() || matches!(c, b'\'' | b'"' | b'(' | b'[') => true,
        Some(b'+' | b'-') => b.get(1).is_some_and(|&c| c.is_ascii_digit() || c == b'.'),
        Some(b'.') => b.get(1).is_some_and(u8::is_ascii_digit),
        Some(_) => false,
    };
    if starts_like_literal {
        Err(err)
    } else {
        Ok(PyValue::Str(t.to_string()))
    }
}

/// Formats a float the way Python's `repr(float)` / f-string `{x}` does
/// (`0.0`, `1.5`, `7.000000000000001`, `1e-05`, `1e+16`, `nan`, `inf`).
pub fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip digits, in scientific form: "d.ddde<exp>".
    let sci = format!("{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() { first.to_string() } else { format!("{first}.{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mant}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use PyValue::*;

    fn ok(t: &str) -> PyValue {
        parse_py_value(t).unwrap_or_else(|e| panic!("{t:?}: {e}"))
    }

    #[test]
    fn literals() {
        assert_eq!(ok("8"), Int(8));
        assert_eq!(ok(" -3 "), Int(-3));
        assert_eq!(ok("+3"), Int(3));
        assert_eq!(ok("1_000"), Int(1000));
        assert_eq!(ok("0.5"), Float(0.5));
        assert_eq!(ok(".5"), Float(0.5));
        assert_eq!(ok("2."), Float(2.0));
        assert_eq!(ok("1e-3"), Float(0.001));
        assert_eq!(ok("1E3"), Float(1000.0));
        assert_eq!(ok("1e999"), Float(f64::INFINITY));
        assert_eq!(ok("none"), None);
        assert_eq!(ok("None"), None);
        assert_eq!(ok("True"), Bool(true));
        assert_eq!(ok("false"), Bool(false));
        assert_eq!(ok("inf"), Str("inf".into()));
        assert_eq!(ok("-1,1"), Tuple(vec![Int(-1), Int(1)]));
        assert_eq!(ok("(-1, 1)"), Tuple(vec![Int(-1), Int(1)]));
        assert_eq!(ok("(0,1)"), Tuple(vec![Int(0), Int(1)]));
        assert_eq!(ok("(0.5,)"), Tuple(vec![Float(0.5)]));
        assert_eq!(ok("(7)"), Int(7));
        assert_eq!(ok("()"), Tuple(vec![]));
        assert_eq!(ok("[-1,1]"), List(vec![Int(-1), Int(1)]));
        assert_eq!(ok("[1]"), List(vec![Int(1)]));
        assert_eq!(ok("'8'"), Str("8".into()));
        assert_eq!(ok("\"a\\\"b\""), Str("a\"b".into()));
        assert_eq!(ok("'a,b'"), Str("a,b".into()));
        assert_eq!(ok("\"quantile\""), Str("quantile".into()));
        assert_eq!(ok("quantile"), Str("quantile".into()));
        assert_eq!(ok("(0, (1, 'a'))"), Tuple(vec![Int(0), Tuple(vec![Int(1), Str("a".into())])]));
        for bad in [
            "",
            "   ",
            "(1, 2",
            "1 2",
            "'abc",
            "'open",
            "'a' b",
            "12abc",
            "1e",
            "1__0",
            "1_",
            "-",
            "99999999999999999999",
        ] {
            assert!(parse_py_value(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_py_value("").unwrap_err().reason, "the value is empty");
        assert_eq!(parse_py_value("1e").unwrap_err().reason, "'1e' is not a number");
        assert_eq!(
            parse_py_value("99999999999999999999").unwrap_err().reason,
            "'99999999999999999999' is out of range for a 64-bit integer"
        );
    }

    #[test]
    fn param_values_fall_back_to_bare_text() {
        assert_eq!(parse_param_value("-"), Ok(Str("-".into())));
        assert_eq!(parse_param_value(" a-b "), Ok(Str("a-b".into())));
        assert_eq!(parse_param_value("-inf"), Ok(Str("-inf".into())));
        assert_eq!(parse_param_value("{\"a\": 1}"), Ok(Str("{\"a\": 1}".into())));
        assert_eq!(parse_param_value("8"), Ok(Int(8)));
        for bad in ["", "  ", "12abc", "1e", "1__0", "'open", "'a' b", "(1, 2", "-1x", ".5.5"] {
            assert!(parse_param_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repr() {
        assert_eq!(ok("(-1, 1)").to_string(), "(-1, 1)");
        assert_eq!(ok("(0.5,)").to_string(), "(0.5,)");
        assert_eq!(ok("[True, None, 'x', 1.0]").to_string(), "[True, None, 'x', 1.0]");
        assert_eq!(Str("a'b".into()).to_string(), "'a\\'b'");
        assert_eq!(None.type_name(), "NoneType");
        assert_eq!(None.kind_name(), "none");
    }

    #[test]
    fn python_float_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.14, "0.14"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (7.000000000000001, "7.000000000000001"),
            (123.456, "123.456"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(py_float_repr(v), want, "{v:?}");
        }
    }
}
