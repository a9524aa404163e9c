//! Image reference syntax as distribution/reference's
//! `ParseNormalizedNamed` accepts it: `[domain[:port]/]path[:tag][@digest]`
//! with lowercase path components, no 64-hex repository names.

const MAX_NAME_LEN: usize = 255;

pub fn valid_image_reference(image: &str) -> bool {
    // The digest comes after '@'; the tag after the last ':' that follows
    // the last '/'.
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !valid_digest(d)
    {
        return false;
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag
        && !valid_tag(t)
    {
        return false;
    }
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    let (domain, path) = split_domain(name);
    if let Some(d) = domain
        && !valid_domain(d)
    {
        return false;
    }
    if path.split('/').any(|c| !valid_path_component(c)) {
        return false;
    }
    // A bare 64-hex name would be mistaken for an image id.
    !(domain.is_none() && path.len() == 64 && path.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// The first component is a registry when it has a dot or a port, is
/// `localhost`, or has uppercase letters (paths never do).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(stripped) = domain.strip_prefix('[') {
        match stripped.split_once(']') {
            Some((v6, after)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (None, after.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    host.is_none_or(|h| {
        !h.is_empty()
            && h.split('.').all(|c| {
                let b = c.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
            })
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: &u8| x.is_ascii_alphanumeric() || *x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(&b[0])
        && b.iter().all(|x| word(x) || *x == b'.' || *x == b'-')
}

/// `algorithm:hex` with at least 32 hex digits.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.as_bytes()[0].is_ascii_alphabetic()
        && alg
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+' | b'.'));
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::valid_image_reference as ok;

    #[test]
    fn accepted() {
        for r in [
            "nginx",
            "nginx:latest",
            "nginx:1.25-alpine",
            "library/nginx",
            "docker.io/library/nginx:1",
            "localhost/app",
            "localhost:5000/team/app:v1.2.3",
            "registry.example.com:443/a/b/c",
            "a__b",
            "a.b_c--d",
            "[::1]:5000/img",
            "busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
            "busybox:1.36@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
            "Registry.Example.com/x",
        ] {
            assert!(ok(r), "{r}");
        }
    }

    #[test]
    fn rejected() {
        for r in [
            "",
            "Nginx",
            "library/Nginx",
            "nginx:",
            "nginx:-bad",
            ":tag",
            "a//b",
            "a/",
            "/a",
            "a___b",
            "a..b",
            "-a",
            "a-",
            "nginx@sha256:short",
            "nginx@sha256",
            "host:port/x",
            "9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
            "with space",
            "[zz]:5000/x",
        ] {
            assert!(!ok(r), "{r}");
        }
        assert!(!ok(&format!("a:{}", "t".repeat(129))));
        assert!(!ok(&"a".repeat(256)));
    }
}
