//! Typed parameter parsing against a plugin's declared schema.
//!
//! The host hands parameters over as `(name, value-text)` pairs, the text written as Python
//! would write it: `8`, `-3`, `1_000`, `0.5`, `1e-3`, `true`/`True`, `false`/`False`,
//! `none`/`None`, `'quoted'`/`"quoted"` or bare words (`quantile`), tuples `-1,1` / `(-1, 1)`
//! and lists `[1, 2]`. [`Params::parse`] checks every given pair against the schema
//! ([`ParamSpec`]s, usually `info().params`): unknown names, names given twice, empty values
//! and values whose type is not one of the spec's `kind` (`int`, `float`, `bool`, `str`,
//! `none`, `tuple`, `list`, `|`-separated; an `int` is accepted where a `float` is) are refused
//! with [`PluginError::InvalidParams`] naming the parameter. The getters then read a value,
//! falling back to the schema's `default` when it was not given.
//!
//! ```
//! use cgaf_plugin_sdk::{Param, ParamSpec, Params, PluginError};
//!
//! let schema = vec![
//!     ParamSpec::new("fast", "int", "10", "Fast window, bars."),
//!     ParamSpec::new("alpha", "float", "0.5", "Smoothing factor."),
//!     ParamSpec::new("mode", "str", "'close'", "Price used."),
//!     ParamSpec::new("verbose", "bool", "False", "Explain decisions."),
//! ];
//! let given = vec![Param::new("fast", "5"), Param::new("alpha", "1")];
//! let p = Params::parse(&schema, &given)?;
//! assert_eq!(p.get_int("fast")?, 5);
//! assert_eq!(p.get_f64("alpha")?, 1.0);
//! assert_eq!(p.get_str("mode")?, "close");
//! assert!(!p.get_bool("verbose")?);
//!
//! let err = Params::parse(&schema, &[Param::new("slow", "30")]).unwrap_err();
//! assert_eq!(
//!     err,
//!     PluginError::InvalidParams(
//!         "unknown parameter 'slow'; accepted parameters: fast, alpha, mode, verbose".into()
//!     )
//! );
//! let err = Params::parse(&schema, &[Param::new("fast", "1.5")]).unwrap_err();
//! assert_eq!(err.message(), "parameter 'fast' must be an int, got '1.5'");
//! # Ok::<(), PluginError>(())
//! ```

use crate::{Param, ParamSpec, PluginError};

/// The type of a parameter value text, as Python would read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None` / `none`.
    None,
    /// `True` / `true` / `False` / `false`.
    Bool(bool),
    /// An integer literal (`8`, `-3`, `1_000`).
    Int(i64),
    /// A float literal (`0.5`, `1e-3`, `2.`); always finite.
    Float(f64),
    /// A quoted string (quotes removed) or a bare word.
    Str(String),
    /// A tuple (`-1,1`, `(-1, 1)`), kept as its text.
    Tuple(String),
    /// A list (`[1, 2]`), kept as its text.
    List(String),
}

impl Value {
    /// Reads a value text. Errors name no parameter (the caller adds it).
    pub fn parse(text: &str) -> Result<Value, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("the value is empty".into());
        }
        match t {
            "None" | "none" => return Ok(Value::None),
            "True" | "true" => return Ok(Value::Bool(true)),
            "False" | "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        let first = t.as_bytes()[0];
        if first == b'[' {
            return Ok(Value::List(t.to_string()));
        }
        if first == b'(' || top_level_comma(t) {
            return Ok(Value::Tuple(t.to_string()));
        }
        if first == b'\'' || first == b'"' {
            return unquote(t).map(Value::Str);
        }
        if let Some(v) = number(t)? {
            return Ok(v);
        }
        Ok(Value::Str(t.to_string()))
    }

    /// The type name used in schema `kind`s and in messages: `none`, `bool`, `int`, `float`,
    /// `str`, `tuple`, `list`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "none",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
        }
    }

    /// Whether this value fits a schema `kind` (`int|float`, `str`, ...). Kind names are
    /// case-insensitive; an `int` fits `float`; a kind naming no known type accepts anything.
    pub fn fits(&self, kind: &str) -> bool {
        let mut known = false;
        for k in kind.split('|').map(|k| k.trim().to_ascii_lowercase()) {
            let k = match k.as_str() {
                "nonetype" => "none",
                "string" => "str",
                "integer" => "int",
                other => other,
            }
            .to_string();
            if !KINDS.contains(&k.as_str()) {
                continue;
            }
            known = true;
            if k == self.kind() || (k == "float" && matches!(self, Value::Int(_))) {
                return true;
            }
        }
        !known
    }
}

/// The kind names [`Value::fits`] knows.
const KINDS: [&str; 7] = ["none", "bool", "int", "float", "str", "tuple", "list"];

/// A comma outside brackets and quotes.
fn top_level_comma(t: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in t.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ',' if depth == 0 => return true,
                _ => {}
            },
        }
    }
    false
}

/// A quoted string without its quotes; `\\`, `\'`, `\"`, `\n`, `\t` unescaped.
fn unquote(t: &str) -> Result<String, String> {
    let mut chars = t.chars();
    let q = chars.next().unwrap_or('\'');
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == q {
            if chars.as_str().trim().is_empty() {
                return Ok(out);
            }
            return Err(format!("unexpected text after the closing quote: {:?}", chars.as_str()));
        }
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e @ ('\\' | '\'' | '"')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated string".into())
}

/// An int or float literal (`[+-]digits[.digits][e[+-]digits]`, `_` between digits), or `None`
/// when `t` does not look like a number at all.
fn number(t: &str) -> Result<Option<Value>, String> {
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits_from = |mut i: usize| {
        let start = i;
        while i < b.len()
            && (b[i].is_ascii_digit()
                || (b[i] == b'_'
                    && i > start
                    && b[i - 1].is_ascii_digit()
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
        }
        i
    };
    let int_end = digits_from(i);
    let mut end = int_end;
    let mut float = false;
    if end < b.len() && b[end] == b'.' {
        float = true;
        end = digits_from(end + 1);
    }
    let mantissa_digits = b[i..end].iter().any(u8::is_ascii_digit);
    if !mantissa_digits {
        return Ok(None);
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        float = true;
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = digits_from(j);
        if k == j {
            return Err(format!("'{t}' is not a number"));
        }
        end = k;
    }
    if end != b.len() {
        // `12abc`: starts like a number but is not one.
        return Err(format!("'{t}' is not a number"));
    }
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    if float {
        match clean.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(Value::Float(v))),
            _ => Err(format!("'{t}' is out of range for a float")),
        }
    } else {
        clean.parse::<i64>().map(|v| Some(Value::Int(v))).map_err(|_| format!("'{t}' is out of range for a 64-bit int"))
    }
}

/// Parameters checked against a schema; read them with the typed getters.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    schema: &'a [ParamSpec],
    /// `(index into schema, parsed value, original text)` per given parameter.
    given: Vec<(usize, Value, String)>,
}

impl<'a> Params<'a> {
    /// Checks `params` against `schema`: every name must be declared, given at most once, with
    /// a non-empty value of one of the declared kinds. Errors are
    /// [`PluginError::InvalidParams`] naming the parameter.
    pub fn parse(schema: &'a [ParamSpec], params: &[Param]) -> Result<Params<'a>, PluginError> {
        let mut given: Vec<(usize, Value, String)> = Vec::with_capacity(params.len());
        for p in params {
            let name = p.name.trim();
            let Some(idx) = schema.iter().position(|s| s.name == name) else {
                let accepted: Vec<&str> = schema.iter().map(|s| s.name.as_str()).collect();
                let accepted = if accepted.is_empty() { "none".to_string() } else { accepted.join(", ") };
                return Err(PluginError::InvalidParams(format!(
                    "unknown parameter '{name}'; accepted parameters: {accepted}"
                )));
            };
            if given.iter().any(|(i, _, _)| *i == idx) {
                return Err(PluginError::InvalidParams(format!("parameter '{name}' was given more than once")));
            }
            let value = Value::parse(&p.value).map_err(|e| invalid(name, &format!("could not be read: {e}")))?;
            let spec = &schema[idx];
            if !value.fits(&spec.kind) {
                return Err(invalid(name, &format!("must be {}, got '{}'", kind_phrase(&spec.kind), p.value.trim())));
            }
            given.push((idx, value, p.value.trim().to_string()));
        }
        Ok(Params { schema, given })
    }

    /// Whether the caller gave `name` (rather than relying on its default).
    pub fn is_given(&self, name: &str) -> bool {
        self.given.iter().any(|(i, _, _)| self.schema[*i].name == name)
    }

    /// The value text of `name` as given, else its schema default; `None` when `name` is not
    /// declared.
    pub fn raw(&self, name: &str) -> Option<&str> {
        if let Some((_, _, text)) = self.given.iter().find(|(i, _, _)| self.schema[*i].name == name) {
            return Some(text);
        }
        self.schema.iter().find(|s| s.name == name).map(|s| s.default.as_str())
    }

    /// The value of `name` (given, else the schema default), parsed.
    pub fn value(&self, name: &str) -> Result<Value, PluginError> {
        if let Some((_, v, _)) = self.given.iter().find(|(i, _, _)| self.schema[*i].name == name) {
            return Ok(v.clone());
        }
        let Some(spec) = self.schema.iter().find(|s| s.name == name) else {
            return Err(PluginError::Failed(format!("parameter '{name}' is not declared in the plugin's schema")));
        };
        Value::parse(&spec.default)
            .map_err(|e| PluginError::Failed(format!("the default of parameter '{name}' could not be read: {e}")))
    }

    /// An integer parameter.
    pub fn get_int(&self, name: &str) -> Result<i64, PluginError> {
        match self.value(name)? {
            Value::Int(v) => Ok(v),
            other => Err(self.wrong(name, "an int", &other)),
        }
    }

    /// A float parameter (an integer value is accepted); always finite.
    pub fn get_f64(&self, name: &str) -> Result<f64, PluginError> {
        match self.value(name)? {
            Value::Float(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            other => Err(self.wrong(name, "a float", &other)),
        }
    }

    /// A boolean parameter (`true`/`True`/`false`/`False`).
    pub fn get_bool(&self, name: &str) -> Result<bool, PluginError> {
        match self.value(name)? {
            Value::Bool(v) => Ok(v),
            other => Err(self.wrong(name, "a bool", &other)),
        }
    }

    /// A string parameter (quoted, or a bare word).
    pub fn get_str(&self, name: &str) -> Result<String, PluginError> {
        match self.value(name)? {
            Value::Str(v) => Ok(v),
            other => Err(self.wrong(name, "a str", &other)),
        }
    }

    /// An integer parameter that may be `none`.
    pub fn get_opt_int(&self, name: &str) -> Result<Option<i64>, PluginError> {
        match self.value(name)? {
            Value::None => Ok(None),
            _ => self.get_int(name).map(Some),
        }
    }

    /// A float parameter that may be `none`.
    pub fn get_opt_f64(&self, name: &str) -> Result<Option<f64>, PluginError> {
        match self.value(name)? {
            Value::None => Ok(None),
            _ => self.get_f64(name).map(Some),
        }
    }

    /// A string parameter that may be `none`.
    pub fn get_opt_str(&self, name: &str) -> Result<Option<String>, PluginError> {
        match self.value(name)? {
            Value::None => Ok(None),
            _ => self.get_str(name).map(Some),
        }
    }

    fn wrong(&self, name: &str, want: &str, got: &Value) -> PluginError {
        let text = self.raw(name).unwrap_or_default();
        invalid(name, &format!("must be {want}, got '{text}' ({})", got.kind()))
    }
}

/// `PluginError::InvalidParams("parameter '<name>' <what>")`, the shape every parameter error
/// of the SDK has; plugins can use it for their own range checks.
///
/// ```
/// use cgaf_plugin_sdk::params::invalid;
/// assert_eq!(invalid("fast", "must be at least 1, got 0").message(), "parameter 'fast' must be at least 1, got 0");
/// ```
pub fn invalid(name: &str, what: &str) -> PluginError {
    PluginError::InvalidParams(format!("parameter '{name}' {what}"))
}

/// `int|float` → `an int or a float`.
fn kind_phrase(kind: &str) -> String {
    let parts: Vec<String> = kind
        .split('|')
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(|k| match k.to_ascii_lowercase().as_str() {
            "none" | "nonetype" => "none".to_string(),
            "int" | "integer" => "an int".to_string(),
            other => format!("a {other}"),
        })
        .collect();
    match parts.len() {
        0 => "a value".into(),
        1 => parts[0].clone(),
        n => format!("{} or {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("fast", "int", "10", "Fast window."),
            ParamSpec::new("slow", "int", "30", "Slow window."),
            ParamSpec::new("alpha", "float", "0.5", "Smoothing."),
            ParamSpec::new("on", "bool", "False", "Switch."),
            ParamSpec::new("mode", "str", "'quantile'", "Mode."),
            ParamSpec::new("cap", "int|none", "None", "Optional cap."),
            ParamSpec::new("range", "tuple|none", "(-1, 1)", "A range."),
            ParamSpec::new("anything", "json", "{}", "Unknown kind accepts any text."),
        ]
    }

    fn p(name: &str, value: &str) -> Param {
        Param::new(name, value)
    }

    #[test]
    fn values() {
        use Value::*;
        assert_eq!(Value::parse("8"), Ok(Int(8)));
        assert_eq!(Value::parse(" -3 "), Ok(Int(-3)));
        assert_eq!(Value::parse("+3"), Ok(Int(3)));
        assert_eq!(Value::parse("1_000"), Ok(Int(1000)));
        assert_eq!(Value::parse("0.5"), Ok(Float(0.5)));
        assert_eq!(Value::parse(".5"), Ok(Float(0.5)));
        assert_eq!(Value::parse("2."), Ok(Float(2.0)));
        assert_eq!(Value::parse("1e-3"), Ok(Float(0.001)));
        assert_eq!(Value::parse("1E3"), Ok(Float(1000.0)));
        assert_eq!(Value::parse("None"), Ok(None));
        assert_eq!(Value::parse("none"), Ok(None));
        assert_eq!(Value::parse("True"), Ok(Bool(true)));
        assert_eq!(Value::parse("false"), Ok(Bool(false)));
        assert_eq!(Value::parse("'8'"), Ok(Str("8".into())));
        assert_eq!(Value::parse("\"a\\\"b\""), Ok(Str("a\"b".into())));
        assert_eq!(Value::parse("quantile"), Ok(Str("quantile".into())));
        assert_eq!(Value::parse("inf"), Ok(Str("inf".into())));
        assert_eq!(Value::parse("-1,1"), Ok(Tuple("-1,1".into())));
        assert_eq!(Value::parse("(0, 1)"), Ok(Tuple("(0, 1)".into())));
        assert_eq!(Value::parse("[1]"), Ok(List("[1]".into())));
        assert_eq!(Value::parse("'a,b'"), Ok(Str("a,b".into())));
        assert!(Value::parse("").is_err());
        assert!(Value::parse("   ").is_err());
        assert!(Value::parse("12abc").is_err());
        assert!(Value::parse("1e").is_err());
        assert!(Value::parse("1e999").is_err());
        assert!(Value::parse("99999999999999999999").is_err());
        assert!(Value::parse("'open").is_err());
        assert!(Value::parse("'a' b").is_err());
        assert!(Value::parse("1__0").is_err());
        assert_eq!(Value::parse("-"), Ok(Str("-".into())));
    }

    #[test]
    fn defaults_and_given() {
        let s = schema();
        let params =
            Params::parse(&s, &[p("fast", "5"), p("alpha", "1"), p("on", "true"), p("mode", "uniform")]).unwrap();
        assert_eq!(params.get_int("fast"), Ok(5));
        assert_eq!(params.get_int("slow"), Ok(30));
        assert_eq!(params.get_f64("alpha"), Ok(1.0));
        assert_eq!(params.get_bool("on"), Ok(true));
        assert_eq!(params.get_str("mode"), Ok("uniform".into()));
        assert_eq!(params.get_opt_int("cap"), Ok(Option::None));
        assert!(params.is_given("fast"));
        assert!(!params.is_given("slow"));
        assert_eq!(params.raw("range"), Some("(-1, 1)"));
        assert_eq!(params.raw("nope"), Option::None);
        let d = Params::parse(&s, &[]).unwrap();
        assert_eq!(d.get_f64("alpha"), Ok(0.5));
        assert_eq!(d.get_bool("on"), Ok(false));
        assert_eq!(d.get_str("mode"), Ok("quantile".into()));
        let c = Params::parse(&s, &[p("cap", "7"), p("anything", "{\"a\": 1}")]).unwrap();
        assert_eq!(c.get_opt_int("cap"), Ok(Some(7)));
        assert_eq!(c.raw("anything"), Some("{\"a\": 1}"));
    }

    #[test]
    fn refusals_name_the_parameter() {
        let s = schema();
        let msg = |params: &[Param]| Params::parse(&s, params).unwrap_err();
        assert_eq!(
            msg(&[p("fats", "5")]),
            PluginError::InvalidParams(
                "unknown parameter 'fats'; accepted parameters: fast, slow, alpha, on, mode, cap, range, anything"
                    .into()
            )
        );
        assert_eq!(msg(&[p("fast", "5"), p("fast", "6")]).message(), "parameter 'fast' was given more than once");
        assert_eq!(msg(&[p("fast", "1.5")]).message(), "parameter 'fast' must be an int, got '1.5'");
        assert_eq!(msg(&[p("fast", "true")]).message(), "parameter 'fast' must be an int, got 'true'");
        assert_eq!(msg(&[p("alpha", "'x'")]).message(), "parameter 'alpha' must be a float, got ''x''");
        assert_eq!(msg(&[p("on", "1")]).message(), "parameter 'on' must be a bool, got '1'");
        assert_eq!(msg(&[p("cap", "x")]).message(), "parameter 'cap' must be an int or none, got 'x'");
        assert_eq!(msg(&[p("fast", "")]).message(), "parameter 'fast' could not be read: the value is empty");
        assert_eq!(
            msg(&[p("fast", "1e999")]).message(),
            "parameter 'fast' could not be read: '1e999' is out of range for a float"
        );
        assert!(matches!(msg(&[p("mode", "3")]), PluginError::InvalidParams(_)));
        let empty: Vec<ParamSpec> = Vec::new();
        assert_eq!(
            Params::parse(&empty, &[p("x", "1")]).unwrap_err().message(),
            "unknown parameter 'x'; accepted parameters: none"
        );
    }

    #[test]
    fn undeclared_getter_is_a_plugin_bug() {
        let s = schema();
        let params = Params::parse(&s, &[]).unwrap();
        assert!(matches!(params.get_int("nope"), Err(PluginError::Failed(_))));
        let bad = vec![ParamSpec::new("x", "int", "oops", "A broken default.")];
        let params = Params::parse(&bad, &[]).unwrap();
        assert_eq!(params.get_int("x").unwrap_err().message(), "parameter 'x' must be an int, got 'oops' (str)");
    }
}
