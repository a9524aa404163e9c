//! go-units' human-readable sizes and durations, as `docker ps`, `docker
//! images` and `docker system df` print them, and its size parser.

/// go-units `HumanDuration`: "Less than a second", "About a minute",
/// "3 hours", "2 weeks" for a duration of `secs` seconds.
pub fn human_duration(secs: i64) -> String {
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go: int(d.Hours() + 0.5).
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

/// go-units `HumanSizeWithPrecision(size, precision)`: decimal units, `%.*g`.
pub fn human_size(size: f64, precision: usize) -> String {
    scaled(
        size,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
        precision,
    )
}

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn bytes_size(size: f64) -> String {
    scaled(
        size,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
        4,
    )
}

fn scaled(size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut v = size;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", fmt_g(v, precision), units[i])
}

/// Go's `%.{p}g` for the small non-negative values sizes produce.
fn fmt_g(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// go-units' message for a size it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size: '{0}'")]
pub struct SizeError(pub String);

/// go-units `RAMInBytes`: "64m", "1.5g", "512MiB": binary units, case and
/// a trailing "b"/"ib" ignored.
pub fn ram_in_bytes(s: &str) -> Result<i64, SizeError> {
    parse_size(s, 1024.0)
}

/// go-units `FromHumanSize`: as [`ram_in_bytes`] with decimal units
/// ("20m" is 20,000,000), as the local log driver's `max-size` reads.
pub fn from_human_size(s: &str) -> Result<i64, SizeError> {
    parse_size(s, 1000.0)
}

fn parse_size(s: &str, base: f64) -> Result<i64, SizeError> {
    let bad = || SizeError(s.to_string());
    let t = s.trim();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let num: f64 = t[..n].parse().map_err(|_| bad())?;
    let unit = t[n..].trim().to_lowercase();
    let unit = unit.strip_suffix("ib").map(str::to_string).unwrap_or(unit);
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(bad()),
    };
    Ok((num * base.powi(power)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_are_decimal_ram_sizes_binary() {
        assert_eq!(from_human_size("20m"), Ok(20_000_000));
        assert_eq!(from_human_size("1k"), Ok(1000));
        assert_eq!(ram_in_bytes("1k"), Ok(1024));
        assert!(from_human_size("x").is_err());
    }

    #[test]
    fn durations_read_like_go_units() {
        for (secs, text) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (42, "42 seconds"),
            (90, "About a minute"),
            (5 * 60, "5 minutes"),
            (61 * 60, "About an hour"),
            (5 * 3600, "5 hours"),
            (47 * 3600 + 1799, "47 hours"),
            (3 * 86400, "3 days"),
            (20 * 86400, "2 weeks"),
            (90 * 86400, "3 months"),
            (3 * 365 * 86400, "3 years"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs}");
        }
    }

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(999.0, 3), "999B");
        assert_eq!(human_size(1000.0, 3), "1kB");
        assert_eq!(human_size(4_862_000.0, 3), "4.86MB");
        assert_eq!(human_size(1_234_567_890.0, 4), "1.235GB");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(1_572_864.0), "1.5MiB");
    }

    #[test]
    fn ram_sizes_parse_like_go_units() {
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Ok(1536 << 20));
        assert_eq!(ram_in_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("2KB"), Ok(2048));
        assert_eq!(
            ram_in_bytes("12x").unwrap_err().to_string(),
            "invalid size: '12x'"
        );
    }
}
