//! The `Procfile` of a pushed tree (`type: command` per process type), as
//! Dokku reads it; its `CHECKS` are `router::checks` (a rollout from the
//! dashboard reads them too).

/// Process types and their commands, in file order.
pub fn parse_procfile(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            format!(
                "Procfile line {}: expected `type: command`, got {line:?}",
                i + 1
            )
        };
        let (kind, cmd) = line.split_once(':').ok_or_else(bad)?;
        let (kind, cmd) = (kind.trim(), cmd.trim());
        if kind.is_empty()
            || cmd.is_empty()
            || !kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad());
        }
        if out.iter().any(|(k, _)| k == kind) {
            return Err(format!(
                "Procfile line {}: process type {kind} given twice",
                i + 1
            ));
        }
        out.push((kind.to_string(), cmd.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfile_types_and_mistakes() {
        let p =
            parse_procfile("# app\nweb: httpd -f -p 80\n\nworker:  sh -c 'sleep 1000'\n").unwrap();
        assert_eq!(
            p,
            [
                ("web".to_string(), "httpd -f -p 80".to_string()),
                ("worker".to_string(), "sh -c 'sleep 1000'".to_string())
            ]
        );
        assert!(parse_procfile("web httpd").unwrap_err().contains("line 1"));
        assert!(
            parse_procfile("web:")
                .unwrap_err()
                .contains("expected `type: command`")
        );
        assert!(
            parse_procfile("web: a\nweb: b")
                .unwrap_err()
                .contains("given twice")
        );
    }
}
