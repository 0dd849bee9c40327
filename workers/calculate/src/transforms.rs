//! Where the images' transforms come from: the active transform plugins (the service), or the
//! native kernels (benchmark baseline and tests). Chosen per image by configuration.

use cgaf_kernels::Matrix;

/// A source of image transforms by name.
pub trait Transforms: Send + Sync {
    /// Runs transform `name` on `series` with pyts-style `params`.
    fn transform(&self, name: &str, series: &[f64], params: &[(String, String)]) -> Result<Matrix, String>;
    /// Whether transform `name` declares parameter `param` (so it is only passed when understood).
    fn accepts(&self, name: &str, param: &str) -> bool;
}

/// Which transform computes each image (registry names of image-transform plugins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTransforms {
    /// Midpoint image 0 (`midpoint_images[0]`).
    pub midpoint_gasf: String,
    /// Midpoint image 1, served as `png4`.
    pub midpoint_gadf: String,
    /// Each order-book level's channel.
    pub orderbook: String,
    /// Each buy channel.
    pub buy: String,
    /// Each sell channel.
    pub sell: String,
}

impl Default for ImageTransforms {
    fn default() -> Self {
        Self {
            midpoint_gasf: "gasf".into(),
            midpoint_gadf: "gadf".into(),
            orderbook: "gasf".into(),
            buy: "gasf".into(),
            sell: "gasf".into(),
        }
    }
}

use cgaf_store::IMAGE_NAMES;

impl ImageTransforms {
    /// Parses `image=transform` pairs over the defaults, e.g. `orderbook=mtf,buy=gasf`.
    pub fn parse(pairs: &[String]) -> Result<Self, String> {
        let mut t = Self::default();
        for p in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let (image, name) = p.split_once('=').ok_or_else(|| format!("{p:?} must be IMAGE=TRANSFORM"))?;
            let slot = match image.trim() {
                "midpoint-gasf" => &mut t.midpoint_gasf,
                "midpoint-gadf" => &mut t.midpoint_gadf,
                "orderbook" => &mut t.orderbook,
                "buy" => &mut t.buy,
                "sell" => &mut t.sell,
                other => return Err(format!("unknown image {other:?}; one of {}", IMAGE_NAMES.join(", "))),
            };
            *slot = name.trim().to_string();
        }
        Ok(t)
    }
}

/// The native kernels, named like the built-in plugins.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeKernels;

impl Transforms for NativeKernels {
    fn transform(&self, name: &str, series: &[f64], params: &[(String, String)]) -> Result<Matrix, String> {
        use cgaf_kernels::params as p;
        let r = match name {
            "gasf" => p::gaf_from_pairs(series, cgaf_kernels::GafMethod::Summation, params),
            "gadf" => p::gaf_from_pairs(series, cgaf_kernels::GafMethod::Difference, params),
            "mtf" => p::mtf_from_pairs(series, params).map(|(m, _)| m),
            "recurrence-plot" => p::rp_from_pairs(series, params),
            other => return Err(format!("no native kernel named {other:?}")),
        };
        r.map_err(|e| format!("{}: {e}", e.python_type()))
    }

    fn accepts(&self, name: &str, param: &str) -> bool {
        match name {
            "gasf" | "gadf" => ["image_size", "sample_range", "overlapping"].contains(&param),
            "mtf" => ["image_size", "n_bins", "strategy", "overlapping"].contains(&param),
            _ => false,
        }
    }
}

impl Transforms for cgaf_runtime::PluginHost {
    /// A sandboxed plugin call, traced as the span `plugin.call` (a child of its image's span).
    fn transform(&self, name: &str, series: &[f64], params: &[(String, String)]) -> Result<Matrix, String> {
        let _entered = tracing::info_span!("plugin.call", plugin = name, samples = series.len()).entered();
        let m = cgaf_runtime::PluginHost::transform(self, name, series, params)
            .map_err(|e| format!("plugin {name}: {e}"))?;
        Ok(Matrix { size: m.size, data: m.data })
    }

    fn accepts(&self, name: &str, param: &str) -> bool {
        self.registry.get(name).map(|p| p.info.params.iter().any(|s| s.name == param)).unwrap_or(false)
    }
}
