//! A compose file to Docker API objects, as `docker stack deploy` converts
//! it client-side (docker/cli's `cli/compose/convert`): the stack's
//! networks (`<stack>_default` and the named ones, overlay unless said
//! otherwise), its services with their mounts, secrets and configs, all
//! named `<stack>_<name>` and labelled `com.docker.stack.namespace`, so
//! that the docker CLI's `stack ls/ps/services/rm` see what the dashboard
//! deployed. Everything is checked before anything is made: a mistake is
//! refused with the key it concerns.

mod convert;
mod model;
mod parts;

pub use convert::{Stack, convert};

/// The label that ties an object to its stack (the CLI's
/// `convert.LabelNamespace`).
pub const NAMESPACE: &str = "com.docker.stack.namespace";
/// The image a service was deployed with, as the file named it.
pub const IMAGE: &str = "com.docker.stack.image";

/// A compose file that cannot be deployed, and why (the key named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ComposeError(pub String);

/// Reads `text`: YAML, `x-` extension keys dropped, no `${VAR}` left (a
/// browser has no environment to take them from), then the schema.
fn parse(text: &str) -> Result<model::File, ComposeError> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| ComposeError(format!("not YAML: {e}")))?;
    if doc.is_null() {
        return Err(ComposeError("the compose file is empty".into()));
    }
    // YAML merge keys (`<<: *common`), which the CLI's loader applies too.
    doc.apply_merge()
        .map_err(|e| ComposeError(format!("YAML merge key: {e}")))?;
    scrub(&mut doc, "")?;
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        ComposeError(describe(&path, &e.into_inner().to_string()))
    })
}

/// serde's messages in the words of the CLI's schema check
/// (`services.web Additional property foo is not allowed`).
fn describe(path: &str, msg: &str) -> String {
    // A mistake inside a part read by its shape comes with the field.
    let (path, msg) = match msg.split_once(": ") {
        Some((inner, rest)) if !inner.contains(' ') && !inner.is_empty() => {
            (format!("{path}.{inner}"), rest.to_string())
        }
        _ => (path.to_string(), msg.to_string()),
    };
    let path = if path == "." || path.is_empty() {
        "(root)".to_string()
    } else {
        path
    };
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        // The path ends at the unknown key itself: the CLI names its parent.
        let parent = path
            .strip_suffix(key)
            .and_then(|p| p.strip_suffix('.'))
            .filter(|p| !p.is_empty())
            .unwrap_or(if path == key { "(root)" } else { &path });
        return format!("{parent} Additional property {key} is not allowed");
    }
    format!("{path}: {msg}")
}

/// Drops `x-` keys and refuses variable substitution, everywhere.
fn scrub(v: &mut serde_yaml::Value, path: &str) -> Result<(), ComposeError> {
    match v {
        serde_yaml::Value::Mapping(m) => {
            m.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
            for (k, child) in m.iter_mut() {
                let key = k.as_str().map(str::to_string).unwrap_or_default();
                let p = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                scrub(child, &p)?;
            }
        }
        serde_yaml::Value::Sequence(s) => {
            for (i, child) in s.iter_mut().enumerate() {
                scrub(child, &format!("{path}[{i}]"))?;
            }
        }
        serde_yaml::Value::String(s) => {
            if s.replace("$$", "").contains('$') {
                return Err(ComposeError(format!(
                    "{path}: variable substitution ({s:?}) is not implemented: the dashboard has no environment to take values from (write the value, or $$ for a literal $)"
                )));
            }
            if s.contains("$$") {
                *s = s.replace("$$", "$");
            }
        }
        serde_yaml::Value::Tagged(t) => scrub(&mut t.value, path)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
