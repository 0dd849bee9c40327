//! What the engine needs of a strategy: a [`Strategy`] turns bars into one [`Decision`] each and
//! reports its state. The trade worker implements it over a sandboxed plugin instance; tests and
//! benchmarks implement it natively. The domain never sees the sandbox.

use crate::bars::Bar;

/// A strategy's decision for one bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Target position, a fraction of equity in [-1, 1] (the risk gate may clamp it).
    pub target: f64,
    /// Why, in the strategy's words.
    pub reason: Option<String>,
}

/// A strategy that failed: the implementation's own error, kept whole so the caller can recover
/// its type (the worker turns a plugin error back into one).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StrategyError(pub Box<dyn std::error::Error + Send + Sync + 'static>);

impl StrategyError {
    /// Wraps any error.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StrategyError(Box::new(e))
    }
}

/// Something that turns bars into decisions.
pub trait Strategy {
    /// One decision per bar, in order.
    fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError>;
    /// The decision for one bar, when the strategy has a cheaper way to make it than a one-bar
    /// [`Strategy::decide`] (the same decision and state afterwards); `None` (the default): ask
    /// `decide`. A run asks once per bar.
    fn decide_one(&mut self, _bar: &Bar) -> Option<Result<Decision, StrategyError>> {
        None
    }
    /// One target per bar, in order: [`Strategy::decide`]'s targets without the reasons (the same
    /// state afterwards). Sweeps, which keep no decision log, call this; the default calls
    /// `decide`.
    fn targets(&mut self, bars: &[Bar]) -> Result<Vec<f64>, StrategyError> {
        Ok(self.decide(bars)?.into_iter().map(|d| d.target).collect())
    }
    /// The strategy's state as JSON.
    fn state(&mut self) -> Result<serde_json::Value, StrategyError>;
}
