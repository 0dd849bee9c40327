//! `cgaf transform NAME [--param k=v]...`: a JSON array (one series, or an array of series) on
//! stdin → the image as JSON rows on stdout, full f64 precision. Errors print one line as pyts
//! does (`ValueError: ...`) and exit non-zero.

use crate::cli::TransformArgs;
use cgaf_kernels::Matrix;
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
    params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| PyError::value(format!("parameter {p:?} must be written name=value")))
        })
        .collect()
}

/// Runs one named transform on one series, validating in pyts's order; returns the matrix and
/// pyts's warnings.
pub fn apply(name: &str, x: &[f64], params: &[(String, String)]) -> Result<(Matrix, Vec<String>), cgaf_kernels::Error> {
    use cgaf_kernels::params as p;
    match name {
        "gasf" => Ok((p::gaf_from_pairs(x, cgaf_kernels::GafMethod::Summation, params)?, vec![])),
        "gadf" => Ok((p::gaf_from_pairs(x, cgaf_kernels::GafMethod::Difference, params)?, vec![])),
        "mtf" => p::mtf_from_pairs(x, params),
        _ => Ok((p::rp_from_pairs(x, params)?, vec![])),
    }
}

/// Transforms this command knows.
pub const TRANSFORMS: [&str; 4] = ["gasf", "gadf", "mtf", "recurrence-plot"];

fn run_inner(args: &TransformArgs) -> Result<String, PyError> {
    let name = args.name.as_str();
    if !TRANSFORMS.contains(&name) && name != "rp" {
        return Err(PyError::value(format!("unknown transform {name:?}; one of {}", TRANSFORMS.join(", "))));
    }
    let params = pairs(&args.params)?;
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| PyError::value(format!("reading stdin: {e}")))?;
    let (rows, batch) = series(&parse_input(&text)?, name)?;
    let mut out = Vec::with_capacity(rows.len());
    for x in &rows {
        let (m, warnings) = apply(name, x, &params)?;
        for w in warnings {
            eprintln!("{w}");
        }
        out.push(m.rows().map(|r| r.to_vec()).collect::<Vec<Vec<f64>>>());
    }
    let json = if batch { serde_json::to_string(&out) } else { serde_json::to_string(&out[0]) };
    json.map_err(|e| PyError::value(e.to_string()))
}

/// Entry point of `cgaf transform`.
pub fn run(args: &TransformArgs) -> ExitCode {
    match run_inner(args) {
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
