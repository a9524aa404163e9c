//! Severity levels, from words databases use and from CVSS scores.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

pub const ALL: [Severity; 5] = [
    Severity::Unknown,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The words GHSA, Debian (urgency), Alpine and others use.
    pub fn from_word(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" | "unimportant" | "minor" => Severity::Low,
            _ => return None,
        })
    }

    /// Trivy's (and NVD's) bands of a CVSS base score.
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Unknown
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown severity {s:?} (want UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)")
            })
    }
}

/// The base score of an OSV `severity` entry: a CVSS v3 vector is scored;
/// a bare number is taken as it is. CVSS v2/v4 vectors are not scored.
pub fn cvss_score(kind: &str, score: &str) -> Option<f64> {
    if let Ok(n) = score.trim().parse::<f64>() {
        return Some(n);
    }
    if kind == "CVSS_V3" || score.starts_with("CVSS:3") {
        let base = cvss::v3::Base::from_str(score.trim()).ok()?;
        return Some(base.score().value());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_band_as_trivy() {
        assert_eq!(Severity::from_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_score(7.0), Severity::High);
        assert_eq!(Severity::from_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_score(3.9), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::Unknown);
    }

    #[test]
    fn cvss_vectors_are_scored() {
        let s = cvss_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert!((s - 9.8).abs() < 0.01, "{s}");
        assert_eq!(cvss_score("CVSS_V3", "5.3"), Some(5.3));
        assert_eq!(cvss_score("CVSS_V4", "CVSS:4.0/AV:N"), None);
    }

    #[test]
    fn words() {
        assert_eq!(Severity::from_word("Moderate"), Some(Severity::Medium));
        assert_eq!(Severity::from_word("unimportant"), Some(Severity::Low));
        assert_eq!(Severity::from_word("not yet assigned"), None);
        assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
    }
}
