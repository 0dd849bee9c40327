//! Tuning sweeps of the matrix pipeline: every combination of k, solver and blender replayed over
//! one stored range — each combination a replay of its own ([`replay`], the same code as
//! `cgaf replay`, so a combination's rows hash equal to a replay of the same settings) — in
//! parallel, ranked by mean forecast RMSE (lower first), then skill (higher first), then name.
//! A sweep is run by its caller (`cgaf sweep --matrices`) or, submitted through the API, claimed
//! and run by a calculate worker ([`SweepRunner`]).

use crate::matrix::pipeline::{Blend, PipelineSettings};
use crate::matrix::solver::SolverMode;
use crate::matrix::worker::{replay, ReplayReport};
use crate::Error;
use cgaf_store::{MatrixSweepResult, MatrixSweepRow, NewMatrixSweep, Store};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

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

impl SweepBlender {
    /// `NAME[:param=value...]` (the name lowercase `[a-z0-9-]`, at most 64 bytes).
    pub fn parse(label: &str) -> Result<Self, Error> {
        let label = label.trim();
        let mut parts = label.split(':');
        let name = parts.next().unwrap_or_default().trim().to_string();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Error::Setting(format!("blender name {name:?} must be lowercase [a-z0-9-]")));
        }
        let params = parts
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| Error::Setting(format!("blender parameter {p:?} must be NAME=VALUE")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { label: label.to_string(), name, params })
    }
}

impl SweepGrid {
    /// The grid of `k` values, solver modes and blenders as given (`stochastic:0.5`,
    /// `blend-ewma:alpha=0.3`), checked.
    pub fn parse<S: AsRef<str>>(k: &[u32], solvers: &[S], blenders: &[S]) -> Result<Self, Error> {
        let grid = Self {
            k: k.iter().map(|&k| k as usize).collect(),
            solvers: solvers.iter().map(|s| SolverMode::parse(s.as_ref())).collect::<Result<_, _>>()?,
            blenders: blenders.iter().map(|b| SweepBlender::parse(b.as_ref())).collect::<Result<_, _>>()?,
        };
        grid.check()?;
        Ok(grid)
    }

    /// The grid stored with a sweep ([`SweepGrid::to_json`]) read back.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        struct Stored {
            k: Vec<u32>,
            solver: Vec<String>,
            blender: Vec<String>,
        }
        let s: Stored =
            serde_json::from_value(v.clone()).map_err(|e| Error::Setting(format!("stored matrix sweep grid: {e}")))?;
        Self::parse(&s.k, &s.solver, &s.blender)
    }

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
        if self.combinations_len() > MAX_COMBINATIONS {
            return Err(Error::Setting(format!("a matrix sweep has at most {MAX_COMBINATIONS} combinations")));
        }
        if self.k.is_empty() || self.solvers.is_empty() || self.blenders.is_empty() {
            return Err(Error::Setting("a matrix sweep needs at least one k, solver and blender".into()));
        }
        if self.k.iter().any(|&k| !(1..=1000).contains(&k)) {
            return Err(Error::Setting("k must be 1..=1000".into()));
        }
        Ok(())
    }

    /// How many combinations the grid has.
    pub fn combinations_len(&self) -> usize {
        self.k.len().saturating_mul(self.solvers.len()).saturating_mul(self.blenders.len())
    }
}

/// Most combinations in one sweep.
pub const MAX_COMBINATIONS: usize = 10_000;

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
/// id and the results, best first. The caller runs the sweep (it is never claimed by a worker).
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
    let id = store.create_matrix_sweep(&new_sweep(grid, target, &grid.to_json())).await?;
    let run = Run { store, base, blender, grid, target, parallel, id, holder: None };
    match run.replay_all(progress).await {
        Ok(results) => {
            store.finish_matrix_sweep(id, None, &results).await?;
            Ok((id, results))
        }
        Err(e) => {
            store.fail_matrix_sweep(id, None, &e.to_string()).await?;
            Err(e)
        }
    }
}

fn new_sweep<'a>(grid: &SweepGrid, target: &'a SweepTarget, json: &'a serde_json::Value) -> NewMatrixSweep<'a> {
    NewMatrixSweep {
        name: &target.name,
        product: &target.product,
        from_ms: target.from_ms,
        to_ms: target.to_ms,
        grid: json,
        combinations: grid.combinations_len() as i64,
    }
}

/// Records a sweep for a calculate worker to claim ([`SweepRunner`]) and returns its id (the
/// API's `POST /api/matrices/sweeps`).
pub async fn submit(store: &Store, grid: &SweepGrid, target: &SweepTarget) -> Result<i64, Error> {
    grid.check()?;
    Ok(store.submit_matrix_sweep(&new_sweep(grid, target, &grid.to_json())).await?)
}

/// One sweep being run: where its rows go and who holds it.
struct Run<'a> {
    store: &'a Store,
    base: &'a PipelineSettings,
    blender: Arc<dyn Blend>,
    grid: &'a SweepGrid,
    target: &'a SweepTarget,
    parallel: usize,
    id: i64,
    /// The claiming worker and its lease time (none: the caller runs the sweep).
    holder: Option<(&'a str, Duration)>,
}

impl Run<'_> {
    /// Replays every combination (at most `parallel` at once), recording progress — and, when
    /// claimed, renewing the claim — as they finish; ranked results. Stops (the replays still
    /// running are dropped) when the claim was lost.
    async fn replay_all(&self, progress: SweepProgress) -> Result<Vec<MatrixSweepResult>, Error> {
        let combinations = self.grid.combinations();
        let total = combinations.len();
        let permits = Arc::new(tokio::sync::Semaphore::new(self.parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for c in combinations {
            let (store, blender, permits, target) =
                (self.store.clone(), self.blender.clone(), permits.clone(), self.target.clone());
            let settings = c.settings(self.base);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.map_err(|e| Error::Task(e.to_string()))?;
                let name = c.replay_name(&target.name);
                let report =
                    replay(&store, &settings, blender, &name, &target.product, target.from_ms, target.to_ms).await?;
                Ok::<_, Error>(c.result(&report))
            });
        }
        let holder = self.holder.map(|(h, _)| h);
        let renew = self.holder.map_or(Duration::from_secs(3600), |(_, ttl)| (ttl / 3).max(Duration::from_millis(100)));
        let mut heartbeat = tokio::time::interval(renew);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut results = Vec::with_capacity(total);
        loop {
            tokio::select! {
                joined = tasks.join_next() => {
                    let Some(joined) = joined else { break };
                    let r = joined.map_err(|e| Error::Task(e.to_string()))??;
                    results.push(r);
                    if let Some(last) = results.last() {
                        progress(results.len(), total, last);
                    }
                }
                _ = heartbeat.tick() => {}
            }
            if !self.store.matrix_sweep_progress(self.id, holder, results.len() as i64, total as i64).await? {
                return Err(Error::Task(format!("matrix sweep {} is no longer held by this worker", self.id)));
            }
        }
        rank(&mut results);
        Ok(results)
    }
}

/// Runs the matrix sweeps submitted through the API: claims one at a time, replays its grid
/// over the stored live rollups in parallel, and stores the ranked results (or why it failed).
#[derive(Clone)]
pub struct SweepRunner {
    /// Features, aggregation and granularities of every replay (the service's pipeline).
    pub base: PipelineSettings,
    /// The blenders (the plugin host).
    pub blender: Arc<dyn Blend>,
    /// This worker's id (the sweep's holder).
    pub worker: String,
    /// A claim not renewed for this long is taken over by another worker.
    pub ttl: Duration,
    /// Combinations replayed at once.
    pub parallel: usize,
}

impl SweepRunner {
    /// Claims one sweep and runs it to its end; the id of the sweep run (none when there was
    /// none to claim). A sweep that cannot run (a bad stored grid, a failed replay) is marked
    /// failed with the reason; a lost claim leaves it to its new holder.
    pub async fn run_one(&self, store: &Store) -> Result<Option<i64>, Error> {
        let Some(row) = store.claim_matrix_sweep(&self.worker, self.ttl).await? else {
            return Ok(None);
        };
        tracing::info!(sweep = row.id, name = %row.name, product = %row.product, "matrix sweep claimed");
        match self.run(store, &row).await {
            Ok(results) => {
                store.finish_matrix_sweep(row.id, Some(&self.worker), &results).await?;
                tracing::info!(sweep = row.id, combinations = results.len(), "matrix sweep finished");
            }
            Err(e) => {
                tracing::warn!(sweep = row.id, error = %e, "matrix sweep failed");
                store.fail_matrix_sweep(row.id, Some(&self.worker), &e.to_string()).await?;
            }
        }
        Ok(Some(row.id))
    }

    async fn run(&self, store: &Store, row: &MatrixSweepRow) -> Result<Vec<MatrixSweepResult>, Error> {
        let grid = SweepGrid::from_json(&row.grid)?;
        // Claimed again after its holder fell silent: its partial replays go.
        store.drop_matrix_sweep_replays(&row.name).await?;
        let target = SweepTarget {
            name: row.name.clone(),
            product: row.product.clone(),
            from_ms: row.from_ms,
            to_ms: row.to_ms,
        };
        let run = Run {
            store,
            base: &self.base,
            blender: self.blender.clone(),
            grid: &grid,
            target: &target,
            parallel: self.parallel,
            id: row.id,
            holder: Some((&self.worker, self.ttl)),
        };
        let id = row.id;
        let quiet: SweepProgress = Arc::new(move |done: usize, total: usize, r: &MatrixSweepResult| {
            tracing::debug!(sweep = id, done, total, replay = %r.replay, rmse = ?r.rmse, "matrix sweep combination");
        });
        run.replay_all(quiet).await
    }
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
