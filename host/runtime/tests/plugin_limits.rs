//! Per-plugin limits against real components: the upload's measurement chooses more memory for a
//! plugin that uses more, each plugin's calls run under its own limits (not the caps), and no
//! limit goes above a cap.

use cgaf_runtime::{Error, PluginHost, PluginLimits, RuntimeSettings};
use cgaf_test_kit::plugins;
use std::time::Duration;

fn host() -> PluginHost {
    let settings =
        RuntimeSettings { call_deadline: Duration::from_secs(1), memory_limit: 64 << 20, ..RuntimeSettings::default() };
    PluginHost::new(settings, 3).unwrap()
}

#[test]
fn each_plugin_runs_under_its_own_limits_within_the_caps() {
    let h = host();
    let caps = h.runtime.caps();
    let sma = h.runtime.load(&plugins::read(plugins::BUILTIN_SMA_CROSS)).unwrap();
    let m = h.measure(&sma).unwrap();
    assert!(m.peak_memory > 0 && m.slowest_call > Duration::ZERO, "{m:?}");
    let chosen = m.choose(caps);
    assert!(chosen.memory_limit > m.peak_memory && chosen.memory_limit <= caps.memory_limit, "{chosen:?}");
    assert!(chosen.call_deadline >= Duration::from_millis(100) && chosen.call_deadline <= caps.call_deadline);

    // A loop that runs past its own deadline is stopped there, not at the cap's.
    let looping = h.runtime.load(&plugins::read(plugins::HOSTILE_LOOP)).unwrap();
    assert_eq!(looping.limits(), caps, "a plugin without limits of its own runs under the caps");
    let short = PluginLimits { call_deadline: Duration::from_millis(20), memory_limit: 16 << 20 };
    assert_eq!(h.runtime.set_limits(&looping, short), short);
    let (r, _) = h.runtime.transform_traced(&looping, &[1.0, 2.0], &[]);
    assert_eq!(r.unwrap_err(), Error::Timeout(20));

    // A memory bomb is stopped at its own memory limit; the failure record would keep it.
    let bomb = h.runtime.load(&plugins::read(plugins::HOSTILE_MEMORY_BOMB)).unwrap();
    h.runtime.set_limits(&bomb, short);
    let (r, _) = h.runtime.transform_traced(&bomb, &[1.0, 2.0], &[]);
    assert_eq!(r.unwrap_err(), Error::MemoryLimit(16 << 20));
    assert_eq!(h.runtime.limits(&bomb).memory_limit, 16 << 20);

    // Limits above the caps are capped when applied.
    let over = PluginLimits { call_deadline: Duration::from_secs(5), memory_limit: 1 << 30 };
    assert_eq!(h.runtime.set_limits(&sma, over), caps);
}
