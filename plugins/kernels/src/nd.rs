//! The ndarray API: the same transforms on `ndarray` views, with `ndarray` arrays out, so a
//! Rust caller uses the kernels as it uses other numeric crates.
//!
//! One series is an [`ArrayView1<f64>`]; a batch of series (pyts's `X`, one sample per row) is
//! an [`ArrayView2<f64>`]. An image is an [`Array2<f64>`] (`k × k`), a batch of images an
//! [`Array3<f64>`] (`n_samples × k × k`), a PAA or a scaling of one series an [`Array1<f64>`]
//! and of a batch an [`Array2<f64>`]. Results are bit-identical to the slice functions of the
//! crate root (which these call: a contiguous view is read in place, any other is copied
//! once), so every pyts golden vector holds for both.
//!
//! ```
//! use cgaf_kernels::{nd, GafMethod, GafParams, SizeParam};
//! use ndarray::{array, Array1};
//!
//! let x = Array1::linspace(0.0, 15.0, 16);
//! let p = GafParams { image_size: SizeParam::Int(4), ..GafParams::default() };
//! let img = nd::gaf(x.view(), GafMethod::Summation, &p)?;
//! assert_eq!(img.dim(), (4, 4));
//! assert_eq!(img[[0, 0]], 1.0);
//!
//! let batch = array![[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]];
//! let imgs = nd::gaf_rows(batch.view(), GafMethod::Difference, &GafParams::default())?;
//! assert_eq!(imgs.dim(), (2, 4, 4));
//! # Ok::<(), cgaf_kernels::Error>(())
//! ```

use crate::gaf::{GafMethod, GafParams};
use crate::mtf::MtfParams;
use crate::paa::PaaParams;
use crate::rp::RpParams;
use crate::{Error, Matrix};
use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, Axis};
use std::borrow::Cow;

/// The series as a slice: in place when the view is contiguous, else copied.
fn series<'a>(x: &'a ArrayView1<'_, f64>) -> Cow<'a, [f64]> {
    match x.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.to_vec()),
    }
}

/// A [`Matrix`] as a `size × size` array, without copying; [`Error::MatrixShape`] when its
/// `data` does not hold `size²` values.
pub fn into_array(m: Matrix) -> Result<Array2<f64>, Error> {
    let (size, len) = (m.size, m.data.len());
    Array2::from_shape_vec((size, size), m.data).map_err(|_| Error::MatrixShape { size, len })
}

/// Stacks equally sized images into `n × k × k` (`k = 0` for an empty batch).
fn stack(images: Vec<Matrix>) -> Result<Array3<f64>, Error> {
    let n = images.len();
    let k = images.first().map_or(0, |m| m.size);
    let mut data = Vec::with_capacity(n * k * k);
    for m in images {
        if m.size != k || m.data.len() != k * k {
            return Err(Error::MatrixShape { size: k, len: m.data.len() });
        }
        data.extend(m.data);
    }
    Array3::from_shape_vec((n, k, k), data).map_err(|_| Error::MatrixShape { size: k, len: n * k * k })
}

/// One transform per row of `x`, stacked.
fn per_row(x: ArrayView2<'_, f64>, f: impl Fn(&[f64]) -> Result<Matrix, Error>) -> Result<Array3<f64>, Error> {
    let images = x.axis_iter(Axis(0)).map(|row| f(&series(&row))).collect::<Result<Vec<_>, _>>()?;
    stack(images)
}

/// [`crate::gaf()`] of one series: the `k × k` GASF or GADF.
pub fn gaf(x: ArrayView1<'_, f64>, method: GafMethod, p: &GafParams) -> Result<Array2<f64>, Error> {
    into_array(crate::gaf(&series(&x), method, p)?)
}

/// [`gaf`] with [`GafMethod::Summation`].
pub fn gasf(x: ArrayView1<'_, f64>, p: &GafParams) -> Result<Array2<f64>, Error> {
    gaf(x, GafMethod::Summation, p)
}

/// [`gaf`] with [`GafMethod::Difference`].
pub fn gadf(x: ArrayView1<'_, f64>, p: &GafParams) -> Result<Array2<f64>, Error> {
    gaf(x, GafMethod::Difference, p)
}

/// pyts's `GramianAngularField(...).transform(X)`: one field per row, `n × k × k`.
pub fn gaf_rows(x: ArrayView2<'_, f64>, method: GafMethod, p: &GafParams) -> Result<Array3<f64>, Error> {
    per_row(x, |s| crate::gaf(s, method, p))
}

/// [`crate::mtf()`] of one series: the `k × k` Markov Transition Field and pyts's warnings.
pub fn mtf(x: ArrayView1<'_, f64>, p: &MtfParams) -> Result<(Array2<f64>, Vec<String>), Error> {
    let (m, warnings) = crate::mtf(&series(&x), p)?;
    Ok((into_array(m)?, warnings))
}

/// pyts's `MarkovTransitionField(...).transform(X)`: one field per row, `n × k × k` (warnings
/// dropped; use [`mtf`] per row to see them).
pub fn mtf_rows(x: ArrayView2<'_, f64>, p: &MtfParams) -> Result<Array3<f64>, Error> {
    per_row(x, |s| crate::mtf(s, p).map(|(m, _)| m))
}

/// [`crate::recurrence_plot()`] of one series.
pub fn recurrence_plot(x: ArrayView1<'_, f64>, p: &RpParams) -> Result<Array2<f64>, Error> {
    into_array(crate::recurrence_plot(&series(&x), p)?)
}

/// pyts's `RecurrencePlot(...).transform(X)`: one plot per row, `n × k × k`.
pub fn recurrence_plot_rows(x: ArrayView2<'_, f64>, p: &RpParams) -> Result<Array3<f64>, Error> {
    per_row(x, |s| crate::recurrence_plot(s, p))
}

/// [`crate::paa_transform()`] of one series.
pub fn paa(x: ArrayView1<'_, f64>, p: &PaaParams) -> Result<Array1<f64>, Error> {
    Ok(Array1::from_vec(crate::paa_transform(&series(&x), p)?))
}

/// pyts's `PiecewiseAggregateApproximation(...).transform(X)`: one row per series.
pub fn paa_rows(x: ArrayView2<'_, f64>, p: &PaaParams) -> Result<Array2<f64>, Error> {
    let rows = x.axis_iter(Axis(0)).map(|row| crate::paa_transform(&series(&row), p)).collect::<Result<Vec<_>, _>>()?;
    let k = rows.first().map_or(0, Vec::len);
    let n = rows.len();
    Array2::from_shape_vec((n, k), rows.concat()).map_err(|_| Error::MatrixShape { size: k, len: n * k })
}

/// [`crate::min_max_scale()`] of one series (scikit-learn's `MinMaxScaler` on one feature).
pub fn min_max_scale(x: ArrayView1<'_, f64>, lo: f64, hi: f64) -> Array1<f64> {
    Array1::from_vec(crate::min_max_scale(&series(&x), lo, hi))
}

/// [`min_max_scale`] of every row of `x` (each row is one series, as in pyts).
pub fn min_max_scale_rows(x: ArrayView2<'_, f64>, lo: f64, hi: f64) -> Array2<f64> {
    let mut out = x.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let scaled = min_max_scale(row.view(), lo, hi);
        row.assign(&scaled);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MtfStrategy, SizeParam, Threshold};
    use ndarray::{s, Array, Array2};

    fn ramp(n: usize) -> Array1<f64> {
        Array1::from_iter((0..n).map(|t| (t as f64 * 0.37).sin() * 3.0 + t as f64 * 0.1))
    }

    fn bits(a: &[f64]) -> Vec<u64> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn views_match_the_slice_functions_bit_for_bit() {
        let x = ramp(40);
        let xs = x.as_slice().unwrap();
        let gp = GafParams { image_size: SizeParam::Int(10), ..GafParams::default() };
        let g = gaf(x.view(), GafMethod::Difference, &gp).unwrap();
        assert_eq!(bits(g.as_slice().unwrap()), bits(&crate::gaf(xs, GafMethod::Difference, &gp).unwrap().data));
        let mp = MtfParams { n_bins: 4, strategy: MtfStrategy::Uniform, ..MtfParams::default() };
        let (m, _) = mtf(x.view(), &mp).unwrap();
        assert_eq!(bits(m.as_slice().unwrap()), bits(&crate::mtf(xs, &mp).unwrap().0.data));
        let rp = RpParams { threshold: Threshold::Point, ..RpParams::default() };
        let r = recurrence_plot(x.view(), &rp).unwrap();
        assert_eq!(r.dim(), (40, 40));
        assert_eq!(bits(r.as_slice().unwrap()), bits(&crate::recurrence_plot(xs, &rp).unwrap().data));
        let pp = PaaParams { window_size: Some(SizeParam::Int(4)), ..PaaParams::default() };
        assert_eq!(
            bits(paa(x.view(), &pp).unwrap().as_slice().unwrap()),
            bits(&crate::paa_transform(xs, &pp).unwrap())
        );
        assert_eq!(
            bits(min_max_scale(x.view(), -1.0, 1.0).as_slice().unwrap()),
            bits(&crate::min_max_scale(xs, -1.0, 1.0))
        );
    }

    #[test]
    fn strided_views_are_read_like_contiguous_ones() {
        let x = ramp(64);
        let every_other = x.slice(s![..;2]);
        assert!(every_other.as_slice().is_none());
        let copy = every_other.to_owned();
        let p = GafParams::default();
        assert_eq!(gasf(every_other, &p).unwrap(), gasf(copy.view(), &p).unwrap());
        // A column of a row-major batch is strided too.
        let batch = Array2::from_shape_fn((16, 3), |(i, j)| (i * 3 + j) as f64);
        let col = batch.column(1);
        assert_eq!(gadf(col, &p).unwrap(), gadf(col.to_owned().view(), &p).unwrap());
    }

    #[test]
    fn batches_are_stacked_per_row() {
        let batch = Array::from_shape_fn((3, 12), |(i, t)| ((i + 1) as f64 * t as f64 * 0.3).cos());
        let p = GafParams { image_size: SizeParam::Int(6), ..GafParams::default() };
        let imgs = gaf_rows(batch.view(), GafMethod::Summation, &p).unwrap();
        assert_eq!(imgs.dim(), (3, 6, 6));
        for (i, row) in batch.axis_iter(Axis(0)).enumerate() {
            assert_eq!(imgs.index_axis(Axis(0), i), gasf(row, &p).unwrap());
        }
        let mp = MtfParams { n_bins: 3, ..MtfParams::default() };
        assert_eq!(mtf_rows(batch.view(), &mp).unwrap().dim(), (3, 12, 12));
        assert_eq!(recurrence_plot_rows(batch.view(), &RpParams::default()).unwrap().dim(), (3, 12, 12));
        let pp = PaaParams { window_size: None, output_size: Some(SizeParam::Int(4)), ..PaaParams::default() };
        assert_eq!(paa_rows(batch.view(), &pp).unwrap().dim(), (3, 4));
        let scaled = min_max_scale_rows(batch.view(), 0.0, 1.0);
        assert_eq!(scaled.row(2), min_max_scale(batch.row(2), 0.0, 1.0));
        assert_eq!(gaf_rows(Array2::zeros((0, 5)).view(), GafMethod::Summation, &p).unwrap().dim(), (0, 0, 0));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let x = Array1::from_vec(vec![1.0, f64::NAN]);
        assert_eq!(gasf(x.view(), &GafParams::default()), Err(Error::InputNaN));
        let batch = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, f64::INFINITY, 0.0]).unwrap();
        assert_eq!(gaf_rows(batch.view(), GafMethod::Summation, &GafParams::default()), Err(Error::InputInfinite));
        assert_eq!(into_array(Matrix { size: 2, data: vec![0.0; 3] }), Err(Error::MatrixShape { size: 2, len: 3 }));
    }
}
