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
//!
//! **`ridge`** is least squares over the last k pairs with a ridge penalty towards the identity:
//! with `W0 = [w0₁ … w0ₖ]` and `W1 = [w1₁ … w1ₖ]` (n×k, one pair a column, `w1ᵢ` the rollup
//! after `w0ᵢ`), it minimises `‖M·W0 − W1‖²_F + λ‖M − I‖²_F`, whose normal equations
//! `M·(W0·W0ᵀ + λI) = W1·W0ᵀ + λI` give
//! `M = (W1·W0ᵀ + λI)·(W0·W0ᵀ + λI)⁻¹`.
//! `A = W0·W0ᵀ + λI` is symmetric positive definite for λ > 0 and only n×n (n = the feature
//! count, a handful), so each row `mᵢ` of M solves `A·mᵢᵀ = bᵢᵀ` (`bᵢ` row i of the right factor)
//! by a Cholesky factorisation `A = L·Lᵀ` and two triangular solves — no LAPACK. As λ → 0 with
//! k ≥ n pairs of full rank it recovers the M that maps every pair exactly; as λ → ∞ it tends
//! to `I`. Its residual is that of the newest pair.

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
    /// Least squares over the last k pairs, penalised towards the identity (see the module).
    Ridge {
        /// Weight λ of `‖M − I‖²_F` (> 0).
        lambda: f64,
    },
}

/// Below this norm of w0, `min-norm` answers the identity.
pub const MIN_NORM_TOLERANCE: f64 = 1e-12;

/// The default λ of `stochastic`.
pub const DEFAULT_LAMBDA: f64 = 1.0;

impl SolverMode {
    /// The stored name: `min-norm`, `stochastic` or `ridge`.
    pub fn name(&self) -> &'static str {
        match self {
            SolverMode::MinNorm => "min-norm",
            SolverMode::Stochastic { .. } => "stochastic",
            SolverMode::Ridge { .. } => "ridge",
        }
    }

    /// True when the solver uses the last k pairs, not only the newest.
    pub fn uses_window(&self) -> bool {
        matches!(self, SolverMode::Ridge { .. })
    }

    /// Parses `min-norm`, `stochastic` or `ridge` (λ = 1), `stochastic:LAMBDA`, `ridge:LAMBDA`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |other: &str| {
            Error::Setting(format!(
                "solver {other:?}: min-norm, stochastic, stochastic:LAMBDA, ridge or ridge:LAMBDA (LAMBDA > 0)"
            ))
        };
        let (name, lambda) = match s.trim().split_once(':') {
            Some((name, l)) => match l.trim().parse::<f64>() {
                Ok(l) if l.is_finite() && l > 0.0 => (name, l),
                _ => return Err(bad(s.trim())),
            },
            None => (s.trim(), DEFAULT_LAMBDA),
        };
        match name {
            "min-norm" if !s.contains(':') => Ok(SolverMode::MinNorm),
            "stochastic" => Ok(SolverMode::Stochastic { lambda }),
            "ridge" => Ok(SolverMode::Ridge { lambda }),
            _ => Err(bad(s.trim())),
        }
    }
}

impl std::fmt::Display for SolverMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolverMode::MinNorm => f.write_str("min-norm"),
            SolverMode::Stochastic { lambda } => write!(f, "stochastic:{lambda}"),
            SolverMode::Ridge { lambda } => write!(f, "ridge:{lambda}"),
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
    solve_window(mode, &[w0, w1])
}

/// Solves the consecutive rollups `window` (oldest first, at least two): `ridge` over every
/// consecutive pair, the other modes over the newest pair. The residual is the newest pair's.
pub fn solve_window(mode: SolverMode, window: &[&[f64]]) -> Result<Solved, Error> {
    let [.., w0, w1] = window else {
        return Err(Error::Matrix(format!("{} rollups; a transition needs two", window.len())));
    };
    let (w0, w1) = (*w0, *w1);
    if w0.is_empty() || window.iter().any(|w| w.len() != w0.len()) {
        return Err(Error::Matrix(format!("vectors of lengths {} and {}", w0.len(), w1.len())));
    }
    if !window.iter().all(|w| w.iter().all(|v| v.is_finite())) {
        return Err(Error::Matrix("a rollup holds a non-finite value".into()));
    }
    let matrix = match mode {
        SolverMode::MinNorm => min_norm(w0, w1),
        SolverMode::Stochastic { lambda } => stochastic(w0, w1, lambda),
        SolverMode::Ridge { lambda } => ridge(window, lambda)?,
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

/// `M = (W1·W0ᵀ + λI)·(W0·W0ᵀ + λI)⁻¹` over the consecutive pairs of `window` (see the module).
fn ridge(window: &[&[f64]], lambda: f64) -> Result<Vec<f64>, Error> {
    let n = window[0].len();
    let lambda = if lambda.is_finite() && lambda > 0.0 { lambda } else { DEFAULT_LAMBDA };
    // A = W0·W0ᵀ + λI and B = W1·W0ᵀ + λI, summed pair by pair.
    let (mut a, mut b) = (identity(n), identity(n));
    a.iter_mut().chain(b.iter_mut()).for_each(|v| *v *= lambda);
    for pair in window.windows(2) {
        let (w0, w1) = (pair[0], pair[1]);
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += w0[i] * w0[j];
                b[i * n + j] += w1[i] * w0[j];
            }
        }
    }
    let l = cholesky(&a, n).ok_or_else(|| Error::Matrix("ridge: W0·W0ᵀ + λI is not positive definite".into()))?;
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        let row = cholesky_solve(&l, n, &b[i * n..(i + 1) * n]);
        m[i * n..(i + 1) * n].copy_from_slice(&row);
    }
    Ok(m)
}

/// The lower-triangular `L` with `L·Lᵀ = a` (row-major n×n), none unless `a` is positive
/// definite.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `x` with `L·Lᵀ·x = y` for the factor `l` of [`cholesky`].
pub fn cholesky_solve(l: &[f64], n: usize, y: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (y[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (z[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    x
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

    /// w(t+1) = M·w(t) for a known M, from a start that excites every axis.
    fn trajectory(m: &[f64], start: &[f64], len: usize) -> Vec<Vec<f64>> {
        let mut out = vec![start.to_vec()];
        while out.len() < len {
            let next = mat_vec(m, out.last().unwrap());
            out.push(next);
        }
        out
    }

    #[test]
    fn ridge_recovers_a_known_matrix_as_lambda_vanishes() {
        let m = [0.9, 0.05, 0.05, 0.1, 0.8, 0.1, -0.2, 0.3, 0.7];
        let ws = trajectory(&m, &[1.0, -0.5, 0.25], 6);
        let window: Vec<&[f64]> = ws.iter().map(Vec::as_slice).collect();
        let s = solve_window(SolverMode::Ridge { lambda: 1e-12 }, &window).unwrap();
        for (a, b) in s.matrix.iter().zip(m) {
            assert!((a - b).abs() < 1e-6, "{:?} vs {m:?}", s.matrix);
        }
        assert!(s.residual < 1e-6);
        // Exactly the closed form on one pair, hand-computed: w0 = (1, 0), w1 = (3, 1), λ = 1:
        // A = [[2, 0], [0, 1]], B = [[4, 0], [1, 1]], M = B·A⁻¹ = [[2, 0], [0.5, 1]].
        let one = solve(SolverMode::Ridge { lambda: 1.0 }, &[1.0, 0.0], &[3.0, 1.0]).unwrap();
        assert!(one.matrix.iter().zip([2.0, 0.0, 0.5, 1.0]).all(|(a, b)| (a - b).abs() < 1e-12), "{:?}", one.matrix);
    }

    #[test]
    fn ridge_tends_to_the_identity_as_lambda_grows() {
        let m = [0.5, 0.5, -0.3, 1.2];
        let ws = trajectory(&m, &[0.8, -0.4], 5);
        let window: Vec<&[f64]> = ws.iter().map(Vec::as_slice).collect();
        let mut previous = f64::INFINITY;
        for lambda in [1.0, 1e3, 1e6, 1e9] {
            let s = solve_window(SolverMode::Ridge { lambda }, &window).unwrap();
            let off: f64 = s.matrix.iter().zip(identity(2)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(off < previous, "λ = {lambda}: {off} ≥ {previous}");
            previous = off;
        }
        assert!(previous < 1e-8, "{previous}");
        assert!(solve_window(SolverMode::Ridge { lambda: 1.0 }, &window[..1]).is_err());
        assert!(solve_window(SolverMode::Ridge { lambda: 1.0 }, &[&[1.0, 2.0], &[1.0]]).is_err());
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        // a = [[4, 2], [2, 3]] = L·Lᵀ with L = [[2, 0], [1, √2]]; a·(1, 2) = (8, 8).
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert_eq!(l[..3], [2.0, 0.0, 1.0]);
        let x = cholesky_solve(&l, 2, &[8.0, 8.0]);
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12, "{x:?}");
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
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
        assert_eq!(SolverMode::parse("ridge").unwrap(), SolverMode::Ridge { lambda: 1.0 });
        assert_eq!(SolverMode::parse("ridge:0.001").unwrap().to_string(), "ridge:0.001");
        for bad in ["lasso", "min-norm:1", "stochastic:0", "stochastic:-1", "stochastic:x", "ridge:0", "ridge:"] {
            assert!(SolverMode::parse(bad).is_err(), "{bad}");
        }
        assert!(solve(SolverMode::MinNorm, &[1.0], &[1.0, 2.0]).is_err());
        assert!(solve(SolverMode::MinNorm, &[f64::NAN], &[1.0]).is_err());
    }
}
