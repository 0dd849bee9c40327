//! Backtesting every grid point on every segment, in parallel on a rayon pool, into [`Cell`]s. A panicking
//! evaluation is reported as [`Error::Panicked`], never as a silently empty cell.

use super::grid::{GridAxis, SweepSpec};
use super::result::{summarize, Cell, SweepResult};
use crate::backtest::Series;
use crate::bars::Bar;
use crate::engine::{Portfolio, RunSettings};
use crate::request::param_text;
use crate::strategy::{Decision, Strategy, StrategyError};
use crate::Error;
use rayon::prelude::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Makes a fresh strategy from call parameters (name, Python-literal text); called from the
/// sweep's threads.
pub type NewStrategy<'a, S> = dyn Fn(&[(String, String)]) -> Result<S, StrategyError> + Sync + 'a;

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Bars per strategy call in a sweep: the per-call cost of the sandbox is negligible at this
/// size (batches of 1024 and 16384 measured no faster in `cgaf bench --only sweep`).
const SWEEP_BATCH: usize = 4096;

/// The equity and position series of one backtest for its metrics: the same fills and equity as
/// [`crate::backtest::backtest_series`] (the portfolio steps through the same decisions and
/// stops the same way), without what only a decision log needs — the strategy is asked for
/// targets only ([`Strategy::targets`]), no reasons — and with the series allocated once at its
/// final length.
fn sweep_series<S: Strategy>(strategy: &mut S, bars: &[Bar], settings: &RunSettings) -> Result<Series, Error> {
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series { equity: Vec::with_capacity(bars.len() + 1), positions: Vec::with_capacity(bars.len()) };
    series.equity.push(settings.starting_cash);
    for chunk in bars.chunks(SWEEP_BATCH) {
        if portfolio.stopped() {
            break;
        }
        let targets = crate::backtest::targets_chunk(strategy, chunk)?;
        for (market, target) in chunk.iter().zip(targets) {
            series.push(&portfolio.step(settings, market, Decision { target, reason: None }, None, None));
            if portfolio.stopped() {
                break;
            }
        }
    }
    Ok(series)
}

/// Backtests one parameter set over `bars` (fresh strategy, no log) and returns its cell.
fn one_backtest<S: Strategy>(
    new_strategy: &NewStrategy<'_, S>,
    params: &[(String, String)],
    bars: &[Bar],
    spec: &SweepSpec,
) -> Cell {
    let run = || -> Result<Cell, Error> {
        let mut strategy = new_strategy(params)?;
        let series = sweep_series(&mut strategy, bars, &spec.settings)?;
        let m = series.metrics(spec.settings.periods_per_year(spec.interval_ms))?;
        let v = serde_json::to_value(&m).unwrap_or(Value::Null);
        Ok(Cell {
            value: v.get(&spec.metric).and_then(Value::as_f64).and_then(finite),
            trades: m.trades.unwrap_or(0),
            total_return: finite(m.total_return),
            error: None,
        })
    };
    run().unwrap_or_else(|e| Cell { value: None, trades: 0, total_return: None, error: Some(e.to_string()) })
}

/// The text of a panic's payload.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_else(|| "no message".into()),
    }
}

/// Runs the sweep over `bars` on `threads` threads (0 = one per core), a fresh strategy from
/// `new_strategy` per backtest. `progress(done, total)` is called after each backtest; when it
/// returns false, backtests not yet begun are skipped and the sweep ends with [`Error::Stopped`].
pub fn run_sweep<S: Strategy>(
    new_strategy: &NewStrategy<'_, S>,
    spec: &SweepSpec,
    bars: &[Bar],
    threads: usize,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<SweepResult, Error> {
    let points = spec.points();
    let segments = spec.segments(bars.len());
    if bars.len() < 2 * segments.len() {
        return Err(Error::Invalid(format!(
            "{} bars are too few for {} segment(s); widen the range or lower splits",
            bars.len(),
            segments.len()
        )));
    }
    let mut point_params = Vec::with_capacity(points.len());
    for values in &points {
        let mut out = spec.fixed.clone();
        for (GridAxis { name, .. }, v) in spec.axes.iter().zip(values) {
            out.push((name.clone(), param_text(v).map_err(|e| Error::Invalid(format!("grid.{name}: {e}")))?));
        }
        point_params.push(out);
    }
    let jobs: Vec<(usize, usize)> = (0..points.len()).flat_map(|p| (0..segments.len()).map(move |s| (p, s))).collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cgaf-sweep-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("sweep threads: {e}")))?;
    let cells: Vec<Result<Cell, Error>> = pool.install(|| {
        jobs.par_iter()
            .map(|&(p, s)| {
                if stopped.load(Ordering::Relaxed) {
                    return Err(Error::Stopped);
                }
                let (a, b) = segments[s];
                let cell = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    one_backtest(new_strategy, &point_params[p], &bars[a..b], spec)
                }))
                .map_err(|payload| Error::Panicked(panic_text(payload)))?;
                if !progress(done.fetch_add(1, Ordering::Relaxed) + 1, total) {
                    stopped.store(true, Ordering::Relaxed);
                    return Err(Error::Stopped);
                }
                Ok(cell)
            })
            .collect()
    });
    let cells = cells.into_iter().collect::<Result<Vec<Cell>, Error>>()?;
    Ok(summarize(spec, &points, &segments, bars, &cells))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepRequest;
    use serde_json::json;

    /// Long while the bar index is below `flip`, flat after; panics when `flip` is 13.
    struct Flip {
        flip: usize,
        seen: usize,
    }

    impl Strategy for Flip {
        fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError> {
            assert_ne!(self.flip, 13, "unlucky parameter");
            Ok(bars
                .iter()
                .map(|_| {
                    self.seen += 1;
                    Decision { target: if self.seen < self.flip { 1.0 } else { 0.0 }, reason: None }
                })
                .collect())
        }
        fn state(&mut self) -> Result<serde_json::Value, StrategyError> {
            Ok(json!({}))
        }
    }

    fn new_flip(params: &[(String, String)]) -> Result<Flip, StrategyError> {
        let flip = params.iter().find(|(k, _)| k == "flip").map_or("1", |(_, v)| v.as_str());
        let flip = flip.parse().map_err(StrategyError::new)?;
        Ok(Flip { flip, seen: 0 })
    }

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let p = 100.0 + (i as f64 * 0.7).sin() * 5.0;
                Bar {
                    time_ms: (i as i64 + 1) * 1000,
                    open: p,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: p + 0.5,
                    ..Bar::default()
                }
            })
            .collect()
    }

    fn spec(grid: serde_json::Value, splits: usize) -> SweepSpec {
        let req: SweepRequest = serde_json::from_value(json!({
            "strategy": "flip", "product": "X", "grid": grid, "splits": splits, "metric": "total_return"
        }))
        .unwrap();
        req.spec().unwrap()
    }

    #[test]
    fn a_sweep_backtest_has_the_series_of_a_backtest() {
        use crate::backtest::backtest_series;
        use crate::engine::RiskLimits;
        let bars = bars(3 * SWEEP_BATCH + 17);
        let calm = RunSettings { fee_bps: 2.0, slippage_bps: 1.0, ..RunSettings::default() };
        // A drawdown limit the wiggle trips: the risk gate flattens and stops the run early.
        let gated = RunSettings { risk: RiskLimits { max_drawdown: Some(0.01), ..RiskLimits::default() }, ..calm };
        for settings in [calm, gated] {
            for flip in [1, 40, 5000, 9000] {
                let (want, portfolio) =
                    backtest_series(&mut Flip { flip, seen: 0 }, &bars, &settings, SWEEP_BATCH).unwrap();
                let got = sweep_series(&mut Flip { flip, seen: 0 }, &bars, &settings).unwrap();
                assert_eq!(got, want, "flip {flip}, {settings:?}");
                assert!(got.equity.len() > 1, "flip {flip}: no bar stepped");
                if settings.risk.max_drawdown.is_some() && flip > 1 {
                    assert!(portfolio.stopped(), "flip {flip}: the gate never stopped the run");
                }
            }
        }
    }

    #[test]
    fn every_point_and_segment_is_evaluated_and_counted() {
        let calls = AtomicUsize::new(0);
        let r = run_sweep(&new_flip, &spec(json!({"flip": [2, 5, 9]}), 2), &bars(60), 2, &|_, n| {
            calls.fetch_add(1, Ordering::Relaxed);
            n == 9
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 9);
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.folds.len(), 2);
        assert!(r.best.is_some());
        // The same sweep on one thread gives the same result.
        let one = run_sweep(&new_flip, &spec(json!({"flip": [2, 5, 9]}), 2), &bars(60), 1, &|_, _| true).unwrap();
        assert_eq!(one, r);
    }

    #[test]
    fn a_panicking_evaluation_is_an_error_not_a_default() {
        let r = run_sweep(&new_flip, &spec(json!({"flip": [2, 13]}), 0), &bars(20), 2, &|_, _| true);
        match r {
            Err(Error::Panicked(m)) => assert!(m.contains("unlucky parameter"), "{m}"),
            other => panic!("expected a panic error, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_parameter_is_a_cell_error_and_a_stop_ends_the_sweep() {
        let r = run_sweep(&new_flip, &spec(json!({"flip": ["x", 3]}), 0), &bars(20), 2, &|_, _| true).unwrap();
        assert!(r.rows[0]["error"].as_str().is_some_and(|e| e.contains("invalid digit")), "{:?}", r.rows[0]);
        assert!(r.rows[1]["error"].is_null());
        let stopped = run_sweep(&new_flip, &spec(json!({"flip": [2, 3, 4]}), 0), &bars(20), 1, &|_, _| false);
        assert!(matches!(stopped, Err(Error::Stopped)));
    }
}
