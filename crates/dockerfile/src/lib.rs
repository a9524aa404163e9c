//! Dockerfile front end: parser directives, line continuations, comments,
//! heredocs, exec/shell forms and flags ([`parser`]); typed instructions and
//! stages ([`instructions`]); shell-style variable expansion ([`expand`]);
//! and `.dockerignore` matching ([`ignore`]). Pure: no I/O besides the strings
//! it is given.

mod error;
pub mod expand;
pub mod ignore;
pub mod instructions;
pub mod parser;

pub use error::{ExpandError, IgnoreError, ParseError};
pub use expand::{Env, expand_vars, expand_word, expand_words};
pub use ignore::IgnoreMatcher;
pub use instructions::{
    Command, CopyArgs, Dockerfile, HealthcheckArgs, Instruction, Stage, Step, parse_dockerfile,
};
pub use parser::{Heredoc, Node, Parsed, parse};
