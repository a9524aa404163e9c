//! `.dockerignore`: Go `filepath.Match` patterns plus `**`, with `!`
//! exceptions; the last matching pattern decides, and a path is excluded when
//! it or one of its parent directories matches (moby's patternmatcher rules).

use crate::error::IgnoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    /// `*`: any run of non-separators.
    Star,
    /// `**`: anything, separators included.
    Globstar,
    /// `**/`: nothing, or anything that ends in a separator.
    GlobstarSlash,
    Any,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Token>,
    text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for slash paths.
pub fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(p: &str) -> Result<Vec<Token>, IgnoreError> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                    out.push(Token::GlobstarSlash);
                } else {
                    out.push(Token::Globstar);
                }
                continue;
            }
            '*' => out.push(Token::Star),
            '?' => out.push(Token::Any),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(&n) => out.push(Token::Lit(n)),
                    None => return Err(IgnoreError::BadPattern),
                }
            }
            '[' => {
                i += 1;
                let negated = matches!(chars.get(i), Some('^') | Some('!'));
                if negated {
                    i += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(IgnoreError::BadPattern);
                    };
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        i += 1;
                        *chars.get(i).ok_or(IgnoreError::BadPattern)?
                    } else {
                        c
                    };
                    i += 1;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        let hi = chars[i + 1];
                        items.push((lo, hi));
                        i += 2;
                    } else {
                        items.push((lo, lo));
                    }
                }
                out.push(Token::Class { negated, items });
            }
            c => out.push(Token::Lit(c)),
        }
        i += 1;
    }
    Ok(out)
}

fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Lit(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Token::Any => s.first().is_some_and(|c| *c != '/') && match_tokens(rest, &s[1..]),
        Token::Class { negated, items } => {
            s.first().is_some_and(|c| {
                *c != '/' && items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
            }) && match_tokens(rest, &s[1..])
        }
        Token::Star => {
            for n in 0..=s.len() {
                if match_tokens(rest, &s[n..]) {
                    return true;
                }
                if n < s.len() && s[n] == '/' {
                    break;
                }
            }
            false
        }
        Token::Globstar => (0..=s.len()).any(|n| match_tokens(rest, &s[n..])),
        Token::GlobstarSlash => {
            match_tokens(rest, s)
                || (0..s.len()).any(|n| s[n] == '/' && match_tokens(rest, &s[n + 1..]))
        }
    }
}

/// Go's `filepath.Match` (plus `**`) of a whole slash path, without the
/// parent-directory rule of `.dockerignore`. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    compile(pattern).is_ok_and(|t| match_tokens(&t, &chars))
}

/// Whether `s` has glob metacharacters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl IgnoreMatcher {
    /// Reads `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(IgnoreError::BareExclusion);
            }
            let mut cleaned = clean_path(body);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let tokens = compile(&cleaned)?;
            patterns.push(Pattern {
                exclusion,
                tokens,
                text: cleaned,
            });
        }
        Ok(IgnoreMatcher { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the slash-separated path (relative to the context root) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean_path(path);
        let chars: Vec<char> = path.chars().collect();
        let parents: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut excluded = false;
        for p in &self.patterns {
            let hit = match_tokens(&p.tokens, &chars)
                || parents
                    .iter()
                    .any(|&i| match_tokens(&p.tokens, &chars[..i]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether some exception pattern could re-include something below `dir`,
    /// so an excluded directory must still be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// The patterns as cleaned (for cache keys and messages).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| format!("{}{}", if p.exclusion { "!" } else { "" }, p.text))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        assert_eq!(clean_path("./a//b/../c/"), "a/c");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path(""), ".");
    }

    #[test]
    fn matching() {
        let m = IgnoreMatcher::parse("# c\n*.log\n!keep.log\nbuild/\n**/tmp\nsecret[0-9]\n/abs\n")
            .unwrap();
        assert!(m.excluded("a.log"));
        assert!(!m.excluded("keep.log"));
        assert!(!m.excluded("dir/a.log"), "* does not cross directories");
        assert!(m.excluded("build/x/y"));
        assert!(m.excluded("tmp"));
        assert!(m.excluded("a/b/tmp/c"));
        assert!(m.excluded("secret1"));
        assert!(!m.excluded("secretx"));
        assert!(m.excluded("abs"));
        let m = IgnoreMatcher::parse("**\n!src/**\n!Dockerfile").unwrap();
        assert!(m.excluded("x"));
        assert!(!m.excluded("src/a/b.rs"));
        assert!(!m.excluded("Dockerfile"));
        let m = IgnoreMatcher::parse("a/**/b").unwrap();
        assert!(m.excluded("a/b"));
        assert!(m.excluded("a/x/y/b"));
        assert!(!m.excluded("ab"));
        assert!(IgnoreMatcher::parse("[a").is_err());
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/?.txt", "d/a.txt"));
    }
}
