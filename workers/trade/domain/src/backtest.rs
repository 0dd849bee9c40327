//! Driving a strategy over bars: the [`Strategy`] decides on a batch of bars, the [`Portfolio`]
//! turns each decision into a [`DecisionRow`]. Used by backtests, sweeps and paper runs.

use crate::bars::Bar;
use crate::decision::DecisionRow;
pub use crate::engine::periods_per_year;
use crate::engine::{Portfolio, RunSettings};
use crate::metrics::{Metrics, Options};
use crate::strategy::{Decision, Strategy};
use crate::Error;

/// Which rows of a drive carry the strategy state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCapture {
    /// No row (sweeps and benchmarks: the series alone).
    Never,
    /// The last row of every batch: with a batch of 1, every row (paper runs, offline logs).
    EveryBatch,
    /// Only the last row the drive decides: a checkpoint. A backtest drives its bars in chunks
    /// and stores the state once per chunk; the states between are re-derived by replaying the
    /// deterministic strategy from the checkpoint before them (`cgaf_trade::fill_strategy_states`).
    LastRow,
}

/// How a run feeds bars to its strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriveOptions {
    /// Bars per strategy call (≥ 1).
    pub batch: usize,
    /// Which rows carry the strategy state.
    pub state: StateCapture,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions { batch: 1, state: StateCapture::EveryBatch }
    }
}

/// The equity and position series of a run, for its metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Equity at every close, preceded by the starting equity (`E_0`).
    pub equity: Vec<f64>,
    /// Target held over each bar (one per bar, aligned with the returns `E_{k-1} → E_k`).
    pub positions: Vec<f64>,
}

impl Series {
    /// An empty series starting at `equity`.
    pub fn starting_at(equity: f64) -> Series {
        Series { equity: vec![equity], positions: Vec::new() }
    }

    /// Appends one row.
    pub fn push(&mut self, r: &DecisionRow) {
        self.equity.push(r.equity);
        self.positions.push(r.held_target);
    }

    /// The run's metrics, annualised with `periods_per_year`. Equity at or below zero is ruin:
    /// from the first such close on, equity counts as 0 (a total return of -100 %).
    pub fn metrics(&self, periods_per_year: f64) -> Result<Metrics, Error> {
        let options = Options { periods_per_year, ..Options::default() };
        let mut equity = self.equity.clone();
        if let Some(i) = equity.iter().skip(1).position(|&e| e <= 0.0) {
            equity[i + 1..].iter_mut().for_each(|e| *e = 0.0);
        }
        Ok(Metrics::from_equity(&equity, Some(&self.positions), None, &options)?)
    }
}

/// Feeds `bars` to `strategy` and the portfolio; hands every row to `sink` and reports the
/// number of bars done to `progress` after each batch. Stops early when the risk gate stopped
/// the run, or with [`Error::Stopped`] when `stop()` turns true between batches.
#[allow(clippy::too_many_arguments)]
pub fn drive(
    strategy: &mut dyn Strategy,
    bars: &[Bar],
    settings: &RunSettings,
    portfolio: &mut Portfolio,
    options: DriveOptions,
    kill: Option<&str>,
    sink: &mut dyn FnMut(DecisionRow) -> Result<(), Error>,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<(), Error> {
    let batch = options.batch.max(1);
    let mut done = 0;
    let last_bar = bars.len().saturating_sub(1);
    for chunk in bars.chunks(batch) {
        if portfolio.stopped() {
            break;
        }
        // One bar: the strategy's decision for it, without a list around it.
        let decisions: (Option<Decision>, Vec<Decision>) = match chunk {
            [bar] => (Some(decide_bar(strategy, bar)?), Vec::new()),
            _ => (None, decide_chunk(strategy, chunk)?),
        };
        let mut state = if options.state == StateCapture::EveryBatch { Some(strategy.state()?) } else { None };
        let last = chunk.len() - 1;
        for (i, (market, decision)) in chunk.iter().zip(decisions.0.into_iter().chain(decisions.1)).enumerate() {
            let s = if i == last { state.take() } else { None };
            let mut row = portfolio.step(settings, market, decision, s, kill);
            // Under `LastRow`, the last row the drive decides: the last bar's, or the one the risk
            // gate stopped the run at (no strategy call comes after either).
            if options.state == StateCapture::LastRow && (done + i == last_bar || portfolio.stopped()) {
                row.strategy_state = Some(strategy.state()?);
            }
            sink(row)?;
            if portfolio.stopped() {
                break;
            }
        }
        done += chunk.len();
        if !progress(done) {
            return Err(Error::Stopped);
        }
    }
    Ok(())
}

/// Runs a backtest for its series alone (no rows kept, no strategy state captured): what sweeps
/// and benchmarks need. `batch` bars go to the strategy per call.
pub fn backtest_series(
    strategy: &mut dyn Strategy,
    bars: &[Bar],
    settings: &RunSettings,
    batch: usize,
) -> Result<(Series, Portfolio), Error> {
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    drive(
        strategy,
        bars,
        settings,
        &mut portfolio,
        DriveOptions { batch, state: StateCapture::Never },
        None,
        &mut |r| {
            series.push(&r);
            Ok(())
        },
        &mut |_| true,
    )?;
    Ok((series, portfolio))
}

/// Runs a whole backtest in memory: the rows and the series.
pub fn backtest(
    strategy: &mut dyn Strategy,
    bars: &[Bar],
    settings: &RunSettings,
    options: DriveOptions,
) -> Result<(Vec<DecisionRow>, Series, Portfolio), Error> {
    settings.validate()?;
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    let mut rows = Vec::with_capacity(bars.len());
    drive(
        strategy,
        bars,
        settings,
        &mut portfolio,
        options,
        None,
        &mut |r| {
            series.push(&r);
            rows.push(r);
            Ok(())
        },
        &mut |_| true,
    )?;
    Ok((rows, series, portfolio))
}

/// The strategy's decisions for `chunk`, one per bar (anything else is an error).
pub(crate) fn decide_chunk<S: Strategy + ?Sized>(strategy: &mut S, chunk: &[Bar]) -> Result<Vec<Decision>, Error> {
    let decisions = strategy.decide(chunk)?;
    one_per_bar(decisions.len(), chunk.len(), "decisions")?;
    Ok(decisions)
}

/// The strategy's decision for one bar: [`Strategy::decide_one`] where the strategy has it, else
/// [`decide_chunk`] of the bar.
pub(crate) fn decide_bar<S: Strategy + ?Sized>(strategy: &mut S, bar: &Bar) -> Result<Decision, Error> {
    if let Some(d) = strategy.decide_one(bar) {
        return Ok(d?);
    }
    let mut decisions = decide_chunk(strategy, std::slice::from_ref(bar))?;
    decisions.pop().ok_or_else(|| Error::Invalid("the strategy returned no decision for 1 bar".into()))
}

/// The strategy's targets for `chunk` ([`Strategy::targets`]), one per bar (anything else is an
/// error).
pub(crate) fn targets_chunk<S: Strategy + ?Sized>(strategy: &mut S, chunk: &[Bar]) -> Result<Vec<f64>, Error> {
    let targets = strategy.targets(chunk)?;
    one_per_bar(targets.len(), chunk.len(), "targets")?;
    Ok(targets)
}

/// An error unless a strategy gave one answer (`what`) per bar.
fn one_per_bar(answers: usize, bars: usize, what: &str) -> Result<(), Error> {
    if answers == bars {
        Ok(())
    } else {
        Err(Error::Invalid(format!("the strategy returned {answers} {what} for {bars} bars")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{Decision, StrategyError};

    /// Long on even bars, flat on odd ones.
    struct Alternate(u64);
    impl Strategy for Alternate {
        fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError> {
            Ok(bars
                .iter()
                .map(|_| {
                    self.0 += 1;
                    Decision {
                        target: if self.0 % 2 == 1 { 1.0 } else { 0.0 },
                        reason: Some(format!("bar {}", self.0)),
                    }
                })
                .collect())
        }
        fn state(&mut self) -> Result<serde_json::Value, StrategyError> {
            Ok(serde_json::json!({ "seen": self.0 }))
        }
    }

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let p = 100.0 + (i as f64).sin() * 5.0;
                Bar {
                    time_ms: (i as i64 + 1) * 1000,
                    open: p,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: p + 0.5,
                    volume: 1.0,
                    buy_volume: 0.5,
                    sell_volume: 0.5,
                    ..Bar::default()
                }
            })
            .collect()
    }

    /// Answers one target too many, and one decision too few.
    struct Miscounts;
    impl Strategy for Miscounts {
        fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError> {
            Ok(bars.iter().skip(1).map(|_| Decision { target: 0.0, reason: None }).collect())
        }
        fn targets(&mut self, bars: &[Bar]) -> Result<Vec<f64>, StrategyError> {
            Ok(vec![0.0; bars.len() + 1])
        }
        fn state(&mut self) -> Result<serde_json::Value, StrategyError> {
            Ok(serde_json::json!({}))
        }
    }

    #[test]
    fn a_strategy_must_answer_once_per_bar() {
        let b = bars(4);
        let e = decide_chunk(&mut Miscounts, &b).unwrap_err();
        assert_eq!(e.to_string(), Error::Invalid("the strategy returned 3 decisions for 4 bars".into()).to_string());
        let e = targets_chunk(&mut Miscounts, &b).unwrap_err();
        assert_eq!(e.to_string(), Error::Invalid("the strategy returned 5 targets for 4 bars".into()).to_string());
        // The default `targets` is `decide`'s targets.
        assert_eq!(targets_chunk(&mut Alternate(0), &b).unwrap(), [1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn batching_does_not_change_the_log_except_for_captured_states() {
        let b = bars(50);
        let s = RunSettings { fee_bps: 5.0, slippage_bps: 2.0, ..Default::default() };
        let (one, s1, _) = backtest(&mut Alternate(0), &b, &s, DriveOptions::default()).unwrap();
        let (many, s7, _) =
            backtest(&mut Alternate(0), &b, &s, DriveOptions { batch: 7, state: StateCapture::EveryBatch }).unwrap();
        assert_eq!(s1, s7);
        assert_eq!(one.len(), 50);
        assert!(one.iter().all(|r| r.strategy_state.is_some()));
        assert_eq!(many.iter().filter(|r| r.strategy_state.is_some()).count(), 8);
        for (a, b) in one.iter().zip(&many) {
            assert_eq!((a.equity, a.position, a.order_target), (b.equity, b.position, b.order_target));
        }
        assert_eq!(one[6].strategy_state, many[6].strategy_state);
        // A checkpoint: only the last row carries the state, the one every-row capture has there.
        let (last, s_last, _) =
            backtest(&mut Alternate(0), &b, &s, DriveOptions { batch: 1, state: StateCapture::LastRow }).unwrap();
        assert_eq!(s_last, s1);
        assert_eq!(last.iter().filter(|r| r.strategy_state.is_some()).count(), 1);
        assert_eq!(last[49].strategy_state, one[49].strategy_state);
        let m = s1.metrics(periods_per_year(1000)).unwrap();
        assert_eq!(m.periods, 50);
        assert_eq!(m.trades, Some(25));
    }

    #[test]
    fn ruin_counts_as_zero_equity() {
        let s = Series { equity: vec![100.0, 50.0, -20.0, 10.0], positions: vec![1.0, 1.0, 0.0] };
        let m = s.metrics(365.0).unwrap();
        assert_eq!(m.total_return, -1.0);
    }

    #[test]
    fn stop_request_ends_the_drive() {
        let b = bars(10);
        let s = RunSettings::default();
        let mut p = Portfolio::new(s.starting_cash);
        let r = drive(
            &mut Alternate(0),
            &b,
            &s,
            &mut p,
            DriveOptions { batch: 2, state: StateCapture::Never },
            None,
            &mut |_| Ok(()),
            &mut |done| done < 4,
        );
        assert!(matches!(r, Err(Error::Stopped)));
        assert_eq!(p.bars, 4);
    }
}
