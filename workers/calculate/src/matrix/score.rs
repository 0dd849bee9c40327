//! Forecasts and their scores: `ŵ(t+1) = M_blend·w(t)`, its errors against what happened (MAE,
//! RMSE, skill against the naive forecast `ŵ = w(t)`), and the blend's stability (spectral-norm
//! drift between consecutive blends, diagonal dominance).

use crate::matrix::solver::mat_vec;

/// The forecast `M·w` of the next rollup (row-major n×n `m`).
pub fn forecast(m: &[f64], w: &[f64]) -> Vec<f64> {
    mat_vec(m, w)
}

/// Mean absolute error of `predicted` against `actual`.
pub fn mae(predicted: &[f64], actual: &[f64]) -> f64 {
    if actual.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(actual).map(|(p, a)| (p - a).abs()).sum::<f64>() / actual.len() as f64
}

/// Root mean squared error of `predicted` against `actual`.
pub fn rmse(predicted: &[f64], actual: &[f64]) -> f64 {
    if actual.is_empty() {
        return 0.0;
    }
    (predicted.iter().zip(actual).map(|(p, a)| (p - a) * (p - a)).sum::<f64>() / actual.len() as f64).sqrt()
}

/// Skill against the naive forecast: `1 − rmse / naive_rmse` (1 perfect, 0 as good as naive,
/// negative worse); none when the naive forecast is exact.
pub fn skill(rmse: f64, naive_rmse: f64) -> Option<f64> {
    (naive_rmse > 0.0).then(|| 1.0 - rmse / naive_rmse)
}

/// The spectral norm ‖A‖₂ (largest singular value) of row-major n×n `a`: the square root of the
/// largest eigenvalue of AᵀA, found by the cyclic Jacobi method (exact up to rounding for the
/// small matrices here; deterministic).
pub fn spectral_norm(a: &[f64], n: usize) -> f64 {
    if n == 0 || a.len() != n * n {
        return 0.0;
    }
    let mut s = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = (0..n).map(|k| a[k * n + i] * a[k * n + j]).sum();
        }
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| s[i * n + j].powi(2))
            .sum();
        let scale: f64 = s.iter().map(|v| v * v).sum();
        if off <= 1e-30 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = s[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (s[q * n + q] - s[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * c;
                for k in 0..n {
                    let (skp, skq) = (s[k * n + p], s[k * n + q]);
                    s[k * n + p] = c * skp - sn * skq;
                    s[k * n + q] = sn * skp + c * skq;
                }
                for k in 0..n {
                    let (spk, sqk) = (s[p * n + k], s[q * n + k]);
                    s[p * n + k] = c * spk - sn * sqk;
                    s[q * n + k] = sn * spk + c * sqk;
                }
            }
        }
    }
    (0..n).map(|i| s[i * n + i]).fold(0.0, f64::max).max(0.0).sqrt()
}

/// The spectral norm of the change from `previous` to `current` (both n×n).
pub fn drift(previous: &[f64], current: &[f64], n: usize) -> f64 {
    let d: Vec<f64> = current.iter().zip(previous).map(|(c, p)| c - p).collect();
    spectral_norm(&d, n)
}

/// Diagonal dominance margin: `minᵢ (|aᵢᵢ| − Σ_{j≠i} |aᵢⱼ|)`; positive when every row is strictly
/// diagonally dominant (the identity gives 1).
pub fn diagonal_dominance(a: &[f64], n: usize) -> f64 {
    (0..n)
        .map(|i| {
            let row = &a[i * n..(i + 1) * n];
            let off: f64 = row.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| v.abs()).sum();
            row[i].abs() - off
        })
        .fold(f64::INFINITY, f64::min)
}

/// The score of one forecast once the rollup it predicted arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// MAE of the forecast.
    pub mae: f64,
    /// RMSE of the forecast.
    pub rmse: f64,
    /// MAE of the naive forecast `w(t)`.
    pub naive_mae: f64,
    /// RMSE of the naive forecast.
    pub naive_rmse: f64,
    /// `1 − rmse / naive_rmse`; none when the naive forecast was exact.
    pub skill: Option<f64>,
}

/// Scores `predicted` (made from `base`) against `actual`.
pub fn score(predicted: &[f64], base: &[f64], actual: &[f64]) -> Score {
    let (e, naive) = (rmse(predicted, actual), rmse(base, actual));
    Score {
        mae: mae(predicted, actual),
        rmse: e,
        naive_mae: mae(base, actual),
        naive_rmse: naive,
        skill: skill(e, naive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_of_a_hand_computed_series() {
        // M = [[0.5, 0.5], [0, 1]], w(t) = (1, 3) → ŵ = (2, 3); actual (2.5, 2).
        let m = [0.5, 0.5, 0.0, 1.0];
        let f = forecast(&m, &[1.0, 3.0]);
        assert_eq!(f, [2.0, 3.0]);
        let s = score(&f, &[1.0, 3.0], &[2.5, 2.0]);
        // errors (−0.5, 1): MAE 0.75, RMSE sqrt(1.25/2); naive errors (−1.5, 1): MAE 1.25,
        // RMSE sqrt(3.25/2).
        assert_eq!(s.mae, 0.75);
        assert_eq!(s.naive_mae, 1.25);
        assert!((s.rmse - 0.625f64.sqrt()).abs() < 1e-15);
        assert!((s.naive_rmse - 1.625f64.sqrt()).abs() < 1e-15);
        assert!((s.skill.unwrap() - (1.0 - (0.625f64 / 1.625).sqrt())).abs() < 1e-15);
        assert_eq!(skill(0.1, 0.0), None);
        assert_eq!(skill(0.5, 1.0), Some(0.5));
    }

    #[test]
    fn spectral_norms_by_hand() {
        assert!((spectral_norm(&[3.0, 0.0, 0.0, -1.0], 2) - 3.0).abs() < 1e-14);
        // [[1, 1], [0, 1]]: the golden ratio.
        let phi = (1.0 + 5f64.sqrt()) / 2.0;
        assert!((spectral_norm(&[1.0, 1.0, 0.0, 1.0], 2) - phi).abs() < 1e-14);
        // A rank-one u·vᵀ has norm ‖u‖·‖v‖: u = (1, 2, 2), v = (0, 3, 4) → 3·5.
        let (u, v) = ([1.0, 2.0, 2.0], [0.0, 3.0, 4.0]);
        let a: Vec<f64> = (0..9).map(|k| u[k / 3] * v[k % 3]).collect();
        assert!((spectral_norm(&a, 3) - 15.0).abs() < 1e-12);
        assert_eq!(spectral_norm(&[0.0; 4], 2), 0.0);
        assert!((drift(&[1.0, 0.0, 0.0, 1.0], &[2.0, 1.0, 0.0, 2.0], 2) - phi).abs() < 1e-14);
    }

    #[test]
    fn diagonal_dominance_by_hand() {
        assert_eq!(diagonal_dominance(&[1.0, 0.0, 0.0, 1.0], 2), 1.0);
        // GRIFT's example rows: 0.95 − 0.05 = 0.9, 0.97 − 0.03 = 0.94, 0.95 − 0.05 = 0.9.
        let m = [0.95, 0.02, 0.03, 0.01, 0.97, 0.02, 0.04, 0.01, 0.95];
        assert!((diagonal_dominance(&m, 3) - 0.9).abs() < 1e-12);
        assert!(diagonal_dominance(&[0.4, 0.6, 0.0, 1.0], 2) < 0.0);
    }
}
