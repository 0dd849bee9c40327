//! Piecewise Aggregate Approximation and pyts's `segmentation` (float-truncated bounds).

use crate::validate::{check_series, resolve_size, SizeParam};
use crate::Error;

/// `ceil(n / k)` in integers (pyts: `divmod` plus one when there is a remainder).
pub(crate) fn ceil_div(n: usize, k: usize) -> usize {
    n.div_ceil(k)
}

/// The `k` segments `[start, end)` pyts uses to reduce a series of length `n` to `k` values
/// (`segmentation(n, ceil(n/k), overlapping, n_segments=k)`).
///
/// Non-overlapping bounds are `trunc(i * (n / k))` in f64 (numpy `linspace(0, n, k+1)` cast to
/// int64), which is not always `floor(i*n/k)`: n=30, k=22 gives `b_11 = 14`. Overlapping
/// segments all have length `ceil(n/k)`. Returns an empty vector when `k == 0` or `n == 0`.
pub fn segmentation(n: usize, k: usize, overlapping: bool) -> Vec<(usize, usize)> {
    if k == 0 || n == 0 {
        return Vec::new();
    }
    segmentation_with_window(n, ceil_div(n, k), overlapping, Some(k))
}

/// pyts's `segmentation(ts_size=n, window_size, overlapping, n_segments)` in full: with
/// `n_segments = None` the number of segments is `ceil(n / window_size)`. The window size only
/// matters when `overlapping` is true (every segment then has that length).
///
/// Returns an empty vector when `n`, `window_size` or the number of segments is 0.
pub fn segmentation_with_window(
    n: usize,
    window_size: usize,
    overlapping: bool,
    n_segments: Option<usize>,
) -> Vec<(usize, usize)> {
    if n == 0 || window_size == 0 {
        return Vec::new();
    }
    let k = n_segments.unwrap_or_else(|| ceil_div(n, window_size));
    if k == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(k);
    if !overlapping {
        // numpy.linspace(0, n, k + 1).astype(int64): y_i = i * (n / k) + 0.0, y_k = n.
        let step = n as f64 / k as f64;
        let bound = |i: usize| {
            if i == k {
                n
            } else {
                (i as f64 * step) as usize
            }
        };
        let mut start = bound(0);
        for i in 1..=k {
            let end = bound(i);
            out.push((start, end));
            start = end;
        }
    } else {
        // overlaps = numpy.linspace(0, k*ws - n, k).astype(int64)
        let n_ovl = (k * window_size).saturating_sub(n);
        let overlap = |j: usize| -> usize {
            if j + 1 == k {
                n_ovl
            } else {
                let step = n_ovl as f64 / (k - 1) as f64;
                (j as f64 * step) as usize
            }
        };
        for j in 0..k {
            let o = overlap(j);
            out.push((j * window_size - o, (j + 1) * window_size - o));
        }
    }
    out
}

/// Sequential left-to-right mean (numba's `np.mean`): `(0.0 + x0 + x1 + …) / len`.
#[inline]
pub(crate) fn seq_mean(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for &v in x {
        total += v;
    }
    total / x.len() as f64
}

/// Writes the PAA of `x` to `k` values into `out` (`out.len() == k`), as the GAF calls it.
pub(crate) fn paa_into(x: &[f64], k: usize, overlapping: bool, out: &mut [f64]) {
    let n = x.len();
    if ceil_div(n, k) == 1 {
        out.copy_from_slice(x);
        return;
    }
    for (o, (s, e)) in out.iter_mut().zip(segmentation(n, k, overlapping)) {
        *o = seq_mean(&x[s..e]);
    }
}

/// PAA of `x` to `k` values, as pyts's GAF calls it
/// (`PiecewiseAggregateApproximation(window_size=None, output_size=k, overlapping)`).
///
/// When `ceil(n/k) == 1` (i.e. `k == n`) the series is returned unchanged. Each value is the
/// sequential f64 sum of its segment divided by the segment length. `k` is expected in
/// `1..=n` (see [`paa_transform`] for the checked version); `k == 0` gives an empty vector and
/// `k > n` returns the series unchanged.
pub fn paa(x: &[f64], k: usize, overlapping: bool) -> Vec<f64> {
    let n = x.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if ceil_div(n, k) == 1 {
        return x.to_vec();
    }
    let mut out = vec![0.0; k];
    paa_into(x, k, overlapping, &mut out);
    out
}

/// Parameters of pyts's `PiecewiseAggregateApproximation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaaParams {
    /// Segment length (int, or fraction of n); takes precedence over `output_size`.
    pub window_size: Option<SizeParam>,
    /// Number of segments (int, or fraction of n); used when `window_size` is None.
    pub output_size: Option<SizeParam>,
    /// Whether segments may overlap (then they all have the window length).
    pub overlapping: bool,
}

impl Default for PaaParams {
    /// pyts defaults: `window_size=1, output_size=None, overlapping=True`.
    fn default() -> Self {
        PaaParams { window_size: Some(SizeParam::Int(1)), output_size: None, overlapping: true }
    }
}

/// The segments of a PAA, or `None` for the identity (window size 1).
fn paa_plan(n: usize, p: &PaaParams) -> Result<Option<Vec<(usize, usize)>>, Error> {
    let (ws, n_segments) = match (p.window_size, p.output_size) {
        (None, None) => return Err(Error::PaaBothNone),
        (Some(w), _) => (resolve_size("window_size", w, n)?, None),
        (None, Some(o)) => {
            let k = resolve_size("output_size", o, n)?;
            (ceil_div(n, k), Some(k))
        }
    };
    if ws == 1 {
        return Ok(None);
    }
    Ok(Some(segmentation_with_window(n, ws, p.overlapping, n_segments)))
}

/// pyts's `PiecewiseAggregateApproximation(...).transform([x])[0]`, with its checks and
/// messages (NaN/inf/empty input, `'window_size' and 'output_size' cannot be both None.`,
/// size ranges).
pub fn paa_transform(x: &[f64], p: &PaaParams) -> Result<Vec<f64>, Error> {
    check_series(x)?;
    Ok(match paa_plan(x.len(), p)? {
        None => x.to_vec(),
        Some(segs) => segs.iter().map(|&(s, e)| seq_mean(&x[s..e])).collect(),
    })
}

/// The segments `paa_transform` averages over for a series of length `n`
/// (one singleton segment per value when the window size resolves to 1).
pub fn paa_segments(n: usize, p: &PaaParams) -> Result<Vec<(usize, usize)>, Error> {
    if n == 0 {
        return Err(Error::EmptySeries);
    }
    Ok(match paa_plan(n, p)? {
        None => (0..n).map(|i| (i, i + 1)).collect(),
        Some(segs) => segs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunc_quirk_n30_k22() {
        let segs = segmentation(30, 22, false);
        assert_eq!(segs.len(), 22);
        // trunc(11 * (30/22)) = trunc(14.999999999999998) = 14, not floor(11*30/22) = 15.
        assert_eq!(segs[10].1, 14);
        assert_eq!(segs[11].0, 14);
        assert_eq!(segs[21].1, 30);
    }

    #[test]
    fn documented_examples_n37_k8() {
        let no = segmentation(37, 8, false);
        assert_eq!(no, vec![(0, 4), (4, 9), (9, 13), (13, 18), (18, 23), (23, 27), (27, 32), (32, 37)]);
        let ov = segmentation(37, 8, true);
        assert_eq!(ov, vec![(0, 5), (5, 10), (10, 15), (14, 19), (19, 24), (23, 28), (28, 33), (32, 37)]);
    }

    #[test]
    fn identity_when_k_equals_n() {
        let x = [3.0, -1.0, 2.5];
        assert_eq!(paa(&x, 3, false), x.to_vec());
        assert_eq!(paa(&x, 1, false), vec![(3.0 - 1.0 + 2.5) / 3.0]);
    }

    #[test]
    fn paa_checked_errors() {
        let p = PaaParams { window_size: None, output_size: None, overlapping: true };
        assert_eq!(paa_transform(&[1.0, 2.0], &p), Err(Error::PaaBothNone));
        let p = PaaParams { window_size: None, output_size: Some(SizeParam::Int(8)), overlapping: false };
        let e = paa_transform(&[5.0], &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "If 'output_size' is an integer, it must be greater than or equal to 1 and lower \
             than or equal to n_timestamps (got 8)."
        );
    }
}
