//! Docker image references: `[domain/]path[:tag][@digest]` with Docker's
//! normalisation (`busybox` → `docker.io/library/busybox:latest`).

use std::fmt;

use crate::error::ImageError;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Parses and normalises a reference; adds the `latest` tag when neither a tag
/// nor a digest is given (Docker's `TagNameOnly`).
pub fn parse(s: &str) -> Result<Reference, ImageError> {
    let mut r = parse_named(s)?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some(DEFAULT_TAG.to_string());
    }
    Ok(r)
}

/// Parses and normalises a reference without adding a default tag
/// (for filters such as `docker images busybox`).
pub fn parse_named(s: &str) -> Result<Reference, ImageError> {
    let invalid = |why: &str| {
        if why.is_empty() {
            ImageError::InvalidReference("invalid reference format".into())
        } else {
            ImageError::InvalidReference(format!("invalid reference format: {why}"))
        }
    };
    if s.is_empty() {
        return Err(invalid(""));
    }
    if is_full_hex_id(s) {
        return Err(ImageError::InvalidReference(format!(
            "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((n, d)) => {
            validate_digest(d).map_err(|_| invalid(""))?;
            (n, Some(d.to_string()))
        }
        None => (s, None),
    };
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let i = last_slash + i;
            (&rest[..i], Some(rest[i + 1..].to_string()))
        }
        None => (rest, None),
    };
    if let Some(t) = &tag
        && !valid_tag(t)
    {
        return Err(invalid(""));
    }
    let (domain, mut path) = split_domain(name);
    if domain == DEFAULT_DOMAIN && !path.contains('/') {
        path = format!("{OFFICIAL_REPO_PREFIX}{path}");
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(invalid(&format!(
            "repository name ({path}) must be lowercase"
        )));
    }
    if !valid_domain(&domain) || !path.split('/').all(valid_path_component) {
        return Err(invalid(""));
    }
    if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(invalid(&format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )));
    }
    Ok(Reference {
        domain,
        path,
        tag,
        digest,
    })
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    (domain, path)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// host[:port] where host is dns-ish labels or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host.is_empty() && d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// Accepts `algorithm:encoded` as the OCI spec writes it; sha256 needs
/// exactly 64 lowercase hex digits.
pub fn validate_digest(d: &str) -> Result<(), ImageError> {
    cas::validate_digest(d)
        .map_err(|_| ImageError::InvalidReference(format!("invalid digest {d:?}")))
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) use cas::digest::is_full_hex_id;

impl Reference {
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
    /// Full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    /// Repository name as Docker prints it: `busybox`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }
    /// `docker.io/library/busybox:latest` (the key in references.json).
    pub fn full(&self) -> String {
        self.with_suffix(self.name())
    }
    /// `busybox:latest`
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ImageError> {
        if !valid_tag(tag) {
            return Err(ImageError::InvalidReference(
                "invalid reference format".into(),
            ));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }
    /// The same repository pinned to a manifest digest (for repo digests).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ImageError> {
        validate_digest(digest)?;
        Ok(Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())
    }
}

impl std::str::FromStr for Reference {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            ("busybox:1", "docker.io/library/busybox:1", "busybox:1"),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/busybox:x",
                "docker.io/library/busybox:x",
                "busybox:x",
            ),
            ("user/app:v1.2", "docker.io/user/app:v1.2", "user/app:v1.2"),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
            ),
            (
                "quay.io/org/x_y-z.w:T_1",
                "quay.io/org/x_y-z.w:T_1",
                "quay.io/org/x_y-z.w:T_1",
            ),
            ("Host/app", "Host/app:latest", "Host/app:latest"),
            (
                "[::1]:5000/app",
                "[::1]:5000/app:latest",
                "[::1]:5000/app:latest",
            ),
            (
                "a__b/c---d",
                "docker.io/a__b/c---d:latest",
                "a__b/c---d:latest",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.full(), *full, "full of {input}");
            assert_eq!(r.familiar(), *familiar, "familiar of {input}");
        }
    }

    #[test]
    fn digests() {
        let r = parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.full(), format!("docker.io/library/busybox@{D}"));
        let r = parse(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.familiar(), format!("busybox:1@{D}"));
        assert!(parse("busybox@sha256:abc").is_err());
        assert!(parse(&format!("busybox@{}", D.to_uppercase())).is_err());
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox:a/b",
            ":tag",
            "a//b",
            "a/-b",
            "a/b-",
            "a..b",
            "UPPER/Case",
            "docker.io/Library/busybox",
            "busybox:tag:x",
            "localhost:port/a",
            "-host.com/a",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long_tag = format!("busybox:{}", "a".repeat(129));
        assert!(parse(&long_tag).is_err());
        let long_name = "a".repeat(250);
        assert!(parse(&long_name).is_err());
    }

    #[test]
    fn lowercase_message() {
        let e = parse("Busybox").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
    }

    #[test]
    fn named_has_no_default_tag() {
        let r = parse_named("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.full(), "docker.io/library/busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
    }
}
