//! Tuning sweeps of the matrix pipeline: every combination of k, solver and blender replayed over
//! one stored range — each combination a replay of its own ([`replay`], the same code as
//! `cgaf replay`, so a combination's rows hash equal to a replay of the same settings) — in
//! parallel, ranked by mean forecast RMSE (lower first), then skill (higher first), then name.

use crate::matrix::pipeline::{Blend, PipelineSettings};
use crate::matrix::solver::SolverMode;
use crate::matrix::worker::{replay, ReplayReport};
use crate::Error;
use cgaf_store::{MatrixSweepResult, Store};
use std::cmp::Ordering;
use std::sync::Arc;

/// A blender of the grid: its name, parameters, and the text it was given as (for names).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepBlender {
    /// `NAME[:param=value...]` as given.
    pub label: String,
    /// Plugin name.
    pub name: String,
    /// Parameters.
    pub params: Vec<(String, String)>,
}

/// What a sweep varies; every lane (granularity) of the base settings takes each combination.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGrid {
    /// Values of k (≥ 1).
    pub k: Vec<usize>,
    /// Solvers.
    pub solvers: Vec<SolverMode>,
    /// Blenders.
    pub blenders: Vec<SweepBlender>,
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// k.
    pub k: usize,
    /// Solver.
    pub solver: SolverMode,
    /// Blender.
    pub blender: SweepBlender,
}

impl SweepGrid {
    /// Every combination, k outermost, then solver, then blender.
    pub fn combinations(&self) -> Vec<Combination> {
        let mut out = Vec::new();
        for &k in &self.k {
            for &solver in &self.solvers {
                for blender in &self.blenders {
                    out.push(Combination { k, solver, blender: blender.clone() });
                }
            }
        }
        out
    }

    /// The grid as stored with the sweep.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "k": self.k,
            "solver": self.solvers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "blender": self.blenders.iter().map(|b| b.label.clone()).collect::<Vec<_>>(),
        })
    }

    /// Refuses an empty axis or k = 0.
    pub fn check(&self) -> Result<(), Error> {
        if self.k.is_empty() || self.solvers.is_empty() || self.blenders.is_empty() {
            return Err(Error::Setting("a matrix sweep needs at least one k, solver and blender".into()));
        }
        if self.k.contains(&0) {
            return Err(Error::Setting("k must be at least 1".into()));
        }
        Ok(())
    }
}

impl Combination {
    /// `base` with this combination on every lane (what `cgaf replay --k --solver --blender`
    /// does with the same values).
    pub fn settings(&self, base: &PipelineSettings) -> PipelineSettings {
        let mut s = base.clone();
        for lane in &mut s.lanes {
            lane.k = self.k;
            lane.solver = self.solver;
            lane.blender = self.blender.name.clone();
            lane.blender_params = self.blender.params.clone();
        }
        s
    }

    /// The name of this combination's replay in sweep `sweep`.
    pub fn replay_name(&self, sweep: &str) -> String {
        format!("{sweep}/k={}/solver={}/blender={}", self.k, self.solver, self.blender.label)
    }

    fn result(&self, r: &ReplayReport) -> MatrixSweepResult {
        MatrixSweepResult {
            replay: r.name.clone(),
            rank: 0,
            k: i32::try_from(self.k).unwrap_or(i32::MAX),
            solver: self.solver.to_string(),
            blender: self.blender.label.clone(),
            scores: r.scores as i64,
            rmse: r.rmse,
            skill: r.skill,
            faults: r.faults as i64,
            rows_sha256: r.sha256.clone(),
        }
    }
}

/// Lower mean RMSE first (none last), then higher skill (none last), then the replay name.
pub fn ranking(a: &MatrixSweepResult, b: &MatrixSweepResult) -> Ordering {
    let none_last = |x: Option<f64>, y: Option<f64>, f: fn(f64, f64) -> Ordering| match (x, y) {
        (Some(x), Some(y)) => f(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    none_last(a.rmse, b.rmse, |x, y| x.total_cmp(&y))
        .then_with(|| none_last(a.skill, b.skill, |x, y| y.total_cmp(&x)))
        .then_with(|| a.replay.cmp(&b.replay))
}

/// Sorts `results` by [`ranking`] and numbers them from 1.
pub fn rank(results: &mut [MatrixSweepResult]) {
    results.sort_by(ranking);
    for (i, r) in results.iter_mut().enumerate() {
        r.rank = i as i32 + 1;
    }
}

/// Called as each combination finishes: (done, total, its result).
pub type SweepProgress = Arc<dyn Fn(usize, usize, &MatrixSweepResult) + Send + Sync>;

/// Where and what a sweep replays.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepTarget {
    /// The sweep's name (its replays are named after it).
    pub name: String,
    /// Product.
    pub product: String,
    /// Start of the range (bucket starts), ms.
    pub from_ms: i64,
    /// End, exclusive, ms.
    pub to_ms: i64,
}

/// Runs every combination of `grid` over `target` with `base`'s features, aggregation and
/// granularities, at most `parallel` at once (each replay computes on a blocking thread, so
/// combinations use separate cores), stores the ranked results with the sweep and returns its
/// id and the results, best first.
pub async fn sweep(
    store: &Store,
    base: &PipelineSettings,
    blender: Arc<dyn Blend>,
    grid: &SweepGrid,
    target: &SweepTarget,
    parallel: usize,
    progress: SweepProgress,
) -> Result<(i64, Vec<MatrixSweepResult>), Error> {
    grid.check()?;
    let id =
        store.create_matrix_sweep(&target.name, &target.product, target.from_ms, target.to_ms, &grid.to_json()).await?;
    let combinations = grid.combinations();
    let total = combinations.len();
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for c in combinations {
        let (store, blender, permits, target) = (store.clone(), blender.clone(), permits.clone(), target.clone());
        let settings = c.settings(base);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| Error::Task(e.to_string()))?;
            let name = c.replay_name(&target.name);
            let report =
                replay(&store, &settings, blender, &name, &target.product, target.from_ms, target.to_ms).await?;
            Ok::<_, Error>(c.result(&report))
        });
    }
    let mut results = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| Error::Task(e.to_string()))??;
        results.push(r);
        if let Some(last) = results.last() {
            progress(results.len(), total, last);
        }
    }
    rank(&mut results);
    store.finish_matrix_sweep(id, &results).await?;
    Ok((id, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(replay: &str, rmse: Option<f64>, skill: Option<f64>) -> MatrixSweepResult {
        MatrixSweepResult {
            replay: replay.into(),
            rank: 0,
            k: 1,
            solver: "min-norm".into(),
            blender: "blend-mean".into(),
            scores: 1,
            rmse,
            skill,
            faults: 0,
            rows_sha256: String::new(),
        }
    }

    #[test]
    fn ranking_is_by_rmse_then_skill_then_name() {
        let mut rs = vec![
            result("d", None, None),
            result("c", Some(0.5), Some(0.1)),
            result("b", Some(0.2), Some(0.0)),
            result("a", Some(0.5), Some(0.3)),
            result("e", Some(0.5), Some(0.3)),
        ];
        rank(&mut rs);
        let order: Vec<(&str, i32)> = rs.iter().map(|r| (r.replay.as_str(), r.rank)).collect();
        assert_eq!(order, [("b", 1), ("a", 2), ("e", 3), ("c", 4), ("d", 5)]);
    }

    #[test]
    fn the_grid_is_every_combination_and_refuses_empty_axes() {
        let b = |n: &str| SweepBlender { label: n.into(), name: n.into(), params: vec![] };
        let grid = SweepGrid {
            k: vec![2, 4],
            solvers: vec![SolverMode::MinNorm, SolverMode::Stochastic { lambda: 1.0 }],
            blenders: vec![b("blend-mean"), b("blend-ewma")],
        };
        let all = grid.combinations();
        assert_eq!(all.len(), 8);
        assert_eq!(all[7].replay_name("s"), "s/k=4/solver=stochastic:1/blender=blend-ewma");
        assert!(grid.check().is_ok());
        assert!(SweepGrid { k: vec![], ..grid.clone() }.check().is_err());
        assert!(SweepGrid { k: vec![0], ..grid }.check().is_err());
    }
}
