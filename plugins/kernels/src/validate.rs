//! Input checks shared by every transform: scikit-learn's `check_array` and pyts's size rules.

use crate::Error;

/// A size parameter as pyts accepts it: an absolute integer or a fraction of the series length.
///
/// Python's `bool` counts as an integer (`True` is `Int(1)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeParam {
    /// An absolute size; must lie in `[1, n_timestamps]`.
    Int(i64),
    /// A fraction of `n_timestamps`; must lie in `(0, 1]`, resolved as `ceil(v * n)` in f64.
    Fraction(f64),
}

/// Resolves a size parameter (`image_size`, `dimension`, `time_delay`, `output_size`,
/// `window_size`) against a series of length `n`, with pyts's rules and messages.
///
/// `Fraction(v)` gives `ceil(v * n)` with the product taken in f64, so `0.14` of 50 is 8.
pub fn resolve_size(name: &str, v: SizeParam, n: usize) -> Result<usize, Error> {
    match v {
        SizeParam::Int(i) => {
            if i < 1 || (i as u64) > n as u64 {
                Err(Error::SizeIntRange { name: name.to_string(), got: i.to_string() })
            } else {
                Ok(i as usize)
            }
        }
        SizeParam::Fraction(f) => {
            // `not (0 < f <= 1)`: NaN is refused too.
            if !(0.0 < f && f <= 1.0) {
                Err(Error::SizeFloatRange { name: name.to_string(), got: f })
            } else {
                // f <= 1 so f * n <= n; f > 0 so the ceiling is at least 1.
                Ok((f * n as f64).ceil() as usize)
            }
        }
    }
}

/// scikit-learn's `check_array` on the single-row batch `[x]`: any NaN gives the NaN message,
/// else any infinity the infinity message; then an empty series is refused.
pub fn check_series(x: &[f64]) -> Result<(), Error> {
    if x.iter().any(|v| !v.is_finite()) {
        return Err(if x.iter().any(|v| v.is_nan()) { Error::InputNaN } else { Error::InputInfinite });
    }
    if x.is_empty() {
        return Err(Error::EmptySeries);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_quirk() {
        // 0.14 * 50 = 7.000000000000001 in f64.
        assert_eq!(resolve_size("image_size", SizeParam::Fraction(0.14), 50), Ok(8));
        assert_eq!(resolve_size("image_size", SizeParam::Fraction(0.55), 100), Ok(56));
        assert_eq!(resolve_size("image_size", SizeParam::Fraction(0.07), 100), Ok(8));
        assert_eq!(resolve_size("image_size", SizeParam::Fraction(1.0), 37), Ok(37));
        assert_eq!(resolve_size("image_size", SizeParam::Int(1), 1), Ok(1));
    }

    #[test]
    fn size_messages() {
        let e = resolve_size("image_size", SizeParam::Int(20), 16).unwrap_err();
        assert_eq!(
            e.to_string(),
            "If 'image_size' is an integer, it must be greater than or equal to 1 and lower than or equal to \
             n_timestamps (got 20)."
        );
        let e = resolve_size("dimension", SizeParam::Fraction(0.0), 16).unwrap_err();
        assert_eq!(
            e.to_string(),
            "If 'dimension' is a float, it must be greater than 0 and lower than or equal to 1 (got 0.0)."
        );
        assert!(resolve_size("time_delay", SizeParam::Fraction(f64::NAN), 16).is_err());
    }

    #[test]
    fn nan_wins_over_infinity() {
        assert_eq!(check_series(&[1.0, f64::INFINITY, f64::NAN]), Err(Error::InputNaN));
        assert_eq!(check_series(&[f64::NEG_INFINITY, 1.0]), Err(Error::InputInfinite));
        assert_eq!(check_series(&[f64::NAN, f64::INFINITY]), Err(Error::InputNaN));
        assert_eq!(check_series(&[]), Err(Error::EmptySeries));
        assert_eq!(check_series(&[0.0]), Ok(()));
    }
}
