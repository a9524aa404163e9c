//! docker's human-readable units, quoting and times.

use super::value::Val;

pub use gounits::{bytes_size as human_size_binary, human_duration, human_size};

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
        assert_eq!(
            ellipsis("\"sh -c 'echo hello world'\"", 20),
            "\"sh -c 'echo hello …"
        );
    }
}
