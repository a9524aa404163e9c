//! An app's `CHECKS` file, as Dokku reads it: `WAIT=`, `TIMEOUT=`,
//! `ATTEMPTS=` and `path expected-content` lines.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// Before the first check.
    pub wait: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Tries of each check before the deploy fails.
    pub attempts: u32,
    /// Path (with query) and the content its answer must contain.
    pub checks: Vec<(String, String)>,
}

/// Dokku's defaults: WAIT=5, TIMEOUT=30, ATTEMPTS=5.
impl Default for Checks {
    fn default() -> Self {
        Checks {
            wait: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            attempts: 5,
            checks: Vec::new(),
        }
    }
}

pub fn parse_checks(text: &str) -> Result<Checks, String> {
    let mut c = Checks::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("CHECKS line {}: {why}: {line:?}", i + 1);
        if let Some((key, value)) = line.split_once('=')
            && !key.contains(' ')
            && !key.starts_with('/')
        {
            let n: u64 = value.trim().parse().map_err(|_| bad("expected a number"))?;
            match key {
                "WAIT" => c.wait = Duration::from_secs(n),
                "TIMEOUT" => c.timeout = Duration::from_secs(n.max(1)),
                "ATTEMPTS" => c.attempts = u32::try_from(n.max(1)).unwrap_or(u32::MAX),
                _ => return Err(bad("unknown setting (WAIT, TIMEOUT, ATTEMPTS)")),
            }
            continue;
        }
        let (path, expected) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if !path.starts_with('/') {
            return Err(bad("a check is `/path expected content`"));
        }
        c.checks
            .push((path.to_string(), expected.trim().to_string()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_settings_lines_and_mistakes() {
        let c = parse_checks("WAIT=1\nTIMEOUT=3\nATTEMPTS=2\n/ hello world\n/health\n").unwrap();
        assert_eq!(c.wait, Duration::from_secs(1));
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.attempts, 2);
        assert_eq!(
            c.checks,
            [
                ("/".to_string(), "hello world".to_string()),
                ("/health".to_string(), String::new())
            ]
        );
        assert_eq!(parse_checks("").unwrap(), Checks::default());
        assert!(
            parse_checks("WAIT=soon")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            parse_checks("SLEEP=1")
                .unwrap_err()
                .contains("unknown setting")
        );
        assert!(
            parse_checks("health ok")
                .unwrap_err()
                .contains("/path expected")
        );
    }
}
