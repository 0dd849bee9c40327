//! Strategy instances created by the plugin host are counted like transforms and blenders: calls,
//! faults by kind, latency and peak memory per version, quarantine after faults in a row, and a
//! failure record with inputs that make the same call again on a fresh instance.

use cgaf_runtime::{Bar, CallInputs, Error, FailureRecord, PluginHost, RuntimeSettings, StrategyCall};
use cgaf_test_kit::plugins;
use std::sync::{Arc, Mutex};

fn bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let p = 100.0 + (i as f64 * 0.7).sin();
            Bar {
                time_ms: 1_764_000_000_000 + i as i64 * 1000,
                open: p,
                high: p,
                low: p,
                close: p,
                volume: 1.0,
                buy_volume: 0.5,
                sell_volume: 0.5,
            }
        })
        .collect()
}

#[test]
fn strategy_calls_are_counted_quarantined_and_recorded_with_replayable_inputs() {
    let h = PluginHost::new(RuntimeSettings::default(), 3).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let records: Arc<Mutex<Vec<FailureRecord>>> = Arc::default();
    {
        let (a, r) = (asked.clone(), records.clone());
        h.set_quarantine_hook(move |q| a.lock().unwrap().push(q));
        h.set_failure_sink(move |f| r.lock().unwrap().push(f));
    }
    let faulty = h.runtime.load(&plugins::read(plugins::FIXTURE_MOMENTUM_FAULTY)).unwrap();
    let params = vec![("lookback".to_string(), "3".to_string())];
    let bars = bars(20);

    // One bar per call, the state every bar (as a run does): 12 bars pass, the 13th traps.
    let mut s = h.strategy_instance(&faulty, &params).unwrap();
    for b in &bars[..12] {
        s.on_bars(std::slice::from_ref(b)).unwrap();
        s.state().unwrap();
    }
    let e = s.on_bars(&bars[12..13]).unwrap_err();
    assert!(matches!(e, Error::Trap(_)), "{e:?}");
    assert_eq!(s.last_call(), "on_bars");

    // Two more instances restored at bar 10 fault when fed three bars in one call: create and
    // restore do not end the run of faults, so the third fault in a row asks for the quarantine.
    let state = {
        let mut t = h.runtime.strategy(&faulty, &params).unwrap();
        t.on_bars(&bars[..10]).unwrap();
        t.state().unwrap()
    };
    for _ in 0..2 {
        let mut s = h.strategy_instance(&faulty, &params).unwrap();
        s.restore(&state).unwrap();
        s.on_bars(&bars[10..13]).unwrap_err();
    }
    let stats = h.registry.stats_of("momentum")["0.2.0"].clone();
    assert_eq!(stats.faults.get("trap"), Some(&3), "{stats:?}");
    assert_eq!(stats.calls, 1 + 24 + 1 + 2 * 3, "creates, on_bars and states, restores: {stats:?}");
    assert_eq!(stats.latency_buckets.iter().sum::<u64>(), stats.calls, "every call in a latency bucket");
    assert!(stats.peak_memory > 0 && stats.quarantines == 1, "{stats:?}");
    assert_eq!(asked.lock().unwrap().len(), 1);
    assert!(h.quarantine_requested("momentum", "0.2.0"));

    // The records: the state the instance last wrote or was given, the calls since, the call.
    let records = records.lock().unwrap();
    assert_eq!(records.len(), 3);
    let CallInputs::Strategy { restored, fed, failed, .. } = &records[0].inputs else { panic!() };
    assert!(restored.as_deref().unwrap().contains("\"seen\":12") && fed.is_empty(), "{restored:?} {fed:?}");
    assert_eq!(failed, &StrategyCall::OnBars { bars: bars[12..13].to_vec() });
    let CallInputs::Strategy { restored, fed, failed, .. } = &records[2].inputs else { panic!() };
    assert_eq!(restored.as_deref(), Some(state.to_string().as_str()));
    assert!(fed.is_empty() && failed == &StrategyCall::OnBars { bars: bars[10..13].to_vec() });
    assert_eq!(records[2].error, e, "the same typed error");

    // Made again from the record on a fresh instance: the identical typed error.
    for r in records.iter() {
        let CallInputs::Strategy { params, restored, fed, failed: StrategyCall::OnBars { bars } } = &r.inputs else {
            panic!()
        };
        let mut s = h.runtime.strategy(&faulty, params).unwrap();
        if let Some(text) = restored {
            s.restore_text(text.clone()).unwrap();
        }
        for b in fed {
            s.on_bars(b).unwrap();
        }
        assert_eq!(s.on_bars(bars).unwrap_err(), r.error);
    }
}

#[test]
fn an_instance_keeps_bounded_inputs_without_state_captures() {
    let h = PluginHost::new(RuntimeSettings::default(), 3).unwrap();
    let records: Arc<Mutex<Vec<FailureRecord>>> = Arc::default();
    let r = records.clone();
    h.set_failure_sink(move |f| r.lock().unwrap().push(f));
    let momentum = h.runtime.load(&plugins::read(plugins::FIXTURE_MOMENTUM)).unwrap();
    let mut s = h.strategy_instance(&momentum, &[]).unwrap();
    // 10,000 bars in calls of 100, no state asked for: the instance asks for one itself when the
    // bars kept since the last would pass 4096.
    let bars = bars(10_000);
    for c in bars.chunks(100) {
        s.on_bars(c).unwrap();
    }
    let stats = h.registry.stats_of("momentum")["0.1.0"].clone();
    assert_eq!(stats.calls, 1 + 100 + 2, "create, 100 on_bars and two states of its own: {stats:?}");
    assert!(records.lock().unwrap().is_empty());
}
