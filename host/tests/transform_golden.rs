//! `cgaf transform` against pyts 0.14.1, bit for bit.
//!
//! Runs the real binary once per golden file in `tests/golden/pyts` (found by the test kit's
//! golden-file locator), feeding
//! the file's `input` on stdin with the file's `params` as `--param name=value` written the way
//! Python writes them, and compares every output value with `f64::to_bits` (so `-0.0` and `0.0`
//! differ). Every series is run twice: as one series `[x]` and as a one-row batch `[[x]]`.
//!
//! - `gaf_*` → `gasf` / `gadf` (from `params.method`), `mtf_*` → `mtf`, `rp_*` →
//!   `recurrence-plot`.
//! - `paa_*` files are skipped: there is no CLI for the piecewise aggregate approximation alone.
//! - `errors.json`: every case the CLI can express (one series or a batch on stdin, NaN/Infinity
//!   written as Python's json writes them, ragged batches, strings, parameter errors). Exceptions
//!   must exit non-zero with stderr exactly `<Type>: <message>` on one line; ok-cases must match
//!   the recorded output (or shape) and warnings. Cases the CLI cannot express are skipped with
//!   the reason printed.
//!
//! Processes run on [`WORKERS`] threads; the counts are printed at the end (visible with
//! `-- --nocapture`), and a failure lists every mismatching file and case, not just the first.

use serde_json::Value;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads running `cgaf` processes (the machines this runs on have two cores).
const WORKERS: usize = 2;

/// Output values compared bit for bit (matching or not), over all runs.
static VALUES_COMPARED: AtomicUsize = AtomicUsize::new(0);

/// errors.json records only the shape for these ok-cases; pyts's output for them is the golden
/// file's: on `arange(16)`, `GramianAngularField()` (image_size 1.0 → 16) and
/// `GramianAngularField(image_size=16)` are both the unreduced GASF with sample_range (-1, 1).
const SHAPE_ONLY_SAME_AS: &[(&str, &str)] = &[
    (
        "GramianAngularField({'image_size': 1.0}): image_size = 1.0 (float, default) -> n",
        "gaf_gasf__ramp16__isn__sr-1_1.json",
    ),
    ("GramianAngularField({'image_size': 16}): image_size = 16 (= n) -> no PAA", "gaf_gasf__ramp16__isn__sr-1_1.json"),
];

/// A matrix: its shape and its values row by row (`None`: null, i.e. NaN or ±inf).
#[derive(Debug, Clone, PartialEq)]
struct Image {
    shape: (usize, usize),
    values: Vec<Option<f64>>,
}

/// What one run must produce.
#[derive(Debug, Clone)]
enum Expect {
    /// Exit 0, stderr exactly these warning lines, stdout the image (`values: None`: only the
    /// shape is known).
    Image { shape: (usize, usize), values: Option<Vec<Option<f64>>>, warnings: Vec<String> },
    /// Non-zero exit, empty stdout, stderr exactly this one line.
    Error(String),
}

/// One `cgaf transform` process.
#[derive(Debug, Clone)]
struct Job {
    /// `file` or `errors.json: case`, plus the stdin form.
    label: String,
    transform: String,
    params: Vec<String>,
    stdin: String,
    /// stdin is a batch `[[...]]`, so stdout is `[image]`.
    batch: bool,
    expect: Expect,
}

impl Job {
    /// A shell line reproducing the run.
    fn reproducer(&self) -> String {
        let mut s = format!("printf '%s' '{}' | cgaf transform {}", self.stdin, self.transform);
        for p in &self.params {
            s.push_str(&format!(" --param '{p}'"));
        }
        s
    }
}

/// A number written as Python's `json` writes it (`NaN`, `Infinity`), else Rust's shortest
/// round-trip form.
fn json_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v:?}")
    }
}

fn json_series(x: &[f64]) -> String {
    format!("[{}]", x.iter().map(|&v| json_number(v)).collect::<Vec<_>>().join(", "))
}

/// Python's `repr(float)`: `0.5`, `1.0`, `1e-05`, `1e+16`.
fn py_float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// A JSON number as Python wrote it: an int stays an int, a float keeps its `.0`.
fn py_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        py_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// A golden `params` value as a `--param` value: null → `none`, bools `true`/`false`, numbers as
/// Python writes them, strings as they are, a list `[a, b]` → the tuple `a,b`.
fn cli_value(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => py_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|x| match x {
                    Value::Number(n) => Ok(py_number(n)),
                    other => Err(format!("unsupported tuple item {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            match parts.len() {
                0 => "()".into(),
                1 => format!("{},", parts[0]),
                _ => parts.join(","),
            }
        }
        Value::Object(_) => return Err(format!("unsupported parameter value {v}")),
    })
}

/// A JSON matrix (rows of numbers or nulls).
fn image(v: &Value) -> Result<Image, String> {
    let rows = v.as_array().ok_or_else(|| format!("not an array of rows: {}", short(&v.to_string())))?;
    let mut cols = None;
    let mut values = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().ok_or_else(|| format!("row {i} is not an array"))?;
        if *cols.get_or_insert(row.len()) != row.len() {
            return Err(format!("row {i} has {} values, row 0 has {}", row.len(), cols.unwrap_or(0)));
        }
        for x in row {
            values.push(match x {
                Value::Null => None,
                Value::Number(n) => Some(n.as_f64().ok_or("a number that is not an f64")?),
                other => return Err(format!("row {i} holds {other}")),
            });
        }
    }
    Ok(Image { shape: (rows.len(), cols.unwrap_or(0)), values })
}

fn short(s: &str) -> String {
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

fn fmt_value(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x:?} ({:#018x})", x.to_bits()),
        None => "null".into(),
    }
}

/// Compares values bit for bit; else a diagnosis counting every difference (the first few
/// listed).
fn compare(got: &Image, shape: (usize, usize), want: &[Option<f64>]) -> Result<(), String> {
    if got.shape != shape {
        return Err(format!("shape {:?}, expected {:?}", got.shape, shape));
    }
    VALUES_COMPARED.fetch_add(want.len(), Ordering::Relaxed);
    let cols = shape.1.max(1);
    let bad: Vec<String> = got
        .values
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g.map(f64::to_bits) != w.map(f64::to_bits))
        .map(|(k, (g, w))| format!("[{}][{}]: got {}, expected {}", k / cols, k % cols, fmt_value(*g), fmt_value(*w)))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        let shown = bad.iter().take(6).cloned().collect::<Vec<_>>().join("; ");
        Err(format!("{} of {} values differ: {shown}{}", bad.len(), want.len(), if bad.len() > 6 { "; …" } else { "" }))
    }
}

/// Runs one job.
fn run(job: &Job) -> Result<(), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cgaf"));
    // With a database configured the command runs that database's active plugin version; the
    // golden files pin the built-in transforms, so none is configured here.
    for var in ["CGAF_DATABASE_URL", "DATABASE_URL", "CGAF_DB_HOST"] {
        cmd.env_remove(var);
    }
    // The compile cache goes to --data-dir: keep it out of the source tree.
    cmd.env("CGAF_DATA_DIR", std::env::temp_dir().join("cgaf-transform-golden"));
    cmd.arg("transform").arg(&job.transform);
    for p in &job.params {
        cmd.arg("--param").arg(p);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning cgaf: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // The command reads all of stdin before writing anything; it may exit without reading.
        if let Err(e) = stdin.write_all(job.stdin.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(format!("writing stdin: {e}"));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("waiting for cgaf: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match &job.expect {
        Expect::Error(line) => {
            if out.status.success() {
                return Err(format!("exit 0, expected failure {line:?}; stdout {}", short(&stdout)));
            }
            if stderr != format!("{line}\n") {
                return Err(format!("stderr {:?}, expected exactly the line {line:?}", short(&stderr)));
            }
            if !stdout.is_empty() {
                return Err(format!("stdout not empty on failure: {}", short(&stdout)));
            }
            Ok(())
        }
        Expect::Image { shape, values, warnings } => {
            if !out.status.success() {
                return Err(format!("{}, stderr {:?}", out.status, short(&stderr)));
            }
            // The image is checked even when the warnings differ, so one report shows both.
            let got_warnings: Vec<&str> = stderr.lines().collect();
            let warnings_ok = if got_warnings == *warnings {
                Ok(())
            } else {
                Err(format!("stderr lines {got_warnings:?}, expected the warnings {warnings:?}"))
            };
            let image_ok = check_image(&stdout, job.batch, *shape, values.as_deref());
            match (warnings_ok, image_ok) {
                (Ok(()), r) => r,
                (Err(w), Ok(())) => Err(format!("{w} (the image matches)")),
                (Err(w), Err(e)) => Err(format!("{w}; {e}")),
            }
        }
    }
}

/// Checks stdout against the expected image.
fn check_image(stdout: &str, batch: bool, shape: (usize, usize), values: Option<&[Option<f64>]>) -> Result<(), String> {
    let v: Value = serde_json::from_str(stdout).map_err(|e| format!("stdout is not JSON ({e}): {}", short(stdout)))?;
    let v = if batch {
        match v.as_array().map(Vec::as_slice) {
            Some([one]) => one.clone(),
            _ => return Err(format!("batch of one: stdout is not [image]: {}", short(stdout))),
        }
    } else {
        v
    };
    let got = image(&v)?;
    match values {
        Some(want) => compare(&got, shape, want),
        None if got.shape == shape => Ok(()),
        None => Err(format!("shape {:?}, expected {:?}", got.shape, shape)),
    }
}

/// The one-series and one-row-batch jobs of a series.
fn both_forms(label: &str, transform: &str, params: &[String], series: &str, expect: &Expect) -> Vec<Job> {
    [(series.to_string(), false, "[x]"), (format!("[{series}]"), true, "[[x]]")]
        .into_iter()
        .map(|(stdin, batch, form)| Job {
            label: format!("{label} (stdin {form})"),
            transform: transform.to_string(),
            params: params.to_vec(),
            stdin,
            batch,
            expect: expect.clone(),
        })
        .collect()
}

/// A golden file read for its input and output.
struct Golden {
    input: Vec<f64>,
    image: Image,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn golden_io(d: &Value) -> Result<Golden, String> {
    let input = d["input"]
        .as_array()
        .ok_or("no input array")?
        .iter()
        .map(|v| v.as_f64().ok_or_else(|| format!("input value {v} is not a number")))
        .collect::<Result<Vec<_>, _>>()?;
    let image = image(&d["output"]).map_err(|e| format!("output: {e}"))?;
    let shape: Vec<u64> =
        d["output_shape"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    if shape != [image.shape.0 as u64, image.shape.1 as u64] {
        return Err(format!("output_shape {shape:?} disagrees with output {:?}", image.shape));
    }
    Ok(Golden { input, image })
}

/// The jobs of one golden file; `Ok(None)` for a skipped (PAA) file.
fn golden_jobs(name: &str, d: &Value) -> Result<Option<Vec<Job>>, String> {
    let params = d["params"].as_object().ok_or("no params object")?;
    let (class, transform) = if name.starts_with("paa_") {
        // No CLI for PAA alone (it is covered through image_size of gasf/gadf/mtf).
        return Ok(None);
    } else if name.starts_with("gaf_") {
        let t = match params.get("method").and_then(Value::as_str) {
            Some("summation" | "s") => "gasf",
            Some("difference" | "d") => "gadf",
            other => return Err(format!("unknown GAF method {other:?}")),
        };
        ("GramianAngularField", t)
    } else if name.starts_with("mtf_") {
        ("MarkovTransitionField", "mtf")
    } else if name.starts_with("rp_") {
        ("RecurrencePlot", "recurrence-plot")
    } else {
        return Err("unrecognised golden file name (expected gaf_*, mtf_*, rp_*, paa_*)".into());
    };
    if d["transform"] != class {
        return Err(format!("transform {} but the file name says {class}", d["transform"]));
    }
    let mut cli_params = Vec::new();
    for (k, v) in params {
        if k.ends_with("_resolved") || k == "flatten" || k == "method" {
            continue;
        }
        cli_params.push(format!("{k}={}", cli_value(v).map_err(|e| format!("params.{k}: {e}"))?));
    }
    let g = golden_io(d)?;
    let warnings = match d.get("warnings") {
        None => vec![],
        Some(w) => w
            .as_array()
            .ok_or("warnings is not a list")?
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or("a warning is not a string"))
            .collect::<Result<_, _>>()?,
    };
    let expect = Expect::Image { shape: g.image.shape, values: Some(g.image.values), warnings };
    Ok(Some(both_forms(name, transform, &cli_params, &json_series(&g.input), &expect)))
}

/// stdin texts, each with whether it is a batch.
type Forms = Vec<(String, bool)>;

/// stdin forms of an errors.json input description: `Ok(Ok(forms))`, `Ok(Err(reason))` for an
/// input the CLI cannot express, `Err` for a description not understood.
fn case_input(desc: &str) -> Result<Result<Forms, &'static str>, String> {
    let single_and_batch = |x: String| Ok(Ok(vec![(x.clone(), false), (format!("[{x}]"), true)]));
    if desc.contains("shape (16,)") {
        return Ok(Err(
            "not expressible: the CLI reads a flat array as one series (pyts's 2-D check has no equivalent)",
        ));
    }
    if desc.starts_with("shape (0,") {
        return Ok(Err("not expressible: `[]` is one empty series for the CLI, and a batch has at least one row"));
    }
    if desc.starts_with("shape (1,0)") {
        return Ok(Ok(vec![("[]".into(), false), ("[[]]".into(), true)]));
    }
    if let Some(rest) = desc.strip_prefix("arange(") {
        let (n, rest) = rest.split_once(')').ok_or("arange(")?;
        let n: usize = n.parse().map_err(|e| format!("arange({n}): {e}"))?;
        let mut x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        if let Some(w) = rest.split_once("with x[").map(|(_, w)| w) {
            let (i, v) = w.split_once("]=").ok_or("x[i]=v")?;
            let i: usize = i.parse().map_err(|e| format!("x[{i}]: {e}"))?;
            let v = v.split(|c: char| c == ',' || c.is_whitespace()).next().unwrap_or("");
            x[i] = match v {
                "nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => other.parse().map_err(|e| format!("x[{i}]={other}: {e}"))?,
            };
        }
        return single_and_batch(json_series(&x));
    }
    if let Some(rest) = desc.strip_prefix("linspace(") {
        let args: Vec<&str> = rest.split_once(')').ok_or("linspace(")?.0.split(',').map(str::trim).collect();
        let [a, b, n] = args.as_slice() else { return Err(format!("linspace args {args:?}")) };
        let (a, b): (f64, f64) = (a.parse().map_err(|_| "linspace start")?, b.parse().map_err(|_| "linspace stop")?);
        let n: usize = n.parse().map_err(|_| "linspace num")?;
        // numpy: arange(num) * ((stop - start) / (num - 1)) + start, then the last is stop.
        let step = (b - a) / (n - 1) as f64;
        let mut x: Vec<f64> = (0..n).map(|i| i as f64 * step + a).collect();
        if let Some(last) = x.last_mut() {
            *last = b;
        }
        return single_and_batch(json_series(&x));
    }
    if desc.starts_with("[[") {
        // A Python list literal: [[5.0]], [[1,2,3],[1,2]], [['a','b','c']].
        let mut depth = 0;
        let end = desc
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '[' => 1,
                    ']' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .ok_or("unbalanced list")?
            .0;
        let text = desc[..=end].replace('\'', "\"");
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{text}: {e}"))?;
        let rows = v.as_array().ok_or("not a list")?;
        let mut forms = vec![(text.clone(), true)];
        if let [one] = rows.as_slice() {
            forms.insert(0, (one.to_string(), false));
        }
        return Ok(Ok(forms));
    }
    Err(format!("input description {desc:?} not understood"))
}

/// Everything collected before running.
#[derive(Default)]
struct Plan {
    jobs: Vec<Job>,
    /// Problems with the golden data or this test's reading of it (reported as failures).
    problems: Vec<String>,
    golden_files: usize,
    paa_skipped: Vec<String>,
    error_cases: usize,
    ok_cases: usize,
    skipped_cases: Vec<String>,
}

fn plan_golden(plan: &mut Plan, dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("golden directory {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json") && n != "errors.json")
        .collect();
    names.sort();
    for name in names {
        match read_json(&dir.join(&name)).and_then(|d| golden_jobs(&name, &d)) {
            Ok(Some(jobs)) => {
                plan.golden_files += 1;
                plan.jobs.extend(jobs);
            }
            Ok(None) => plan.paa_skipped.push(name),
            Err(e) => plan.problems.push(format!("{name}: {e}")),
        }
    }
}

fn plan_errors(plan: &mut Plan, dir: &Path) {
    let errors = match read_json(&dir.join("errors.json")) {
        Ok(v) => v,
        Err(e) => return plan.problems.push(e),
    };
    let Some(cases) = errors["cases"].as_array() else {
        return plan.problems.push("errors.json: no cases list".into());
    };
    for c in cases {
        let case = c["case"].as_str().unwrap_or("?").to_string();
        if let Err(e) = plan_case(plan, dir, &case, c) {
            plan.problems.push(format!("errors.json: {case}: {e}"));
        }
    }
}

fn plan_case(plan: &mut Plan, dir: &Path, case: &str, c: &Value) -> Result<(), String> {
    let (class, mut args) = cgaf_test_kit::pyts::parse_estimator(c["estimator"].as_str().ok_or("no estimator")?)?;
    let transform = match class.as_str() {
        "GramianAngularField" => {
            let method = args.iter().position(|(k, _)| k == "method").map(|i| args.remove(i).1);
            match method.as_deref().map(|m| m.trim_matches(|c| c == '\'' || c == '"')) {
                None | Some("s" | "summation") => "gasf",
                Some("d" | "difference") => "gadf",
                Some(_) => {
                    plan.skipped_cases.push(format!("{case}: the method is the command name (gasf/gadf)"));
                    return Ok(());
                }
            }
        }
        "MarkovTransitionField" => "mtf",
        "RecurrencePlot" => "recurrence-plot",
        "PiecewiseAggregateApproximation" => {
            plan.skipped_cases.push(format!("{case}: no CLI for PAA"));
            return Ok(());
        }
        other => return Err(format!("unknown estimator class {other}")),
    };
    let params: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let forms = match case_input(c["input"].as_str().ok_or("no input")?)? {
        Ok(forms) => forms,
        Err(reason) => {
            plan.skipped_cases.push(format!("{case}: {reason}"));
            return Ok(());
        }
    };
    let expect = match c["result"].as_str() {
        Some("exception") => {
            plan.error_cases += 1;
            let ty = c["exception_type"].as_str().ok_or("no exception_type")?;
            let msg = c["message"].as_str().ok_or("no message")?;
            Expect::Error(format!("{}: {msg}", ty.strip_prefix("builtins.").unwrap_or(ty)))
        }
        Some("ok") => {
            plan.ok_cases += 1;
            let shape: Vec<usize> = c["output_shape"]
                .as_array()
                .ok_or("no output_shape")?
                .iter()
                .map(|v| v.as_u64().map(|n| n as usize).ok_or("bad output_shape"))
                .collect::<Result<_, _>>()?;
            let [1, r, cols] = shape.as_slice() else { return Err(format!("output_shape {shape:?} is not [1, r, c]")) };
            let shape = (*r, *cols);
            let values = match c.get("output") {
                Some(out) => Some(
                    out.as_array()
                        .ok_or("output is not a list")?
                        .iter()
                        .map(|v| if v.is_null() { Ok(None) } else { v.as_f64().map(Some).ok_or("bad output value") })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => match SHAPE_ONLY_SAME_AS.iter().find(|(k, _)| *k == case) {
                    Some((_, file)) => {
                        let g = golden_io(&read_json(&dir.join(file))?)?;
                        let arange: Vec<u64> = (0..g.input.len()).map(|i| (i as f64).to_bits()).collect();
                        if g.input.iter().map(|v| v.to_bits()).collect::<Vec<_>>() != arange || g.image.shape != shape {
                            return Err(format!("{file} is not the same estimator on the same input"));
                        }
                        Some(g.image.values)
                    }
                    None => None,
                },
            };
            if values.as_ref().is_some_and(|v| v.len() != shape.0 * shape.1) {
                return Err("output length disagrees with output_shape".into());
            }
            let warnings = c["warnings"]
                .as_array()
                .map(|w| w.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            Expect::Image { shape, values, warnings }
        }
        other => return Err(format!("result {other:?}")),
    };
    for (stdin, batch) in forms {
        let form = if batch { "batch" } else { "series" };
        plan.jobs.push(Job {
            label: format!("errors.json: {case} (stdin {form} {})", short(&stdin)),
            transform: transform.to_string(),
            params: params.clone(),
            stdin,
            batch,
            expect: expect.clone(),
        });
    }
    Ok(())
}

#[test]
fn transform_cli_matches_pyts_golden_files_bit_for_bit() {
    let dir = cgaf_test_kit::golden("pyts");
    let mut plan = Plan::default();
    plan_golden(&mut plan, &dir);
    plan_errors(&mut plan, &dir);
    assert!(plan.golden_files > 0, "no golden files found in {}", dir.display());

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<(), String>)>> = Mutex::new(Vec::with_capacity(plan.jobs.len()));
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = plan.jobs.get(i) else { break };
                let r = run(job);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);

    let mut failures = plan.problems.clone();
    for (i, r) in &results {
        let job = &plan.jobs[*i];
        if let Err(e) = r {
            failures.push(format!("{}: {e}\n    reproduce: {}", job.label, job.reproducer()));
        }
    }
    if results.len() != plan.jobs.len() {
        failures.push(format!("only {} of {} processes reported", results.len(), plan.jobs.len()));
    }

    for skipped in &plan.skipped_cases {
        eprintln!("skipped errors.json case: {skipped}");
    }
    eprintln!(
        "transform_golden: {} golden files checked ({} PAA files skipped: no CLI), {} errors.json cases \
         ({} exceptions, {} ok-cases, {} skipped), {} processes, {} values compared bit for bit, \
         {} failures",
        plan.golden_files,
        plan.paa_skipped.len(),
        plan.error_cases + plan.ok_cases + plan.skipped_cases.len(),
        plan.error_cases,
        plan.ok_cases,
        plan.skipped_cases.len(),
        plan.jobs.len(),
        VALUES_COMPARED.load(Ordering::Relaxed),
        failures.len(),
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
