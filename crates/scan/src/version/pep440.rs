//! PyPI versions: the PEP 440 subset real pins use. Handled: epoch (`N!`),
//! release numbers (trailing zeros ignored), pre-releases (`a|alpha`,
//! `b|beta`, `rc|c|pre|preview`, with or without separators), `.postN`
//! (and `-N`), `.devN`, a leading `v`; local labels (`+…`) are ignored.
//! Anything else is incomparable and matches no range.

use std::cmp::Ordering;

/// (epoch, release, pre, post, dev), each ordered as PEP 440 orders them.
type Key = (u64, Vec<u64>, (i8, u64), (i8, u64), (i8, u64));

fn number(s: &str) -> (u64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s[..end].parse().unwrap_or(0), &s[end..])
}

fn strip_sep(s: &str) -> &str {
    s.strip_prefix(['.', '-', '_']).unwrap_or(s)
}

fn key(v: &str) -> Option<Key> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.split('+').next().unwrap_or_default();
    let v = v.strip_prefix('v').unwrap_or(v);
    let (epoch, rest) = match v.split_once('!') {
        Some((e, r)) => (e.parse().ok()?, r),
        None => (0, v),
    };
    let mut release = Vec::new();
    let mut rest = rest;
    loop {
        let (n, tail) = number(rest);
        if tail.len() == rest.len() {
            return None;
        }
        release.push(n);
        match tail.strip_prefix('.') {
            Some(t) if t.starts_with(|c: char| c.is_ascii_digit()) => rest = t,
            _ => {
                rest = tail;
                break;
            }
        }
    }
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let mut pre = None;
    let r = strip_sep(rest);
    for (word, phase) in [
        ("alpha", 0),
        ("beta", 1),
        ("preview", 2),
        ("pre", 2),
        ("rc", 2),
        ("a", 0),
        ("b", 1),
        ("c", 2),
    ] {
        if let Some(t) = r.strip_prefix(word) {
            let (n, t) = number(strip_sep(t));
            pre = Some((phase, n));
            rest = t;
            break;
        }
    }
    let mut post = None;
    let r = strip_sep(rest);
    for word in ["post", "rev", "r"] {
        if let Some(t) = r.strip_prefix(word) {
            let (n, t) = number(strip_sep(t));
            post = Some(n);
            rest = t;
            break;
        }
    }
    if post.is_none()
        && let Some(t) = rest.strip_prefix('-')
        && t.starts_with(|c: char| c.is_ascii_digit())
    {
        let (n, t) = number(t);
        post = Some(n);
        rest = t;
    }
    let mut dev = None;
    if let Some(t) = strip_sep(rest).strip_prefix("dev") {
        let (n, t) = number(t);
        dev = Some(n);
        rest = t;
    }
    if !rest.is_empty() {
        return None;
    }
    // A dev release of a final version sorts before its pre-releases.
    let pre_key = match (pre, post, dev) {
        (Some((p, n)), _, _) => (0, u64::from(p as u8) * (1 << 32) + n),
        (None, None, Some(_)) => (-1, 0),
        _ => (1, 0),
    };
    let post_key = post.map_or((-1, 0), |n| (0, n));
    let dev_key = dev.map_or((1, 0), |n| (0, n));
    Some((epoch, release, pre_key, post_key, dev_key))
}

pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (ka, kb) = (key(a)?, key(b)?);
    let n = ka.1.len().max(kb.1.len());
    let pad = |r: &[u64]| {
        (0..n)
            .map(|i| r.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    Some(
        ka.0.cmp(&kb.0)
            .then_with(|| pad(&ka.1).cmp(&pad(&kb.1)))
            .then_with(|| (ka.2, ka.3, ka.4).cmp(&(kb.2, kb.3, kb.4))),
    )
}

/// PEP 503 name normalisation, as PyPI and OSV compare names.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn pep440_order() {
        let ordered = [
            "1.0.dev1",
            "1.0a1.dev1",
            "1.0a1",
            "1.0b2",
            "1.0rc1",
            "1.0",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.0.1",
            "1.1",
            "1!0.5",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Less), "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Some(Greater), "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare("1.0", "1.0.0"), Some(Equal));
        assert_eq!(compare("1.0-1", "1.0.post1"), Some(Equal));
        assert_eq!(compare("1.0RC1", "1.0c1"), Some(Equal));
        assert_eq!(compare("v2.31.0", "2.31"), Some(Equal));
        assert_eq!(compare("1.0+local", "1.0"), Some(Equal));
        assert_eq!(compare("not a version", "1.0"), None);
    }

    #[test]
    fn names() {
        assert_eq!(
            normalize_name("Django_Rest.Framework"),
            "django-rest-framework"
        );
        assert_eq!(normalize_name("requests"), "requests");
    }
}
