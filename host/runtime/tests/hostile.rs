//! The sandbox against real components: the built-ins work, and every hostile plugin is refused
//! at load or contained at call with the right typed error, while the runtime keeps working.

use cgaf_runtime::{Bar, Error, Matrix, PluginHost, PluginKind, RuntimeSettings};
use std::path::PathBuf;
use std::sync::Once;

fn plugins_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/cgaf-target"));
    target.join("plugins")
}

/// Builds the built-in and hostile components once (tests build them rather than skip).
fn build() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let root =
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .arg("--hostile")
            .status()
            .expect("running scripts/build-plugins.sh");
        assert!(status.success(), "scripts/build-plugins.sh --hostile failed");
    });
}

fn component(kind: &str, name: &str) -> Vec<u8> {
    build();
    let path = plugins_dir().join(kind).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn host() -> PluginHost {
    PluginHost::new(RuntimeSettings::default(), 3).unwrap()
}

fn series() -> Vec<f64> {
    (0..64).map(|i| (i as f64 * 0.3).sin()).collect()
}

#[test]
fn builtins_load_and_answer() {
    let h = host();
    for name in ["gasf", "gadf", "mtf", "recurrence-plot", "sma-cross", "blend-mean", "blend-ewma", "blend-product"] {
        let p = h.install(&component("builtin", name)).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    let load = |name: &str| h.runtime.load(&component("hostile", name));

    // Refused at load.
    assert!(matches!(load("wasi-sockets"), Err(Error::ForbiddenImport(_))), "{:?}", load("wasi-sockets").err());
    assert!(matches!(load("wasi-filesystem"), Err(Error::ForbiddenImport(_))), "{:?}", load("wasi-filesystem").err());
    assert!(
        matches!(load("wrong-world"), Err(Error::WrongWorld(_) | Error::InvalidInfo(_))),
        "{:?}",
        load("wrong-world").err()
    );
    assert!(matches!(load("bad-info"), Err(Error::InvalidInfo(_))), "{:?}", load("bad-info").err());
    assert!(matches!(load("slow-info"), Err(Error::Timeout(_))), "{:?}", load("slow-info").err());
    assert!(matches!(h.runtime.load(b"\0asm garbage bytes"), Err(Error::NotAComponent(_))));
    assert!(matches!(h.runtime.load(&[0x42; 4096]), Err(Error::NotAComponent(_))));

    // Contained at call.
    let run = |name: &str| {
        let p = load(name).unwrap_or_else(|e| panic!("{name} should load: {e}"));
        assert_eq!(p.info.kind, PluginKind::ImageTransform);
        // Only the size of a result, never its values, goes into a failure message.
        h.transform_with(&p, &x, &[]).map(|m| m.size)
    };
    assert!(matches!(run("loop"), Err(Error::Timeout(_))), "{:?}", run("loop"));
    assert!(matches!(run("memory-bomb"), Err(Error::MemoryLimit(_))), "{:?}", run("memory-bomb"));
    assert!(matches!(run("stack-overflow"), Err(Error::Trap(_))), "{:?}", run("stack-overflow"));
    assert!(matches!(run("panic"), Err(Error::Trap(_))), "{:?}", run("panic"));
    assert!(
        matches!(run("huge-result"), Err(Error::InvalidResult(_) | Error::MemoryLimit(_))),
        "{:?}",
        run("huge-result")
    );

    // The runtime still works afterwards.
    let gasf = h.runtime.load(&component("builtin", "gasf")).unwrap();
    assert_eq!(h.transform_with(&gasf, &x, &[]).unwrap().size, 64);
}

#[test]
fn repeated_faults_ask_for_quarantine_once() {
    let h = host();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = asked.clone();
    h.set_quarantine_hook(move |q| a.lock().unwrap().push(q));
    h.install(&component("hostile", "panic")).unwrap();
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
