//! What a plugin's `info()` answers: its name, version, world, description and parameter
//! schema, and the checks the host applies to it before registering the plugin.

use crate::{check_plugin_name, parse_version, Error};

/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// The most parameters a plugin may declare.
pub const MAX_PARAMS: usize = 256;

/// Which world a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum PluginKind {
    /// `image-transform`: a series in, a square matrix out.
    ImageTransform,
    /// `strategy`: bars in, one decision per bar out.
    Strategy,
    /// `blender`: the last k matrices in, one matrix out.
    Blender,
}

impl PluginKind {
    /// The WIT world name: `image-transform`, `strategy` or `blender`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::ImageTransform => "image-transform",
            PluginKind::Strategy => "strategy",
            PluginKind::Blender => "blender",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PluginKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "image-transform" => Ok(PluginKind::ImageTransform),
            "strategy" => Ok(PluginKind::Strategy),
            "blender" => Ok(PluginKind::Blender),
            _ => Err(Error::UnknownKind(s.to_string())),
        }
    }
}

/// One declared parameter: what [`ParamSet`](crate::ParamSet) checks given values against.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ParamSpec {
    /// Name.
    pub name: String,
    /// Accepted value kinds, `|`-separated: `int`, `float`, `bool`, `str`, `none`, `tuple`,
    /// `list` (case-insensitive; `integer`, `string`, `nonetype` are synonyms; an `int` is
    /// accepted where a `float` is; a kind naming no known type accepts anything).
    pub kind: String,
    /// Default, written as a Python literal.
    pub default: String,
    /// Meaning and unit.
    pub doc: String,
}

impl ParamSpec {
    /// A parameter declaration: name, accepted kinds (`int`, `float|none`, ...), default as
    /// Python text, and what it means.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        default: impl Into<String>,
        doc: impl Into<String>,
    ) -> ParamSpec {
        ParamSpec { name: name.into(), kind: kind.into(), default: default.into(), doc: doc.into() }
    }
}

/// What `info()` says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PluginInfo {
    /// Registry name ([`check_plugin_name`]).
    pub name: String,
    /// Semantic version ([`parse_version`]).
    pub version: String,
    /// World.
    pub kind: PluginKind,
    /// Description.
    pub description: String,
    /// Parameter schema.
    pub params: Vec<ParamSpec>,
}

impl PluginInfo {
    /// A plugin description.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        kind: PluginKind,
        description: impl Into<String>,
        params: Vec<ParamSpec>,
    ) -> PluginInfo {
        PluginInfo { name: name.into(), version: version.into(), kind, description: description.into(), params }
    }

    /// Checks what the host checks before registering a plugin: the name
    /// ([`check_plugin_name`]), the version ([`parse_version`]), a description of at most
    /// [`MAX_DESCRIPTION_BYTES`], at most [`MAX_PARAMS`] parameters, each with a non-empty name
    /// declared once.
    ///
    /// ```
    /// use cgaf_plugin_contract::{PluginInfo, PluginKind};
    /// let ok = PluginInfo::new("sma-cross", "1.0.0", PluginKind::Strategy, "SMA crossover.", vec![]);
    /// assert!(ok.validate().is_ok());
    /// let bad = PluginInfo::new("BAD NAME!", "not-semver", PluginKind::Strategy, "", vec![]);
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        check_plugin_name(&self.name)?;
        parse_version(&self.version)?;
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(Error::DescriptionTooLong);
        }
        if self.params.len() > MAX_PARAMS {
            return Err(Error::TooManyParams);
        }
        for (i, p) in self.params.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(Error::EmptyParamName(i));
            }
            if self.params[..i].iter().any(|q| q.name == p.name) {
                return Err(Error::DuplicateParamName(p.name.clone()));
            }
        }
        Ok(())
    }

    /// [`PluginInfo::validate`], and the kind must be `expected`.
    pub fn validate_as(&self, expected: PluginKind) -> Result<(), Error> {
        if self.kind != expected {
            return Err(Error::WrongKind { declared: self.kind, expected });
        }
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, version: &str) -> PluginInfo {
        PluginInfo::new(name, version, PluginKind::Blender, "x", vec![])
    }

    #[test]
    fn validation() {
        for (name, version) in [("blend-mean", "1.0.0"), ("a", "0.1.0-rc.1+build.5"), ("x9", "10.20.30")] {
            assert_eq!(info(name, version).validate_as(PluginKind::Blender), Ok(()), "{name} {version}");
        }
        for (name, version) in
            [("BAD NAME!", "1.0.0"), ("", "1.0.0"), ("-a", "1.0.0"), ("a", "not-semver"), ("a", "1.0"), ("a", "01.0.0")]
        {
            assert!(info(name, version).validate().is_err(), "{name} {version}");
        }
        assert_eq!(
            info("a", "1.0.0").validate_as(PluginKind::Strategy),
            Err(Error::WrongKind { declared: PluginKind::Blender, expected: PluginKind::Strategy })
        );
        let mut long = info("a", "1.0.0");
        long.description = "x".repeat(MAX_DESCRIPTION_BYTES + 1);
        assert_eq!(long.validate(), Err(Error::DescriptionTooLong));
        let mut many = info("a", "1.0.0");
        many.params = (0..=MAX_PARAMS).map(|i| ParamSpec::new(format!("p{i}"), "int", "1", "")).collect();
        assert_eq!(many.validate(), Err(Error::TooManyParams));
        let mut dup = info("a", "1.0.0");
        dup.params = vec![ParamSpec::new("p", "int", "1", ""), ParamSpec::new("p", "int", "1", "")];
        assert_eq!(dup.validate(), Err(Error::DuplicateParamName("p".into())));
        dup.params[1].name = " ".into();
        assert_eq!(dup.validate(), Err(Error::EmptyParamName(1)));
    }

    #[test]
    fn kinds() {
        for k in [PluginKind::ImageTransform, PluginKind::Strategy, PluginKind::Blender] {
            assert_eq!(k.as_str().parse::<PluginKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!("matrix".parse::<PluginKind>(), Err(Error::UnknownKind("matrix".into())));
    }
}
