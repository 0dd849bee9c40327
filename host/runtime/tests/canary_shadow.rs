//! Canary shadowing in the plugin host, through the sandbox: while a canary runs, a live call of
//! the active version is followed by the candidate on the same input; its result is only
//! compared — the caller gets the active version's — and the tally says what differed. Image
//! transforms (values and 8-bit pixels) and blenders (the norm of the difference) alike; a call
//! of another version than the one the canary compares with is not shadowed.

use cgaf_runtime::canary::judge;
use cgaf_runtime::{Canary, Matrix, PluginHost, RuntimeSettings, Tolerance, Verdict};
use cgaf_test_kit::plugins;

fn builtin(name: &str) -> Vec<u8> {
    let (_, _, path) = plugins::ALL.iter().find(|(kind, n, _)| *kind == "builtin" && *n == name).unwrap();
    plugins::read(path)
}

fn series(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i as f64 * 0.37).sin() * 3.0 + i as f64 * 0.01).collect()
}

fn host() -> PluginHost {
    let host = PluginHost::new(RuntimeSettings::default(), 5).unwrap();
    for name in ["gasf", "gadf", "blend-mean"] {
        host.install(&builtin(name)).unwrap();
    }
    host
}

fn canary_of(host: &PluginHost, id: i64, candidate: &str) -> Canary {
    let candidate = host.runtime.load(&plugins::read(candidate)).unwrap();
    let active = host.registry.get(&candidate.info.name).unwrap();
    Canary::new(id, candidate.info.name.clone(), active.info.version.clone(), candidate)
}

#[test]
fn an_identical_transform_matches_and_a_changed_one_differs_while_callers_get_the_active_answer() {
    let host = host();
    host.set_canaries(vec![
        canary_of(&host, 1, plugins::FIXTURE_GASF_SAME),
        canary_of(&host, 2, plugins::FIXTURE_GADF_NEXT),
    ]);
    let s = series(48);
    let gasf = host.transform("gasf", &s, &[]).unwrap();
    let gadf = host.transform("gadf", &s, &[]).unwrap();
    host.transform("gadf", &s, &[]).unwrap();
    // The answers are the active built-ins'.
    let rt = &host.runtime;
    assert_eq!(gasf, rt.transform(&host.registry.get("gasf").unwrap(), &s, &[]).unwrap());
    assert_eq!(gadf, rt.transform(&host.registry.get("gadf").unwrap(), &s, &[]).unwrap());

    let canaries = host.canaries();
    let tally = |id| canaries.iter().find(|c| c.id == id).unwrap().take();
    let same = tally(1);
    assert_eq!((same.calls, same.values_compared, same.values_changed, same.candidate_errors), (1, 48 * 48, 0, 0));
    assert!(same.candidate_seconds > 0.0 && same.active_seconds > 0.0 && same.candidate_peak_memory > 0);
    assert!(matches!(
        judge(&same, &Tolerance { max_latency_ratio: 100.0, ..Default::default() }, true),
        Verdict::Promote(_)
    ));
    // gadf 1.1.0 answers the transpose (= the negation) of the active GADF.
    let changed = tally(2);
    assert_eq!(changed.calls, 2);
    let off_diagonal = 48 * 48 - 48;
    assert!(changed.values_changed as usize >= off_diagonal - 48, "{changed:?}");
    assert!(changed.pixels_changed > 0 && changed.max_abs_diff > 0.5, "{changed:?}");
    let Verdict::Refuse(why) = judge(&changed, &Tolerance::default(), true) else { panic!("{changed:?}") };
    assert!(why.starts_with("outputs differ"), "{why}");
    // Taken: the next take is empty.
    assert!(canaries[0].take().is_empty());
}

#[test]
fn a_blender_candidate_is_compared_by_the_norm_of_the_difference() {
    let host = host();
    host.set_canaries(vec![canary_of(&host, 3, plugins::FIXTURE_BLEND_NEXT)]);
    let m = |v: f64| Matrix { size: 2, data: vec![v, 1.0 - v, 1.0 - v, v] };
    let blended = host.blend("blend-mean", &[m(0.2), m(0.6)], &[]).unwrap();
    let mean = m(0.4);
    assert!(
        blended.data.iter().zip(&mean.data).all(|(a, b)| (a - b).abs() < 1e-12),
        "the caller gets the active mean: {blended:?}"
    );
    let t = host.canaries()[0].take();
    // blend-mean 1.1.0 answers the newest matrix: 0.2 off on every entry.
    assert_eq!((t.calls, t.values_changed, t.pixels_changed), (1, 4, 0));
    assert!((t.max_abs_diff - 0.2).abs() < 1e-12 && (t.max_matrix_diff_norm - 0.4).abs() < 1e-12, "{t:?}");
    let Verdict::Refuse(why) = judge(&t, &Tolerance { max_abs_diff: 1.0, ..Default::default() }, true) else {
        panic!("{t:?}")
    };
    assert!(why.starts_with("matrices differ"), "{why}");
}

#[test]
fn only_calls_of_the_compared_version_are_shadowed_and_a_crashing_candidate_is_refused_at_once() {
    let host = host();
    host.set_canaries(vec![canary_of(&host, 4, plugins::FIXTURE_GASF_CRASH)]);
    // A live call of the active version: the candidate traps on it; the caller still gets its answer.
    assert!(host.transform("gasf", &series(40), &[]).is_ok());
    let t = host.canaries()[0].take();
    assert_eq!((t.calls, t.candidate_errors), (1, 1));
    assert!(t.first_candidate_error.as_deref().unwrap().contains("trap"), "{t:?}");
    let Verdict::Refuse(why) = judge(&t, &Tolerance::default(), false) else { panic!() };
    assert!(why.starts_with("the candidate failed 1 of 1"), "{why}");
    // Once another version is active, the canary (made against the built-in) shadows nothing.
    host.install(&plugins::read(plugins::FIXTURE_GASF_SAME)).unwrap();
    host.transform("gasf", &series(40), &[]).unwrap();
    assert!(host.canaries()[0].take().is_empty());
    // A set without it stops the shadowing.
    host.set_canaries(vec![]);
    assert!(host.canaries().is_empty());
}
