//! A paper run's shadow for a canary of its strategy: the candidate version, restored from the
//! run's current strategy state (started fresh when it cannot read that state), stepped on the
//! same bars with a copy of the run's portfolio. Its decisions and equity are only compared with
//! the run's — agreement, PnL difference, time and memory go to the canary's tally — and never
//! written or traded.

use crate::runs::step_bars_until_failure;
use crate::strategy::PluginStrategy;
use cgaf_runtime::{Canary, PluginHost};
use cgaf_trade_domain::{Bar, DecisionRow, Portfolio, RunSettings};
use std::sync::Arc;
use std::time::Duration;

/// The candidate beside one paper run.
pub struct Shadow {
    canary: Arc<Canary>,
    strategy: PluginStrategy,
    portfolio: Portfolio,
}

/// The shadow a paper run should have now: `current` kept while its canary still runs against
/// the run's version, a new one when a canary started, none otherwise (`params`: the run's, as
/// stored; read only to start a shadow). `failed` is the canary
/// whose candidate already failed beside this run (it is not started again).
pub fn follow(
    host: &PluginHost,
    current: Option<Shadow>,
    active: &mut PluginStrategy,
    params: &serde_json::Value,
    portfolio: &Portfolio,
    failed: Option<i64>,
) -> Option<Shadow> {
    let canary = host.canary_for(&active.instance().plugin)?;
    if let Some(s) = current.filter(|s| s.canary.id == canary.id) {
        return Some(s);
    }
    if failed == Some(canary.id) {
        return None;
    }
    let params = cgaf_trade_domain::request::params_of(params);
    let started = tokio::task::block_in_place(|| {
        let mut instance = host.runtime.strategy(&canary.candidate, &params)?;
        match active.instance_mut().state() {
            Ok(state) => {
                if let Err(e) = instance.restore(&state) {
                    tracing::info!(plugin = %canary.name, candidate = %canary.candidate.info.version, error = %e,
                        "the candidate cannot read the run's strategy state; its shadow starts fresh");
                    instance = host.runtime.strategy(&canary.candidate, &params)?;
                }
            }
            Err(e) => tracing::info!(error = %e, "no strategy state to start the shadow from; it starts fresh"),
        }
        Ok::<_, cgaf_runtime::Error>(instance)
    });
    match started {
        Ok(instance) => Some(Shadow { canary, strategy: PluginStrategy::new(instance), portfolio: portfolio.clone() }),
        Err(e) => {
            canary.record(|t| t.candidate_failed(format!("creating the candidate: {e}")));
            None
        }
    }
}

impl Shadow {
    /// The canary it serves.
    pub fn canary_id(&self) -> i64 {
        self.canary.id
    }

    /// Steps the candidate over the bars the run just decided (`rows`, taken from `bars` in
    /// `active_time`) and tallies the comparison with the run (`portfolio` after the bars).
    /// False when the candidate failed (the shadow is then dropped).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        bars: &[Bar],
        rows: &[DecisionRow],
        settings: &RunSettings,
        kill: Option<&str>,
        portfolio: &Portfolio,
        active_time: Duration,
        active_memory: usize,
    ) -> bool {
        let decided = &bars[..rows.len().min(bars.len())];
        let t = std::time::Instant::now();
        let (shadow_rows, _, failure) =
            step_bars_until_failure(&mut self.strategy, decided, settings, &mut self.portfolio, kill, None, None);
        let candidate_time = t.elapsed();
        let candidate_memory = self.strategy.instance().peak_memory();
        let agreed = rows.iter().zip(&shadow_rows).filter(|(a, c)| a.target.to_bits() == c.target.to_bits()).count();
        let pnl = (self.portfolio.equity - portfolio.equity).abs();
        self.canary.record(|t| {
            t.calls += decided.len() as u64;
            t.decisions += shadow_rows.len().min(rows.len()) as u64;
            t.decisions_agreed += agreed as u64;
            t.max_abs_pnl_diff = t.max_abs_pnl_diff.max(if pnl.is_nan() { f64::INFINITY } else { pnl });
            t.active_seconds += active_time.as_secs_f64();
            t.candidate_seconds += candidate_time.as_secs_f64();
            t.active_peak_memory = t.active_peak_memory.max(active_memory as u64);
            t.candidate_peak_memory = t.candidate_peak_memory.max(candidate_memory as u64);
            if let Some(e) = &failure {
                t.candidate_failed(e.to_string());
            }
        });
        failure.is_none()
    }
}
