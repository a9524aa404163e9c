//! docker's human-readable units, quoting and times.

use super::value::Val;

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = ((s as f64) / 3600.0 + 0.5) as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

/// go-units `HumanSizeWithPrecision(size, precision)`: decimal units, `%.*g`.
pub fn human_size(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, precision), UNITS[i])
}

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn human_size_binary(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, 4), UNITS[i])
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

/// Go's `strconv.Quote` for the printable text commands are made of.
pub fn go_quote(s: &str) -> String {
    Val::Str(s.to_string()).to_json(false)
}

/// docker's `formatter.Ellipsis` for single-width text.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

/// Go's `time.Time.String()` minus the monotonic part, in local time.
pub fn go_time(secs: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(secs, 0).single() {
        Some(t) => {
            let zone = t.format("%Z").to_string();
            let zone = if zone == "+00:00" {
                "UTC".to_string()
            } else {
                zone
            };
            format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), zone)
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_size(1_982_000.0, 3), "1.98MB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(1_982_456.0, 4), "1.982MB");
        assert_eq!(human_duration(56), "56 seconds");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(
            ellipsis("\"sh -c 'echo hello world'\"", 20),
            "\"sh -c 'echo hello …"
        );
    }
}
