//! The matrix pipeline's rows (schema migration 8): the samples it reads, rollups, transition
//! matrices, blends, forecasts and scores, the cursor written in the transaction of the rows it
//! produced, replays, and the reads of the API. Times are ms since the epoch in the row types and
//! `timestamptz` in the tables. Queries only: what the rows mean is the calculate worker's.

use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::pin::Pin;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// The pipeline name of the service's rows (replays use their own names).
pub const LIVE: &str = "live";

/// One sample as the matrix pipeline reads it (sizes as float8).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureSample {
    /// The sample's id (the pipeline's cursor).
    pub sample_id: i64,
    /// When it was taken, ms since the epoch.
    pub sampled_at_ms: i64,
    /// Midpoint (quote currency).
    pub midpoint: f64,
    /// Bid sizes per level, best first.
    pub bid_sizes: Vec<f64>,
    /// Ask sizes per level, best first.
    pub ask_sizes: Vec<f64>,
    /// Taker-buy size since the previous sample.
    pub buy_size: f64,
    /// Taker-sell size since the previous sample.
    pub sell_size: f64,
}

/// A stored rollup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollupRow {
    /// Product.
    pub product: String,
    /// Bucket width, ms.
    pub granularity_ms: i64,
    /// Bucket start (inclusive), ms.
    pub start_ms: i64,
    /// Bucket end (exclusive), ms.
    pub end_ms: i64,
    /// Samples aggregated.
    pub count: i64,
    /// Feature-set key.
    pub features: String,
    /// The rollup vector.
    pub w: Vec<f64>,
}

/// A stored transition matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRow {
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// Start of the earlier rollup, ms.
    pub t0_ms: i64,
    /// Start of the later rollup, ms.
    pub t1_ms: i64,
    /// Solver mode (`min-norm`, `stochastic`).
    pub mode: String,
    /// Feature-set key.
    pub features: String,
    /// Edge.
    pub size: i32,
    /// Row-major values.
    pub matrix: Vec<f64>,
    /// `‖M·w0 − w1‖₂`.
    pub residual: f64,
}

/// A stored blend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlendRow {
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// t1 of the newest matrix blended, ms.
    pub t1_ms: i64,
    /// Blender plugin name.
    pub blender: String,
    /// The version that blended.
    pub blender_version: String,
    /// The k asked for.
    pub k: i32,
    /// Matrices blended (≤ k at the start).
    pub matrices: i32,
    /// Feature-set key.
    pub features: String,
    /// Edge.
    pub size: i32,
    /// Row-major values.
    pub matrix: Vec<f64>,
    /// The newest rollup vector w(t1).
    pub w: Vec<f64>,
    /// Spectral norm of the change from the previous blend (none for the first).
    pub drift: Option<f64>,
    /// `minᵢ (|aᵢᵢ| − Σ_{j≠i}|aᵢⱼ|)`.
    pub diagonal_dominance: f64,
}

/// A stored forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastRow {
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// Start of the rollup w(t) the forecast was made from, ms.
    pub base_ms: i64,
    /// Blender of the blend used.
    pub blender: String,
    /// Feature-set key.
    pub features: String,
    /// ŵ(t+1).
    pub forecast: Vec<f64>,
}

/// A stored score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// Start of the rollup the forecast was made from, ms.
    pub base_ms: i64,
    /// Start of the rollup it is scored against, ms.
    pub actual_ms: i64,
    /// Blender of the forecast.
    pub blender: String,
    /// Feature-set key.
    pub features: String,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// MAE of the naive forecast.
    pub naive_mae: f64,
    /// RMSE of the naive forecast.
    pub naive_rmse: f64,
    /// `1 − rmse / naive_rmse`.
    pub skill: Option<f64>,
    /// Drift of the blend that forecast.
    pub drift: Option<f64>,
    /// Diagonal dominance of that blend.
    pub diagonal_dominance: f64,
}

/// The rows one pipeline step produced, written together with the cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatrixRows {
    /// Closed buckets.
    pub rollups: Vec<RollupRow>,
    /// Solved matrices.
    pub transitions: Vec<TransitionRow>,
    /// Blends.
    pub blends: Vec<BlendRow>,
    /// Forecasts.
    pub forecasts: Vec<ForecastRow>,
    /// Scores.
    pub scores: Vec<ScoreRow>,
}

impl MatrixRows {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rollups.is_empty()
            && self.transitions.is_empty()
            && self.blends.is_empty()
            && self.forecasts.is_empty()
            && self.scores.is_empty()
    }
}

/// A pipeline's stored position for one product.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCursor {
    /// The last sample consumed.
    pub sample_id: i64,
    /// The pipeline state (the calculate worker's JSON).
    pub state: serde_json::Value,
}

/// Which rows a read selects.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixQuery {
    /// Pipeline (`live` or a replay's name).
    pub pipeline: String,
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
    /// From (inclusive), ms.
    pub from_ms: Option<i64>,
    /// To (exclusive), ms.
    pub to_ms: Option<i64>,
    /// Most rows.
    pub limit: i64,
    /// Rows skipped (paging).
    pub offset: i64,
    /// Newest first.
    pub newest_first: bool,
}

/// Rolling scores of one (granularity, blender): means over the newest `n` scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollingScore {
    /// Product.
    pub product: String,
    /// Granularity, ms.
    pub granularity_ms: i64,
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
    /// `1 − rmse / naive_rmse` of the means; none when naive was exact throughout.
    pub skill: Option<f64>,
    /// Mean drift.
    pub drift: Option<f64>,
    /// Mean diagonal dominance.
    pub diagonal_dominance: f64,
}

/// ms since the epoch → timestamptz (out-of-range values are bad data).
pub fn at(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Error::BadData { what: "matrix time", detail: ms.to_string() })
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A binary COPY into `table`'s `columns` (one `types` entry per column).
async fn copy_in(tx: &Tx<'_>, table: &str, columns: &str, types: &[Type]) -> Result<Pin<Box<BinaryCopyInWriter>>> {
    let sink = tx.copy_in(&format!("COPY crypto_gaf.{table} ({columns}) FROM STDIN (FORMAT binary)")).await?;
    Ok(Box::pin(BinaryCopyInWriter::new(sink, types)))
}

/// Writes a step's (or a replay's) rows under `pipeline`: one binary COPY per table with rows.
async fn insert_rows(tx: &Tx<'_>, pipeline: &str, rows: &MatrixRows) -> Result<()> {
    use Type as T;
    if !rows.rollups.is_empty() {
        let mut w = copy_in(
            tx,
            "matrix_rollups",
            "pipeline, product, granularity_ms, start_at, end_at, sample_count, features, w",
            &[T::TEXT, T::TEXT, T::INT8, T::TIMESTAMPTZ, T::TIMESTAMPTZ, T::INT8, T::TEXT, T::FLOAT8_ARRAY],
        )
        .await?;
        for r in &rows.rollups {
            let (start, end) = (at(r.start_ms)?, at(r.end_ms)?);
            w.as_mut()
                .write(&[&pipeline, &r.product, &r.granularity_ms, &start, &end, &r.count, &r.features, &r.w])
                .await?;
        }
        w.as_mut().finish().await?;
    }
    if !rows.transitions.is_empty() {
        let mut w = copy_in(
            tx,
            "matrix_transitions",
            "pipeline, product, granularity_ms, t0, t1, mode, features, size, matrix, residual",
            &[
                T::TEXT,
                T::TEXT,
                T::INT8,
                T::TIMESTAMPTZ,
                T::TIMESTAMPTZ,
                T::TEXT,
                T::TEXT,
                T::INT4,
                T::FLOAT8_ARRAY,
                T::FLOAT8,
            ],
        )
        .await?;
        for r in &rows.transitions {
            let (t0, t1) = (at(r.t0_ms)?, at(r.t1_ms)?);
            w.as_mut()
                .write(&[
                    &pipeline,
                    &r.product,
                    &r.granularity_ms,
                    &t0,
                    &t1,
                    &r.mode,
                    &r.features,
                    &r.size,
                    &r.matrix,
                    &r.residual,
                ])
                .await?;
        }
        w.as_mut().finish().await?;
    }
    if !rows.blends.is_empty() {
        let mut w = copy_in(
            tx,
            "matrix_blends",
            "pipeline, product, granularity_ms, t1, blender, blender_version, k, matrices, features, size, matrix, w,
             drift, diagonal_dominance",
            &[
                T::TEXT,
                T::TEXT,
                T::INT8,
                T::TIMESTAMPTZ,
                T::TEXT,
                T::TEXT,
                T::INT4,
                T::INT4,
                T::TEXT,
                T::INT4,
                T::FLOAT8_ARRAY,
                T::FLOAT8_ARRAY,
                T::FLOAT8,
                T::FLOAT8,
            ],
        )
        .await?;
        for r in &rows.blends {
            let t1 = at(r.t1_ms)?;
            w.as_mut()
                .write(&[
                    &pipeline,
                    &r.product,
                    &r.granularity_ms,
                    &t1,
                    &r.blender,
                    &r.blender_version,
                    &r.k,
                    &r.matrices,
                    &r.features,
                    &r.size,
                    &r.matrix,
                    &r.w,
                    &r.drift,
                    &r.diagonal_dominance,
                ])
                .await?;
        }
        w.as_mut().finish().await?;
    }
    if !rows.forecasts.is_empty() {
        let mut w = copy_in(
            tx,
            "matrix_forecasts",
            "pipeline, product, granularity_ms, base_at, blender, features, forecast",
            &[T::TEXT, T::TEXT, T::INT8, T::TIMESTAMPTZ, T::TEXT, T::TEXT, T::FLOAT8_ARRAY],
        )
        .await?;
        for r in &rows.forecasts {
            let base = at(r.base_ms)?;
            w.as_mut()
                .write(&[&pipeline, &r.product, &r.granularity_ms, &base, &r.blender, &r.features, &r.forecast])
                .await?;
        }
        w.as_mut().finish().await?;
    }
    if !rows.scores.is_empty() {
        let mut w = copy_in(
            tx,
            "matrix_scores",
            "pipeline, product, granularity_ms, base_at, actual_at, blender, features, mae, rmse, naive_mae,
             naive_rmse, skill, drift, diagonal_dominance",
            &[
                T::TEXT,
                T::TEXT,
                T::INT8,
                T::TIMESTAMPTZ,
                T::TIMESTAMPTZ,
                T::TEXT,
                T::TEXT,
                T::FLOAT8,
                T::FLOAT8,
                T::FLOAT8,
                T::FLOAT8,
                T::FLOAT8,
                T::FLOAT8,
                T::FLOAT8,
            ],
        )
        .await?;
        for r in &rows.scores {
            let (base, actual) = (at(r.base_ms)?, at(r.actual_ms)?);
            w.as_mut()
                .write(&[
                    &pipeline,
                    &r.product,
                    &r.granularity_ms,
                    &base,
                    &actual,
                    &r.blender,
                    &r.features,
                    &r.mae,
                    &r.rmse,
                    &r.naive_mae,
                    &r.naive_rmse,
                    &r.skill,
                    &r.drift,
                    &r.diagonal_dominance,
                ])
                .await?;
        }
        w.as_mut().finish().await?;
    }
    Ok(())
}

impl Store {
    /// Samples of `product` after `after_id`, oldest first, at most `limit`.
    pub async fn feature_samples(&self, product: &str, after_id: i64, limit: i64) -> Result<Vec<FeatureSample>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT sample_id, sampled_at, midpoint::float8, COALESCE(bid_sizes::float8[], '{}'),
                        COALESCE(ask_sizes::float8[], '{}'), COALESCE(buys[2]::float8, 0), COALESCE(sells[2]::float8, 0)
                 FROM crypto_gaf.samples
                 WHERE product = $1 AND sample_id > $2 AND midpoint IS NOT NULL
                 ORDER BY sample_id LIMIT $3",
                &[&product, &after_id, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let sizes = |i: usize| -> Vec<f64> {
                    r.get::<_, Vec<Option<f64>>>(i).into_iter().map(|v| v.unwrap_or(0.0)).collect()
                };
                FeatureSample {
                    sample_id: r.get(0),
                    sampled_at_ms: ms(r.get(1)),
                    midpoint: r.get(2),
                    bid_sizes: sizes(3),
                    ask_sizes: sizes(4),
                    buy_size: r.get(5),
                    sell_size: r.get(6),
                }
            })
            .collect())
    }

    /// The stored cursor of `pipeline` for `product`.
    pub async fn matrix_cursor(&self, pipeline: &str, product: &str) -> Result<Option<MatrixCursor>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT sample_id, state FROM crypto_gaf.matrix_cursors WHERE pipeline = $1 AND product = $2",
                &[&pipeline, &product],
            )
            .await?;
        Ok(row.map(|r| MatrixCursor { sample_id: r.get(0), state: r.get(1) }))
    }

    /// Writes `rows` and moves the cursor from `from` (none: no cursor yet) to `to`, in one
    /// transaction. Refuses (`Error::CursorMoved`, nothing written) when the stored cursor is not
    /// `from` — another writer advanced it — so a step is never written twice.
    pub async fn write_matrix_step(
        &self,
        pipeline: &str,
        product: &str,
        from: Option<i64>,
        to: &MatrixCursor,
        rows: &MatrixRows,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_rows(&tx, pipeline, rows).await?;
        let moved = match from {
            Some(from) => {
                tx.execute(
                    "UPDATE crypto_gaf.matrix_cursors SET sample_id = $3, state = $4, updated_at = now()
                     WHERE pipeline = $1 AND product = $2 AND sample_id = $5",
                    &[&pipeline, &product, &to.sample_id, &to.state, &from],
                )
                .await?
            }
            None => {
                tx.execute(
                    "INSERT INTO crypto_gaf.matrix_cursors (pipeline, product, sample_id, state)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&pipeline, &product, &to.sample_id, &to.state],
                )
                .await?
            }
        };
        if moved != 1 {
            return Err(Error::CursorMoved(format!("{pipeline}/{product}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rollups of `pipeline` in the query's range, oldest first unless asked otherwise.
    pub async fn matrix_rollups(&self, q: &MatrixQuery) -> Result<Vec<RollupRow>> {
        let rows = self
            .matrix_page(
                "matrix_rollups",
                "product, granularity_ms, start_at, end_at, sample_count, features, w",
                "start_at",
                q,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| RollupRow {
                product: r.get(0),
                granularity_ms: r.get(1),
                start_ms: ms(r.get(2)),
                end_ms: ms(r.get(3)),
                count: r.get(4),
                features: r.get(5),
                w: r.get(6),
            })
            .collect())
    }

    /// Transition matrices in the query's range (by t1).
    pub async fn matrix_transitions(&self, q: &MatrixQuery) -> Result<Vec<TransitionRow>> {
        let rows = self
            .matrix_page(
                "matrix_transitions",
                "product, granularity_ms, t0, t1, mode, features, size, matrix, residual",
                "t1",
                q,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| TransitionRow {
                product: r.get(0),
                granularity_ms: r.get(1),
                t0_ms: ms(r.get(2)),
                t1_ms: ms(r.get(3)),
                mode: r.get(4),
                features: r.get(5),
                size: r.get(6),
                matrix: r.get(7),
                residual: r.get(8),
            })
            .collect())
    }

    /// Blends in the query's range (by t1).
    pub async fn matrix_blends(&self, q: &MatrixQuery) -> Result<Vec<BlendRow>> {
        let rows = self.matrix_page("matrix_blends", BLEND_COLUMNS, "t1", q).await?;
        Ok(rows.iter().map(blend_row).collect())
    }

    /// Forecasts in the query's range (by base time).
    pub async fn matrix_forecasts(&self, q: &MatrixQuery) -> Result<Vec<ForecastRow>> {
        let rows = self
            .matrix_page(
                "matrix_forecasts",
                "product, granularity_ms, base_at, blender, features, forecast",
                "base_at",
                q,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ForecastRow {
                product: r.get(0),
                granularity_ms: r.get(1),
                base_ms: ms(r.get(2)),
                blender: r.get(3),
                features: r.get(4),
                forecast: r.get(5),
            })
            .collect())
    }

    /// Scores in the query's range (by the time scored against).
    pub async fn matrix_scores(&self, q: &MatrixQuery) -> Result<Vec<ScoreRow>> {
        let rows = self
            .matrix_page(
                "matrix_scores",
                "product, granularity_ms, base_at, actual_at, blender, features, mae, rmse, naive_mae, naive_rmse, skill, drift, diagonal_dominance",
                "actual_at",
                q,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ScoreRow {
                product: r.get(0),
                granularity_ms: r.get(1),
                base_ms: ms(r.get(2)),
                actual_ms: ms(r.get(3)),
                blender: r.get(4),
                features: r.get(5),
                mae: r.get(6),
                rmse: r.get(7),
                naive_mae: r.get(8),
                naive_rmse: r.get(9),
                skill: r.get(10),
                drift: r.get(11),
                diagonal_dominance: r.get(12),
            })
            .collect())
    }

    /// Rolling scores of `pipeline`: per (product, granularity, blender), the means over the
    /// newest `window` scores.
    pub async fn rolling_matrix_scores(&self, pipeline: &str, window: i64) -> Result<Vec<RollingScore>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT product, granularity_ms, blender, count(*), avg(mae), avg(rmse), avg(naive_rmse), avg(drift),
                        avg(diagonal_dominance)
                 FROM (SELECT *, row_number() OVER (PARTITION BY product, granularity_ms, blender ORDER BY actual_at DESC) AS n
                       FROM crypto_gaf.matrix_scores WHERE pipeline = $1) s
                 WHERE n <= $2
                 GROUP BY product, granularity_ms, blender
                 ORDER BY product, granularity_ms, blender",
                &[&pipeline, &window],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let (rmse, naive): (f64, f64) = (r.get(5), r.get(6));
                RollingScore {
                    product: r.get(0),
                    granularity_ms: r.get(1),
                    blender: r.get(2),
                    n: r.get(3),
                    mae: r.get(4),
                    rmse,
                    naive_rmse: naive,
                    skill: (naive > 0.0).then(|| 1.0 - rmse / naive),
                    drift: r.get(7),
                    diagonal_dominance: r.get(8),
                }
            })
            .collect())
    }

    /// Starts a replay: records it (refusing a name in use, `Error::ReplayExists`).
    pub async fn create_matrix_replay(
        &self,
        name: &str,
        product: &str,
        from_ms: i64,
        to_ms: i64,
        settings: &serde_json::Value,
    ) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "INSERT INTO crypto_gaf.matrix_replays (name, product, from_at, to_at, settings)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&name, &product, &at(from_ms)?, &at(to_ms)?, settings],
            )
            .await?;
        if n == 0 || name == LIVE {
            return Err(Error::ReplayExists(name.to_string()));
        }
        Ok(())
    }

    /// Writes a replay's rows (one transaction; no cursor: a replay is written once).
    pub async fn write_matrix_replay_rows(&self, name: &str, rows: &MatrixRows) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_rows(&tx, name, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a replay's end and row hash.
    pub async fn finish_matrix_replay(&self, name: &str, sha256: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.matrix_replays SET rows_sha256 = $2, finished_at = now() WHERE name = $1",
                &[&name, &sha256],
            )
            .await?;
        Ok(())
    }
}

/// A stored blend with its id: the blend stream's event id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlend {
    /// Increasing id (schema migration 10).
    pub id: i64,
    /// The blend.
    pub blend: BlendRow,
}

/// One combination of a matrix sweep, as stored (rank 1 is the lowest mean RMSE).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixSweepResult {
    /// The replay that holds the combination's rows.
    pub replay: String,
    /// 1 = best.
    pub rank: i32,
    /// k.
    pub k: i32,
    /// Solver mode.
    pub solver: String,
    /// Blender (with parameters, as given).
    pub blender: String,
    /// Scores made.
    pub scores: i64,
    /// Mean forecast RMSE (none without scores).
    pub rmse: Option<f64>,
    /// Skill against the naive forecast.
    pub skill: Option<f64>,
    /// Blends skipped.
    pub faults: i64,
    /// sha256 of the replay's stored rows.
    pub rows_sha256: String,
}

/// A matrix sweep to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMatrixSweep<'a> {
    /// Unique name (its replays are `<name>/k=.../solver=.../blender=...`).
    pub name: &'a str,
    /// Product.
    pub product: &'a str,
    /// Range start (bucket starts), ms.
    pub from_ms: i64,
    /// Range end, exclusive, ms.
    pub to_ms: i64,
    /// What it varies (the calculate worker's JSON: `k`, `solver`, `blender`).
    pub grid: &'a serde_json::Value,
    /// Combinations in the grid.
    pub combinations: i64,
}

/// A stored matrix sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixSweepRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Range start, ms.
    pub from_ms: i64,
    /// Range end, exclusive, ms.
    pub to_ms: i64,
    /// What it varies.
    pub grid: serde_json::Value,
    /// `pending`, `running`, `finished` or `failed`.
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
}

const MATRIX_SWEEP_COLUMNS: &str =
    "id, name, product, from_at, to_at, grid, status, status_reason, combinations_done, \
     combinations_total, created_at, finished_at";

fn matrix_sweep_row(r: &tokio_postgres::Row) -> MatrixSweepRow {
    MatrixSweepRow {
        id: r.get(0),
        name: r.get(1),
        product: r.get(2),
        from_ms: ms(r.get(3)),
        to_ms: ms(r.get(4)),
        grid: r.get(5),
        status: r.get(6),
        status_reason: r.get(7),
        combinations_done: r.get(8),
        combinations_total: r.get(9),
        created_at: r.get(10),
        finished_at: r.get(11),
    }
}

const BLEND_COLUMNS: &str =
    "product, granularity_ms, t1, blender, blender_version, k, matrices, features, size, matrix, w, drift, diagonal_dominance";

fn blend_row(r: &tokio_postgres::Row) -> BlendRow {
    BlendRow {
        product: r.get(0),
        granularity_ms: r.get(1),
        t1_ms: ms(r.get(2)),
        blender: r.get(3),
        blender_version: r.get(4),
        k: r.get(5),
        matrices: r.get(6),
        features: r.get(7),
        size: r.get(8),
        matrix: r.get(9),
        w: r.get(10),
        drift: r.get(11),
        diagonal_dominance: r.get(12),
    }
}

impl Store {
    /// Blends of `pipeline`, `product` and `granularity_ms` with an id above `after_id`, by id,
    /// at most `limit` (the blend stream's reads).
    pub async fn matrix_blends_after(
        &self,
        pipeline: &str,
        product: &str,
        granularity_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredBlend>> {
        let sql = format!(
            "SELECT {BLEND_COLUMNS}, id FROM crypto_gaf.matrix_blends
             WHERE pipeline = $1 AND product = $2 AND granularity_ms = $3 AND id > $4
             ORDER BY id LIMIT $5"
        );
        let rows =
            self.client().await?.query(&sql, &[&pipeline, &product, &granularity_ms, &after_id, &limit.max(0)]).await?;
        Ok(rows.iter().map(|r| StoredBlend { id: r.get(13), blend: blend_row(r) }).collect())
    }

    /// The newest blend id of `pipeline`, `product` and `granularity_ms` (0 when there is none).
    pub async fn matrix_blend_newest_id(&self, pipeline: &str, product: &str, granularity_ms: i64) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT coalesce(max(id), 0) FROM crypto_gaf.matrix_blends
                 WHERE pipeline = $1 AND product = $2 AND granularity_ms = $3",
                &[&pipeline, &product, &granularity_ms],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records a matrix sweep that the caller runs itself (`cgaf sweep --matrices`: status
    /// `running`, no holder, never claimed) and returns its id; refuses a name in use
    /// (`Error::ReplayExists`, the sweep's replays would collide).
    pub async fn create_matrix_sweep(&self, sweep: &NewMatrixSweep<'_>) -> Result<i64> {
        self.insert_matrix_sweep(sweep, "running").await
    }

    /// Records a matrix sweep for a calculate worker to claim (status `pending`, announced on
    /// `cgaf_matrix_sweeps`) and returns its id; refuses a name in use (`Error::ReplayExists`).
    pub async fn submit_matrix_sweep(&self, sweep: &NewMatrixSweep<'_>) -> Result<i64> {
        self.insert_matrix_sweep(sweep, "pending").await
    }

    async fn insert_matrix_sweep(&self, s: &NewMatrixSweep<'_>, status: &str) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_opt(
                "WITH s AS (
                   INSERT INTO crypto_gaf.matrix_sweeps (name, product, from_at, to_at, grid, status, combinations_total)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id)
                 SELECT id, pg_notify('cgaf_matrix_sweeps', id::text) FROM s",
                &[&s.name, &s.product, &at(s.from_ms)?, &at(s.to_ms)?, s.grid, &status, &s.combinations],
            )
            .await?;
        row.map(|r| r.get(0)).ok_or_else(|| Error::ReplayExists(s.name.to_string()))
    }

    /// Claims one matrix sweep for `worker`: the oldest pending one, or one whose holder has not
    /// renewed its heartbeat within `ttl`.
    pub async fn claim_matrix_sweep(&self, worker: &str, ttl: std::time::Duration) -> Result<Option<MatrixSweepRow>> {
        let sql = format!(
            "UPDATE crypto_gaf.matrix_sweeps SET status = 'running', holder = $1, heartbeat_at = now(), combinations_done = 0
             WHERE id = (
               SELECT id FROM crypto_gaf.matrix_sweeps
               WHERE status = 'pending'
                  OR (status = 'running' AND holder IS NOT NULL AND heartbeat_at < now() - make_interval(secs => $2))
               ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {MATRIX_SWEEP_COLUMNS}"
        );
        let row = self.client().await?.query_opt(&sql, &[&worker, &ttl.as_secs_f64()]).await?;
        Ok(row.as_ref().map(matrix_sweep_row))
    }

    /// Records a sweep's progress and renews its holder's heartbeat; false when `holder` (none
    /// for a sweep its caller runs) no longer holds it.
    pub async fn matrix_sweep_progress(&self, id: i64, holder: Option<&str>, done: i64, total: i64) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE crypto_gaf.matrix_sweeps SET combinations_done = $3, combinations_total = $4, heartbeat_at = now()
                 WHERE id = $1 AND holder IS NOT DISTINCT FROM $2 AND status = 'running'",
                &[&id, &holder, &done, &total],
            )
            .await?;
        Ok(n == 1)
    }

    /// Drops the replays a claimed sweep left behind (named `<sweep name>/...`, without results):
    /// a sweep claimed again starts its combinations afresh.
    pub async fn drop_matrix_sweep_replays(&self, name: &str) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let prefix = format!("{name}/");
        for t in ["matrix_rollups", "matrix_transitions", "matrix_blends", "matrix_forecasts", "matrix_scores"] {
            tx.execute(&format!("DELETE FROM crypto_gaf.{t} WHERE starts_with(pipeline, $1)"), &[&prefix]).await?;
        }
        let n = tx
            .execute(
                "DELETE FROM crypto_gaf.matrix_replays r WHERE starts_with(r.name, $1)
                   AND NOT EXISTS (SELECT 1 FROM crypto_gaf.matrix_sweep_results s WHERE s.replay = r.name)",
                &[&prefix],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Stores a sweep's ranked results and marks it finished (one transaction); refuses
    /// (`Error::CursorMoved`, nothing written) when `holder` no longer holds it.
    pub async fn finish_matrix_sweep(
        &self,
        id: i64,
        holder: Option<&str>,
        results: &[MatrixSweepResult],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let held = tx
            .execute(
                "UPDATE crypto_gaf.matrix_sweeps SET status = 'finished', finished_at = now(), holder = NULL,
                   combinations_done = $3, combinations_total = $3
                 WHERE id = $1 AND holder IS NOT DISTINCT FROM $2 AND status = 'running'",
                &[&id, &holder, &(results.len() as i64)],
            )
            .await?;
        if held != 1 {
            return Err(Error::CursorMoved(format!("matrix sweep {id}")));
        }
        for r in results {
            tx.execute(
                "INSERT INTO crypto_gaf.matrix_sweep_results
                   (sweep_id, replay, rank, k, solver, blender, scores, rmse, skill, faults, rows_sha256)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &id,
                    &r.replay,
                    &r.rank,
                    &r.k,
                    &r.solver,
                    &r.blender,
                    &r.scores,
                    &r.rmse,
                    &r.skill,
                    &r.faults,
                    &r.rows_sha256,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a sweep failed with `reason` (when `holder` still holds it).
    pub async fn fail_matrix_sweep(&self, id: i64, holder: Option<&str>, reason: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE crypto_gaf.matrix_sweeps SET status = 'failed', status_reason = $3, finished_at = now(), holder = NULL
                 WHERE id = $1 AND holder IS NOT DISTINCT FROM $2 AND status = 'running'",
                &[&id, &holder, &reason],
            )
            .await?;
        Ok(())
    }

    /// One matrix sweep.
    pub async fn matrix_sweep(&self, id: i64) -> Result<Option<MatrixSweepRow>> {
        let sql = format!("SELECT {MATRIX_SWEEP_COLUMNS} FROM crypto_gaf.matrix_sweeps WHERE id = $1");
        Ok(self.client().await?.query_opt(&sql, &[&id]).await?.as_ref().map(matrix_sweep_row))
    }

    /// Matrix sweeps, newest first.
    pub async fn list_matrix_sweeps(&self, limit: i64) -> Result<Vec<MatrixSweepRow>> {
        let sql = format!("SELECT {MATRIX_SWEEP_COLUMNS} FROM crypto_gaf.matrix_sweeps ORDER BY id DESC LIMIT $1");
        Ok(self.client().await?.query(&sql, &[&limit.max(0)]).await?.iter().map(matrix_sweep_row).collect())
    }

    /// A sweep's stored results, best first.
    pub async fn matrix_sweep_results(&self, id: i64) -> Result<Vec<MatrixSweepResult>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT replay, rank, k, solver, blender, scores, rmse, skill, faults, rows_sha256
                 FROM crypto_gaf.matrix_sweep_results WHERE sweep_id = $1 ORDER BY rank",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| MatrixSweepResult {
                replay: r.get(0),
                rank: r.get(1),
                k: r.get(2),
                solver: r.get(3),
                blender: r.get(4),
                scores: r.get(5),
                rmse: r.get(6),
                skill: r.get(7),
                faults: r.get(8),
                rows_sha256: r.get(9),
            })
            .collect())
    }
}

impl Store {
    /// One page of a matrix table: `columns` of the rows of the query's pipeline, product and
    /// granularity whose `time_column` lies in the query's range, in that column's order.
    async fn matrix_page(
        &self,
        table: &str,
        columns: &str,
        time_column: &str,
        q: &MatrixQuery,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let sql = format!(
            "SELECT {columns} FROM crypto_gaf.{table}
             WHERE pipeline = $1 AND product = $2 AND granularity_ms = $3
               AND ($4::timestamptz IS NULL OR {time_column} >= $4) AND ($5::timestamptz IS NULL OR {time_column} < $5)
             ORDER BY {time_column} {} LIMIT $6 OFFSET $7",
            order(q)
        );
        Ok(self.client().await?.query(&sql, &params(q)?.as_refs()).await?)
    }
}

fn order(q: &MatrixQuery) -> &'static str {
    if q.newest_first {
        "DESC"
    } else {
        "ASC"
    }
}

/// The seven parameters of a range read.
struct RangeParams {
    pipeline: String,
    product: String,
    granularity_ms: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: i64,
    offset: i64,
}

impl RangeParams {
    fn as_refs(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 7] {
        [&self.pipeline, &self.product, &self.granularity_ms, &self.from, &self.to, &self.limit, &self.offset]
    }
}

fn params(q: &MatrixQuery) -> Result<RangeParams> {
    Ok(RangeParams {
        pipeline: q.pipeline.clone(),
        product: q.product.clone(),
        granularity_ms: q.granularity_ms,
        from: q.from_ms.map(at).transpose()?,
        to: q.to_ms.map(at).transpose()?,
        limit: q.limit.clamp(0, 100_000),
        offset: q.offset.max(0),
    })
}
