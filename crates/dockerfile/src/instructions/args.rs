//! The argument forms shared by several instructions (command forms,
//! name=value lists, COPY/ADD, HEALTHCHECK, ARG), with Docker's messages.

use super::flags::Flags;
use super::line_err;
use super::types::{Command, CopyArgs, HealthcheckArgs};
use crate::error::ParseError;
use crate::expand::split_raw_words;
use crate::parser::Node;

pub(super) fn command(node: &Node) -> Command {
    match &node.json {
        Some(v) => Command::Exec(v.clone()),
        None => Command::Shell(node.rest.clone()),
    }
}

/// `k=v k2=v2` or the legacy `k v with spaces` form of ENV and LABEL.
pub(super) fn name_values(
    node: &Node,
    escape: char,
    what: &str,
) -> Result<Vec<(String, String)>, ParseError> {
    let words = split_raw_words(&node.rest, escape);
    if words.is_empty() {
        return Err(ParseError::Document(format!(
            "{what} must have two arguments"
        )));
    }
    if !words[0].contains('=') {
        let key = words[0].clone();
        let value = node.rest.trim_start()[key.len()..].trim().to_string();
        if value.is_empty() {
            return Err(ParseError::Document(format!(
                "{what} must have two arguments"
            )));
        }
        return Ok(vec![(key, value)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(line_err(
                node,
                format!("Syntax error - can't find = in \"{w}\". Must be of the form: name=value"),
            )),
        })
        .collect()
}

pub(super) fn args_list(node: &Node) -> (Vec<String>, bool) {
    match &node.json {
        Some(v) => (v.clone(), true),
        None => (
            node.rest.split_whitespace().map(String::from).collect(),
            false,
        ),
    }
}

pub(super) fn copy_args(node: &Node, add: bool) -> Result<CopyArgs, ParseError> {
    let allowed: &[&str] = if add {
        &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ]
    } else {
        &["from", "chown", "chmod", "link", "parents", "exclude"]
    };
    let flags = Flags::parse(node, allowed)?;
    let what = if add { "ADD" } else { "COPY" };
    let (mut words, json) = args_list(node);
    if words.len() < 2 {
        return Err(line_err(
            node,
            format!(
                "{what} requires at least two arguments, but only one was provided. Destination could not be determined"
            ),
        ));
    }
    let dest = words.pop().unwrap_or_default();
    // `COPY <<EOF /dst`: the marker word names the heredoc.
    let sources = words
        .into_iter()
        .map(|w| {
            let name = w.trim_start_matches("<<").trim_start_matches('-');
            let name = name.trim_matches(|c| c == '"' || c == '\'');
            if w.starts_with("<<") && node.heredocs.iter().any(|h| h.name == name) {
                format!("<<{name}")
            } else {
                w
            }
        })
        .collect();
    Ok(CopyArgs {
        sources,
        dest,
        from: flags.get("from"),
        chown: flags.get("chown"),
        chmod: flags.get("chmod"),
        link: flags.bool(node, "link")?,
        heredocs: node.heredocs.clone(),
        json,
    })
}

pub(super) fn healthcheck(node: &Node) -> Result<Option<HealthcheckArgs>, ParseError> {
    let flags = Flags::parse(
        node,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    let rest = node.rest.trim();
    let (kind, cmd) = match rest.find(char::is_whitespace) {
        Some(p) => (&rest[..p], rest[p..].trim_start()),
        None => (rest, ""),
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !cmd.is_empty() {
                return Err(line_err(node, "HEALTHCHECK NONE takes no arguments"));
            }
            Ok(None)
        }
        "CMD" => {
            if cmd.is_empty() {
                return Err(line_err(node, "Missing command after HEALTHCHECK CMD"));
            }
            let test = match crate::parser::parse(&format!("X {cmd}"))
                .ok()
                .and_then(|p| p.nodes.into_iter().next())
                .and_then(|n| n.json)
            {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
            };
            let dur = |key: &str| -> Result<Option<i64>, ParseError> {
                match flags.get(key) {
                    None => Ok(None),
                    Some(v) if v.is_empty() => Ok(None),
                    Some(v) => {
                        let d = gounits::parse_duration(&v)
                            .map_err(|e| line_err(node, e.to_string()))?;
                        if d != 0 && d < 1_000_000 {
                            return Err(line_err(
                                node,
                                format!("Interval \"{key}\" cannot be less than 1ms"),
                            ));
                        }
                        Ok(Some(d))
                    }
                }
            };
            let retries = match flags.get("retries") {
                None => None,
                Some(v) => Some(v.parse::<i64>().map_err(|_| {
                    line_err(
                        node,
                        format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"),
                    )
                })?),
            };
            if retries.is_some_and(|r| r < 0) {
                return Err(line_err(node, "--retries cannot be negative"));
            }
            Ok(Some(HealthcheckArgs {
                test,
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            }))
        }
        "" => Err(line_err(node, "HEALTHCHECK requires an argument")),
        other => Err(line_err(
            node,
            format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)"),
        )),
    }
}

pub(super) fn one_word(node: &Node, what: &str) -> Result<String, ParseError> {
    let words: Vec<&str> = node.rest.split_whitespace().collect();
    if words.len() != 1 {
        return Err(line_err(
            node,
            format!("{what} requires exactly one argument"),
        ));
    }
    Ok(words[0].to_string())
}

pub(super) fn arg_defs(
    node: &Node,
    escape: char,
) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let words = split_raw_words(&node.rest, escape);
    if words.is_empty() {
        return Err(line_err(node, "ARG requires exactly one argument"));
    }
    Ok(words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect())
}
