//! Number text the way Java prints it, so that JSON and SQL text match the reference.

use bigdecimal::BigDecimal;
use num_bigint::Sign;

/// Java's `Double.toString`: shortest round-trip digits, plain notation for
/// `1e-3 <= |d| < 1e7` (always with a fractional digit: `100.0`), otherwise `1.0E10` style.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(24);
    if d < 0.0 {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Java's `BigDecimal.toString`: plain when the scale is non-negative and the adjusted exponent
/// is at least -6, otherwise scientific (`1E+3`, `1.23E-7`). Every digit and the scale are kept.
pub fn java_big_decimal(d: &BigDecimal) -> String {
    let (unscaled, scale) = d.as_bigint_and_exponent();
    let coeff = unscaled.magnitude().to_string();
    let len = coeff.len() as i64;
    let adjusted = -scale + (len - 1);
    let mut out = String::with_capacity(coeff.len() + 8);
    if unscaled.sign() == Sign::Minus {
        out.push('-');
    }
    if scale >= 0 && adjusted >= -6 {
        if scale == 0 {
            out.push_str(&coeff);
        } else if len > scale {
            let point = (len - scale) as usize;
            out.push_str(&coeff[..point]);
            out.push('.');
            out.push_str(&coeff[point..]);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (scale - len) as usize));
            out.push_str(&coeff);
        }
    } else {
        out.push_str(&coeff[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&coeff[1..]);
        }
        out.push('E');
        if adjusted > 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn doubles_print_like_java() {
        let cases = [
            (30.0, "30.0"),
            (4.5, "4.5"),
            (100.0, "100.0"),
            (1e10, "1.0E10"),
            (1e-5, "1.0E-5"),
            (1.5e-5, "1.5E-5"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (2.5e-3, "0.0025"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (d, s) in cases {
            assert_eq!(java_double(d), s);
            if d.is_finite() {
                assert_eq!(s.parse::<f64>().unwrap(), d);
            }
        }
    }

    #[test]
    fn big_decimals_print_like_java() {
        for s in [
            "123.4500",
            "1E+3",
            "1.23E-7",
            "0.000001",
            "-0.5",
            "12345678901234567890.123456789",
            "0",
            "0.00",
            "1E-7",
            "-1.5E+10",
        ] {
            assert_eq!(java_big_decimal(&BigDecimal::from_str(s).unwrap()), s);
        }
    }
}
