//! Series primitives of the metrics: sums, means, returns, Sharpe, Sortino, drawdowns, CAGR,
//! Calmar, trades, win rate and exposure. They take already validated input (finite, returns
//! ≥ -1) and return NaN where a metric is undefined; they never panic.

use super::{Error, Options, Trade};

/// Left-to-right sum, the order `metrics_example.py` (and NautilusTrader) add in.
fn sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(values: &[f64]) -> f64 {
    sum(values.iter().copied()) / values.len() as f64
}

/// Sample standard deviation (Bessel, ddof = 1); NaN for fewer than two values, exactly 0 when all
/// values are equal.
pub fn sample_std(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return f64::NAN;
    }
    if values.iter().all(|&v| v == values[0]) {
        return 0.0;
    }
    let m = mean(values);
    (sum(values.iter().map(|&v| (v - m) * (v - m))) / (n - 1) as f64).sqrt()
}

/// Simple returns of an equity series, `r_t = E_t / E_{t-1} - 1` (`N + 1` values give `N` returns).
///
/// The equity must be finite and `≥ 0` and start above zero. A zero equity (ruin) may only be
/// followed by zeros, whose returns are taken as 0 (nothing left to gain or lose); a positive
/// value after a zero is an error, as is an all-zero curve.
pub fn returns_from_equity(equity: &[f64]) -> Result<Vec<f64>, Error> {
    for (index, &value) in equity.iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::NonFinite { field: "equity", index, value });
        }
        if value < 0.0 {
            return Err(Error::NegativeEquity { index, value });
        }
    }
    if let Some(&first) = equity.first() {
        if first <= 0.0 {
            return Err(Error::NonPositiveStartingEquity(first));
        }
    }
    equity
        .windows(2)
        .enumerate()
        .map(|(i, w)| match (w[0] == 0.0, w[1] == 0.0) {
            (true, true) => Ok(0.0),
            (true, false) => Err(Error::ReturnFromZeroEquity { index: i + 1, value: w[1] }),
            _ => Ok(w[1] / w[0] - 1.0),
        })
        .collect()
}

/// Checks a return series: finite values, none below -1.
pub fn validate_returns(returns: &[f64]) -> Result<(), Error> {
    for (index, &value) in returns.iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::NonFinite { field: "returns", index, value });
        }
        if value < -1.0 {
            return Err(Error::ReturnBelowMinusOne { index, value });
        }
    }
    Ok(())
}

/// Compounded return, `Π(1 + r_t) - 1`; 0 for an empty series.
pub fn total_return(returns: &[f64]) -> f64 {
    returns.iter().fold(1.0, |p, &r| p * (1.0 + r)) - 1.0
}

/// Compounds consecutive groups of `periods_per_bin` returns into one return each (for example 24
/// hourly returns into a daily one), geometrically as NautilusTrader does: `+5 %, -5 %` →
/// `-0.0025`. A trailing partial group becomes a bin of its own.
///
/// # Panics
/// When `periods_per_bin` is 0.
pub fn compound_bins(returns: &[f64], periods_per_bin: usize) -> Vec<f64> {
    assert!(periods_per_bin > 0, "periods_per_bin must be at least 1");
    returns.chunks(periods_per_bin).map(total_return).collect()
}

/// The per-period rate of an annual rate: `(1 + annual)^(1 / periods_per_year) - 1`.
pub fn per_period_rate(annual: f64, periods_per_year: f64) -> f64 {
    (1.0 + annual).powf(1.0 / periods_per_year) - 1.0
}

/// Annualised Sharpe ratio, `mean(r - rf) / std(r - rf, ddof = 1) · √A`, where `rf` is the
/// risk-free return per period. NaN for fewer than two returns or zero variance (all excess
/// returns equal).
pub fn sharpe(returns: &[f64], periods_per_year: f64, rf_per_period: f64) -> f64 {
    let excess: Vec<f64> = returns.iter().map(|&r| r - rf_per_period).collect();
    let std = sample_std(&excess);
    if std.is_nan() || std == 0.0 {
        return f64::NAN;
    }
    mean(&excess) / std * periods_per_year.sqrt()
}

/// Downside deviation per period, `√(Σ_t min(r_t - target, 0)² / N)` over **all** N periods
/// (empyrical, quantstats, NautilusTrader); NaN for an empty series.
pub fn downside_deviation(returns: &[f64], target: f64) -> f64 {
    let squares = sum(returns.iter().map(|&r| {
        let d = (r - target).min(0.0);
        d * d
    }));
    (squares / returns.len() as f64).sqrt()
}

/// Annualised Sortino ratio, `mean(r - target) / downside_deviation(r, target) · √A`. NaN when no
/// return is below the target (downside deviation 0) or the series is empty.
pub fn sortino(returns: &[f64], periods_per_year: f64, target: f64) -> f64 {
    let dd = downside_deviation(returns, target);
    if dd.is_nan() || dd == 0.0 {
        return f64::NAN;
    }
    let excess: Vec<f64> = returns.iter().map(|&r| r - target).collect();
    mean(&excess) / dd * periods_per_year.sqrt()
}

/// Walks the compounded equity (from 1.0, which counts as the first peak) and returns the maximum
/// drawdown (`≤ 0`) and the longest run of periods with a negative drawdown.
pub(super) fn drawdown(returns: &[f64]) -> (f64, usize) {
    let (mut equity, mut peak, mut mdd) = (1.0_f64, 1.0_f64, 0.0_f64);
    let (mut run, mut longest) = (0usize, 0usize);
    for &r in returns {
        equity *= 1.0 + r;
        peak = peak.max(equity);
        let dd = equity / peak - 1.0;
        mdd = mdd.min(dd);
        if dd < 0.0 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    (mdd, longest)
}

/// Maximum drawdown `min_t (E_t / max(E_0..E_t) - 1)` of the equity compounded from the returns,
/// with the starting equity as the first peak; negative or 0 (0 for an empty series).
pub fn max_drawdown(returns: &[f64]) -> f64 {
    drawdown(returns).0
}

/// Longest run of consecutive periods whose drawdown is below 0 (Backtrader's `max.len`).
pub fn max_drawdown_duration(returns: &[f64]) -> usize {
    drawdown(returns).1
}

/// Compound annual growth rate from the period count, `(1 + total)^(A / N) - 1` (empyrical
/// `annual_return`, quantstats `cagr`); NaN for an empty series.
pub fn cagr(returns: &[f64], periods_per_year: f64) -> f64 {
    if returns.is_empty() {
        return f64::NAN;
    }
    (1.0 + total_return(returns)).powf(periods_per_year / returns.len() as f64) - 1.0
}

/// Calmar ratio, `cagr / abs(max_drawdown)`; NaN when there is no drawdown (`max_drawdown ≥ 0`).
pub fn calmar(cagr: f64, max_drawdown: f64) -> f64 {
    if max_drawdown < 0.0 {
        cagr / max_drawdown.abs()
    } else {
        f64::NAN
    }
}

/// Fraction of trades that won (`pnl > 0`, as NautilusTrader and vectorbt count; a break-even
/// trade is not a win); NaN without trades.
pub fn win_rate(trades: &[Trade]) -> f64 {
    trades.iter().filter(|t| t.pnl > 0.0).count() as f64 / trades.len() as f64
}

/// Fraction of periods with a non-zero position (time in the market); NaN for no periods.
pub fn exposure(positions: &[f64]) -> f64 {
    positions.iter().filter(|&&p| p != 0.0).count() as f64 / positions.len() as f64
}

/// -1, 0 or 1 (0 for both zeros, unlike `f64::signum`).
fn side(position: f64) -> i8 {
    if position > 0.0 {
        1
    } else if position < 0.0 {
        -1
    } else {
        0
    }
}

/// Splits a position series into trades. `positions[t]` is the position held over return period
/// `t` (from `E_t` to `E_{t+1}`), so both series have the same length.
///
/// A trade opens when the position leaves 0 and closes when it returns to 0 or changes sign (a
/// flip closes one trade and opens the next); resizing without a sign change stays the same trade.
/// A trade still open at the end is closed there, marked to market. Each trade's `pnl` compounds
/// the returns of its periods.
pub fn trades_from_positions(positions: &[f64], returns: &[f64]) -> Result<Vec<Trade>, Error> {
    if positions.len() != returns.len() {
        return Err(Error::LengthMismatch { expected: returns.len(), actual: positions.len() });
    }
    if let Some((index, &value)) = positions.iter().enumerate().find(|(_, p)| !p.is_finite()) {
        return Err(Error::NonFinite { field: "positions", index, value });
    }
    let mut trades = Vec::new();
    let mut open: Option<(usize, i8)> = None;
    let close = |entry: usize, exit: usize| Trade { entry, exit, pnl: total_return(&returns[entry..exit]) };
    for (t, &p) in positions.iter().enumerate() {
        let s = side(p);
        if let Some((entry, open_side)) = open {
            if s != open_side {
                trades.push(close(entry, t));
                open = None;
            }
        }
        if s != 0 && open.is_none() {
            open = Some((t, s));
        }
    }
    if let Some((entry, _)) = open {
        trades.push(close(entry, positions.len()));
    }
    Ok(trades)
}

pub(super) fn validate_options(options: &Options) -> Result<(), Error> {
    let ppy = options.periods_per_year;
    if !ppy.is_finite() || ppy <= 0.0 {
        return Err(Error::InvalidPeriodsPerYear(ppy));
    }
    let rf = options.risk_free_rate;
    if !rf.is_finite() || rf <= -1.0 {
        return Err(Error::InvalidRiskFreeRate(rf));
    }
    Ok(())
}

pub(super) fn validate_trades(trades: &[Trade]) -> Result<(), Error> {
    for (index, t) in trades.iter().enumerate() {
        if !t.pnl.is_finite() {
            return Err(Error::InvalidTrade { index, reason: format!("pnl is not finite ({})", t.pnl) });
        }
        if t.exit < t.entry {
            return Err(Error::InvalidTrade { index, reason: format!("exit {} is before entry {}", t.exit, t.entry) });
        }
    }
    Ok(())
}
