//! The in-memory image cache: every product's response bodies, ETags and PNGs, refreshed from
//! PostgreSQL LISTEN/NOTIFY. Reads never touch the database.

use crate::blend_events::{BlendWakeup, BlendWakeups};
use crate::br::BrotliPrefix;
use crate::gzip::GzipPrefix;
use crate::models::GafImage;
use base64::Engine as _;
use bytes::Bytes;
use cgaf_store::notify::{GAFS_CHANNEL, MATRIX_BLENDS_CHANNEL};
use cgaf_store::{GafRow, NotifyEvent, Store};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// The five images of a product, in `/api/gaf/image.png?image=` order (the store's one list).
pub use cgaf_store::IMAGE_NAMES;

/// One decoded PNG and its strong ETag.
#[derive(Debug, Clone)]
pub struct CachedPng {
    /// PNG bytes.
    pub bytes: Bytes,
    /// Quoted strong ETag.
    pub etag: String,
}

/// The computed part of a product's cache entry.
#[derive(Debug)]
pub struct CachedImages {
    /// The `/api/gaf/image` JSON up to and including `"date":"` (the date is the response time).
    pub json_prefix: Bytes,
    /// Quoted strong ETag over the content (date excluded).
    pub etag: String,
    /// Quoted strong ETag of the gzip answer (a different representation, a different tag).
    pub gzip_etag: String,
    /// Quoted strong ETag of the `br` answer.
    pub br_etag: String,
    /// Decoded PNGs by [`IMAGE_NAMES`] index (`None` if a stored image is not valid base64).
    pub pngs: [Option<CachedPng>; 5],
    /// The JSON prefix deflated, made once, when a client first asks for gzip.
    gzip: Precompressed<GzipPrefix>,
    /// The JSON prefix brotli-compressed, made once, when a client first asks for `br`.
    br: Precompressed<BrotliPrefix>,
}

/// A compressed form of a product's JSON prefix: made once, on a blocking thread, when a client
/// first asks for it.
#[derive(Debug)]
struct Precompressed<T> {
    made: OnceLock<Option<T>>,
    started: AtomicBool,
}

impl<T> Default for Precompressed<T> {
    fn default() -> Self {
        Precompressed { made: OnceLock::new(), started: AtomicBool::new(false) }
    }
}

/// zlib level of the gzip answers: the JSON is mostly base64, whose gain is in the Huffman
/// codes (6 bits a character), not in matches. With zlib-rs (flate2's backend here) level 2 gives
/// 0.75 of the size (1.39 of 1.85 MB on five 600-sample images); its level 1 is a "quick" mode
/// with fixed Huffman codes that keeps 0.93, nearly no gain.
const GZIP_LEVEL: u32 = 2;

/// brotli quality of the `br` answers: on base64 text quality 1 already keeps 0.75 of the size;
/// higher qualities keep barely less (Python's `brotli`: 0.752–0.751 at 4–9) at several times
/// the time.
const BR_QUALITY: u32 = 1;

impl CachedImages {
    /// The gzip form of the JSON prefix when it is ready; the first call starts making it on a
    /// blocking thread (the answers meanwhile are uncompressed).
    pub fn gzip(self: &Arc<Self>) -> Option<&GzipPrefix> {
        self.precompressed(|c| &c.gzip, |prefix| GzipPrefix::new(prefix, GZIP_LEVEL).map_err(|e| e.to_string()))
    }

    /// The `br` form of the JSON prefix when it is ready, made like [`CachedImages::gzip`].
    pub fn br(self: &Arc<Self>) -> Option<&BrotliPrefix> {
        self.precompressed(|c| &c.br, |prefix| BrotliPrefix::new(prefix, BR_QUALITY).map_err(|e| e.to_string()))
    }

    fn precompressed<T: Send + Sync + 'static>(
        self: &Arc<Self>,
        field: fn(&CachedImages) -> &Precompressed<T>,
        make: fn(&[u8]) -> Result<T, String>,
    ) -> Option<&T> {
        let p = field(self);
        if let Some(ready) = p.made.get() {
            return ready.as_ref();
        }
        if !p.started.swap(true, Ordering::AcqRel) {
            let me = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                let made =
                    make(&me.json_prefix).map_err(|e| tracing::warn!(error = %e, "compressing an image answer")).ok();
                let _ = field(&me).made.set(made);
            });
        }
        None
    }
}

/// A product as the API knows it.
#[derive(Debug, Clone)]
pub struct CachedProduct {
    /// Product id.
    pub product: String,
    /// Samples kept.
    pub max_size: i32,
    /// Image edge of the current images.
    pub size: Option<i32>,
    /// Newest midpoint text.
    pub midpoint: Option<String>,
    /// When the images were computed.
    pub computed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Images, once computed.
    pub images: Option<Arc<CachedImages>>,
}

impl From<&CachedProduct> for crate::models::Product {
    fn from(p: &CachedProduct) -> Self {
        Self {
            computed: p.images.is_some(),
            computed_at: p.computed_at,
            max_size: p.max_size,
            midpoint: p.midpoint.clone(),
            product: p.product.clone(),
            size: p.size,
        }
    }
}

/// Shared, cheaply cloned cache.
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<RwLock<Inner>>,
    /// The product of every entry set, replaced or removed, for the "images changed" streams.
    changes: tokio::sync::broadcast::Sender<Arc<str>>,
}

/// How many changes a slow "images changed" stream may fall behind before it skips to the
/// current state (it never misses the newest one).
const CHANGES_CAPACITY: usize = 1024;

impl Default for Cache {
    fn default() -> Self {
        Self { inner: Arc::default(), changes: tokio::sync::broadcast::channel(CHANGES_CAPACITY).0 }
    }
}

#[derive(Debug, Default)]
struct Inner {
    products: BTreeMap<String, Arc<CachedProduct>>,
    loaded: bool,
}

fn quoted_etag(hash: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&hash[..16]))
}

/// Builds the cache entry of one `gafs` row.
pub fn entry_from_row(row: &GafRow) -> CachedProduct {
    let images = row.is_computed().then(|| {
        let prefix = GafImage {
            midpoint: row.midpoint.clone(),
            png1: row.orderbook.clone(),
            png2: row.buy.clone(),
            png3: row.sell.clone(),
            png4: row.midpoint_gadf.clone(),
            size: row.size.unwrap_or(0),
            date: String::new(),
        }
        .json_prefix();
        let digest = Sha256::digest(prefix.as_bytes());
        let etag = quoted_etag(&digest);
        let gzip_etag = format!("\"{}-gzip\"", hex::encode(&digest[..16]));
        let br_etag = format!("\"{}-br\"", hex::encode(&digest[..16]));
        let b64 = base64::engine::general_purpose::STANDARD;
        let sources = [&row.midpoint_gasf, &row.midpoint_gadf, &row.orderbook, &row.buy, &row.sell];
        let pngs = sources.map(|s| {
            let bytes = b64.decode(s.as_deref()?).ok()?;
            let etag = quoted_etag(&Sha256::digest(&bytes));
            Some(CachedPng { bytes: Bytes::from(bytes), etag })
        });
        Arc::new(CachedImages {
            json_prefix: Bytes::from(prefix),
            etag,
            gzip_etag,
            br_etag,
            pngs,
            gzip: Precompressed::default(),
            br: Precompressed::default(),
        })
    });
    CachedProduct {
        product: row.product.clone(),
        max_size: row.max_size,
        size: row.size,
        midpoint: row.midpoint.clone(),
        computed_at: row.computed_at,
        images,
    }
}

impl Cache {
    /// The entry of `product`.
    pub fn get(&self, product: &str) -> Option<Arc<CachedProduct>> {
        self.inner.read().ok()?.products.get(product).cloned()
    }

    /// Every entry, ordered by product.
    pub fn all(&self) -> Vec<Arc<CachedProduct>> {
        self.inner.read().map(|i| i.products.values().cloned().collect()).unwrap_or_default()
    }

    /// True once the first full load has happened.
    pub fn is_loaded(&self) -> bool {
        self.inner.read().map(|i| i.loaded).unwrap_or(false)
    }

    /// The products whose entry changes from now on (set, replaced or removed), one message
    /// per change; a receiver that falls behind gets `Lagged` and should re-read the cache.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.changes.subscribe()
    }

    fn announce(&self, product: &str) {
        // No receiver is not an error: nobody is watching.
        let _ = self.changes.send(Arc::from(product));
    }

    /// Replaces the whole cache.
    pub fn replace_all(&self, rows: &[GafRow]) {
        let products: BTreeMap<String, Arc<CachedProduct>> =
            rows.iter().map(|r| (r.product.clone(), Arc::new(entry_from_row(r)))).collect();
        let mut changed: Vec<String> = products.keys().cloned().collect();
        if let Ok(mut i) = self.inner.write() {
            changed.extend(i.products.keys().filter(|k| !products.contains_key(*k)).cloned());
            i.products = products;
            i.loaded = true;
        }
        for p in &changed {
            self.announce(p);
        }
    }

    /// Sets (or, with `None`, removes) one product's entry.
    pub fn put(&self, product: &str, row: Option<&GafRow>) {
        let entry = row.map(|r| Arc::new(entry_from_row(r)));
        if let Ok(mut i) = self.inner.write() {
            match entry {
                Some(e) => {
                    i.products.insert(product.to_string(), e);
                }
                None => {
                    i.products.remove(product);
                }
            }
        }
        self.announce(product);
    }

    /// Reloads one product from the database.
    pub async fn refresh(&self, store: &Store, product: &str) -> Result<(), cgaf_store::Error> {
        let row = store.load_gaf(product).await?;
        self.put(product, row.as_ref());
        Ok(())
    }

    /// Keeps the cache in step with the database: a full load on every (re)connection of the
    /// listener, then one product per notification. The same connection listens for new blends
    /// and wakes the blend streams (`blends`): on each notification, and all of them on every
    /// (re)connection.
    pub fn spawn_refresher(&self, store: Store, blends: BlendWakeups) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut events = store.listen(&[GAFS_CHANNEL, MATRIX_BLENDS_CHANNEL]);
            while let Some(ev) = events.recv().await {
                match ev {
                    NotifyEvent::Notification(n) if n.channel == MATRIX_BLENDS_CHANNEL => {
                        blends.wake(BlendWakeup::Product(n.payload));
                    }
                    NotifyEvent::Connected => {
                        blends.wake(BlendWakeup::All);
                        // Retry until the full load succeeds: notifications may have been missed.
                        let mut delay = std::time::Duration::from_millis(100);
                        loop {
                            match store.load_all_gafs().await {
                                Ok(rows) => {
                                    cache.replace_all(&rows);
                                    tracing::debug!(products = rows.len(), "image cache loaded");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "loading the image cache");
                                    tokio::time::sleep(delay).await;
                                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                                }
                            }
                        }
                    }
                    NotifyEvent::Notification(n) => {
                        if let Err(e) = cache.refresh(&store, &n.payload).await {
                            tracing::warn!(product = %n.payload, error = %e, "refreshing the image cache");
                        }
                    }
                }
            }
        })
    }
}
