//! Helpers on the WIT call types ([`Param`], [`Matrix`], [`PluginError`], [`Decision`]), the
//! bars-as-columns a strategy's `targets` receives ([`BarColumns`]) and the usual blender input
//! checks ([`check_blend_inputs`]).

use crate::{Bar, Decision, Matrix, Param, PluginError};

/// Bars as columns, what contract 0.2.0's `targets` receives (its `bar-columns`): element `i`
/// of every column is bar `i`, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarColumns {
    /// Close times, ms since the Unix epoch (UTC).
    pub time_ms: Vec<i64>,
    /// First midpoints.
    pub open: Vec<f64>,
    /// Highest midpoints.
    pub high: Vec<f64>,
    /// Lowest midpoints.
    pub low: Vec<f64>,
    /// Last midpoints.
    pub close: Vec<f64>,
    /// Traded sizes, base currency.
    pub volume: Vec<f64>,
    /// Taker-buy sizes, base currency.
    pub buy_volume: Vec<f64>,
    /// Taker-sell sizes, base currency.
    pub sell_volume: Vec<f64>,
}

impl BarColumns {
    /// The columns of `bars`.
    pub fn of(bars: &[Bar]) -> BarColumns {
        BarColumns {
            time_ms: bars.iter().map(|b| b.time_ms).collect(),
            open: bars.iter().map(|b| b.open).collect(),
            high: bars.iter().map(|b| b.high).collect(),
            low: bars.iter().map(|b| b.low).collect(),
            close: bars.iter().map(|b| b.close).collect(),
            volume: bars.iter().map(|b| b.volume).collect(),
            buy_volume: bars.iter().map(|b| b.buy_volume).collect(),
            sell_volume: bars.iter().map(|b| b.sell_volume).collect(),
        }
    }

    /// Bars (the length of `time_ms`; [`BarColumns::check`] says whether every column agrees).
    pub fn len(&self) -> usize {
        self.time_ms.len()
    }

    /// Whether there are no bars.
    pub fn is_empty(&self) -> bool {
        self.time_ms.is_empty()
    }

    /// [`PluginError::InvalidInput`] unless every column holds [`BarColumns::len`] values.
    pub fn check(&self) -> Result<(), PluginError> {
        let n = self.len();
        let lens = [
            ("open", self.open.len()),
            ("high", self.high.len()),
            ("low", self.low.len()),
            ("close", self.close.len()),
            ("volume", self.volume.len()),
            ("buy-volume", self.buy_volume.len()),
            ("sell-volume", self.sell_volume.len()),
        ];
        match lens.iter().find(|(_, l)| *l != n) {
            Some((name, l)) => {
                Err(PluginError::InvalidInput(format!("bar column {name} holds {l} values, time-ms {n}")))
            }
            None => Ok(()),
        }
    }

    /// Bar `i` (panics when `i` is out of range or a column is short; [`BarColumns::check`] first).
    pub fn bar(&self, i: usize) -> Bar {
        Bar {
            time_ms: self.time_ms[i],
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
            buy_volume: self.buy_volume[i],
            sell_volume: self.sell_volume[i],
        }
    }

    /// Every bar, in order.
    pub fn to_bars(&self) -> Vec<Bar> {
        (0..self.len()).map(|i| self.bar(i)).collect()
    }
}

impl Param {
    /// A parameter value: name and value text.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Param {
        Param { name: name.into(), value: value.into() }
    }
}

impl Matrix {
    /// A `size` × `size` matrix from row-major `data`; [`PluginError::Failed`] when `data`
    /// does not hold `size * size` values or `size` exceeds `u32`.
    pub fn new(size: usize, data: Vec<f64>) -> Result<Matrix, PluginError> {
        let m = Matrix {
            size: u32::try_from(size).map_err(|_| PluginError::Failed(format!("matrix size {size} exceeds u32")))?,
            data,
        };
        m.check().map_err(PluginError::Failed)?;
        Ok(m)
    }

    /// A `size` × `size` matrix of zeros.
    pub fn zeros(size: u32) -> Matrix {
        Matrix { size, data: vec![0.0; size as usize * size as usize] }
    }

    /// Whether `data` holds exactly `size * size` values; the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let want = u64::from(self.size) * u64::from(self.size);
        if self.data.len() as u64 == want {
            Ok(())
        } else {
            Err(format!("a matrix of size {} needs {want} values, got {}", self.size, self.data.len()))
        }
    }

    /// Element `(i, j)`, or `None` when out of range.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        let n = self.size as usize;
        if i < n && j < n {
            self.data.get(i * n + j).copied()
        } else {
            None
        }
    }
}

impl PluginError {
    /// The message, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            PluginError::InvalidParams(m) | PluginError::InvalidInput(m) | PluginError::Failed(m) => m,
        }
    }

    /// The WIT case name: `invalid-params`, `invalid-input` or `failed`.
    pub fn case(&self) -> &'static str {
        match self {
            PluginError::InvalidParams(_) => "invalid-params",
            PluginError::InvalidInput(_) => "invalid-input",
            PluginError::Failed(_) => "failed",
        }
    }
}

impl Decision {
    /// A decision with an optional reason.
    pub fn new(target: f64, reason: Option<String>) -> Decision {
        Decision { target, reason }
    }

    /// A decision with a reason.
    pub fn with_reason(target: f64, reason: impl Into<String>) -> Decision {
        Decision { target, reason: Some(reason.into()) }
    }
}

/// The usual blender input checks: at least one matrix, each well formed (`size * size`
/// values), all of the same size, every value finite. Returns the size; errors are
/// [`PluginError::InvalidInput`].
pub fn check_blend_inputs(matrices: &[Matrix]) -> Result<usize, PluginError> {
    let Some(first) = matrices.first() else {
        return Err(PluginError::InvalidInput("no matrices to blend".into()));
    };
    for (k, m) in matrices.iter().enumerate() {
        m.check().map_err(|e| PluginError::InvalidInput(format!("matrix {k}: {e}")))?;
        if m.size != first.size {
            return Err(PluginError::InvalidInput(format!(
                "matrix {k} has size {}, matrix 0 has size {}; all matrices must have the same size",
                m.size, first.size
            )));
        }
    }
    for (k, m) in matrices.iter().enumerate() {
        if let Some(at) = m.data.iter().position(|v| !v.is_finite()) {
            let n = (m.size as usize).max(1);
            return Err(PluginError::InvalidInput(format!(
                "matrix {k} holds {} at ({}, {}); values must be finite",
                m.data[at],
                at / n,
                at % n
            )));
        }
    }
    Ok(first.size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PluginKind;

    #[test]
    fn matrices() {
        assert!(Matrix::new(2, vec![0.0; 4]).is_ok());
        assert_eq!(
            Matrix::new(2, vec![0.0; 3]),
            Err(PluginError::Failed("a matrix of size 2 needs 4 values, got 3".into()))
        );
        let m = Matrix::new(2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.get(1, 0), Some(3.0));
        assert_eq!(m.get(2, 0), None);
        assert_eq!(Matrix::zeros(3).data.len(), 9);
        assert_eq!(Matrix::new(0, vec![]).map(|m| m.size), Ok(0));
    }

    #[test]
    fn blend_inputs() {
        let m = |size: u32, n: usize| Matrix { size, data: vec![1.0; n] };
        assert_eq!(check_blend_inputs(&[]), Err(PluginError::InvalidInput("no matrices to blend".into())));
        assert_eq!(check_blend_inputs(&[m(2, 4), m(2, 4)]), Ok(2));
        assert_eq!(
            check_blend_inputs(&[m(2, 4), m(3, 9)]).unwrap_err().message(),
            "matrix 1 has size 3, matrix 0 has size 2; all matrices must have the same size"
        );
        assert_eq!(
            check_blend_inputs(&[m(2, 4), m(2, 5)]).unwrap_err().message(),
            "matrix 1: a matrix of size 2 needs 4 values, got 5"
        );
        let nan = Matrix { size: 2, data: vec![1.0, 1.0, f64::NAN, 1.0] };
        assert_eq!(
            check_blend_inputs(&[m(2, 4), nan]).unwrap_err().message(),
            "matrix 1 holds NaN at (1, 0); values must be finite"
        );
    }

    #[test]
    fn bar_columns() {
        let bar = |t: i64| Bar {
            time_ms: t,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: t as f64,
            volume: 3.0,
            buy_volume: 1.0,
            sell_volume: 2.0,
        };
        let bars = vec![bar(1), bar(2), bar(3)];
        let mut c = BarColumns::of(&bars);
        assert_eq!((c.len(), c.is_empty()), (3, false));
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.to_bars(), bars);
        c.close.pop();
        assert_eq!(c.check().unwrap_err().message(), "bar column close holds 2 values, time-ms 3");
        assert!(BarColumns::default().is_empty());
    }

    #[test]
    fn errors() {
        let e = PluginError::InvalidInput("ValueError: Input contains NaN.".into());
        assert_eq!(e.message(), "ValueError: Input contains NaN.");
        assert_eq!(e.case(), "invalid-input");
        assert_eq!(PluginKind::Strategy.as_str(), "strategy");
    }
}
