//! Transition matrices from consecutive rollups `(w0, w1)`: the minimum-norm exact correction of
//! the identity, and the row-stochastic matrix closest to the identity. Matrices are square,
//! row-major (`m[i·n + j]`).
//!
//! **`stochastic`** minimises `‖M·w0 − w1‖² + λ‖M − I‖²_F` subject to every row summing to 1 and
//! `M ≥ 0`. The objective and the constraints separate by rows: row `i` minimises
//! `(m·w0 − w1ᵢ)² + λ‖m − eᵢ‖²` over the probability simplex, a strongly convex problem
//! (λ > 0) with one minimiser. It is solved by accelerated projected gradient (FISTA with a
//! monotone restart) from `eᵢ`, step `1/L` with `L = 2(‖w0‖² + λ)`, the exact Lipschitz
//! constant of the gradient, and the exact Euclidean projection onto the simplex (sort and
//! threshold); it stops when an iteration moves no entry by more than 1e-15 or after 20 000
//! iterations. When `w1 = w0` the gradient at `eᵢ` is zero, so the answer is exactly `I`.

use crate::Error;

/// Which solver turns `(w0, w1)` into a matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SolverMode {
    /// `M = I + (w1 − w0)·w0ᵀ / (w0ᵀw0)`: maps w0 to w1 exactly; the identity when ‖w0‖ is below
    /// [`MIN_NORM_TOLERANCE`].
    MinNorm,
    /// The row-stochastic, non-negative matrix closest to the identity with `M·w0 ≈ w1`.
    Stochastic {
        /// Weight λ of `‖M − I‖²_F` (> 0): larger keeps M nearer the identity.
        lambda: f64,
    },
}

/// Below this norm of w0, `min-norm` answers the identity.
pub const MIN_NORM_TOLERANCE: f64 = 1e-12;

/// The default λ of `stochastic`.
pub const DEFAULT_LAMBDA: f64 = 1.0;

impl SolverMode {
    /// The stored name: `min-norm` or `stochastic`.
    pub fn name(&self) -> &'static str {
        match self {
            SolverMode::MinNorm => "min-norm",
            SolverMode::Stochastic { .. } => "stochastic",
        }
    }

    /// Parses `min-norm`, `stochastic` (λ = 1) or `stochastic:LAMBDA`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "min-norm" => Ok(SolverMode::MinNorm),
            "stochastic" => Ok(SolverMode::Stochastic { lambda: DEFAULT_LAMBDA }),
            other => match other.strip_prefix("stochastic:").map(|l| l.trim().parse::<f64>()) {
                Some(Ok(lambda)) if lambda.is_finite() && lambda > 0.0 => Ok(SolverMode::Stochastic { lambda }),
                _ => Err(Error::Setting(format!(
                    "solver {other:?}: min-norm, stochastic or stochastic:LAMBDA (LAMBDA > 0)"
                ))),
            },
        }
    }
}

impl std::fmt::Display for SolverMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolverMode::MinNorm => f.write_str("min-norm"),
            SolverMode::Stochastic { lambda } => write!(f, "stochastic:{lambda}"),
        }
    }
}

/// A solved transition matrix and how well it maps w0 to w1.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    /// Row-major n×n.
    pub matrix: Vec<f64>,
    /// `‖M·w0 − w1‖₂`.
    pub residual: f64,
}

/// The n×n identity, row-major.
pub fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

/// `M·x` for row-major n×n `m`.
pub fn mat_vec(m: &[f64], x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n).map(|i| m[i * n..(i + 1) * n].iter().zip(x).map(|(a, b)| a * b).sum()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `(w0, w1)` with `mode`. The vectors must have one length and finite entries.
pub fn solve(mode: SolverMode, w0: &[f64], w1: &[f64]) -> Result<Solved, Error> {
    if w0.len() != w1.len() || w0.is_empty() {
        return Err(Error::Matrix(format!("vectors of lengths {} and {}", w0.len(), w1.len())));
    }
    if !w0.iter().chain(w1).all(|v| v.is_finite()) {
        return Err(Error::Matrix("a rollup holds a non-finite value".into()));
    }
    let matrix = match mode {
        SolverMode::MinNorm => min_norm(w0, w1),
        SolverMode::Stochastic { lambda } => stochastic(w0, w1, lambda),
    };
    let mw = mat_vec(&matrix, w0);
    let residual = mw.iter().zip(w1).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    Ok(Solved { matrix, residual })
}

/// `I + (w1 − w0)·w0ᵀ / (w0ᵀw0)`, or `I` when ‖w0‖ < [`MIN_NORM_TOLERANCE`].
pub fn min_norm(w0: &[f64], w1: &[f64]) -> Vec<f64> {
    let n = w0.len();
    let mut m = identity(n);
    let nn = dot(w0, w0);
    if nn.sqrt() < MIN_NORM_TOLERANCE {
        return m;
    }
    for i in 0..n {
        let d = (w1[i] - w0[i]) / nn;
        for j in 0..n {
            m[i * n + j] += d * w0[j];
        }
    }
    m
}

/// The Euclidean projection of `v` onto the probability simplex `{x ≥ 0, Σx = 1}` (in place).
pub fn project_simplex(v: &mut [f64]) {
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let (mut cum, mut theta) = (0.0, 0.0);
    for (k, x) in u.iter().enumerate() {
        cum += x;
        let t = (cum - 1.0) / (k + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter_mut().for_each(|x| *x = (*x - theta).max(0.0));
}

/// See the module documentation.
fn stochastic(w0: &[f64], w1: &[f64], lambda: f64) -> Vec<f64> {
    let n = w0.len();
    let lambda = if lambda.is_finite() && lambda > 0.0 { lambda } else { DEFAULT_LAMBDA };
    let step = 1.0 / (2.0 * (dot(w0, w0) + lambda));
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        let objective = |x: &[f64]| {
            let r = dot(x, w0) - w1[i];
            r * r + lambda * x.iter().enumerate().map(|(j, v)| (v - f64::from(u8::from(j == i))).powi(2)).sum::<f64>()
        };
        let gradient_step = |y: &[f64]| -> Vec<f64> {
            let r = dot(y, w0) - w1[i];
            let mut z: Vec<f64> = y
                .iter()
                .enumerate()
                .map(|(j, v)| v - step * 2.0 * (r * w0[j] + lambda * (v - f64::from(u8::from(j == i)))))
                .collect();
            project_simplex(&mut z);
            z
        };
        let mut x: Vec<f64> = (0..n).map(|j| f64::from(u8::from(j == i))).collect();
        let mut y = x.clone();
        let (mut t, mut fx) = (1.0f64, objective(&x));
        for _ in 0..20_000 {
            let mut next = gradient_step(&y);
            let mut f_next = objective(&next);
            if f_next > fx {
                // Monotone restart: a plain projected-gradient step from x.
                next = gradient_step(&x);
                f_next = objective(&next);
                t = 1.0;
            }
            let moved = next.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let beta = (t - 1.0) / t_next;
            y = next.iter().zip(&x).map(|(a, b)| a + beta * (a - b)).collect();
            x = next;
            fx = f_next;
            t = t_next;
            if moved <= 1e-15 {
                break;
            }
        }
        m[i * n..(i + 1) * n].copy_from_slice(&x);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<(Vec<f64>, Vec<f64>)> {
        vec![
            (vec![0.2, -0.14, 0.07], vec![0.18, -0.12, 0.06]),
            (vec![0.5, 0.0, -1.0, 0.76, -1.0], vec![0.1, 0.3, -0.9, 0.2, 0.4]),
            (vec![1e-3, 2e-3], vec![-5.0, 7.0]),
            (vec![0.3, 0.3, 0.4], vec![0.3, 0.3, 0.4]),
        ]
    }

    #[test]
    fn min_norm_maps_w0_to_w1_exactly() {
        for (w0, w1) in vectors() {
            let s = solve(SolverMode::MinNorm, &w0, &w1).unwrap();
            let mw = mat_vec(&s.matrix, &w0);
            for (a, b) in mw.iter().zip(&w1) {
                assert!((a - b).abs() <= 1e-12, "{w0:?} → {w1:?}: {mw:?}");
            }
            assert!(s.residual <= 1e-12);
        }
        // The smallest correction: rank one along w0, hand-computed for w0 = (1, 0), w1 = (2, 3).
        assert_eq!(min_norm(&[1.0, 0.0], &[2.0, 3.0]), [2.0, 0.0, 3.0, 1.0]);
        // Identity below the tolerance.
        assert_eq!(min_norm(&[0.0, 1e-13], &[1.0, 1.0]), identity(2));
        assert_eq!(min_norm(&[0.4, 0.6], &[0.4, 0.6]), identity(2));
    }

    #[test]
    fn stochastic_rows_sum_to_one_non_negative_and_identity_when_unchanged() {
        for (w0, w1) in vectors() {
            for lambda in [0.01, 1.0, 10.0] {
                let s = solve(SolverMode::Stochastic { lambda }, &w0, &w1).unwrap();
                let n = w0.len();
                for i in 0..n {
                    let row = &s.matrix[i * n..(i + 1) * n];
                    assert!((row.iter().sum::<f64>() - 1.0).abs() <= 1e-12, "{row:?}");
                    assert!(row.iter().all(|v| *v >= 0.0), "{row:?}");
                }
            }
        }
        let w = [0.3, -0.2, 0.5, 0.1];
        assert_eq!(solve(SolverMode::Stochastic { lambda: 1.0 }, &w, &w).unwrap().matrix, identity(4));
    }

    #[test]
    fn stochastic_is_the_qp_optimum() {
        // Each row's answer satisfies the simplex-QP's optimality condition: the gradient is
        // equal (= −μ) on the support and not smaller off it.
        let (w0, w1, lambda) = (vec![0.5, 0.2, -0.4], vec![0.1, 0.3, -0.2], 0.5);
        let s = solve(SolverMode::Stochastic { lambda }, &w0, &w1).unwrap();
        let n = 3;
        for (i, target) in w1.iter().enumerate() {
            let row = &s.matrix[i * n..(i + 1) * n];
            let r = dot(row, &w0) - target;
            let g: Vec<f64> =
                (0..n).map(|j| 2.0 * (r * w0[j] + lambda * (row[j] - f64::from(u8::from(j == i))))).collect();
            let on: Vec<f64> = (0..n).filter(|&j| row[j] > 1e-12).map(|j| g[j]).collect();
            let mu = on[0];
            assert!(on.iter().all(|v| (v - mu).abs() < 1e-9), "row {i}: {g:?} {row:?}");
            assert!((0..n).filter(|&j| row[j] <= 1e-12).all(|j| g[j] >= mu - 1e-9), "row {i}: {g:?}");
        }
        // Hand-computed one-dimensional case: the only stochastic 1×1 matrix is [1].
        assert_eq!(solve(SolverMode::Stochastic { lambda: 1.0 }, &[2.0], &[5.0]).unwrap().matrix, [1.0]);
        // w0 = (1, 0), w1 = (0, 0), λ = 1: row 0 minimises a² + (a − 1)² + b² on a + b = 1, i.e.
        // a² + 2(1 − a)², so a = 2/3, b = 1/3; row 1 minimises a² + a² + (b − 1)² = 3a²: e₁.
        let m = solve(SolverMode::Stochastic { lambda: 1.0 }, &[1.0, 0.0], &[0.0, 0.0]).unwrap().matrix;
        let want = [2.0 / 3.0, 1.0 / 3.0, 0.0, 1.0];
        assert!(m.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{m:?}");
    }

    #[test]
    fn projection_and_parsing() {
        let mut v = [0.5, 0.5, 0.5];
        project_simplex(&mut v);
        assert!(v.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-15));
        let mut v = [2.0, 0.0, -1.0];
        project_simplex(&mut v);
        assert_eq!(v, [1.0, 0.0, 0.0]);
        assert_eq!(SolverMode::parse("min-norm").unwrap(), SolverMode::MinNorm);
        assert_eq!(SolverMode::parse("stochastic").unwrap(), SolverMode::Stochastic { lambda: 1.0 });
        assert_eq!(SolverMode::parse("stochastic:0.5").unwrap().to_string(), "stochastic:0.5");
        for bad in ["ridge", "stochastic:0", "stochastic:-1", "stochastic:x"] {
            assert!(SolverMode::parse(bad).is_err(), "{bad}");
        }
        assert!(solve(SolverMode::MinNorm, &[1.0], &[1.0, 2.0]).is_err());
        assert!(solve(SolverMode::MinNorm, &[f64::NAN], &[1.0]).is_err());
    }
}
