//! The errors of the contract's rules: [`Error`] for names, versions, kinds and `info()`,
//! [`ParamError`] for parameter values checked against a schema.

/// A plugin name, version, kind or `info()` that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The name breaks [`check_plugin_name`](crate::check_plugin_name)'s rules.
    #[error("invalid plugin name {0:?}: 1 to 64 characters of a-z, 0-9 and '-', starting with a letter")]
    InvalidName(String),
    /// The version is not semver.
    #[error("invalid version {version:?}: expected semver MAJOR.MINOR.PATCH[-PRE][+BUILD] ({reason})")]
    InvalidVersion {
        /// The text given.
        version: String,
        /// What the semver parser objected to.
        reason: String,
    },
    /// A world name that is none of the three.
    #[error("unknown plugin kind {0:?}; one of image-transform, strategy, blender")]
    UnknownKind(String),
    /// `info()` claims another world than the one expected.
    #[error("info() says kind {declared}, expected {expected}")]
    WrongKind {
        /// What `info()` says.
        declared: crate::PluginKind,
        /// What the component exports (or the caller expects).
        expected: crate::PluginKind,
    },
    /// The description is too long.
    #[error("the description is longer than {} bytes", crate::MAX_DESCRIPTION_BYTES)]
    DescriptionTooLong,
    /// Too many parameters are declared.
    #[error("more than {} parameters are declared", crate::MAX_PARAMS)]
    TooManyParams,
    /// A declared parameter has an empty name.
    #[error("parameter {0} has an empty name")]
    EmptyParamName(usize),
    /// Two declared parameters share a name.
    #[error("parameter '{0}' is declared twice")]
    DuplicateParamName(String),
}

/// A parameter value refused against a schema; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A name the schema does not declare.
    #[error("unknown parameter '{name}'; accepted parameters: {}", accepted_list(.accepted))]
    Unknown {
        /// The name given.
        name: String,
        /// The declared names, in schema order.
        accepted: Vec<String>,
    },
    /// The same name was given twice.
    #[error("parameter '{0}' was given more than once")]
    Duplicate(String),
    /// The value text is not a value.
    #[error("parameter '{name}' could not be read: {reason}")]
    Unreadable {
        /// Parameter name.
        name: String,
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The value's type is none of the spec's `kind`s.
    #[error("parameter '{name}' must be {expected}, got '{text}'")]
    WrongKind {
        /// Parameter name.
        name: String,
        /// The accepted kinds, in words (`an int or none`).
        expected: String,
        /// The text given (trimmed).
        text: String,
    },
    /// A getter asked for another type than the value has.
    #[error("parameter '{name}' must be {want}, got '{text}' ({got})")]
    WrongType {
        /// Parameter name.
        name: String,
        /// The type asked for, in words (`an int`).
        want: &'static str,
        /// The value's text (given or default).
        text: String,
        /// The value's kind (`str`).
        got: &'static str,
    },
    /// A getter asked for a parameter the schema does not declare (a plugin bug).
    #[error("parameter '{0}' is not declared in the plugin's schema")]
    Undeclared(String),
    /// A declared default is not a value (a plugin bug).
    #[error("the default of parameter '{name}' could not be read: {reason}")]
    BadDefault {
        /// Parameter name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A plugin's own check of a value (`must be at least 1, got 0`).
    #[error("parameter '{name}' {what}")]
    Invalid {
        /// Parameter name.
        name: String,
        /// What is wrong, as the rest of the sentence.
        what: String,
    },
}

impl ParamError {
    /// Whether the fault is the plugin's (an undeclared name asked for, an unreadable
    /// default) rather than the caller's.
    pub fn is_plugin_bug(&self) -> bool {
        matches!(self, ParamError::Undeclared(_) | ParamError::BadDefault { .. })
    }
}

fn accepted_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
