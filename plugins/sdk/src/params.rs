//! Typed parameter parsing against a plugin's declared schema, with the contract's rules
//! ([`cgaf_plugin_contract::ParamSet`]) and errors as [`PluginError`]s.
//!
//! The host hands parameters over as `(name, value-text)` pairs, the text written as Python
//! would write it: `8`, `-3`, `1_000`, `0.5`, `1e-3`, `true`/`True`, `false`/`False`,
//! `none`/`None`, `'quoted'`/`"quoted"` or bare words (`quantile`), tuples `-1,1` / `(-1, 1)`
//! and lists `[1, 2]`. [`Params::parse`] checks every given pair against the schema
//! ([`ParamSpec`]s, usually `info().params`): unknown names, names given twice, unreadable
//! values and values whose type is not one of the spec's `kind` (`int`, `float`, `bool`, `str`,
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
use cgaf_plugin_contract::{ParamError, ParamSet};

pub use cgaf_plugin_contract::PyValue as Value;

impl From<ParamError> for PluginError {
    /// A fault of the plugin's own schema is [`PluginError::Failed`]; everything else is the
    /// caller's, [`PluginError::InvalidParams`].
    fn from(e: ParamError) -> PluginError {
        if e.is_plugin_bug() {
            PluginError::Failed(e.to_string())
        } else {
            PluginError::InvalidParams(e.to_string())
        }
    }
}

/// Parameters checked against a schema; read them with the typed getters.
#[derive(Debug, Clone)]
pub struct Params<'a>(ParamSet<'a>);

impl<'a> Params<'a> {
    /// Checks `params` against `schema`: every name must be declared, given at most once, with
    /// a readable value of one of the declared kinds. Errors are
    /// [`PluginError::InvalidParams`] naming the parameter.
    pub fn parse(schema: &'a [ParamSpec], params: &[Param]) -> Result<Params<'a>, PluginError> {
        Ok(Params(ParamSet::parse(schema, params.iter().map(|p| (p.name.as_str(), p.value.as_str())))?))
    }

    /// The checked set, for reading values as [`Value`]s.
    pub fn set(&self) -> &ParamSet<'a> {
        &self.0
    }

    /// Whether the caller gave `name` (rather than relying on its default).
    pub fn is_given(&self, name: &str) -> bool {
        self.0.is_given(name)
    }

    /// The value text of `name` as given, else its schema default; `None` when `name` is not
    /// declared.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.raw(name)
    }

    /// The value of `name` (given, else the schema default), parsed.
    pub fn value(&self, name: &str) -> Result<Value, PluginError> {
        Ok(self.0.value(name)?)
    }

    /// An integer parameter.
    pub fn get_int(&self, name: &str) -> Result<i64, PluginError> {
        Ok(self.0.get_int(name)?)
    }

    /// A float parameter (an integer value is accepted); always finite when given.
    pub fn get_f64(&self, name: &str) -> Result<f64, PluginError> {
        Ok(self.0.get_f64(name)?)
    }

    /// A boolean parameter (`true`/`True`/`false`/`False`).
    pub fn get_bool(&self, name: &str) -> Result<bool, PluginError> {
        Ok(self.0.get_bool(name)?)
    }

    /// A string parameter (quoted, or a bare word).
    pub fn get_str(&self, name: &str) -> Result<String, PluginError> {
        Ok(self.0.get_str(name)?)
    }

    /// An integer parameter that may be `none`.
    pub fn get_opt_int(&self, name: &str) -> Result<Option<i64>, PluginError> {
        Ok(self.0.get_opt_int(name)?)
    }

    /// A float parameter that may be `none`.
    pub fn get_opt_f64(&self, name: &str) -> Result<Option<f64>, PluginError> {
        Ok(self.0.get_opt_f64(name)?)
    }

    /// A string parameter that may be `none`.
    pub fn get_opt_str(&self, name: &str) -> Result<Option<String>, PluginError> {
        Ok(self.0.get_opt_str(name)?)
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
    ParamError::Invalid { name: name.to_string(), what: what.to_string() }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("fast", "int", "10", "Fast window."),
            ParamSpec::new("alpha", "float", "0.5", "Smoothing."),
            ParamSpec::new("cap", "int|none", "None", "Optional cap."),
        ]
    }

    #[test]
    fn errors_are_plugin_errors() {
        let s = schema();
        let p = |name: &str, value: &str| Param::new(name, value);
        assert_eq!(
            Params::parse(&s, &[p("fats", "5")]).unwrap_err(),
            PluginError::InvalidParams("unknown parameter 'fats'; accepted parameters: fast, alpha, cap".into())
        );
        assert_eq!(
            Params::parse(&s, &[p("fast", "1e999")]).unwrap_err().message(),
            "parameter 'fast' could not be read: '1e999' is out of range for a float"
        );
        let params = Params::parse(&s, &[p("cap", "7"), p("alpha", "1")]).unwrap();
        assert_eq!(params.get_opt_int("cap"), Ok(Some(7)));
        assert_eq!(params.get_f64("alpha"), Ok(1.0));
        assert_eq!(params.get_int("fast"), Ok(10));
        assert!(matches!(params.get_int("nope"), Err(PluginError::Failed(_))));
        assert_eq!(
            params.get_bool("cap").unwrap_err(),
            PluginError::InvalidParams("parameter 'cap' must be a bool, got '7' (int)".into())
        );
    }
}
