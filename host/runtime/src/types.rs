//! Host-side types of the plugin contract (independent of the generated bindings).

use serde::{Deserialize, Serialize};

/// Which world a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// `image-transform`.
    ImageTransform,
    /// `strategy`.
    Strategy,
    /// `blender`.
    Blender,
}

impl PluginKind {
    /// The WIT world name.
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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "image-transform" => Ok(PluginKind::ImageTransform),
            "strategy" => Ok(PluginKind::Strategy),
            "blender" => Ok(PluginKind::Blender),
            _ => Err(format!("unknown plugin kind {s:?}; one of image-transform, strategy, blender")),
        }
    }
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name.
    pub name: String,
    /// Accepted value types.
    pub kind: String,
    /// Default, Python-style text.
    pub default: String,
    /// Meaning and unit.
    pub doc: String,
}

/// What `info()` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Registry name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// World.
    pub kind: PluginKind,
    /// Description.
    pub description: String,
    /// Parameters.
    pub params: Vec<ParamSpec>,
}

impl PluginInfo {
    /// Checks the name (`[a-z0-9-]`, 1..=64, starting with a letter) and the version (semver
    /// `MAJOR.MINOR.PATCH` with optional `-pre`/`+build`).
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty() || n.len() > 64 || !n.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(format!("name {n:?} must start with a lowercase letter and have 1..=64 characters"));
        }
        if !n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("name {n:?} may only contain a-z, 0-9 and '-'"));
        }
        parse_semver(&self.version)
            .ok_or_else(|| format!("version {:?} is not semver MAJOR.MINOR.PATCH", self.version))?;
        if self.description.len() > 4096 {
            return Err("description is longer than 4096 bytes".into());
        }
        if self.params.len() > 256 {
            return Err("more than 256 parameters".into());
        }
        Ok(())
    }
}

/// Parses `MAJOR.MINOR.PATCH[-pre][+build]` into a sortable key (pre-releases sort before).
pub fn parse_semver(v: &str) -> Option<(u64, u64, u64, bool, String)> {
    let core_pre = v.split('+').next()?;
    let (core, pre) = match core_pre.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Some(p)),
        Some(_) => return None,
        None => (core_pre, None),
    };
    let mut it = core.split('.');
    let num = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (a, b, c) = (num(it.next())?, num(it.next())?, num(it.next())?);
    if it.next().is_some() {
        return None;
    }
    Some((a, b, c, pre.is_none(), pre.unwrap_or("").to_string()))
}

/// A square matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Rows = columns.
    pub size: usize,
    /// `size * size` values.
    pub data: Vec<f64>,
}

/// One OHLCV bar, stamped at its close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Close time, ms since the epoch.
    pub time_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Taker-buy volume.
    pub buy_volume: f64,
    /// Taker-sell volume.
    pub sell_volume: f64,
}

/// A strategy's decision for one bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Target position in [-1, 1].
    pub target: f64,
    /// Why.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_parses_and_orders() {
        assert!(parse_semver("1.2.3").is_some());
        assert!(parse_semver("1.2.3-rc.1+b5").is_some());
        assert!(parse_semver("01.2.3").is_none());
        assert!(parse_semver("1.2").is_none());
        assert!(parse_semver("not-semver").is_none());
        assert!(parse_semver("1.0.0-rc.1") < parse_semver("1.0.0"));
        assert!(parse_semver("1.10.0") > parse_semver("1.9.9"));
    }

    #[test]
    fn info_names_are_checked() {
        let mut i = PluginInfo {
            name: "sma-cross".into(),
            version: "1.0.0".into(),
            kind: PluginKind::Strategy,
            description: String::new(),
            params: vec![],
        };
        assert!(i.validate().is_ok());
        i.name = "BAD NAME!".into();
        assert!(i.validate().is_err());
    }
}
