//! The matrix pipeline's feature vector `w` of one sample: which features, in which order, at
//! which depth ([`FeatureSet`], recorded with every stored row by its [`FeatureSet::key`]) and
//! the vector itself ([`feature_vector`]).

use crate::Error;
pub use cgaf_store::FeatureSample;
use std::fmt;

/// One kind of feature; a [`FeatureSet`] lists them in axis order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Order-book size imbalance `(bid − ask) / (bid + ask)` per level, levels 1..=depth (0 when
    /// both sides are empty); `depth` axes.
    BookImbalance,
    /// The normalised midpoint return `tanh(ln(mid_t / mid_{t−1}) / return_scale)`, in (−1, 1);
    /// 0 for a product's first sample. One axis.
    MidpointReturn,
    /// Taker-flow imbalance `(buy size − sell size) / (buy size + sell size)` since the previous
    /// sample (0 when nothing traded). One axis.
    TakerFlow,
}

impl Feature {
    /// The setting's name of the feature.
    pub fn name(self) -> &'static str {
        match self {
            Feature::BookImbalance => "book-imbalance",
            Feature::MidpointReturn => "midpoint-return",
            Feature::TakerFlow => "taker-flow",
        }
    }

    /// Parses a feature name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "book-imbalance" => Ok(Feature::BookImbalance),
            "midpoint-return" => Ok(Feature::MidpointReturn),
            "taker-flow" => Ok(Feature::TakerFlow),
            other => Err(Error::Setting(format!(
                "unknown feature {other:?}; one of book-imbalance, midpoint-return, taker-flow"
            ))),
        }
    }
}

/// The features of the vector `w`, their order, the book depth and the return scale.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    /// Features in axis order (each at most once).
    pub features: Vec<Feature>,
    /// Book levels of [`Feature::BookImbalance`] (1..=50).
    pub depth: usize,
    /// The return that maps to `tanh(1)` in [`Feature::MidpointReturn`] (log return, > 0).
    pub return_scale: f64,
}

impl Default for FeatureSet {
    /// Book imbalance at depth 3, midpoint return at a 1 bp scale, taker flow: 5 axes.
    fn default() -> Self {
        Self {
            features: vec![Feature::BookImbalance, Feature::MidpointReturn, Feature::TakerFlow],
            depth: 3,
            return_scale: 1e-4,
        }
    }
}

impl FeatureSet {
    /// Checks the set: at least one feature, none twice, depth in 1..=50, a positive finite scale.
    pub fn new(features: Vec<Feature>, depth: usize, return_scale: f64) -> Result<Self, Error> {
        if features.is_empty() {
            return Err(Error::Setting("the feature set is empty".into()));
        }
        for (i, f) in features.iter().enumerate() {
            if features[..i].contains(f) {
                return Err(Error::Setting(format!("feature {} named twice", f.name())));
            }
        }
        if !(1..=50).contains(&depth) {
            return Err(Error::Setting(format!("book depth must be in 1..=50, got {depth}")));
        }
        if !(return_scale.is_finite() && return_scale > 0.0) {
            return Err(Error::Setting(format!("return scale must be a positive number, got {return_scale}")));
        }
        Ok(Self { features, depth, return_scale })
    }

    /// Length of the vector.
    pub fn dim(&self) -> usize {
        self.features.iter().map(|f| if *f == Feature::BookImbalance { self.depth } else { 1 }).sum()
    }

    /// Name of each axis in order, e.g. `book-imbalance-1`, `midpoint-return`.
    pub fn axes(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.dim());
        for f in &self.features {
            match f {
                Feature::BookImbalance => out.extend((1..=self.depth).map(|l| format!("book-imbalance-{l}"))),
                other => out.push(other.name().to_string()),
            }
        }
        out
    }

    /// The canonical text recorded with every stored row, e.g.
    /// `book-imbalance@3,midpoint-return@0.0001,taker-flow`; [`FeatureSet::parse_key`] reads it.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// Parses a [`FeatureSet::key`].
    pub fn parse_key(key: &str) -> Result<Self, Error> {
        let (mut features, mut depth, mut scale) = (Vec::new(), 3usize, 1e-4f64);
        for part in key.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, arg) = match part.split_once('@') {
                Some((n, a)) => (n, Some(a)),
                None => (part, None),
            };
            let f = Feature::parse(name)?;
            match (f, arg) {
                (Feature::BookImbalance, Some(a)) => {
                    depth = a.parse().map_err(|_| Error::Setting(format!("bad book depth {a:?}")))?
                }
                (Feature::MidpointReturn, Some(a)) => {
                    scale = a.parse().map_err(|_| Error::Setting(format!("bad return scale {a:?}")))?
                }
                (_, None) => {}
                (f, Some(a)) => return Err(Error::Setting(format!("{} takes no argument, got {a:?}", f.name()))),
            }
            features.push(f);
        }
        Self::new(features, depth, scale)
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, feature) in self.features.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match feature {
                Feature::BookImbalance => write!(f, "{}@{}", feature.name(), self.depth)?,
                Feature::MidpointReturn => write!(f, "{}@{}", feature.name(), self.return_scale)?,
                Feature::TakerFlow => f.write_str(feature.name())?,
            }
        }
        Ok(())
    }
}

/// `(a − b) / (a + b)`, 0 when the sum is not positive or either side is not finite.
fn imbalance(a: f64, b: f64) -> f64 {
    let (a, b) = (if a.is_finite() { a.max(0.0) } else { 0.0 }, if b.is_finite() { b.max(0.0) } else { 0.0 });
    let den = a + b;
    if den > 0.0 {
        (a - b) / den
    } else {
        0.0
    }
}

/// The feature vector of `sample` under `set`; `previous_midpoint` is the product's midpoint of
/// the sample before (none for the first). Missing levels count as empty; a non-positive or
/// non-finite midpoint gives a zero return. Every entry is in [−1, 1].
pub fn feature_vector(set: &FeatureSet, sample: &FeatureSample, previous_midpoint: Option<f64>) -> Vec<f64> {
    let mut w = Vec::with_capacity(set.dim());
    for f in &set.features {
        match f {
            Feature::BookImbalance => {
                for level in 0..set.depth {
                    let bid = sample.bid_sizes.get(level).copied().unwrap_or(0.0);
                    let ask = sample.ask_sizes.get(level).copied().unwrap_or(0.0);
                    w.push(imbalance(bid, ask));
                }
            }
            Feature::MidpointReturn => {
                let r = match previous_midpoint {
                    Some(p) if p > 0.0 && p.is_finite() && sample.midpoint > 0.0 && sample.midpoint.is_finite() => {
                        (sample.midpoint / p).ln() / set.return_scale
                    }
                    _ => 0.0,
                };
                w.push(r.tanh());
            }
            Feature::TakerFlow => w.push(imbalance(sample.buy_size, sample.sell_size)),
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_has_five_named_axes_and_a_round_tripping_key() {
        let set = FeatureSet::default();
        assert_eq!(set.dim(), 5);
        assert_eq!(
            set.axes(),
            ["book-imbalance-1", "book-imbalance-2", "book-imbalance-3", "midpoint-return", "taker-flow"]
        );
        assert_eq!(set.key(), "book-imbalance@3,midpoint-return@0.0001,taker-flow");
        assert_eq!(FeatureSet::parse_key(&set.key()).unwrap(), set);
        let other = FeatureSet::new(vec![Feature::TakerFlow, Feature::BookImbalance], 2, 1e-3).unwrap();
        assert_eq!(other.key(), "taker-flow,book-imbalance@2");
        assert_eq!(other.axes(), ["taker-flow", "book-imbalance-1", "book-imbalance-2"]);
    }

    #[test]
    fn bad_sets_are_refused() {
        assert!(FeatureSet::new(vec![], 3, 1e-4).is_err());
        assert!(FeatureSet::new(vec![Feature::TakerFlow, Feature::TakerFlow], 3, 1e-4).is_err());
        assert!(FeatureSet::new(vec![Feature::BookImbalance], 0, 1e-4).is_err());
        assert!(FeatureSet::new(vec![Feature::MidpointReturn], 3, 0.0).is_err());
        assert!(FeatureSet::new(vec![Feature::MidpointReturn], 3, f64::NAN).is_err());
        assert!(FeatureSet::parse_key("volume").is_err());
        assert!(FeatureSet::parse_key("taker-flow@2").is_err());
        assert!(FeatureSet::parse_key("book-imbalance@x").is_err());
    }

    #[test]
    fn vector_by_hand() {
        let set = FeatureSet::default();
        let s = FeatureSample {
            midpoint: 100.01,
            bid_sizes: vec![3.0, 1.0],
            ask_sizes: vec![1.0, 1.0, 2.0],
            buy_size: 0.0,
            sell_size: 2.5,
            ..Default::default()
        };
        let w = feature_vector(&set, &s, Some(100.0));
        // (3−1)/4, (1−1)/2, (0−2)/2, tanh(ln(1.0001)/1e-4), (0−2.5)/2.5
        let want = [0.5, 0.0, -1.0, ((100.01f64 / 100.0).ln() / 1e-4).tanh(), -1.0];
        assert_eq!(w, want);
        assert!((w[3] - 0.761_573).abs() < 1e-6, "{}", w[3]);
        // First sample and empty book: zero return, zero imbalance.
        let w = feature_vector(&set, &FeatureSample { midpoint: 5.0, ..Default::default() }, None);
        assert_eq!(w, [0.0; 5]);
        let w = feature_vector(
            &set,
            &FeatureSample { midpoint: f64::NAN, buy_size: f64::INFINITY, ..Default::default() },
            Some(1.0),
        );
        assert_eq!(w, [0.0; 5]);
    }
}
