//! The history store's settings: the intervals rolled up, how long each interval is kept, and the
//! raw-sample archive — parsed here, once, for the CLI and the service.

use crate::request::parse_interval;
use serde::{Deserialize, Serialize};

/// The interval collect writes from every sample: one second.
pub const COLLECTED_INTERVAL_MS: i64 = 1_000;

/// Coarser intervals kept up to date from the finer ones by default: 1m, 5m, 15m, 1h, 1d.
pub const DEFAULT_ROLLUP_INTERVALS: &[i64] = &[60_000, 300_000, 900_000, 3_600_000, 86_400_000];

/// The default retention: 1-second bars for 7 days, every other interval forever.
pub const DEFAULT_RETENTION: &str = "1s=7d";

/// The shortest name of an interval: `250ms`, `1s`, `5m`, `1h`, `1d` (the largest unit that
/// divides it). The inverse of [`parse_interval`].
pub fn interval_label(interval_ms: i64) -> String {
    for (unit, ms) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if interval_ms % ms == 0 && interval_ms != 0 {
            return format!("{}{unit}", interval_ms / ms);
        }
    }
    format!("{interval_ms}ms")
}

/// How long bars of one interval are kept: `None` = forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Bar interval, ms.
    pub interval_ms: i64,
    /// Kept this long after their close (ms); `None` keeps them forever.
    pub keep_ms: Option<i64>,
}

/// Retention per interval, parsed from `1s=7d,1m=forever`; intervals not named are kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetentionSpec(pub Vec<Retention>);

impl RetentionSpec {
    /// How long bars of `interval_ms` are kept (`None` = forever).
    pub fn keep_ms(&self, interval_ms: i64) -> Option<i64> {
        self.0.iter().find(|r| r.interval_ms == interval_ms).and_then(|r| r.keep_ms)
    }
}

impl std::str::FromStr for RetentionSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out: Vec<Retention> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (iv, keep) = part
                .split_once('=')
                .ok_or_else(|| format!("retention {part:?} is not INTERVAL=DURATION (e.g. 1s=7d, 1m=forever)"))?;
            let interval_ms = parse_interval(iv)?;
            let keep_ms = match keep.trim() {
                "forever" | "inf" | "never" => None,
                k => {
                    let d = humantime::parse_duration(k)
                        .map_err(|e| format!("retention of {iv}: {k:?} is not a duration like 7d or forever: {e}"))?;
                    let ms =
                        i64::try_from(d.as_millis()).map_err(|_| format!("retention of {iv}: {k:?} is too long"))?;
                    if ms < interval_ms {
                        return Err(format!("retention of {iv}: {k:?} is shorter than one bar"));
                    }
                    Some(ms)
                }
            };
            if out.iter().any(|r| r.interval_ms == interval_ms) {
                return Err(format!("retention names {iv} twice"));
            }
            out.push(Retention { interval_ms, keep_ms });
        }
        Ok(RetentionSpec(out))
    }
}

impl std::fmt::Display for RetentionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                let keep = r.keep_ms.map_or("forever".to_string(), interval_label);
                format!("{}={keep}", interval_label(r.interval_ms))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses a comma-separated list of intervals (`1m,5m,1h`) into sorted, distinct milliseconds.
pub fn parse_intervals(s: &str) -> Result<Vec<i64>, String> {
    let mut out = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(parse_interval)
        .collect::<Result<Vec<i64>, String>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// What the history store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySettings {
    /// Coarser intervals kept up to date from the finer ones (sorted). Each is rolled up from the
    /// largest stored interval below it that divides it (1 s at least).
    pub rollup_intervals: Vec<i64>,
    /// How long each interval is kept.
    pub retention: RetentionSpec,
    /// Keep every raw sample this long (ms) in the archive; `None` = no archive.
    pub keep_samples_ms: Option<i64>,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            rollup_intervals: DEFAULT_ROLLUP_INTERVALS.to_vec(),
            retention: DEFAULT_RETENTION.parse().unwrap_or_default(),
            keep_samples_ms: None,
        }
    }
}

impl HistorySettings {
    /// Checks that every rollup interval is a multiple of the collected 1 s.
    pub fn validate(&self) -> Result<(), String> {
        for &iv in &self.rollup_intervals {
            if iv <= COLLECTED_INTERVAL_MS || iv % COLLECTED_INTERVAL_MS != 0 {
                return Err(format!(
                    "rollup interval {} must be a whole number of seconds above 1s",
                    interval_label(iv)
                ));
            }
        }
        Ok(())
    }

    /// The interval `interval_ms` is rolled up from: the largest of 1 s and the rollup intervals
    /// below it that divides it.
    pub fn rollup_source(&self, interval_ms: i64) -> i64 {
        self.rollup_intervals
            .iter()
            .copied()
            .filter(|&f| f < interval_ms && interval_ms % f == 0)
            .max()
            .unwrap_or(COLLECTED_INTERVAL_MS)
    }

    /// Every interval the store writes: 1 s and the rollup intervals.
    pub fn stored_intervals(&self) -> Vec<i64> {
        let mut v = vec![COLLECTED_INTERVAL_MS];
        v.extend(&self.rollup_intervals);
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_invert_parse() {
        for (ms, label) in [
            (250, "250ms"),
            (1000, "1s"),
            (60_000, "1m"),
            (900_000, "15m"),
            (21_600_000, "6h"),
            (86_400_000, "1d"),
            (90_000, "90s"),
        ] {
            assert_eq!(interval_label(ms), label);
            assert_eq!(parse_interval(label).unwrap(), ms);
        }
    }

    #[test]
    fn retention_parses_and_refuses() {
        let r: RetentionSpec = "1s=7d, 1m=forever".parse().unwrap();
        assert_eq!(r.keep_ms(1000), Some(7 * 86_400_000));
        assert_eq!(r.keep_ms(60_000), None);
        assert_eq!(r.keep_ms(300_000), None, "not named = forever");
        assert_eq!(r.to_string(), "1s=7d,1m=forever");
        for bad in ["1s", "1s=soon", "1m=30s", "1s=1d,1s=2d", "x=1d"] {
            assert!(bad.parse::<RetentionSpec>().is_err(), "{bad}");
        }
        assert_eq!(HistorySettings::default().retention.keep_ms(1000), Some(7 * 86_400_000));
    }

    #[test]
    fn rollup_sources_divide() {
        let s = HistorySettings::default();
        assert_eq!(s.rollup_source(60_000), 1000);
        assert_eq!(s.rollup_source(300_000), 60_000);
        assert_eq!(s.rollup_source(900_000), 300_000);
        assert_eq!(s.rollup_source(3_600_000), 900_000);
        assert_eq!(s.rollup_source(86_400_000), 3_600_000);
        assert_eq!(parse_intervals("5m,1m,1m").unwrap(), vec![60_000, 300_000]);
        assert!(HistorySettings { rollup_intervals: vec![1500], ..HistorySettings::default() }.validate().is_err());
    }
}
