//! Durations and byte sizes as the stack file writes them (`"10m"`, `"2s"`,
//! `"512MiB"`, `"128m"`).

use std::time::Duration;

/// Parses a duration written as one or more `<integer><unit>` parts, with the
/// units `ms`, `s`, `m` and `h`: `"500ms"`, `"2s"`, `"10m"`, `"1m30s"`.
///
/// Returns the reason as text when the value is invalid.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("the duration is empty".to_string());
    }

    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (digits, after_digits) = rest.split_at(digits_end);
        let unit_end = after_digits
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after_digits.len());
        let (unit, after_unit) = after_digits.split_at(unit_end);

        let amount: u64 = digits
            .parse()
            .map_err(|_| format!("the number `{digits}` is too large"))?;
        let unit_millis: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(format!("the number `{digits}` has no unit")),
            other => return Err(format!("unknown unit `{other}`")),
        };
        let millis = amount
            .checked_mul(unit_millis)
            .ok_or_else(|| format!("`{text}` is too long"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        rest = after_unit;
    }
    Ok(total)
}

/// Parses a byte size: an integer with an optional unit. `k`, `m` and `g`
/// (any case, with or without a trailing `b`) are binary multiples as in
/// `docker run --memory`, and so are `KiB`, `MiB` and `GiB`. No unit or `b`
/// means bytes.
///
/// Returns the reason as text when the value is invalid.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err("the size must start with a number".to_string());
    }
    let (digits, unit) = text.split_at(digits_end);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("the number `{digits}` is too large"))?;

    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}`")),
    };
    amount
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_units() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn duration_rejects_invalid() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("10 m").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn size_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("128m"), Ok(128 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096b"), Ok(4096));
    }

    #[test]
    fn size_rejects_invalid() {
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1.5g").is_err());
        assert!(parse_size("12 MiB").is_err());
        assert!(parse_size("1t").is_err());
        assert!(parse_size("99999999999g").is_err());
    }
}
