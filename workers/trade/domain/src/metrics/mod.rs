//! Performance metrics of a strategy run, as `reference/backtesting-and-metrics.md` §4 defines
//! them (the empyrical / quantstats / NautilusTrader conventions; `reference/metrics_example.py`
//! is the executable form, and this module follows it operation for operation).
//!
//! Notation: equity `E_0..E_N`, period returns `r_1..r_N`, `A` = periods per year.
//!
//! | metric | definition |
//! |---|---|
//! | returns from equity | simple: `r_t = E_t / E_{t-1} - 1` |
//! | total return | `Π(1 + r_t) - 1` |
//! | Sharpe | `mean(r - rf_p) / std(r - rf_p, ddof = 1) · √A` |
//! | Sortino | `mean(r - rf_p) / DD · √A`, `DD = √(Σ min(r_t - rf_p, 0)² / N)` over **all** N periods |
//! | max drawdown | `min_t (E_t / max(E_0..E_t) - 1)`, negative, starting equity is the first peak |
//! | CAGR | `(1 + total)^(A / N) - 1` (period-count based, empyrical `annual_return`) |
//! | Calmar | `CAGR / abs(max drawdown)` |
//!
//! `rf_p = (1 + rf)^(1/A) - 1` is the per-period rate of the annual risk-free rate `rf`
//! (default 0, so Sharpe and Sortino reduce to the reference's vectors). `A` defaults to
//! [`DEFAULT_PERIODS_PER_YEAR`] = 365 (daily bars of a 24/7 crypto market, the reference's
//! recommendation); every [`Metrics`] carries the `periods_per_year` it was computed with.
//!
//! Undefined results are `NaN` in Rust and `null` in JSON (see [`Metrics`] for which and when):
//! Sharpe with fewer than two returns or zero variance, Sortino without any return below the
//! target, CAGR of an empty series, Calmar without a drawdown, win rate without trades, exposure
//! without positions.
//!
//! Trades, win rate and exposure are not defined in the reference's formulas; this module defines
//! them from a position series (see [`trades_from_positions`] and [`exposure`]) or takes an
//! explicit trade list ([`Trade`]).

mod formulas;

pub use formulas::*;
use formulas::{drawdown, validate_options, validate_trades};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Periods per year used when none is given: 365, daily bars of a market that trades every day.
pub const DEFAULT_PERIODS_PER_YEAR: f64 = 365.0;

/// Bad input to the metrics functions. Every variant names what was wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The JSON input is not an object.
    #[error("metrics input must be a JSON object such as {{\"returns\": [...]}} or {{\"equity\": [...]}}")]
    NotAnObject,
    /// The JSON input has neither `returns` nor `equity`.
    #[error("metrics input needs a \"returns\" or an \"equity\" array")]
    MissingSeries,
    /// The JSON input has both `returns` and `equity`.
    #[error("metrics input has both \"returns\" and \"equity\"; give exactly one")]
    BothSeries,
    /// The JSON input has a field this function does not know (often a typo).
    #[error(
        "unknown field \"{0}\" in metrics input (known: returns, equity, positions, trades, periods_per_year, \
         risk_free_rate)"
    )]
    UnknownField(String),
    /// A field that must be an array is something else.
    #[error("\"{field}\" must be an array")]
    NotAnArray {
        /// The field's name.
        field: &'static str,
    },
    /// An element of a numeric array is not a JSON number (a string, null, object...).
    #[error("\"{field}\"[{index}] is not a number")]
    NotANumber {
        /// The array's name.
        field: &'static str,
        /// The element's position.
        index: usize,
    },
    /// A scalar field that must be a number is something else.
    #[error("\"{field}\" must be a number")]
    ExpectedNumber {
        /// The field's name.
        field: &'static str,
    },
    /// A value is NaN or infinite (only reachable through the slice API: JSON has no NaN).
    #[error("\"{field}\"[{index}] is not finite ({value})")]
    NonFinite {
        /// The series' name (`returns`, `equity` or `positions`).
        field: &'static str,
        /// The element's position.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An equity value is negative.
    #[error("equity[{index}] is negative ({value})")]
    NegativeEquity {
        /// The element's position.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The first equity value is zero (this includes an all-zero equity curve): no return is defined.
    #[error("starting equity must be positive, got {0}")]
    NonPositiveStartingEquity(f64),
    /// A positive equity follows a zero equity: the return from zero is undefined.
    #[error("equity[{index}] = {value} follows a zero equity; a return from zero is undefined")]
    ReturnFromZeroEquity {
        /// The position of the positive value.
        index: usize,
        /// The positive value.
        value: f64,
    },
    /// A return below -1 (a loss of more than everything, i.e. negative equity).
    #[error("returns[{index}] = {value} is below -1 (a loss of more than 100 %)")]
    ReturnBelowMinusOne {
        /// The element's position.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The position series does not have one value per return period.
    #[error(
        "\"positions\" has {actual} values but there are {expected} return periods (positions[t] is the position \
         held over return period t, i.e. from equity[t] to equity[t+1])"
    )]
    LengthMismatch {
        /// The number of return periods.
        expected: usize,
        /// The number of positions given.
        actual: usize,
    },
    /// Periods per year is not a finite number above zero.
    #[error("periods per year must be a finite number > 0, got {0}")]
    InvalidPeriodsPerYear(f64),
    /// The annual risk-free rate is not a finite number above -1.
    #[error("the risk-free rate must be a finite annual rate > -1, got {0}")]
    InvalidRiskFreeRate(f64),
    /// An explicit trade is malformed.
    #[error("trades[{index}]: {reason}")]
    InvalidTrade {
        /// The trade's position in the list.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One round trip: a maximal run of return periods with a non-zero position of one sign.
///
/// `entry..exit` is the half-open range of return periods the trade covers (`exit` is the first
/// period after it, `returns.len()` for a trade still open at the end). `pnl` is the trade's
/// result as a fraction of equity: the strategy's returns compounded over its periods,
/// `Π(1 + r_t) - 1`. An explicit trade list (for example from the fill log, fees included) may use
/// any unit for `pnl`; only its sign matters to the win rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// First return period of the trade.
    pub entry: usize,
    /// First return period after the trade (exclusive end).
    pub exit: usize,
    /// Result of the trade; a trade wins when `pnl > 0`.
    pub pnl: f64,
}

/// Settings of a metrics computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Annualisation factor `A`: 365 for daily crypto bars, 8,760 hourly, 525,600 per minute, 252
    /// for equity-market days.
    pub periods_per_year: f64,
    /// Annual risk-free rate `rf` (0.05 = 5 %); Sharpe and Sortino use the per-period
    /// `(1 + rf)^(1/A) - 1` as the risk-free return and the Sortino target.
    pub risk_free_rate: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { periods_per_year: DEFAULT_PERIODS_PER_YEAR, risk_free_rate: 0.0 }
    }
}

/// The metrics of one return series. Serialises to a JSON object with these snake_case keys.
///
/// Every `f64` field that is not finite serialises as JSON `null` (and `null` deserialises back to
/// `NaN`); no field ever serialises as `NaN` text. The cases, for validated input:
/// - `sharpe`, `volatility`: fewer than 2 returns; `sharpe` also when all excess returns are equal
///   (zero variance);
/// - `sortino`: no return below the target (downside deviation 0), or no returns;
/// - `downside_deviation`: no returns;
/// - `cagr`: no returns, or a result beyond `f64` (e.g. a large gain annualised at 525,600);
/// - `calmar`: no drawdown (`max_drawdown == 0`), or `cagr` undefined;
/// - `win_rate`: no trades, or neither positions nor trades given (then `trades` is `null` too);
/// - `exposure`: no positions given, or no returns;
/// - `total_return`: only when the compounded product overflows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// Compounded return over the whole series, `Π(1 + r_t) - 1` (0 for no returns).
    #[serde(with = "nullable")]
    pub total_return: f64,
    /// Compound annual growth rate, `(1 + total_return)^(A / N) - 1`.
    #[serde(with = "nullable")]
    pub cagr: f64,
    /// Annualised Sharpe ratio, `mean(r - rf_p) / std(r - rf_p, ddof = 1) · √A`.
    #[serde(with = "nullable")]
    pub sharpe: f64,
    /// Annualised Sortino ratio, `mean(r - rf_p) / DD · √A` with the all-periods downside deviation.
    #[serde(with = "nullable")]
    pub sortino: f64,
    /// Maximum drawdown, a fraction `≤ 0` (-0.2 = 20 % below the running peak); 0 for no returns.
    #[serde(with = "nullable")]
    pub max_drawdown: f64,
    /// Longest run of consecutive periods spent below the running peak.
    pub max_drawdown_duration: usize,
    /// Calmar ratio, `cagr / abs(max_drawdown)`.
    #[serde(with = "nullable")]
    pub calmar: f64,
    /// Annualised volatility, `std(r, ddof = 1) · √A`.
    #[serde(with = "nullable")]
    pub volatility: f64,
    /// Annualised downside deviation, `√(Σ min(r_t - rf_p, 0)² / N) · √A`.
    #[serde(with = "nullable")]
    pub downside_deviation: f64,
    /// Fraction of trades with `pnl > 0`.
    #[serde(with = "nullable")]
    pub win_rate: f64,
    /// Number of trades (including one still open at the end), `null` without positions or trades.
    pub trades: Option<usize>,
    /// Fraction of return periods with a non-zero position (time in the market).
    #[serde(with = "nullable")]
    pub exposure: f64,
    /// Number of return periods `N`.
    pub periods: usize,
    /// The annualisation factor `A` these metrics were computed with.
    pub periods_per_year: f64,
    /// The annual risk-free rate these metrics were computed with.
    pub risk_free_rate: f64,
}

/// Serde adapter: finite `f64` as a number, anything else as `null`; `null` reads back as `NaN`.
mod nullable {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else {
            serializer.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
}

impl Metrics {
    /// Computes every metric of a return series.
    ///
    /// `positions` (one per return period, see [`trades_from_positions`]) give the exposure and,
    /// unless `trades` is given, the trades; `trades` (for example from the fill log, fees
    /// included) give the trade count and win rate. With neither, `trades`, `win_rate` and
    /// `exposure` are undefined.
    pub fn from_returns(
        returns: &[f64],
        positions: Option<&[f64]>,
        trades: Option<&[Trade]>,
        options: &Options,
    ) -> Result<Metrics, Error> {
        validate_options(options)?;
        validate_returns(returns)?;
        let derived = positions.map(|p| trades_from_positions(p, returns)).transpose()?;
        if let Some(t) = trades {
            validate_trades(t)?;
        }
        let trade_list = trades.or(derived.as_deref());

        let a = options.periods_per_year;
        let rf_p = per_period_rate(options.risk_free_rate, a);
        let total = total_return(returns);
        let (mdd, duration) = drawdown(returns);
        let cagr = cagr(returns, a);
        Ok(Metrics {
            total_return: total,
            cagr,
            sharpe: sharpe(returns, a, rf_p),
            sortino: sortino(returns, a, rf_p),
            max_drawdown: mdd,
            max_drawdown_duration: duration,
            calmar: calmar(cagr, mdd),
            volatility: sample_std(returns) * a.sqrt(),
            downside_deviation: downside_deviation(returns, rf_p) * a.sqrt(),
            win_rate: trade_list.map_or(f64::NAN, win_rate),
            trades: trade_list.map(<[Trade]>::len),
            exposure: positions.map_or(f64::NAN, exposure),
            periods: returns.len(),
            periods_per_year: a,
            risk_free_rate: options.risk_free_rate,
        })
    }

    /// Computes every metric of an equity series (converted with [`returns_from_equity`]);
    /// `positions` then has `equity.len() - 1` values.
    pub fn from_equity(
        equity: &[f64],
        positions: Option<&[f64]>,
        trades: Option<&[Trade]>,
        options: &Options,
    ) -> Result<Metrics, Error> {
        validate_options(options)?;
        let returns = returns_from_equity(equity)?;
        Metrics::from_returns(&returns, positions, trades, options)
    }
}

// ----------------------------------------------------------------------------------------------
// JSON input (`cgaf metrics`).
// ----------------------------------------------------------------------------------------------

const KNOWN_FIELDS: [&str; 6] = ["returns", "equity", "positions", "trades", "periods_per_year", "risk_free_rate"];

/// A field that may be absent; JSON `null` counts as absent.
fn optional<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|v| !v.is_null())
}

fn number_array(value: &Value, field: &'static str) -> Result<Vec<f64>, Error> {
    let array = value.as_array().ok_or(Error::NotAnArray { field })?;
    array.iter().enumerate().map(|(index, v)| v.as_f64().ok_or(Error::NotANumber { field, index })).collect()
}

fn number(value: &Value, field: &'static str) -> Result<f64, Error> {
    value.as_f64().ok_or(Error::ExpectedNumber { field })
}

fn trade_list(value: &Value) -> Result<Vec<Trade>, Error> {
    let array = value.as_array().ok_or(Error::NotAnArray { field: "trades" })?;
    let invalid = |index: usize, reason: &str| Error::InvalidTrade { index, reason: reason.to_string() };
    array
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let object = v.as_object().ok_or_else(|| invalid(index, "must be an object {entry, exit, pnl}"))?;
            if let Some(key) = object.keys().find(|k| !["entry", "exit", "pnl"].contains(&k.as_str())) {
                return Err(invalid(index, &format!("unknown field \"{key}\" (known: entry, exit, pnl)")));
            }
            let period = |key: &str| -> Result<usize, Error> {
                let v = object.get(key).ok_or_else(|| invalid(index, &format!("missing \"{key}\"")))?;
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| invalid(index, &format!("\"{key}\" must be a period index (an integer ≥ 0)")))
            };
            let entry = period("entry")?;
            let exit = period("exit")?;
            let pnl = object
                .get("pnl")
                .ok_or_else(|| invalid(index, "missing \"pnl\""))?
                .as_f64()
                .ok_or_else(|| invalid(index, "\"pnl\" must be a number"))?;
            Ok(Trade { entry, exit, pnl })
        })
        .collect()
}

/// Computes [`Metrics`] from the JSON document `cgaf metrics` reads on stdin.
///
/// The document is an object with exactly one of
/// - `"returns": [r_1, ..., r_N]`: simple period returns (each finite and `≥ -1`), or
/// - `"equity": [E_0, ..., E_N]`: an equity curve (finite, `≥ 0`, starting above 0), converted
///   with [`returns_from_equity`];
///
/// and optionally
/// - `"positions": [p_1, ..., p_N]`: the position held over each return period (length `N`),
///   giving `exposure` and, without `trades`, the trades (see [`trades_from_positions`]);
/// - `"trades": [{"entry": i, "exit": j, "pnl": x}, ...]`: explicit trades for `trades` and
///   `win_rate` (they take precedence over trades derived from positions);
/// - `"periods_per_year": A`: used when the `periods_per_year` argument is `None`;
/// - `"risk_free_rate": rf`: the annual risk-free rate, default 0.
///
/// `periods_per_year` (the CLI's `--periods-per-year`) wins over the document's field; with
/// neither, [`DEFAULT_PERIODS_PER_YEAR`] applies. A `null` optional field counts as absent; any
/// other field is an [`Error::UnknownField`].
pub fn metrics_from_json(input: &Value, periods_per_year: Option<f64>) -> Result<Metrics, Error> {
    let object = input.as_object().ok_or(Error::NotAnObject)?;
    if let Some(key) = object.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(Error::UnknownField(key.clone()));
    }
    let periods_per_year = match periods_per_year {
        Some(a) => a,
        None => optional(object, "periods_per_year")
            .map(|v| number(v, "periods_per_year"))
            .transpose()?
            .unwrap_or(DEFAULT_PERIODS_PER_YEAR),
    };
    let risk_free_rate =
        optional(object, "risk_free_rate").map(|v| number(v, "risk_free_rate")).transpose()?.unwrap_or(0.0);
    let options = Options { periods_per_year, risk_free_rate };
    validate_options(&options)?;

    let returns = match (object.get("returns"), object.get("equity")) {
        (Some(_), Some(_)) => return Err(Error::BothSeries),
        (None, None) => return Err(Error::MissingSeries),
        (Some(r), None) => number_array(r, "returns")?,
        (None, Some(e)) => returns_from_equity(&number_array(e, "equity")?)?,
    };
    let positions = optional(object, "positions").map(|v| number_array(v, "positions")).transpose()?;
    let trades = optional(object, "trades").map(trade_list).transpose()?;
    Metrics::from_returns(&returns, positions.as_deref(), trades.as_deref(), &options)
}
