//! Plugin names: the registry key of a plugin, the name its `info()` gives.

use crate::Error;

/// The longest plugin name, in bytes (= characters: names are ASCII).
pub const MAX_NAME_LEN: usize = 64;

/// Checks a plugin name: 1 to [`MAX_NAME_LEN`] characters of `a-z`, `0-9` and `-`, starting
/// with a letter (`gasf`, `recurrence-plot`, `blend-ewma`).
///
/// ```
/// use cgaf_plugin_contract::check_plugin_name;
/// assert!(check_plugin_name("recurrence-plot").is_ok());
/// assert!(check_plugin_name("9lives").is_err());
/// assert!(check_plugin_name("BAD NAME!").is_err());
/// ```
pub fn check_plugin_name(name: &str) -> Result<(), Error> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "gasf", "sma-cross", "x9", "a-", &"a".repeat(64)] {
            assert_eq!(check_plugin_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", "9lives", "BAD NAME!", "Gasf", "a_b", "a.b", "é", &"a".repeat(65)] {
            assert_eq!(check_plugin_name(bad), Err(Error::InvalidName(bad.to_string())), "{bad}");
        }
    }
}
