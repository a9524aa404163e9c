//! Debian version ordering, as `dpkg --compare-versions` (lib/dpkg/version.c).

use std::cmp::Ordering;

struct Parsed<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

fn parse(v: &str) -> Parsed<'_> {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    Parsed {
        epoch,
        upstream,
        revision,
    }
}

/// dpkg's weight of a non-digit: `~` before everything (even the end of the
/// string), letters before other symbols.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const PAIRS: &[(&str, &str)] = &[
        ("1.0", "1.0"),
        ("1.0", "1.1"),
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0+b1", "1.0"),
        ("1:1.0", "2.0"),
        ("0:1.0", "1.0"),
        ("1.0-1", "1.0-1+deb12u1"),
        ("2.38.1-5+deb12u3", "2.38.1-5+deb12u2"),
        ("1:2.38.1-5+deb12u3", "2.39"),
        ("5.2.15-2+b13", "5.2.15-2+b2"),
        ("5.2.15-2", "5.2.15-2+b13"),
        ("1.0a", "1.0"),
        ("1.0a", "1.0+"),
        ("1.0.", "1.0a"),
        ("010", "10"),
        ("1.10", "1.9"),
        ("5.7-0.5~deb12u1", "5.7-0.5"),
        ("3.23+nmu1", "3.23"),
        ("1.2.3-1", "1.2.3-1~bpo1"),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
        ("2023.3+deb12u2", "2023.3+deb12u1"),
        ("1.0-a", "1.0-1"),
    ];

    #[test]
    fn known_orderings() {
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("1.0a", "1.0+"), Ordering::Less);
    }

    /// dpkg itself is the reference: every pair must order as it says.
    #[test]
    fn agrees_with_dpkg_compare_versions() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("dpkg not installed: oracle test skipped");
            return;
        }
        for (a, b) in PAIRS {
            for (x, y) in [(a, b), (b, a)] {
                let dpkg = |op: &str| {
                    Command::new("dpkg")
                        .args(["--compare-versions", x, op, y])
                        .status()
                        .unwrap()
                        .success()
                };
                let want = if dpkg("lt") {
                    Ordering::Less
                } else if dpkg("gt") {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                };
                assert_eq!(compare(x, y), want, "{x} vs {y}");
            }
        }
    }
}
