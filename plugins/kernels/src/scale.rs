//! scikit-learn's `MinMaxScaler`, with its exact float operations.

use ndarray::ArrayView1;
use ndarray_stats::QuantileExt;

/// Scales `x` to `[lo, hi]` exactly as scikit-learn's `MinMaxScaler(feature_range=(lo, hi))`
/// does on one feature: `rng = max - min` (set to 1.0 when below `10 * f64::EPSILON`),
/// `scale = (hi - lo) / rng`, `off = lo - min * scale`, `y = x * scale + off`. No clipping.
///
/// This is not `lo + (x - min) * (hi - lo) / rng`: for 0.5, 2.5, …, 14.5 to `(-1, 1)` the
/// maximum maps to `0.9999999999999998`. A constant series maps to `lo`.
pub fn min_max_scale(x: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mut out = x.to_vec();
    min_max_scale_in_place(&mut out, lo, hi);
    out
}

/// In-place [`min_max_scale`].
pub(crate) fn min_max_scale_in_place(x: &mut [f64], lo: f64, hi: f64) {
    if x.is_empty() {
        return;
    }
    let (mn, mx) = min_max(x);
    let mut rng = mx - mn;
    if rng < 10.0 * f64::EPSILON {
        rng = 1.0;
    }
    let scale = (hi - lo) / rng;
    let off = lo - mn * scale;
    for v in x.iter_mut() {
        *v = *v * scale + off;
    }
}

/// Minimum and maximum (NaN-ignoring, like `numpy.nanmin` / `nanmax`; NaN when `x` holds no
/// number), by `ndarray-stats`.
pub(crate) fn min_max(x: &[f64]) -> (f64, f64) {
    let v = ArrayView1::from(x);
    (*v.min_skipnan(), *v.max_skipnan())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_max_is_not_one() {
        // PAA of the ramp 0..15 to 8 values: 0.5, 2.5, ..., 14.5.
        let x: Vec<f64> = (0..8).map(|i| 0.5 + 2.0 * f64::from(i)).collect();
        let y = min_max_scale(&x, -1.0, 1.0);
        assert_eq!(y[0], -1.0);
        assert_eq!(y[7].to_bits(), 0.9999999999999998f64.to_bits());
    }

    #[test]
    fn constant_series_maps_to_lo() {
        assert_eq!(min_max_scale(&[3.5; 4], -1.0, 1.0), vec![-1.0; 4]);
        assert_eq!(min_max_scale(&[3.5; 4], 0.0, 1.0), vec![0.0; 4]);
    }
}
