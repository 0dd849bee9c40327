//! Gramian Angular Fields (GASF / GADF), pyts's `GramianAngularField`.

use crate::paa::paa_into;
use crate::scale::{min_max, min_max_scale_in_place};
use crate::validate::{check_series, resolve_size, SizeParam};
use crate::{Error, Matrix};

/// Which Gramian Angular Field to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GafMethod {
    /// GASF: `G[i][j] = c_i*c_j - s_i*s_j` (= cos(φi + φj)); pyts `'summation'` / `'s'`.
    Summation,
    /// GADF: `G[i][j] = s_i*c_j - c_i*s_j` (= sin(φi − φj)); pyts `'difference'` / `'d'`.
    Difference,
}

impl GafMethod {
    /// Parses pyts's method names `'summation'`, `'s'`, `'difference'`, `'d'` (case-sensitive),
    /// with pyts's message otherwise.
    pub fn from_pyts(name: &str) -> Result<GafMethod, Error> {
        match name {
            "summation" | "s" => Ok(GafMethod::Summation),
            "difference" | "d" => Ok(GafMethod::Difference),
            _ => Err(Error::Method),
        }
    }

    /// pyts's long name of the method (`"summation"` or `"difference"`).
    pub fn pyts_name(self) -> &'static str {
        match self {
            GafMethod::Summation => "summation",
            GafMethod::Difference => "difference",
        }
    }
}

/// Parameters of pyts's `GramianAngularField` (the method is passed separately).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GafParams {
    /// Output edge `k` (int in `[1, n]` or fraction in `(0, 1]`); default `1.0` (k = n).
    pub image_size: SizeParam,
    /// Min-max scaling range `(a, b)` with `-1 <= a < b <= 1`; `None` means no scaling (the
    /// PAA values must then lie in `[-1, 1]`). Default `(-1, 1)`.
    pub sample_range: Option<(f64, f64)>,
    /// Overlapping PAA segments; default false.
    pub overlapping: bool,
}

impl Default for GafParams {
    /// pyts defaults: `image_size=1.0, sample_range=(-1, 1), overlapping=False`.
    fn default() -> Self {
        GafParams { image_size: SizeParam::Fraction(1.0), sample_range: Some((-1.0, 1.0)), overlapping: false }
    }
}

/// Checks everything that does not need the PAA values, in pyts's order, and returns `k`.
fn check(x: &[f64], p: &GafParams) -> Result<usize, Error> {
    check_series(x)?;
    let k = resolve_size("image_size", p.image_size, x.len())?;
    if let Some((a, b)) = p.sample_range {
        if !(-1.0 <= a && a < b && b <= 1.0) {
            return Err(Error::SampleRangeBounds);
        }
    }
    Ok(k)
}

/// PAA to `c.len()` values, scaling, then the sines: fills `c` (cosines) and `s` (sines).
fn polar_into(x: &[f64], p: &GafParams, c: &mut [f64], s: &mut [f64]) -> Result<(), Error> {
    paa_into(x, c.len(), p.overlapping, c);
    match p.sample_range {
        None => {
            let (mn, mx) = min_max(c);
            if mn < -1.0 || mx > 1.0 {
                return Err(Error::SampleRangeNoneOutOfBounds);
            }
        }
        Some((a, b)) => {
            // MinMaxScaler's own check_array: a PAA mean can overflow to ±inf.
            if c.iter().any(|v| !v.is_finite()) {
                return Err(Error::InputInfinite);
            }
            min_max_scale_in_place(c, a, b);
        }
    }
    for (si, &ci) in s.iter_mut().zip(c.iter()) {
        // numpy: sqrt(clip(1 - c**2, 0, 1))
        *si = (1.0 - ci * ci).clamp(0.0, 1.0).sqrt();
    }
    Ok(())
}

/// The cosines `c` (the scaled PAA values) and sines `s = sqrt(clip(1 - c², 0, 1))` the field
/// is built from (pyts's `X_cos` / `X_sin`).
pub fn gaf_polar(x: &[f64], p: &GafParams) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let k = check(x, p)?;
    let mut c = vec![0.0; k];
    let mut s = vec![0.0; k];
    polar_into(x, p, &mut c, &mut s)?;
    Ok((c, s))
}

/// Fills the `k`×`k` field (row-major) from `c` and `s`: two products, then a subtraction.
#[inline]
fn fill(method: GafMethod, c: &[f64], s: &[f64], img: &mut [f64]) {
    let k = c.len();
    match method {
        GafMethod::Summation => {
            for (row, (&ci, &si)) in img.chunks_exact_mut(k).zip(c.iter().zip(s.iter())) {
                for ((o, &cj), &sj) in row.iter_mut().zip(c.iter()).zip(s.iter()) {
                    *o = ci * cj - si * sj;
                }
            }
        }
        GafMethod::Difference => {
            for (row, (&ci, &si)) in img.chunks_exact_mut(k).zip(c.iter().zip(s.iter())) {
                for ((o, &cj), &sj) in row.iter_mut().zip(c.iter()).zip(s.iter()) {
                    *o = si * cj - ci * sj;
                }
            }
        }
    }
}

/// Allocation-free GAF: writes the `k`×`k` field row-major into `out` (resized to `k*k`;
/// its capacity is reused across calls) and returns `k`.
///
/// Bit-identical to [`gaf`]. `out` also serves as scratch for the cosines and sines, so a
/// buffer reused at the same size costs no allocation and no zero-filling of the image.
pub fn gaf_into(x: &[f64], method: GafMethod, p: &GafParams, out: &mut Vec<f64>) -> Result<usize, Error> {
    let k = check(x, p)?;
    let kk = k * k;
    // Layout during the computation: [image (k*k) | cosines (k) | sines (k)].
    out.resize(kk + 2 * k, 0.0);
    let (img, tail) = out.split_at_mut(kk);
    let (c, s) = tail.split_at_mut(k);
    if let Err(e) = polar_into(x, p, c, s) {
        out.clear();
        return Err(e);
    }
    fill(method, c, s, img);
    out.truncate(kk);
    Ok(k)
}

/// pyts's `GramianAngularField(image_size, sample_range, method, overlapping).transform([x])[0]`.
///
/// Steps: PAA to `k` values (none when `k == n`), min-max scaling of the PAA output to
/// `sample_range`, `s = sqrt(clip(1 - c², 0, 1))`, then GASF `c_i*c_j - s_i*s_j` or
/// GADF `s_i*c_j - c_i*s_j`. Errors in pyts's order: input, `image_size`, `sample_range`
/// bounds, and (after the PAA) the `sample_range=None` range check.
pub fn gaf(x: &[f64], method: GafMethod, p: &GafParams) -> Result<Matrix, Error> {
    let mut data = Vec::new();
    let size = gaf_into(x, method, p, &mut data)?;
    Ok(Matrix { size, data })
}

/// Gramian Angular Summation Field: [`gaf`] with [`GafMethod::Summation`].
pub fn gasf(x: &[f64], p: &GafParams) -> Result<Matrix, Error> {
    gaf(x, GafMethod::Summation, p)
}

/// Gramian Angular Difference Field: [`gaf`] with [`GafMethod::Difference`].
pub fn gadf(x: &[f64], p: &GafParams) -> Result<Matrix, Error> {
    gaf(x, GafMethod::Difference, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_quirk_0p14_of_50_is_8() {
        let x: Vec<f64> = (0..50).map(|t| (t as f64 * 0.3).sin()).collect();
        let p = GafParams { image_size: SizeParam::Fraction(0.14), ..GafParams::default() };
        assert_eq!(gasf(&x, &p).unwrap().size, 8);
    }

    #[test]
    fn constant_series() {
        let x = [3.5; 20];
        let p = GafParams::default();
        assert!(gasf(&x, &p).unwrap().data.iter().all(|&v| v == 1.0));
        assert!(gadf(&x, &p).unwrap().data.iter().all(|&v| v == 0.0));
        let p = GafParams { sample_range: Some((0.0, 1.0)), ..p };
        assert!(gasf(&x, &p).unwrap().data.iter().all(|&v| v == -1.0));
    }

    #[test]
    fn gaf_into_reuses_buffer() {
        let x: Vec<f64> = (0..40).map(|t| (t as f64).cos()).collect();
        let p = GafParams { image_size: SizeParam::Int(10), ..GafParams::default() };
        let mut buf = Vec::new();
        for _ in 0..3 {
            let k = gaf_into(&x, GafMethod::Difference, &p, &mut buf).unwrap();
            assert_eq!(k, 10);
            assert_eq!(buf.len(), 100);
        }
        let m = gadf(&x, &p).unwrap();
        assert!(m.data.iter().zip(&buf).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
