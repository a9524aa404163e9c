//! Instructions grouped into stages: meta ARGs before the first FROM,
//! stage names, `--target` lookup and step numbering.

use super::types::{Dockerfile, Instruction, Stage, Step};
use super::{instruction, line_err};
use crate::error::ParseError;
use crate::parser::parse;

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

/// Docker's rule for `AS` names.
pub(super) fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn stage_names_follow_docker() {
        assert!(valid_stage_name("build-1.x_y"));
        assert!(!valid_stage_name("1build"));
        assert!(!valid_stage_name(""));
        let e = parse_dockerfile("FROM a AS x\nFROM b AS X\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: duplicate stage name \"x\""
        );
        let d = parse_dockerfile("ARG A\nFROM a\nRUN x\nFROM b\n").unwrap();
        assert_eq!(d.step_count(0), 3);
        assert_eq!(d.step_count(1), 4);
    }
}
