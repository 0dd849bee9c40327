//! The original crypto-gaf's image body and the image routes' queries.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/gaf/image`: the original crypto-gaf's body, byte for byte (its key order, numbers
/// and strings as the original wrote them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GafImage {
    /// Newest midpoint, exact decimal text.
    pub midpoint: Option<String>,
    /// Order-book imbalance, RGB PNG, base64.
    #[schema(format = Byte)]
    pub png1: Option<String>,
    /// Buys, RGB PNG, base64.
    #[schema(format = Byte)]
    pub png2: Option<String>,
    /// Sells, RGB PNG, base64.
    #[schema(format = Byte)]
    pub png3: Option<String>,
    /// Midpoint GADF, grayscale PNG, base64.
    #[schema(format = Byte)]
    pub png4: Option<String>,
    /// Image edge in pixels (= samples used).
    pub size: i32,
    /// Time of the response, RFC 3339 with milliseconds in UTC.
    #[schema(format = DateTime)]
    pub date: String,
}

impl GafImage {
    /// The `chrono` format of [`GafImage::date`].
    pub const DATE_FORMAT: &'static str = "%Y-%m-%dT%H:%M:%S%.3fZ";

    /// The serialised body up to and including `"date":"`: the part a cache can keep, since
    /// only the date changes from one response to the next. The date (which needs no escaping)
    /// and `"}` complete it. `date` is ignored.
    pub fn json_prefix(&self) -> String {
        let mut s = serde_json::to_string(&GafImage { date: String::new(), ..self.clone() })
            .unwrap_or_else(|_| String::from("{\"date\":\"\"}"));
        // Drop the closing `"}` of the empty date.
        s.truncate(s.len().saturating_sub(2));
        s
    }

    /// What completes [`GafImage::json_prefix`] for a response at `now`.
    pub fn json_suffix(now: chrono::DateTime<chrono::Utc>) -> String {
        format!("{}\"}}", now.format(Self::DATE_FORMAT))
    }
}

/// Query of `GET /api/gaf/image`. Unknown parameters are ignored, as the original did (its
/// clients may add cache-busting parameters).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// Product id, e.g. `BTC-USD`.
    #[param(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "BTC-USD")]
    pub product: Option<String>,
}

/// Query of `GET /api/gaf/image.png`. Unknown parameters are ignored, as on `/api/gaf/image`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PngQuery {
    /// Product id, e.g. `BTC-USD`.
    #[param(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "BTC-USD")]
    pub product: Option<String>,
    /// Which image: `midpoint-gasf`, `midpoint-gadf` (default), `orderbook`, `buy` or `sell`.
    #[param(example = "midpoint-gadf")]
    pub image: Option<String>,
}

/// Query of `GET /api/gaf/events`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Product id, e.g. `BTC-USD`.
    #[param(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "BTC-USD")]
    pub product: Option<String>,
}

/// One image of an [`ImagesChanged`] event: what `GET /api/gaf/image.png?image=` answers now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageVersion {
    /// PNG size in bytes.
    pub bytes: usize,
    /// The PNG's strong ETag (send it as `If-None-Match`).
    pub etag: String,
    /// `midpoint-gasf`, `midpoint-gadf`, `orderbook`, `buy` or `sell`.
    pub image: String,
}

/// `GET /api/gaf/events`: the data of an `images` event, sent when the stream opens and each
/// time the product's images change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImagesChanged {
    /// False until the product has 21 samples (and after it is removed).
    pub computed: bool,
    /// When the images were computed.
    pub computed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The five images (empty while not computed).
    pub images: Vec<ImageVersion>,
    /// Newest midpoint, exact decimal text.
    pub midpoint: Option<String>,
    /// Product id.
    pub product: String,
    /// Image edge in pixels.
    pub size: Option<i32>,
}
