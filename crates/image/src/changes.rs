//! `docker import --change` / `docker commit --change`: Dockerfile
//! instructions that edit an image's runtime config.

use std::collections::BTreeMap;

use crate::config::{ContainerConfigSpec, Empty, HealthConfig};
use crate::error::ImageError;

pub fn apply(config: &mut ContainerConfigSpec, changes: &[String]) -> Result<(), ImageError> {
    for c in changes {
        apply_one(config, c)?;
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidChange(msg.into())
}

fn apply_one(config: &mut ContainerConfigSpec, change: &str) -> Result<(), ImageError> {
    let change = change.trim();
    let (keyword, rest) = match change.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (change, ""),
    };
    let kw = keyword.to_ascii_uppercase();
    if kw.is_empty() {
        return Err(bad("empty change"));
    }
    let need_args = || {
        if rest.is_empty() {
            Err(bad(format!("{kw} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    match kw.as_str() {
        "CMD" => {
            need_args()?;
            config.cmd = Some(command(rest, config.shell.as_deref()));
        }
        "ENTRYPOINT" => {
            need_args()?;
            config.entrypoint = Some(command(rest, config.shell.as_deref()));
        }
        "ENV" => {
            need_args()?;
            for (k, v) in name_values(rest, "ENV")? {
                let env = config.env.get_or_insert_with(Vec::new);
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && e != &k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            need_args()?;
            let labels = config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in name_values(rest, "LABEL")? {
                labels.insert(k, v);
            }
        }
        "WORKDIR" => {
            need_args()?;
            let base = if config.working_dir.is_empty() {
                "/"
            } else {
                &config.working_dir
            };
            let joined = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{base}/{rest}")
            };
            config.working_dir = clean_abs(&joined);
        }
        "USER" => {
            need_args()?;
            config.user = rest.to_string();
        }
        "EXPOSE" => {
            need_args()?;
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for w in split_words(rest)? {
                for p in expand_port(&w)? {
                    ports.insert(p, Empty {});
                }
            }
        }
        "VOLUME" => {
            need_args()?;
            let list = match json_array(rest) {
                Some(v) => v,
                None => split_words(rest)?,
            };
            let vols = config.volumes.get_or_insert_with(BTreeMap::new);
            for v in list {
                if v.trim().is_empty() {
                    return Err(bad("VOLUME specified can not be an empty string"));
                }
                vols.insert(v, Empty {});
            }
        }
        "STOPSIGNAL" => {
            need_args()?;
            if rest.contains(char::is_whitespace) {
                return Err(bad(format!("invalid STOPSIGNAL {rest:?}")));
            }
            config.stop_signal = Some(rest.to_string());
        }
        "ONBUILD" => {
            need_args()?;
            let trigger = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(format!(
                    "{trigger} isn't allowed as an ONBUILD trigger"
                )));
            }
            config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string());
        }
        "HEALTHCHECK" => {
            need_args()?;
            config.healthcheck = Some(healthcheck(rest, config.shell.as_deref())?);
        }
        _ => return Err(bad(format!("{kw} is not a valid change command"))),
    }
    Ok(())
}

/// Exec form (a JSON array) or shell form wrapped in the shell.
fn command(rest: &str, shell: Option<&[String]>) -> Vec<String> {
    if let Some(v) = json_array(rest) {
        return v;
    }
    let mut v: Vec<String> = match shell {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => vec!["/bin/sh".into(), "-c".into()],
    };
    v.push(rest.to_string());
    v
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str(s).ok()
}

/// `k=v k2="v 2"` or the legacy single pair `k v w` (value = rest of line).
fn name_values(rest: &str, kw: &str) -> Result<Vec<(String, String)>, ImageError> {
    let words = split_words(rest)?;
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = match rest.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim_start()),
            None => {
                return Err(bad(format!(
                    "{kw} names can not be blank or must have a value: {rest}"
                )));
            }
        };
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(format!("{kw} syntax error: {w:?} is not key=value"))),
        })
        .collect()
}

/// Shell-like word splitting: whitespace separates, quotes group, backslash escapes.
fn split_words(s: &str) -> Result<Vec<String>, ImageError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(bad(format!("unmatched quote in {s:?}"))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) if x == '"' || x == '\\' => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(bad(format!("unmatched quote in {s:?}"))),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(bad(format!("unmatched quote in {s:?}"))),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, ...
fn expand_port(w: &str) -> Result<Vec<String>, ImageError> {
    let (range, proto) = match w.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (w, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    let port = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| bad(format!("invalid containerPort: {s}")))
    };
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(range)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad(format!("invalid port range: {range}")));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// `NONE` or `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD ...`
fn healthcheck(rest: &str, shell: Option<&[String]>) -> Result<HealthConfig, ImageError> {
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
    }
    let mut hc = HealthConfig::default();
    let mut s = rest;
    while let Some(opt) = s.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| bad(format!("HEALTHCHECK flag --{flag} needs a value")))?;
        match name {
            "interval" => hc.interval = Some(duration_ns(value)?),
            "timeout" => hc.timeout = Some(duration_ns(value)?),
            "start-period" => hc.start_period = Some(duration_ns(value)?),
            "start-interval" => hc.start_interval = Some(duration_ns(value)?),
            "retries" => {
                hc.retries = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("invalid retries {value:?}")))?,
                )
            }
            other => return Err(bad(format!("unknown HEALTHCHECK flag: {other}"))),
        }
        s = after.trim_start();
    }
    let (kw, cmd) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    if !kw.eq_ignore_ascii_case("CMD") || cmd.trim().is_empty() {
        return Err(bad("HEALTHCHECK needs NONE or CMD <command>"));
    }
    let cmd = cmd.trim();
    let _ = shell;
    hc.test = Some(match json_array(cmd) {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None => vec!["CMD-SHELL".into(), cmd.to_string()],
    });
    Ok(hc)
}

/// Go-style durations: `30s`, `1m30s`, `500ms`, `2h`.
fn duration_ns(s: &str) -> Result<i64, ImageError> {
    let err = || bad(format!("invalid duration {s:?}"));
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| err())?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map(|i| num_end + i)
            .unwrap_or(rest.len());
        let mult = match &rest[num_end..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(changes: &[&str]) -> Result<ContainerConfigSpec, ImageError> {
        let mut c = ContainerConfigSpec::default();
        apply(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = run(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENTRYPOINT echo hello world",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint.unwrap(),
            vec!["/bin/sh", "-c", "echo hello world"]
        );
        let c = run(&["cmd [\"top\"]"]).unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["top"]);
        // Not valid JSON: shell form, as Docker does.
        let c = run(&["CMD [not json"]).unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "[not json"]);
    }

    #[test]
    fn env_forms() {
        let c = run(&[
            "ENV A=1 B=\"two words\" C='x y'",
            "ENV LEGACY some value",
            "ENV A=replaced",
        ])
        .unwrap();
        assert_eq!(
            c.env.unwrap(),
            vec!["B=two words", "C=x y", "LEGACY=some value", "A=replaced"]
        );
        assert!(run(&["ENV"]).is_err());
        assert!(run(&["ENV A=1 junk"]).is_err());
        assert!(run(&["ENV onlykey"]).is_err());
    }

    #[test]
    fn other_instructions() {
        let c = run(&[
            "WORKDIR /app",
            "WORKDIR sub/../src",
            "USER app:app",
            "LABEL a=b \"c d\"=e",
            "EXPOSE 80 53/udp 8000-8002",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(c.working_dir, "/app/src");
        assert_eq!(c.user, "app:app");
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, vec!["/cache", "/data", "/logs"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(c.on_build.unwrap(), vec!["RUN echo hi"]);
    }

    #[test]
    fn healthcheck_forms() {
        let c = run(&["HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/"]).unwrap();
        let h = c.healthcheck.unwrap();
        assert_eq!(h.interval, Some(90_000_000_000));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.test.unwrap(), vec!["CMD-SHELL", "curl -f http://x/"]);
        let h = run(&["HEALTHCHECK NONE"]).unwrap().healthcheck.unwrap();
        assert_eq!(h.test.unwrap(), vec!["NONE"]);
        assert!(run(&["HEALTHCHECK --interval=abc CMD x"]).is_err());
    }

    #[test]
    fn rejects_others_by_name() {
        for (c, kw) in [
            ("RUN echo", "RUN"),
            ("from busybox", "FROM"),
            ("COPY a b", "COPY"),
        ] {
            let e = run(&[c]).unwrap_err().to_string();
            assert!(e.contains(kw), "{e}");
        }
        assert!(run(&["EXPOSE 80/foo"]).is_err());
        assert!(run(&["EXPOSE 99999"]).is_err());
    }
}
