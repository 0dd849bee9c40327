//! The trade worker's telemetry (operational metrics, not the trading performance metrics of
//! [`cgaf_trade_domain::metrics`]): runs executing by mode and runs ended by outcome, the kill
//! switch, and per paper run its equity, drawdown, position, rolling Sharpe and Sortino,
//! decisions and gate actions — registered in the host's Prometheus registry and recorded by the
//! worker after each tick.
//!
//! Label cardinality is bounded: per-run series carry `run`, `strategy` and `product` and exist
//! only for the paper runs this process holds, at most [`MAX_RUN_SERIES`] of them (the oldest
//! runs by id); a run's series are removed when it ends or moves to another replica. Gate actions
//! have a fixed set of `action` values ([`gate_action`]).

use cgaf_trade_domain::metrics::{sharpe, sortino};
use prometheus::{GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Most paper runs with their own series in one process.
pub const MAX_RUN_SERIES: usize = 50;
/// Bars (returns) the rolling Sharpe and Sortino ratios of a paper run are computed over.
pub const ROLLING_BARS: usize = 300;

/// Every gate action kind ([`gate_action`]).
pub const GATE_ACTIONS: [&str; 6] =
    ["max_position", "max_drawdown", "kill_switch", "equity_exhausted", "halted", "other"];

/// The per-run label names.
const RUN_LABELS: &[&str] = &["run", "strategy", "product"];

/// The kind of a risk-gate action, from the text the engine writes into a decision's `gate`
/// field: `max_position` (a target clamped), `max_drawdown`, `kill_switch`, `equity_exhausted`,
/// `halted` (a halted run's later bars) or `other`.
pub fn gate_action(gate: &str) -> &'static str {
    if gate.starts_with("max position") {
        "max_position"
    } else if gate.starts_with("max drawdown") {
        "max_drawdown"
    } else if gate.contains("kill switch") {
        "kill_switch"
    } else if gate.starts_with("equity exhausted") {
        "equity_exhausted"
    } else if gate.starts_with("halted") {
        "halted"
    } else {
        "other"
    }
}

/// What a paper run looks like after a tick, as the telemetry reads it.
#[derive(Debug, Clone, Copy)]
pub struct PaperView<'a> {
    /// Run id.
    pub run_id: i64,
    /// Strategy plugin name.
    pub strategy: &'a str,
    /// Product traded.
    pub product: &'a str,
    /// Equity at the last close, quote currency.
    pub equity: f64,
    /// Running peak of equity, quote currency.
    pub peak_equity: f64,
    /// Position, base-currency units (negative = short).
    pub position: f64,
    /// Equity at every close so far, starting equity first (the tail is used).
    pub equity_series: &'a [f64],
    /// Annualisation of the rolling ratios.
    pub periods_per_year: f64,
}

/// What a paper run did since it was last read: decisions logged and gate actions by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaperActivity {
    /// Decision-log rows written.
    pub decisions: u64,
    /// Gate actions by [`gate_action`] kind.
    pub gate_actions: BTreeMap<&'static str, u64>,
}

impl PaperActivity {
    /// Counts one decision with its gate text.
    pub fn count(&mut self, gate: Option<&str>) {
        self.decisions += 1;
        if let Some(g) = gate {
            *self.gate_actions.entry(gate_action(g)).or_default() += 1;
        }
    }
}

/// Metrics of the trade worker.
#[derive(Debug, Clone)]
pub struct TradeTelemetry {
    /// Runs this process executes now, by mode (`paper`, `backtest`).
    pub runs: IntGaugeVec,
    /// Paper runs that ended in this process, by outcome (`ended`, `failed`).
    pub run_ends: IntCounterVec,
    /// 1 while the kill switch is engaged.
    pub kill_switch: IntGauge,
    /// Paper run equity, quote currency.
    pub equity: GaugeVec,
    /// Paper run drawdown from its running peak, a fraction (0.1 = 10 % below the peak).
    pub drawdown: GaugeVec,
    /// Paper run position, base-currency units.
    pub position: GaugeVec,
    /// Paper run return since its start, a fraction.
    pub total_return: GaugeVec,
    /// Annualised Sharpe ratio of a paper run's last [`ROLLING_BARS`] returns.
    pub rolling_sharpe: GaugeVec,
    /// Annualised Sortino ratio of a paper run's last [`ROLLING_BARS`] returns.
    pub rolling_sortino: GaugeVec,
    /// Decisions a paper run logged in this process.
    pub decisions: IntCounterVec,
    /// Risk-gate actions of a paper run in this process, by `action`.
    pub gate_actions: IntCounterVec,
    /// Runs with series now, with their label values.
    exported: Arc<Mutex<BTreeMap<i64, [String; 3]>>>,
}

impl TradeTelemetry {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let runs = IntGaugeVec::new(Opts::new("cgaf_trade_runs", "Runs this process executes now"), &["mode"])?;
        let run_ends = IntCounterVec::new(
            Opts::new("cgaf_trade_run_ends_total", "Paper runs ended here, by outcome"),
            &["outcome"],
        )?;
        let kill_switch = IntGauge::new("cgaf_kill_switch_engaged", "1 while the kill switch is engaged")?;
        let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), RUN_LABELS);
        let mut gate_labels = RUN_LABELS.to_vec();
        gate_labels.push("action");
        let t = Self {
            runs,
            run_ends,
            kill_switch,
            equity: gauge("cgaf_paper_run_equity_quote", "Paper run equity at the last close, quote currency")?,
            drawdown: gauge("cgaf_paper_run_drawdown_ratio", "Paper run drawdown below its running equity peak")?,
            position: gauge("cgaf_paper_run_position_base", "Paper run position, base-currency units")?,
            total_return: gauge("cgaf_paper_run_return_ratio", "Paper run return since its start")?,
            rolling_sharpe: gauge(
                "cgaf_paper_run_rolling_sharpe_ratio",
                "Annualised Sharpe ratio of the paper run's last 300 bar returns",
            )?,
            rolling_sortino: gauge(
                "cgaf_paper_run_rolling_sortino_ratio",
                "Annualised Sortino ratio of the paper run's last 300 bar returns",
            )?,
            decisions: IntCounterVec::new(
                Opts::new("cgaf_paper_run_decisions_total", "Decisions a paper run logged in this process"),
                RUN_LABELS,
            )?,
            gate_actions: IntCounterVec::new(
                Opts::new("cgaf_paper_run_gate_actions_total", "Risk-gate actions of a paper run, by action"),
                &gate_labels,
            )?,
            exported: Arc::default(),
        };
        registry.register(Box::new(t.runs.clone()))?;
        registry.register(Box::new(t.run_ends.clone()))?;
        registry.register(Box::new(t.kill_switch.clone()))?;
        for g in [&t.equity, &t.drawdown, &t.position, &t.total_return, &t.rolling_sharpe, &t.rolling_sortino] {
            registry.register(Box::new(g.clone()))?;
        }
        registry.register(Box::new(t.decisions.clone()))?;
        registry.register(Box::new(t.gate_actions.clone()))?;
        Ok(t)
    }

    /// Records one tick: runs executing by mode, and paper runs that ended or failed in it.
    pub fn record(&self, paper_runs: usize, backtests: usize, ended: usize, failed: usize) {
        self.runs.with_label_values(&["paper"]).set(paper_runs as i64);
        self.runs.with_label_values(&["backtest"]).set(backtests as i64);
        self.run_ends.with_label_values(&["ended"]).inc_by(ended as u64);
        self.run_ends.with_label_values(&["failed"]).inc_by(failed as u64);
    }

    /// Records whether the kill switch is engaged.
    pub fn kill_switch(&self, engaged: bool) {
        self.kill_switch.set(i64::from(engaged));
    }

    /// Records a paper run after a tick and what it did in it (nothing when it is beyond the
    /// [`MAX_RUN_SERIES`] cap).
    pub fn paper_run(&self, view: &PaperView<'_>, activity: &PaperActivity) {
        let Ok(mut exported) = self.exported.lock() else { return };
        if !exported.contains_key(&view.run_id) {
            if exported.len() >= MAX_RUN_SERIES {
                return;
            }
            let id = view.run_id.to_string();
            for action in GATE_ACTIONS {
                // Every action starts at 0, so a run without gate actions shows zeros, not no data.
                self.gate_actions.with_label_values(&[&id, view.strategy, view.product, action]);
            }
            exported.insert(view.run_id, [id, view.strategy.to_string(), view.product.to_string()]);
        }
        let Some(labels) = exported.get(&view.run_id) else { return };
        let labels = [labels[0].as_str(), labels[1].as_str(), labels[2].as_str()];
        self.equity.with_label_values(&labels).set(view.equity);
        let drawdown = if view.peak_equity > 0.0 { (1.0 - view.equity / view.peak_equity).max(0.0) } else { 0.0 };
        self.drawdown.with_label_values(&labels).set(drawdown);
        self.position.with_label_values(&labels).set(view.position);
        let start = view.equity_series.first().copied().unwrap_or(f64::NAN);
        self.total_return.with_label_values(&labels).set(view.equity / start - 1.0);
        let tail = &view.equity_series[view.equity_series.len().saturating_sub(ROLLING_BARS + 1)..];
        let returns: Vec<f64> = tail.windows(2).map(|w| if w[0] > 0.0 { w[1] / w[0] - 1.0 } else { 0.0 }).collect();
        self.rolling_sharpe.with_label_values(&labels).set(sharpe(&returns, view.periods_per_year, 0.0));
        self.rolling_sortino.with_label_values(&labels).set(sortino(&returns, view.periods_per_year, 0.0));
        self.decisions.with_label_values(&labels).inc_by(activity.decisions);
        for (action, n) in &activity.gate_actions {
            self.gate_actions.with_label_values(&[labels[0], labels[1], labels[2], action]).inc_by(*n);
        }
    }

    /// Removes the series of every run not in `held` (ended, failed, or moved to another replica).
    pub fn retain_runs(&self, held: &BTreeSet<i64>) {
        let Ok(mut exported) = self.exported.lock() else { return };
        let gone: Vec<i64> = exported.keys().filter(|id| !held.contains(id)).copied().collect();
        for id in gone {
            let Some(labels) = exported.remove(&id) else { continue };
            let labels = [labels[0].as_str(), labels[1].as_str(), labels[2].as_str()];
            for g in [
                &self.equity,
                &self.drawdown,
                &self.position,
                &self.total_return,
                &self.rolling_sharpe,
                &self.rolling_sortino,
            ] {
                let _ = g.remove_label_values(&labels);
            }
            let _ = self.decisions.remove_label_values(&labels);
            for action in GATE_ACTIONS {
                let _ = self.gate_actions.remove_label_values(&[labels[0], labels[1], labels[2], action]);
            }
        }
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
        t.kill_switch(true);
        assert_eq!(t.kill_switch.get(), 1);
    }

    #[test]
    fn gate_texts_map_to_a_fixed_set_of_actions() {
        assert_eq!(gate_action("max position: target 2 clamped to 1"), "max_position");
        assert_eq!(gate_action("max drawdown 0.2 reached: flatten and stop"), "max_drawdown");
        assert_eq!(gate_action("kill switch engaged (test): flatten and stop"), "kill_switch");
        assert_eq!(gate_action("equity exhausted"), "equity_exhausted");
        assert_eq!(gate_action("halted: x"), "halted");
        assert_eq!(gate_action("anything new"), "other");
    }

    fn view<'a>(run_id: i64, series: &'a [f64]) -> PaperView<'a> {
        PaperView {
            run_id,
            strategy: "sma-cross",
            product: "BTC-USD",
            equity: *series.last().unwrap(),
            peak_equity: series.iter().copied().fold(f64::MIN, f64::max),
            position: 0.5,
            equity_series: series,
            periods_per_year: 252.0,
        }
    }

    #[test]
    fn paper_runs_get_bounded_series_removed_when_they_end() {
        let registry = Registry::new();
        let t = TradeTelemetry::register(&registry).unwrap();
        let series = [100.0, 110.0, 99.0, 104.5];
        let mut activity = PaperActivity::default();
        activity.count(None);
        activity.count(Some("max position: target 2 clamped to 1"));
        t.paper_run(&view(7, &series), &activity);
        let labels = ["7", "sma-cross", "BTC-USD"];
        assert_eq!(t.equity.with_label_values(&labels).get(), 104.5);
        assert!((t.drawdown.with_label_values(&labels).get() - 0.05).abs() < 1e-12);
        assert!((t.total_return.with_label_values(&labels).get() - 0.045).abs() < 1e-12);
        assert!(t.rolling_sharpe.with_label_values(&labels).get().is_finite());
        assert!(t.rolling_sortino.with_label_values(&labels).get().is_finite());
        assert_eq!(t.decisions.with_label_values(&labels).get(), 2);
        assert_eq!(t.gate_actions.with_label_values(&["7", "sma-cross", "BTC-USD", "max_position"]).get(), 1);

        // The cap: runs beyond it get no series.
        for id in 100..100 + MAX_RUN_SERIES as i64 {
            t.paper_run(&view(id, &series), &PaperActivity::default());
        }
        let runs_with_equity = |r: &Registry| {
            r.gather().iter().find(|f| f.name() == "cgaf_paper_run_equity_quote").map_or(0, |f| f.get_metric().len())
        };
        assert_eq!(runs_with_equity(&registry), MAX_RUN_SERIES);

        // Ended runs lose their series.
        t.retain_runs(&BTreeSet::from([100]));
        assert_eq!(runs_with_equity(&registry), 1);
        let gates = registry.gather().into_iter().find(|f| f.name() == "cgaf_paper_run_gate_actions_total").unwrap();
        assert_eq!(gates.get_metric().len(), GATE_ACTIONS.len(), "run 100's actions, each from 0");
    }
}
