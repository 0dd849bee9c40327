//! `cgaf transform NAME [--param k=v]...`: a JSON array (one series, or an array of series) on
//! stdin → the image as JSON rows on stdout, full f64 precision, computed by the transform
//! plugin (the active version with a database configured, else the built-in). Errors print one line as pyts
//! does (`ValueError: ...`) and exit non-zero.

use crate::cli::{GlobalArgs, TransformArgs};
use std::io::Read;
use std::process::ExitCode;

/// A parsed stdin value: numbers (Python's json also writes NaN, Infinity), strings, arrays.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Num(f64),
    Str(String),
    Arr(Vec<Value>),
}

/// A failure with Python's exception type.
#[derive(Debug)]
struct PyError {
    kind: &'static str,
    message: String,
}

impl PyError {
    fn value(message: impl Into<String>) -> Self {
        Self { kind: "ValueError", message: message.into() }
    }

    /// A failure that is not pyts's (no plugin, database unreachable...).
    fn other(message: impl Into<String>) -> Self {
        Self { kind: "error", message: message.into() }
    }
}

impl From<cgaf_kernels::Error> for PyError {
    fn from(e: cgaf_kernels::Error) -> Self {
        Self { kind: e.python_type(), message: e.to_string() }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err(&self, what: &str) -> PyError {
        PyError::value(format!("input is not a JSON array of numbers: {what} at byte {}", self.i))
    }
    fn value(&mut self, depth: usize) -> Result<Value, PyError> {
        if depth > 8 {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.s.get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Arr(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && self.s[self.i] != b'"' {
                    self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
                }
                self.i += 1;
                let raw = std::str::from_utf8(&self.s[start..self.i.min(self.s.len())]).unwrap_or("\"\"");
                let text: String = serde_json::from_str(raw).map_err(|_| self.err("bad string"))?;
                Ok(Value::Str(text))
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && !matches!(self.s[self.i], b',' | b']' | b' ' | b'\n' | b'\t' | b'\r') {
                    self.i += 1;
                }
                let tok = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad token"))?;
                let v = match tok {
                    "NaN" | "nan" | "null" => f64::NAN,
                    "Infinity" | "inf" => f64::INFINITY,
                    "-Infinity" | "-inf" => f64::NEG_INFINITY,
                    t => t.parse::<f64>().map_err(|_| self.err(&format!("bad number {t:?}")))?,
                };
                Ok(Value::Num(v))
            }
            None => Err(self.err("unexpected end")),
        }
    }
}

fn parse_input(text: &str) -> Result<Value, PyError> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

/// The series of the input: one array of numbers, or an array of such arrays (a batch).
fn series(v: &Value, transform: &str) -> Result<(Vec<Vec<f64>>, bool), PyError> {
    let Value::Arr(items) = v else {
        return Err(PyError::value("input must be a JSON array"));
    };
    let batch = matches!(items.first(), Some(Value::Arr(_)));
    let rows: Vec<&Vec<Value>> = if batch {
        items
            .iter()
            .map(|r| match r {
                Value::Arr(a) => Ok(a),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .map_err(|_| PyError::value(ragged_message(items.len())))?
    } else {
        vec![items]
    };
    if batch && rows.windows(2).any(|w| w[0].len() != w[1].len()) {
        return Err(PyError::value(ragged_message(rows.len())));
    }
    if batch && rows.is_empty() {
        return Err(PyError::value("Found array with 0 sample(s) (shape=(0, 0)) while a minimum of 1 is required."));
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut s = Vec::with_capacity(r.len());
        for x in r {
            match x {
                Value::Num(v) => s.push(*v),
                Value::Str(t) if transform == "gasf" || transform == "gadf" => {
                    return Err(PyError::value(format!("could not convert string to float: '{t}'")));
                }
                Value::Str(_) => {
                    return Err(PyError::value(
                        "dtype='numeric' is not compatible with arrays of bytes/strings.Convert your data to numeric values explicitly instead.",
                    ));
                }
                Value::Arr(_) => return Err(PyError::value(ragged_message(out.len() + 1))),
            }
        }
        out.push(s);
    }
    Ok((out, batch))
}

fn ragged_message(n: usize) -> String {
    format!(
        "setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions. The detected shape was ({n},) + inhomogeneous part."
    )
}

/// Splits `k=v` parameters.
fn pairs(params: &[String]) -> Result<Vec<(String, String)>, PyError> {
    crate::cli::name_value_pairs(params).map_err(PyError::value)
}

/// Where the transform runs: the active plugin version of a configured database, or the
/// built-in plugin of that name.
fn load_plugin(
    name: &str,
    global: &GlobalArgs,
) -> Result<(cgaf_runtime::PluginHost, std::sync::Arc<cgaf_runtime::Plugin>), PyError> {
    // The compile cache in --data-dir, as for `cgaf serve`.
    let settings = crate::settings::runtime_with_cache(cgaf_runtime::RuntimeSettings::default(), &global.data_dir);
    let host = cgaf_runtime::PluginHost::new(settings, u32::MAX).map_err(|e| PyError::other(e.to_string()))?;
    let bytes = match crate::database::configured_url(global) {
        Some(url) => active_bytes(name, &url)?,
        None => crate::plugin_host::builtin(name)
            .ok_or_else(|| PyError::other(format!("no built-in transform {name:?}; one of {}", TRANSFORMS.join(", "))))?
            .to_vec(),
    };
    let plugin = host.runtime.load(&bytes).map_err(|e| PyError::other(format!("loading plugin {name}: {e}")))?;
    if plugin.info.kind != cgaf_runtime::PluginKind::ImageTransform {
        return Err(PyError::other(format!("{name} is a {} plugin, not an image transform", plugin.info.kind)));
    }
    Ok((host, plugin))
}

/// The bytes of the active version of `name` in the database at `url`.
fn active_bytes(name: &str, url: &str) -> Result<Vec<u8>, PyError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PyError::other(e.to_string()))?;
    rt.block_on(async {
        let store =
            cgaf_store::Store::new(&cgaf_store::DbSettings::new(url)).map_err(|e| PyError::other(e.to_string()))?;
        let active = store.active_plugins().await.map_err(|e| PyError::other(e.to_string()))?;
        let a = active
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| PyError::other(format!("no active plugin named {name:?} in the database")))?;
        store.plugin_bytes(&a.name, &a.version).await.map_err(|e| PyError::other(e.to_string()))
    })
}

/// Splits a plugin's error text `Type: message` (the built-ins write pyts's exception type first).
fn plugin_error(e: cgaf_runtime::Error) -> PyError {
    match e {
        cgaf_runtime::Error::Plugin(p) => {
            let text = p.to_string();
            match text.split_once(": ") {
                Some((kind @ ("ValueError" | "TypeError"), msg)) => PyError {
                    kind: if kind == "TypeError" { "TypeError" } else { "ValueError" },
                    message: msg.to_string(),
                },
                _ => PyError::value(text),
            }
        }
        other => PyError::other(other.to_string()),
    }
}

/// Transforms this command knows without a database (the built-ins).
pub const TRANSFORMS: [&str; 4] = ["gasf", "gadf", "mtf", "recurrence-plot"];

fn run_inner(args: &TransformArgs, global: &GlobalArgs) -> Result<String, PyError> {
    let name = if args.name == "rp" { "recurrence-plot" } else { args.name.as_str() };
    let params = pairs(&args.params)?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| PyError::value(format!("reading stdin: {e}")))?;
    let (rows, batch) = series(&parse_input(&text)?, name)?;
    let (host, plugin) = load_plugin(name, global)?;
    let mut out = Vec::with_capacity(rows.len());
    for x in &rows {
        let m = host.runtime.transform(&plugin, x, &params).map_err(plugin_error)?;
        if name == "mtf" {
            // The contract carries no warnings; pyts's are recomputed by the same kernel
            // natively (the matrix above is the plugin's).
            if let Ok((_, warnings)) = cgaf_kernels::params::mtf_from_pairs(x, &params) {
                for w in warnings {
                    eprintln!("{w}");
                }
            }
        }
        out.push(m.data.chunks(m.size.max(1)).map(|r| r.to_vec()).collect::<Vec<Vec<f64>>>());
    }
    let json = if batch { serde_json::to_string(&out) } else { serde_json::to_string(&out[0]) };
    json.map_err(|e| PyError::value(e.to_string()))
}

/// Entry point of `cgaf transform`.
pub fn run(args: &TransformArgs, global: &GlobalArgs) -> ExitCode {
    match run_inner(args, global) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}", e.kind, e.message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_numbers_parse() {
        let v = parse_input("[1, 2.5, NaN, -Infinity, 1e3]").unwrap();
        let (s, batch) = series(&v, "gasf").unwrap();
        assert!(!batch);
        assert_eq!(s[0][0], 1.0);
        assert!(s[0][2].is_nan());
        assert_eq!(s[0][3], f64::NEG_INFINITY);
        assert_eq!(s[0][4], 1000.0);
    }

    #[test]
    fn ragged_and_strings_fail_like_pyts() {
        let v = parse_input("[[1,2,3],[1,2]]").unwrap();
        assert!(series(&v, "gasf").unwrap_err().message.contains("inhomogeneous shape"));
        let v = parse_input("[\"a\", \"b\"]").unwrap();
        assert_eq!(series(&v, "gasf").unwrap_err().message, "could not convert string to float: 'a'");
        assert!(parse_input("[1, 2").is_err());
        assert!(parse_input("[1, 2] x").is_err());
    }
}
