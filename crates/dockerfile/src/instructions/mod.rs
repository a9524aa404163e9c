//! Nodes → typed instructions grouped in stages, with Docker's validation
//! messages. Arguments stay unexpanded: the builder expands them step by step
//! because ARG and ENV change what is in scope. This file maps one node to
//! one instruction; [`types`] holds the types, [`flags`] the flag checks,
//! [`args`] the argument forms and [`stages`] the grouping into stages.

use crate::error::ParseError;
use crate::parser::{Node, parse};

mod args;
mod flags;
mod stages;
mod types;

use args::{arg_defs, args_list, command, copy_args, healthcheck, name_values, one_word};
use flags::Flags;
pub use stages::parse_dockerfile;
use stages::valid_stage_name;
pub use types::{Command, CopyArgs, Dockerfile, HealthcheckArgs, Instruction, Stage, Step};

fn line_err(node: &Node, message: impl Into<String>) -> ParseError {
    ParseError::line(node.line, message)
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
