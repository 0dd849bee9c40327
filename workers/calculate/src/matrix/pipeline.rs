//! The matrix pipeline's step logic, without I/O: a sample → its feature vector → the rollup of
//! every granularity ("lane"); on a bucket's close → score the pending forecast, solve the
//! transition from the previous rollup, blend the last k transitions through the blender,
//! forecast the next rollup. Everything it needs between steps is in [`PipelineState`], which the
//! worker stores as the cursor in the transaction of the rows the step produced.

use crate::matrix::features::{feature_vector, FeatureSample, FeatureSet};
use crate::matrix::rollup::{self, Aggregation, OpenBucket, Rollup};
use crate::matrix::score;
use crate::matrix::solver::{self, SolverMode};
use cgaf_runtime::Matrix;
use cgaf_store::{BlendRow, ForecastRow, MatrixRows, RollupRow, ScoreRow, TransitionRow};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Blends matrices with a blender plugin by name (the plugin host in the service: sandboxed,
/// counted, quarantined like every plugin call, and shadowed by a running canary).
pub trait Blend: Send + Sync {
    /// Blends `matrices` (oldest first) with the active version of blender `name`; returns the
    /// blended matrix and the version that made it.
    fn blend(&self, name: &str, matrices: &[Matrix], params: &[(String, String)]) -> Result<(Matrix, String), String>;
}

impl Blend for cgaf_runtime::PluginHost {
    fn blend(&self, name: &str, matrices: &[Matrix], params: &[(String, String)]) -> Result<(Matrix, String), String> {
        let plugin = self.registry.get(name).map_err(|e| e.to_string())?;
        let m = self.blend_live(&plugin, matrices, params).map_err(|e| format!("blender {name}: {e}"))?;
        Ok((m, plugin.info.version.clone()))
    }
}

/// The settings of one granularity.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneSettings {
    /// Bucket width, ms (> 0).
    pub granularity_ms: i64,
    /// How transitions are solved.
    pub solver: SolverMode,
    /// Blender plugin name.
    pub blender: String,
    /// Its parameters.
    pub blender_params: Vec<(String, String)>,
    /// Transitions blended (≥ 1).
    pub k: usize,
}

/// What the pipeline computes.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    /// The feature vector.
    pub features: FeatureSet,
    /// How a bucket's vectors are aggregated.
    pub aggregation: Aggregation,
    /// The granularities.
    pub lanes: Vec<LaneSettings>,
}

/// A forecast waiting for the rollup it predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingForecast {
    /// Start of w(t), ms.
    pub base_ms: i64,
    /// w(t) (the naive forecast).
    pub base: Vec<f64>,
    /// ŵ(t+1).
    pub forecast: Vec<f64>,
    /// Blender that made the blend.
    pub blender: String,
    /// Drift of that blend.
    pub drift: Option<f64>,
    /// Its diagonal dominance.
    pub diagonal_dominance: f64,
}

/// The state of one granularity between steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaneState {
    /// The bucket being filled.
    pub open: Option<OpenBucket>,
    /// The last closed rollup.
    pub last: Option<Rollup>,
    /// The newest k + 1 rollup vectors, oldest first (only for a solver over a window: `ridge`).
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub recent: VecDeque<Vec<f64>>,
    /// The newest transitions (at most k), oldest first.
    pub matrices: VecDeque<Vec<f64>>,
    /// The last blend (for drift).
    pub last_blend: Option<Vec<f64>>,
    /// The forecast made at the last rollup.
    pub pending: Option<PendingForecast>,
}

/// The pipeline's state for one product: stored as the cursor's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// Feature-set key the state was built with (a change starts afresh).
    pub features: String,
    /// The last sample consumed.
    pub last_sample_id: i64,
    /// Its midpoint (for the next return).
    pub previous_midpoint: Option<f64>,
    /// Per granularity (ms).
    pub lanes: BTreeMap<i64, LaneState>,
}

/// A blend that did not happen, for the log and the error counter.
#[derive(Debug, Clone, PartialEq)]
pub struct BlendFault {
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// Blender name.
    pub blender: String,
    /// What went wrong.
    pub error: String,
}

/// What a run of steps produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepOutput {
    /// Rows to store.
    pub rows: MatrixRows,
    /// Blends skipped.
    pub faults: Vec<BlendFault>,
}

impl PipelineSettings {
    /// A state for these settings: the stored one when it was built with the same feature set,
    /// else a fresh one (continuing after `last_sample_id`).
    pub fn adopt(&self, stored: Option<PipelineState>, last_sample_id: i64) -> PipelineState {
        let key = self.features.key();
        match stored {
            Some(s) if s.features == key => s,
            _ => PipelineState { features: key, last_sample_id, ..Default::default() },
        }
    }

    /// Feeds one sample of `product`.
    pub fn on_sample(
        &self,
        product: &str,
        state: &mut PipelineState,
        sample: &FeatureSample,
        blender: &dyn Blend,
        out: &mut StepOutput,
    ) {
        let w = feature_vector(&self.features, sample, state.previous_midpoint);
        state.last_sample_id = sample.sample_id;
        if sample.midpoint.is_finite() && sample.midpoint > 0.0 {
            state.previous_midpoint = Some(sample.midpoint);
        }
        for lane in &self.lanes {
            let ls = state.lanes.entry(lane.granularity_ms).or_default();
            if let Some(r) = rollup::push(&mut ls.open, lane.granularity_ms, self.aggregation, sample.sampled_at_ms, &w)
            {
                out.rows.rollups.push(RollupRow {
                    product: product.to_string(),
                    granularity_ms: lane.granularity_ms,
                    start_ms: r.start_ms,
                    end_ms: r.end_ms,
                    count: r.count as i64,
                    features: state.features.clone(),
                    w: r.w.clone(),
                });
                self.on_rollup(product, lane, ls, r, blender, out);
            }
        }
    }

    /// Feeds one closed rollup `r` to `lane`: score, solve, blend, forecast.
    pub fn on_rollup(
        &self,
        product: &str,
        lane: &LaneSettings,
        ls: &mut LaneState,
        r: Rollup,
        blender: &dyn Blend,
        out: &mut StepOutput,
    ) {
        let features = self.features.key();
        let n = r.w.len();
        if let Some(p) = ls.pending.take() {
            if p.forecast.len() == n {
                let s = score::score(&p.forecast, &p.base, &r.w);
                out.rows.scores.push(ScoreRow {
                    product: product.to_string(),
                    granularity_ms: lane.granularity_ms,
                    base_ms: p.base_ms,
                    actual_ms: r.start_ms,
                    blender: p.blender,
                    features: features.clone(),
                    mae: s.mae,
                    rmse: s.rmse,
                    naive_mae: s.naive_mae,
                    naive_rmse: s.naive_rmse,
                    skill: s.skill,
                    drift: p.drift,
                    diagonal_dominance: p.diagonal_dominance,
                });
            }
        }
        let previous = ls.last.replace(r.clone());
        if lane.solver.uses_window() {
            ls.recent.push_back(r.w.clone());
            while ls.recent.len() > lane.k.max(1) + 1 {
                ls.recent.pop_front();
            }
        }
        let Some(r0) = previous else { return };
        let window: Vec<&[f64]> = if lane.solver.uses_window() && ls.recent.len() >= 2 {
            ls.recent.iter().map(Vec::as_slice).collect()
        } else {
            vec![&r0.w, &r.w]
        };
        let solved = match solver::solve_window(lane.solver, &window) {
            Ok(s) => s,
            Err(e) => {
                out.faults.push(BlendFault {
                    granularity_ms: lane.granularity_ms,
                    blender: lane.blender.clone(),
                    error: format!("solver: {e}"),
                });
                return;
            }
        };
        out.rows.transitions.push(TransitionRow {
            product: product.to_string(),
            granularity_ms: lane.granularity_ms,
            t0_ms: r0.start_ms,
            t1_ms: r.start_ms,
            mode: lane.solver.name().to_string(),
            features: features.clone(),
            size: n as i32,
            matrix: solved.matrix.clone(),
            residual: solved.residual,
        });
        ls.matrices.push_back(solved.matrix);
        while ls.matrices.len() > lane.k.max(1) {
            ls.matrices.pop_front();
        }
        let inputs: Vec<Matrix> = ls.matrices.iter().map(|m| Matrix { size: n, data: m.clone() }).collect();
        let blended = blender.blend(&lane.blender, &inputs, &lane.blender_params).and_then(|(m, version)| {
            if m.size != n || m.data.len() != n * n || !m.data.iter().all(|v| v.is_finite()) {
                Err(format!(
                    "blender {} returned a {}×{} matrix (or non-finite values); want {n}×{n}",
                    lane.blender, m.size, m.size
                ))
            } else {
                Ok((m, version))
            }
        });
        let (m, version) = match blended {
            Ok(b) => b,
            Err(error) => {
                out.faults.push(BlendFault {
                    granularity_ms: lane.granularity_ms,
                    blender: lane.blender.clone(),
                    error,
                });
                return;
            }
        };
        let drift = ls.last_blend.as_ref().filter(|b| b.len() == m.data.len()).map(|b| score::drift(b, &m.data, n));
        let dominance = score::diagonal_dominance(&m.data, n);
        let forecast = score::forecast(&m.data, &r.w);
        out.rows.blends.push(BlendRow {
            product: product.to_string(),
            granularity_ms: lane.granularity_ms,
            t1_ms: r.start_ms,
            blender: lane.blender.clone(),
            blender_version: version,
            k: lane.k as i32,
            matrices: inputs.len() as i32,
            features: features.clone(),
            size: n as i32,
            matrix: m.data.clone(),
            w: r.w.clone(),
            drift,
            diagonal_dominance: dominance,
        });
        out.rows.forecasts.push(ForecastRow {
            product: product.to_string(),
            granularity_ms: lane.granularity_ms,
            base_ms: r.start_ms,
            blender: lane.blender.clone(),
            features,
            forecast: forecast.clone(),
        });
        ls.last_blend = Some(m.data);
        ls.pending = Some(PendingForecast {
            base_ms: r.start_ms,
            base: r.w,
            forecast,
            blender: lane.blender.clone(),
            drift,
            diagonal_dominance: dominance,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The element-wise mean, natively (the built-in plugin's rule), with a fault switch.
    struct NativeMean {
        fail: bool,
    }

    impl Blend for NativeMean {
        fn blend(&self, _: &str, ms: &[Matrix], _: &[(String, String)]) -> Result<(Matrix, String), String> {
            if self.fail {
                return Err("boom".into());
            }
            let n = ms[0].size;
            let mut data = vec![0.0; n * n];
            for m in ms {
                data.iter_mut().zip(&m.data).for_each(|(a, v)| *a += v);
            }
            data.iter_mut().for_each(|a| *a /= ms.len() as f64);
            Ok((Matrix { size: n, data }, "1.0.0".into()))
        }
    }

    fn settings(k: usize) -> PipelineSettings {
        PipelineSettings {
            features: FeatureSet::default(),
            aggregation: Aggregation::Mean,
            lanes: vec![LaneSettings {
                granularity_ms: 1_000,
                solver: SolverMode::MinNorm,
                blender: "blend-mean".into(),
                blender_params: vec![],
                k,
            }],
        }
    }

    fn rollup(start_ms: i64, w: &[f64]) -> Rollup {
        Rollup { start_ms, end_ms: start_ms + 1_000, count: 1, w: w.to_vec() }
    }

    #[test]
    fn rollups_give_transitions_blends_forecasts_and_scores() {
        let s = settings(2);
        let lane = &s.lanes[0];
        let mut ls = LaneState::default();
        let mut out = StepOutput::default();
        let ws = [[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]];
        for (i, w) in ws.iter().enumerate() {
            s.on_rollup("P", lane, &mut ls, rollup(i as i64 * 1_000, w), &NativeMean { fail: false }, &mut out);
        }
        let r = &out.rows;
        assert_eq!((r.transitions.len(), r.blends.len(), r.forecasts.len(), r.scores.len()), (3, 3, 3, 2));
        // min-norm (1,0)→(2,0): [[2,0],[0,1]]; (2,0)→(2,1): [[1,0],[0.5,1]]; blend k=2: mean.
        assert_eq!(r.transitions[0].matrix, [2.0, 0.0, 0.0, 1.0]);
        assert_eq!(r.transitions[1].matrix, [1.0, 0.0, 0.5, 1.0]);
        assert_eq!(r.blends[1].matrix, [1.5, 0.0, 0.25, 1.0]);
        assert_eq!(r.blends[1].matrices, 2);
        // ŵ = blend·(2,1) = (3, 1.5); actual (0, 1): MAE 1.75, naive (2,1) MAE 1.
        assert_eq!(r.forecasts[1].forecast, [3.0, 1.5]);
        assert_eq!((r.scores[1].base_ms, r.scores[1].actual_ms), (2_000, 3_000));
        assert_eq!(r.scores[1].mae, 1.75);
        assert_eq!(r.scores[1].naive_mae, 1.0);
        // Drift between blend 0 ([[2,0],[0,1]]) and blend 1: ‖[[−0.5,0],[0.25,0]]‖₂ = sqrt(0.3125).
        assert!((r.blends[1].drift.unwrap() - 0.3125f64.sqrt()).abs() < 1e-15);
        assert_eq!(r.blends[0].drift, None);
        // k = 2: the third blend uses only the two newest transitions.
        assert_eq!(r.blends[2].matrices, 2);
    }

    #[test]
    fn a_blender_fault_skips_that_blend_and_the_pipeline_goes_on() {
        let s = settings(3);
        let lane = &s.lanes[0];
        let mut ls = LaneState::default();
        let mut out = StepOutput::default();
        s.on_rollup("P", lane, &mut ls, rollup(0, &[1.0, 0.0]), &NativeMean { fail: false }, &mut out);
        s.on_rollup("P", lane, &mut ls, rollup(1_000, &[2.0, 0.0]), &NativeMean { fail: true }, &mut out);
        assert_eq!(out.faults.len(), 1);
        assert_eq!((out.rows.transitions.len(), out.rows.blends.len()), (1, 0));
        s.on_rollup("P", lane, &mut ls, rollup(2_000, &[2.0, 1.0]), &NativeMean { fail: false }, &mut out);
        assert_eq!((out.rows.transitions.len(), out.rows.blends.len(), out.rows.scores.len()), (2, 1, 0));
        assert_eq!(out.rows.blends[0].matrices, 2);
    }

    #[test]
    fn samples_roll_up_per_lane_and_the_state_round_trips_through_json() {
        let mut s = settings(2);
        s.lanes.push(LaneSettings { granularity_ms: 3_000, ..s.lanes[0].clone() });
        let mut state = s.adopt(None, 0);
        let mut out = StepOutput::default();
        for i in 0..20i64 {
            let sample = FeatureSample {
                sample_id: i + 1,
                sampled_at_ms: i * 400,
                midpoint: 100.0 + (i as f64 * 0.9).sin(),
                bid_sizes: vec![1.0 + (i % 3) as f64, 2.0, 1.0],
                ask_sizes: vec![2.0, 1.0 + (i % 2) as f64, 1.0],
                buy_size: (i % 4) as f64,
                sell_size: 1.0,
            };
            s.on_sample("P", &mut state, &sample, &NativeMean { fail: false }, &mut out);
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(serde_json::from_value::<PipelineState>(json).unwrap(), state);
        }
        // 7.6 s of samples: 1 s buckets 0..=6 closed, 3 s buckets 0 and 3000 closed.
        let by = |g: i64| out.rows.rollups.iter().filter(|r| r.granularity_ms == g).count();
        assert_eq!((by(1_000), by(3_000)), (7, 2));
        assert_eq!(state.last_sample_id, 20);
        assert!(out.rows.rollups.iter().all(|r| r.features == FeatureSet::default().key()));
        // A changed feature set starts afresh.
        let other = PipelineSettings {
            features: FeatureSet::new(vec![crate::matrix::features::Feature::TakerFlow], 3, 1e-4).unwrap(),
            ..s.clone()
        };
        let fresh = other.adopt(Some(state.clone()), 20);
        assert!(fresh.lanes.is_empty());
        assert_eq!(s.adopt(Some(state.clone()), 0), state);
    }
}
