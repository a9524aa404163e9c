//! `--flag[=value]` words of an instruction, checked against the flags
//! that instruction allows, with Docker's messages.

use super::line_err;
use crate::error::ParseError;
use crate::parser::Node;

/// Flags parsed against the instruction's allowed set.
pub(super) struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    pub(super) fn parse(node: &Node, allowed: &[&str]) -> Result<Flags, ParseError> {
        let mut out = Vec::new();
        for f in &node.flags {
            let (k, v) = match f.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (f.as_str(), None),
            };
            if !allowed.contains(&k) {
                return Err(line_err(node, format!("Unknown flag: {k}")));
            }
            out.push((k.to_string(), v));
        }
        Ok(Flags(out))
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    pub(super) fn bool(&self, node: &Node, key: &str) -> Result<bool, ParseError> {
        match self.0.iter().rev().find(|(k, _)| k == key) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(line_err(
                    node,
                    format!("expecting boolean value for flag {key}, not: {v}"),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn node(line: &str) -> Node {
        parse(line).unwrap().nodes.remove(0)
    }

    #[test]
    fn last_value_wins_and_lists_keep_all() {
        let n = node("RUN --mount=a --network=none --mount=b --network=host x");
        let f = Flags::parse(&n, &["mount", "network"]).unwrap();
        assert_eq!(f.get("network").as_deref(), Some("host"));
        assert_eq!(f.all("mount"), vec!["a", "b"]);
        assert_eq!(f.get("other"), None);
    }

    #[test]
    fn unknown_flags_and_bad_booleans_fail_as_docker() {
        let n = node("COPY --nope a b");
        let e = Flags::parse(&n, &["from"]).err().unwrap();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 1: Unknown flag: nope"
        );
        let n = node("COPY --link=maybe a b");
        let f = Flags::parse(&n, &["link"]).unwrap();
        assert_eq!(
            f.bool(&n, "link").unwrap_err().to_string(),
            "dockerfile parse error line 1: expecting boolean value for flag link, not: maybe"
        );
        let n = node("COPY --link a b");
        assert!(
            Flags::parse(&n, &["link"])
                .unwrap()
                .bool(&n, "link")
                .unwrap()
        );
    }
}
