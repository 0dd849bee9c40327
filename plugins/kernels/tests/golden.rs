//! Golden tests: every pyts 0.14.1 vector under `tests/golden/pyts` must be reproduced bit for
//! bit (outputs and intermediates), and every applicable case of `errors.json` must give the
//! same exception type and message, or the same output.

use cgaf_kernels::{
    gaf, gaf_from_pairs, gaf_into, gaf_method, gaf_params, gaf_polar, mtf, mtf_detailed, mtf_from_pairs, mtf_params,
    paa, paa_from_pairs, paa_params, paa_segments, paa_transform, recurrence_plot, recurrence_plot_detailed,
    rp_from_pairs, rp_params, segmentation, Error, GafMethod, Matrix,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

/// A JSON parameter value written the way Python would write it (arrays are tuples: the only
/// array parameter, `sample_range`, is a tuple in pyts).
fn py_text(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(py_text).collect();
            if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            }
        }
        Value::Object(_) => panic!("unexpected object parameter {v}"),
    }
}

/// A JSON number array; `null` (pyts's NaN/inf in `errors.json`) becomes NaN.
fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a
            .iter()
            .flat_map(|x| match x {
                Value::Array(_) => floats(x),
                Value::Null => vec![f64::NAN],
                _ => vec![x.as_f64().unwrap_or_else(|| panic!("not a number: {x}"))],
            })
            .collect(),
        _ => panic!("not an array: {v}"),
    }
}

fn ints(v: &Value) -> Vec<usize> {
    floats(v).into_iter().map(|f| f as usize).collect()
}

/// Compares bit patterns; returns the number of values compared, or a description of the
/// first difference.
fn same_bits(what: &str, got: &[f64], want: &[f64]) -> Result<usize, String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, golden has {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let equal = g.to_bits() == w.to_bits() || (w.is_nan() && !g.is_finite());
        if !equal {
            return Err(format!("{what}[{i}]: got {g:?}, golden {w:?}"));
        }
    }
    Ok(got.len())
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, golden {want:?}"))
    }
}

/// `params` minus the bookkeeping keys, as `(name, python text)` pairs.
fn pairs(params: &Value, skip: &[&str]) -> Vec<(String, String)> {
    params
        .as_object()
        .expect("params is an object")
        .iter()
        .filter(|(k, _)| !k.ends_with("_resolved") && k.as_str() != "flatten")
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), py_text(v)))
        .collect()
}

fn segments_of(inter: &Value) -> Vec<(usize, usize)> {
    ints(&inter["segment_start"]).into_iter().zip(ints(&inter["segment_end"])).collect()
}

fn check_gaf(d: &Value, x: &[f64]) -> Result<usize, String> {
    let params = &d["params"];
    let method = gaf_method(&py_text(&params["method"])).map_err(|e| e.to_string())?;
    let p = gaf_params(&pairs(params, &["method"])).map_err(|e| e.to_string())?;
    let m = gaf(x, method, &p).map_err(|e| format!("gaf failed: {e}"))?;
    same("image_size_resolved", m.size as u64, params["image_size_resolved"].as_u64().unwrap())?;
    let mut n = same_bits("output", &m.data, &floats(&d["output"]))?;
    let mut buf = vec![7.0; 3];
    gaf_into(x, method, &p, &mut buf).map_err(|e| e.to_string())?;
    same_bits("gaf_into", &buf, &m.data)?;
    let inter = &d["intermediate"];
    if !inter.is_null() {
        let k = m.size;
        let ws = x.len().div_ceil(k);
        same("paa_window_size", ws as u64, inter["paa_window_size"].as_u64().unwrap())?;
        same("segments", segmentation(x.len(), k, p.overlapping), segments_of(inter))?;
        n += same_bits("paa", &paa(x, k, p.overlapping), &floats(&inter["paa"]))?;
        let (c, s) = gaf_polar(x, &p).map_err(|e| e.to_string())?;
        n += same_bits("x_cos", &c, &floats(&inter["x_cos"]))?;
        n += same_bits("x_sin", &s, &floats(&inter["x_sin"]))?;
    }
    Ok(n)
}

fn check_mtf(d: &Value, x: &[f64]) -> Result<usize, String> {
    let params = &d["params"];
    let p = mtf_params(&pairs(params, &[])).map_err(|e| e.to_string())?;
    let r = mtf_detailed(x, &p).map_err(|e| format!("mtf failed: {e}"))?;
    same("image_size_resolved", r.image.size as u64, params["image_size_resolved"].as_u64().unwrap())?;
    let mut n = same_bits("output", &r.image.data, &floats(&d["output"]))?;
    let want_warnings: Vec<String> = d["warnings"]
        .as_array()
        .map(|a| a.iter().map(|w| w.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    same("warnings", &r.warnings, &want_warnings)?;
    let (image, warnings) = mtf(x, &p).map_err(|e| e.to_string())?;
    same_bits("mtf()", &image.data, &r.image.data)?;
    same("mtf() warnings", &warnings, &r.warnings)?;
    let inter = &d["intermediate"];
    if !inter.is_null() {
        n += same_bits("bin_edges", &r.bin_edges, &floats(&inter["bin_edges"]))?;
        same("binned", r.binned.clone(), ints(&inter["binned"]))?;
        n += same_bits("transition_counts", &r.transition_counts.data, &floats(&inter["transition_counts"]))?;
        n += same_bits("transition_matrix", &r.transition_matrix.data, &floats(&inter["transition_matrix"]))?;
        same("segments", r.segments.clone(), segments_of(inter))?;
    }
    Ok(n)
}

fn check_rp(d: &Value, x: &[f64]) -> Result<usize, String> {
    let params = &d["params"];
    let p = rp_params(&pairs(params, &[])).map_err(|e| e.to_string())?;
    let (m, eps) = recurrence_plot_detailed(x, &p).map_err(|e| format!("rp failed: {e}"))?;
    let want = floats(&d["output"]);
    let mut n = same_bits("output", &m.data, &want)?;
    same_bits("recurrence_plot()", &recurrence_plot(x, &p).unwrap().data, &m.data)?;
    if let Some(t) = d["intermediate"].get("threshold_value") {
        let eps = eps.ok_or("no threshold used")?;
        n += same_bits("threshold_value", &[eps], &[t.as_f64().unwrap()])?;
    }
    Ok(n)
}

fn check_paa(d: &Value, x: &[f64]) -> Result<usize, String> {
    let params = &d["params"];
    let p = paa_params(&pairs(params, &[])).map_err(|e| e.to_string())?;
    let out = paa_transform(x, &p).map_err(|e| format!("paa failed: {e}"))?;
    same("output_size_resolved", out.len() as u64, params["output_size_resolved"].as_u64().unwrap())?;
    let n = same_bits("output", &out, &floats(&d["output"]))?;
    let k = out.len();
    same("window_size_resolved", x.len().div_ceil(k) as u64, params["window_size_resolved"].as_u64().unwrap())?;
    same_bits("paa()", &paa(x, k, p.overlapping), &out)?;
    let segs = paa_segments(x.len(), &p).map_err(|e| e.to_string())?;
    same("segments", segs.clone(), segments_of(&d["intermediate"]))?;
    same("segmentation()", segmentation(x.len(), k, p.overlapping), segs)?;
    Ok(n)
}

#[test]
fn every_golden_file_is_bit_exact() {
    let dir = cgaf_test_kit::golden("pyts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name != "errors.json" && name != "index.json"
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files in {}", dir.display());

    let mut failures = Vec::new();
    let mut per_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let d = load(path);
        let x = floats(&d["input"]);
        let transform = d["transform"].as_str().unwrap_or("?").to_string();
        assert!(!d["params"]["flatten"].as_bool().unwrap_or(false), "{name}: flatten");
        let r = match transform.as_str() {
            "GramianAngularField" => check_gaf(&d, &x),
            "MarkovTransitionField" => check_mtf(&d, &x),
            "RecurrencePlot" => check_rp(&d, &x),
            "PiecewiseAggregateApproximation" => check_paa(&d, &x),
            other => Err(format!("unknown transform {other}")),
        };
        let entry = per_kind.entry(transform).or_default();
        match r {
            Ok(values) => {
                entry.0 += 1;
                entry.1 += values;
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let mut summary = String::new();
    for (k, (files, values)) in &per_kind {
        let _ = write!(summary, "{k}: {files} files / {values} values; ");
    }
    println!("golden: {} files, {} failed. {summary}", files.len(), failures.len());
    assert!(failures.is_empty(), "{} golden files differ:\n{}", failures.len(), failures.join("\n"));
}

/// The input series of an `errors.json` case, `Err(reason)` when the case is not about a
/// single 1-D series, `Ok(None)` when the description is unknown.
fn error_case_input(desc: &str) -> Result<Option<Vec<f64>>, &'static str> {
    let arange = |n: usize| (0..n).map(|i| i as f64).collect::<Vec<f64>>();
    // Batch-shape cases have no single-series equivalent: our API takes one `&[f64]`, so a
    // 1-D array (sklearn's "Expected 2D array"), a zero-sample batch `(0, 16)`, a ragged batch
    // and non-numeric cells cannot even be expressed.
    if desc.contains("shape (16,)") {
        return Err("1-D array: the API takes exactly one series, there is no 2-D/1-D ambiguity");
    }
    if desc.contains("shape (0,16)") {
        return Err("zero samples: a single series always is one sample");
    }
    if desc.contains("[[1,2,3],[1,2]]") {
        return Err("ragged batch: a single series cannot be ragged");
    }
    if desc.contains("'a'") {
        return Err("string cells: the series is already f64");
    }
    Ok(Some(match desc {
        d if d.starts_with("arange(16) with x[5]=nan") => {
            let mut x = arange(16);
            x[5] = f64::NAN;
            x
        }
        d if d.starts_with("arange(16) with x[5]=inf") => {
            let mut x = arange(16);
            x[5] = f64::INFINITY;
            x
        }
        d if d.starts_with("[[5.0, 7.0]]") => vec![5.0, 7.0],
        d if d.starts_with("[[5.0]]") => vec![5.0],
        "shape (1,0)" => vec![],
        "arange(16)" => arange(16),
        "arange(4)" => arange(4),
        "linspace(-1,1,16)" => {
            // numpy.linspace: i * (2/15) + (-1), last value set to 1.
            let step = 2.0 / 15.0;
            let mut x: Vec<f64> = (0..16).map(|i| i as f64 * step + -1.0).collect();
            x[15] = 1.0;
            x
        }
        _ => return Ok(None),
    }))
}

/// Runs one estimator on `x` through the exact-order entry points (`*_from_pairs`).
fn run_estimator(name: &str, kwargs: &[(String, String)], x: &[f64]) -> Result<(Matrix, Vec<String>), Error> {
    match name {
        "GramianAngularField" => {
            // The method is chosen by the caller (GASF / GADF), so it is parsed first.
            let (method, rest): (Vec<_>, Vec<_>) = kwargs.iter().cloned().partition(|(k, _)| k == "method");
            let method = match method.first() {
                Some((_, v)) => gaf_method(v)?,
                None => GafMethod::Summation,
            };
            Ok((gaf_from_pairs(x, method, &rest)?, vec![]))
        }
        "MarkovTransitionField" => mtf_from_pairs(x, kwargs),
        "RecurrencePlot" => Ok((rp_from_pairs(x, kwargs)?, vec![])),
        "PiecewiseAggregateApproximation" => {
            let out = paa_from_pairs(x, kwargs)?;
            // A 1×k "matrix" carrier for the comparison below.
            Ok((Matrix { size: out.len(), data: out }, vec![]))
        }
        other => panic!("unknown estimator {other}"),
    }
}

#[test]
fn errors_json_cases() {
    let d = load(&cgaf_test_kit::golden("pyts").join("errors.json"));
    let cases = d["cases"].as_array().expect("cases");
    let (mut passed, mut skipped, mut failures) = (0usize, Vec::new(), Vec::new());
    for c in cases {
        let case = c["case"].as_str().unwrap();
        let input = c["input"].as_str().unwrap();
        let x = match error_case_input(input) {
            Err(reason) => {
                skipped.push(format!("{case}: {reason}"));
                continue;
            }
            Ok(None) => {
                failures.push(format!("{case}: unknown input description {input:?}"));
                continue;
            }
            Ok(Some(x)) => x,
        };
        let (est, kwargs) = cgaf_test_kit::pyts::parse_estimator(c["estimator"].as_str().unwrap()).unwrap();
        let got = run_estimator(&est, &kwargs, &x);
        let verdict = match (c["result"].as_str().unwrap(), got) {
            ("exception", Err(e)) => {
                let want_type = c["exception_type"].as_str().unwrap().trim_start_matches("builtins.");
                let want_msg = c["message"].as_str().unwrap();
                if e.python_type() == want_type && e.to_string() == want_msg {
                    Ok(())
                } else {
                    Err(format!("got {}: {e}; want {want_type}: {want_msg}", e.python_type()))
                }
            }
            ("exception", Ok(_)) => Err("no error".to_string()),
            ("ok", Err(e)) => Err(format!("unexpected {}: {e}", e.python_type())),
            ("ok", Ok((m, warnings))) => {
                let shape = floats(&c["output_shape"]);
                let want_len: f64 = shape[1..].iter().product();
                let mut r = same("output size", m.data.len(), want_len as usize);
                if r.is_ok() && !c["output"].is_null() {
                    r = same_bits("output", &m.data, &floats(&c["output"])).map(|_| ());
                }
                let want_warnings: Vec<String> = c["warnings"]
                    .as_array()
                    .map(|a| a.iter().map(|w| w.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default();
                r.and_then(|_| same("warnings", warnings, want_warnings))
            }
            (other, _) => Err(format!("unknown result kind {other}")),
        };
        match verdict {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{case}: {e}")),
        }
    }
    println!(
        "errors.json: {} cases, {passed} passed, {} skipped (batch shape), {} failed",
        cases.len(),
        skipped.len(),
        failures.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(passed > 0);
}
