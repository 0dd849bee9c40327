//! The product registry: `crypto_gaf.gafs` rows (product, max_size).

use crate::{Error, Result, Store};
use serde::Serialize;

/// A product and how many samples of it are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// Product id, e.g. `BTC-USD`.
    pub product: String,
    /// Samples kept (and the largest image edge).
    pub max_size: i32,
}

/// Checks a product id: 1..=64 characters of `A-Z a-z 0-9 - _ .`.
pub fn validate_product_id(product: &str) -> Result<(), String> {
    if product.is_empty() || product.len() > 64 {
        return Err("product must be 1 to 64 characters".into());
    }
    if !product.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("product may contain only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

/// The largest max_size: images are max_size² pixels and every transform result is bounded
/// (1024² values) by the plugin sandbox.
pub const MAX_MAX_SIZE: i64 = 1024;

/// Checks a max_size: 21 (the smallest image) ..= [`MAX_MAX_SIZE`].
pub fn validate_max_size(max_size: i64) -> Result<i32, String> {
    if !(21..=MAX_MAX_SIZE).contains(&max_size) {
        return Err(format!("max_size must be between 21 and {MAX_MAX_SIZE} (got {max_size})"));
    }
    Ok(max_size as i32)
}

impl Store {
    /// All products, ordered by name. A NULL max_size (hand-written rows) reads as 600.
    pub async fn list_products(&self) -> Result<Vec<Product>> {
        let rows = self
            .client()
            .await?
            .query("SELECT product, coalesce(max_size, 600) FROM crypto_gaf.gafs ORDER BY product", &[])
            .await?;
        Ok(rows.iter().map(|r| Product { product: r.get(0), max_size: r.get(1) }).collect())
    }

    /// Whether `product` exists.
    pub async fn has_product(&self, product: &str) -> Result<bool> {
        let row =
            self.client().await?.query_opt("SELECT 1 FROM crypto_gaf.gafs WHERE product = $1", &[&product]).await?;
        Ok(row.is_some())
    }

    /// Adds a product; fails with [`Error::ProductExists`] if it is there.
    pub async fn add_product(&self, product: &str, max_size: i32) -> Result<Product> {
        let n = self
            .client()
            .await?
            .execute(
                "INSERT INTO crypto_gaf.gafs (product, max_size) VALUES ($1, $2) ON CONFLICT (product) DO NOTHING",
                &[&product, &max_size],
            )
            .await?;
        if n == 0 {
            return Err(Error::ProductExists(product.to_string()));
        }
        Ok(Product { product: product.to_string(), max_size })
    }

    /// Adds the products that are missing and leaves existing ones alone (the original's
    /// `ON CONFLICT DO NOTHING`). Returns how many were added.
    pub async fn ensure_products(&self, products: &[Product]) -> Result<u64> {
        let client = self.client().await?;
        let mut added = 0;
        for p in products {
            added += client
                .execute(
                    "INSERT INTO crypto_gaf.gafs (product, max_size) VALUES ($1, $2) ON CONFLICT (product) DO NOTHING",
                    &[&p.product, &p.max_size],
                )
                .await?;
        }
        Ok(added)
    }

    /// Makes the registry equal to `products`: adds, resizes and removes (with their samples).
    pub async fn sync_products(&self, products: &[Product]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for p in products {
            tx.execute(
                "INSERT INTO crypto_gaf.gafs (product, max_size) VALUES ($1, $2)
                 ON CONFLICT (product) DO UPDATE SET max_size = EXCLUDED.max_size
                 WHERE gafs.max_size IS DISTINCT FROM EXCLUDED.max_size",
                &[&p.product, &p.max_size],
            )
            .await?;
        }
        let keep: Vec<&str> = products.iter().map(|p| p.product.as_str()).collect();
        tx.execute("SELECT 1 FROM crypto_gaf.gafs WHERE product <> ALL($1) FOR UPDATE", &[&keep]).await?;
        tx.execute("DELETE FROM crypto_gaf.samples WHERE product <> ALL($1)", &[&keep]).await?;
        tx.execute("DELETE FROM crypto_gaf.gafs WHERE product <> ALL($1)", &[&keep]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes how many samples a product keeps; the next collect trims to it.
    pub async fn resize_product(&self, product: &str, max_size: i32) -> Result<Product> {
        let n = self
            .client()
            .await?
            .execute("UPDATE crypto_gaf.gafs SET max_size = $2 WHERE product = $1", &[&product, &max_size])
            .await?;
        if n == 0 {
            return Err(Error::UnknownProduct(product.to_string()));
        }
        Ok(Product { product: product.to_string(), max_size })
    }

    /// Removes a product with its samples, cursor and images, in one transaction.
    pub async fn remove_product(&self, product: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Locks in the order the collector takes them: the product's leases first (a fenced
        // sample insert locks its lease, then key-share locks the product row through the foreign
        // key; a lease claim updates leases, then inserts), then the product row. The other order
        // deadlocked with a sample insert: this delete held the product row and waited for the
        // lease its cascade deletes, while the insert held the lease and waited for the row.
        tx.execute("SELECT 1 FROM crypto_gaf.leases WHERE product = $1 FOR UPDATE", &[&product]).await?;
        // Then the product row: concurrent sample inserts (which key-share lock it through the
        // foreign key) wait, then fail cleanly instead of failing this delete.
        let found = tx.query_opt("SELECT 1 FROM crypto_gaf.gafs WHERE product = $1 FOR UPDATE", &[&product]).await?;
        if found.is_none() {
            return Err(Error::UnknownProduct(product.to_string()));
        }
        tx.execute("DELETE FROM crypto_gaf.samples WHERE product = $1", &[&product]).await?;
        let n = tx.execute("DELETE FROM crypto_gaf.gafs WHERE product = $1", &[&product]).await?;
        if n == 0 {
            return Err(Error::UnknownProduct(product.to_string()));
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_checked() {
        assert!(validate_product_id("BTC-USD").is_ok());
        assert!(validate_product_id("").is_err());
        assert!(validate_product_id("BTC USD").is_err());
        assert!(validate_product_id("x'; DROP TABLE").is_err());
        assert!(validate_max_size(20).is_err());
        assert_eq!(validate_max_size(600), Ok(600));
    }
}
