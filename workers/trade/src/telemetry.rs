//! The trade worker's telemetry (operational metrics, not the trading performance metrics of
//! [`cgaf_trade_domain::metrics`]): runs executing by mode and runs ended by outcome, registered
//! in the host's Prometheus registry and recorded by the worker after each tick.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Metrics of the trade worker.
#[derive(Debug, Clone)]
pub struct TradeTelemetry {
    /// Runs this process executes now, by mode (`paper`, `backtest`).
    pub runs: IntGaugeVec,
    /// Paper runs that ended in this process, by outcome (`ended`, `failed`).
    pub run_ends: IntCounterVec,
}

impl TradeTelemetry {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let runs = IntGaugeVec::new(Opts::new("cgaf_trade_runs", "Runs this process executes now"), &["mode"])?;
        let run_ends = IntCounterVec::new(
            Opts::new("cgaf_trade_run_ends_total", "Paper runs ended here, by outcome"),
            &["outcome"],
        )?;
        registry.register(Box::new(runs.clone()))?;
        registry.register(Box::new(run_ends.clone()))?;
        Ok(Self { runs, run_ends })
    }

    /// Records one tick: runs executing by mode, and paper runs that ended or failed in it.
    pub fn record(&self, paper_runs: usize, backtests: usize, ended: usize, failed: usize) {
        self.runs.with_label_values(&["paper"]).set(paper_runs as i64);
        self.runs.with_label_values(&["backtest"]).set(backtests as i64);
        self.run_ends.with_label_values(&["ended"]).inc_by(ended as u64);
        self.run_ends.with_label_values(&["failed"]).inc_by(failed as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_a_tick() {
        let registry = Registry::new();
        let t = TradeTelemetry::register(&registry).unwrap();
        t.record(2, 1, 1, 0);
        t.record(1, 0, 1, 1);
        assert_eq!(t.runs.with_label_values(&["paper"]).get(), 1);
        assert_eq!(t.run_ends.with_label_values(&["ended"]).get(), 2);
        assert_eq!(t.run_ends.with_label_values(&["failed"]).get(), 1);
    }
}
