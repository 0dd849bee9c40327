//! Recurrence plots, pyts's `RecurrencePlot` (trajectory distances and thresholds).

use crate::stats::percentile_unsorted;
use crate::validate::{check_series, resolve_size, SizeParam};
use crate::{Error, Matrix};
use ndarray::ArrayView1;
use ndarray_stats::QuantileExt;

/// How distances are binarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// No threshold: the raw distances (pyts `None`).
    None,
    /// `ε` = the `percentage` percentile (linear) of all N² distances (pyts `'point'`).
    Point,
    /// `ε = (percentage / 100) * max distance` (pyts `'distance'`).
    Distance,
    /// A fixed `ε > 0` (pyts float or int).
    Value(f64),
}

/// Parameters of pyts's `RecurrencePlot`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpParams {
    /// Trajectory dimension `m` (int in `[1, n]` or fraction in `(0, 1]`); default 1.
    pub dimension: SizeParam,
    /// Time delay `τ` (int in `[1, n]` or fraction in `(0, 1]`); default 1.
    pub time_delay: SizeParam,
    /// Binarisation; default none.
    pub threshold: Threshold,
    /// Percentage for `'point'` / `'distance'`, in `[0, 100]` (checked even when unused);
    /// default 10.
    pub percentage: f64,
}

impl Default for RpParams {
    /// pyts defaults: `dimension=1, time_delay=1, threshold=None, percentage=10`.
    fn default() -> Self {
        RpParams {
            dimension: SizeParam::Int(1),
            time_delay: SizeParam::Int(1),
            threshold: Threshold::None,
            percentage: 10.0,
        }
    }
}

/// pyts's `RecurrencePlot(...).transform([x])[0]` and the threshold `ε` it used
/// (`None` when `threshold` is None).
///
/// Errors in pyts's order: input, `dimension`, `time_delay`, number of trajectories,
/// `threshold <= 0`, `percentage` outside `[0, 100]`.
pub fn recurrence_plot_detailed(x: &[f64], p: &RpParams) -> Result<(Matrix, Option<f64>), Error> {
    check_series(x)?;
    let n = x.len();
    let m = resolve_size("dimension", p.dimension, n)?;
    let tau = resolve_size("time_delay", p.time_delay, n)?;
    let span = (m as u128 - 1) * tau as u128;
    if span >= n as u128 {
        return Err(Error::NoTrajectories);
    }
    let size = n - span as usize;
    if let Threshold::Value(v) = p.threshold {
        if v <= 0.0 {
            return Err(Error::ThresholdNonPositive);
        }
    }
    if !(0.0 <= p.percentage && p.percentage <= 100.0) {
        return Err(Error::PercentageRange);
    }

    let mut dist = Vec::with_capacity(size * size);
    if m == 1 {
        for &xi in &x[..size] {
            dist.extend(x[..size].iter().map(|&xj| (xi - xj).abs()));
        }
    } else {
        for i in 0..size {
            for j in 0..size {
                let mut total = 0.0;
                for d in 0..m {
                    let diff = x[i + d * tau] - x[j + d * tau];
                    total += diff * diff;
                }
                dist.push(total.sqrt());
            }
        }
    }

    let eps = match p.threshold {
        Threshold::None => return Ok((Matrix { size, data: dist }, None)),
        Threshold::Point => percentile_unsorted(&mut dist.clone(), p.percentage),
        Threshold::Distance => {
            let max = *ArrayView1::from(&dist[..]).max_skipnan();
            p.percentage / 100.0 * max
        }
        Threshold::Value(v) => v,
    };
    for v in dist.iter_mut() {
        *v = if *v < eps { 1.0 } else { 0.0 };
    }
    Ok((Matrix { size, data: dist }, Some(eps)))
}

/// pyts's `RecurrencePlot(dimension, time_delay, threshold, percentage).transform([x])[0]`.
///
/// `D[i][j] = |x_i - x_j|` for `m == 1`, else the Euclidean distance between trajectories
/// `(x_i, x_{i+τ}, …, x_{i+(m-1)τ})` (sequential sum of squares). With a threshold the output
/// is `1.0` where `D < ε` (strict), else `0.0`.
pub fn recurrence_plot(x: &[f64], p: &RpParams) -> Result<Matrix, Error> {
    recurrence_plot_detailed(x, p).map(|(m, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_series_point_is_all_zero() {
        let p = RpParams { threshold: Threshold::Point, percentage: 20.0, ..RpParams::default() };
        let m = recurrence_plot(&[3.5; 20], &p).unwrap();
        assert!(m.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn trajectories_must_be_positive() {
        let x: Vec<f64> = (0..16).map(f64::from).collect();
        let p = RpParams { dimension: SizeParam::Int(9), time_delay: SizeParam::Int(2), ..RpParams::default() };
        assert_eq!(recurrence_plot(&x, &p), Err(Error::NoTrajectories));
    }
}
