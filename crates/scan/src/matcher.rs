//! OSV's range semantics: is a version affected, and by which fix is it not.
//!
//! Per range, events are sorted by version and walked: `introduced` opens an
//! affected interval, `fixed` closes it at that version, `last_affected`
//! just after it; a `limit` caps every interval. `ECOSYSTEM` ranges compare
//! with the ecosystem's rules, `SEMVER` with SemVer; `GIT` ranges (commit
//! hashes) cannot be judged from a version and are skipped. An explicit
//! `versions` entry is affected whatever the ranges say.

use std::cmp::Ordering;

use crate::osv::{Event, Range};
use crate::version::{Ecosystem, semver_compare};

/// Affected, and the lowest fix above the version ("" when none is known).
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub fixed: String,
}

/// How a range's versions are ordered.
type Compare = fn(Ecosystem, &str, &str) -> Option<Ordering>;

fn cmp_fn(kind: &str) -> Option<Compare> {
    match kind {
        "ECOSYSTEM" => Some(|e, a, b| e.compare(a, b)),
        "SEMVER" => Some(|_, a, b| semver_compare(a, b)),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Introduced,
    Fixed,
    LastAffected,
    Limit,
}

fn event(e: &Event) -> Option<(Kind, &str)> {
    if let Some(v) = &e.introduced {
        Some((Kind::Introduced, v))
    } else if let Some(v) = &e.fixed {
        Some((Kind::Fixed, v))
    } else if let Some(v) = &e.last_affected {
        Some((Kind::LastAffected, v))
    } else {
        e.limit.as_deref().map(|v| (Kind::Limit, v))
    }
}

/// Whether `version` falls in `range`, with the fix that ends its interval.
pub fn in_range(eco: Ecosystem, range: &Range, version: &str) -> Option<Verdict> {
    let cmp = cmp_fn(&range.kind)?;
    // "0" is below every version whatever the ecosystem's rules.
    let order = |a: &str, b: &str| -> Option<Ordering> {
        match (a == "0", b == "0") {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            _ => cmp(eco, a, b),
        }
    };
    let mut events: Vec<(Kind, &str)> = range.events.iter().filter_map(event).collect();
    // An event whose version the ecosystem cannot read makes the range unusable.
    for (_, v) in &events {
        if *v != "*" && order(v, version).is_none() {
            return None;
        }
    }
    let limits: Vec<&str> = events
        .iter()
        .filter(|(k, _)| *k == Kind::Limit)
        .map(|(_, v)| *v)
        .collect();
    events.retain(|(k, _)| *k != Kind::Limit);
    events.sort_by(|a, b| order(a.1, b.1).unwrap_or(Ordering::Equal));
    let mut affected = false;
    let mut fixed = String::new();
    for (kind, v) in &events {
        let o = order(version, v)?;
        match kind {
            Kind::Introduced if o != Ordering::Less => affected = true,
            Kind::Fixed if o != Ordering::Less => affected = false,
            Kind::Fixed if affected && fixed.is_empty() => fixed = v.to_string(),
            Kind::LastAffected if o == Ordering::Greater => affected = false,
            _ => {}
        }
        if matches!(kind, Kind::Introduced) && o != Ordering::Less {
            // A later interval's fix is the one that counts.
            fixed.clear();
        }
    }
    if !affected {
        return None;
    }
    for l in limits {
        if l != "*" && order(version, l)? != Ordering::Less {
            return None;
        }
    }
    Some(Verdict { fixed })
}

/// All ranges and the `versions` list of one affected entry.
pub fn affects(
    eco: Ecosystem,
    ranges: &[Range],
    versions: &[String],
    version: &str,
) -> Option<Verdict> {
    let mut hit: Option<Verdict> = None;
    for r in ranges {
        if let Some(v) = in_range(eco, r, version) {
            // Prefer a verdict that names a fix.
            if hit.as_ref().is_none_or(|h| h.fixed.is_empty()) {
                hit = Some(v);
            }
        }
    }
    if hit.is_none() && versions.iter().any(|v| v == version) {
        hit = Some(Verdict {
            fixed: String::new(),
        });
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(kind: &str, events: &[(&str, &str)]) -> Range {
        Range {
            kind: kind.into(),
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = Some(v.to_string());
                    match *k {
                        "introduced" => Event {
                            introduced: v,
                            ..Default::default()
                        },
                        "fixed" => Event {
                            fixed: v,
                            ..Default::default()
                        },
                        "last_affected" => Event {
                            last_affected: v,
                            ..Default::default()
                        },
                        _ => Event {
                            limit: v,
                            ..Default::default()
                        },
                    }
                })
                .collect(),
        }
    }

    fn check(eco: Ecosystem, r: &Range, v: &str) -> Option<String> {
        in_range(eco, r, v).map(|v| v.fixed)
    }

    #[test]
    fn introduced_fixed() {
        let r = range(
            "ECOSYSTEM",
            &[("introduced", "0"), ("fixed", "1:2.38.1-5+deb12u4")],
        );
        assert_eq!(
            check(Ecosystem::Debian, &r, "1:2.38.1-5+deb12u3").as_deref(),
            Some("1:2.38.1-5+deb12u4")
        );
        assert_eq!(check(Ecosystem::Debian, &r, "1:2.38.1-5+deb12u4"), None);
        assert_eq!(
            check(Ecosystem::Debian, &r, "2.39"),
            Some("1:2.38.1-5+deb12u4".into()),
            "epoch 0 < 1"
        );
    }

    #[test]
    fn unfixed_and_last_affected() {
        let r = range("ECOSYSTEM", &[("introduced", "0")]);
        assert_eq!(check(Ecosystem::Debian, &r, "1.0").as_deref(), Some(""));
        let r = range(
            "ECOSYSTEM",
            &[("introduced", "1.0"), ("last_affected", "1.5")],
        );
        assert_eq!(check(Ecosystem::Debian, &r, "1.5").as_deref(), Some(""));
        assert_eq!(check(Ecosystem::Debian, &r, "1.5-1"), None);
        assert_eq!(check(Ecosystem::Debian, &r, "0.9"), None);
    }

    #[test]
    fn several_intervals_and_limit() {
        let r = range(
            "SEMVER",
            &[
                ("introduced", "1.0.0"),
                ("fixed", "1.2.0"),
                ("introduced", "2.0.0"),
                ("fixed", "2.0.5"),
            ],
        );
        assert_eq!(check(Ecosystem::Npm, &r, "1.1.0").as_deref(), Some("1.2.0"));
        assert_eq!(check(Ecosystem::Npm, &r, "1.5.0"), None);
        assert_eq!(check(Ecosystem::Npm, &r, "2.0.1").as_deref(), Some("2.0.5"));
        assert_eq!(check(Ecosystem::Npm, &r, "2.0.5"), None);
        let r = range("SEMVER", &[("introduced", "0"), ("limit", "3.0.0")]);
        assert_eq!(check(Ecosystem::Npm, &r, "2.9.9").as_deref(), Some(""));
        assert_eq!(check(Ecosystem::Npm, &r, "3.0.0"), None);
    }

    #[test]
    fn git_ranges_and_versions_lists() {
        let r = range("GIT", &[("introduced", "abc"), ("fixed", "def")]);
        assert_eq!(check(Ecosystem::Go, &r, "1.0.0"), None);
        let v = affects(Ecosystem::PyPI, &[r], &["2.0".into()], "2.0");
        assert_eq!(
            v,
            Some(Verdict {
                fixed: String::new()
            })
        );
    }

    #[test]
    fn ecosystem_rules_apply() {
        let r = range("ECOSYSTEM", &[("introduced", "0"), ("fixed", "1.36.1-r20")]);
        assert!(check(Ecosystem::Alpine, &r, "1.36.1-r15").is_some());
        assert!(check(Ecosystem::Alpine, &r, "1.36.1-r20").is_none());
        let r = range("ECOSYSTEM", &[("introduced", "0"), ("fixed", "2.0rc1")]);
        assert!(check(Ecosystem::PyPI, &r, "2.0b3").is_some());
        assert!(check(Ecosystem::PyPI, &r, "2.0").is_none());
    }
}
