//! Two contract versions served side by side: a component built against the released
//! `gaf:plugin@0.1.0` and one built against the next version (`gaf:plugin@0.2.0`, which adds
//! `transform-pixels` and the strategy's `targets`) load in one runtime and answer through the
//! bindings of their own version; uploaded 0.1.0 plugins keep working after the host learns 0.2.0.

use cgaf_runtime::{Bar, Contract, Error, Pixels, PluginKind, Runtime, RuntimeSettings};
use cgaf_test_kit::plugins;

fn builtin(name: &str) -> Vec<u8> {
    let (_, _, path) = plugins::ALL.iter().find(|(kind, n, _)| *kind == "builtin" && *n == name).unwrap();
    plugins::read(path)
}

fn series(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i as f64 * 0.37).sin() * 3.0 + i as f64 * 0.01).collect()
}

#[test]
fn a_0_1_and_a_0_2_component_run_side_by_side() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    let old = rt.load(&builtin("gasf")).unwrap();
    let next = rt.load(&plugins::read(plugins::FIXTURE_GASF_PIXELS)).unwrap();
    assert_eq!(old.contract(), Contract::V0_1);
    assert_eq!(next.contract(), Contract::V0_2);
    assert_eq!(next.info.kind, PluginKind::ImageTransform);
    assert_eq!((next.info.name.as_str(), next.info.version.as_str()), ("gasf-pixels", "0.2.0"));
    // The 0.2.0 component's info lists the same parameters as the 0.1.0 built-in.
    assert_eq!(next.info.params, old.info.params);

    for (n, size) in [(64, "64"), (600, "32"), (256, "256")] {
        let params = [("image_size".to_string(), size.to_string())];
        let s = series(n);
        // `transform` through each version's bindings: the same matrix, bit for bit.
        let m_old = rt.transform(&old, &s, &params).unwrap();
        let m_next = rt.transform(&next, &s, &params).unwrap();
        assert_eq!(m_old, m_next);
        // Pixels: made in the sandbox by 0.2.0, mapped by the host for 0.1.0 — the same bytes,
        // and the host's mapping of the matrix.
        let p_old = rt.transform_pixels(&old, &s, &params).unwrap();
        let p_next = rt.transform_pixels(&next, &s, &params).unwrap();
        let mapped =
            Pixels { size: m_old.size, data: m_old.data.iter().map(|&v| cgaf_plugin_contract::to_pixel(v)).collect() };
        assert_eq!(p_old, mapped);
        assert_eq!(p_next, mapped);
    }
    // Errors keep their type through the new bindings.
    let e = rt.transform_pixels(&next, &[1.0, f64::NAN], &[]).unwrap_err();
    assert!(matches!(&e, Error::Plugin(_)), "{e:?}");
    assert!(e.to_string().contains("Input contains NaN."), "{e}");
}

#[test]
fn the_0_1_worlds_are_unchanged_for_blenders_and_transforms() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    for name in ["blend-mean", "gadf"] {
        let p = rt.load(&builtin(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.contract(), Contract::V0_1, "{name}");
    }
    // The built-in strategy is built against 0.2.0 (for `targets`); a user's 0.1.0 strategy
    // keeps loading as 0.1.0.
    assert_eq!(rt.load(&builtin("sma-cross")).unwrap().contract(), Contract::V0_2);
    assert_eq!(rt.load(&plugins::read(plugins::FIXTURE_MOMENTUM)).unwrap().contract(), Contract::V0_1);
}

/// A wiggly walk of `n` bars, one a minute.
fn walk(n: usize) -> Vec<Bar> {
    let mut p = 100.0;
    (0..n)
        .map(|i| {
            let open = p;
            p += (i as f64 * 0.7).sin() + (i as f64 * 0.13).cos() * 0.5;
            Bar {
                time_ms: 60_000 * (i as i64 + 1),
                open,
                high: open.max(p) + 0.1,
                low: open.min(p) - 0.1,
                close: p,
                volume: 1.0,
                buy_volume: 0.6,
                sell_volume: 0.4,
            }
        })
        .collect()
}

#[test]
fn targets_answer_the_targets_of_on_bars_in_both_versions() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    let bars = walk(5_000);
    let params = [("fast".to_string(), "5".to_string()), ("slow".to_string(), "20".to_string())];
    // sma-cross is 0.2.0 (one `targets` call), momentum 0.1.0 (`on-bars`, reasons dropped).
    for (plugin, params) in [
        (rt.load(&builtin("sma-cross")).unwrap(), &params[..]),
        (rt.load(&plugins::read(plugins::FIXTURE_MOMENTUM)).unwrap(), &[][..]),
    ] {
        let name = plugin.info.name.clone();
        let mut a = rt.strategy(&plugin, params).unwrap();
        let mut b = rt.strategy(&plugin, params).unwrap();
        let mut want = Vec::new();
        let mut got = Vec::new();
        for chunk in bars.chunks(777) {
            want.extend(a.on_bars(chunk).unwrap().into_iter().map(|d| d.target));
            got.extend(b.targets(chunk).unwrap());
            assert_eq!(a.state().unwrap(), b.state().unwrap(), "{name}: the same state after each call");
        }
        assert_eq!(got, want, "{name}");
        assert!(got.iter().any(|&t| t != got[0]), "{name}: the walk makes the strategy change its mind");
        // A refusal keeps its type.
        let mut bad = bars[..3].to_vec();
        bad[1].close = f64::NAN;
        if name == "sma-cross" {
            let e = b.targets(&bad).unwrap_err();
            assert!(matches!(&e, Error::Plugin(_)) && e.to_string().contains("bar 1"), "{e}");
        }
    }
}

#[test]
fn one_bar_calls_answer_as_a_list_of_bars_does_in_both_versions() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    let bars = walk(3_000);
    let params = [("fast".to_string(), "5".to_string()), ("slow".to_string(), "20".to_string())];
    // sma-cross is 0.2.0 (a one-bar call is `on-bar`), momentum 0.1.0 (a one-bar `on-bars`).
    for (plugin, params) in [
        (rt.load(&builtin("sma-cross")).unwrap(), &params[..]),
        (rt.load(&plugins::read(plugins::FIXTURE_MOMENTUM)).unwrap(), &[][..]),
    ] {
        let name = plugin.info.name.clone();
        let mut listed = rt.strategy(&plugin, params).unwrap();
        let mut one_by_one = rt.strategy(&plugin, params).unwrap();
        for chunk in bars.chunks(500) {
            let want = listed.on_bars(chunk).unwrap();
            let got: Vec<_> = chunk.iter().flat_map(|b| one_by_one.on_bars(std::slice::from_ref(b)).unwrap()).collect();
            assert_eq!(got, want, "{name}: the same targets and reasons");
            assert_eq!(listed.state().unwrap(), one_by_one.state().unwrap(), "{name}: the same state");
        }
        // A refusal keeps its type and its text.
        let mut bad = bars[0];
        bad.close = f64::NAN;
        if name == "sma-cross" {
            let e = one_by_one.on_bars(std::slice::from_ref(&bad)).unwrap_err();
            let want = listed.on_bars(std::slice::from_ref(&bad)).unwrap_err();
            assert!(matches!(&e, Error::Plugin(_)) && e.to_string().contains("has close NaN"), "{e}");
            assert_eq!(e.to_string(), want.to_string());
        }
    }
}

#[test]
fn a_0_2_strategy_whose_targets_lie_is_refused() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    let plugin = rt.load(&plugins::read(plugins::HOSTILE_LYING_TARGETS)).unwrap();
    assert_eq!((plugin.info.kind, plugin.contract()), (PluginKind::Strategy, Contract::V0_2));
    let bars = walk(10);
    for (lie, says) in [
        ("count", "11 targets for 10 bars"),
        ("range", "target 2 is outside [-1, 1]"),
        ("nan", "target NaN is outside [-1, 1]"),
    ] {
        let mut s = rt.strategy(&plugin, &[("lie".to_string(), lie.to_string())]).unwrap();
        let e = s.targets(&bars).unwrap_err();
        assert!(matches!(&e, Error::InvalidResult(_)) && e.to_string().contains(says), "{lie}: {e}");
        // The honest call still works on the same instance (a refused answer is not a trap).
        assert_eq!(s.on_bars(&bars).unwrap().len(), 10, "{lie}");
        // One bar goes through `on-bar`, whose lies are refused the same way.
        match lie {
            "count" => assert_eq!(s.on_bars(&bars[..1]).unwrap()[0].target, 0.0),
            _ => {
                let e = s.on_bars(&bars[..1]).unwrap_err();
                assert!(matches!(&e, Error::InvalidResult(_)) && e.to_string().contains(&says[3..]), "{lie}: {e}");
            }
        }
    }
    let mut honest = rt.strategy(&plugin, &[("lie".to_string(), "none".to_string())]).unwrap();
    assert_eq!(honest.targets(&bars).unwrap(), vec![0.0; 10]);
}
