//! Canary promotion: a candidate version runs in shadow on the live inputs of the active version
//! of its name (its result is compared, never used); what the comparison found is tallied here
//! and judged against a [`Tolerance`] by [`judge`].

use crate::runtime::Plugin;
use crate::types::Matrix;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running canary as one process knows it: the candidate, the version it is compared with,
/// and what this process tallied since the tally was last taken (the host adds it to the stored
/// report).
#[derive(Debug)]
pub struct Canary {
    /// The stored canary's id.
    pub id: i64,
    /// The plugin name.
    pub name: String,
    /// The active version the candidate is compared with; live calls of another version are not
    /// shadowed.
    pub active_version: String,
    /// The candidate version, loaded.
    pub candidate: Arc<Plugin>,
    tally: Mutex<CanaryTally>,
}

impl Canary {
    /// A canary of `candidate` against `active_version` of `name`, with an empty tally.
    pub fn new(id: i64, name: String, active_version: String, candidate: Arc<Plugin>) -> Self {
        Self { id, name, active_version, candidate, tally: Mutex::new(CanaryTally::default()) }
    }

    /// Adds to this process's tally.
    pub fn record(&self, f: impl FnOnce(&mut CanaryTally)) {
        if let Ok(mut t) = self.tally.lock() {
            f(&mut t);
        }
    }

    /// Takes what was tallied since the last take (leaving an empty tally).
    pub fn take(&self) -> CanaryTally {
        self.tally.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default()
    }

    /// Puts a taken tally back (its write to the database failed), so nothing is lost.
    pub fn put_back(&self, taken: &CanaryTally) {
        self.record(|t| t.merge(taken));
    }
}

/// What the shadow calls of a canary found: counts, differences, time and memory of both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CanaryTally {
    /// Live calls the candidate was run on.
    pub calls: u64,
    /// Of those, calls where the active version failed (the candidate is not judged on them).
    pub active_errors: u64,
    /// Calls where the active version answered and the candidate failed.
    pub candidate_errors: u64,
    /// The first of the candidate's failures.
    pub first_candidate_error: Option<String>,
    /// Output values compared (matrix entries; for strategies, decisions).
    pub values_compared: u64,
    /// Values that differ at all.
    pub values_changed: u64,
    /// Image transforms: values whose 8-bit pixel differs.
    pub pixels_changed: u64,
    /// Largest absolute difference of one value.
    pub max_abs_diff: f64,
    /// Sum of absolute differences (the mean is this over `values_compared`).
    pub sum_abs_diff: f64,
    /// Largest Frobenius norm of the difference of two output matrices.
    pub max_matrix_diff_norm: f64,
    /// Strategies: decisions compared.
    pub decisions: u64,
    /// Strategies: decisions with the same target position.
    pub decisions_agreed: u64,
    /// Strategies: largest absolute difference between the candidate's shadow equity and the
    /// run's equity (both started from the same portfolio).
    pub max_abs_pnl_diff: f64,
    /// Time the active version's compared calls took, seconds.
    pub active_seconds: f64,
    /// Time the candidate's calls took, seconds.
    pub candidate_seconds: f64,
    /// Largest linear memory of an active call, bytes.
    pub active_peak_memory: u64,
    /// Largest linear memory of a candidate call, bytes.
    pub candidate_peak_memory: u64,
}

impl CanaryTally {
    /// True when nothing was tallied.
    pub fn is_empty(&self) -> bool {
        self == &CanaryTally::default()
    }

    /// Adds `other` (sums add, maxima take the larger, the first error stays the first).
    pub fn merge(&mut self, other: &CanaryTally) {
        self.calls += other.calls;
        self.active_errors += other.active_errors;
        self.candidate_errors += other.candidate_errors;
        if self.first_candidate_error.is_none() {
            self.first_candidate_error.clone_from(&other.first_candidate_error);
        }
        self.values_compared += other.values_compared;
        self.values_changed += other.values_changed;
        self.pixels_changed += other.pixels_changed;
        self.max_abs_diff = self.max_abs_diff.max(other.max_abs_diff);
        self.sum_abs_diff += other.sum_abs_diff;
        self.max_matrix_diff_norm = self.max_matrix_diff_norm.max(other.max_matrix_diff_norm);
        self.decisions += other.decisions;
        self.decisions_agreed += other.decisions_agreed;
        self.max_abs_pnl_diff = self.max_abs_pnl_diff.max(other.max_abs_pnl_diff);
        self.active_seconds += other.active_seconds;
        self.candidate_seconds += other.candidate_seconds;
        self.active_peak_memory = self.active_peak_memory.max(other.active_peak_memory);
        self.candidate_peak_memory = self.candidate_peak_memory.max(other.candidate_peak_memory);
    }

    /// Tallies one shadowed call: the active version's and the candidate's results, times and
    /// peak memory. `pixels` counts changed 8-bit pixels too (image transforms).
    #[allow(clippy::too_many_arguments)]
    pub fn compare_call<E: std::fmt::Display>(
        &mut self,
        active: &Result<Matrix, E>,
        candidate: &Result<Matrix, E>,
        active_time: Duration,
        candidate_time: Duration,
        active_memory: usize,
        candidate_memory: usize,
        pixels: bool,
    ) {
        self.calls += 1;
        self.active_seconds += active_time.as_secs_f64();
        self.candidate_seconds += candidate_time.as_secs_f64();
        self.active_peak_memory = self.active_peak_memory.max(active_memory as u64);
        self.candidate_peak_memory = self.candidate_peak_memory.max(candidate_memory as u64);
        match (active, candidate) {
            (Err(_), _) => self.active_errors += 1,
            (Ok(_), Err(e)) => self.candidate_failed(e.to_string()),
            (Ok(a), Ok(c)) => self.compare_matrices(a, c, pixels),
        }
    }

    /// Counts a candidate failure (keeping the first one's text).
    pub fn candidate_failed(&mut self, error: String) {
        self.candidate_errors += 1;
        if self.first_candidate_error.is_none() {
            self.first_candidate_error = Some(error);
        }
    }

    /// Compares two output matrices value by value. A different size counts every value of the
    /// larger as changed, with an infinite difference.
    pub fn compare_matrices(&mut self, active: &Matrix, candidate: &Matrix, pixels: bool) {
        if active.size != candidate.size || active.data.len() != candidate.data.len() {
            let n = active.data.len().max(candidate.data.len()) as u64;
            self.values_compared += n;
            self.values_changed += n;
            if pixels {
                self.pixels_changed += n;
            }
            self.max_abs_diff = f64::INFINITY;
            self.max_matrix_diff_norm = f64::INFINITY;
            return;
        }
        let mut squares = 0.0;
        for (&a, &c) in active.data.iter().zip(&candidate.data) {
            let d = if a.to_bits() == c.to_bits() { 0.0 } else { (a - c).abs() };
            // NaN on one side only is a difference without a size.
            let d = if d.is_nan() { f64::INFINITY } else { d };
            if d != 0.0 {
                self.values_changed += 1;
            }
            if pixels && cgaf_plugin_contract::to_pixel(a) != cgaf_plugin_contract::to_pixel(c) {
                self.pixels_changed += 1;
            }
            self.max_abs_diff = self.max_abs_diff.max(d);
            self.sum_abs_diff += d;
            squares += d * d;
        }
        self.values_compared += active.data.len() as u64;
        self.max_matrix_diff_norm = self.max_matrix_diff_norm.max(squares.sqrt());
    }

    /// Mean absolute difference of the compared values.
    pub fn mean_abs_diff(&self) -> f64 {
        if self.values_compared == 0 {
            0.0
        } else {
            self.sum_abs_diff / self.values_compared as f64
        }
    }

    /// Candidate time over active time (1 when nothing was timed).
    pub fn latency_ratio(&self) -> f64 {
        if self.active_seconds > 0.0 {
            self.candidate_seconds / self.active_seconds
        } else {
            1.0
        }
    }

    /// Candidate peak memory over active peak memory (1 when nothing was measured).
    pub fn memory_ratio(&self) -> f64 {
        if self.active_peak_memory > 0 {
            self.candidate_peak_memory as f64 / self.active_peak_memory as f64
        } else {
            1.0
        }
    }
}

/// How far a candidate may differ from the active version and still be promoted. Every field has
/// a strict default: identical outputs, no failure, at most 3× the time and 2× the memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tolerance {
    /// Largest absolute difference of one output value (images, matrices). Default 0.
    pub max_abs_diff: f64,
    /// Largest fraction of changed 8-bit pixels (image transforms), 0..=1. Default 0.
    pub max_changed_pixels: f64,
    /// Largest Frobenius norm of the difference of two output matrices. Default 0.
    pub max_matrix_diff_norm: f64,
    /// Smallest fraction of strategy decisions with the same target, 0..=1. Default 1.
    pub min_decision_agreement: f64,
    /// Largest absolute difference between the candidate's shadow equity and the run's. Default 1e-9.
    pub max_abs_pnl_diff: f64,
    /// Most candidate failures on calls the active version answered. Default 0.
    pub max_errors: u64,
    /// Largest candidate-to-active time ratio over all compared calls. Default 3.
    pub max_latency_ratio: f64,
    /// Largest candidate-to-active peak-memory ratio. Default 2.
    pub max_memory_ratio: f64,
    /// Fewest live calls compared before a promotion. Default 1.
    pub min_calls: u64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            max_abs_diff: 0.0,
            max_changed_pixels: 0.0,
            max_matrix_diff_norm: 0.0,
            min_decision_agreement: 1.0,
            max_abs_pnl_diff: 1e-9,
            max_errors: 0,
            max_latency_ratio: 3.0,
            max_memory_ratio: 2.0,
            min_calls: 1,
        }
    }
}

impl Tolerance {
    /// Checks that every bound is a number in its range; the first bad field is named.
    pub fn validate(&self) -> Result<(), String> {
        let non_negative = [
            ("max_abs_diff", self.max_abs_diff),
            ("max_matrix_diff_norm", self.max_matrix_diff_norm),
            ("max_abs_pnl_diff", self.max_abs_pnl_diff),
            ("max_latency_ratio", self.max_latency_ratio),
            ("max_memory_ratio", self.max_memory_ratio),
        ];
        for (name, v) in non_negative {
            if v.is_nan() || v < 0.0 {
                return Err(format!("tolerance {name} must be a number >= 0, not {v}"));
            }
        }
        for (name, v) in
            [("max_changed_pixels", self.max_changed_pixels), ("min_decision_agreement", self.min_decision_agreement)]
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("tolerance {name} must be a fraction in [0, 1], not {v}"));
            }
        }
        Ok(())
    }
}

/// What to do with a canary now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep comparing.
    Continue,
    /// Within tolerance: make the candidate active (the text says what was compared).
    Promote(String),
    /// Out of tolerance: refuse the candidate, for this reason.
    Refuse(String),
}

/// Judges `tally` against `tolerance`. A candidate that failed more often than allowed is refused
/// at once; otherwise nothing is decided until `done` (the calls or the duration asked for are
/// reached).
pub fn judge(tally: &CanaryTally, tolerance: &Tolerance, done: bool) -> Verdict {
    if tally.candidate_errors > tolerance.max_errors {
        return Verdict::Refuse(format!(
            "the candidate failed {} of {} live calls the active version answered (at most {} allowed); first: {}",
            tally.candidate_errors,
            tally.calls,
            tolerance.max_errors,
            tally.first_candidate_error.as_deref().unwrap_or("?")
        ));
    }
    if !done {
        return Verdict::Continue;
    }
    if tally.calls < tolerance.min_calls {
        return Verdict::Refuse(format!(
            "only {} live calls were compared (at least {} needed): nothing called this plugin in the window",
            tally.calls, tolerance.min_calls
        ));
    }
    if tally.max_abs_diff > tolerance.max_abs_diff {
        return Verdict::Refuse(format!(
            "outputs differ: max absolute difference {} > tolerance {} ({} of {} values changed, mean {:.3e})",
            tally.max_abs_diff,
            tolerance.max_abs_diff,
            tally.values_changed,
            tally.values_compared,
            tally.mean_abs_diff()
        ));
    }
    let changed_pixels =
        if tally.values_compared > 0 { tally.pixels_changed as f64 / tally.values_compared as f64 } else { 0.0 };
    if changed_pixels > tolerance.max_changed_pixels {
        return Verdict::Refuse(format!(
            "{} of {} pixels changed ({:.4} > tolerance {})",
            tally.pixels_changed, tally.values_compared, changed_pixels, tolerance.max_changed_pixels
        ));
    }
    if tally.max_matrix_diff_norm > tolerance.max_matrix_diff_norm {
        return Verdict::Refuse(format!(
            "matrices differ: norm of the difference {} > tolerance {}",
            tally.max_matrix_diff_norm, tolerance.max_matrix_diff_norm
        ));
    }
    if tally.decisions > 0 {
        let agreement = tally.decisions_agreed as f64 / tally.decisions as f64;
        if agreement < tolerance.min_decision_agreement {
            return Verdict::Refuse(format!(
                "decisions agree on {} of {} bars ({agreement:.4} < tolerance {})",
                tally.decisions_agreed, tally.decisions, tolerance.min_decision_agreement
            ));
        }
    }
    if tally.max_abs_pnl_diff > tolerance.max_abs_pnl_diff {
        return Verdict::Refuse(format!(
            "PnL differs by up to {} (tolerance {})",
            tally.max_abs_pnl_diff, tolerance.max_abs_pnl_diff
        ));
    }
    if tally.latency_ratio() > tolerance.max_latency_ratio {
        return Verdict::Refuse(format!(
            "the candidate is {:.1}× slower than the active version ({:.3} s vs {:.3} s over {} calls; at most {}×)",
            tally.latency_ratio(),
            tally.candidate_seconds,
            tally.active_seconds,
            tally.calls,
            tolerance.max_latency_ratio
        ));
    }
    if tally.memory_ratio() > tolerance.max_memory_ratio {
        return Verdict::Refuse(format!(
            "the candidate peaks at {:.1}× the active version's memory ({} vs {} bytes; at most {}×)",
            tally.memory_ratio(),
            tally.candidate_peak_memory,
            tally.active_peak_memory,
            tolerance.max_memory_ratio
        ));
    }
    Verdict::Promote(format!(
        "{} live calls compared within tolerance: max absolute difference {}, {} values changed, {:.2}× the time, \
         {:.2}× the memory",
        tally.calls,
        tally.max_abs_diff,
        tally.values_changed,
        tally.latency_ratio(),
        tally.memory_ratio()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(data: &[f64]) -> Matrix {
        Matrix { size: (data.len() as f64).sqrt() as usize, data: data.to_vec() }
    }

    fn ok(a: &[f64]) -> Result<Matrix, String> {
        Ok(m(a))
    }

    fn calls(t: &mut CanaryTally, a: &[f64], c: &[f64], n: usize) {
        for _ in 0..n {
            let ms = Duration::from_millis(1);
            t.compare_call(&ok(a), &ok(c), ms, ms, 1 << 20, 1 << 20, true);
        }
    }

    #[test]
    fn identical_outputs_are_promoted_once_done() {
        let mut t = CanaryTally::default();
        calls(&mut t, &[0.5, -0.5, 0.25, 1.0], &[0.5, -0.5, 0.25, 1.0], 3);
        assert_eq!(judge(&t, &Tolerance::default(), false), Verdict::Continue);
        let v = judge(&t, &Tolerance::default(), true);
        assert!(matches!(v, Verdict::Promote(_)), "{v:?}");
        assert_eq!((t.calls, t.values_compared, t.values_changed), (3, 12, 0));
    }

    #[test]
    fn a_changed_output_is_refused_with_its_difference() {
        let mut t = CanaryTally::default();
        calls(&mut t, &[0.5, -0.5, 0.25, 1.0], &[0.5, -0.5, 0.25, 0.5], 2);
        assert_eq!((t.values_changed, t.pixels_changed, t.max_abs_diff), (2, 2, 0.5));
        assert!((t.max_matrix_diff_norm - 0.5).abs() < 1e-15);
        let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), true) else { panic!() };
        assert!(why.contains("max absolute difference 0.5"), "{why}");
        let loose =
            Tolerance { max_abs_diff: 0.5, max_changed_pixels: 1.0, max_matrix_diff_norm: 1.0, ..Default::default() };
        assert!(matches!(judge(&t, &loose, true), Verdict::Promote(_)));
    }

    #[test]
    fn a_candidate_failure_refuses_at_once_and_active_failures_do_not_count() {
        let mut t = CanaryTally::default();
        let ms = Duration::from_millis(1);
        t.compare_call(&Err("active".to_string()), &ok(&[1.0]), ms, ms, 0, 0, true);
        assert_eq!(judge(&t, &Tolerance::default(), false), Verdict::Continue);
        t.compare_call(&ok(&[1.0]), &Err("trap: unreachable".to_string()), ms, ms, 0, 0, true);
        let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), false) else { panic!() };
        assert!(why.contains("failed 1 of 2") && why.contains("trap: unreachable"), "{why}");
    }

    #[test]
    fn a_slow_or_hungry_candidate_is_refused() {
        let mut t = CanaryTally::default();
        let a = ok(&[1.0]);
        t.compare_call(&a, &a, Duration::from_millis(1), Duration::from_millis(10), 1 << 20, 1 << 20, true);
        let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), true) else { panic!() };
        assert!(why.contains("10.0× slower"), "{why}");
        let mut t = CanaryTally::default();
        t.compare_call(&a, &a, Duration::from_millis(1), Duration::from_millis(1), 1 << 20, 3 << 20, true);
        let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), true) else { panic!() };
        assert!(why.contains("3.0× the active version's memory"), "{why}");
    }

    #[test]
    fn no_calls_in_the_window_is_a_refusal_and_tallies_merge() {
        let t = CanaryTally::default();
        let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), true) else { panic!() };
        assert!(why.contains("only 0 live calls"), "{why}");
        let mut a = CanaryTally::default();
        calls(&mut a, &[1.0], &[0.0], 1);
        let mut b = CanaryTally { first_candidate_error: Some("x".into()), candidate_errors: 1, ..Default::default() };
        b.merge(&a);
        assert_eq!((b.calls, b.candidate_errors, b.max_abs_diff), (1, 1, 1.0));
        assert_eq!(b.first_candidate_error.as_deref(), Some("x"));
    }

    #[test]
    fn a_different_size_or_a_lone_nan_is_a_difference() {
        let mut t = CanaryTally::default();
        t.compare_matrices(&m(&[1.0]), &m(&[1.0, 1.0, 1.0, 1.0]), true);
        assert_eq!((t.values_changed, t.max_abs_diff), (4, f64::INFINITY));
        let mut t = CanaryTally::default();
        t.compare_matrices(&m(&[f64::NAN]), &m(&[f64::NAN]), false);
        assert_eq!(t.values_changed, 0);
        t.compare_matrices(&m(&[f64::NAN]), &m(&[0.0]), false);
        assert_eq!(t.values_changed, 1);
    }

    #[test]
    fn tolerances_are_validated() {
        assert!(Tolerance::default().validate().is_ok());
        let e = Tolerance { min_decision_agreement: 1.5, ..Default::default() }.validate().unwrap_err();
        assert!(e.contains("min_decision_agreement"), "{e}");
        let e = Tolerance { max_latency_ratio: f64::NAN, ..Default::default() }.validate().unwrap_err();
        assert!(e.contains("max_latency_ratio"), "{e}");
        let e = serde_json::from_str::<Tolerance>(r#"{"max_diff": 1}"#).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
