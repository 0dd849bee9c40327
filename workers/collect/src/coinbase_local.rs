//! A client of coinbase-local's REST contract (`/api/orderBook/interval` and
//! `/api/orderBook/marketOrders`), the source the original crypto-gaf polled.
//!
//! Differences from the original, on purpose: asks are stored as asks (the original swapped them),
//! every price and size is parsed as a decimal from its text, any bad reply is a typed error instead
//! of a crash, and the `since` sequence is returned as a cursor (`{"since": N}`) so it survives
//! restarts.

use crate::decode::Ctx;
use crate::error::SourceError;
use crate::http::HttpJson;
use crate::source::{Fetched, MarketSource};
use cgaf_store::{Level, NewSample, TradeSummary};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The coinbase-local REST source.
#[derive(Debug, Clone)]
pub struct CoinbaseLocalSource {
    http: HttpJson,
    aggregation: Decimal,
    depth: usize,
}

impl CoinbaseLocalSource {
    /// A client of the coinbase-local at `base_url` (a trailing `/` is fine), asking for
    /// `depth` levels aggregated to `aggregation` (whole number; 0 = raw), with a per-request
    /// `timeout`.
    pub fn new(base_url: &str, aggregation: Decimal, depth: usize, timeout: Duration) -> Result<Self, SourceError> {
        if !aggregation.fract().is_zero() || aggregation.is_sign_negative() && !aggregation.is_zero() {
            return Err(SourceError::Config(format!(
                "coinbase-local takes a whole, non-negative aggregation, got {aggregation}"
            )));
        }
        if depth == 0 {
            return Err(SourceError::Config("depth must be at least 1".into()));
        }
        Ok(Self { http: HttpJson::new(base_url, timeout)?, aggregation: aggregation.normalize(), depth })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.http.base().as_str()
    }

    async fn interval(&self, product: &str) -> Result<(Decimal, Vec<Level>, Vec<Level>), SourceError> {
        let url = self.http.url(
            &["api", "orderBook", "interval"],
            &[
                ("product", product.to_owned()),
                ("aggregation", self.aggregation.to_string()),
                ("depth", self.depth.to_string()),
            ],
        );
        let reply = self.http.get_json(url).await?;
        let c = Ctx(&reply.url);
        let obj = c.object(&reply.body, "reply")?;
        let midpoint = c.decimal(c.field(obj, "midpoint")?, "midpoint")?;
        let asks = levels(c, obj, "asks")?;
        let bids = levels(c, obj, "bids")?;
        for (side, list) in [("ask", &asks), ("bid", &bids)] {
            if list.iter().all(|l| l.size.is_zero()) {
                return Err(SourceError::EmptyBook { product: product.to_owned(), side });
            }
        }
        Ok((midpoint, asks, bids))
    }

    async fn market_orders(
        &self,
        product: &str,
        since: Option<u64>,
    ) -> Result<(u64, TradeSummary, TradeSummary), SourceError> {
        let mut query = vec![("product", product.to_owned())];
        if let Some(since) = since {
            query.push(("since", since.to_string()));
        }
        let url = self.http.url(&["api", "orderBook", "marketOrders"], &query);
        let reply = self.http.get_json(url).await?;
        let c = Ctx(&reply.url);
        let obj = c.object(&reply.body, "reply")?;
        let sequence = c.uint(c.field(obj, "sequence")?, "sequence")?;
        let buy = summary(c, obj, "buy")?;
        let sell = summary(c, obj, "sell")?;
        Ok((sequence, buy, sell))
    }
}

impl MarketSource for CoinbaseLocalSource {
    async fn fetch(&mut self, product: &str, cursor: Option<&Value>) -> Result<Fetched, SourceError> {
        let since = cursor.and_then(|c| {
            let since = c.get("since").and_then(Value::as_u64);
            if since.is_none() {
                tracing::warn!(product, cursor = %c, "ignoring a cursor coinbase-local does not recognise");
            }
            since
        });
        let (midpoint, asks, bids) = self.interval(product).await?;
        let (sequence, buys, sells) = self.market_orders(product, since).await?;
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
            cursor: Some(json!({ "since": sequence })),
        })
    }

    fn name(&self) -> &'static str {
        "coinbase-local"
    }
}

/// `asks`/`bids`: `[[priceStr, sizeStr, numOrders], ...]`, index 0 nearest the midpoint.
fn levels(c: Ctx<'_>, obj: &Map<String, Value>, name: &str) -> Result<Vec<Level>, SourceError> {
    c.array(c.field(obj, name)?, name)?
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let (price, size, num_orders) = c.level_triple(entry, &format!("{name}[{i}]"))?;
            Ok(Level { price, size, num_orders })
        })
        .collect()
}

/// `buy`/`sell`: `{price, size, numOrders}`; price and size may be numbers or strings.
fn summary(c: Ctx<'_>, obj: &Map<String, Value>, name: &str) -> Result<TradeSummary, SourceError> {
    let o = c.object(c.field(obj, name)?, name)?;
    Ok(TradeSummary {
        price: c.decimal(c.field_at(o, name, "price")?, &format!("{name}.price"))?,
        size: c.decimal(c.field_at(o, name, "size")?, &format!("{name}.size"))?,
        num_orders: c.count(c.field_at(o, name, "numOrders")?, &format!("{name}.numOrders"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fractional_aggregation() {
        let r = CoinbaseLocalSource::new("http://x", Decimal::new(5, 1), 3, Duration::from_secs(1));
        assert!(matches!(r, Err(SourceError::Config(_))));
        let ok = CoinbaseLocalSource::new("http://x/", Decimal::new(100, 1), 3, Duration::from_secs(1)).unwrap();
        assert_eq!(ok.aggregation.to_string(), "10");
    }

    #[test]
    fn parses_levels_and_summaries() {
        let body = json!({
            "asks": [["43130.1", "0.52", 7]],
            "buy": {"price": 43125.5, "size": "0.25", "numOrders": 3}
        });
        let c = Ctx("test");
        let o = body.as_object().unwrap();
        let asks = levels(c, o, "asks").unwrap();
        assert_eq!(asks[0].price.to_string(), "43130.1");
        assert_eq!(asks[0].size.to_string(), "0.52");
        assert_eq!(asks[0].num_orders, 7);
        let buy = summary(c, o, "buy").unwrap();
        assert_eq!(buy.price.to_string(), "43125.5");
        assert_eq!(buy.size.to_string(), "0.25");
        assert_eq!(buy.num_orders, 3);
        assert!(levels(c, o, "bids").is_err());
    }
}
