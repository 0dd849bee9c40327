//! Plugin versions: semantic versions (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`), parsed and ordered
//! by the [`semver`] crate, so pre-releases order by their identifiers (`alpha.2 < alpha.10`).

use crate::Error;

pub use semver::Version;

/// Parses a plugin version; the error says why it is not semver.
///
/// ```
/// use cgaf_plugin_contract::parse_version;
/// assert!(parse_version("1.0.0-alpha.2").unwrap() < parse_version("1.0.0-alpha.10").unwrap());
/// assert!(parse_version("1.0").is_err());
/// ```
pub fn parse_version(text: &str) -> Result<Version, Error> {
    Version::parse(text).map_err(|e| Error::InvalidVersion { version: text.to_string(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn parses_semver_only() {
        for ok in ["1.2.3", "0.1.0-rc.1+build.5", "10.20.30", "1.2.3-rc.1+b5"] {
            assert!(parse_version(ok).is_ok(), "{ok}");
        }
        for bad in ["01.2.3", "1.2", "1.2.3.4", "not-semver", "", "1.2.3-", "v1.2.3", "1.2.3+"] {
            assert!(matches!(parse_version(bad), Err(Error::InvalidVersion { .. })), "{bad}");
        }
    }

    #[test]
    fn orders_as_semver() {
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.10.0") > v("1.9.9"));
        // Numeric pre-release identifiers compare as numbers (the old hand-written check
        // compared the text, so alpha.10 sorted before alpha.2).
        assert!(v("1.0.0-alpha.2") < v("1.0.0-alpha.10"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.beta") < v("1.0.0-beta"));
    }
}
