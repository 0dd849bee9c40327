//! Built-in plugin `sma-cross`: a simple-moving-average crossover strategy.
//!
//! Parameters: `fast` (int, default 10) and `slow` (int, default 30), both >= 1,
//! `fast < slow` and `slow <= 1000000`, windows in bars over the close.
//!
//! Decisions: target 0 with reason `warm-up` until `slow` closes have been seen; then +1 while
//! the fast SMA is above the slow SMA and -1 while below (equal SMAs keep the previous side).
//! The reason is `fast 10 crossed above slow 30` / `fast 10 crossed below slow 30` on a
//! crossover, `fast 10 above slow 30` / `... below ...` / `... equals ...` on the first bar
//! after warm-up, else `hold`.
//!
//! Each bar costs O(1): the last `slow` closes sit in a ring buffer with running sums of the
//! last `fast` and `slow` closes. The sums are recomputed from the ring each time it wraps
//! (every `slow` bars, O(1) amortised), so rounding never drifts. `state()` is a JSON object
//! holding the ring, its head, the sums and the side, so `restore()` resumes bit for bit.
//! A bar whose close is not finite, or beyond ±1e100, is refused with `invalid-input` before
//! any bar of the batch is applied.

use cgaf_plugin_sdk::params::invalid;
use cgaf_plugin_sdk::{
    export_strategy_next, Bar, BarColumns, Decision, Param, ParamSpec, Params, PluginError, PluginInfo, PluginKind,
    Strategy,
};
use serde::{Deserialize, Serialize};

/// Closes beyond this magnitude are refused (the running sums must stay finite).
const MAX_ABS_CLOSE: f64 = 1e100;

/// Which side of the slow SMA the fast SMA is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Below,
    Equal,
    Above,
}

/// The strategy state, exactly as `state()` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    /// Fast window, bars.
    fast: usize,
    /// Slow window, bars.
    slow: usize,
    /// Closes seen so far.
    seen: u64,
    /// Ring of the last `slow` closes; slot `head` is the next to be written (the oldest once
    /// full). Unwritten slots are 0.
    ring: Vec<f64>,
    /// Next slot to write.
    head: usize,
    /// Sum of the last `min(seen, fast)` closes.
    fast_sum: f64,
    /// Sum of the last `min(seen, slow)` closes.
    slow_sum: f64,
    /// The current target: -1, 0 or 1 (0 only before the first post-warm-up decision).
    side: i8,
}

/// The `sma-cross` strategy.
#[derive(Debug, Clone)]
pub struct SmaCross {
    st: State,
    /// Reason texts, built once.
    above: String,
    below: String,
    crossed_above: String,
    crossed_below: String,
    equals: String,
}

impl SmaCross {
    fn new(fast: usize, slow: usize) -> SmaCross {
        let st = State { fast, slow, seen: 0, ring: vec![0.0; slow], head: 0, fast_sum: 0.0, slow_sum: 0.0, side: 0 };
        SmaCross::with_state(st)
    }

    fn with_state(st: State) -> SmaCross {
        let (f, s) = (st.fast, st.slow);
        SmaCross {
            above: format!("fast {f} above slow {s}"),
            below: format!("fast {f} below slow {s}"),
            crossed_above: format!("fast {f} crossed above slow {s}"),
            crossed_below: format!("fast {f} crossed below slow {s}"),
            equals: format!("fast {f} equals slow {s}"),
            st,
        }
    }

    /// Applies one close: the new side is `st.side` (0 during the warm-up). Returns `None`
    /// during the warm-up, else which side the fast SMA is on and the side before this bar.
    #[inline]
    fn advance(&mut self, close: f64) -> Option<(Side, i8)> {
        let st = &mut self.st;
        let (fast, slow) = (st.fast, st.slow);
        // The close that leaves the fast window: written `fast` bars ago (fast < slow, so it
        // is still in the ring).
        if st.seen >= fast as u64 {
            let out = st.head + slow - fast;
            st.fast_sum -= st.ring[if out >= slow { out - slow } else { out }];
        }
        if st.seen >= slow as u64 {
            st.slow_sum -= st.ring[st.head];
        }
        st.fast_sum += close;
        st.slow_sum += close;
        st.ring[st.head] = close;
        st.head += 1;
        st.seen += 1;
        if st.head == slow {
            st.head = 0;
            // Recompute the sums from the ring (oldest first) so rounding cannot drift.
            st.slow_sum = st.ring.iter().sum();
            st.fast_sum = st.ring[slow - fast..].iter().sum();
        }
        if st.seen < slow as u64 {
            return None;
        }
        // fast_sum / fast vs slow_sum / slow, without the divisions' rounding:
        // compare fast_sum * slow with slow_sum * fast.
        let (l, r) = (st.fast_sum * slow as f64, st.slow_sum * fast as f64);
        let side = if l > r {
            Side::Above
        } else if l < r {
            Side::Below
        } else {
            Side::Equal
        };
        let prev = st.side;
        st.side = match side {
            Side::Above => 1,
            Side::Below => -1,
            Side::Equal => prev,
        };
        Some((side, prev))
    }

    /// Applies one close and returns the decision, with its reason.
    #[inline]
    fn step(&mut self, close: f64) -> Decision {
        let Some((side, prev)) = self.advance(close) else {
            return Decision::with_reason(0.0, "warm-up");
        };
        let new_side = self.st.side;
        let reason = if prev == 0 {
            match side {
                Side::Above => &self.above,
                Side::Below => &self.below,
                Side::Equal => &self.equals,
            }
            .clone()
        } else if new_side != prev {
            if new_side > 0 {
                self.crossed_above.clone()
            } else {
                self.crossed_below.clone()
            }
        } else {
            "hold".to_string()
        };
        Decision { target: f64::from(new_side), reason: Some(reason) }
    }
}

/// `invalid-input` naming the first bar (close time, close) whose close is not finite or beyond
/// ±1e100.
fn check_closes(bars: impl Iterator<Item = (i64, f64)>) -> Result<(), PluginError> {
    for (i, (time_ms, close)) in bars.enumerate() {
        if close.is_nan() || close.abs() > MAX_ABS_CLOSE {
            return Err(PluginError::InvalidInput(format!(
                "bar {i} (time {time_ms}) has close {close}; closes must be finite and within ±1e100"
            )));
        }
    }
    Ok(())
}

impl Strategy for SmaCross {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "sma-cross",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Strategy,
            "Simple-moving-average crossover on the close: long while the fast SMA is above the slow SMA, \
             short while below, flat during the warm-up.",
            vec![
                ParamSpec::new("fast", "int", "10", "Fast SMA window, in bars (>= 1, < slow)."),
                ParamSpec::new(
                    "slow",
                    "int",
                    "30",
                    "Slow SMA window, in bars (> fast, <= 1000000); also the warm-up length.",
                ),
            ],
        )
    }

    fn create(params: Vec<Param>) -> Result<Self, PluginError> {
        let info = Self::info();
        let p = Params::parse(&info.params, &params)?;
        let fast = p.get_int("fast")?;
        let slow = p.get_int("slow")?;
        if fast < 1 {
            return Err(invalid("fast", &format!("must be at least 1, got {fast}")));
        }
        if slow < 1 {
            return Err(invalid("slow", &format!("must be at least 1, got {slow}")));
        }
        if fast >= slow {
            return Err(invalid("fast", &format!("must be smaller than slow, got fast={fast}, slow={slow}")));
        }
        // The ring holds `slow` closes; keep it well under any memory cap.
        if slow > 1_000_000 {
            return Err(invalid("slow", &format!("must be at most 1000000, got {slow}")));
        }
        Ok(SmaCross::new(fast as usize, slow as usize))
    }

    fn on_bars(&mut self, bars: Vec<Bar>) -> Result<Vec<Decision>, PluginError> {
        check_closes(bars.iter().map(|b| (b.time_ms, b.close)))?;
        let mut out = Vec::with_capacity(bars.len());
        for b in &bars {
            out.push(self.step(b.close));
        }
        Ok(out)
    }

    /// One bar's decision without a one-bar list (what runs call through contract 0.2.0's
    /// `on-bar`).
    fn on_bar(&mut self, bar: Bar) -> Result<Decision, PluginError> {
        check_closes(std::iter::once((bar.time_ms, bar.close)))?;
        Ok(self.step(bar.close))
    }

    /// The targets `on_bars` would answer, without building decisions or reasons (what sweeps
    /// call through contract 0.2.0's `targets`).
    fn targets(&mut self, bars: BarColumns) -> Result<Vec<f64>, PluginError> {
        check_closes(bars.time_ms.iter().copied().zip(bars.close.iter().copied()))?;
        Ok(bars
            .close
            .iter()
            .map(|&close| {
                self.advance(close);
                f64::from(self.st.side)
            })
            .collect())
    }

    fn state(&self) -> String {
        serde_json::to_string(&self.st).unwrap_or_else(|_| "{}".into())
    }

    fn restore(&mut self, state: String) -> Result<(), PluginError> {
        let bad = |why: String| PluginError::InvalidInput(format!("cannot restore sma-cross state: {why}"));
        let st: State = serde_json::from_str(&state).map_err(|e| bad(e.to_string()))?;
        if (st.fast, st.slow) != (self.st.fast, self.st.slow) {
            return Err(bad(format!(
                "it was written with fast={}, slow={}; this instance has fast={}, slow={}",
                st.fast, st.slow, self.st.fast, self.st.slow
            )));
        }
        if st.ring.len() != st.slow || st.head >= st.slow {
            return Err(bad(format!("ring of {} slots with head {} for slow={}", st.ring.len(), st.head, st.slow)));
        }
        if st.head as u64 != st.seen % st.slow as u64 {
            return Err(bad(format!("head {} does not match {} closes seen", st.head, st.seen)));
        }
        if !st.ring.iter().chain([&st.fast_sum, &st.slow_sum]).all(|v| v.is_finite()) {
            return Err(bad("non-finite values".into()));
        }
        if !(-1..=1).contains(&st.side) {
            return Err(bad(format!("side {}", st.side)));
        }
        *self = SmaCross::with_state(st);
        Ok(())
    }
}

export_strategy_next!(SmaCross);

#[cfg(test)]
mod tests {
    use super::*;
    use cgaf_plugin_sdk::validate_info;

    fn bar(i: usize, close: f64) -> Bar {
        Bar {
            time_ms: i as i64 * 1000,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
            buy_volume: 0.5,
            sell_volume: 0.5,
        }
    }

    fn bars(closes: &[f64]) -> Vec<Bar> {
        closes.iter().enumerate().map(|(i, &c)| bar(i, c)).collect()
    }

    fn make(fast: &str, slow: &str) -> Result<SmaCross, PluginError> {
        SmaCross::create(vec![Param::new("fast", fast), Param::new("slow", slow)])
    }

    /// The definition, recomputed from scratch per bar.
    fn naive(closes: &[f64], fast: usize, slow: usize) -> Vec<f64> {
        let mut side = 0.0;
        (0..closes.len())
            .map(|i| {
                if i + 1 < slow {
                    return 0.0;
                }
                let f: f64 = closes[i + 1 - fast..=i].iter().sum::<f64>() / fast as f64;
                let s: f64 = closes[i + 1 - slow..=i].iter().sum::<f64>() / slow as f64;
                if f > s {
                    side = 1.0;
                } else if f < s {
                    side = -1.0;
                }
                side
            })
            .collect()
    }

    /// A deterministic wiggly price path.
    fn prices(n: usize) -> Vec<f64> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut p = 100.0;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p += ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0;
                p
            })
            .collect()
    }

    #[test]
    fn info_is_valid() {
        let info = SmaCross::info();
        assert_eq!(validate_info(&info, PluginKind::Strategy), Ok(()));
        assert_eq!((info.name.as_str(), info.version.as_str()), ("sma-cross", "1.0.0"));
    }

    #[test]
    fn parameters() {
        let s = SmaCross::create(vec![]).unwrap();
        assert_eq!((s.st.fast, s.st.slow), (10, 30));
        assert_eq!(make("1", "2").map(|s| (s.st.fast, s.st.slow)).unwrap(), (1, 2));
        let msg = |r: Result<SmaCross, PluginError>| r.unwrap_err();
        assert_eq!(
            msg(make("0", "5")),
            PluginError::InvalidParams("parameter 'fast' must be at least 1, got 0".into())
        );
        assert_eq!(msg(make("5", "5")).message(), "parameter 'fast' must be smaller than slow, got fast=5, slow=5");
        assert_eq!(msg(make("7", "-1")).message(), "parameter 'slow' must be at least 1, got -1");
        assert_eq!(msg(make("2.5", "5")).message(), "parameter 'fast' must be an int, got '2.5'");
        assert_eq!(
            msg(make("2", "99999999999")).message(),
            "parameter 'slow' must be at most 1000000, got 99999999999"
        );
        let e = SmaCross::create(vec![Param::new("window", "3")]).unwrap_err();
        assert_eq!(e.message(), "unknown parameter 'window'; accepted parameters: fast, slow");
    }

    #[test]
    fn warm_up_then_sides_and_crossovers() {
        let mut s = make("2", "3").unwrap();
        let d = s.on_bars(bars(&[1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 0.0, 0.0, 5.0])).unwrap();
        let targets: Vec<f64> = d.iter().map(|d| d.target).collect();
        let reasons: Vec<&str> = d.iter().map(|d| d.reason.as_deref().unwrap()).collect();
        // SMAs from bar 2: fast (2.5, 3.5, 2.5, 0.5, 0, 0, 2.5), slow (2, 3, 2.67, 1.67, 0.33, 0, 1.67).
        assert_eq!(targets, [0.0, 0.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, 1.0]);
        assert_eq!(
            reasons,
            [
                "warm-up",
                "warm-up",
                "fast 2 above slow 3",
                "hold",
                "fast 2 crossed below slow 3",
                "hold",
                "hold",
                "hold",
                "fast 2 crossed above slow 3"
            ]
        );
        // The slow-th close ends the warm-up, whatever the batching.
        let mut t = make("10", "30").unwrap();
        let d = t.on_bars(bars(&prices(29))).unwrap();
        assert!(d.iter().all(|d| d.target == 0.0 && d.reason.as_deref() == Some("warm-up")));
        let d = t.on_bars(bars(&prices(30)[29..])).unwrap();
        assert_ne!(d[0].reason.as_deref(), Some("warm-up"));
    }

    #[test]
    fn equal_smas_keep_the_side() {
        let mut s = make("1", "2").unwrap();
        let d = s.on_bars(bars(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0])).unwrap();
        let targets: Vec<f64> = d.iter().map(|d| d.target).collect();
        assert_eq!(targets, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0]);
        let reasons: Vec<&str> = d.iter().map(|d| d.reason.as_deref().unwrap()).collect();
        assert_eq!(
            reasons,
            [
                "warm-up",
                "fast 1 equals slow 2",
                "fast 1 equals slow 2",
                "fast 1 above slow 2",
                "hold",
                "hold",
                "fast 1 crossed below slow 2"
            ]
        );
    }

    #[test]
    fn matches_the_definition_on_a_long_path() {
        let closes = prices(20_000);
        for (fast, slow) in [(1, 2), (3, 7), (10, 30), (50, 200)] {
            let mut s = make(&fast.to_string(), &slow.to_string()).unwrap();
            let mut got = Vec::new();
            for chunk in closes.chunks(777) {
                got.extend(s.on_bars(bars(chunk)).unwrap().into_iter().map(|d| d.target));
            }
            let want = naive(&closes, fast, slow);
            let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            // Ties between the two SMAs can round differently; they are vanishingly rare.
            assert!(diff <= 2, "fast {fast} slow {slow}: {diff} decisions differ");
        }
    }

    #[test]
    fn targets_answer_what_on_bars_answers_and_leave_the_same_state() {
        let closes = prices(9_000);
        for (fast, slow) in [(1, 2), (2, 3), (10, 30), (50, 200)] {
            let (mut a, mut b) = (
                make(&fast.to_string(), &slow.to_string()).unwrap(),
                make(&fast.to_string(), &slow.to_string()).unwrap(),
            );
            let mut want = Vec::new();
            let mut got = Vec::new();
            // Mixed batch sizes, and the two calls interleaved on one instance too.
            for (k, chunk) in closes.chunks(1_234).enumerate() {
                want.extend(a.on_bars(bars(chunk)).unwrap().into_iter().map(|d| d.target));
                if k % 2 == 0 {
                    got.extend(b.targets(BarColumns::of(&bars(chunk))).unwrap());
                } else {
                    got.extend(b.on_bars(bars(chunk)).unwrap().into_iter().map(|d| d.target));
                }
                assert_eq!(a.state(), b.state(), "fast {fast} slow {slow}, chunk {k}");
            }
            assert_eq!(got, want, "fast {fast} slow {slow}");
        }
        let mut s = make("2", "3").unwrap();
        let before = s.state();
        let e = s.targets(BarColumns::of(&bars(&[1.0, 2.0, f64::INFINITY]))).unwrap_err();
        assert!(e.message().starts_with("bar 2 (time 2000) has close inf"), "{e:?}");
        assert_eq!(s.state(), before, "a refused batch changes nothing");
    }

    #[test]
    fn state_round_trips_exactly() {
        let closes = prices(5_000);
        let mut a = make("7", "19").unwrap();
        a.on_bars(bars(&closes[..2_345])).unwrap();
        let state = a.state();
        assert!(state.starts_with("{\"fast\":7,\"slow\":19,\"seen\":2345,"), "{state}");
        let mut b = make("7", "19").unwrap();
        b.restore(state.clone()).unwrap();
        assert_eq!(b.state(), state);
        let da = a.on_bars(bars(&closes[2_345..])).unwrap();
        let db = b.on_bars(bars(&closes[2_345..])).unwrap();
        assert_eq!(da, db);
        assert_eq!(a.state(), b.state());
        // Mid-warm-up too.
        let mut c = make("7", "19").unwrap();
        c.on_bars(bars(&closes[..5])).unwrap();
        let mut d = make("7", "19").unwrap();
        d.restore(c.state()).unwrap();
        assert_eq!(c.on_bars(bars(&closes[5..40])).unwrap(), d.on_bars(bars(&closes[5..40])).unwrap());
    }

    #[test]
    fn refuses_bad_input_and_bad_state() {
        let mut s = make("2", "3").unwrap();
        s.on_bars(bars(&[1.0, 2.0])).unwrap();
        let before = s.state();
        let e = s.on_bars(bars(&[1.0, f64::NAN])).unwrap_err();
        assert!(matches!(e, PluginError::InvalidInput(_)));
        assert!(e.message().starts_with("bar 1 (time 1000) has close NaN"), "{e:?}");
        assert!(s.on_bars(bars(&[f64::INFINITY])).is_err());
        assert!(s.on_bars(bars(&[1e200])).is_err());
        assert_eq!(s.state(), before, "a refused batch changes nothing");
        assert_eq!(s.on_bars(vec![]).unwrap(), vec![]);

        let mut t = make("2", "3").unwrap();
        for bad in [
            "",
            "{}",
            "not json",
            "{\"fast\":2,\"slow\":4,\"seen\":0,\"ring\":[0,0,0,0],\"head\":0,\"fast_sum\":0,\"slow_sum\":0,\"side\":0}",
            "{\"fast\":2,\"slow\":3,\"seen\":0,\"ring\":[0,0],\"head\":0,\"fast_sum\":0,\"slow_sum\":0,\"side\":0}",
            "{\"fast\":2,\"slow\":3,\"seen\":1,\"ring\":[0,0,0],\"head\":0,\"fast_sum\":0,\"slow_sum\":0,\"side\":0}",
            "{\"fast\":2,\"slow\":3,\"seen\":0,\"ring\":[0,0,0],\"head\":0,\"fast_sum\":0,\"slow_sum\":0,\"side\":5}",
            "{\"fast\":2,\"slow\":3,\"seen\":0,\"ring\":[0,0,0],\"head\":7,\"fast_sum\":0,\"slow_sum\":0,\"side\":0}",
        ] {
            let e = t.restore(bad.to_string()).unwrap_err();
            assert!(matches!(e, PluginError::InvalidInput(_)), "{bad}: {e:?}");
        }
        assert_eq!(t.state(), make("2", "3").unwrap().state(), "a refused restore changes nothing");
    }
}
