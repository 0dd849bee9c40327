//! The sandbox against real components: the built-ins work, and every hostile plugin is refused
//! at load or contained at call with the right typed error, while the runtime keeps working.

use cgaf_runtime::{Bar, Error, Matrix, PluginHost, PluginKind, RuntimeSettings};
use cgaf_test_kit::plugins;

fn host() -> PluginHost {
    PluginHost::new(RuntimeSettings::default(), 3).unwrap()
}

fn series() -> Vec<f64> {
    (0..64).map(|i| (i as f64 * 0.3).sin()).collect()
}

#[test]
fn builtins_load_and_answer() {
    let h = host();
    let builtins = plugins::ALL.iter().filter(|(kind, _, _)| *kind == "builtin");
    for &(_, name, path) in builtins {
        let p = h.install(&plugins::read(path)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.info.name, name);
        assert_eq!(p.info.version, "1.0.0");
    }
    let m = h.transform("gasf", &series(), &[("image_size".into(), "8".into())]).unwrap();
    assert_eq!(m.size, 8);
    // pyts's errors come through typed, with pyts's text.
    let e = h.transform("gasf", &[1.0, f64::NAN], &[]).unwrap_err();
    assert!(matches!(&e, Error::Plugin(_)), "{e:?}");
    assert!(e.to_string().contains("Input contains NaN."), "{e}");
    let ones = Matrix { size: 2, data: vec![1.0, 2.0, 3.0, 4.0] };
    let twos = Matrix { size: 2, data: vec![3.0, 2.0, 1.0, 0.0] };
    assert_eq!(h.blend("blend-mean", &[ones.clone(), twos.clone()], &[]).unwrap().data, vec![2.0; 4]);
    assert_eq!(h.blend("blend-product", &[ones, twos], &[]).unwrap().data, vec![3.0, 4.0, 3.0, 0.0]);
    let mut s = h.strategy("sma-cross", &[("fast".into(), "2".into()), ("slow".into(), "4".into())]).unwrap();
    let bars: Vec<Bar> = (0..10)
        .map(|i| {
            let p = if i < 5 { 100.0 - i as f64 } else { 90.0 + 3.0 * i as f64 };
            Bar { time_ms: i, open: p, high: p, low: p, close: p, volume: 1.0, buy_volume: 0.5, sell_volume: 0.5 }
        })
        .collect();
    let d = s.on_bars(&bars).unwrap();
    assert_eq!(d.len(), bars.len());
    assert_eq!(d[0].target, 0.0, "warm-up");
    assert_eq!(d.last().unwrap().target, 1.0);
    assert!(s.state().unwrap().is_object());
}

#[test]
fn hostile_plugins_are_refused_or_contained() {
    let h = host();
    let x = series();
    let load = |path: &str| h.runtime.load(&plugins::read(path));

    // Refused at load.
    assert!(
        matches!(load(plugins::HOSTILE_WASI_SOCKETS), Err(Error::ForbiddenImport(_))),
        "{:?}",
        load(plugins::HOSTILE_WASI_SOCKETS).err()
    );
    assert!(
        matches!(load(plugins::HOSTILE_WASI_FILESYSTEM), Err(Error::ForbiddenImport(_))),
        "{:?}",
        load(plugins::HOSTILE_WASI_FILESYSTEM).err()
    );
    assert!(
        matches!(load(plugins::HOSTILE_WRONG_WORLD), Err(Error::WrongWorld(_) | Error::InvalidInfo(_))),
        "{:?}",
        load(plugins::HOSTILE_WRONG_WORLD).err()
    );
    assert!(
        matches!(load(plugins::FIXTURE_BAD_INFO), Err(Error::InvalidInfo(_))),
        "{:?}",
        load(plugins::FIXTURE_BAD_INFO).err()
    );
    assert!(
        matches!(load(plugins::HOSTILE_SLOW_INFO), Err(Error::Timeout(_))),
        "{:?}",
        load(plugins::HOSTILE_SLOW_INFO).err()
    );
    assert!(matches!(h.runtime.load(b"\0asm garbage bytes"), Err(Error::NotAComponent(_))));
    assert!(matches!(h.runtime.load(&[0x42; 4096]), Err(Error::NotAComponent(_))));

    // Contained at call.
    let run = |path: &str| {
        let p = load(path).unwrap_or_else(|e| panic!("{path} should load: {e}"));
        assert_eq!(p.info.kind, PluginKind::ImageTransform);
        // Only the size of a result, never its values, goes into a failure message.
        h.transform_with(&p, &x, &[]).map(|m| m.size)
    };
    assert!(matches!(run(plugins::HOSTILE_LOOP), Err(Error::Timeout(_))), "{:?}", run(plugins::HOSTILE_LOOP));
    assert!(
        matches!(run(plugins::HOSTILE_MEMORY_BOMB), Err(Error::MemoryLimit(_))),
        "{:?}",
        run(plugins::HOSTILE_MEMORY_BOMB)
    );
    assert!(
        matches!(run(plugins::HOSTILE_STACK_OVERFLOW), Err(Error::Trap(_))),
        "{:?}",
        run(plugins::HOSTILE_STACK_OVERFLOW)
    );
    assert!(matches!(run(plugins::HOSTILE_PANIC), Err(Error::Trap(_))), "{:?}", run(plugins::HOSTILE_PANIC));
    assert!(
        matches!(run(plugins::HOSTILE_HUGE_RESULT), Err(Error::InvalidResult(_) | Error::MemoryLimit(_))),
        "{:?}",
        run(plugins::HOSTILE_HUGE_RESULT)
    );

    // The runtime still works afterwards.
    let gasf = h.runtime.load(&plugins::read(plugins::BUILTIN_GASF)).unwrap();
    assert_eq!(h.transform_with(&gasf, &x, &[]).unwrap().size, 64);
}

#[test]
fn repeated_faults_ask_for_quarantine_once() {
    let h = host();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = asked.clone();
    h.set_quarantine_hook(move |q| a.lock().unwrap().push(q));
    h.install(&plugins::read(plugins::HOSTILE_PANIC)).unwrap();
    assert_eq!(h.registry.get("hostile-panic").unwrap().info.name, "hostile-panic");
    for _ in 0..6 {
        assert!(h.transform("hostile-panic", &series(), &[]).is_err());
    }
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].name, "hostile-panic");
    let stats = h.registry.stats_of("hostile-panic");
    assert_eq!(stats.values().next().unwrap().calls, 6);
}
