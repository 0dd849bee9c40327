//! The latest images per product (`crypto_gaf.gafs`), written by calculate and read by the API.

use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};

/// Identifies the samples an image set was computed from: the newest `sample_id` and how many
/// samples were used. Calculate recomputes only when the table's signature differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSignature {
    /// Newest sample id used.
    pub newest_sample_id: i64,
    /// Number of samples used (the image edge).
    pub count: i32,
}

/// The five images of a product, in the order of [`GafImages`]' fields: the names used by the
/// API (`image=`), `--image-transforms` and the `gafs` columns' roles.
pub const IMAGE_NAMES: [&str; 5] = ["midpoint-gasf", "midpoint-gadf", "orderbook", "buy", "sell"];

/// The five images of one product, as base64 PNG text, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GafImages {
    /// Newest midpoint, exact decimal text.
    pub midpoint: String,
    /// Midpoint GASF, grayscale.
    pub midpoint_gasf: String,
    /// Midpoint GADF, grayscale (served as `png4`).
    pub midpoint_gadf: String,
    /// Order-book imbalance, RGB (served as `png1`).
    pub orderbook: String,
    /// Buys, RGB (served as `png2`).
    pub buy: String,
    /// Sells, RGB (served as `png3`).
    pub sell: String,
    /// Image edge in pixels (= samples used).
    pub size: i32,
}

/// One `gafs` row as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GafRow {
    /// Product id.
    pub product: String,
    /// Samples kept.
    pub max_size: i32,
    /// Newest midpoint, exact decimal text (`None` before the first calculation).
    pub midpoint: Option<String>,
    /// Midpoint GASF base64 PNG.
    pub midpoint_gasf: Option<String>,
    /// Midpoint GADF base64 PNG.
    pub midpoint_gadf: Option<String>,
    /// Order-book base64 PNG.
    pub orderbook: Option<String>,
    /// Buy base64 PNG.
    pub buy: Option<String>,
    /// Sell base64 PNG.
    pub sell: Option<String>,
    /// Image edge.
    pub size: Option<i32>,
    /// When the images were written (by this version; `None` for rows written by the original).
    pub computed_at: Option<DateTime<Utc>>,
}

impl GafRow {
    /// True when all four served images are present.
    pub fn is_computed(&self) -> bool {
        self.midpoint_gadf.is_some() && self.orderbook.is_some() && self.buy.is_some() && self.sell.is_some()
    }
}

const GAF_COLUMNS: &str = "product, coalesce(max_size, 600), midpoint::text, midpoint_images,
    orderbook_image, buy_image, sell_image, size, computed_at";

fn row_to_gaf(r: &tokio_postgres::Row) -> GafRow {
    let images: Option<Vec<Option<String>>> = r.get(3);
    let images = images.unwrap_or_default();
    GafRow {
        product: r.get(0),
        max_size: r.get(1),
        midpoint: r.get(2),
        midpoint_gasf: images.first().cloned().flatten(),
        midpoint_gadf: images.get(1).cloned().flatten(),
        orderbook: r.get(4),
        buy: r.get(5),
        sell: r.get(6),
        size: r.get(7),
        computed_at: r.get(8),
    }
}

impl Store {
    /// The signature of the newest `max_size` samples of `product` as the table holds them now;
    /// `None` when there are no samples.
    pub async fn sample_signature(&self, product: &str, max_size: i32) -> Result<Option<SampleSignature>> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT max(sample_id), count(*)::int FROM (
                   SELECT sample_id FROM crypto_gaf.samples
                   WHERE product = $1 AND midpoint IS NOT NULL
                   ORDER BY sample_id DESC LIMIT $2) s",
                &[&product, &i64::from(max_size.max(0))],
            )
            .await?;
        let newest: Option<i64> = row.get(0);
        Ok(newest.map(|newest_sample_id| SampleSignature { newest_sample_id, count: row.get(1) }))
    }

    /// The signature stored with the current images of `product`.
    pub async fn computed_signature(&self, product: &str) -> Result<Option<SampleSignature>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT source_sample_id, source_count FROM crypto_gaf.gafs WHERE product = $1", &[&product])
            .await?
            .ok_or_else(|| Error::UnknownProduct(product.to_string()))?;
        let id: Option<i64> = row.get(0);
        let count: Option<i32> = row.get(1);
        Ok(id.zip(count).map(|(newest_sample_id, count)| SampleSignature { newest_sample_id, count }))
    }

    /// Writes the images of `product` computed from `signature`.
    pub async fn write_images(&self, product: &str, images: &GafImages, signature: SampleSignature) -> Result<()> {
        let midpoint: rust_decimal::Decimal = images
            .midpoint
            .parse()
            .or_else(|_| rust_decimal::Decimal::from_scientific(&images.midpoint))
            .map_err(|e| Error::BadData { what: "midpoint", detail: e.to_string() })?;
        let midpoint_images = vec![images.midpoint_gasf.as_str(), images.midpoint_gadf.as_str()];
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE crypto_gaf.gafs SET midpoint = $1, midpoint_images = $2, orderbook_image = $3,
                   buy_image = $4, sell_image = $5, size = $6, source_sample_id = $7, source_count = $8,
                   computed_at = now()
                 WHERE product = $9",
                &[
                    &midpoint,
                    &midpoint_images,
                    &images.orderbook,
                    &images.buy,
                    &images.sell,
                    &images.size,
                    &signature.newest_sample_id,
                    &signature.count,
                    &product,
                ],
            )
            .await?;
        if n == 0 {
            return Err(Error::UnknownProduct(product.to_string()));
        }
        Ok(())
    }

    /// The `gafs` row of `product`, or `None` if the product does not exist.
    pub async fn load_gaf(&self, product: &str) -> Result<Option<GafRow>> {
        let row = self
            .client()
            .await?
            .query_opt(&format!("SELECT {GAF_COLUMNS} FROM crypto_gaf.gafs WHERE product = $1"), &[&product])
            .await?;
        Ok(row.as_ref().map(row_to_gaf))
    }

    /// Every `gafs` row.
    pub async fn load_all_gafs(&self) -> Result<Vec<GafRow>> {
        let rows = self
            .client()
            .await?
            .query(&format!("SELECT {GAF_COLUMNS} FROM crypto_gaf.gafs ORDER BY product"), &[])
            .await?;
        Ok(rows.iter().map(row_to_gaf).collect())
    }
}
