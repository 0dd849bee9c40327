//! `cgaf plugin test FILE.wasm`: runs a component in the service's sandbox and limits without
//! a server — a strategy over bars through the backtest engine, a transform over a series, a
//! blender over matrices — twice, failing on any difference, with peak memory and the slowest
//! call against the limits.

use crate::plugin_test_bars::BarsFrom;
use crate::settings::PluginSettings;
use anyhow::{bail, Context, Result};
use cgaf_runtime::{Matrix, Plugin, PluginHost, PluginKind};
use cgaf_trade::domain::request::params_of;
use cgaf_trade::domain::{
    drive, parse_interval, Bar, Decision, DecisionCsv, DecisionRow, DriveOptions, Portfolio, RunRequest, RunSettings,
    Series, StateCapture, Strategy, StrategyError,
};
use cgaf_trade::PluginStrategy;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to test and on what.
#[derive(Debug, Clone, Default)]
pub struct TestInputs {
    /// The component.
    pub file: PathBuf,
    /// Strategy: where the bars come from (default: a seeded random walk of 1-minute bars).
    pub bars: BarsFrom,
    /// Strategy: bar length (of the CSV's bars, of the stored or simulated bars to make).
    pub bar_interval: String,
    /// Transform: a JSON array of numbers (default: windows of a seeded random walk).
    pub series: Option<PathBuf>,
    /// Blender: a JSON array of square matrices, each an array of rows (default: made up).
    pub matrices: Option<PathBuf>,
    /// Call parameters.
    pub params: Vec<(String, String)>,
    /// Transform/blender: write the (last) result as a grayscale PNG here.
    pub png: Option<PathBuf>,
}

/// The sandbox host of `cgaf plugin build` and `cgaf plugin test`: the service's default
/// limits and imports, no built-ins, the compile cache in `data_dir`.
pub fn sandbox(data_dir: &Path) -> Result<PluginHost> {
    let settings = PluginSettings::defaults(data_dir);
    Ok(PluginHost::new(settings.runtime, settings.quarantine_after)?)
}

/// What both runs measured.
#[derive(Debug, Default)]
struct Usage {
    calls: u64,
    slowest: Duration,
    peak_memory: usize,
}

impl Usage {
    fn call(&mut self, took: Duration, peak_memory: usize) {
        self.calls += 1;
        self.slowest = self.slowest.max(took);
        self.peak_memory = self.peak_memory.max(peak_memory);
    }
}

/// One run's output: what is compared between the two runs, and what is reported.
struct RunOutput {
    /// Bytes compared between the runs (decision log CSV, matrix bits).
    fingerprint: Vec<u8>,
    /// Kind-specific report.
    report: Value,
    /// Transform/blender: the last result (for `--png`).
    last_matrix: Option<Matrix>,
    /// Strategy: each bar's close time, target and reason.
    decisions: Vec<(i64, f64, Option<String>)>,
}

/// Runs the test and returns the report; `Err` only when the test could not run at all. A
/// failed test is a report with `"ok": false` and a `"failure"`.
pub fn run(data_dir: &Path, inputs: &TestInputs) -> Result<Value> {
    let bytes = std::fs::read(&inputs.file).with_context(|| format!("reading {}", inputs.file.display()))?;
    let host = sandbox(data_dir)?;
    let limits = host.runtime.settings().clone();
    let mut report = json!({
        "file": inputs.file.display().to_string(),
        "bytes": bytes.len(),
        "limits": {
            "call_deadline_ms": limits.call_deadline.as_millis() as u64,
            "info_deadline_ms": limits.info_deadline.as_millis() as u64,
            "memory_limit_bytes": limits.memory_limit,
            "max_result_values": limits.max_result_values,
        },
    });
    let started = Instant::now();
    let plugin = match host.runtime.load(&bytes) {
        Ok(p) => p,
        Err(e) => return Ok(failed(report, "load", &e.to_string())),
    };
    report["load_ms"] = json!(started.elapsed().as_millis() as u64);
    report["plugin"] = json!({
        "name": plugin.info.name, "version": plugin.info.version, "kind": plugin.info.kind.as_str(),
        "sha256": plugin.sha256, "params": plugin.info.params,
    });
    // The upload's smoke and sizing calls, and the limits an upload would choose from them.
    match host.measure(&plugin) {
        Ok(m) => {
            let l = m.choose(host.runtime.caps());
            report["upload_limits"] = json!({
                "call_deadline_ms": l.call_deadline.as_millis() as u64,
                "memory_limit_bytes": l.memory_limit,
                "measured_peak_memory_bytes": m.peak_memory,
                "measured_slowest_call_ms": m.slowest_call.as_secs_f64() * 1e3,
            });
        }
        Err(e) => return Ok(failed(report, "smoke call (the upload's check)", &e.to_string())),
    }
    // A strategy's bars are read once; both runs go over the same bars.
    let bars = match plugin.info.kind {
        PluginKind::Strategy => {
            let (_, settings, interval) = run_request(&plugin, inputs)?;
            let load = crate::plugin_test_bars::load(&inputs.bars, interval, &settings);
            Some(tokio::runtime::Handle::current().block_on(load)?)
        }
        _ => None,
    };
    let mut usage = Usage::default();
    let mut outputs = Vec::with_capacity(2);
    for run in ["first", "second"] {
        let out = match plugin.info.kind {
            PluginKind::Strategy => match &bars {
                Some((bars, source)) => strategy_run(&host, &plugin, inputs, bars, source, &mut usage),
                None => Err(anyhow::anyhow!("the strategy's bars were not read")),
            },
            PluginKind::ImageTransform => transform_run(&host, &plugin, inputs, &mut usage),
            PluginKind::Blender => blender_run(&host, &plugin, inputs, &mut usage),
        };
        match out {
            Ok(o) => outputs.push(o),
            Err(e) => return Ok(failed(report, &format!("{run} run"), &format!("{e:#}"))),
        }
    }
    report["calls"] = json!(usage.calls);
    report["slowest_call_ms"] = json!(usage.slowest.as_secs_f64() * 1e3);
    report["peak_memory_bytes"] = json!(usage.peak_memory);
    let (a, b) = (&outputs[0], &outputs[1]);
    report["deterministic"] = json!(a.fingerprint == b.fingerprint);
    report["result"] = a.report.clone();
    if a.fingerprint != b.fingerprint {
        return Ok(failed(report, "determinism", "the second run's output differs from the first's"));
    }
    // Runs call a strategy one bar at a time (a 0.2.0 strategy through `on-bar`): the same bars
    // must get the same decisions as in lists.
    if let Some((bars, _)) = &bars {
        let one = match one_bar_decisions(&host, &plugin, inputs, bars) {
            Ok(o) => o,
            Err(e) => return Ok(failed(report, "one bar per call", &format!("{e:#}"))),
        };
        let differs = a.decisions.iter().zip(&one).position(|(x, y)| x != y);
        report["one_bar_calls_agree"] = json!(differs.is_none() && a.decisions.len() == one.len());
        if let Some(i) = differs {
            let ((t, x, why_x), (_, y, why_y)) = (&a.decisions[i], &one[i]);
            let why = format!(
                "bar {i} (close {t}): target {x}, reason {why_x:?} in calls of {BATCH} bars; target {y}, reason \
                 {why_y:?} one bar per call, as runs call it"
            );
            return Ok(failed(report, "one bar per call", &why));
        }
        if a.decisions.len() != one.len() {
            let why =
                format!("{} decisions in calls of {BATCH} bars, {} one bar per call", a.decisions.len(), one.len());
            return Ok(failed(report, "one bar per call", &why));
        }
    }
    if let Some(png) = &inputs.png {
        if let Some(m) = &a.last_matrix {
            let image = cgaf_calculate::encode_png(
                cgaf_calculate::PngEncoding::Fast,
                cgaf_calculate::ColorType::Gray,
                m.size,
                &[m],
            )
            .map_err(|e| anyhow::anyhow!("encoding the PNG: {e}"))?;
            std::fs::write(png, image).with_context(|| format!("writing {}", png.display()))?;
            report["png"] = json!(png.display().to_string());
        }
    }
    report["ok"] = json!(true);
    Ok(report)
}

fn failed(mut report: Value, stage: &str, why: &str) -> Value {
    report["ok"] = json!(false);
    report["failure"] = json!(format!("{stage}: {why}"));
    report
}

/// A strategy that times each call and remembers the instance's peak memory.
struct Timed<'a> {
    inner: PluginStrategy,
    usage: &'a mut Usage,
}

impl Timed<'_> {
    fn record(&mut self, started: Instant) {
        let peak = self.inner.instance_mut().peak_memory();
        self.usage.call(started.elapsed(), peak);
    }
}

impl Strategy for Timed<'_> {
    fn decide(&mut self, bars: &[Bar]) -> Result<Vec<Decision>, StrategyError> {
        let t = Instant::now();
        let r = self.inner.decide(bars);
        self.record(t);
        r
    }

    fn state(&mut self) -> Result<Value, StrategyError> {
        let t = Instant::now();
        let r = self.inner.state();
        self.record(t);
        r
    }
}

/// Bars per `on-bars` call of the two compared runs (the state is read after each call); a third
/// run calls one bar at a time, as runs do, and must decide alike.
const BATCH: usize = 500;

/// The run request a strategy test stands for (parameters, bar interval), its settings and the
/// interval in milliseconds.
fn run_request(plugin: &Plugin, inputs: &TestInputs) -> Result<(serde_json::Map<String, Value>, RunSettings, i64)> {
    let params: serde_json::Map<String, Value> =
        inputs.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let request: RunRequest = serde_json::from_value(json!({
        "strategy": plugin.info.name, "params": params, "product": "TEST", "mode": "backtest",
        "bar_interval": inputs.bar_interval,
    }))?;
    let settings = request.settings()?;
    let interval = parse_interval(&inputs.bar_interval).map_err(anyhow::Error::msg)?;
    Ok((params, settings, interval))
}

/// Drives a fresh instance of the strategy with `params` over `bars`, `batch` bars per call and
/// its state read as `state` says, handing each decision row to `sink`; the final portfolio. Its
/// calls are timed into `usage` when given.
#[allow(clippy::too_many_arguments)]
fn drive_fresh(
    host: &PluginHost,
    plugin: &Arc<Plugin>,
    params: serde_json::Map<String, Value>,
    settings: &RunSettings,
    bars: &[Bar],
    options: DriveOptions,
    usage: Option<&mut Usage>,
    sink: &mut dyn FnMut(DecisionRow),
) -> Result<Portfolio> {
    let inner = PluginStrategy::new(host.runtime.strategy(plugin, &params_of(&Value::Object(params)))?);
    let (mut timed, mut plain);
    let strategy: &mut dyn Strategy = match usage {
        Some(usage) => {
            timed = Timed { inner, usage };
            &mut timed
        }
        None => {
            plain = inner;
            &mut plain
        }
    };
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut rows = |row: DecisionRow| {
        sink(row);
        Ok(())
    };
    drive(strategy, bars, settings, &mut portfolio, options, None, &mut rows, &mut |_| true)?;
    Ok(portfolio)
}

fn strategy_run(
    host: &PluginHost,
    plugin: &Arc<Plugin>,
    inputs: &TestInputs,
    bars: &[Bar],
    source: &str,
    usage: &mut Usage,
) -> Result<RunOutput> {
    let (params, settings, interval) = run_request(plugin, inputs)?;
    let mut series = Series::starting_at(settings.starting_cash);
    let mut log = DecisionCsv::new(Vec::new())?;
    let mut log_error = None;
    let mut decisions = Vec::with_capacity(bars.len());
    let options = DriveOptions { batch: BATCH, state: StateCapture::EveryBatch };
    let portfolio = drive_fresh(host, plugin, params, &settings, bars, options, Some(usage), &mut |row| {
        series.push(&row);
        decisions.push((row.time_ms, row.target, row.reason.clone()));
        if let Err(e) = log.write(&row) {
            log_error.get_or_insert(e);
        }
    })?;
    if let Some(e) = log_error {
        bail!("writing the decision log: {e}");
    }
    let log = log.finish()?;
    let metrics = series.metrics(settings.periods_per_year(interval))?;
    let report = json!({
        "bars": source,
        "bars_done": portfolio.bars,
        "fills": portfolio.fills,
        "final_equity": portfolio.equity,
        "stopped": portfolio.halt,
        "decision_log_sha256": hex::encode(Sha256::digest(&log)),
        "metrics": metrics,
    });
    Ok(RunOutput { fingerprint: log, report, last_matrix: None, decisions })
}

/// Each bar's close time, target and reason when the strategy is called one bar at a time, as
/// runs call it (no state read, no log kept).
fn one_bar_decisions(
    host: &PluginHost,
    plugin: &Arc<Plugin>,
    inputs: &TestInputs,
    bars: &[Bar],
) -> Result<Vec<(i64, f64, Option<String>)>> {
    let (params, settings, _) = run_request(plugin, inputs)?;
    let mut decisions = Vec::with_capacity(bars.len());
    let options = DriveOptions { batch: 1, state: StateCapture::Never };
    drive_fresh(host, plugin, params, &settings, bars, options, None, &mut |row| {
        decisions.push((row.time_ms, row.target, row.reason));
    })?;
    Ok(decisions)
}

/// Matrix statistics for the report, and its bits for the comparison.
fn matrix_report(m: &Matrix, fingerprint: &mut Vec<u8>) -> Value {
    fingerprint.extend((m.size as u64).to_le_bytes());
    for v in &m.data {
        fingerprint.extend(v.to_bits().to_le_bytes());
    }
    let finite: Vec<f64> = m.data.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len().max(1) as f64;
    json!({
        "size": m.size,
        "min": finite.iter().copied().fold(f64::INFINITY, f64::min),
        "max": finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "mean": finite.iter().sum::<f64>() / n,
        "non_finite": m.data.len() - finite.len(),
        "outside_unit_range": finite.iter().filter(|v| v.abs() > 1.0).count(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not the expected JSON", path.display()))
}

fn transform_run(host: &PluginHost, plugin: &Plugin, inputs: &TestInputs, usage: &mut Usage) -> Result<RunOutput> {
    let series: Vec<Vec<f64>> = match &inputs.series {
        Some(f) => vec![read_json(f)?],
        None => {
            let closes: Vec<f64> = crate::bench::walk_bars(128, 7).iter().map(|b| b.close).collect();
            [16, 32, 64, 128].iter().map(|&n| closes[closes.len() - n..].to_vec()).collect()
        }
    };
    let mut fingerprint = Vec::new();
    let mut matrices = Vec::with_capacity(series.len());
    let mut last = None;
    for s in &series {
        let t = Instant::now();
        let (r, trace) = host.runtime.transform_traced(plugin, s, &inputs.params);
        usage.call(t.elapsed(), trace.peak_memory);
        let m = r.with_context(|| format!("transform of a series of {}", s.len()))?;
        matrices.push(json!({"series_len": s.len(), "matrix": matrix_report(&m, &mut fingerprint)}));
        last = Some(m);
    }
    Ok(RunOutput { fingerprint, report: json!({"calls": matrices}), last_matrix: last, decisions: Vec::new() })
}

/// Made-up blender inputs: `k` smooth `size`×`size` matrices in [-1, 1].
fn sample_matrices(k: usize, size: usize) -> Vec<Matrix> {
    (0..k)
        .map(|m| Matrix {
            size,
            data: (0..size * size).map(|i| (i as f64 * 0.37 + m as f64 * 1.3).sin() * 0.9).collect(),
        })
        .collect()
}

fn blender_run(host: &PluginHost, plugin: &Plugin, inputs: &TestInputs, usage: &mut Usage) -> Result<RunOutput> {
    let sets: Vec<Vec<Matrix>> = match &inputs.matrices {
        Some(f) => {
            let rows: Vec<Vec<Vec<f64>>> = read_json(f)?;
            let ms = rows
                .into_iter()
                .map(|m| {
                    let size = m.len();
                    if m.iter().any(|r| r.len() != size) {
                        bail!("{}: every matrix must be square (rows of equal length)", f.display());
                    }
                    Ok(Matrix { size, data: m.into_iter().flatten().collect() })
                })
                .collect::<Result<Vec<_>>>()?;
            vec![ms]
        }
        None => vec![sample_matrices(1, 8), sample_matrices(3, 32), sample_matrices(5, 64)],
    };
    let mut fingerprint = Vec::new();
    let mut calls = Vec::with_capacity(sets.len());
    let mut last = None;
    for set in &sets {
        let t = Instant::now();
        let (r, trace) = host.runtime.blend_traced(plugin, set, &inputs.params);
        usage.call(t.elapsed(), trace.peak_memory);
        let m = r.with_context(|| format!("blend of {} matrices of size {}", set.len(), set[0].size))?;
        calls.push(json!({"matrices": set.len(), "matrix": matrix_report(&m, &mut fingerprint)}));
        last = Some(m);
    }
    Ok(RunOutput { fingerprint, report: json!({"calls": calls}), last_matrix: last, decisions: Vec::new() })
}

/// The report for people.
pub fn print_human(report: &Value) {
    let p = &report["plugin"];
    if p.is_object() {
        println!(
            "{} {} ({}), {} bytes, sha256 {}",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?"),
            p["kind"].as_str().unwrap_or("?"),
            report["bytes"],
            p["sha256"].as_str().unwrap_or("?")
        );
    }
    let l = &report["limits"];
    if report["calls"].is_number() {
        let mib = |v: &Value| v.as_f64().unwrap_or(0.0) / (1 << 20) as f64;
        println!(
            "{} calls in two runs; slowest {:.2} ms of {} ms allowed; peak memory {:.1} MiB of {:.0} MiB",
            report["calls"],
            report["slowest_call_ms"].as_f64().unwrap_or(0.0),
            l["call_deadline_ms"],
            mib(&report["peak_memory_bytes"]),
            mib(&l["memory_limit_bytes"]),
        );
    }
    let u = &report["upload_limits"];
    if u.is_object() {
        let mib = |v: &Value| v.as_f64().unwrap_or(0.0) / (1 << 20) as f64;
        println!(
            "an upload would choose: call deadline {} ms, memory limit {:.0} MiB (its calls: peak {:.1} MiB, slowest {:.2} ms)",
            u["call_deadline_ms"],
            mib(&u["memory_limit_bytes"]),
            mib(&u["measured_peak_memory_bytes"]),
            u["measured_slowest_call_ms"].as_f64().unwrap_or(0.0)
        );
    }
    let r = &report["result"];
    if r["metrics"].is_object() {
        println!(
            "{} bars ({}), {} fills, final equity {:.2}, sharpe {}, decision log sha256 {}",
            r["bars_done"],
            r["bars"].as_str().unwrap_or("?"),
            r["fills"],
            r["final_equity"].as_f64().unwrap_or(0.0),
            r["metrics"]["sharpe"],
            r["decision_log_sha256"].as_str().unwrap_or("?")
        );
    }
    if let Some(calls) = r["calls"].as_array() {
        for c in calls {
            let m = &c["matrix"];
            println!(
                "  {} → {}×{} matrix, min {} max {} mean {}, {} non-finite, {} outside [-1, 1]",
                c.get("series_len")
                    .map(|n| format!("series of {n}"))
                    .unwrap_or_else(|| format!("{} matrices", c["matrices"])),
                m["size"],
                m["size"],
                m["min"],
                m["max"],
                m["mean"],
                m["non_finite"],
                m["outside_unit_range"]
            );
        }
    }
    if let Some(png) = report["png"].as_str() {
        println!("PNG: {png}");
    }
    match report["failure"].as_str() {
        Some(f) => println!("FAILED: {f}"),
        None => println!("ok: deterministic over two runs, within the limits"),
    }
}
