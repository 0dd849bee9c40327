//! Markov Transition Fields, pyts's `MarkovTransitionField` (binning, transitions, aggregation).

use crate::paa::segmentation;
use crate::scale::min_max;
use crate::stats::{norm_ppf, percentile_sorted};
use crate::validate::{check_series, resolve_size, SizeParam};
use crate::{Error, Matrix};

/// How the bin edges are chosen (pyts's `KBinsDiscretizer` strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MtfStrategy {
    /// Per-sample percentiles (`numpy.percentile`, linear), near-equal edges deduplicated.
    Quantile,
    /// Equal-width bins between the sample's min and max.
    Uniform,
    /// Fixed standard-normal quantiles (`scipy.stats.norm.ppf`).
    Normal,
}

impl MtfStrategy {
    /// Parses pyts's names `'quantile'`, `'uniform'`, `'normal'` (case-sensitive), with pyts's
    /// message otherwise.
    pub fn from_pyts(name: &str) -> Result<MtfStrategy, Error> {
        match name {
            "quantile" => Ok(MtfStrategy::Quantile),
            "uniform" => Ok(MtfStrategy::Uniform),
            "normal" => Ok(MtfStrategy::Normal),
            _ => Err(Error::Strategy),
        }
    }

    /// pyts's name of the strategy.
    pub fn pyts_name(self) -> &'static str {
        match self {
            MtfStrategy::Quantile => "quantile",
            MtfStrategy::Uniform => "uniform",
            MtfStrategy::Normal => "normal",
        }
    }
}

/// Parameters of pyts's `MarkovTransitionField`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MtfParams {
    /// Output edge `k` (int in `[1, n]` or fraction in `(0, 1]`); default `1.0` (k = n).
    pub image_size: SizeParam,
    /// Number of bins, at least 2; default 8.
    pub n_bins: i64,
    /// Binning strategy; default quantile.
    pub strategy: MtfStrategy,
    /// Overlapping aggregation segments (only used when `k` does not divide `n`); default false.
    pub overlapping: bool,
}

impl Default for MtfParams {
    /// pyts defaults: `image_size=1.0, n_bins=8, strategy='quantile', overlapping=False`.
    fn default() -> Self {
        MtfParams {
            image_size: SizeParam::Fraction(1.0),
            n_bins: 8,
            strategy: MtfStrategy::Quantile,
            overlapping: false,
        }
    }
}

/// Everything an MTF computes on the way (pyts's intermediates), plus the image.
#[derive(Debug, Clone, PartialEq)]
pub struct MtfDetails {
    /// Bin edges after deduplication (ascending).
    pub bin_edges: Vec<f64>,
    /// Bin of each value: the number of edges strictly below it.
    pub binned: Vec<usize>,
    /// Transition counts `n_bins`×`n_bins` (`[from][to]`).
    pub transition_counts: Matrix,
    /// Row-normalised transition probabilities (all-zero rows stay zero).
    pub transition_matrix: Matrix,
    /// The aggregation segments `[start, end)`, one per output row/column.
    pub segments: Vec<(usize, usize)>,
    /// The `k`×`k` field.
    pub image: Matrix,
    /// Python warnings pyts emits, as `"UserWarning: …"` text.
    pub warnings: Vec<String>,
}

/// The text of pyts's warning when quantile edges collapse (single sample: `[0]`).
pub const EQUAL_QUANTILES_WARNING: &str = "UserWarning: Some quantiles are equal. The number of \
     bins will be smaller for sample [0]. Consider decreasing the number of bins or removing \
     these samples.";

/// Bin edges of `x` for `n_bins` bins (pyts's `KBinsDiscretizer._compute_bins` on one sample),
/// and the warnings emitted. `x` must be non-empty and `n_bins >= 2`.
///
/// - uniform: `min + i*((max-min)/n_bins)`, i = 1..n_bins-1 (numba `linspace`);
/// - normal: `norm.ppf(i*(1/n_bins))`;
/// - quantile: `numpy.percentile(x, i*(100/n_bins))`; if `n_bins > 2`, an edge within `1e-8`
///   of the next one is dropped (the last is kept) and a warning is emitted.
pub fn bin_edges(x: &[f64], n_bins: usize, strategy: MtfStrategy) -> (Vec<f64>, Vec<String>) {
    let mut warnings = Vec::new();
    let nb = n_bins as f64;
    let edges = match strategy {
        MtfStrategy::Normal => {
            let step = 1.0 / nb;
            (1..n_bins).map(|i| norm_ppf(i as f64 * step + 0.0)).collect()
        }
        MtfStrategy::Uniform => {
            let (mn, mx) = min_max(x);
            let step = (mx - mn) / nb;
            (1..n_bins).map(|i| mn + i as f64 * step).collect()
        }
        MtfStrategy::Quantile => {
            let mut sorted = x.to_vec();
            sorted.sort_unstable_by(f64::total_cmp);
            let step = 100.0 / nb;
            let raw: Vec<f64> = (1..n_bins).map(|i| percentile_sorted(&sorted, i as f64 * step + 0.0)).collect();
            // numpy.isclose(0, diff, rtol=0, atol=1e-8), last edge always kept.
            let close_to_next = |i: usize| (raw[i + 1] - raw[i]).abs() <= 1e-8;
            let keep = |i: usize| i + 1 == raw.len() || !close_to_next(i);
            if n_bins > 2 && (0..raw.len()).any(|i| !keep(i)) {
                warnings.push(EQUAL_QUANTILES_WARNING.to_string());
                (0..raw.len()).filter(|&i| keep(i)).map(|i| raw[i]).collect()
            } else {
                raw
            }
        }
    };
    (edges, warnings)
}

/// The parts of an MTF every caller needs.
struct Core {
    nb: usize,
    edges: Vec<f64>,
    warnings: Vec<String>,
    binned: Vec<usize>,
    segments: Vec<(usize, usize)>,
}

/// Checks in pyts's order, bin edges, bins and segments.
fn core(x: &[f64], p: &MtfParams) -> Result<Core, Error> {
    check_series(x)?;
    let n = x.len();
    // MTF checks `v <= 0 or v > 1`, so NaN passes and then `ceil(nan * n)` fails.
    if let SizeParam::Fraction(f) = p.image_size {
        if f.is_nan() {
            return Err(Error::PyValueError("cannot convert float NaN to integer".into()));
        }
    }
    let k = resolve_size("image_size", p.image_size, n)?;
    if p.n_bins < 2 {
        return Err(Error::NBinsTooSmall);
    }
    let nb = usize::try_from(p.n_bins).map_err(|_| too_big())?;
    let (edges, warnings) = bin_edges(x, nb, p.strategy);
    // searchsorted(edges, v, side='left'): the number of edges strictly below v.
    let binned: Vec<usize> = x.iter().map(|&v| edges.partition_point(|&e| e < v)).collect();
    // pyts uses blocks of n/k when k divides n, else segmentation(n, ceil(n/k), overlapping,
    // k); both are what `segmentation(n, k, overlapping)` returns.
    let segments = segmentation(n, k, p.overlapping);
    Ok(Core { nb, edges, warnings, binned, segments })
}

fn too_big() -> Error {
    Error::PyValueError(
        "array is too big; `arr.size * arr.dtype.itemsize` is larger than the maximum possible size.".into(),
    )
}

/// Row-normalised transition probabilities, `size`×`size`, of a sequence of states
/// `0..size`: counts divided by their row sum (all-zero rows stay zero).
fn transitions(states: &[usize], size: usize) -> (Vec<f64>, Vec<f64>) {
    let mut counts = vec![0.0f64; size * size];
    for w in states.windows(2) {
        counts[w[0] * size + w[1]] += 1.0;
    }
    let mut probs = counts.clone();
    for row in probs.chunks_exact_mut(size.max(1)) {
        let mut sum: f64 = row.iter().sum(); // integer-valued: exact in any order
        if sum == 0.0 {
            sum = 1.0;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    (counts, probs)
}

/// The aggregated field: `out[j][l]` = mean over rows `r` in segment `j` (outer loop) and
/// columns `c` in segment `l` (inner loop) of `W[state_r][state_c]`, as a sequential sum.
fn aggregate(states: &[usize], probs: &[f64], size: usize, segments: &[(usize, usize)]) -> Matrix {
    let k = segments.len();
    let mut image = Vec::with_capacity(k * k);
    if segments.iter().all(|&(s, e)| e == s + 1) {
        // One value per segment (k == n): (0.0 + w) / 1 is w itself (w >= 0).
        for &(r, _) in segments {
            let wrow = &probs[states[r] * size..(states[r] + 1) * size];
            image.extend(segments.iter().map(|&(c, _)| wrow[states[c]]));
        }
        return Matrix { size: k, data: image };
    }
    for &(rs, re) in segments {
        for &(cs, ce) in segments {
            let mut total = 0.0;
            let mut count = 0usize;
            for &sr in &states[rs..re] {
                let wrow = &probs[sr * size..(sr + 1) * size];
                for &sc in &states[cs..ce] {
                    total += wrow[sc];
                    count += 1;
                }
            }
            image.push(total / count as f64);
        }
    }
    Matrix { size: k, data: image }
}

/// pyts's `MarkovTransitionField(...).transform([x])[0]` with all intermediates.
///
/// Errors in pyts's order: input, `image_size`, `n_bins < 2`. The transition matrices are
/// `n_bins`×`n_bins`, so this needs O(n_bins²) memory; [`mtf`] only keeps the bins that occur.
pub fn mtf_detailed(x: &[f64], p: &MtfParams) -> Result<MtfDetails, Error> {
    let c = core(x, p)?;
    c.nb.checked_mul(c.nb).and_then(|v| v.checked_mul(8)).ok_or_else(too_big)?;
    let (counts, probs) = transitions(&c.binned, c.nb);
    let image = aggregate(&c.binned, &probs, c.nb, &c.segments);
    Ok(MtfDetails {
        bin_edges: c.edges,
        binned: c.binned,
        transition_counts: Matrix { size: c.nb, data: counts },
        transition_matrix: Matrix { size: c.nb, data: probs },
        segments: c.segments,
        image,
        warnings: c.warnings,
    })
}

/// pyts's `MarkovTransitionField(image_size, n_bins, strategy, overlapping).transform([x])[0]`
/// and the warnings pyts emits (`"UserWarning: Some quantiles are equal. …"`).
///
/// Values are binned on the raw series (no PAA); `W[a][b]` = P(next bin b | bin a);
/// `M[i][j] = W[bin_i][bin_j]`, averaged over `k` segments (sequential sum / count).
/// Only the bins that occur are kept: the transition matrix is at most `min(n, n_bins)`
/// square, whatever `n_bins`.
pub fn mtf(x: &[f64], p: &MtfParams) -> Result<(Matrix, Vec<String>), Error> {
    let c = core(x, p)?;
    // Renumber the bins that occur (rows/columns of absent bins are never read, and a row's
    // sum only involves bins that occur), which keeps the same values.
    let mut present = c.binned.clone();
    present.sort_unstable();
    present.dedup();
    let states: Vec<usize> = c.binned.iter().map(|b| present.binary_search(b).unwrap_or_default()).collect();
    let (_, probs) = transitions(&states, present.len());
    Ok((aggregate(&states, &probs, present.len(), &c.segments), c.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_series_warns_and_stays_in_one_bin() {
        let (m, w) = mtf(&[3.5; 20], &MtfParams::default()).unwrap();
        assert_eq!(w, vec![EQUAL_QUANTILES_WARNING.to_string()]);
        // every value sits in bin 0 (3.5 is not > the single edge 3.5): W[0][0] = 1.
        assert!(m.data.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn length_one_series() {
        let (m, w) = mtf(&[5.0], &MtfParams::default()).unwrap();
        assert_eq!(m.data, vec![0.0]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn two_bins_never_dedup() {
        let (e, w) = bin_edges(&[1.0; 5], 2, MtfStrategy::Quantile);
        assert_eq!(e, vec![1.0]);
        assert!(w.is_empty());
    }

    #[test]
    fn compact_and_full_transition_matrices_agree() {
        let x: Vec<f64> = (0..45).map(|t| (t as f64 * 0.37).sin() + 0.01 * t as f64).collect();
        for strategy in [MtfStrategy::Quantile, MtfStrategy::Uniform, MtfStrategy::Normal] {
            for n_bins in [2, 3, 8, 40, 200] {
                let p = MtfParams { image_size: SizeParam::Int(7), n_bins, strategy, overlapping: true };
                let (m, w) = mtf(&x, &p).unwrap();
                let d = mtf_detailed(&x, &p).unwrap();
                assert_eq!(w, d.warnings);
                assert!(m.data.iter().zip(&d.image.data).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}
