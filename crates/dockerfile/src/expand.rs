//! Shell-style word processing as Docker's builder does it for instruction
//! arguments: quotes, the escape character, `$V`, `${V}`, `${V:-x}`,
//! `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`.

use crate::error::ExpandError;

/// Variables visible to an instruction; later entries win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `KEY=value` strings (as in an image config's Env).
    pub fn from_list<'a>(list: impl IntoIterator<Item = &'a String>) -> Self {
        let mut env = Env::new();
        for kv in list {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            env.set(k, v);
        }
        env
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a Env,
    /// Word splitting on unquoted blanks (and on unquoted expansion results).
    split: bool,
    words: Vec<String>,
    cur: String,
    /// The current word exists even if empty (`""`).
    started: bool,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn end_word(&mut self) {
        if self.started || !self.cur.is_empty() {
            self.words.push(std::mem::take(&mut self.cur));
        }
        self.started = false;
    }

    fn push_unquoted_expansion(&mut self, value: &str) {
        if !self.split {
            self.cur.push_str(value);
            return;
        }
        for (i, part) in value.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.end_word();
            }
            self.cur.push_str(part);
        }
    }

    /// Processes until `stop` (unquoted) or the end; returns the text of a
    /// sub-word when `stop` is set (used for `${V:-word}`).
    fn run(&mut self, stop: Option<char>) -> Result<(), ExpandError> {
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return Ok(());
            }
            self.pos += 1;
            if c == self.escape {
                match self.next() {
                    Some(n) => self.cur.push(n),
                    None => self.cur.push(c),
                }
                self.started = true;
            } else if c == '\'' {
                self.started = true;
                self.single_quoted()?;
            } else if c == '"' {
                self.started = true;
                self.double_quoted()?;
            } else if c == '$' {
                let v = self.dollar()?;
                self.push_unquoted_expansion(&v);
            } else if self.split && c.is_whitespace() && stop.is_none() {
                self.end_word();
            } else {
                self.cur.push(c);
            }
        }
        if stop.is_some() {
            return Err(ExpandError::MissingBrace);
        }
        Ok(())
    }

    fn single_quoted(&mut self) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                Some('\'') => return Ok(()),
                Some(c) => self.cur.push(c),
                None => {
                    return Err(ExpandError::UnclosedSingleQuote);
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => {
                    let v = self.dollar()?;
                    self.cur.push_str(&v);
                }
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        self.cur.push(n);
                    }
                    _ => self.cur.push(c),
                },
                Some(c) => self.cur.push(c),
                None => {
                    return Err(ExpandError::UnclosedDoubleQuote);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek()
            && c.is_ascii_digit()
        {
            self.pos += 1;
            name.push(c);
            return name;
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.get(name).map(String::from)
    }

    /// After `$`: the expansion's value.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution);
        }
        match self.next() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => {
                let op = self.next().ok_or(ExpandError::MissingBrace)?;
                let word = self.sub_word()?;
                let value = self.lookup(&name).filter(|v| !v.is_empty());
                self.modifier(&name, op, value, word, true)
            }
            Some(op @ ('-' | '+' | '?')) => {
                let word = self.sub_word()?;
                let value = self.lookup(&name);
                self.modifier(&name, op, value, word, false)
            }
            Some(c) => Err(ExpandError::UnsupportedModifier(c.to_string())),
            None => Err(ExpandError::MissingBrace),
        }
    }

    fn modifier(
        &self,
        name: &str,
        op: char,
        value: Option<String>,
        word: String,
        colon: bool,
    ) -> Result<String, ExpandError> {
        match op {
            '-' => Ok(value.unwrap_or(word)),
            '+' => Ok(if value.is_some() { word } else { String::new() }),
            '?' => match value {
                Some(v) => Ok(v),
                None if word.is_empty() => Err(ExpandError::Unset(name.to_string())),
                None => Err(ExpandError::UnsetWithMessage {
                    name: name.to_string(),
                    message: word,
                }),
            },
            c => Err(ExpandError::UnsupportedModifier(format!(
                "{}{c}",
                if colon { ":" } else { "" }
            ))),
        }
    }

    /// The word of `${V:-word}`, itself expanded, up to the closing brace.
    fn sub_word(&mut self) -> Result<String, ExpandError> {
        let mut sub = Lexer {
            chars: Vec::new(),
            pos: 0,
            escape: self.escape,
            env: self.env,
            split: false,
            words: Vec::new(),
            cur: String::new(),
            started: false,
        };
        std::mem::swap(&mut sub.chars, &mut self.chars);
        sub.pos = self.pos;
        let r = sub.run(Some('}'));
        std::mem::swap(&mut sub.chars, &mut self.chars);
        self.pos = sub.pos;
        r?;
        self.pos += 1; // the closing brace
        Ok(sub.cur)
    }
}

fn lexer<'a>(word: &str, env: &'a Env, escape: char, split: bool) -> Lexer<'a> {
    Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        env,
        split,
        words: Vec::new(),
        cur: String::new(),
        started: false,
    }
}

/// Expands one word (quotes removed, no splitting).
pub fn expand_word(word: &str, env: &Env, escape: char) -> Result<String, ExpandError> {
    let mut l = lexer(word, env, escape, false);
    l.run(None)?;
    Ok(l.cur)
}

/// Expands and splits on unquoted whitespace (EXPOSE, VOLUME, COPY sources ...).
pub fn expand_words(text: &str, env: &Env, escape: char) -> Result<Vec<String>, ExpandError> {
    let mut l = lexer(text, env, escape, true);
    l.run(None)?;
    l.end_word();
    Ok(l.words)
}

/// Expands variables only, leaving quotes as they are (heredoc bodies).
pub fn expand_vars(text: &str, env: &Env, escape: char) -> Result<String, ExpandError> {
    let mut l = lexer(text, env, escape, false);
    let mut out = String::new();
    while let Some(c) = l.next() {
        if c == escape && l.peek() == Some('$') {
            l.pos += 1;
            out.push('$');
        } else if c == '$' {
            out.push_str(&l.dollar()?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Splits on unquoted whitespace keeping quotes and escapes as written (the
/// first pass over ENV/LABEL `k=v` pairs; each word is expanded later).
pub fn split_raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        let mut e = Env::new();
        e.set("A", "a");
        e.set("E", "");
        e.set("SP", "x y");
        e
    }

    #[test]
    fn forms() {
        let e = env();
        let x = |w: &str| expand_word(w, &e, '\\').unwrap();
        assert_eq!(x("$A"), "a");
        assert_eq!(x("${A}b"), "ab");
        assert_eq!(x("${U:-d}"), "d");
        assert_eq!(x("${E:-d}"), "d");
        assert_eq!(x("${E-d}"), "");
        assert_eq!(x("${U-d}"), "d");
        assert_eq!(x("${A:+set}"), "set");
        assert_eq!(x("${E:+set}"), "");
        assert_eq!(x("${E+set}"), "set");
        assert_eq!(x("${U+set}"), "");
        assert_eq!(x("${U:-${A}z}"), "az");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "a b");
        assert_eq!(x("\"\\$A\""), "$A");
        assert_eq!(x("$"), "$");
        assert_eq!(x("a$-b"), "a$-b");
        assert_eq!(
            expand_vars("'$A' \"${U:-d}\" \\$A", &e, '\\').unwrap(),
            "'a' \"d\" $A"
        );
        assert!(
            expand_word("${U:?boom}", &e, '\\')
                .unwrap_err()
                .to_string()
                .contains("boom")
        );
        assert!(expand_word("${A", &e, '\\').is_err());
        assert!(expand_word("'abc", &e, '\\').is_err());
    }

    #[test]
    fn words() {
        let e = env();
        assert_eq!(
            expand_words("a \"b c\" $SP ''", &e, '\\').unwrap(),
            vec!["a", "b c", "x", "y", ""]
        );
        assert_eq!(expand_words("`$A", &e, '`').unwrap(), vec!["$A"]);
        assert_eq!(
            split_raw_words("a=\"b c\" d=e\\ f", '\\'),
            vec!["a=\"b c\"", "d=e\\ f"]
        );
    }
}
