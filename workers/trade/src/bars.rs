//! Bars of a product from its stored samples.

use crate::Error;
use cgaf_store::{SamplePointRow, Store};
use cgaf_trade_domain::{build_bars, Bar, Book, SamplePoint};

/// A stored sample as bars need it.
pub fn sample_point(s: &SamplePointRow) -> SamplePoint {
    SamplePoint {
        time_ms: s.time_ms,
        midpoint: s.midpoint,
        buy_size: s.buy_size,
        sell_size: s.sell_size,
        book: Book { bid: s.bid, ask: s.ask, bid_depth: s.bid_depth, ask_depth: s.ask_depth },
    }
}

/// Bars of `product` from the stored samples in `[from, to)`, only bars closed by `now_ms`.
pub async fn stored_bars(
    store: &Store,
    product: &str,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    interval_ms: i64,
    now_ms: i64,
) -> Result<Vec<Bar>, Error> {
    let points: Vec<SamplePoint> =
        store.sample_points(product, from_ms, to_ms).await?.iter().map(sample_point).collect();
    Ok(build_bars(&points, interval_ms, Some(now_ms)).map_err(cgaf_trade_domain::Error::from)?)
}
