//! The trading engine: one bar at a time, a portfolio fills the previous decision at this bar's
//! open, marks itself at the close, passes the strategy's new decision through the risk gate and
//! places the order that fills at the next bar's open. Every bar yields one [`DecisionRow`] of the
//! decision log.
//!
//! Rules (the same for backtests, sweeps and paper runs):
//! - **No look-ahead.** A decision taken after bar `k` closed fills at the open of bar `k + 1`
//!   (the first sample after the decision), never at a price the strategy saw.
//! - **Orders.** A decision's target is a fraction of equity in `[-1, 1]`. An order is placed only
//!   when the (gated) target differs from the target currently held; it fills at the next open,
//!   buying at `open · (1 + slippage)` and selling at `open · (1 − slippage)`, sized so the
//!   position is worth `target × equity` at the open: `units = target · (cash + position · open) / open`.
//!   The fee is `|units traded| · fill price · fee_bps / 10⁴`, paid from cash.
//! - **Risk gate.** A target beyond `±max_position` is clamped (logged). When equity at a close is
//!   more than `max_drawdown` below its running peak, or the global kill switch is engaged, the gate
//!   orders a flatten and halts the run: the flatten fills at the next open and the run stops there.
//!   A run whose equity is gone (≤ 0 at a close or an open) is flattened and stopped too; its
//!   metrics count the ruin as equity 0 from there on. Every gate action is
//!   written into the record's `gate` field.

use crate::bars::Bar;
use crate::decision::DecisionRow;
use crate::strategy::Decision;
use serde::{Deserialize, Serialize};

/// Per-run risk limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Largest absolute target, a fraction of equity in `[0, 1]` (1 = no limit).
    pub max_position: f64,
    /// Largest drawdown from the running equity peak before the run is flattened and stopped,
    /// a fraction in `(0, 1]` (0.2 = 20 %); `None` = no limit.
    pub max_drawdown: Option<f64>,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits { max_position: 1.0, max_drawdown: None }
    }
}

/// Periods per year of bars `interval_ms` long, on a market that trades around the clock.
pub fn periods_per_year(interval_ms: i64) -> f64 {
    365.0 * 86_400_000.0 / interval_ms.max(1) as f64
}

/// Costs, cash and limits of a run, and how its range and metrics are judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Starting cash (quote currency).
    pub starting_cash: f64,
    /// Fee per fill in basis points of the filled notional.
    pub fee_bps: f64,
    /// Slippage in basis points: buys fill this much above the open, sells below.
    pub slippage_bps: f64,
    /// Risk limits.
    pub risk: RiskLimits,
    /// Periods per year for annualised metrics; `None` follows the bar interval.
    #[serde(default)]
    pub periods_per_year: Option<f64>,
    /// Run over a range the history covers only in part (the gaps are recorded with the run).
    #[serde(default)]
    pub allow_gaps: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            starting_cash: 10_000.0,
            fee_bps: 0.0,
            slippage_bps: 0.0,
            risk: RiskLimits::default(),
            periods_per_year: None,
            allow_gaps: false,
        }
    }
}

/// Invalid run settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsError {
    /// The offending setting (API / CLI name).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl RunSettings {
    /// Checks every setting; names the first bad one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |field, reason: String| Err(SettingsError { field, reason });
        if !(self.starting_cash.is_finite() && self.starting_cash > 0.0) {
            return bad("starting_cash", format!("must be a positive number (got {})", self.starting_cash));
        }
        if !(self.fee_bps.is_finite() && (0.0..=1000.0).contains(&self.fee_bps)) {
            return bad("fee_bps", format!("must be in [0, 1000] (got {})", self.fee_bps));
        }
        if !(self.slippage_bps.is_finite() && (0.0..=1000.0).contains(&self.slippage_bps)) {
            return bad("slippage_bps", format!("must be in [0, 1000] (got {})", self.slippage_bps));
        }
        if !(self.risk.max_position.is_finite() && (0.0..=1.0).contains(&self.risk.max_position)) {
            return bad("max_position", format!("must be in [0, 1] (got {})", self.risk.max_position));
        }
        if let Some(d) = self.risk.max_drawdown {
            if !(d.is_finite() && d > 0.0 && d <= 1.0) {
                return bad("max_drawdown", format!("must be in (0, 1] (got {d})"));
            }
        }
        if let Some(p) = self.periods_per_year {
            if !(p.is_finite() && p > 0.0) {
                return bad("periods_per_year", format!("must be a positive number (got {p})"));
            }
        }
        Ok(())
    }

    /// Periods per year of bars of `interval_ms` for this run: the override, else the interval's.
    pub fn periods_per_year(&self, interval_ms: i64) -> f64 {
        self.periods_per_year.unwrap_or_else(|| periods_per_year(interval_ms))
    }
}

/// The portfolio of a run between bars: everything a paper run stores to resume after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    /// Cash (quote currency); may dip slightly below 0 by fees on a full position.
    pub cash: f64,
    /// Position in base-currency units (negative = short).
    pub position: f64,
    /// The target currently held (set when an order fills).
    pub held_target: f64,
    /// An order placed at the last close, to fill at the next open.
    pub pending: Option<f64>,
    /// Equity at the last close.
    pub equity: f64,
    /// Running peak of equity at closes (starting cash included).
    pub peak_equity: f64,
    /// Set when the gate halted the run: why. The run stops once the flatten filled.
    pub halt: Option<String>,
    /// Bars processed.
    pub bars: u64,
    /// Orders filled.
    pub fills: u64,
}

impl Portfolio {
    /// A flat portfolio holding `cash`.
    pub fn new(cash: f64) -> Portfolio {
        Portfolio {
            cash,
            position: 0.0,
            held_target: 0.0,
            pending: None,
            equity: cash,
            peak_equity: cash,
            halt: None,
            bars: 0,
            fills: 0,
        }
    }

    /// True once a halted run has no order left to fill: the run is over.
    pub fn stopped(&self) -> bool {
        self.halt.is_some() && self.pending.is_none()
    }

    /// Processes one bar: fills the pending order at the open, marks at the close, gates
    /// `decision` and places the next order; the row keeps the decision's reason. `kill` is the
    /// kill switch's reason when engaged.
    pub fn step(
        &mut self,
        settings: &RunSettings,
        bar: &Bar,
        decision: Decision,
        strategy_state: Option<serde_json::Value>,
        kill: Option<&str>,
    ) -> DecisionRow {
        let (mut fill_price, mut fill_quantity, mut fee) = (None, None, None);
        let mut gate: Option<String> = None;
        if let Some(target) = self.pending.take() {
            let equity_open = self.cash + self.position * bar.open;
            let units = if equity_open > 0.0 {
                target * equity_open / bar.open
            } else {
                if self.halt.is_none() {
                    self.halt = Some(format!("equity exhausted ({equity_open}) at the open: flatten and stop"));
                    gate = self.halt.clone();
                }
                0.0
            };
            let qty = units - self.position;
            if qty != 0.0 {
                let slip = settings.slippage_bps / 10_000.0;
                let price = if qty > 0.0 { bar.open * (1.0 + slip) } else { bar.open * (1.0 - slip) };
                let paid = qty.abs() * price * settings.fee_bps / 10_000.0;
                self.cash -= qty * price + paid;
                self.position = units;
                self.fills += 1;
                fill_price = Some(price);
                fill_quantity = Some(qty);
                fee = Some(paid);
            }
            self.held_target = if equity_open > 0.0 { target } else { 0.0 };
        }
        let equity = self.cash + self.position * bar.close;
        self.equity = equity;
        if equity > self.peak_equity {
            self.peak_equity = equity;
        }
        let mut order_target = None;
        if self.halt.is_none() {
            let flatten = if equity <= 0.0 {
                Some(format!("equity exhausted ({equity}) at the close: flatten and stop"))
            } else if let Some(why) = kill {
                Some(format!("kill switch engaged ({why}): flatten and stop"))
            } else {
                match settings.risk.max_drawdown {
                    Some(limit) if equity / self.peak_equity - 1.0 <= -limit => Some(format!(
                        "max drawdown: equity {:.4}% below its peak, limit {:.4}%: flatten and stop",
                        (1.0 - equity / self.peak_equity) * 100.0,
                        limit * 100.0
                    )),
                    _ => None,
                }
            };
            if let Some(why) = flatten {
                self.halt = Some(why.clone());
                gate = Some(why);
                if self.position != 0.0 || self.held_target != 0.0 {
                    order_target = Some(0.0);
                }
            } else {
                let limit = settings.risk.max_position;
                let mut target = decision.target;
                if target.abs() > limit {
                    let clamped = limit.copysign(target);
                    gate = Some(format!("max position: target {target} clamped to {clamped}"));
                    target = clamped;
                }
                if target != self.held_target {
                    order_target = Some(target);
                }
            }
        } else if gate.is_none() {
            gate = Some(format!("halted: {}", self.halt.as_deref().unwrap_or_default()));
        }
        self.pending = order_target;
        let row = DecisionRow {
            seq: self.bars as i64,
            time_ms: bar.time_ms,
            market: *bar,
            strategy_state,
            target: decision.target,
            reason: decision.reason,
            gate,
            order_target,
            fill_price,
            fill_quantity,
            fee,
            position: self.position,
            held_target: self.held_target,
            cash: self.cash,
            equity,
            strategy_version: None,
        };
        self.bars += 1;
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, open: f64, close: f64) -> Bar {
        Bar { time_ms: t, open, high: open.max(close), low: open.min(close), close, ..Bar::default() }
    }

    fn d(target: f64) -> Decision {
        Decision { target, reason: None }
    }

    #[test]
    fn fills_at_the_next_open_with_costs() {
        let s = RunSettings { starting_cash: 1000.0, fee_bps: 10.0, slippage_bps: 100.0, ..Default::default() };
        let mut p = Portfolio::new(1000.0);
        let r0 = p.step(&s, &bar(1, 100.0, 110.0), d(1.0), None, None);
        assert_eq!((r0.order_target, r0.fill_price, r0.position, r0.equity), (Some(1.0), None, 0.0, 1000.0));
        // Fills at the next open (120), 1 % above it, 10 bps fee.
        let r1 = p.step(&s, &bar(2, 120.0, 130.0), d(1.0), None, None);
        let units = 1000.0 / 120.0;
        let price = 120.0 * 1.01;
        let fee = units * price * 0.001;
        assert_eq!(r1.fill_price, Some(price));
        assert_eq!(r1.fill_quantity, Some(units));
        assert_eq!(r1.fee, Some(fee));
        assert_eq!(r1.cash, 1000.0 - (units * price + fee));
        assert_eq!(r1.equity, r1.cash + units * 130.0);
        assert_eq!(r1.order_target, None, "an unchanged target places no order");
        // Flat again: sells at the open below by the slippage.
        let r2 = p.step(&s, &bar(3, 130.0, 125.0), d(0.0), None, None);
        assert_eq!(r2.order_target, Some(0.0));
        let r3 = p.step(&s, &bar(4, 140.0, 150.0), d(0.0), None, None);
        assert_eq!(r3.fill_price, Some(140.0 * 0.99));
        assert_eq!(r3.position, 0.0);
        assert_eq!(r3.equity, r3.cash);
        assert_eq!(p.fills, 2);
    }

    #[test]
    fn gate_clamps_and_stops_on_drawdown() {
        let s = RunSettings {
            starting_cash: 100.0,
            risk: RiskLimits { max_position: 0.5, max_drawdown: Some(0.1) },
            ..Default::default()
        };
        let mut p = Portfolio::new(100.0);
        let r = p.step(&s, &bar(1, 10.0, 10.0), d(-1.0), None, None);
        assert_eq!(r.order_target, Some(-0.5));
        assert!(r.gate.as_deref().unwrap().starts_with("max position"));
        // Short 0.5 at 10: 5 units short. Price doubles: equity 100 - 5*10 = 50, a 50 % drawdown.
        let r = p.step(&s, &bar(2, 10.0, 20.0), d(-1.0), None, None);
        assert_eq!(r.position, -5.0);
        assert!(r.gate.as_deref().unwrap().starts_with("max drawdown"), "{:?}", r.gate);
        assert_eq!(r.order_target, Some(0.0));
        assert!(!p.stopped());
        let r = p.step(&s, &bar(3, 20.0, 20.0), d(-1.0), None, None);
        assert_eq!((r.position, r.fill_quantity), (0.0, Some(5.0)));
        assert!(r.gate.as_deref().unwrap().starts_with("halted"));
        assert!(p.stopped());
    }

    #[test]
    fn kill_switch_flattens_and_halts() {
        let s = RunSettings::default();
        let mut p = Portfolio::new(10_000.0);
        p.step(&s, &bar(1, 10.0, 10.0), d(1.0), None, None);
        p.step(&s, &bar(2, 10.0, 10.0), d(1.0), None, None);
        let r = p.step(&s, &bar(3, 10.0, 10.0), d(1.0), None, Some("operator"));
        assert_eq!(r.order_target, Some(0.0));
        assert!(r.gate.as_deref().unwrap().contains("kill switch"));
        // A flat run halts at once.
        let mut flat = Portfolio::new(10.0);
        let r = flat.step(&s, &bar(1, 10.0, 10.0), d(1.0), None, Some("x"));
        assert_eq!(r.order_target, None);
        assert!(flat.stopped());
    }

    #[test]
    fn ruin_flattens_and_stops() {
        let s = RunSettings::default();
        let mut p = Portfolio::new(100.0);
        p.step(&s, &bar(1, 10.0, 10.0), d(-1.0), None, None);
        // Short 10 units at 10; the price triples: equity 100 - 300 < 0.
        let r = p.step(&s, &bar(2, 10.0, 30.0), d(-1.0), None, None);
        assert!(r.equity < 0.0);
        assert!(r.gate.as_deref().unwrap().starts_with("equity exhausted"), "{:?}", r.gate);
        assert_eq!(r.order_target, Some(0.0));
        let r = p.step(&s, &bar(3, 30.0, 30.0), d(-1.0), None, None);
        assert_eq!(r.position, 0.0);
        assert!(p.stopped());
    }

    #[test]
    fn settings_are_checked() {
        assert!(RunSettings::default().validate().is_ok());
        let bad = RunSettings { fee_bps: -1.0, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, "fee_bps");
        let bad = RunSettings { risk: RiskLimits { max_position: 2.0, max_drawdown: None }, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, "max_position");
        let bad = RunSettings { starting_cash: f64::NAN, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, "starting_cash");
    }
}
