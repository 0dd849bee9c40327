//! Floats written exactly as Rust's `Display` writes them (the shortest digits that read back
//! to the same `f64`, never an exponent), 2–3× faster: the decision log's CSV holds ~4 million
//! of them a year of 1-minute bars, and its hash is a run's `decision_log_sha256`.
//!
//! Short decimals (prices and volumes read from text: at most 8 fractional digits) are written
//! from one exact multiplication and division (`push_short_decimal`, which says why that is
//! `Display`'s text); the others as follows.
//!
//! The digits come from [`zmij`] (about 3× faster than ryu, which this used before), which finds
//! the same shortest digits as `Display` except where two digit strings of that length are
//! equally near the value: it then picks the even last digit, `Display` the upper one
//! (9 + 1/65536 = 9.0000152587890625 is `9.000015258789062` there and `9.000015258789063` in
//! `Display`). An equal distance needs the value's exact decimal
//! expansion to be one digit longer than the shortest digits, at most 18 significant digits
//! (shortest digits are at most 17), so every value whose expansion is that short (at most 19
//! digits, for margin), and every integer of 2^53 or more, is written by `Display` itself.

/// Appends `v` to `out` as `format!("{v}")` would.
pub fn push_f64(out: &mut Vec<u8>, v: f64) {
    if push_short_decimal(out, v) {
        return;
    }
    if !v.is_finite() || may_tie(v) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
        return;
    }
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(v).as_bytes();
    if !text.contains(&b'e') {
        // zmij's positional form is Display's, but for the ".0" it gives whole numbers.
        out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
        return;
    }
    // "1.2345e-7", "-5e+300": place the digits the way Display does.
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let e = text.iter().position(|&c| c == b'e').unwrap_or(text.len());
    let exponent: i32 = std::str::from_utf8(&text[e + 1..]).ok().and_then(|x| x.parse().ok()).unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut count = 0;
    let mut before_point = None;
    for &c in &text[..e] {
        if c == b'.' {
            before_point = Some(count);
        } else if count < digits.len() {
            digits[count] = c;
            count += 1;
        }
    }
    // Digits before the decimal point in the positional form.
    let point = before_point.unwrap_or(count) as i32 + exponent;
    let mut digits = &digits[..count];
    while let [rest @ .., b'0'] = digits {
        if rest.is_empty() {
            break;
        }
        digits = rest;
    }
    if negative {
        out.push(b'-');
    }
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend_from_slice(digits);
    } else if point as usize >= digits.len() {
        out.extend_from_slice(digits);
        out.resize(out.len() + (point as usize - digits.len()), b'0');
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
    }
}

/// Fractional digits [`push_short_decimal`] looks for.
const SHORT_DIGITS: u32 = 8;

/// 10^[`SHORT_DIGITS`], exact in an `f64`.
const SHORT_SCALE: f64 = 1e8;

/// 2^49: below it a scaled value and its integer are exact, with room to round.
const SHORT_BOUND: f64 = (1u64 << 49) as f64;

/// Appends `v` when it is a short decimal (at most [`SHORT_DIGITS`] fractional digits, fewer than
/// 2^49 in units of the last one: prices and volumes read from text), as `Display` writes it, and
/// says whether it did; with one multiplication and one division, where the shortest-digits
/// search takes ~15 ns.
///
/// Why it is `Display`'s text: `n = round(|v| · 10^8)` (n < 2^49, so exact); `n / 10^8` is
/// correctly rounded (both exact), so it equals |v| exactly when the decimal n·10^-8 reads back
/// to `v`. A decimal that reads back to `v` lies within an ulp of |v| (≤ 2^-52·|v|), closer than
/// any two decimals of at most 15 significant digits lie to each other (≥ 10^-15·|v|), so it is
/// the only one of them, and `Display`'s shortest digits are its own: n with its trailing zeros
/// dropped (each zero dropped is one fractional digit less, of the same value). And when such a
/// decimal exists, n is it: it is within 2^-52·2^49 = 1/8 of |v|·10^8 exactly, the product
/// within 1/32 of that, so rounding finds it.
fn push_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    let scaled = a * SHORT_SCALE;
    // Also false for NaN, infinities and zeros (Display writes "-0" for -0.0).
    if !(1.0..SHORT_BOUND).contains(&scaled) {
        return false;
    }
    // The nearest integer wherever a decimal exists (it is within 1/8 of one; the sum is within
    // 1/16 of exact), without the call `f64::round` compiles to.
    // Signed: converting an `i64` to `f64` is one instruction, a `u64` several (n < 2^49 either way).
    let whole = (scaled + 0.5) as i64;
    if whole as f64 / SHORT_SCALE != a {
        return false;
    }
    let mut n = whole.unsigned_abs();
    let mut fraction_digits = SHORT_DIGITS as usize;
    while fraction_digits > 0 && n.is_multiple_of(10) {
        n /= 10;
        fraction_digits -= 1;
    }
    let sign = usize::from(v < 0.0);
    let digits = n.ilog10() as usize + 1;
    // "-0.00000012": at most 1 + 15 + 1 bytes, or 3 + 8.
    let len = sign
        + if fraction_digits >= digits {
            2 + fraction_digits
        } else if fraction_digits == 0 {
            digits
        } else {
            digits + 1
        };
    // Written in place in `out` (a short text of zeros first, cut back to `len` after), from the
    // last digit back: no copy of a length known only at run time, no division by one.
    let at = out.len();
    out.extend_from_slice(&[b'0'; SHORT_TEXT]);
    let text = &mut out[at..at + len];
    if sign == 1 {
        text[0] = b'-';
    }
    let mut end = len;
    for _ in 0..fraction_digits {
        end -= 1;
        text[end] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    if fraction_digits >= digits {
        // "0." before them; the zeros between are in place.
        text[sign + 1] = b'.';
    } else {
        if fraction_digits > 0 {
            end -= 1;
            text[end] = b'.';
        }
        write_digits(&mut text[sign..end], n);
    }
    out.truncate(at + len);
    true
}

/// Room of a short text: a short decimal's (at most 17 bytes), with room to spare.
pub(crate) const SHORT_TEXT: usize = 32;

/// Appends the first `len` bytes of `text`: a copy of fixed size (two vector moves, where a copy
/// of a length known only at run time is a call), cut back to `len`.
pub(crate) fn push_short_text(out: &mut Vec<u8>, text: &[u8; SHORT_TEXT], len: usize) {
    let end = out.len() + len;
    out.extend_from_slice(text);
    out.truncate(end);
}

/// Two-digit pairs "00".."99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `n`'s decimal digits right-aligned into `out` (leading zeros where `out` is longer, the
/// top digits lost where it is shorter).
fn write_digits(out: &mut [u8], mut n: u64) {
    let mut end = out.len();
    while end >= 2 && n >= 10 {
        let pair = (n % 100) as usize * 2;
        out[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        n /= 100;
        end -= 2;
    }
    if end >= 1 && n > 0 {
        out[end - 1] = b'0' + (n % 10) as u8;
    }
}

/// 5^k for k < 28 (5^27 < 10^19 ≤ 5^28).
const POWERS_OF_FIVE: [u128; 28] = {
    let mut table = [1u128; 28];
    let mut k = 1;
    while k < 28 {
        table[k] = table[k - 1] * 5;
        k += 1;
    }
    table
};

/// Whether two shortest digit strings could be equally near `v` (finite): its exact decimal
/// expansion has at most 19 significant digits, or it is an integer of 2^53 or more.
fn may_tie(v: f64) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    // |v| = mantissa · 2^exponent
    let (mut mantissa, mut exponent) =
        if biased == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), biased - 1075) };
    if mantissa == 0 {
        return false;
    }
    let zeros = mantissa.trailing_zeros();
    mantissa >>= zeros;
    exponent += zeros as i32;
    if exponent >= 0 {
        // An integer: below 2^53 its digits are the shortest and unique.
        return exponent > 11 || (mantissa << exponent) >= (1u64 << 53);
    }
    // mantissa (odd) / 2^k = mantissa · 5^k / 10^k: mantissa · 5^k's digits are the expansion's.
    let k = exponent.unsigned_abs() as usize;
    k < POWERS_OF_FIVE.len() && u128::from(mantissa) * POWERS_OF_FIVE[k] < 10u128.pow(19)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn display(v: f64) -> Vec<u8> {
        format!("{v}").into_bytes()
    }

    fn ours(v: f64) -> Vec<u8> {
        let mut out = Vec::new();
        push_f64(&mut out, v);
        out
    }

    /// splitmix64: a reproducible stream of 64-bit values.
    fn stream(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn equal_distances_are_written_as_display_writes_them() {
        // zmij (as ryu): 9.000015258789062 and 12345.000122070312 (the even digit).
        for v in [9.0 + 1.0 / 65536.0, 12345.0 + 1.0 / 8192.0, -(9.0 + 1.0 / 65536.0), 2f64.powi(60) + 2048.0] {
            assert!(may_tie(v), "{v}");
            assert_eq!(ours(v), display(v), "{v}");
        }
        assert_eq!(ours(9.0 + 1.0 / 65536.0), b"9.000015258789063");
    }

    #[test]
    fn special_and_extreme_values_are_written_as_display_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1.5e-7,
            1e-5,
            1e15,
            1e16,
            1e22,
            1e23,
            123456789012345680.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 / 3.0,
            7425.573519526095,
        ] {
            assert_eq!(String::from_utf8(ours(v)).unwrap(), format!("{v}"), "{:#x}", v.to_bits());
        }
    }

    #[test]
    fn short_decimals_are_written_as_display_writes_them() {
        let mut next = stream(5);
        let mut short = 0;
        for i in 0..400_000u64 {
            let x = next();
            // Integers and decimals of 1 to 10 fractional digits (9 and 10: never short), of every
            // size the short path takes and beyond it, either sign; and their neighbours.
            let digits = (x % 11) as i32;
            let whole = match i % 4 {
                0 => x >> 40,
                1 => x >> 20,
                2 => x >> 12,
                _ => x % 1000,
            };
            let mut v = whole as f64 / 10f64.powi(digits);
            if i % 7 == 0 {
                v = f64::from_bits(v.to_bits() + 1);
            }
            if x & (1 << 63) != 0 {
                v = -v;
            }
            let mut out = Vec::new();
            short += usize::from(push_short_decimal(&mut out, v));
            if !out.is_empty() {
                assert_eq!(out, display(v), "{:#x}", v.to_bits());
            }
            assert_eq!(ours(v), display(v), "{:#x}", v.to_bits());
        }
        assert!(short > 100_000, "few values took the short path: {short}");
        // The edges: the bound, the smallest step, zeros, ends of ranges.
        for v in [
            1e-8,
            -1e-8,
            1.5e-8,
            0.1 + 0.2,
            5_629_499.534_213_12,
            5_629_499.534_213_119,
            5_629_499.534_213_121,
            SHORT_BOUND / SHORT_SCALE,
            f64::from_bits((SHORT_BOUND / SHORT_SCALE).to_bits() - 1),
            0.0,
            -0.0,
            100.0,
            1e6,
            9.000_000_01,
            0.999_999_99,
            12_345.678_9,
        ] {
            assert_eq!(String::from_utf8(ours(v)).unwrap(), format!("{v}"), "{:#x}", v.to_bits());
        }
    }

    #[test]
    fn random_values_are_written_as_display_writes_them() {
        let mut next = stream(11);
        let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        let mut ties = 0;
        for i in 0..400_000u64 {
            let x = next();
            let v = match i % 5 {
                // any bit pattern
                0 => f64::from_bits(x),
                // prices and equities
                1 => 1000.0 + unit(x) * 99_000.0,
                // cents
                2 => (x % 10_000_000) as f64 / 100.0,
                // every magnitude
                3 => unit(x) * 10f64.powi((x % 60) as i32 - 30),
                // short binary fractions: where equal distances happen
                _ => (x >> 24) as f64 / 2f64.powi((x % 64) as i32),
            };
            ties += usize::from(v.is_finite() && may_tie(v));
            assert_eq!(ours(v), display(v), "{:#x}", v.to_bits());
        }
        assert!(ties > 1000, "the sample has few values where two digit strings could be equally near: {ties}");
    }
}
