//! Compiled plugins shared between replicas: a second runtime (another replica) loads the signed
//! native code the first compiled and gets the same plugin; anything not signed by the
//! deployment's key, or compiled for another engine, is refused before it is deserialized.

use cgaf_runtime::{Artifact, ArtifactKey, Error, Runtime, RuntimeSettings};
use cgaf_test_kit::plugins;

fn runtime(key: Option<&[u8]>) -> Runtime {
    let artifact_key = key.map(|k| ArtifactKey::new(k).unwrap());
    Runtime::new(RuntimeSettings { artifact_key, ..RuntimeSettings::default() }).unwrap()
}

fn gasf_bytes() -> Vec<u8> {
    let (_, _, path) = plugins::ALL.iter().find(|(kind, name, _)| *kind == "builtin" && *name == "gasf").unwrap();
    plugins::read(path)
}

#[test]
fn another_replica_runs_the_signed_code_the_first_compiled() {
    let key = [9u8; 32];
    let first = runtime(Some(&key));
    let bytes = gasf_bytes();
    let compiled = first.load(&bytes).unwrap();
    let artifact = first.artifact(&compiled).unwrap().expect("a key is configured");
    assert_eq!(artifact.sha256, compiled.sha256);
    assert_eq!(artifact.engine, first.engine_fingerprint());

    let second = runtime(Some(&key));
    assert_eq!(second.engine_fingerprint(), first.engine_fingerprint(), "same binary, same engine");
    let loaded = second.load_artifact(&artifact).unwrap();
    assert_eq!(loaded.sha256, compiled.sha256);
    assert_eq!(loaded.info, compiled.info);
    let series: Vec<f64> = (0..64).map(|i| (i as f64 * 0.3).sin()).collect();
    let params = [("image_size".to_string(), "16".to_string())];
    assert_eq!(
        second.transform(&loaded, &series, &params).unwrap(),
        first.transform(&compiled, &series, &params).unwrap()
    );
}

#[test]
fn unsigned_tampered_or_foreign_code_is_refused() {
    let first = runtime(Some(&[9u8; 32]));
    let compiled = first.load(&gasf_bytes()).unwrap();
    let artifact = first.artifact(&compiled).unwrap().unwrap();

    // Without a key nothing is signed and nothing is accepted.
    let keyless = runtime(None);
    assert_eq!(keyless.artifact(&compiled).unwrap(), None);
    assert!(matches!(keyless.load_artifact(&artifact), Err(Error::Artifact(_))));

    // Another deployment's key.
    let other = runtime(Some(&[8u8; 32]));
    let e = other.load_artifact(&artifact).unwrap_err();
    assert!(matches!(&e, Error::Artifact(m) if m.contains("bad signature")), "{e}");

    let same_key = runtime(Some(&[9u8; 32]));
    // One flipped byte of code.
    let mut tampered = artifact.clone();
    let mid = tampered.code.len() / 2;
    tampered.code[mid] ^= 0x40;
    assert!(matches!(same_key.load_artifact(&tampered), Err(Error::Artifact(_))));
    // Signed code claimed for another component.
    let relabelled = Artifact { sha256: "0".repeat(64), ..artifact.clone() };
    assert!(matches!(same_key.load_artifact(&relabelled), Err(Error::Artifact(_))));
    // Another engine configuration (checked before the signature).
    let foreign = Artifact { engine: "another-engine".into(), ..artifact.clone() };
    let e = same_key.load_artifact(&foreign).unwrap_err();
    assert!(matches!(&e, Error::Artifact(m) if m.contains("another-engine")), "{e}");
    // The genuine one still loads.
    same_key.load_artifact(&artifact).unwrap();
}
