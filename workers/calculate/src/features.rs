//! The per-sample features behind the order-book and trade images (the original's Version D).

use cgaf_store::Snapshot;
use rust_decimal::Decimal;

/// Decimal → f64, correctly rounded (via the exact decimal text), as Python's `float(Decimal)`.
fn dec_to_f64(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

/// Order-size imbalance per level: `(bid − ask) / (ask + bid)` in decimal arithmetic, 0 when both
/// sizes are 0 (or missing). Returns `levels` series, each newest first.
pub fn orderbook_imbalance(s: &Snapshot, levels: usize) -> Vec<Vec<f64>> {
    (0..levels)
        .map(|j| {
            (0..s.len())
                .map(|i| {
                    let ask = s.ask_sizes[i].get(j).copied().flatten().unwrap_or(Decimal::ZERO);
                    let bid = s.bid_sizes[i].get(j).copied().flatten().unwrap_or(Decimal::ZERO);
                    let den = ask + bid;
                    if den.is_zero() {
                        return 0.0;
                    }
                    match (bid - ask).checked_div(den) {
                        Some(v) => dec_to_f64(v),
                        None => 0.0,
                    }
                })
                .collect()
        })
        .collect()
}

/// Min and max of `ln(v)` over the positive values; `[0, 0]` when there are none; `hi = lo + 1e-9`
/// when they are equal.
fn log_range(values: impl Iterator<Item = Option<f64>>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.flatten() {
        if v > 0.0 {
            let l = v.ln();
            lo = lo.min(l);
            hi = hi.max(l);
        }
    }
    if lo > hi {
        return (0.0, 0.0 + 1e-9);
    }
    if hi == lo {
        hi = lo + 1e-9;
    }
    (lo, hi)
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// The buy and sell triplets `[primary, 0, 0]` per sample: log-scaled traded size with
/// order-count contrast, over statistics shared by buys and sells. The price is not used.
pub fn trade_intensity(s: &Snapshot) -> (Vec<[f64; 3]>, Vec<[f64; 3]>) {
    let all = || s.buys.iter().chain(s.sells.iter());
    let (vlo, vhi) = log_range(all().map(|t| t[1]));
    let (nlo, nhi) = log_range(all().map(|t| t[2]));
    let scaled = |v: Option<f64>, lo: f64, hi: f64| match v {
        Some(v) if v > 0.0 => (v.ln() - lo) / (hi - lo),
        _ => 0.5,
    };
    let triplet = |t: &[Option<f64>; 3]| {
        let v01 = scaled(t[1], vlo, vhi);
        let n01 = scaled(t[2], nlo, nhi);
        let c = 0.7 + 1.0 * n01;
        let primary = clamp01(0.5 + c * (clamp01(v01) - 0.5));
        [primary, 0.0, 0.0]
    };
    (s.buys.iter().map(triplet).collect(), s.sells.iter().map(triplet).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Option<Decimal> {
        Some(Decimal::from_str(s).unwrap())
    }

    #[test]
    fn imbalance_is_zero_when_both_sides_are_empty() {
        let s = Snapshot {
            sample_ids: vec![2, 1],
            midpoints: vec![1.0, 1.0],
            ask_sizes: vec![vec![d("0"), d("1"), None], vec![d("3"), d("1"), d("2")]],
            bid_sizes: vec![vec![d("0"), d("3"), None], vec![d("1"), d("1"), d("0")]],
            buys: vec![[None; 3]; 2],
            sells: vec![[None; 3]; 2],
            ..Default::default()
        };
        let v = orderbook_imbalance(&s, 3);
        assert_eq!(v[0], vec![0.0, -0.5]);
        assert_eq!(v[1], vec![0.5, 0.0]);
        assert_eq!(v[2], vec![0.0, -1.0]);
    }

    #[test]
    fn trade_intensity_spans_contrast() {
        let s = Snapshot {
            sample_ids: vec![3, 2, 1],
            midpoints: vec![1.0; 3],
            ask_sizes: vec![vec![]; 3],
            bid_sizes: vec![vec![]; 3],
            buys: vec![[Some(1.0), Some(1.0), Some(1.0)], [Some(1.0), Some(10.0), Some(10.0)], [None; 3]],
            sells: vec![[Some(0.0), Some(0.0), Some(0.0)]; 3],
            ..Default::default()
        };
        let (b, sl) = trade_intensity(&s);
        // smallest size with fewest orders: 0.5 + 0.7 * (0 - 0.5) = 0.15
        assert!((b[0][0] - 0.15).abs() < 1e-12);
        // largest size with most orders: 0.5 + 1.7 * 0.5 > 1 → clamped
        assert_eq!(b[1][0], 1.0);
        assert_eq!(b[2][0], 0.5);
        assert!(sl.iter().all(|t| t == &[0.5, 0.0, 0.0]));
    }
}
