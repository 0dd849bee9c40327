//! Helpers shared by the end-to-end tests: run the real `cgaf` binary and talk to it over HTTP.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `cgaf serve`, terminated (SIGTERM) on drop.
pub struct Service {
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn cgaf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cgaf"))
}

impl Service {
    /// Starts `cgaf serve` with `args`, logging to `<dir>/cgaf.log`, listening on a free port.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let port = free_port();
        let log = dir.join(format!("cgaf-{port}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = cgaf()
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", dir.join("data").to_str().unwrap()])
            .args(args)
            .env_remove("DATABASE_URL")
            .env("CGAF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap();
        Self { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("cgaf did not stop within 30 s after SIGTERM; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// Waits until the service at `base` answers `/readyz` with 200.
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    cgaf_test_kit::eventually(Duration::from_secs(90), "readiness", || {
        let (http, url) = (http.clone(), format!("{base}/readyz"));
        async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
}

/// Starts a run (`POST /api/runs` with `token`) and waits until it has ended; the run's JSON.
pub async fn run_to_end(http: &reqwest::Client, base: &str, token: &str, body: serde_json::Value) -> serde_json::Value {
    let run: serde_json::Value = http
        .post(format!("{base}/api/runs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["run_id"].as_i64().unwrap_or_else(|| panic!("{run}"));
    cgaf_test_kit::eventually(Duration::from_secs(120), "the run to end", || {
        let (http, url) = (http.clone(), format!("{base}/api/runs/{id}"));
        async move {
            let r: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (!matches!(r["status"].as_str(), Some("pending" | "running"))).then_some(r)
        }
    })
    .await
}

/// A migrated test database whose market history holds the Backtrader golden file's 3,000
/// 1-minute bars as BTC-USD (`tests/golden/backtrader/bars-1m.csv`).
pub async fn database_with_golden_bars() -> cgaf_test_kit::TestDatabase {
    let db = tokio::task::spawn_blocking(cgaf_test_kit::database).await.unwrap();
    let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new(db.url.clone())).unwrap();
    store.wait_ready(Duration::from_secs(30)).await.unwrap();
    store.migrate().await.unwrap();
    let bars = std::fs::read(cgaf_test_kit::golden("backtrader/bars-1m.csv")).unwrap();
    let options = cgaf_trade::domain::history::CsvImportOptions::new(60_000);
    let parsed = cgaf_trade::domain::history::read_bars_csv(&bars[..], options).unwrap();
    store.import_bars("BTC-USD", 60_000, "test", &parsed.bars, &[], false).await.unwrap();
    db
}

/// The arguments of a `cgaf serve` that trades: BTC-USD with a 1000-sample window collected every
/// 40 ms from the simulator, the trade worker every 100 ms, writes with `token`, and the
/// raw-sample archive on (sub-second bars: the window alone holds 40 s).
pub fn trading_args<'a>(database_url: &'a str, token: &'a str) -> Vec<&'a str> {
    vec![
        "--database-url",
        database_url,
        "--products",
        "BTC-USD:1000",
        "--collect-schedule",
        "40ms",
        "--api-token",
        token,
        "--trade-schedule",
        "100ms",
        "--keep-samples",
        "1d",
    ]
}

/// The number of 200 ms bars with at least one stored BTC-USD sample.
pub async fn bars_of_history(store: &cgaf_store::Store) -> Option<i64> {
    let sql = "SELECT count(DISTINCT floor(extract(epoch FROM sampled_at) * 5))::int8
               FROM crypto_gaf.samples WHERE product = 'BTC-USD'";
    store.client().await.ok()?.query_one(sql, &[]).await.ok()?.try_get(0).ok()
}

/// Uploads the component at `path` (`POST /api/plugins`, activated or not) with `token`;
/// asserts 201 and answers the uploaded version.
pub async fn upload_plugin(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    activate: bool,
) -> serde_json::Value {
    let r = http
        .post(format!("{base}/api/plugins?activate={activate}"))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(cgaf_test_kit::plugins::read(path))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    assert_eq!(status, 201, "uploading {path}: {body}");
    body
}

/// The SDK of this checkout (`plugins/sdk`).
pub fn sdk() -> std::path::PathBuf {
    cgaf_test_kit::workspace_root().join("plugins/sdk")
}

/// The target folder of plugin projects built outside the workspace, kept between runs and
/// shared by the tests that build them (a cold build of the guest crates takes minutes).
pub fn outside_target_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("cgaf-outside-plugin-target")
}

/// `cgaf ARGS` in `cwd` with data folder `data`, the shared outside target folder, and no
/// inherited rust flags.
pub fn cgaf_in(data: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    cgaf()
        .args(["--data-dir", data.to_str().unwrap()])
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", outside_target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap()
}

/// The standard output of a command that must have succeeded (`what` names it when not).
pub fn succeeded(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// componentize-py: on PATH or in the venv `scripts/setup.sh --python` makes.
pub fn componentize_py_available() -> bool {
    let on_path = Command::new("componentize-py").arg("--version").output().is_ok_and(|o| o.status.success());
    let venv = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/cgaf-python/venv/bin/componentize-py"))
        .is_some_and(|p| p.is_file());
    on_path || venv
}
