//! Alpine package versions (apk-tools' ordering, the common subset):
//! dotted numbers, an optional letter, `_alpha|_beta|_pre|_rc` suffixes
//! (before the release) or `_cvs|_svn|_git|_hg|_p` (after), and `-rN`.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

#[derive(Debug)]
struct Parsed {
    numbers: Vec<u64>,
    letter: Option<u8>,
    suffixes: Vec<(Suffix, u64)>,
    revision: u64,
}

fn digits(s: &str) -> (u64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s[..end].parse().unwrap_or(0), &s[end..])
}

fn parse(v: &str) -> Option<Parsed> {
    let (main, revision) = match v.rsplit_once("-r") {
        Some((m, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
            (m, r.parse().ok()?)
        }
        _ => (v, 0),
    };
    let (head, rest) = match main.find('_') {
        Some(i) => (&main[..i], &main[i..]),
        None => (main, ""),
    };
    let mut letter = None;
    let mut numbers = Vec::new();
    for part in head.split('.') {
        let (n, tail) = digits(part);
        if tail.len() == part.len() {
            return None;
        }
        numbers.push(n);
        match tail.as_bytes() {
            [] => {}
            [c] if c.is_ascii_lowercase() => letter = Some(*c),
            _ => return None,
        }
    }
    let mut suffixes = Vec::new();
    for s in rest.split('_').skip(1) {
        let name_end = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
        let kind = match &s[..name_end] {
            "alpha" => Suffix::Alpha,
            "beta" => Suffix::Beta,
            "pre" => Suffix::Pre,
            "rc" => Suffix::Rc,
            "cvs" => Suffix::Cvs,
            "svn" => Suffix::Svn,
            "git" => Suffix::Git,
            "hg" => Suffix::Hg,
            "p" => Suffix::P,
            _ => return None,
        };
        suffixes.push((kind, digits(&s[name_end..]).0));
    }
    Some(Parsed {
        numbers,
        letter,
        suffixes,
        revision,
    })
}

/// None when either side is not an apk version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a.trim())?, parse(b.trim())?);
    let n = a.numbers.len().max(b.numbers.len());
    for i in 0..n {
        // A missing component sorts first: 1.2 < 1.2.0 < 1.2.1.
        let o = a
            .numbers
            .get(i)
            .map(|x| x + 1)
            .cmp(&b.numbers.get(i).map(|x| x + 1));
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    let o = a.letter.cmp(&b.letter);
    if o != Ordering::Equal {
        return Some(o);
    }
    let n = a.suffixes.len().max(b.suffixes.len());
    for i in 0..n {
        let none = (Suffix::None, 0);
        let o = a
            .suffixes
            .get(i)
            .unwrap_or(&none)
            .cmp(b.suffixes.get(i).unwrap_or(&none));
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(a.revision.cmp(&b.revision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orderings() {
        for (a, b, want) in [
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3-r10", "1.2.3-r9", Greater),
            ("1.2.3", "1.2.3-r0", Equal),
            ("1.2.3_rc1", "1.2.3", Less),
            ("1.2.3_alpha", "1.2.3_beta", Less),
            ("1.2.3_beta2", "1.2.3_pre1", Less),
            ("1.2.3_pre1", "1.2.3_rc1", Less),
            ("1.2.3_p1", "1.2.3", Greater),
            ("1.2.3_p1", "1.2.3_p2", Less),
            ("1.2.3_git20240101", "1.2.3", Greater),
            ("1.2.3a", "1.2.3", Greater),
            ("1.2.3a", "1.2.3b", Less),
            ("1.10", "1.9", Greater),
            ("1.2", "1.2.1", Less),
            ("3.1.4-r5", "3.1.4-r6", Less),
            ("1.36.1-r15", "1.36.1-r20", Less),
        ] {
            assert_eq!(compare(a, b), Some(want), "{a} vs {b}");
        }
    }

    #[test]
    fn garbage_is_incomparable() {
        assert_eq!(compare("abc", "1.0"), None);
        assert_eq!(compare("1.0_weird", "1.0"), None);
    }
}
