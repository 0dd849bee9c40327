//! The matrix pipeline against PostgreSQL: one step per product per calculate cycle (the samples
//! after the stored cursor → rows, written with the advanced cursor in one transaction, so a
//! restart resumes exactly), replays of stored rollups into a named pipeline, and the hash of a
//! pipeline's stored rows.

use crate::matrix::features::FeatureSet;
use crate::matrix::pipeline::{Blend, BlendFault, LaneState, PipelineSettings, PipelineState, StepOutput};
use crate::matrix::rollup::Rollup;
use crate::Error;
use cgaf_store::matrices::LIVE;
use cgaf_store::{MatrixCursor, MatrixQuery, Store};
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;

/// Scores averaged by the rolling scores on `/metrics`.
pub const ROLLING_WINDOW: i64 = 100;

/// The live pipeline as the calculate worker runs it.
#[derive(Clone)]
pub struct MatrixWorker {
    /// What to compute.
    pub settings: PipelineSettings,
    /// The blenders (the plugin host in the service).
    pub blender: Arc<dyn Blend>,
    /// Most samples consumed per product per step.
    pub batch: i64,
    /// Where results are recorded (none in tools and tests).
    pub telemetry: Option<MatrixTelemetry>,
}

/// What one step of one product did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    /// Samples consumed.
    pub samples: usize,
    /// Rollups written.
    pub rollups: usize,
    /// Blends written.
    pub blends: usize,
    /// Scores written.
    pub scores: usize,
    /// Blends skipped (logged and counted).
    pub faults: Vec<BlendFault>,
}

impl MatrixWorker {
    /// One step of `product` in pipeline `pipeline` (`live` in the service): reads the cursor and
    /// up to `batch` newer samples, computes (blends on a blocking thread), and writes the rows
    /// with the advanced cursor in one transaction.
    pub async fn step(&self, store: &Store, pipeline: &str, product: &str) -> Result<StepReport, Error> {
        let started = Instant::now();
        let cursor = store.matrix_cursor(pipeline, product).await?;
        let from = cursor.as_ref().map(|c| c.sample_id);
        let samples = store.feature_samples(product, from.unwrap_or(0), self.batch.max(1)).await?;
        if samples.is_empty() {
            return Ok(StepReport::default());
        }
        let stored: Option<PipelineState> = cursor.and_then(|c| serde_json::from_value(c.state).ok());
        let consumed = samples.len();
        let (settings, blender, product_name) = (self.settings.clone(), self.blender.clone(), product.to_string());
        let (state, out) = tokio::task::spawn_blocking(move || {
            let mut state = settings.adopt(stored, from.unwrap_or(0));
            let mut out = StepOutput::default();
            for s in &samples {
                settings.on_sample(&product_name, &mut state, s, blender.as_ref(), &mut out);
            }
            (state, out)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        let state_json = serde_json::to_value(&state).map_err(|e| Error::Task(format!("pipeline state: {e}")))?;
        let to = MatrixCursor { sample_id: state.last_sample_id, state: state_json };
        store.write_matrix_step(pipeline, product, from, &to, &out.rows).await?;
        for f in &out.faults {
            tracing::warn!(%product, granularity_ms = f.granularity_ms, blender = %f.blender, error = %f.error, "blend skipped");
        }
        let report = StepReport {
            samples: consumed,
            rollups: out.rows.rollups.len(),
            blends: out.rows.blends.len(),
            scores: out.rows.scores.len(),
            faults: out.faults,
        };
        if let Some(t) = &self.telemetry {
            t.step_seconds.with_label_values(&[product]).observe(started.elapsed().as_secs_f64());
            for f in &report.faults {
                t.blend_errors.with_label_values(&[product, &granularity_label(f.granularity_ms), &f.blender]).inc();
            }
            if report.scores > 0 && pipeline == LIVE {
                t.refresh(store).await;
            }
        }
        Ok(report)
    }

    /// Steps `product` until it has consumed every stored sample (or `max_steps` were made).
    pub async fn catch_up(
        &self,
        store: &Store,
        pipeline: &str,
        product: &str,
        max_steps: usize,
    ) -> Result<StepReport, Error> {
        let mut total = StepReport::default();
        for _ in 0..max_steps {
            let r = self.step(store, pipeline, product).await?;
            if r.samples == 0 {
                break;
            }
            total.samples += r.samples;
            total.rollups += r.rollups;
            total.blends += r.blends;
            total.scores += r.scores;
            total.faults.extend(r.faults);
        }
        Ok(total)
    }
}

/// `5s`, `15s`, `1m`, `250ms`: the shortest name of a granularity.
pub fn granularity_label(ms: i64) -> String {
    match ms {
        m if m > 0 && m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m > 0 && m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m > 0 && m % 1_000 == 0 => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    }
}

/// The matrix pipeline's metrics.
#[derive(Debug, Clone)]
pub struct MatrixTelemetry {
    /// Time of one step per product, seconds.
    pub step_seconds: HistogramVec,
    /// Blends skipped, by product, granularity and blender.
    pub blend_errors: IntCounterVec,
    /// Rolling mean RMSE of the live forecasts.
    pub rolling_rmse: GaugeVec,
    /// Rolling mean MAE.
    pub rolling_mae: GaugeVec,
    /// Rolling skill against the naive forecast.
    pub rolling_skill: GaugeVec,
    /// Rolling mean spectral-norm drift between consecutive blends.
    pub rolling_drift: GaugeVec,
}

impl MatrixTelemetry {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let labels = ["product", "granularity", "blender"];
        let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &labels);
        let t = Self {
            step_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "cgaf_matrix_step_seconds",
                    "Matrix pipeline step per product: read, compute, write",
                ),
                &["product"],
            )?,
            blend_errors: IntCounterVec::new(
                Opts::new("cgaf_matrix_blend_errors_total", "Blends skipped because the blender (or solver) failed"),
                &labels,
            )?,
            rolling_rmse: gauge("cgaf_matrix_rolling_rmse", "Mean forecast RMSE over the newest 100 scores")?,
            rolling_mae: gauge("cgaf_matrix_rolling_mae", "Mean forecast MAE over the newest 100 scores")?,
            rolling_skill: gauge("cgaf_matrix_rolling_skill", "1 - RMSE / naive RMSE over the newest 100 scores")?,
            rolling_drift: gauge("cgaf_matrix_rolling_drift", "Mean spectral-norm drift between consecutive blends")?,
        };
        registry.register(Box::new(t.step_seconds.clone()))?;
        registry.register(Box::new(t.blend_errors.clone()))?;
        registry.register(Box::new(t.rolling_rmse.clone()))?;
        registry.register(Box::new(t.rolling_mae.clone()))?;
        registry.register(Box::new(t.rolling_skill.clone()))?;
        registry.register(Box::new(t.rolling_drift.clone()))?;
        Ok(t)
    }

    /// Re-reads the live rolling scores into the gauges.
    pub async fn refresh(&self, store: &Store) {
        match store.rolling_matrix_scores(LIVE, ROLLING_WINDOW).await {
            Ok(scores) => {
                for s in scores {
                    let g = granularity_label(s.granularity_ms);
                    let l = [s.product.as_str(), g.as_str(), s.blender.as_str()];
                    self.rolling_rmse.with_label_values(&l).set(s.rmse);
                    self.rolling_mae.with_label_values(&l).set(s.mae);
                    if let Some(k) = s.skill {
                        self.rolling_skill.with_label_values(&l).set(k);
                    }
                    if let Some(d) = s.drift {
                        self.rolling_drift.with_label_values(&l).set(d);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "rolling matrix scores"),
        }
    }
}

/// What a replay made.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// The replay's name (its pipeline).
    pub name: String,
    /// Live rollups replayed.
    pub rollups: usize,
    /// Transitions, blends, forecasts, scores written.
    pub transitions: usize,
    /// Blends written.
    pub blends: usize,
    /// Scores written.
    pub scores: usize,
    /// Mean RMSE of the replay's forecasts (none without scores).
    pub rmse: Option<f64>,
    /// Skill of the mean RMSE against the mean naive RMSE.
    pub skill: Option<f64>,
    /// Blends skipped.
    pub faults: usize,
    /// sha256 of the replay's stored rows.
    pub sha256: String,
}

/// Recomputes transitions, blends, forecasts and scores of `product` from the live rollups in
/// `[from_ms, to_ms)` with `settings` (its lanes: granularity, solver, blender, k) into the
/// pipeline `name`, copying the rollups it used; records the replay with the hash of its rows.
/// The rollups' own feature set is used (rollups of another set are skipped).
pub async fn replay(
    store: &Store,
    settings: &PipelineSettings,
    blender: Arc<dyn Blend>,
    name: &str,
    product: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<ReplayReport, Error> {
    let described = serde_json::json!({
        "features": settings.features.key(),
        "aggregation": settings.aggregation.to_string(),
        "lanes": settings.lanes.iter().map(|l| serde_json::json!({
            "granularity": granularity_label(l.granularity_ms),
            "solver": l.solver.to_string(),
            "blender": l.blender,
            "blender_params": l.blender_params,
            "k": l.k,
        })).collect::<Vec<_>>(),
    });
    store.create_matrix_replay(name, product, from_ms, to_ms, &described).await?;
    let mut inputs: Vec<(usize, Vec<cgaf_store::RollupRow>)> = Vec::new();
    for (i, lane) in settings.lanes.iter().enumerate() {
        let mut rows = Vec::new();
        loop {
            let page = store
                .matrix_rollups(&MatrixQuery {
                    pipeline: LIVE.into(),
                    product: product.into(),
                    granularity_ms: lane.granularity_ms,
                    from_ms: Some(from_ms),
                    to_ms: Some(to_ms),
                    limit: 10_000,
                    offset: rows.len() as i64,
                    newest_first: false,
                })
                .await?;
            let done = page.len() < 10_000;
            rows.extend(page);
            if done {
                break;
            }
        }
        inputs.push((i, rows));
    }
    let features = inputs
        .iter()
        .flat_map(|(_, rows)| rows.first())
        .map(|r| FeatureSet::parse_key(&r.features))
        .next()
        .transpose()?
        .unwrap_or_else(|| settings.features.clone());
    let settings = PipelineSettings { features, ..settings.clone() };
    let granularities: Vec<i64> = settings.lanes.iter().map(|l| l.granularity_ms).collect();
    let product_owned = product.to_string();
    let (out, used) = tokio::task::spawn_blocking(move || {
        let key = settings.features.key();
        let mut out = StepOutput::default();
        let mut used = 0;
        for (i, rows) in inputs {
            let lane = &settings.lanes[i];
            let mut ls = LaneState::default();
            for r in rows.into_iter().filter(|r| r.features == key) {
                used += 1;
                out.rows.rollups.push(r.clone());
                let rollup = Rollup { start_ms: r.start_ms, end_ms: r.end_ms, count: r.count.max(0) as u64, w: r.w };
                settings.on_rollup(&product_owned, lane, &mut ls, rollup, blender.as_ref(), &mut out);
            }
        }
        (out, used)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?;
    store.write_matrix_replay_rows(name, &out.rows).await?;
    let sha256 = rows_sha256(store, name, product, &granularities).await?;
    store.finish_matrix_replay(name, &sha256).await?;
    let n = out.rows.scores.len();
    let (rmse, naive) = out.rows.scores.iter().fold((0.0, 0.0), |(a, b), s| (a + s.rmse, b + s.naive_rmse));
    Ok(ReplayReport {
        name: name.to_string(),
        rollups: used,
        transitions: out.rows.transitions.len(),
        blends: out.rows.blends.len(),
        scores: n,
        rmse: (n > 0).then(|| rmse / n as f64),
        skill: (n > 0 && naive > 0.0).then(|| 1.0 - rmse / naive),
        faults: out.faults.len(),
        sha256,
    })
}

/// The sha256 of the stored rows of `pipeline` for `product` at `granularities`: every rollup,
/// transition, blend, forecast and score, read back in key order and written as JSON (floats
/// in their shortest round-trip form, so equal bits give equal text).
pub async fn rows_sha256(store: &Store, pipeline: &str, product: &str, granularities: &[i64]) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    let mut add = |label: &str, json: Result<String, serde_json::Error>| -> Result<(), Error> {
        let text = json.map_err(|e| Error::Task(format!("hashing rows: {e}")))?;
        hasher.update(label.as_bytes());
        hasher.update(text.as_bytes());
        hasher.update(b"\n");
        Ok(())
    };
    for &g in granularities {
        let mut q = MatrixQuery {
            pipeline: pipeline.into(),
            product: product.into(),
            granularity_ms: g,
            from_ms: None,
            to_ms: None,
            limit: 10_000,
            offset: 0,
            newest_first: false,
        };
        loop {
            let (a, b, c, d, e) = (
                store.matrix_rollups(&q).await?,
                store.matrix_transitions(&q).await?,
                store.matrix_blends(&q).await?,
                store.matrix_forecasts(&q).await?,
                store.matrix_scores(&q).await?,
            );
            let more = [a.len(), b.len(), c.len(), d.len(), e.len()].contains(&10_000);
            add("rollups", serde_json::to_string(&a))?;
            add("transitions", serde_json::to_string(&b))?;
            add("blends", serde_json::to_string(&c))?;
            add("forecasts", serde_json::to_string(&d))?;
            add("scores", serde_json::to_string(&e))?;
            if !more {
                break;
            }
            q.offset += 10_000;
        }
    }
    Ok(hex::encode(hasher.finalize()))
}
