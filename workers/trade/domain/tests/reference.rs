//! The metrics against the reference (`backtesting-and-metrics.md` §4.6 and its executable form
//! `metrics_example.py`, outside this repository).
//!
//! The script prints its numbers with 12 significant digits only, too few for a 1e-12 check, so a
//! small driver (`tests/golden/reference/metrics_driver.py`) executed the script (its own
//! printout silenced) and called the script's own functions (`sharpe`, `sortino`, `downside_dev`,
//! `max_dd`, `total`, `cagr`, `std`) on vectors A, B and C, printing full-precision JSON, once;
//! that JSON is `tests/golden/reference/metrics.json`. Every metric must match
//! within 1e-12 (relative to the value when it exceeds 1 in magnitude, since CAGR reaches 10^18).

use cgaf_trade_domain::metrics::{self, compound_bins, max_drawdown, total_return};
use cgaf_trade_domain::{metrics_from_json, Metrics, MetricsError, Options, Trade, DEFAULT_PERIODS_PER_YEAR};
use serde_json::{json, Value};

const VECTOR_A: [f64; 5] = [0.01, -0.02, 0.015, -0.005, 0.025];
const VECTOR_B: [f64; 5] = [-0.01, 0.02, -0.015, 0.005, -0.02];
const EQUITY_C: [f64; 5] = [100.0, 110.0, 99.0, 103.95, 114.345];
const PERIODS: [f64; 5] = [1.0, 252.0, 365.0, 8760.0, 525600.0];

/// The reference values, computed once by `tests/golden/reference/metrics_driver.py` (the
/// reference script's own functions, printed at full precision; see `tests/golden/README.md`).
fn reference() -> &'static Value {
    static CELL: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let path = cgaf_test_kit::golden("reference/metrics.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// |actual - expected| ≤ 1e-12 · max(1, |expected|); `None` expects a non-finite value.
#[track_caller]
fn assert_close(actual: f64, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(!actual.is_finite(), "{what}: expected undefined (NaN/inf), got {actual:e}"),
        Some(e) => {
            let tolerance = 1e-12 * e.abs().max(1.0);
            assert!((actual - e).abs() <= tolerance, "{what}: got {actual:e}, expected {e:e}, diff {:e}", actual - e);
        }
    }
}

fn expected(v: &Value, key: &str) -> Option<f64> {
    let x = &v[key];
    assert!(x.is_number() || x.is_null(), "driver output lacks {key}");
    x.as_f64()
}

/// Checks every reference metric of `m` against the driver's values, and that the JSON form
/// carries them (null exactly where undefined).
#[track_caller]
fn check(m: &Metrics, reference: &Value, what: &str) {
    let json = serde_json::to_value(m).unwrap();
    for (key, actual) in [
        ("total_return", m.total_return),
        ("cagr", m.cagr),
        ("sharpe", m.sharpe),
        ("sortino", m.sortino),
        ("max_drawdown", m.max_drawdown),
        ("calmar", m.calmar),
        ("volatility", m.volatility),
        ("downside_deviation", m.downside_deviation),
    ] {
        let e = expected(reference, key);
        assert_close(actual, e, &format!("{what} {key}"));
        match e {
            None => assert!(json[key].is_null(), "{what} {key}: JSON should be null, is {}", json[key]),
            Some(_) => assert_close(json[key].as_f64().unwrap(), e, &format!("{what} JSON {key}")),
        }
    }
}

fn options(periods_per_year: f64) -> Options {
    Options { periods_per_year, ..Options::default() }
}

#[test]
fn vectors_a_and_b_match_the_reference_script_for_every_annualisation() {
    let py = reference();
    for (name, r) in [("A", &VECTOR_A[..]), ("B", &VECTOR_B[..])] {
        let transcribed: Vec<f64> = serde_json::from_value(py["returns"][name].clone()).unwrap();
        assert_eq!(transcribed, r, "vector {name} differs from the reference's");
        for a in PERIODS {
            let reference = &py["metrics"][name][a.to_string()];
            let m = Metrics::from_returns(r, None, None, &options(a)).unwrap();
            check(&m, reference, &format!("vector {name} A={a}"));
            assert_eq!(m.periods, 5);
            assert_eq!(m.periods_per_year, a);
            let m = metrics_from_json(&json!({ "returns": r }), Some(a)).unwrap();
            check(&m, reference, &format!("vector {name} A={a} via JSON"));
        }
    }
}

#[test]
fn vector_c_equity_matches_the_reference_script_for_every_annualisation() {
    let py = reference();
    let returns = metrics::returns_from_equity(&EQUITY_C).unwrap();
    let reference_returns: Vec<f64> = serde_json::from_value(py["returns"]["C"].clone()).unwrap();
    assert_eq!(returns, reference_returns, "equity → returns must convert exactly as the script does");
    for a in PERIODS {
        let reference = &py["metrics"]["C"][a.to_string()];
        let m = Metrics::from_equity(&EQUITY_C, None, None, &options(a)).unwrap();
        check(&m, reference, &format!("vector C A={a}"));
        assert_eq!(m.periods, 4);
        let m = metrics_from_json(&json!({ "equity": EQUITY_C }), Some(a)).unwrap();
        check(&m, reference, &format!("vector C A={a} via JSON"));
    }
}

#[test]
fn risk_free_rate_matches_the_reference_script() {
    let py = reference();
    let rf_p = py["rf"]["rf_per_period"].as_f64().unwrap();
    assert_close(metrics::per_period_rate(0.05, 252.0), Some(rf_p), "rf per period");
    let m = metrics_from_json(&json!({ "returns": VECTOR_A, "risk_free_rate": 0.05 }), Some(252.0)).unwrap();
    check(&m, &py["rf"]["metrics"], "vector A, rf 5 %");
    assert_eq!(m.risk_free_rate, 0.05);
    // The markdown's figure (12 significant digits).
    assert!((m.sharpe - 4.3161091005).abs() < 1e-9);
}

/// The markdown's own tables, at the precision they are printed with (the 1e-12 checks are
/// against the script above); NautilusTrader's unit-test values at 1e-12.
#[test]
fn markdown_tables_and_nautilus_unit_tests() {
    let a = Metrics::from_returns(&VECTOR_A, None, None, &options(252.0)).unwrap();
    assert_close(a.sharpe, Some(4.48998886412873), "Nautilus Sharpe test");
    let b = Metrics::from_returns(&VECTOR_B, None, None, &options(252.0)).unwrap();
    assert_close(b.sortino, Some(-5.273224492824493), "Nautilus Sortino test");

    let close = |x: f64, y: f64| (x - y).abs() <= 1e-10 * y.abs().max(1.0);
    let a365 = Metrics::from_returns(&VECTOR_A, None, None, &options(365.0)).unwrap();
    assert!(close(a.sharpe, 4.48998886413) && close(a365.sharpe, 5.40370243444));
    assert!(close(a.sortino, 8.60916064775) && close(a365.sortino, 10.3611264434));
    assert!(close(metrics::downside_deviation(&VECTOR_A, 0.0), 0.00921954445729));
    assert!(close(a.total_return, 0.024614359125));
    assert!(close(a.max_drawdown, -0.02));
    assert!(close(a.cagr, 2.40601117268));
    assert!(close(metrics::sharpe(&VECTOR_A, 1.0, 0.0), 0.282842712475));

    assert!(close(b.sharpe, -3.88238292757));
    assert!(close(metrics::downside_deviation(&VECTOR_B, 0.0), 0.0120415945788));
    assert!(close(b.max_drawdown, -0.0298735));
    assert!(close(b.total_return, -0.0203662603));

    let c = Metrics::from_equity(&EQUITY_C, None, None, &options(252.0)).unwrap();
    let c365 = Metrics::from_equity(&EQUITY_C, None, None, &options(365.0)).unwrap();
    let rc = metrics::returns_from_equity(&EQUITY_C).unwrap();
    assert!(close(c.total_return, 0.14345));
    assert!(close(metrics::sharpe(&rc, 1.0, 0.0), 0.396202907847));
    assert!(close(c.sharpe, 6.2895261773) && close(c365.sharpe, 7.56944592608));
    assert_close(metrics::downside_deviation(&rc, 0.0), Some(0.05), "C downside deviation is 0.05");
    assert_close(metrics::sortino(&rc, 1.0, 0.0), Some(0.75), "C Sortino not annualised is 0.75");
    assert!(close(c.sortino, 11.9058808998) && close(c365.sortino, 14.3287298809));
    assert_close(c.max_drawdown, Some(-0.10), "C max drawdown");
}

#[test]
fn drawdown_durations_of_the_vectors() {
    // A: 1.01 | 0.9898 1.0046 0.99958 (below 1.01) | 1.0245 new peak.
    // B: 0.99 (below the starting 1.0) | 1.0098 peak | three periods below it.
    // C: 110 peak | 99, 103.95 below | 114.345 new peak.
    let o = Options::default();
    assert_eq!(Metrics::from_returns(&VECTOR_A, None, None, &o).unwrap().max_drawdown_duration, 3);
    assert_eq!(Metrics::from_returns(&VECTOR_B, None, None, &o).unwrap().max_drawdown_duration, 3);
    assert_eq!(Metrics::from_equity(&EQUITY_C, None, None, &o).unwrap().max_drawdown_duration, 2);
}

// ------------------------------------------------------------------------------------------
// Edge cases of §4.6 and of the input.
// ------------------------------------------------------------------------------------------

fn json_of(m: &Metrics) -> Value {
    let text = serde_json::to_string(m).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "non-finite text in {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn empty_input_gives_nan_ratios_and_zero_drawdown() {
    for input in [json!({ "returns": [] }), json!({ "equity": [] }), json!({ "equity": [100.0] })] {
        let m = metrics_from_json(&input, None).unwrap();
        assert!(m.sharpe.is_nan() && m.sortino.is_nan() && m.cagr.is_nan() && m.calmar.is_nan());
        assert_eq!(m.max_drawdown, 0.0);
        assert_eq!(m.total_return, 0.0);
        assert_eq!((m.periods, m.max_drawdown_duration), (0, 0));
        let j = json_of(&m);
        for key in ["sharpe", "sortino", "cagr", "calmar", "volatility", "downside_deviation", "win_rate", "exposure"] {
            assert!(j[key].is_null(), "{input}: {key} should be null");
        }
        assert!(j["trades"].is_null());
        assert_eq!(j["max_drawdown"], json!(0.0));
        assert_eq!(j["periods_per_year"], json!(DEFAULT_PERIODS_PER_YEAR));
    }
}

#[test]
fn single_value() {
    let up = Metrics::from_returns(&[0.01], None, None, &options(252.0)).unwrap();
    assert!(up.sharpe.is_nan(), "std with ddof=1 of one value is undefined");
    assert!(up.volatility.is_nan());
    assert!(up.sortino.is_nan(), "no negative return");
    assert_eq!(up.max_drawdown, 0.0);
    assert!(up.calmar.is_nan(), "no drawdown");
    assert_close(up.total_return, Some(0.01), "one gain");
    assert_close(up.cagr, Some(1.01f64.powf(252.0) - 1.0), "one gain CAGR");

    let down = Metrics::from_returns(&[-0.01], None, None, &options(252.0)).unwrap();
    assert!(down.sharpe.is_nan());
    assert_close(down.sortino, Some(-(252f64.sqrt())), "one loss: mean/DD = -1");
    assert_close(down.max_drawdown, Some(-0.01), "one loss drawdown");
    assert_eq!(down.max_drawdown_duration, 1);
}

#[test]
fn zero_variance_gives_nan_sharpe() {
    for r in [vec![0.01; 4], vec![0.0; 6], vec![-0.003; 3], vec![1e-9; 100]] {
        let m = Metrics::from_returns(&r, None, None, &Options::default()).unwrap();
        assert!(m.sharpe.is_nan(), "{r:?}: Sharpe of constant returns is NaN, got {}", m.sharpe);
        assert_eq!(m.volatility, 0.0);
        assert!(json_of(&m)["sharpe"].is_null());
    }
    // Equal excess returns are constant whatever the risk-free rate.
    let m = metrics_from_json(&json!({ "returns": [0.02, 0.02, 0.02], "risk_free_rate": 0.1 }), None).unwrap();
    assert!(m.sharpe.is_nan());
}

#[test]
fn no_negative_returns_gives_nan_sortino() {
    for r in [vec![0.01, 0.02, 0.03], vec![0.0, 0.01, 0.0], vec![0.0; 3]] {
        let m = Metrics::from_returns(&r, None, None, &Options::default()).unwrap();
        assert!(m.sortino.is_nan(), "{r:?}");
        assert_eq!(m.downside_deviation, 0.0);
        assert_eq!(m.max_drawdown, 0.0);
        assert!(m.calmar.is_nan());
        let j = json_of(&m);
        assert!(j["sortino"].is_null() && j["calmar"].is_null());
    }
    let m = Metrics::from_returns(&[0.01, 0.02, 0.03], None, None, &Options::default()).unwrap();
    assert!(m.sharpe.is_finite());
}

#[test]
fn drawdown_edge_cases() {
    // The starting equity is the first peak.
    assert_close(max_drawdown(&[-0.40, -0.10]), Some(-0.46), "initial loss");
    assert_close(max_drawdown(&[0.10, -0.10, 0.50, -0.20, 0.10]), Some(-0.20), "second drawdown");
    assert_eq!(max_drawdown(&[]), 0.0);
}

#[test]
fn intraday_returns_compound_geometrically_into_a_day() {
    assert_close(total_return(&[0.05, -0.05]), Some(-0.0025), "+5 %, -5 %");
    let daily = compound_bins(&[0.05, -0.05, 0.01, 0.02, 0.03], 2);
    assert_eq!(daily.len(), 3);
    assert_close(daily[0], Some(-0.0025), "day 1");
    assert_close(daily[1], Some(1.01 * 1.02 - 1.0), "day 2");
    assert_close(daily[2], Some(0.03), "partial day");
}

#[test]
fn overflowing_cagr_is_null_not_inf_text() {
    let m = Metrics::from_equity(&EQUITY_C, None, None, &options(525600.0)).unwrap();
    assert!(m.cagr.is_infinite() && m.calmar.is_infinite());
    let j = json_of(&m);
    assert!(j["cagr"].is_null() && j["calmar"].is_null());
    // And null reads back as NaN.
    let back: Metrics = serde_json::from_value(j).unwrap();
    assert!(back.cagr.is_nan());
    assert_eq!(back.sharpe, m.sharpe);
}

#[test]
fn metrics_json_keys_are_snake_case() {
    let m = metrics_from_json(&json!({ "returns": VECTOR_A, "positions": [1, 1, 0, -1, -1] }), None).unwrap();
    let j = json_of(&m);
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cagr",
            "calmar",
            "downside_deviation",
            "exposure",
            "max_drawdown",
            "max_drawdown_duration",
            "periods",
            "periods_per_year",
            "risk_free_rate",
            "sharpe",
            "sortino",
            "total_return",
            "trades",
            "volatility",
            "win_rate"
        ]
    );
    assert_eq!(j["periods_per_year"], json!(365.0));
}

#[test]
fn periods_per_year_precedence() {
    let doc = json!({ "returns": VECTOR_A, "periods_per_year": 252 });
    assert_eq!(metrics_from_json(&doc, None).unwrap().periods_per_year, 252.0);
    assert_eq!(metrics_from_json(&doc, Some(8760.0)).unwrap().periods_per_year, 8760.0);
    assert_eq!(metrics_from_json(&json!({ "returns": VECTOR_A }), None).unwrap().periods_per_year, 365.0);
    let with_null = json!({ "returns": VECTOR_A, "periods_per_year": null, "positions": null, "trades": null });
    assert_eq!(metrics_from_json(&with_null, None).unwrap().periods_per_year, 365.0);
}

// ------------------------------------------------------------------------------------------
// Trades, win rate, exposure.
// ------------------------------------------------------------------------------------------

#[test]
fn trades_from_positions_split_on_flat_and_on_flips() {
    let r = [0.01, -0.02, 0.015, -0.005, 0.025, 0.01, -0.01];
    let p = [0.0, 1.0, 0.5, -1.0, -1.0, 0.0, 1.0];
    let trades = metrics::trades_from_positions(&p, &r).unwrap();
    let spans: Vec<(usize, usize)> = trades.iter().map(|t| (t.entry, t.exit)).collect();
    assert_eq!(spans, [(1, 3), (3, 5), (6, 7)], "resize stays, flip splits, open trade closes at the end");
    assert_close(trades[0].pnl, Some(0.98 * 1.015 - 1.0), "long trade");
    assert_close(trades[1].pnl, Some(0.995 * 1.025 - 1.0), "short trade (strategy returns)");
    assert_close(trades[2].pnl, Some(-0.01), "open trade, marked to market");

    let m = metrics_from_json(&json!({ "returns": r, "positions": p }), None).unwrap();
    assert_eq!(m.trades, Some(3));
    assert_close(m.win_rate, Some(1.0 / 3.0), "win rate: only the short trade gained");
    assert_close(m.exposure, Some(5.0 / 7.0), "exposure");

    // -0.0 is flat, not short.
    let flat = metrics::trades_from_positions(&[-0.0, 0.0], &[0.01, 0.02]).unwrap();
    assert!(flat.is_empty());
}

#[test]
fn positions_without_trades_and_explicit_trades() {
    let m = metrics_from_json(&json!({ "returns": VECTOR_B, "positions": [0, 0, 0, 0, 0] }), None).unwrap();
    assert_eq!(m.trades, Some(0));
    assert!(m.win_rate.is_nan() && json_of(&m)["win_rate"].is_null());
    assert_eq!(m.exposure, 0.0);

    // Explicit trades (say, from fills with fees) win over derived ones; exposure still from positions.
    let doc = json!({
        "equity": EQUITY_C,
        "positions": [1, 1, 1, 1],
        "trades": [{"entry": 0, "exit": 2, "pnl": -1.5}, {"entry": 2, "exit": 4, "pnl": 0}, {"entry": 4, "exit": 4, "pnl": 3}]
    });
    let m = metrics_from_json(&doc, None).unwrap();
    assert_eq!(m.trades, Some(3));
    assert_close(m.win_rate, Some(1.0 / 3.0), "a break-even trade is not a win");
    assert_eq!(m.exposure, 1.0);

    let m = Metrics::from_returns(&VECTOR_A, None, Some(&[Trade { entry: 0, exit: 5, pnl: 0.1 }]), &Options::default());
    let m = m.unwrap();
    assert_eq!((m.trades, m.win_rate), (Some(1), 1.0));
    assert!(m.exposure.is_nan());
}

// ------------------------------------------------------------------------------------------
// Bad input.
// ------------------------------------------------------------------------------------------

#[track_caller]
fn bad(input: Value, periods_per_year: Option<f64>) -> MetricsError {
    match metrics_from_json(&input, periods_per_year) {
        Ok(m) => panic!("{input} should fail, got {m:?}"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn bad_json_input_gets_a_typed_error() {
    use MetricsError as E;
    assert_eq!(bad(json!([0.01]), None), E::NotAnObject);
    assert_eq!(bad(json!({}), None), E::MissingSeries);
    assert_eq!(bad(json!({ "positions": [1] }), None), E::MissingSeries);
    assert_eq!(bad(json!({ "returns": [0.1], "equity": [1, 2] }), None), E::BothSeries);
    assert_eq!(bad(json!({ "returns": [0.1], "equty": [1] }), None), E::UnknownField("equty".into()));
    assert_eq!(bad(json!({ "returns": 0.1 }), None), E::NotAnArray { field: "returns" });
    assert_eq!(bad(json!({ "returns": null }), None), E::NotAnArray { field: "returns" });
    assert_eq!(bad(json!({ "returns": [0.1, "0.2"] }), None), E::NotANumber { field: "returns", index: 1 });
    assert_eq!(bad(json!({ "returns": [0.1, "NaN"] }), None), E::NotANumber { field: "returns", index: 1 });
    assert_eq!(bad(json!({ "equity": [1, null] }), None), E::NotANumber { field: "equity", index: 1 });
    assert_eq!(bad(json!({ "returns": [0.1, -1.5] }), None), E::ReturnBelowMinusOne { index: 1, value: -1.5 });
    assert_eq!(bad(json!({ "equity": [100, -5, 3] }), None), E::NegativeEquity { index: 1, value: -5.0 });
    assert_eq!(bad(json!({ "equity": [0, 0, 0] }), None), E::NonPositiveStartingEquity(0.0));
    assert_eq!(bad(json!({ "equity": [100, 0, 50] }), None), E::ReturnFromZeroEquity { index: 2, value: 50.0 });
    assert_eq!(
        bad(json!({ "equity": [1, 2, 3], "positions": [1, 1, 1] }), None),
        E::LengthMismatch { expected: 2, actual: 3 }
    );
    assert_eq!(
        bad(json!({ "returns": [0.1], "positions": [true] }), None),
        E::NotANumber { field: "positions", index: 0 }
    );
    assert_eq!(bad(json!({ "returns": [0.1] }), Some(0.0)), E::InvalidPeriodsPerYear(0.0));
    assert_eq!(bad(json!({ "returns": [0.1] }), Some(-252.0)), E::InvalidPeriodsPerYear(-252.0));
    assert!(matches!(bad(json!({ "returns": [0.1] }), Some(f64::NAN)), E::InvalidPeriodsPerYear(x) if x.is_nan()));
    assert_eq!(
        bad(json!({ "returns": [0.1], "periods_per_year": "daily" }), None),
        E::ExpectedNumber { field: "periods_per_year" }
    );
    assert_eq!(bad(json!({ "returns": [0.1], "risk_free_rate": -1 }), None), E::InvalidRiskFreeRate(-1.0));
    assert!(matches!(
        bad(json!({ "returns": [0.1], "trades": [{"entry": 0, "exit": 1}] }), None),
        E::InvalidTrade { index: 0, .. }
    ));
    assert!(matches!(
        bad(
            json!({ "returns": [0.1], "trades": [{"entry": 0, "exit": 1, "pnl": 1}, {"entry": 2, "exit": 1, "pnl": 1}] }),
            None
        ),
        E::InvalidTrade { index: 1, .. }
    ));
    assert!(matches!(
        bad(json!({ "returns": [0.1], "trades": [{"entry": -1, "exit": 1, "pnl": 1}] }), None),
        E::InvalidTrade { index: 0, .. }
    ));
}

#[test]
fn non_finite_values_through_the_slice_api_are_errors() {
    use MetricsError as E;
    let o = Options::default();
    assert!(matches!(
        Metrics::from_returns(&[0.1, f64::NAN], None, None, &o),
        Err(E::NonFinite { field: "returns", index: 1, .. })
    ));
    assert!(matches!(
        Metrics::from_equity(&[1.0, f64::INFINITY], None, None, &o),
        Err(E::NonFinite { field: "equity", index: 1, .. })
    ));
    assert!(matches!(
        Metrics::from_returns(&[0.1], Some(&[f64::NAN]), None, &o),
        Err(E::NonFinite { field: "positions", index: 0, .. })
    ));
    let nan_trade = [Trade { entry: 0, exit: 1, pnl: f64::NAN }];
    assert!(matches!(Metrics::from_returns(&[0.1], None, Some(&nan_trade), &o), Err(E::InvalidTrade { .. })));
}

#[test]
fn ruin_is_a_total_loss() {
    let m = metrics_from_json(&json!({ "equity": [100, 50, 0, 0] }), None).unwrap();
    assert_eq!(m.total_return, -1.0);
    assert_eq!(m.max_drawdown, -1.0);
    assert_eq!(m.cagr, -1.0);
    assert_eq!(m.calmar, -1.0);
    let m = metrics_from_json(&json!({ "returns": [0.1, -1.0] }), None).unwrap();
    assert_eq!(m.total_return, -1.0);
    assert_eq!(m.max_drawdown, -1.0);
}
