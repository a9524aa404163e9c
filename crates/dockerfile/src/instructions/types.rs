//! The typed instructions, steps and stages the parser produces and the
//! builder consumes; arguments stay unexpanded.

use crate::parser::Heredoc;

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
