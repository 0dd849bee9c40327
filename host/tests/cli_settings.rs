//! Settings are checked before anything starts: a bad flag fails before the database is
//! started or touched, migrations run or plugins load.

use std::process::Command;

fn cgaf(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cgaf"))
        .args(args)
        .env("CGAF_DATA_DIR", data_dir)
        .env_remove("CGAF_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("running cgaf")
}

#[test]
fn a_bad_lease_ttl_fails_before_the_database_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = cgaf(&["serve", "--lease-ttl", "soon"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--lease-ttl"), "{stderr}");
    // The private PostgreSQL was never initialised, so nothing was migrated or loaded.
    assert!(!dir.path().join("postgres").exists(), "the database was started: {stderr}");
    assert!(!dir.path().join("api-token").exists());
}

#[test]
fn a_bad_env_twin_fails_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cgaf"))
        .args(["serve"])
        .env("CGAF_DATA_DIR", dir.path())
        .env("CGAF_LEASE_TTL", "-1s")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--lease-ttl"), "{stderr}");
    assert!(!dir.path().join("postgres").exists());
}

#[test]
fn a_bad_source_setting_fails_before_the_database_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Parsed fine by clap, refused by the source's own validation — still before PostgreSQL.
    let out = cgaf(&["serve", "--source", "coinbase-local", "--aggregation", "0.5"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("whole-number aggregation"), "{stderr}");
    assert!(!dir.path().join("postgres").exists());
}
