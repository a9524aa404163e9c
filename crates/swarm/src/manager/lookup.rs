//! Finding one object by what a user typed, as swarmkit does: the full id,
//! then the exact name, then a unique id prefix.

use crate::error::{ErrorKind, Result, SwarmError};

pub(super) fn one<'a, T>(
    all: &'a [T],
    wanted: &str,
    noun: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Result<&'a T> {
    one_by(all, wanted, noun, id, |x, w| name(x) == w)
}

/// [`one`] with the caller's name match (secrets' and configs' names
/// match in any case in swarmkit).
pub(super) fn one_by<'a, T>(
    all: &'a [T],
    wanted: &str,
    noun: &str,
    id: impl Fn(&T) -> &str,
    named_as: impl Fn(&T, &str) -> bool,
) -> Result<&'a T> {
    if wanted.is_empty() {
        return Err(SwarmError::not_found(noun, wanted));
    }
    if let Some(x) = all.iter().find(|x| id(x) == wanted) {
        return Ok(x);
    }
    let named: Vec<&T> = all.iter().filter(|x| named_as(x, wanted)).collect();
    match named.len() {
        1 => return Ok(named[0]),
        0 => {}
        _ => {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{noun} {wanted} is ambiguous ({} matches found)",
                    named.len()
                ),
            ));
        }
    }
    let prefixed: Vec<&T> = all.iter().filter(|x| id(x).starts_with(wanted)).collect();
    match prefixed.len() {
        1 => Ok(prefixed[0]),
        0 => Err(SwarmError::not_found(noun, wanted)),
        n => Err(SwarmError::new(
            ErrorKind::InvalidArgument,
            format!("{noun} {wanted} is ambiguous ({n} matches found)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(all: &'a [(&'a str, &'a str)], w: &str) -> Result<&'a (&'a str, &'a str)> {
        one(all, w, "service", |x| x.0, |x| x.1)
    }

    #[test]
    fn id_then_name_then_unique_prefix() {
        let all = [("abc123", "web"), ("abd456", "abc123x"), ("zzz", "abc")];
        assert_eq!(find(&all, "abc123").unwrap().1, "web");
        assert_eq!(find(&all, "web").unwrap().0, "abc123");
        // A name wins over an id prefix.
        assert_eq!(find(&all, "abc").unwrap().0, "zzz");
        assert_eq!(find(&all, "abd").unwrap().1, "abc123x");
        let amb = find(&all, "ab").unwrap_err();
        assert_eq!(amb.kind, ErrorKind::InvalidArgument);
        let missing = find(&all, "nope").unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound);
        assert_eq!(missing.message, "service nope not found");
        assert_eq!(find(&all, "").unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn secrets_and_configs_match_names_in_any_case() {
        let all = [("abc123", "Pass")];
        let any_case = |x: &(&str, &str), w: &str| x.1.eq_ignore_ascii_case(w);
        let found = one_by(&all, "pASS", "secret", |x| x.0, any_case).unwrap();
        assert_eq!(found.0, "abc123");
        assert!(find(&all, "pass").is_err(), "services match exactly");
    }
}
