//! Text → nodes: parser directives, comments, line continuations, flags,
//! exec (JSON) form detection and heredoc bodies. No instruction knowledge
//! beyond which instructions take heredocs.

use crate::error::ParseError;

/// A heredoc body (`<<EOF` … `EOF`) attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Body lines, each ending in a newline.
    pub content: String,
    /// Unquoted delimiters expand variables in the body; quoted ones do not.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped from the body and the terminator.
    pub chomp: bool,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// Lower-case keyword (`run`, `copy`, ...).
    pub keyword: String,
    /// `--name=value` words that preceded the arguments, without the dashes.
    pub flags: Vec<String>,
    /// Arguments after the flags, continuations joined.
    pub rest: String,
    /// The instruction's text with continuations joined (Docker prints it in `Step n/m : ...`).
    pub original: String,
    /// The arguments parsed as a JSON array of strings (exec form), if they are one.
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Parser directives (`# syntax=...`, `# escape=...`), keys lower-cased.
    pub directives: Vec<(String, String)>,
    pub escape: char,
    pub nodes: Vec<Node>,
}

const HEREDOC_INSTRUCTIONS: &[&str] = &["run", "copy", "add"];

/// Splits `# key=value` into a directive, if the line is one.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim().strip_prefix('#')?.trim_start();
    let (key, value) = body.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// Directives are only recognised at the very top, before any blank line,
/// comment or instruction.
/// Directives, the escape character and how many lines they took.
type Directives = (Vec<(String, String)>, char, usize);

fn read_directives(lines: &[&str]) -> Result<Directives, ParseError> {
    let mut directives: Vec<(String, String)> = Vec::new();
    let mut escape = '\\';
    let mut consumed = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            break;
        };
        if directives.iter().any(|(k, _)| *k == key) {
            return Err(ParseError::line(
                i + 1,
                format!("only one {key} parser directive can be used"),
            ));
        }
        if key == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(ParseError::line(
                        i + 1,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                    ));
                }
            };
        }
        directives.push((key, value));
        consumed = i + 1;
    }
    Ok((directives, escape, consumed))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing continuation (escape char plus trailing blanks); returns
/// whether the line continues.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t', '\r']);
    match trimmed.strip_suffix(escape) {
        Some(body) => (body, true),
        None => (line.trim_end_matches('\r'), false),
    }
}

/// Leading `--flag[=value]` words.
fn split_flags(args: &str) -> (Vec<String>, String) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after
            .find(|c: char| c.is_whitespace())
            .unwrap_or(after.len());
        if end == 0 {
            break;
        }
        flags.push(after[..end].to_string());
        rest = after[end..].trim_start();
    }
    (flags, rest.trim_end().to_string())
}

fn parse_json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(String::from))
        .collect()
}

/// Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) among the words.
fn heredoc_markers(rest: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for word in rest.split_whitespace() {
        let Some(mut marker) = word.strip_prefix("<<") else {
            continue;
        };
        if marker.starts_with('<') {
            continue; // a here-string, not a heredoc
        }
        let chomp = marker.starts_with('-');
        if chomp {
            marker = &marker[1..];
        }
        let (name, quoted) = match marker.chars().next() {
            Some(q @ ('"' | '\'')) => match marker[1..].strip_suffix(q) {
                Some(n) => (n, true),
                None => continue,
            },
            _ => (marker, false),
        };
        // Redirections glued to the marker (`<<EOF>file`) end the name.
        let name: &str = name
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .next()
            .unwrap_or("");
        if name.is_empty() {
            continue;
        }
        out.push((name.to_string(), !quoted, chomp));
    }
    out
}

/// Parses a Dockerfile's text into nodes.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let (directives, escape, mut i) = read_directives(&lines)?;
    let mut nodes = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || is_comment(line) {
            i += 1;
            continue;
        }
        let start = i + 1;
        let (body, mut cont) = strip_continuation(line, escape);
        let mut joined = body.trim_start().to_string();
        i += 1;
        while cont && i < lines.len() {
            let next = lines[i];
            i += 1;
            // Comments and blank lines inside a continued instruction are dropped.
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (body, c) = strip_continuation(next, escape);
            joined.push_str(body);
            cont = c;
        }
        let joined = joined.trim_end().to_string();
        let (word, args) = match joined.find(|c: char| c.is_whitespace()) {
            Some(p) => (&joined[..p], &joined[p..]),
            None => (joined.as_str(), ""),
        };
        let keyword = word.to_ascii_lowercase();
        let (flags, rest) = split_flags(args);
        let mut heredocs = Vec::new();
        if HEREDOC_INSTRUCTIONS.contains(&keyword.as_str()) {
            for (name, expand, chomp) in heredoc_markers(&rest) {
                let mut content = String::new();
                let mut done = false;
                while i < lines.len() {
                    let raw = lines[i].trim_end_matches('\r');
                    i += 1;
                    let l = if chomp {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if l == name {
                        done = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !done {
                    return Err(ParseError::line(start, "unterminated heredoc"));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                    chomp,
                });
            }
        }
        nodes.push(Node {
            line: start,
            json: parse_json_array(&rest),
            keyword,
            flags,
            rest,
            original: joined,
            heredocs,
        });
    }
    Ok(Parsed {
        directives,
        escape,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_comments_and_flags() {
        let p = parse("FROM a\n# c\nRUN --mount=type=cache,target=/x echo a \\\n# inner\n\n  b\n")
            .unwrap();
        assert_eq!(p.nodes.len(), 2);
        let run = &p.nodes[1];
        assert_eq!(run.line, 3);
        assert_eq!(run.flags, vec!["mount=type=cache,target=/x"]);
        assert_eq!(run.rest, "echo a   b");
    }

    #[test]
    fn directives_only_at_top() {
        let p = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN a `\n b\n").unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(
            p.directives[0],
            ("syntax".into(), "docker/dockerfile:1".into())
        );
        assert_eq!(p.nodes[1].rest, "a  b");
        let p = parse("FROM a\n# escape=`\n").unwrap();
        assert_eq!(p.escape, '\\');
        assert!(p.directives.is_empty());
        assert!(parse("# escape=x\nFROM a").is_err());
    }

    #[test]
    fn heredocs() {
        let p = parse("RUN <<EOF\necho $A\nEOF\nCOPY <<-'END' /x\n\thello\n\tEND\n").unwrap();
        assert_eq!(p.nodes[0].heredocs[0].content, "echo $A\n");
        assert!(p.nodes[0].heredocs[0].expand);
        let h = &p.nodes[1].heredocs[0];
        assert_eq!(
            (h.name.as_str(), h.content.as_str(), h.expand, h.chomp),
            ("END", "hello\n", false, true)
        );
        let err = parse("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "dockerfile parse error line 2: unterminated heredoc"
        );
    }

    #[test]
    fn json_form() {
        let p = parse("CMD [\"a\", \"b c\"]\nCMD [not json\n").unwrap();
        assert_eq!(p.nodes[0].json, Some(vec!["a".into(), "b c".into()]));
        assert_eq!(p.nodes[1].json, None);
    }
}
