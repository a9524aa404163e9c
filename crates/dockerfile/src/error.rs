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
