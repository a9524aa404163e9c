//! Syntax checks for repository names, tags, digests and upload ids. Every
//! value that becomes a path component passes through here first, which is
//! what keeps request paths from escaping the store root.

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
pub fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", then alnum.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// The store only holds sha256 content; the hex part of a valid digest.
pub use cas::hex_of as digest_hex;

pub fn looks_like_digest(reference: &str) -> bool {
    reference.contains(':')
}

pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

pub fn new_upload_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "../x", "a/../b", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a%2f",
            ".", "a/.", "_a",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("v1.0_rc-1"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(digest_hex(&d), Some("a".repeat(64).as_str()));
        assert!(digest_hex("sha256:ABC").is_none());
        assert!(digest_hex(&format!("sha512:{}", "a".repeat(64))).is_none());
        let id = new_upload_id();
        assert!(valid_upload_id(&id), "{id}");
        assert!(!valid_upload_id(
            "../../etc/passwd-aaaaaaaaaaaaaaaaaaaaaaaa"
        ));
    }
}
