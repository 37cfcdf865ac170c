//! Upstream's `resource.Quantity`: parsing with its error messages, comparison, and the
//! canonical string form (`500m`, `1Gi`, `1e3`) that upstream prints and stores.
//!
//! Values are held as an exact count of nano-units (10⁻⁹), the finest precision upstream
//! keeps; anything finer is rounded up, as upstream rounds.

use std::cmp::Ordering;

use serde_json::Value;

/// How a quantity is printed: upstream's `Format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `1e3`
    DecimalExponent,
    /// `1Ki`
    BinarySI,
    /// `1k`, `500m`
    DecimalSI,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
    pub format: Format,
}

pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC_ERROR: &str = "unable to parse numeric part of quantity";
const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

/// The largest magnitude kept (upstream caps binary quantities near 2⁶³; we cap at what
/// fits our representation, far beyond any real resource amount).
const MAX_NANOS: i128 = i128::MAX / 1024;

impl Quantity {
    pub fn zero() -> Self {
        Quantity {
            nanos: 0,
            format: Format::DecimalSI,
        }
    }

    pub fn from_int(value: i64) -> Self {
        Quantity {
            nanos: value as i128 * 1_000_000_000,
            format: Format::DecimalSI,
        }
    }

    /// A quantity as JSON carries it: a string, or a bare number.
    pub fn from_json(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::String(s) => Self::parse(s.trim()),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => Err(FORMAT_ERROR),
        }
    }

    /// Upstream's `ParseQuantity`.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() {
            return Err(FORMAT_ERROR);
        }
        let bytes = s.as_bytes();
        let mut pos = 0;
        let negative = match bytes[0] {
            b'-' => {
                pos += 1;
                true
            }
            b'+' => {
                pos += 1;
                false
            }
            _ => false,
        };
        let digits_end = |from: usize| {
            bytes[from..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(bytes.len(), |p| from + p)
        };
        let int_end = digits_end(pos);
        let int_part = &s[pos..int_end];
        pos = int_end;
        let mut frac_part = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            let frac_end = digits_end(pos + 1);
            frac_part = &s[pos + 1..frac_end];
            pos = frac_end;
        }
        let suffix = &s[pos..];
        check_suffix_shape(suffix)?;
        let (base, exponent, format) = interpret_suffix(suffix).ok_or(SUFFIX_ERROR)?;
        // digits as an integer mantissa with a decimal exponent
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let mut scale10: i64 = -(frac_part.len() as i64);
        let mut mantissa: i128 = 0;
        for (i, d) in digits.bytes().enumerate() {
            if mantissa > i128::MAX / 100 {
                // Keep the leading digits; the rest only shift the magnitude (rounded up).
                scale10 += (digits.len() - i) as i64;
                if digits[i..].bytes().any(|b| b != b'0') {
                    mantissa += 1;
                }
                break;
            }
            mantissa = mantissa * 10 + i128::from(d - b'0');
        }
        let nanos = match base {
            10 => scale_to_nanos(mantissa, scale10 + exponent as i64),
            _ => {
                // binary: mantissa * 2^exponent * 10^scale10
                scale_to_nanos(mantissa, scale10).map(|mut v| {
                    for _ in 0..exponent {
                        v = v.saturating_mul(2);
                    }
                    v
                })
            }
        }
        .ok_or(NUMERIC_ERROR)?;
        let nanos = nanos.min(MAX_NANOS);
        let mut format = format;
        if format == Format::BinarySI && nanos > 0 && nanos < 1_000_000_000 {
            format = Format::DecimalSI;
        }
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Upstream's `MilliValue`, rounded up.
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// Upstream's `Value`: the integer value, rounded up.
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000_000)
    }

    /// Upstream's `Add`: the sum, in the format of `self` unless `self` is zero, when it
    /// takes the format of `other`.
    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    /// Upstream's `Sub`, with the same format rule as [`Quantity::add`].
    pub fn sub(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(other.nanos),
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    /// Upstream's `Neg`.
    pub fn neg(&self) -> Quantity {
        Quantity {
            nanos: -self.nanos,
            format: self.format,
        }
    }

    /// Upstream's `RoundUp(0)`: up to a whole number.
    pub fn round_up_to_integer(&self) -> Self {
        Quantity {
            nanos: div_ceil(self.nanos, 1_000_000_000) * 1_000_000_000,
            format: self.format,
        }
    }

    /// Upstream's `SetDefaults_ResourceList` rounding: up to milli precision.
    pub fn round_up_to_milli(&self) -> Self {
        Quantity {
            nanos: div_ceil(self.nanos, 1_000_000) * 1_000_000,
            format: self.format,
        }
    }

    /// Go's `%#v` of a `resource.Quantity` value, as upstream's field errors print one
    /// (its unexported fields, with the amount in lowest terms).
    pub fn go_sharp_v(&self) -> String {
        let (mut value, mut scale) = (self.nanos, -9);
        while value != 0 && value % 10 == 0 {
            value /= 10;
            scale += 1;
        }
        let format = match self.format {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        };
        format!(
            "resource.Quantity{{i:resource.int64Amount{{value:{value}, scale:{scale}}}, d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:\"\", Format:\"{format}\"}}"
        )
    }

    /// Upstream's `Quantity.String()`: the canonical form.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySI {
            let whole = self.nanos % 1_000_000_000 == 0;
            if self.nanos.abs() < 1024 * 1_000_000_000 || !whole {
                format = Format::DecimalSI;
            }
        }
        match format {
            Format::BinarySI => {
                let mut value = self.nanos / 1_000_000_000;
                let mut exp = 0;
                while exp < 6 && value % 1024 == 0 {
                    value /= 1024;
                    exp += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
                format!("{value}{suffix}")
            }
            Format::DecimalSI | Format::DecimalExponent => {
                let mut mantissa = self.nanos;
                let mut exponent: i32 = -9;
                while mantissa % 10 == 0 {
                    mantissa /= 10;
                    exponent += 1;
                }
                match exponent.rem_euclid(3) {
                    1 => {
                        mantissa *= 10;
                        exponent -= 1;
                    }
                    2 => {
                        mantissa *= 100;
                        exponent -= 2;
                    }
                    _ => {}
                }
                let suffix = if format == Format::DecimalExponent {
                    if exponent == 0 {
                        String::new()
                    } else {
                        format!("e{exponent}")
                    }
                } else {
                    match exponent {
                        -9 => "n".into(),
                        -6 => "u".into(),
                        -3 => "m".into(),
                        0 => String::new(),
                        3 => "k".into(),
                        6 => "M".into(),
                        9 => "G".into(),
                        12 => "T".into(),
                        15 => "P".into(),
                        18 => "E".into(),
                        _ => format!("e{exponent}"),
                    }
                };
                format!("{mantissa}{suffix}")
            }
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

/// `mantissa × 10^exp` in nano-units, rounded up; `None` when it does not fit.
fn scale_to_nanos(mantissa: i128, exp: i64) -> Option<i128> {
    let shift = exp + 9;
    if mantissa == 0 {
        return Some(0);
    }
    if shift >= 0 {
        let mut v = mantissa;
        for _ in 0..shift {
            v = v.checked_mul(10).unwrap_or(MAX_NANOS);
            if v >= MAX_NANOS {
                return Some(MAX_NANOS);
            }
        }
        Some(v)
    } else {
        let mut v = mantissa;
        let mut remainder = false;
        for _ in 0..(-shift).min(60) {
            remainder |= v % 10 != 0;
            v /= 10;
        }
        if -shift > 60 {
            remainder |= v != 0;
            v = 0;
        }
        Some(if remainder { v + 1 } else { v })
    }
}

/// The suffix must be letters from the suffix alphabet, then an optional signed integer.
fn check_suffix_shape(suffix: &str) -> Result<(), &'static str> {
    let letters_end = suffix
        .bytes()
        .position(|b| !b"eEinumkKMGTP".contains(&b))
        .unwrap_or(suffix.len());
    let mut rest = &suffix[letters_end..];
    if let Some(stripped) = rest.strip_prefix(['-', '+']) {
        rest = stripped;
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FORMAT_ERROR)
    }
}

fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let decimal = |e| Some((10, e, Format::DecimalSI));
    let binary = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let exp: i32 = s[1..].parse().ok()?;
            Some((10, exp, Format::DecimalExponent))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_upstream_string() {
        for (input, want) in [
            ("0", "0"),
            ("100m", "100m"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("1000", "1k"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1Ki", "1Ki"),
            ("512", "512"),
            ("0.5Gi", "512Mi"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("2E6", "2e6"),
            ("-1", "-1"),
            ("+5", "5"),
            ("1.", "1"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
            ("1n", "1n"),
            ("0.1n", "1n"),
        ] {
            assert_eq!(Quantity::parse(input).unwrap().canonical(), want, "{input}");
        }
    }

    #[test]
    fn malformed_quantities_fail_with_upstream_messages() {
        assert_eq!(Quantity::parse("abc"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse(""), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1Qi"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1ki"), Err(SUFFIX_ERROR));
        assert_eq!(Quantity::parse("1e"), Err(SUFFIX_ERROR));
    }

    #[test]
    fn sums_keep_the_first_nonzero_format() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(Quantity::zero().add(&q("252Mi")).canonical(), "252Mi");
        assert_eq!(q("500m").add(&q("500m")).canonical(), "1");
        assert_eq!(q("1Gi").sub(&q("1Gi")).canonical(), "0");
        assert_eq!(q("1Gi").add(&q("1G")).canonical(), "2073741824");
        assert_eq!(q("1").sub(&q("1500m")).canonical(), "-500m");
        assert_eq!(q("1500m").round_up_to_integer().canonical(), "2");
    }

    #[test]
    fn comparison_is_by_value_across_formats() {
        let q = |s| Quantity::parse(s).unwrap();
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m").cmp(&q("1")), Ordering::Equal);
        assert!(q("2") > q("1500m"));
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("1.1").value(), 2);
        assert_eq!(q("0.0001").round_up_to_milli().canonical(), "1m");
    }
}
