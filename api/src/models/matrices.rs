//! The matrix pipeline's rows (transition matrices, blends, forecasts, scores) and rolling
//! scores. Times are RFC 3339 with their ms twins; matrices are row-major; `features` names the
//! axes (the feature set's key, e.g. `book-imbalance@3,midpoint-return@0.0001,taker-flow`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of the matrix-pipeline row routes.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatrixRowsQuery {
    /// Product id.
    pub product: String,
    /// Granularity, e.g. `5s` (default `5s`).
    pub granularity: Option<String>,
    /// `live` (default) or a replay's name.
    pub pipeline: Option<String>,
    /// Start (inclusive): ms since the epoch or RFC 3339.
    pub from: Option<String>,
    /// End (exclusive).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// Rows per page (default 1000, at most 10000).
    pub limit: Option<i64>,
    /// Rows skipped: the `next_offset` of the previous page.
    pub offset: Option<i64>,
    /// `asc` (default, oldest first) or `desc`.
    pub order: Option<String>,
}

/// Query of the latest blend's heatmap.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatrixHeatmapQuery {
    /// Product id.
    pub product: String,
    /// Granularity (default `5s`).
    pub granularity: Option<String>,
    /// `live` (default) or a replay's name.
    pub pipeline: Option<String>,
}

/// Query of the blend stream.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatrixStreamQuery {
    /// Product id.
    pub product: String,
    /// Granularity (default `5s`).
    pub granularity: Option<String>,
    /// Resume after this event id (for clients that cannot send the `Last-Event-ID` header,
    /// which wins when both are given).
    pub last_event_id: Option<i64>,
}

/// One event of the blend stream (`event: blend`, `id:` = `id`): a new live blend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlendEventModel {
    /// The blend's id: the event id, increasing; send it back as `Last-Event-ID` to resume.
    pub id: i64,
    /// Product.
    pub product: String,
    /// Granularity, e.g. `5s`.
    pub granularity: String,
    /// The blend.
    #[serde(flatten)]
    pub blend: BlendModel,
}

/// Query of the rolling scores.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RollingScoresQuery {
    /// `live` (default) or a replay's name.
    pub pipeline: Option<String>,
    /// Newest scores averaged (default 100, at most 100000).
    pub window: Option<i64>,
}

/// A transition matrix: `M·w(t0) ≈ w(t1)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransitionModel {
    /// Start of the earlier rollup.
    pub t0: String,
    /// Start of the later rollup.
    pub t1: String,
    /// `t0`, ms.
    pub t0_ms: i64,
    /// `t1`, ms.
    pub t1_ms: i64,
    /// `min-norm` or `stochastic`.
    pub mode: String,
    /// Feature-set key (the axes).
    pub features: String,
    /// Edge.
    pub size: i32,
    /// Row-major values.
    pub matrix: Vec<f64>,
    /// `‖M·w(t0) − w(t1)‖₂`.
    pub residual: f64,
}

/// A blend of the last k transitions by a blender plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlendModel {
    /// t1 of the newest transition blended.
    pub t1: String,
    /// `t1`, ms.
    pub t1_ms: i64,
    /// Blender plugin.
    pub blender: String,
    /// Its version that blended.
    pub blender_version: String,
    /// k asked for.
    pub k: i32,
    /// Transitions blended.
    pub matrices: i32,
    /// Feature-set key.
    pub features: String,
    /// Edge.
    pub size: i32,
    /// Row-major values.
    pub matrix: Vec<f64>,
    /// The newest rollup w(t1).
    pub w: Vec<f64>,
    /// Spectral norm of the change from the previous blend.
    pub drift: Option<f64>,
    /// `minᵢ (|aᵢᵢ| − Σ_{j≠i}|aᵢⱼ|)`.
    pub diagonal_dominance: f64,
}

/// A forecast `ŵ(t+1) = M_blend·w(t)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastModel {
    /// Start of w(t).
    pub base: String,
    /// `base`, ms.
    pub base_ms: i64,
    /// Blender of the blend used.
    pub blender: String,
    /// Feature-set key.
    pub features: String,
    /// ŵ(t+1).
    pub forecast: Vec<f64>,
}

/// A forecast scored against the rollup that followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreModel {
    /// Start of w(t).
    pub base: String,
    /// `base`, ms.
    pub base_ms: i64,
    /// Start of the rollup scored against.
    pub actual: String,
    /// `actual`, ms.
    pub actual_ms: i64,
    /// Blender.
    pub blender: String,
    /// Feature-set key.
    pub features: String,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// MAE of the naive forecast w(t).
    pub naive_mae: f64,
    /// RMSE of the naive forecast.
    pub naive_rmse: f64,
    /// `1 − rmse / naive_rmse` (none when naive was exact).
    pub skill: Option<f64>,
    /// Drift of the blend that forecast.
    pub drift: Option<f64>,
    /// Its diagonal dominance.
    pub diagonal_dominance: f64,
}

/// A page of transitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransitionsPage {
    /// Product.
    pub product: String,
    /// Granularity, e.g. `5s`.
    pub granularity: String,
    /// Pipeline.
    pub pipeline: String,
    /// Rows.
    pub rows: Vec<TransitionModel>,
    /// The offset of the next page (none on the last).
    pub next_offset: Option<i64>,
}

/// A page of blends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlendsPage {
    /// Product.
    pub product: String,
    /// Granularity.
    pub granularity: String,
    /// Pipeline.
    pub pipeline: String,
    /// Rows.
    pub rows: Vec<BlendModel>,
    /// The offset of the next page.
    pub next_offset: Option<i64>,
}

/// A page of forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastsPage {
    /// Product.
    pub product: String,
    /// Granularity.
    pub granularity: String,
    /// Pipeline.
    pub pipeline: String,
    /// Rows.
    pub rows: Vec<ForecastModel>,
    /// The offset of the next page.
    pub next_offset: Option<i64>,
}

/// A page of scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoresPage {
    /// Product.
    pub product: String,
    /// Granularity.
    pub granularity: String,
    /// Pipeline.
    pub pipeline: String,
    /// Rows.
    pub rows: Vec<ScoreModel>,
    /// The offset of the next page.
    pub next_offset: Option<i64>,
}

/// Rolling scores of one (product, granularity, blender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RollingScoreModel {
    /// Product.
    pub product: String,
    /// Granularity.
    pub granularity: String,
    /// Blender.
    pub blender: String,
    /// Scores averaged.
    pub n: i64,
    /// Mean MAE.
    pub mae: f64,
    /// Mean RMSE.
    pub rmse: f64,
    /// Mean naive RMSE.
    pub naive_rmse: f64,
    /// `1 − rmse / naive_rmse` of the means.
    pub skill: Option<f64>,
    /// Mean drift.
    pub drift: Option<f64>,
    /// Mean diagonal dominance.
    pub diagonal_dominance: f64,
}

/// `GET /api/matrices/rolling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RollingScores {
    /// Pipeline.
    pub pipeline: String,
    /// Window: newest scores averaged.
    pub window: i64,
    /// One entry per product, granularity and blender.
    pub scores: Vec<RollingScoreModel>,
}

fn rfc3339(ms: i64) -> String {
    cgaf_trade::domain::history::rfc3339(ms)
}

impl From<cgaf_store::TransitionRow> for TransitionModel {
    fn from(t: cgaf_store::TransitionRow) -> Self {
        Self {
            t0: rfc3339(t.t0_ms),
            t1: rfc3339(t.t1_ms),
            t0_ms: t.t0_ms,
            t1_ms: t.t1_ms,
            mode: t.mode,
            features: t.features,
            size: t.size,
            matrix: t.matrix,
            residual: t.residual,
        }
    }
}

impl From<cgaf_store::BlendRow> for BlendModel {
    fn from(b: cgaf_store::BlendRow) -> Self {
        Self {
            t1: rfc3339(b.t1_ms),
            t1_ms: b.t1_ms,
            blender: b.blender,
            blender_version: b.blender_version,
            k: b.k,
            matrices: b.matrices,
            features: b.features,
            size: b.size,
            matrix: b.matrix,
            w: b.w,
            drift: b.drift,
            diagonal_dominance: b.diagonal_dominance,
        }
    }
}

/// The stream's event is the store's blend with its id: product and granularity lifted out of
/// the blend, the rest of it flattened.
impl From<cgaf_store::StoredBlend> for BlendEventModel {
    fn from(b: cgaf_store::StoredBlend) -> Self {
        Self {
            id: b.id,
            product: b.blend.product.clone(),
            granularity: cgaf_trade::domain::history::interval_label(b.blend.granularity_ms),
            blend: b.blend.into(),
        }
    }
}

impl From<cgaf_store::ForecastRow> for ForecastModel {
    fn from(f: cgaf_store::ForecastRow) -> Self {
        Self {
            base: rfc3339(f.base_ms),
            base_ms: f.base_ms,
            blender: f.blender,
            features: f.features,
            forecast: f.forecast,
        }
    }
}

impl From<cgaf_store::ScoreRow> for ScoreModel {
    fn from(s: cgaf_store::ScoreRow) -> Self {
        Self {
            base: rfc3339(s.base_ms),
            base_ms: s.base_ms,
            actual: rfc3339(s.actual_ms),
            actual_ms: s.actual_ms,
            blender: s.blender,
            features: s.features,
            mae: s.mae,
            rmse: s.rmse,
            naive_mae: s.naive_mae,
            naive_rmse: s.naive_rmse,
            skill: s.skill,
            drift: s.drift,
            diagonal_dominance: s.diagonal_dominance,
        }
    }
}
