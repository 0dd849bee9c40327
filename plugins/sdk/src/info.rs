//! Checking a plugin's own `info()` the way the host will: the contract's rules
//! ([`PluginInfo::validate`]) and the expected world.

use crate::{PluginInfo, PluginKind};

pub use cgaf_plugin_contract::Error as InfoError;

/// Whether `info` would pass the host's checks for a plugin exporting the `expected` world:
/// the name (`[a-z0-9-]`, 1 to 64 characters, starting with a letter), the version (semver),
/// the description and parameter counts, parameter names non-empty and declared once, and the
/// kind. Call it from a plugin's unit tests.
///
/// ```
/// use cgaf_plugin_sdk::{validate_info, PluginInfo, PluginKind};
/// let ok = PluginInfo::new("sma-cross", "1.0.0", PluginKind::Strategy, "SMA crossover.", vec![]);
/// assert!(validate_info(&ok, PluginKind::Strategy).is_ok());
/// let bad = PluginInfo::new("BAD NAME!", "not-semver", PluginKind::Strategy, "", vec![]);
/// assert!(validate_info(&bad, PluginKind::Strategy).is_err());
/// ```
pub fn validate_info(info: &PluginInfo, expected: PluginKind) -> Result<(), InfoError> {
    info.validate_as(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamSpec;

    #[test]
    fn info_validation() {
        let info = |name: &str, version: &str| PluginInfo::new(name, version, PluginKind::Blender, "x", vec![]);
        for (name, version) in [("blend-mean", "1.0.0"), ("a", "0.1.0-rc.1+build.5"), ("x9", "10.20.30")] {
            assert_eq!(validate_info(&info(name, version), PluginKind::Blender), Ok(()), "{name} {version}");
        }
        for (name, version) in [
            ("BAD NAME!", "1.0.0"),
            ("", "1.0.0"),
            ("-a", "1.0.0"),
            ("9a", "1.0.0"),
            ("a", "not-semver"),
            ("a", "1.0"),
            ("a", "01.0.0"),
        ] {
            assert!(validate_info(&info(name, version), PluginKind::Blender).is_err(), "{name} {version}");
        }
        assert!(validate_info(&info("a", "1.0.0"), PluginKind::Strategy).is_err());
        let dup = PluginInfo::new(
            "a",
            "1.0.0",
            PluginKind::Blender,
            "x",
            vec![ParamSpec::new("p", "int", "1", ""), ParamSpec::new("p", "int", "1", "")],
        );
        assert_eq!(
            validate_info(&dup, PluginKind::Blender).map_err(|e| e.to_string()),
            Err("parameter 'p' is declared twice".into())
        );
    }
}
