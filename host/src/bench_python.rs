//! `cgaf bench --only python-plugin`: what a Python plugin costs. The scaffold's Python image
//! transform and strategy are built with componentize-py (as `cgaf plugin new … --lang python`
//! and `cgaf plugin build` make them), then
//!
//! - upload-to-ready of the Python component: cold — `POST /api/plugins?activate=true` to a
//!   fresh `cgaf serve --roles api` (compile, smoke and sizing calls, store), until its answer
//!   (the answering replica serves it then); warm — a second replica (same artifact key), from
//!   that answer until it serves the version, loading the compiled code the first one shared; and
//!   a restart of the first replica, from its start until it serves the version again;
//! - the per-call cost of a strategy fed 10,000 bars per call, the Python scaffold against the
//!   Rust built-in `sma-cross`, in one sandbox (caps raised so that the calls are measured, not
//!   cut off).

use crate::bench_service::ServiceChild;
use anyhow::{Context, Result};
use cgaf_runtime::{PluginHost, RuntimeSettings};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "cgaf-bench-python";
/// A key both replicas hold (a benchmark's, not a secret).
const ARTIFACT_KEY: &str = "cgaf-bench-python-artifact-key-0123456789abc";
/// Bars per strategy call.
pub(crate) const BARS_PER_CALL: usize = 10_000;

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub(crate) struct PythonBench {
    /// Size of the Python transform component, bytes.
    pub component_bytes: usize,
    /// Upload sent → answered by a fresh replica (compiled there).
    pub cold: Duration,
    /// The upload's answer → a second replica serves it (shared compiled code).
    pub second_replica: Duration,
    /// A restarted replica: process start → serves the version.
    pub restart: Duration,
    /// The same restart without an artifact key (compiled again, or from the wasmtime cache on disk).
    pub restart_without_key: Duration,
    /// Median time of one call with [`BARS_PER_CALL`] bars: Python, Rust.
    pub python_call: Duration,
    /// The same for the Rust strategy.
    pub rust_call: Duration,
    /// Peak linear memory of the Python strategy's instance, bytes.
    pub python_peak: usize,
    /// Peak linear memory of the Rust strategy's instance, bytes.
    pub rust_peak: usize,
    /// The limits its upload chose for the Python transform (deadline ms, memory bytes).
    pub python_limits: serde_json::Value,
}

/// Scaffolds and builds a Python plugin of `kind` named `name` in `dir` as an author does
/// (`cgaf plugin new KIND NAME --lang python`, `cgaf plugin build --json`); the component's path.
fn build_python(dir: &Path, kind: &str, name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the cgaf binary")?;
    let run = |cwd: &Path, args: &[&str]| -> Result<Vec<u8>> {
        let out = std::process::Command::new(&exe)
            .args(["--data-dir"])
            .arg(dir.join("data"))
            .args(args)
            .current_dir(cwd)
            .output()
            .with_context(|| format!("running cgaf {}", args.join(" ")))?;
        anyhow::ensure!(
            out.status.success(),
            "cgaf {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(out.stdout)
    };
    run(dir, &["plugin", "new", kind, name, "--lang", "python"])?;
    let built: serde_json::Value = serde_json::from_slice(&run(&dir.join(name), &["plugin", "build", "--json"])?)
        .context("the answer of cgaf plugin build --json")?;
    Ok(PathBuf::from(built["wasm"].as_str().context("cgaf plugin build --json names no wasm")?))
}

/// Runs the benchmark in a temporary folder.
pub(crate) async fn bench_python(calls: usize) -> Result<PythonBench> {
    let dir = std::env::temp_dir().join(format!("cgaf-bench-python-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, calls).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(dir: &Path, calls: usize) -> Result<PythonBench> {
    let d = dir.to_path_buf();
    let (transform, strategy) = tokio::task::spawn_blocking(move || {
        eprintln!("  building the Python image transform and strategy with componentize-py ...");
        Ok::<_, anyhow::Error>((
            build_python(&d, "image-transform", "bench-py-field")?,
            build_python(&d, "strategy", "bench-py-momentum")?,
        ))
    })
    .await??;
    let bytes = std::fs::read(&transform)?;
    let (cold, second_replica, restart, restart_without_key, python_limits) = upload_to_ready(dir, &bytes).await?;
    let strategy_bytes = std::fs::read(&strategy)?;
    let (python_call, rust_call, python_peak, rust_peak) =
        tokio::task::spawn_blocking(move || per_call(&strategy_bytes, calls)).await??;
    Ok(PythonBench {
        component_bytes: bytes.len(),
        cold,
        second_replica,
        restart,
        restart_without_key,
        python_call,
        rust_call,
        python_peak,
        rust_peak,
        python_limits,
    })
}

/// Asks `base` to run the Python transform until it answers 200; when it did.
async fn served(http: &reqwest::Client, base: &str, within: Duration) -> Result<Instant> {
    let url = format!("{base}/api/transforms/bench-py-field");
    let body = serde_json::json!({"series": [1.0, 3.0, 2.0, 5.0, 4.0]});
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http.post(&url).json(&body).send().await {
            if r.status().is_success() {
                return Ok(Instant::now());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{base} did not serve the Python transform within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

type ReadyTimes = (Duration, Duration, Duration, Duration, serde_json::Value);

async fn upload_to_ready(dir: &Path, bytes: &[u8]) -> Result<ReadyTimes> {
    let pg_dir = dir.join("pg");
    let pg = tokio::task::spawn_blocking(move || {
        cgaf_embedded_postgres::EmbeddedPostgres::start(&cgaf_embedded_postgres::EmbeddedOptions::new(pg_dir))
    })
    .await?
    .context("starting a private PostgreSQL for the Python benchmark")?;
    let url = pg.url();
    let http = reqwest::Client::new();
    let key = vec!["--plugin-artifact-key".to_string(), ARTIFACT_KEY.to_string()];
    let mut a = ServiceChild::start(&url, &dir.join("a"), "api", "BENCH-USD", TOKEN, &key)?;
    let mut b = ServiceChild::start(&url, &dir.join("b"), "api", "BENCH-USD", TOKEN, &key)?;
    a.wait_ready(&http).await?;
    b.wait_ready(&http).await?;

    let sent = Instant::now();
    let r = http
        .post(format!("{}/api/plugins?activate=true", a.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(bytes.to_vec())
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .context("uploading the Python transform")?;
    let status = r.status();
    let answer: serde_json::Value = r.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "upload: {status} {answer}");
    let answered = Instant::now();
    served(&http, &a.base, Duration::from_secs(5)).await.context("the uploading replica serves its upload")?;
    let on_b = served(&http, &b.base, Duration::from_secs(120)).await?;

    // A restart of the first replica, with the key: it loads the shared code.
    drop(a);
    let started = Instant::now();
    let a = ServiceChild::start(&url, &dir.join("a"), "api", "BENCH-USD", TOKEN, &key)?;
    let restart = served(&http, &a.base, Duration::from_secs(120)).await?.saturating_duration_since(started);
    drop(a);
    // And without it: it compiles (wasmtime's cache in its data folder may hold the code).
    let started = Instant::now();
    let c = ServiceChild::start(&url, &dir.join("c"), "api", "BENCH-USD", TOKEN, &[])?;
    let restart_without_key =
        served(&http, &c.base, Duration::from_secs(300)).await?.saturating_duration_since(started);
    drop((b, c));
    Ok((
        answered - sent,
        on_b.saturating_duration_since(answered),
        restart,
        restart_without_key,
        answer["limits"].clone(),
    ))
}

/// `n` one-minute bars of a wavy price (two incommensurate waves, so that crossings vary).
fn bars(n: usize) -> Vec<cgaf_runtime::Bar> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            let p = 100.0 + 5.0 * (x * 0.013).sin() + 2.0 * (x * 0.071).sin();
            cgaf_runtime::Bar {
                time_ms: 1_700_000_000_000 + i as i64 * 60_000,
                open: p,
                high: p + 0.2,
                low: p - 0.2,
                close: p,
                volume: 1.0,
                buy_volume: 0.5,
                sell_volume: 0.5,
            }
        })
        .collect()
}

/// The median time of one `on_bars` call of [`BARS_PER_CALL`] bars, and the instance's peak
/// memory: the Python strategy, then the Rust built-in `sma-cross`.
fn per_call(python: &[u8], calls: usize) -> Result<(Duration, Duration, usize, usize)> {
    let settings = RuntimeSettings {
        call_deadline: Duration::from_secs(30),
        memory_limit: 512 << 20,
        ..crate::settings::runtime_with_cache(
            RuntimeSettings::default(),
            &std::env::temp_dir().join("cgaf-bench-python-cache"),
        )
    };
    let host = PluginHost::new(settings, 5)?;
    let bars = bars(BARS_PER_CALL * calls.max(1));
    let measure = |bytes: &[u8], params: &[(String, String)]| -> Result<(Duration, usize)> {
        let plugin = host.runtime.load(bytes)?;
        let mut s = host.runtime.strategy(&plugin, params)?;
        let mut times = Vec::with_capacity(calls);
        for chunk in bars.chunks(BARS_PER_CALL) {
            let t = Instant::now();
            s.on_bars(chunk)?;
            times.push(t.elapsed());
        }
        times.sort();
        Ok((times[times.len() / 2], s.peak_memory()))
    };
    let builtin = crate::plugin_host::builtin("sma-cross").context("the built-in sma-cross")?;
    let (py, py_peak) = measure(python, &[("lookback".into(), "10".into())])?;
    let (rs, rs_peak) = measure(builtin, &[("fast".into(), "10".into()), ("slow".into(), "30".into())])?;
    Ok((py, rs, py_peak, rs_peak))
}

/// Prints the results.
pub(crate) fn print(b: &PythonBench, calls: usize) {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let per_bar = |d: Duration| d.as_secs_f64() * 1e6 / BARS_PER_CALL as f64;
    println!(
        "\nPython plugin ({:.1} MB component): upload to ready {} cold (compile, smoke and sizing calls, store); a second replica serves it {} after the answer (shared compiled code); a restarted replica serves it {} after its start (shared code), {} without the artifact key",
        b.component_bytes as f64 / 1e6,
        ms(b.cold),
        ms(b.second_replica),
        ms(b.restart),
        ms(b.restart_without_key),
    );
    println!(
        "Python plugin: a strategy call of {BARS_PER_CALL} bars (median of {calls}) takes {} ({:.2} µs a bar, peak memory {:.1} MiB) in Python, {} ({:.3} µs a bar, {:.1} MiB) in Rust (sma-cross): {:.0}x; limits its upload chose for the Python transform: {}",
        ms(b.python_call),
        per_bar(b.python_call),
        b.python_peak as f64 / (1 << 20) as f64,
        ms(b.rust_call),
        per_bar(b.rust_call),
        b.rust_peak as f64 / (1 << 20) as f64,
        b.python_call.as_secs_f64() / b.rust_call.as_secs_f64().max(1e-9),
        b.python_limits,
    );
}
