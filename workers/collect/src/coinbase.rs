//! A source reading the public Coinbase Exchange REST API directly: the level-2 book
//! (`/products/{id}/book?level=2`), aggregated locally the way coinbase-local does, and the trades
//! since the previous sample (`/products/{id}/trades`, newest first, paged with `after=` via the
//! `CB-AFTER` header).
//!
//! A trade's `side` is the maker's side, so the taker side counted here is its opposite: a
//! `"sell"` trade is a taker buy. The cursor `{"after_trade_id": N}` holds the newest trade id seen;
//! the first run (no cursor) counts no trades and only records that id.

use crate::aggregate::{aggregate_levels, Side};
use crate::decode::Ctx;
use crate::error::SourceError;
use crate::http::HttpJson;
use crate::source::{Fetched, MarketSource};
use cgaf_store::{NewSample, TradeSummary};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Trades requested per page.
pub const TRADE_PAGE_LIMIT: usize = 100;
/// Default cap on trade pages read per sample (so a long outage cannot stall a sample).
pub const DEFAULT_MAX_TRADE_PAGES: usize = 10;

/// The Coinbase Exchange REST source.
#[derive(Debug, Clone)]
pub struct CoinbaseSource {
    http: HttpJson,
    aggregation: Decimal,
    depth: usize,
    max_trade_pages: usize,
}

/// Taker trades of one side, summed.
#[derive(Debug, Default)]
struct Acc {
    notional: Decimal,
    size: Decimal,
    count: u32,
}

impl Acc {
    fn add(&mut self, price: Decimal, size: Decimal) {
        self.notional = price.checked_mul(size).and_then(|n| self.notional.checked_add(n)).unwrap_or(self.notional);
        self.size = self.size.checked_add(size).unwrap_or(self.size);
        self.count = self.count.saturating_add(1);
    }

    fn summary(&self) -> TradeSummary {
        if self.count == 0 {
            return TradeSummary::default();
        }
        let price = if self.size.is_zero() {
            Decimal::ZERO
        } else {
            self.notional.checked_div(self.size).unwrap_or(Decimal::ZERO)
        };
        TradeSummary { price: price.normalize(), size: self.size.normalize(), num_orders: self.count }
    }
}

impl CoinbaseSource {
    /// A client of the Exchange REST API at `base_url` (normally
    /// [`crate::source::DEFAULT_COINBASE_URL`]), aggregating `depth` buckets of width `aggregation`
    /// (0 = raw levels), with a per-request `timeout`.
    pub fn new(base_url: &str, aggregation: Decimal, depth: usize, timeout: Duration) -> Result<Self, SourceError> {
        if aggregation.is_sign_negative() && !aggregation.is_zero() {
            return Err(SourceError::Config(format!("aggregation must not be negative, got {aggregation}")));
        }
        if depth == 0 {
            return Err(SourceError::Config("depth must be at least 1".into()));
        }
        Ok(Self {
            http: HttpJson::new(base_url, timeout)?,
            aggregation,
            depth,
            max_trade_pages: DEFAULT_MAX_TRADE_PAGES,
        })
    }

    /// Caps the trade pages read per sample (at least 1).
    pub fn with_max_trade_pages(mut self, pages: usize) -> Self {
        self.max_trade_pages = pages.max(1);
        self
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.http.base().as_str()
    }

    async fn book(
        &self,
        product: &str,
    ) -> Result<(Decimal, Vec<cgaf_store::Level>, Vec<cgaf_store::Level>), SourceError> {
        let url = self.http.url(&["products", product, "book"], &[("level", "2".into())]);
        let reply = self.http.get_json(url).await?;
        let c = Ctx(&reply.url);
        let obj = c.object(&reply.body, "reply")?;
        let mut sides = Vec::with_capacity(2);
        for name in ["asks", "bids"] {
            let raw = c
                .array(c.field(obj, name)?, name)?
                .iter()
                .enumerate()
                .map(|(i, e)| c.level_triple(e, &format!("{name}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            sides.push(raw.into_iter().filter(|l| l.1 > Decimal::ZERO).collect::<Vec<_>>());
        }
        let (asks, bids) = (&sides[0], &sides[1]);
        let best_ask = asks.iter().map(|l| l.0).min();
        let best_bid = bids.iter().map(|l| l.0).max();
        let (best_ask, best_bid) = match (best_ask, best_bid) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => return Err(SourceError::EmptyBook { product: product.to_owned(), side: "both" }),
            (None, _) => return Err(SourceError::EmptyBook { product: product.to_owned(), side: "ask" }),
            (_, None) => return Err(SourceError::EmptyBook { product: product.to_owned(), side: "bid" }),
        };
        let midpoint = best_ask
            .checked_add(best_bid)
            .map(|s| s / Decimal::TWO)
            .ok_or_else(|| c.err("best ask + best bid overflows"))?
            .normalize();
        Ok((
            midpoint,
            aggregate_levels(asks, Side::Ask, self.aggregation, self.depth),
            aggregate_levels(bids, Side::Bid, self.aggregation, self.depth),
        ))
    }

    /// Sums the taker trades newer than `after_id`; returns (buys, sells, newest trade id seen).
    async fn trades(
        &self,
        product: &str,
        after_id: Option<u64>,
    ) -> Result<(TradeSummary, TradeSummary, Option<u64>), SourceError> {
        let mut buys = Acc::default();
        let mut sells = Acc::default();
        let mut newest: Option<u64> = None;
        let mut seen = HashSet::new();
        let mut page_cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let mut query = vec![("limit", TRADE_PAGE_LIMIT.to_string())];
            if let Some(after) = &page_cursor {
                query.push(("after", after.clone()));
            }
            let url = self.http.url(&["products", product, "trades"], &query);
            let reply = self.http.get_json(url).await?;
            let c = Ctx(&reply.url);
            let page = c.array(&reply.body, "reply")?;
            let mut reached_known = false;
            let mut oldest: Option<u64> = None;
            for (i, trade) in page.iter().enumerate() {
                let what = format!("trades[{i}]");
                let t = c.object(trade, &what)?;
                let id = c.uint(c.field_at(t, &what, "trade_id")?, &format!("{what}.trade_id"))?;
                newest = newest.max(Some(id));
                oldest = Some(oldest.map_or(id, |o| o.min(id)));
                let Some(known) = after_id else { continue };
                if id <= known {
                    reached_known = true;
                    continue;
                }
                if !seen.insert(id) {
                    continue;
                }
                let price = c.decimal(c.field_at(t, &what, "price")?, &format!("{what}.price"))?;
                let size = c.decimal(c.field_at(t, &what, "size")?, &format!("{what}.size"))?;
                // `side` is the maker's side; the taker did the opposite.
                match c.field_at(t, &what, "side")?.as_str() {
                    Some("sell") => buys.add(price, size),
                    Some("buy") => sells.add(price, size),
                    _ => return Err(c.err(format!("{what}.side: expected \"buy\" or \"sell\""))),
                }
            }
            let full_page = page.len() >= TRADE_PAGE_LIMIT;
            if after_id.is_none() || reached_known || !full_page {
                break;
            }
            if pages >= self.max_trade_pages {
                tracing::warn!(
                    product,
                    pages,
                    "more trades since the last sample than the page cap allows; counting the newest only"
                );
                break;
            }
            let next = reply
                .headers
                .get("cb-after")
                .and_then(|h| h.to_str().ok())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .or_else(|| oldest.map(|o| o.to_string()));
            match next {
                Some(n) if page_cursor.as_deref() != Some(n.as_str()) => page_cursor = Some(n),
                _ => break,
            }
        }
        Ok((buys.summary(), sells.summary(), newest))
    }
}

impl MarketSource for CoinbaseSource {
    async fn fetch(&mut self, product: &str, cursor: Option<&Value>) -> Result<Fetched, SourceError> {
        let after_id = cursor.and_then(|c| {
            let id = c.get("after_trade_id").and_then(Value::as_u64);
            if id.is_none() {
                tracing::warn!(product, cursor = %c, "ignoring a cursor the coinbase source does not recognise");
            }
            id
        });
        let (midpoint, asks, bids) = self.book(product).await?;
        let (buys, sells, newest) = self.trades(product, after_id).await?;
        let next_id = match (newest, after_id) {
            (Some(n), Some(a)) if n < a => {
                tracing::warn!(product, newest = n, cursor = a, "trade ids went backwards; following the exchange");
                n
            }
            (Some(n), _) => n,
            (None, Some(a)) => a,
            (None, None) => 0,
        };
        Ok(Fetched {
            sample: NewSample {
                product: product.to_owned(),
                midpoint,
                asks,
                bids,
                buys,
                sells,
                sampled_at: chrono::Utc::now(),
            },
            cursor: Some(json!({ "after_trade_id": next_id })),
        })
    }

    fn name(&self) -> &'static str {
        "coinbase"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn accumulator_vwap() {
        let mut a = Acc::default();
        assert_eq!(a.summary(), TradeSummary::default());
        a.add(Decimal::from_str("100").unwrap(), Decimal::from_str("1").unwrap());
        a.add(Decimal::from_str("103").unwrap(), Decimal::from_str("2").unwrap());
        let s = a.summary();
        assert_eq!(s.price, Decimal::from(102));
        assert_eq!(s.size, Decimal::from(3));
        assert_eq!(s.num_orders, 2);
    }

    #[test]
    fn config_checks() {
        assert!(CoinbaseSource::new("http://x", Decimal::NEGATIVE_ONE, 3, Duration::from_secs(1)).is_err());
        assert!(CoinbaseSource::new("http://x", Decimal::TEN, 0, Duration::from_secs(1)).is_err());
        let s = CoinbaseSource::new("http://x", Decimal::new(5, 1), 3, Duration::from_secs(1))
            .unwrap()
            .with_max_trade_pages(0);
        assert_eq!(s.max_trade_pages, 1);
    }
}
