//! rpm's version ordering: `[epoch:]version[-release]`, each part compared
//! with rpmvercmp (alternating digit and letter segments, separators
//! ignored, `~` sorting before anything and `^` after the end).

use std::cmp::Ordering;

/// Splits `[epoch:]version[-release]`; a missing epoch is 0.
fn evr(s: &str) -> Option<(u64, &str, Option<&str>)> {
    let s = s.trim();
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) => (e.parse().ok()?, rest),
        None => (0, s),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    (!version.is_empty()).then_some((epoch, version, release))
}

/// Compares two EVRs. A side without a release matches any release of the
/// same version, as rpm's dependency ranges do (`openssl >= 3.0.7`).
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (ea, va, ra) = evr(a)?;
    let (eb, vb, rb) = evr(b)?;
    Some(
        ea.cmp(&eb)
            .then_with(|| vercmp(va, vb))
            .then_with(|| match (ra, rb) {
                (Some(ra), Some(rb)) => vercmp(ra, rb),
                _ => Ordering::Equal,
            }),
    )
}

fn is_sep(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// rpmvercmp, as rpm 4.x defines it.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    loop {
        while one.first().is_some_and(|&c| is_sep(c)) {
            one = &one[1..];
        }
        while two.first().is_some_and(|&c| is_sep(c)) {
            two = &two[1..];
        }
        if one.is_empty() && two.is_empty() {
            return Ordering::Equal;
        }
        match (one.first(), two.first()) {
            (Some(b'~'), Some(b'~')) => {
                one = &one[1..];
                two = &two[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            _ => {}
        }
        match (one.first(), two.first()) {
            (Some(b'^'), Some(b'^')) => {
                one = &one[1..];
                two = &two[1..];
                continue;
            }
            // `1.0^git1` is after `1.0` but before `1.0.1`.
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            _ => {}
        }
        let (Some(&c1), Some(_)) = (one.first(), two.first()) else {
            break;
        };
        let numeric = c1.is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (n1, n2) = (take(one), take(two));
        let (s1, s2) = (&one[..n1], &two[..n2]);
        one = &one[n1..];
        two = &two[n2..];
        if s2.is_empty() {
            // Segments of different kinds: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
            let (t1, t2) = (&s1[strip(s1)..], &s2[strip(s2)..]);
            t1.len().cmp(&t2.len()).then_with(|| t1.cmp(t2))
        } else {
            s1.cmp(s2)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    // Whichever still has segments left is newer.
    if one.is_empty() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Cases from rpm's own rpmvercmp tests (tests/rpmvercmp.at).
    #[test]
    fn rpmvercmp_cases() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("xyz.4", "2", Less),
            ("5.5p2", "5.6p1", Less),
            ("5.6p1", "6.5p1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0^", Equal),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(vercmp(a, b), *want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// The same pairs, judged by the rpm of this host (`rpm.vercmp` of its
    /// Lua interpreter; scripts/deps.sh installs rpm).
    #[test]
    fn agrees_with_rpm_itself() {
        let pairs = [
            ("1.0", "1.0.0"),
            ("2.4.57", "2.4.6"),
            ("3.0.7", "3.0.7a"),
            ("1.0~beta", "1.0~alpha"),
            ("1.0^post1", "1.0.0"),
            ("1.el9", "1.el9_2"),
            ("27.el9_2.1", "27.el9_2"),
            ("0.9.1", "0.9.01"),
            ("abc", "abd"),
            ("1..2", "1.2"),
            ("R12", "12"),
            ("5.0-rc1", "5.0"),
        ];
        let lua: String = pairs
            .iter()
            .map(|(a, b)| format!("print(rpm.vercmp('{a}', '{b}') .. ' ') "))
            .collect();
        let out = std::process::Command::new("rpm")
            .arg("--eval")
            .arg(format!("%{{lua: {lua}}}"))
            .output()
            .expect("rpm (scripts/deps.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        let verdicts: Vec<i32> = text
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(verdicts.len(), pairs.len(), "{text}");
        for ((a, b), v) in pairs.iter().zip(verdicts) {
            assert_eq!(vercmp(a, b), v.cmp(&0), "{a} vs {b}");
        }
    }

    #[test]
    fn epochs_and_releases() {
        assert_eq!(compare("1:1.0-1", "2.0-1"), Some(Greater));
        assert_eq!(compare("0:1.0-1", "1.0-1"), Some(Equal));
        assert_eq!(compare("3.0.7-27.el9", "3.0.7-27.el9_2"), Some(Less));
        assert_eq!(compare("3.0.7-27.el9", "3.0.7"), Some(Equal));
        assert_eq!(compare("x:1.0", "1.0"), None);
    }
}
