//! Parameter sweeps: a grid of backtests over parameter values, optionally walk-forward, run in
//! parallel (rayon); a results table, the best parameters out of sample, and a heatmap.
//!
//! Walk-forward with `splits = k` cuts the bars into `k + 1` consecutive equal segments; fold `i`
//! trains on segment `i` and tests on segment `i + 1` (rolling windows). Every grid point is
//! backtested on every segment from a fresh strategy instance. A fold picks the grid point with
//! the best in-sample metric and reports its out-of-sample metric; `walk_forward` is the mean of
//! those (the honest estimate), and `best` is the grid point with the best mean out-of-sample
//! metric. Without splits, every point runs once over all bars and `best` is in sample.
//!
//! - [`grid`]: the request, its axes and the checked [`SweepSpec`].
//! - [`evaluate`]: backtesting every grid point on every segment ([`run_sweep`]).
//! - [`result`]: one backtest's [`Cell`], folding the cells into a [`SweepResult`], its CSV
//!   table and heatmap.

pub mod evaluate;
pub mod grid;
pub mod result;

pub use evaluate::{run_sweep, NewStrategy};
pub use grid::{Axis, GridAxis, SweepRequest, SweepSpec};
pub use result::{results_csv, Cell, Heatmap, SweepResult};
