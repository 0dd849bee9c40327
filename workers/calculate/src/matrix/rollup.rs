//! Wall-clock rollups of feature vectors: per granularity, buckets `[k·g, (k+1)·g)` of
//! `sampled_at` (ms since the epoch), aggregated by mean or EWMA. A bucket closes when a sample of
//! a later bucket arrives; empty buckets produce nothing. A sample stamped before the open
//! bucket's start (clock step backwards) joins the open bucket.

use crate::Error;
use serde::{Deserialize, Serialize};

/// How the vectors of one bucket are aggregated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// The arithmetic mean.
    Mean,
    /// The exponentially weighted mean in arrival order: the first vector, then
    /// `e = alpha·x + (1 − alpha)·e` for each next one.
    Ewma {
        /// Weight of each newer vector, in (0, 1].
        alpha: f64,
    },
}

impl Aggregation {
    /// Parses `mean` or `ewma:ALPHA` (e.g. `ewma:0.3`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s == "mean" {
            return Ok(Aggregation::Mean);
        }
        if let Some(a) = s.strip_prefix("ewma:") {
            let alpha: f64 = a.trim().parse().map_err(|_| Error::Setting(format!("bad EWMA alpha {a:?}")))?;
            if alpha > 0.0 && alpha <= 1.0 {
                return Ok(Aggregation::Ewma { alpha });
            }
            return Err(Error::Setting(format!("EWMA alpha must be in (0, 1], got {alpha}")));
        }
        Err(Error::Setting(format!("rollup aggregation {s:?}: mean or ewma:ALPHA")))
    }
}

impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Aggregation::Mean => f.write_str("mean"),
            Aggregation::Ewma { alpha } => write!(f, "ewma:{alpha}"),
        }
    }
}

/// A bucket still open: its start, the vectors seen and the running aggregate (the sum for the
/// mean, the EWMA itself for EWMA). Serialisable: it is part of the pipeline's stored cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenBucket {
    /// Bucket start, ms since the epoch.
    pub start_ms: i64,
    /// Vectors in the bucket so far.
    pub count: u64,
    /// Running aggregate.
    pub acc: Vec<f64>,
}

/// A closed bucket: the rollup `w` of a granularity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// Bucket start (inclusive), ms since the epoch.
    pub start_ms: i64,
    /// Bucket end (exclusive), ms.
    pub end_ms: i64,
    /// Vectors aggregated.
    pub count: u64,
    /// The aggregated vector.
    pub w: Vec<f64>,
}

/// The start of the bucket of width `granularity_ms` holding `t_ms` (floor, also before 1970).
pub fn bucket_start(t_ms: i64, granularity_ms: i64) -> i64 {
    t_ms.div_euclid(granularity_ms) * granularity_ms
}

/// Adds `x` stamped `t_ms` to `open` (a bucket of `granularity_ms`); returns the bucket it closed,
/// if `x` belongs to a later one. Vectors must all have the length of the first.
pub fn push(
    open: &mut Option<OpenBucket>,
    granularity_ms: i64,
    aggregation: Aggregation,
    t_ms: i64,
    x: &[f64],
) -> Option<Rollup> {
    let start = bucket_start(t_ms, granularity_ms);
    let closed = match open {
        Some(b) if start > b.start_ms => open.take().map(|b| close(b, granularity_ms, aggregation)),
        _ => None,
    };
    match open {
        Some(b) => {
            b.count += 1;
            match aggregation {
                Aggregation::Mean => b.acc.iter_mut().zip(x).for_each(|(a, v)| *a += v),
                Aggregation::Ewma { alpha } => {
                    b.acc.iter_mut().zip(x).for_each(|(a, v)| *a = alpha * v + (1.0 - alpha) * *a)
                }
            }
        }
        None => *open = Some(OpenBucket { start_ms: start, count: 1, acc: x.to_vec() }),
    }
    closed
}

/// The rollup of a finished bucket.
pub fn close(b: OpenBucket, granularity_ms: i64, aggregation: Aggregation) -> Rollup {
    let w = match aggregation {
        Aggregation::Mean => b.acc.iter().map(|a| a / b.count.max(1) as f64).collect(),
        Aggregation::Ewma { .. } => b.acc,
    };
    Rollup { start_ms: b.start_ms, end_ms: b.start_ms + granularity_ms, count: b.count, w }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of (t, x) with irregular gaps, a late sample, and empty buckets.
    fn stream() -> Vec<(i64, Vec<f64>)> {
        let ts = [1_000, 1_900, 4_999, 5_000, 4_800, 9_999, 21_000, 21_500, 29_000, 30_000];
        ts.iter().enumerate().map(|(i, &t)| (t, vec![i as f64, (i as f64 * 0.7).sin()])).collect()
    }

    #[test]
    fn mean_buckets_equal_a_direct_aggregation() {
        for g in [5_000i64, 15_000] {
            let mut open = None;
            let mut got = Vec::new();
            for (t, x) in stream() {
                got.extend(push(&mut open, g, Aggregation::Mean, t, &x));
            }
            // Direct: group by floor(t / g), where a late sample (4_800 after 5_000) belongs to
            // the bucket open when it arrived.
            let mut want: Vec<Rollup> = Vec::new();
            let mut current: Option<(i64, Vec<Vec<f64>>)> = None;
            for (t, x) in stream() {
                let s = t.div_euclid(g) * g;
                match &mut current {
                    Some((cs, xs)) if s <= *cs => xs.push(x),
                    _ => {
                        if let Some((cs, xs)) = current.take() {
                            let n = xs.len() as f64;
                            let w = (0..2).map(|j| xs.iter().map(|v| v[j]).sum::<f64>() / n).collect();
                            want.push(Rollup { start_ms: cs, end_ms: cs + g, count: xs.len() as u64, w });
                        }
                        current = Some((s, vec![x]));
                    }
                }
            }
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert_eq!((a.start_ms, a.end_ms, a.count), (b.start_ms, b.end_ms, b.count));
                for (x, y) in a.w.iter().zip(&b.w) {
                    assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
                }
            }
            // The newest bucket stays open until a later sample arrives.
            assert_eq!(open.as_ref().map(|b| b.start_ms), Some(30_000 / g * g));
        }
        // 5 s: [0,5000) holds t=1000,1900,4999; [5000,10000) holds 5000, 4800 (late), 9999.
        let mut open = None;
        let closed: Vec<Rollup> =
            stream().into_iter().filter_map(|(t, x)| push(&mut open, 5_000, Aggregation::Mean, t, &x)).collect();
        assert_eq!(closed[0].count, 3);
        assert_eq!(closed[0].w[0], 1.0);
        assert_eq!((closed[1].start_ms, closed[1].count, closed[1].w[0]), (5_000, 3, 4.0));
        assert_eq!(closed.iter().map(|r| r.start_ms).collect::<Vec<_>>(), [0, 5_000, 20_000, 25_000]);
    }

    #[test]
    fn ewma_by_hand() {
        let a = Aggregation::Ewma { alpha: 0.5 };
        let mut open = None;
        assert!(push(&mut open, 1_000, a, 0, &[4.0]).is_none());
        assert!(push(&mut open, 1_000, a, 10, &[0.0]).is_none());
        assert!(push(&mut open, 1_000, a, 20, &[8.0]).is_none());
        let r = push(&mut open, 1_000, a, 1_000, &[1.0]).unwrap();
        // e = 4; e = 0.5·0 + 0.5·4 = 2; e = 0.5·8 + 0.5·2 = 5
        assert_eq!((r.start_ms, r.end_ms, r.count, r.w.clone()), (0, 1_000, 3, vec![5.0]));
        assert_eq!(bucket_start(-1, 5_000), -5_000);
    }

    #[test]
    fn aggregation_parses() {
        assert_eq!(Aggregation::parse("mean").unwrap(), Aggregation::Mean);
        assert_eq!(Aggregation::parse("ewma:0.25").unwrap(), Aggregation::Ewma { alpha: 0.25 });
        assert_eq!(Aggregation::parse("ewma:0.25").unwrap().to_string(), "ewma:0.25");
        for bad in ["median", "ewma:0", "ewma:1.5", "ewma:x"] {
            assert!(Aggregation::parse(bad).is_err(), "{bad}");
        }
    }
}
