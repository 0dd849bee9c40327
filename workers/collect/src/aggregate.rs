//! Price-bucket aggregation of an order-book side, exactly as coinbase-local (Python) does it, shared
//! by the simulator and the Coinbase Exchange source.
//!
//! With `aggregation > 0`, asks go to bucket `ceil(price/agg)` and bids to `floor(price/agg)`,
//! counted from the best level's bucket. Exactly `depth` buckets come back, nearest first; each has
//! the VWAP price, the summed size and the summed order count of its levels. A bucket with no
//! levels comes back with its representative price `(base ± i) * agg`, size 0 and 0 orders. With
//! `aggregation == 0` the raw best `depth` levels come back.

use cgaf_store::Level;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Which side of the book a list of levels belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Sell orders; the best is the lowest price; buckets round up.
    Ask,
    /// Buy orders; the best is the highest price; buckets round down.
    Bid,
}

impl Side {
    /// `"ask"` or `"bid"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ask => "ask",
            Side::Bid => "bid",
        }
    }
}

/// Aggregates raw `(price, size, num_orders)` levels of one side into `depth` buckets of width
/// `aggregation` (see the module docs).
///
/// The input need not be sorted; levels with a non-positive size are ignored. As in coinbase-local,
/// a level with 0 orders counts as 1 order in a bucket. A negative `aggregation` is treated like 0.
/// With an empty input and `aggregation > 0` the buckets are synthesised from price 0, as
/// coinbase-local does; callers reject empty books before aggregating.
pub fn aggregate_levels(
    levels: &[(Decimal, Decimal, u32)],
    side: Side,
    aggregation: Decimal,
    depth: usize,
) -> Vec<Level> {
    let mut sorted: Vec<(Decimal, Decimal, u32)> =
        levels.iter().copied().filter(|(_, size, _)| *size > Decimal::ZERO).collect();
    match side {
        Side::Ask => sorted.sort_by_key(|l| l.0),
        Side::Bid => sorted.sort_by_key(|l| std::cmp::Reverse(l.0)),
    }
    if depth == 0 {
        return Vec::new();
    }
    if aggregation <= Decimal::ZERO {
        return sorted
            .iter()
            .take(depth)
            .map(|&(price, size, num_orders)| Level { price: price.normalize(), size: size.normalize(), num_orders })
            .collect();
    }

    // Checked arithmetic throughout: absurd inputs (a tiny aggregation against a huge price) must
    // not panic; a level whose bucket cannot be computed is skipped.
    let bucket_of = |price: Decimal| -> Option<Decimal> {
        let q = price.checked_div(aggregation)?;
        Some(match side {
            Side::Ask => q.ceil(),
            Side::Bid => q.floor(),
        })
    };
    let Some(base) = sorted.first().map_or(Some(Decimal::ZERO), |l| bucket_of(l.0)) else {
        return aggregate_levels(levels, side, Decimal::ZERO, depth);
    };

    // (notional, size, orders) per bucket.
    let mut totals = vec![(Decimal::ZERO, Decimal::ZERO, 0u32); depth];
    for &(price, size, orders) in &sorted {
        let Some(bucket) = bucket_of(price) else { continue };
        let relative = match side {
            Side::Ask => bucket.checked_sub(base),
            Side::Bid => base.checked_sub(bucket),
        };
        let Some(relative) = relative else { continue };
        if relative.is_sign_negative() && !relative.is_zero() {
            continue;
        }
        let Some(index) = relative.to_usize().filter(|i| *i < depth) else {
            // Sorted best first, so every later level is farther away.
            break;
        };
        let slot = &mut totals[index];
        let (Some(notional), Some(total)) =
            (price.checked_mul(size).and_then(|n| slot.0.checked_add(n)), slot.1.checked_add(size))
        else {
            continue;
        };
        slot.0 = notional;
        slot.1 = total;
        slot.2 = slot.2.saturating_add(orders.max(1));
    }

    totals
        .into_iter()
        .enumerate()
        .map(|(i, (notional, size, orders))| {
            if size > Decimal::ZERO {
                let vwap = notional.checked_div(size).unwrap_or(notional);
                Level { price: vwap.normalize(), size: size.normalize(), num_orders: orders }
            } else {
                let offset = Decimal::from(i as u64);
                let bucket = match side {
                    Side::Ask => base.checked_add(offset),
                    Side::Bid => base.checked_sub(offset),
                };
                let price = bucket.and_then(|b| b.checked_mul(aggregation)).unwrap_or(Decimal::ZERO);
                Level { price: price.normalize(), size: Decimal::ZERO, num_orders: 0 }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn lv(p: &str, s: &str, n: u32) -> (Decimal, Decimal, u32) {
        (d(p), d(s), n)
    }

    fn level(p: &str, s: &str, n: u32) -> Level {
        Level { price: d(p), size: d(s), num_orders: n }
    }

    #[test]
    fn asks_ceil_buckets_with_vwap_and_an_empty_bucket() {
        // best ask 60001.5 -> bucket ceil(6000.15) = 6001 covering (60000, 60010]
        let asks = [
            lv("60001.5", "1", 2),
            lv("60009", "3", 1),
            lv("60010", "1", 1), // still bucket 6001 (ceil of exactly 6001)
            lv("60025", "2", 4), // bucket 6003 -> relative 2; bucket 6002 stays empty
            lv("60031", "9", 9), // bucket 6004 -> beyond depth 3
        ];
        let got = aggregate_levels(&asks, Side::Ask, d("10"), 3);
        // VWAP of bucket 0: (60001.5*1 + 60009*3 + 60010*1) / 5 = 300038.5 / 5 = 60007.7
        assert_eq!(got, vec![level("60007.7", "5", 4), level("60020", "0", 0), level("60025", "2", 4)]);
    }

    #[test]
    fn bids_floor_buckets_with_an_empty_bucket() {
        // best bid 59998.5 -> bucket floor(5999.85) = 5999 covering [59990, 60000)
        let bids = [
            lv("59990", "2", 1),   // bucket 5999
            lv("59998.5", "2", 3), // best
            lv("59975", "4", 2),   // bucket 5997 -> relative 2; 5998 empty
        ];
        let got = aggregate_levels(&bids, Side::Bid, d("10"), 3);
        assert_eq!(got, vec![level("59994.25", "4", 4), level("59980", "0", 0), level("59975", "4", 2)]);
    }

    #[test]
    fn exactly_depth_buckets_even_when_the_book_is_thin() {
        let asks = [lv("100.01", "1", 1)];
        let got = aggregate_levels(&asks, Side::Ask, d("10"), 4);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], level("100.01", "1", 1));
        assert_eq!(got[1], level("120", "0", 0));
        assert_eq!(got[3], level("140", "0", 0));
    }

    #[test]
    fn zero_orders_count_as_one_and_zero_sizes_are_ignored() {
        let asks = [lv("10.5", "1", 0), lv("10.6", "0", 5)];
        let got = aggregate_levels(&asks, Side::Ask, d("1"), 1);
        assert_eq!(got, vec![level("10.5", "1", 1)]);
    }

    #[test]
    fn aggregation_zero_returns_raw_levels() {
        let bids = [lv("0.01824", "72.5463", 3), lv("0.01825", "24.34811287", 2), lv("0.01823", "1", 1)];
        let got = aggregate_levels(&bids, Side::Bid, Decimal::ZERO, 2);
        assert_eq!(got, vec![level("0.01825", "24.34811287", 2), level("0.01824", "72.5463", 3)]);
    }

    #[test]
    fn fractional_aggregation() {
        let asks = [lv("0.01826", "1", 1), lv("0.01827", "1", 1), lv("0.01841", "2", 1)];
        let got = aggregate_levels(&asks, Side::Ask, d("0.0001"), 3);
        // 0.01826 -> ceil(182.6)=183, 0.01827 -> 183, 0.01841 -> 185
        assert_eq!(got, vec![level("0.018265", "2", 2), level("0.0184", "0", 0), level("0.01841", "2", 1)]);
    }

    #[test]
    fn absurd_aggregation_does_not_panic() {
        let asks = [lv("60000", "1", 1), lv("60001", "1", 1)];
        let tiny = Decimal::new(1, 28);
        let got = aggregate_levels(&asks, Side::Ask, tiny, 2);
        assert_eq!(got, vec![level("60000", "1", 1), level("60001", "1", 1)]);
        let huge = aggregate_levels(&asks, Side::Ask, Decimal::MAX, 2);
        assert_eq!(huge.len(), 2);
        assert_eq!(huge[0].size, d("2"));
    }

    #[test]
    fn empty_input_synthesises_from_zero() {
        let got = aggregate_levels(&[], Side::Bid, d("10"), 2);
        assert_eq!(got, vec![level("0", "0", 0), level("-10", "0", 0)]);
        assert!(aggregate_levels(&[], Side::Ask, Decimal::ZERO, 2).is_empty());
    }
}
