//! Parameter values checked against a schema ([`ParamSpec`]s, usually `info().params`).
//!
//! The host hands parameters over as `(name, value-text)` pairs. [`ParamSet::parse`] applies
//! the plugin rules: every name declared and given at most once, every value readable
//! ([`parse_param_value`], finite) and of one of its spec's kinds. [`ParamSet::parse_literals`]
//! applies the pyts transforms' rules: declared names, given once, strict Python literals
//! ([`parse_py_value`]), types left to the transform's own checks. The getters then read a
//! value, falling back to the schema's default when it was not given.
//!
//! ```
//! use cgaf_plugin_contract::{ParamError, ParamSet, ParamSpec};
//!
//! let schema = vec![
//!     ParamSpec::new("fast", "int", "10", "Fast window, bars."),
//!     ParamSpec::new("alpha", "float", "0.5", "Smoothing factor."),
//!     ParamSpec::new("mode", "str", "'close'", "Price used."),
//!     ParamSpec::new("verbose", "bool", "False", "Explain decisions."),
//! ];
//! let p = ParamSet::parse(&schema, [("fast", "5"), ("alpha", "1")])?;
//! assert_eq!(p.get_int("fast")?, 5);
//! assert_eq!(p.get_f64("alpha")?, 1.0);
//! assert_eq!(p.get_str("mode")?, "close");
//! assert!(!p.get_bool("verbose")?);
//!
//! let err = ParamSet::parse(&schema, [("fast", "1.5")]).unwrap_err();
//! assert_eq!(err.to_string(), "parameter 'fast' must be an int, got '1.5'");
//! # Ok::<(), ParamError>(())
//! ```

use crate::{parse_param_value, parse_py_value, ParamError, ParamSpec, PyValue};

/// The kind names [`accepts`] knows.
const KINDS: [&str; 7] = ["none", "bool", "int", "float", "str", "tuple", "list"];

/// A kind name with its synonyms resolved (`integer` → `int`), lower-cased.
fn canonical_kind(k: &str) -> String {
    let k = k.trim().to_ascii_lowercase();
    match k.as_str() {
        "nonetype" => "none".into(),
        "string" => "str".into(),
        "integer" => "int".into(),
        _ => k,
    }
}

/// Whether `value` fits a spec's `kind` (`int|float`, `str`, ...): kind names are
/// case-insensitive, an `int` fits `float`, and a kind naming no known type accepts anything.
pub fn accepts(kind: &str, value: &PyValue) -> bool {
    let mut known = false;
    for k in kind.split('|').map(canonical_kind) {
        if !KINDS.contains(&k.as_str()) {
            continue;
        }
        known = true;
        if k == value.kind_name() || (k == "float" && matches!(value, PyValue::Int(_))) {
            return true;
        }
    }
    !known
}

/// A spec's `kind` in words: `int|none` → `an int or none`.
pub fn kind_phrase(kind: &str) -> String {
    let parts: Vec<String> = kind
        .split('|')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| match canonical_kind(k).as_str() {
            "none" => "none".to_string(),
            "int" => "an int".to_string(),
            _ => format!("a {}", k.to_ascii_lowercase()),
        })
        .collect();
    match parts.len() {
        0 => "a value".into(),
        1 => parts[0].clone(),
        n => format!("{} or {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

/// Which rules [`ParamSet`] applies to the given values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// Plugins: bare-word fallback, finite floats, kinds checked.
    Plugin,
    /// pyts transforms: strict literals, types left to the caller.
    Literals,
}

/// One given parameter.
#[derive(Debug, Clone)]
struct Given {
    /// Index into the schema.
    spec: usize,
    value: PyValue,
    /// The value text as given, trimmed.
    text: String,
}

/// Parameters checked against a schema; read them with the typed getters.
#[derive(Debug, Clone)]
pub struct ParamSet<'s> {
    schema: &'s [ParamSpec],
    given: Vec<Given>,
}

impl<'s> ParamSet<'s> {
    /// Checks `(name, value)` pairs with the plugin rules: every name must be declared, given
    /// at most once, with a readable, finite value of one of the declared kinds. The first
    /// fault, in the order given, is the error.
    pub fn parse<'p>(
        schema: &'s [ParamSpec],
        pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<ParamSet<'s>, ParamError> {
        Self::read(schema, pairs, Rules::Plugin)
    }

    /// Checks `(name, value)` pairs with the pyts rules: declared names, given at most once,
    /// strict Python literals (a float may be infinite); the types are the caller's to check.
    pub fn parse_literals<'p>(
        schema: &'s [ParamSpec],
        pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<ParamSet<'s>, ParamError> {
        Self::read(schema, pairs, Rules::Literals)
    }

    fn read<'p>(
        schema: &'s [ParamSpec],
        pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
        rules: Rules,
    ) -> Result<ParamSet<'s>, ParamError> {
        let mut given: Vec<Given> = Vec::new();
        for (name, text) in pairs {
            let name = name.trim();
            let Some(spec) = schema.iter().position(|s| s.name == name) else {
                return Err(ParamError::Unknown {
                    name: name.to_string(),
                    accepted: schema.iter().map(|s| s.name.clone()).collect(),
                });
            };
            if given.iter().any(|g| g.spec == spec) {
                return Err(ParamError::Duplicate(name.to_string()));
            }
            let unreadable =
                |reason: String| ParamError::Unreadable { name: name.to_string(), value: text.to_string(), reason };
            let value = match rules {
                Rules::Plugin => parse_param_value(text),
                Rules::Literals => parse_py_value(text),
            }
            .map_err(|e| unreadable(e.reason))?;
            let trimmed = text.trim();
            if rules == Rules::Plugin {
                if !value.is_finite() {
                    return Err(unreadable(format!("'{trimmed}' is out of range for a float")));
                }
                let kind = &schema[spec].kind;
                if !accepts(kind, &value) {
                    return Err(ParamError::WrongKind {
                        name: name.to_string(),
                        expected: kind_phrase(kind),
                        text: trimmed.to_string(),
                    });
                }
            }
            given.push(Given { spec, value, text: trimmed.to_string() });
        }
        Ok(ParamSet { schema, given })
    }

    fn given(&self, name: &str) -> Option<&Given> {
        self.given.iter().find(|g| self.schema[g.spec].name == name)
    }

    /// The given values in the order given, with their declared names.
    pub fn iter(&self) -> impl Iterator<Item = (&'s str, &PyValue)> + '_ {
        let schema = self.schema;
        self.given.iter().map(move |g| (schema[g.spec].name.as_str(), &g.value))
    }

    /// The value given for `name`, if any (no default).
    pub fn get(&self, name: &str) -> Option<&PyValue> {
        self.given(name).map(|g| &g.value)
    }

    /// Whether the caller gave `name` (rather than relying on its default).
    pub fn is_given(&self, name: &str) -> bool {
        self.given(name).is_some()
    }

    /// The value text of `name` as given, else its schema default; `None` when `name` is not
    /// declared.
    pub fn raw(&self, name: &str) -> Option<&str> {
        if let Some(g) = self.given(name) {
            return Some(&g.text);
        }
        self.schema.iter().find(|s| s.name == name).map(|s| s.default.as_str())
    }

    /// The value of `name` (given, else the schema default, read with [`parse_param_value`]).
    pub fn value(&self, name: &str) -> Result<PyValue, ParamError> {
        if let Some(g) = self.given(name) {
            return Ok(g.value.clone());
        }
        let Some(spec) = self.schema.iter().find(|s| s.name == name) else {
            return Err(ParamError::Undeclared(name.to_string()));
        };
        parse_param_value(&spec.default)
            .map_err(|e| ParamError::BadDefault { name: name.to_string(), reason: e.reason })
    }

    /// An integer parameter.
    pub fn get_int(&self, name: &str) -> Result<i64, ParamError> {
        match self.value(name)? {
            PyValue::Int(v) => Ok(v),
            other => Err(self.wrong(name, "an int", &other)),
        }
    }

    /// A float parameter (an integer value is accepted); finite when given.
    pub fn get_f64(&self, name: &str) -> Result<f64, ParamError> {
        match self.value(name)? {
            PyValue::Float(v) => Ok(v),
            PyValue::Int(v) => Ok(v as f64),
            other => Err(self.wrong(name, "a float", &other)),
        }
    }

    /// A boolean parameter (`true`/`True`/`false`/`False`).
    pub fn get_bool(&self, name: &str) -> Result<bool, ParamError> {
        match self.value(name)? {
            PyValue::Bool(v) => Ok(v),
            other => Err(self.wrong(name, "a bool", &other)),
        }
    }

    /// A string parameter (quoted, or a bare word).
    pub fn get_str(&self, name: &str) -> Result<String, ParamError> {
        match self.value(name)? {
            PyValue::Str(v) => Ok(v),
            other => Err(self.wrong(name, "a str", &other)),
        }
    }

    /// An integer parameter that may be `none`.
    pub fn get_opt_int(&self, name: &str) -> Result<Option<i64>, ParamError> {
        match self.value(name)? {
            PyValue::None => Ok(None),
            _ => self.get_int(name).map(Some),
        }
    }

    /// A float parameter that may be `none`.
    pub fn get_opt_f64(&self, name: &str) -> Result<Option<f64>, ParamError> {
        match self.value(name)? {
            PyValue::None => Ok(None),
            _ => self.get_f64(name).map(Some),
        }
    }

    /// A string parameter that may be `none`.
    pub fn get_opt_str(&self, name: &str) -> Result<Option<String>, ParamError> {
        match self.value(name)? {
            PyValue::None => Ok(None),
            _ => self.get_str(name).map(Some),
        }
    }

    fn wrong(&self, name: &str, want: &'static str, got: &PyValue) -> ParamError {
        ParamError::WrongType {
            name: name.to_string(),
            want,
            text: self.raw(name).unwrap_or_default().to_string(),
            got: got.kind_name(),
        }
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

    fn parse<'s>(s: &'s [ParamSpec], pairs: &[(&str, &str)]) -> Result<ParamSet<'s>, ParamError> {
        ParamSet::parse(s, pairs.iter().copied())
    }

    #[test]
    fn defaults_and_given() {
        let s = schema();
        let params = parse(&s, &[("fast", "5"), ("alpha", "1"), ("on", "true"), ("mode", "uniform")]).unwrap();
        assert_eq!(params.get_int("fast"), Ok(5));
        assert_eq!(params.get_int("slow"), Ok(30));
        assert_eq!(params.get_f64("alpha"), Ok(1.0));
        assert_eq!(params.get_bool("on"), Ok(true));
        assert_eq!(params.get_str("mode"), Ok("uniform".into()));
        assert_eq!(params.get_opt_int("cap"), Ok(None));
        assert!(params.is_given("fast"));
        assert!(!params.is_given("slow"));
        assert_eq!(params.raw("range"), Some("(-1, 1)"));
        assert_eq!(params.raw("nope"), None);
        let d = parse(&s, &[]).unwrap();
        assert_eq!(d.get_f64("alpha"), Ok(0.5));
        assert_eq!(d.get_bool("on"), Ok(false));
        assert_eq!(d.get_str("mode"), Ok("quantile".into()));
        let c = parse(&s, &[("cap", "7"), ("anything", "{\"a\": 1}"), ("range", "0,1")]).unwrap();
        assert_eq!(c.get_opt_int("cap"), Ok(Some(7)));
        assert_eq!(c.raw("anything"), Some("{\"a\": 1}"));
        assert_eq!(c.get("range"), Some(&PyValue::Tuple(vec![PyValue::Int(0), PyValue::Int(1)])));
    }

    #[test]
    fn refusals_name_the_parameter() {
        let s = schema();
        let msg = |pairs: &[(&str, &str)]| parse(&s, pairs).unwrap_err().to_string();
        assert_eq!(
            msg(&[("fats", "5")]),
            "unknown parameter 'fats'; accepted parameters: fast, slow, alpha, on, mode, cap, range, anything"
        );
        assert_eq!(msg(&[("fast", "5"), ("fast", "6")]), "parameter 'fast' was given more than once");
        assert_eq!(msg(&[("fast", "1.5")]), "parameter 'fast' must be an int, got '1.5'");
        assert_eq!(msg(&[("fast", "true")]), "parameter 'fast' must be an int, got 'true'");
        assert_eq!(msg(&[("alpha", "'x'")]), "parameter 'alpha' must be a float, got ''x''");
        assert_eq!(msg(&[("on", "1")]), "parameter 'on' must be a bool, got '1'");
        assert_eq!(msg(&[("cap", "x")]), "parameter 'cap' must be an int or none, got 'x'");
        assert_eq!(msg(&[("fast", "")]), "parameter 'fast' could not be read: the value is empty");
        assert_eq!(
            msg(&[("fast", "1e999")]),
            "parameter 'fast' could not be read: '1e999' is out of range for a float"
        );
        assert_eq!(msg(&[("fast", "1.5"), ("zzz", "1")]), "parameter 'fast' must be an int, got '1.5'");
        assert!(matches!(parse(&s, &[("mode", "3")]), Err(ParamError::WrongKind { .. })));
        assert_eq!(
            ParamSet::parse(&[], [("x", "1")]).unwrap_err().to_string(),
            "unknown parameter 'x'; accepted parameters: none"
        );
    }

    #[test]
    fn literal_rules_leave_types_to_the_caller() {
        let s = schema();
        let p = ParamSet::parse_literals(&s, [("fast", "'8'"), ("alpha", "1e999")]).unwrap();
        assert_eq!(p.get("fast"), Some(&PyValue::Str("8".into())));
        assert_eq!(p.get("alpha"), Some(&PyValue::Float(f64::INFINITY)));
        assert!(matches!(
            ParamSet::parse_literals(&s, [("mode", "a-b")]),
            Err(ParamError::Unreadable { reason, .. }) if reason == "unexpected text at offset 1"
        ));
    }

    #[test]
    fn undeclared_getter_is_a_plugin_bug() {
        let s = schema();
        let params = parse(&s, &[]).unwrap();
        let e = params.get_int("nope").unwrap_err();
        assert!(e.is_plugin_bug());
        let bad = vec![ParamSpec::new("x", "int", "oops", "A broken default.")];
        let params = ParamSet::parse(&bad, []).unwrap();
        let e = params.get_int("x").unwrap_err();
        assert_eq!(e.to_string(), "parameter 'x' must be an int, got 'oops' (str)");
        assert!(!e.is_plugin_bug());
    }
}
