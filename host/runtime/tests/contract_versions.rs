//! Two contract versions served side by side: a component built against the released
//! `gaf:plugin@0.1.0` and one built against the next version (`gaf:plugin@0.2.0`, which adds
//! `transform-pixels`) load in one runtime and answer through the bindings of their own version;
//! uploaded 0.1.0 plugins keep working after the host learns 0.2.0.

use cgaf_runtime::{Contract, Error, Pixels, PluginKind, Runtime, RuntimeSettings};
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
fn the_0_1_worlds_are_unchanged_for_blenders_and_strategies() {
    let rt = Runtime::new(RuntimeSettings::default()).unwrap();
    for name in ["blend-mean", "sma-cross", "gadf"] {
        let p = rt.load(&builtin(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.contract(), Contract::V0_1, "{name}");
    }
}
