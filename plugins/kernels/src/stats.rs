//! numpy's linear percentile and scipy's inverse normal CDF (Cephes `ndtri`), bit for bit.

use std::cmp::Ordering;

/// numpy's `_lerp(a, b, t)`: `a + (b-a)*t`, or `b - (b-a)*(1-t)` when `t >= 0.5`.
#[inline]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Virtual index split the way numpy's `_get_indexes` / `_get_gamma` do it for
/// `method='linear'`: `(previous, next, gamma)` with `v = (n-1) * (q/100)`.
fn plan(n: usize, q_percent: f64) -> (usize, usize, f64) {
    let q = q_percent / 100.0;
    let v = (n - 1) as f64 * q;
    if v >= (n - 1) as f64 || v.is_nan() {
        // Index -1 for both: gamma = v - (-1).
        (n - 1, n - 1, v + 1.0)
    } else if v < 0.0 {
        (0, 0, v)
    } else {
        let f = v.floor();
        (f as usize, f as usize + 1, v - f)
    }
}

/// `numpy.percentile(x, q_percent)` (method `'linear'`) of an ascending-sorted slice
/// (NaN when empty).
pub fn percentile_sorted(sorted: &[f64], q_percent: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let (i, j, g) = plan(sorted.len(), q_percent);
    lerp(sorted[i], sorted[j], g)
}

/// `numpy.percentile(values, q_percent)` (method `'linear'`) of a slice, which is reordered in
/// place (selection, not a full sort); NaN when empty.
pub fn percentile_unsorted(values: &mut [f64], q_percent: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let (i, j, g) = plan(values.len(), q_percent);
    let cmp = |a: &f64, b: &f64| a.partial_cmp(b).unwrap_or(Ordering::Equal);
    let (_, &mut a, right) = values.select_nth_unstable_by(i, cmp);
    let b = if j == i { a } else { right.iter().copied().fold(f64::INFINITY, f64::min) };
    lerp(a, b, g)
}

// Coefficients copied verbatim from Cephes `ndtri.c` (as shipped in scipy), so that each
// literal rounds to the same f64 as in C.
#[allow(clippy::excessive_precision)]
const S2PI: f64 = 2.50662827463100050242E0;
#[allow(clippy::excessive_precision)]
const P0: [f64; 5] = [
    -5.99633501014107895267E1,
    9.80010754185999661536E1,
    -5.66762857469070293439E1,
    1.39312609387279679503E1,
    -1.23916583867381258016E0,
];
#[allow(clippy::excessive_precision)]
const Q0: [f64; 8] = [
    1.95448858338141759834E0,
    4.67627912898881538453E0,
    8.63602421390890590575E1,
    -2.25462687854119370527E2,
    2.00260212380060660359E2,
    -8.20372256168333339912E1,
    1.59056225126211695515E1,
    -1.18331621121330003142E0,
];
#[allow(clippy::excessive_precision)]
const P1: [f64; 9] = [
    4.05544892305962419923E0,
    3.15251094599893866154E1,
    5.71628192246421288162E1,
    4.40805073893200834700E1,
    1.46849561928858024014E1,
    2.18663306850790267539E0,
    -1.40256079171354495875E-1,
    -3.50424626827848203418E-2,
    -8.57456785154685413611E-4,
];
#[allow(clippy::excessive_precision)]
const Q1: [f64; 8] = [
    1.57799883256466749731E1,
    4.53907635128879210584E1,
    4.13172038254672030440E1,
    1.50425385692907503408E1,
    2.50464946208309415979E0,
    -1.42182922854787788574E-1,
    -3.80806407691578277194E-2,
    -9.33259480895457427372E-4,
];
#[allow(clippy::excessive_precision)]
const P2: [f64; 9] = [
    3.23774891776946035970E0,
    6.91522889068984211695E0,
    3.93881025292474443415E0,
    1.33303460815807542389E0,
    2.01485389549179081538E-1,
    1.23716634817820021358E-2,
    3.01581553508235416007E-4,
    2.65806974686737550832E-6,
    6.23974539184983293730E-9,
];
#[allow(clippy::excessive_precision)]
const Q2: [f64; 8] = [
    6.02427039364742014255E0,
    3.67983563856160859403E0,
    1.37702099489081330271E0,
    2.16236993594496635890E-1,
    1.34204006088543189037E-2,
    3.28014464682127739104E-4,
    2.89247864745380683936E-6,
    6.79019408009981274425E-9,
];

/// Cephes `polevl`: Horner with an explicit leading coefficient.
#[inline]
fn polevl(x: f64, coef: &[f64]) -> f64 {
    let mut ans = coef[0];
    for &c in &coef[1..] {
        ans = ans * x + c;
    }
    ans
}

/// Cephes `p1evl`: Horner with an implicit leading coefficient 1.
#[inline]
fn p1evl(x: f64, coef: &[f64]) -> f64 {
    let mut ans = x + coef[0];
    for &c in &coef[1..] {
        ans = ans * x + c;
    }
    ans
}

/// `scipy.special.ndtri`: the inverse of the standard normal CDF, a port of Cephes `ndtri`
/// (what scipy uses), including its `1 - y` symmetry step and its three rational
/// approximations. `ndtri(0) = -inf`, `ndtri(1) = inf`, NaN outside `[0, 1]`.
pub fn ndtri(y0: f64) -> f64 {
    #[allow(clippy::excessive_precision)]
    const EXPM2: f64 = 0.13533528323661269189; // exp(-2), as in Cephes
    if y0 == 0.0 {
        return f64::NEG_INFINITY;
    }
    if y0 == 1.0 {
        return f64::INFINITY;
    }
    if !(0.0..=1.0).contains(&y0) {
        return f64::NAN;
    }
    let mut code = true;
    let mut y = y0;
    if y > 1.0 - EXPM2 {
        y = 1.0 - y;
        code = false;
    }
    if y > EXPM2 {
        y -= 0.5;
        let y2 = y * y;
        let x = y + y * (y2 * polevl(y2, &P0) / p1evl(y2, &Q0));
        return x * S2PI;
    }
    let x = (-2.0 * y.ln()).sqrt();
    let x0 = x - x.ln() / x;
    let z = 1.0 / x;
    let x1 = if x < 8.0 { z * polevl(z, &P1) / p1evl(z, &Q1) } else { z * polevl(z, &P2) / p1evl(z, &Q2) };
    let r = x0 - x1;
    if code {
        -r
    } else {
        r
    }
}

/// `scipy.stats.norm.ppf(q)` for the standard normal: `ndtri(q) * 1.0 + 0.0`.
pub fn norm_ppf(q: f64) -> f64 {
    ndtri(q) * 1.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndtri_known_values() {
        assert_eq!(norm_ppf(0.5), 0.0);
        assert_eq!(norm_ppf(0.75), 0.6744897501960817);
        assert_eq!(norm_ppf(0.25), -0.6744897501960817);
        assert_eq!(norm_ppf(0.125), -1.1503493803760079);
        assert_eq!(norm_ppf(0.875), 1.1503493803760079);
        assert_eq!(norm_ppf(0.375), -0.31863936396437514);
        assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
        assert!(ndtri(1.5).is_nan());
    }

    #[test]
    fn percentile_matches_numpy() {
        let x = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(percentile_sorted(&x, 50.0), 1.5);
        assert_eq!(percentile_sorted(&x, 100.0), 3.0);
        assert_eq!(percentile_sorted(&x, 0.0), 0.0);
        assert_eq!(percentile_sorted(&[5.0], 30.0), 5.0);
        let mut y = [3.0, 0.0, 2.0, 1.0];
        assert_eq!(percentile_unsorted(&mut y, 25.0), 0.75);
    }
}
