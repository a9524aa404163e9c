//! Nodes → typed instructions grouped in stages, with Docker's validation
//! messages. Arguments stay unexpanded: the builder expands them step by step
//! because ARG and ENV change what is in scope.

use crate::error::ParseError;
use crate::expand::split_raw_words;
use crate::parser::{Heredoc, Node, parse};

/// RUN/CMD/ENTRYPOINT/HEALTHCHECK command: shell form or exec (JSON) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Unexpanded sources; heredoc names for `COPY <<EOF /dst`.
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub heredocs: Vec<Heredoc>,
    /// Sources came in JSON form (no word splitting when expanding).
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthcheckArgs {
    pub test: Vec<String>,
    /// Nanoseconds, as in the image config.
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub start_interval: Option<i64>,
    pub retries: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        /// `--mount=...` values, accepted as written.
        mounts: Vec<String>,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    /// Raw `(key, value)` pairs, expanded by the builder.
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    /// Raw text; expanded and split by the builder.
    Expose(String),
    Volume {
        paths: Vec<String>,
        json: bool,
    },
    User(String),
    Workdir(String),
    Copy(CopyArgs),
    Add(CopyArgs),
    Shell(Vec<String>),
    StopSignal(String),
    /// `None` is `HEALTHCHECK NONE`.
    Healthcheck(Option<HealthcheckArgs>),
    /// The trigger as stored in the image config (`RUN echo hi`).
    Onbuild(String),
    Maintainer(String),
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    /// As written, continuations joined: `Step n/m : <original>`.
    pub original: String,
    pub instruction: Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// The `FROM` step, then the stage's steps.
    pub from: Step,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Vec<(String, String)>,
    pub escape: char,
    /// ARGs before the first FROM: visible in FROM lines only.
    pub meta_args: Vec<(String, Option<String>)>,
    /// The ARG instructions before the first FROM (each is a `Step n/m`).
    pub meta_steps: Vec<Step>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Number of the stage `--target` names (case-insensitive), or the last one.
    pub fn target_index(&self, target: Option<&str>) -> Result<usize, ParseError> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(self.stages.len().saturating_sub(1)),
            Some(t) => {
                let t = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| {
                        ParseError::Plain(format!("failed to reach build target {t} in Dockerfile"))
                    })
            }
        }
    }

    /// Every step count of the stages up to `last` (Docker numbers steps
    /// across all stages it builds).
    pub fn step_count(&self, last: usize) -> usize {
        self.stages[..=last]
            .iter()
            .map(|s| s.steps.len() + 1)
            .sum::<usize>()
            + self.meta_steps.len()
    }
}

fn line_err(node: &Node, message: impl Into<String>) -> ParseError {
    ParseError::line(node.line, message)
}

/// Flags parsed against the instruction's allowed set.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn parse(node: &Node, allowed: &[&str]) -> Result<Flags, ParseError> {
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

    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    fn bool(&self, node: &Node, key: &str) -> Result<bool, ParseError> {
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

fn command(node: &Node) -> Command {
    match &node.json {
        Some(v) => Command::Exec(v.clone()),
        None => Command::Shell(node.rest.clone()),
    }
}

/// `k=v k2=v2` or the legacy `k v with spaces` form of ENV and LABEL.
fn name_values(node: &Node, escape: char, what: &str) -> Result<Vec<(String, String)>, ParseError> {
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

fn args_list(node: &Node) -> (Vec<String>, bool) {
    match &node.json {
        Some(v) => (v.clone(), true),
        None => (
            node.rest.split_whitespace().map(String::from).collect(),
            false,
        ),
    }
}

fn copy_args(node: &Node, add: bool) -> Result<CopyArgs, ParseError> {
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

fn healthcheck(node: &Node) -> Result<Option<HealthcheckArgs>, ParseError> {
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

fn one_word(node: &Node, what: &str) -> Result<String, ParseError> {
    let words: Vec<&str> = node.rest.split_whitespace().collect();
    if words.len() != 1 {
        return Err(line_err(
            node,
            format!("{what} requires exactly one argument"),
        ));
    }
    Ok(words[0].to_string())
}

fn arg_defs(node: &Node, escape: char) -> Result<Vec<(String, Option<String>)>, ParseError> {
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

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// One node → one instruction.
pub fn instruction(node: &Node, escape: char) -> Result<Instruction, ParseError> {
    let no_flags = |node: &Node| Flags::parse(node, &[]).map(|_| ());
    Ok(match node.keyword.as_str() {
        "from" => {
            let flags = Flags::parse(node, &["platform"])?;
            let words: Vec<&str> = node.rest.split_whitespace().collect();
            let (image, name) = match words.as_slice() {
                [image] => (image.to_string(), None),
                [image, kw, name] if kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(line_err(
                            node,
                            format!(
                                "invalid name for build stage: \"{name}\", name can't start with a number or contain symbols"
                            ),
                        ));
                    }
                    (image.to_string(), Some(name))
                }
                _ => {
                    return Err(line_err(
                        node,
                        "FROM requires either one or three arguments",
                    ));
                }
            };
            Instruction::From {
                image,
                name,
                platform: flags.get("platform").filter(|p| !p.is_empty()),
            }
        }
        "run" => {
            let flags = Flags::parse(node, &["mount", "network", "security"])?;
            if node.rest.trim().is_empty() && node.json.is_none() {
                return Err(line_err(node, "RUN requires at least one argument"));
            }
            Instruction::Run {
                command: command(node),
                mounts: flags.all("mount"),
                network: flags.get("network"),
                heredocs: node.heredocs.clone(),
            }
        }
        "cmd" => {
            no_flags(node)?;
            Instruction::Cmd(command(node))
        }
        "entrypoint" => {
            no_flags(node)?;
            Instruction::Entrypoint(command(node))
        }
        "env" => {
            no_flags(node)?;
            Instruction::Env(name_values(node, escape, "ENV")?)
        }
        "label" => {
            no_flags(node)?;
            Instruction::Label(name_values(node, escape, "LABEL")?)
        }
        "arg" => {
            no_flags(node)?;
            Instruction::Arg(arg_defs(node, escape)?)
        }
        "expose" => {
            no_flags(node)?;
            if node.rest.trim().is_empty() {
                return Err(line_err(node, "EXPOSE requires at least one argument"));
            }
            Instruction::Expose(node.rest.clone())
        }
        "volume" => {
            no_flags(node)?;
            let (paths, json) = args_list(node);
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err(line_err(
                    node,
                    "VOLUME specified can not be an empty string",
                ));
            }
            Instruction::Volume { paths, json }
        }
        "user" => {
            no_flags(node)?;
            Instruction::User(one_word(node, "USER")?)
        }
        "workdir" => {
            no_flags(node)?;
            if node.rest.trim().is_empty() {
                return Err(line_err(node, "WORKDIR requires exactly one argument"));
            }
            Instruction::Workdir(node.rest.trim().to_string())
        }
        "stopsignal" => {
            no_flags(node)?;
            Instruction::StopSignal(one_word(node, "STOPSIGNAL")?)
        }
        "copy" => Instruction::Copy(copy_args(node, false)?),
        "add" => Instruction::Add(copy_args(node, true)?),
        "shell" => {
            no_flags(node)?;
            match &node.json {
                Some(v) if !v.is_empty() => Instruction::Shell(v.clone()),
                _ => {
                    return Err(line_err(
                        node,
                        "SHELL requires the arguments to be in JSON form",
                    ));
                }
            }
        }
        "healthcheck" => Instruction::Healthcheck(healthcheck(node)?),
        "onbuild" => {
            no_flags(node)?;
            let inner = parse(&node.rest)
                .map_err(|_| line_err(node, "ONBUILD requires at least one argument"))?;
            let Some(trigger) = inner.nodes.into_iter().next() else {
                return Err(line_err(node, "ONBUILD requires at least one argument"));
            };
            match trigger.keyword.as_str() {
                "onbuild" => {
                    return Err(line_err(
                        node,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ));
                }
                "from" | "maintainer" => {
                    return Err(line_err(
                        node,
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            trigger.keyword.to_uppercase()
                        ),
                    ));
                }
                _ => {}
            }
            let mut trigger = trigger;
            trigger.line = node.line;
            instruction(&trigger, escape)?;
            let rest = trigger.original[trigger
                .original
                .find(char::is_whitespace)
                .unwrap_or(trigger.original.len())..]
                .trim_start();
            Instruction::Onbuild(
                format!("{} {rest}", trigger.keyword.to_uppercase())
                    .trim_end()
                    .to_string(),
            )
        }
        "maintainer" => {
            no_flags(node)?;
            if node.rest.trim().is_empty() {
                return Err(line_err(node, "MAINTAINER requires exactly one argument"));
            }
            Instruction::Maintainer(node.rest.trim().to_string())
        }
        other => {
            return Err(line_err(
                node,
                format!("unknown instruction: {}", other.to_uppercase()),
            ));
        }
    })
}

/// Parses a whole Dockerfile into stages.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, ParseError> {
    let parsed = parse(text)?;
    if parsed.nodes.is_empty() {
        return Err(ParseError::Plain("the Dockerfile cannot be empty".into()));
    }
    let mut meta_args = Vec::new();
    let mut meta_steps = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    // Docker reports the first unknown instruction even in later stages
    // before running anything, so every node is checked up front.
    for node in &parsed.nodes {
        let inst = instruction(node, parsed.escape)?;
        let step = Step {
            line: node.line,
            original: node.original.clone(),
            instruction: inst,
        };
        match (&step.instruction, stages.last_mut()) {
            (Instruction::From { name, .. }, _) => {
                if let Some(n) = name
                    && stages.iter().any(|s| s.name.as_deref() == Some(n.as_str()))
                {
                    return Err(line_err(node, format!("duplicate stage name \"{n}\"")));
                }
                stages.push(Stage {
                    name: name.clone(),
                    from: step,
                    steps: Vec::new(),
                });
            }
            (Instruction::Arg(defs), None) => {
                meta_args.extend(defs.iter().cloned());
                meta_steps.push(step);
            }
            (_, None) => {
                return Err(ParseError::Plain(
                    "no build stage in current context".into(),
                ));
            }
            (_, Some(stage)) => stage.steps.push(step),
        }
    }
    if stages.is_empty() {
        return Err(ParseError::Plain(
            "no build stage in current context".into(),
        ));
    }
    Ok(Dockerfile {
        directives: parsed.directives,
        escape: parsed.escape,
        meta_args,
        meta_steps,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_match_docker() {
        let e = |t: &str| parse_dockerfile(t).unwrap_err().to_string();
        assert_eq!(
            e("FROM a\nFOO bar\n"),
            "dockerfile parse error line 2: unknown instruction: FOO"
        );
        assert_eq!(
            e("FROM a\nENV A\n"),
            "failed to parse Dockerfile: ENV must have two arguments"
        );
        assert_eq!(
            e("FROM a\nLABEL a\n"),
            "failed to parse Dockerfile: LABEL must have two arguments"
        );
        assert_eq!(
            e("FROM a\nCOPY a\n"),
            "dockerfile parse error line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        );
        assert_eq!(
            e("FROM a\nSTOPSIGNAL\n"),
            "dockerfile parse error line 2: STOPSIGNAL requires exactly one argument"
        );
        assert_eq!(
            e("FROM a\nUSER\n"),
            "dockerfile parse error line 2: USER requires exactly one argument"
        );
        assert_eq!(e("RUN x\n"), "no build stage in current context");
        assert_eq!(e("ARG X\n"), "no build stage in current context");
        assert_eq!(e("\n# only a comment\n"), "the Dockerfile cannot be empty");
        assert_eq!(
            e("FROM a\nHEALTHCHECK --interval=1x CMD true\n"),
            "dockerfile parse error line 2: time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            e("FROM a\nSHELL sh -c\n"),
            "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(
            e("FROM a\nONBUILD ONBUILD RUN x\n"),
            "dockerfile parse error line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            e("FROM a\nCOPY --nope=1 a b\n"),
            "dockerfile parse error line 2: Unknown flag: nope"
        );
    }

    #[test]
    fn stages_and_meta_args() {
        let d = parse_dockerfile("ARG V=1\nFROM --platform=linux/amd64 a:$V AS Build\nRUN x\nFROM scratch\nCOPY --from=build /a /b\n").unwrap();
        assert_eq!(d.meta_args, vec![("V".to_string(), Some("1".to_string()))]);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name.as_deref(), Some("build"));
        assert_eq!(d.target_index(Some("BUILD")).unwrap(), 0);
        assert_eq!(d.target_index(None).unwrap(), 1);
        assert!(d.target_index(Some("nope")).is_err());
        match &d.stages[1].steps[0].instruction {
            Instruction::Copy(c) => assert_eq!(c.from.as_deref(), Some("build")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn env_forms_and_healthcheck() {
        let d = parse_dockerfile("FROM a\nENV A=1 B=\"x y\"\nENV C hello world\nHEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]\nHEALTHCHECK NONE\nONBUILD RUN echo hi\n").unwrap();
        let s = &d.stages[0].steps;
        assert_eq!(
            s[0].instruction,
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"x y\"".into())
            ])
        );
        assert_eq!(
            s[1].instruction,
            Instruction::Env(vec![("C".into(), "hello world".into())])
        );
        match &s[2].instruction {
            Instruction::Healthcheck(Some(h)) => {
                assert_eq!(h.test, vec!["CMD", "true"]);
                assert_eq!(h.interval, Some(5_000_000_000));
                assert_eq!(h.retries, Some(3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s[3].instruction, Instruction::Healthcheck(None));
        assert_eq!(s[4].instruction, Instruction::Onbuild("RUN echo hi".into()));
    }
}
