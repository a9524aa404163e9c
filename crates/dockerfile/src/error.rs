use thiserror::Error;

/// A Dockerfile that cannot be parsed, worded as Docker's classic builder
/// words it (the API returns it as the build's error message).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// `dockerfile parse error line N: ...`
    #[error("dockerfile parse error line {line}: {message}")]
    Line { line: usize, message: String },
    /// Errors Docker reports without a line (`ENV must have two arguments`).
    #[error("failed to parse Dockerfile: {0}")]
    Document(String),
    /// Messages Docker prints as they are (`the Dockerfile (x) cannot be empty`).
    #[error("{0}")]
    Plain(String),
}

impl ParseError {
    pub(crate) fn line(line: usize, message: impl Into<String>) -> Self {
        ParseError::Line {
            line,
            message: message.into(),
        }
    }
}

/// A variable expansion the shell lexer refuses, in the words of Docker's
/// builder (its message is the build's error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnclosedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnclosedDoubleQuote,
    /// The modifier as written (`%`, `:=`).
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${V?}` / `${V:?}` on an unset variable.
    #[error("{0}: is not allowed to be unset")]
    Unset(String),
    /// `${V?message}`: the user's own message.
    #[error("{name}: {message}")]
    UnsetWithMessage { name: String, message: String },
}

/// A `.dockerignore` line that is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    /// Go's `filepath.ErrBadPattern`.
    #[error("syntax error in pattern")]
    BadPattern,
}
