//! Tuning sweeps of the matrix pipeline: every combination of k, solver and blender replayed over
//! one stored range of live rollups, ranked by mean forecast RMSE, then skill.

use super::runs::TimeArgSchema;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/matrices/sweeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixSweepRequest {
    /// Unique name (its replays are `<name>/k=.../solver=.../blender=...`); default
    /// `sweep-<product>-<ms now>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Product whose live rollups are replayed.
    pub product: String,
    /// Range start (rollup bucket starts, inclusive).
    pub from: TimeArgSchema,
    /// Range end, exclusive.
    pub to: TimeArgSchema,
    /// Values of k (transitions blended), each 1..=1000.
    #[schema(example = json!([2, 4, 8]))]
    pub k: Vec<u32>,
    /// Solver modes: `min-norm`, `stochastic`, `stochastic:LAMBDA`, `ridge`, `ridge:LAMBDA`.
    #[schema(example = json!(["min-norm", "stochastic"]))]
    pub solver: Vec<String>,
    /// Blender plugins, `NAME[:param=value...]`.
    #[schema(example = json!(["blend-mean", "blend-ewma:alpha=0.3"]))]
    pub blender: Vec<String>,
}

/// One combination's result (rank 1: the lowest mean RMSE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixSweepResultModel {
    /// 1 = best.
    pub rank: i32,
    /// The replay holding the combination's rows (`pipeline=` of the row routes).
    pub replay: String,
    /// k.
    pub k: i32,
    /// Solver mode.
    pub solver: String,
    /// Blender (with parameters, as given).
    pub blender: String,
    /// Forecasts scored.
    pub scores: i64,
    /// Mean forecast RMSE (none without scores).
    pub rmse: Option<f64>,
    /// `1 − rmse / naive rmse` of the means.
    pub skill: Option<f64>,
    /// Blends skipped (the blender failed).
    pub faults: i64,
    /// sha256 of the replay's stored rows (equal to `cgaf replay` of the same settings).
    pub rows_sha256: String,
}

impl From<cgaf_store::MatrixSweepResult> for MatrixSweepResultModel {
    fn from(r: cgaf_store::MatrixSweepResult) -> Self {
        Self {
            rank: r.rank,
            replay: r.replay,
            k: r.k,
            solver: r.solver,
            blender: r.blender,
            scores: r.scores,
            rmse: r.rmse,
            skill: r.skill,
            faults: r.faults,
            rows_sha256: r.rows_sha256,
        }
    }
}

/// A matrix sweep: its grid, status, progress and, once finished, the ranked results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixSweepModel {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Range start, RFC 3339.
    pub from: String,
    /// Range end (exclusive), RFC 3339.
    pub to: String,
    /// What it varies: `{"k": [...], "solver": [...], "blender": [...]}`.
    pub grid: serde_json::Value,
    /// `pending` (waiting for a calculate worker), `running`, `finished` or `failed`.
    pub status: String,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// Combinations replayed so far.
    pub combinations_done: i64,
    /// Combinations in all.
    pub combinations_total: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Best first (empty until finished).
    pub results: Vec<MatrixSweepResultModel>,
}

impl MatrixSweepModel {
    /// The stored sweep with its stored results.
    pub fn new(s: cgaf_store::MatrixSweepRow, results: Vec<cgaf_store::MatrixSweepResult>) -> Self {
        Self {
            id: s.id,
            name: s.name,
            product: s.product,
            from: cgaf_trade::domain::history::rfc3339(s.from_ms),
            to: cgaf_trade::domain::history::rfc3339(s.to_ms),
            grid: s.grid,
            status: s.status,
            status_reason: s.status_reason,
            combinations_done: s.combinations_done,
            combinations_total: s.combinations_total,
            created_at: s.created_at,
            finished_at: s.finished_at,
            results: results.into_iter().map(MatrixSweepResultModel::from).collect(),
        }
    }
}

/// `GET /api/matrices/sweeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixSweepList {
    /// Sweeps, newest first (without their results; see `GET /api/matrices/sweeps/{id}`).
    pub sweeps: Vec<MatrixSweepModel>,
}
