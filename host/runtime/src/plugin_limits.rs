//! Per-plugin limits: the call deadline and the linear-memory limit one plugin version runs
//! under, chosen from what its upload measured and never above the operator's caps (the
//! runtime's [`crate::RuntimeSettings`]). A version without chosen limits (a built-in, or one
//! stored before they existed) runs under the caps.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The limits one plugin version's calls run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginLimits {
    /// Deadline of one call.
    pub call_deadline: Duration,
    /// Linear memory of one instance, bytes.
    pub memory_limit: usize,
}

/// What the upload's calls used: the smoke call and the sizing call (see
/// [`crate::PluginHost::measure`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    /// Largest linear memory of the calls' instances, bytes.
    pub peak_memory: usize,
    /// The slowest call.
    pub slowest_call: Duration,
}

/// The least deadline chosen from a measurement: the deadline every plugin had before limits
/// were per plugin (a fast plugin is not cut shorter than that; a slow one gets more).
pub const DEADLINE_FLOOR: Duration = Duration::from_millis(100);
/// A chosen deadline is this many times the slowest measured call (when above the floor).
pub const DEADLINE_FACTOR: u32 = 10;
/// Memory beyond the measured peak, at least: room for inputs larger than the measured ones.
pub const MEMORY_HEADROOM: usize = 24 << 20;

impl Measured {
    /// The limits chosen from this measurement within `caps`: memory twice the peak or the peak
    /// plus [`MEMORY_HEADROOM`], whichever is larger, in whole MiB; the deadline
    /// [`DEADLINE_FACTOR`] times the slowest call, at least [`DEADLINE_FLOOR`], in whole ms —
    /// each at most its cap.
    pub fn choose(&self, caps: PluginLimits) -> PluginLimits {
        const MIB: usize = 1 << 20;
        let memory = self.peak_memory.saturating_add(self.peak_memory.max(MEMORY_HEADROOM));
        let memory = memory.div_ceil(MIB).saturating_mul(MIB);
        let deadline = self.slowest_call.saturating_mul(DEADLINE_FACTOR).max(DEADLINE_FLOOR);
        let deadline = Duration::from_millis(deadline.as_nanos().div_ceil(1_000_000).min(u64::MAX as u128) as u64);
        PluginLimits { call_deadline: deadline.min(caps.call_deadline), memory_limit: memory.min(caps.memory_limit) }
    }
}

impl PluginLimits {
    /// These limits, each at most its cap in `caps`.
    pub fn capped(self, caps: PluginLimits) -> PluginLimits {
        PluginLimits {
            call_deadline: self.call_deadline.min(caps.call_deadline),
            memory_limit: self.memory_limit.min(caps.memory_limit),
        }
    }

    /// Why these limits are not allowed under `caps` (above a cap, or zero), if they are not.
    pub fn check(&self, caps: PluginLimits) -> Result<(), String> {
        if self.call_deadline.is_zero() || self.memory_limit == 0 {
            return Err("a plugin's call deadline and memory limit must be above zero".into());
        }
        if self.memory_limit > caps.memory_limit {
            return Err(format!(
                "a memory limit of {} bytes is above the operator's cap of {} bytes (serve --plugin-memory-limit)",
                self.memory_limit, caps.memory_limit
            ));
        }
        if self.call_deadline > caps.call_deadline {
            return Err(format!(
                "a call deadline of {} ms is above the operator's cap of {} ms (serve --plugin-call-deadline)",
                self.call_deadline.as_millis(),
                caps.call_deadline.as_millis()
            ));
        }
        Ok(())
    }
}

/// A plugin's current limits, changed in place when stored limits are applied (calls read them
/// when they start).
#[derive(Debug)]
pub struct LimitsCell {
    deadline_us: AtomicU64,
    memory: AtomicUsize,
}

impl LimitsCell {
    /// A cell holding `limits`.
    pub fn new(limits: PluginLimits) -> Self {
        let cell = Self { deadline_us: AtomicU64::new(0), memory: AtomicUsize::new(0) };
        cell.set(limits);
        cell
    }

    /// The limits now.
    pub fn get(&self) -> PluginLimits {
        PluginLimits {
            call_deadline: Duration::from_micros(self.deadline_us.load(Ordering::Relaxed)),
            memory_limit: self.memory.load(Ordering::Relaxed),
        }
    }

    /// Replaces the limits.
    pub fn set(&self, limits: PluginLimits) {
        let us = limits.call_deadline.as_micros().min(u64::MAX as u128) as u64;
        self.deadline_us.store(us, Ordering::Relaxed);
        self.memory.store(limits.memory_limit, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: PluginLimits = PluginLimits { call_deadline: Duration::from_secs(1), memory_limit: 64 << 20 };

    #[test]
    fn a_small_fast_plugin_gets_the_headroom_and_the_floor() {
        let m = Measured { peak_memory: 1_200_000, slowest_call: Duration::from_micros(300) };
        let l = m.choose(CAPS);
        assert_eq!(l.memory_limit, 26 << 20, "1.2 MB + 24 MiB, in whole MiB");
        assert_eq!(l.call_deadline, DEADLINE_FLOOR);
    }

    #[test]
    fn a_large_slow_plugin_gets_twice_its_peak_and_ten_times_its_slowest_call_within_the_caps() {
        let m = Measured { peak_memory: 30 << 20, slowest_call: Duration::from_micros(45_200) };
        let l = m.choose(CAPS);
        assert_eq!(l.memory_limit, 60 << 20);
        assert_eq!(l.call_deadline, Duration::from_millis(452));
        let l = Measured { peak_memory: 40 << 20, slowest_call: Duration::from_millis(300) }.choose(CAPS);
        assert_eq!(l, CAPS, "never above a cap");
    }

    #[test]
    fn limits_above_a_cap_or_zero_are_refused_naming_the_cap() {
        let over = PluginLimits { memory_limit: 65 << 20, ..CAPS };
        assert!(over.check(CAPS).unwrap_err().contains("--plugin-memory-limit"));
        let slow = PluginLimits { call_deadline: Duration::from_secs(2), ..CAPS };
        assert!(slow.check(CAPS).unwrap_err().contains("--plugin-call-deadline"));
        assert!(PluginLimits { memory_limit: 0, ..CAPS }.check(CAPS).is_err());
        assert_eq!(CAPS.check(CAPS), Ok(()));
        assert_eq!(slow.capped(CAPS), CAPS);
    }

    #[test]
    fn the_cell_gives_back_what_was_set() {
        let c = LimitsCell::new(CAPS);
        assert_eq!(c.get(), CAPS);
        let l = PluginLimits { call_deadline: Duration::from_millis(250), memory_limit: 32 << 20 };
        c.set(l);
        assert_eq!(c.get(), l);
    }
}
