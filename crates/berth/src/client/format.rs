//! Output formatting shared by all commands: an order-preserving JSON value,
//! a subset of Go's text/template as docker uses it for `--format`, Go's
//! tabwriter layout, `json.Indent` and docker's human-readable units.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::Write as _;

/// A JSON value that keeps the daemon's key order, so `{{json .Config}}`
/// prints fields in the order docker prints them.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    List(Vec<Val>),
    Obj(Vec<(String, Val)>),
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
            fn visit_none<E>(self) -> Result<Val, E> {
                Ok(Val::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
                Ok(Val::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Val, E> {
                Ok(Val::Num(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Val, E> {
                Ok(Val::Num(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Val, E> {
                Ok(serde_json::Number::from_f64(n).map_or(Val::Null, Val::Num))
            }
            fn visit_str<E>(self, s: &str) -> Result<Val, E> {
                Ok(Val::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Val, E> {
                Ok(Val::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Val, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Val::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Val, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, Val>()? {
                    v.push((k, x));
                }
                Ok(Val::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl From<&serde_json::Value> for Val {
    fn from(v: &serde_json::Value) -> Val {
        match v {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Number(n) => Val::Num(n.clone()),
            serde_json::Value::String(s) => Val::Str(s.clone()),
            serde_json::Value::Array(a) => Val::List(a.iter().map(Val::from).collect()),
            serde_json::Value::Object(o) => {
                Val::Obj(o.iter().map(|(k, v)| (k.clone(), Val::from(v))).collect())
            }
        }
    }
}

impl Val {
    pub fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// Field lookup as Go templates see docker's structs: exact name first,
    /// then case-insensitively (event fields are lower-case in JSON).
    pub fn field(&self, name: &str) -> Option<&Val> {
        match self {
            Val::Obj(o) => o
                .iter()
                .find(|(k, _)| k == name)
                .or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Val> {
        match self {
            Val::Obj(o) => o.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Obj(o) => !o.is_empty(),
        }
    }

    /// Go's `fmt.Print` rendering of a decoded JSON value.
    pub fn go_string(&self) -> String {
        match self {
            Val::Null => "<nil>".into(),
            Val::Bool(b) => b.to_string(),
            Val::Num(n) => n.to_string(),
            Val::Str(s) => s.clone(),
            Val::List(l) => format!(
                "[{}]",
                l.iter().map(Val::go_string).collect::<Vec<_>>().join(" ")
            ),
            Val::Obj(o) => {
                let mut kv: Vec<_> = o
                    .iter()
                    .filter(|(k, _)| !k.ends_with("()"))
                    .map(|(k, v)| format!("{k}:{}", v.go_string()))
                    .collect();
                kv.sort();
                format!("map[{}]", kv.join(" "))
            }
        }
    }

    /// Compact JSON in the value's own key order; `escape_html` mirrors Go's
    /// json.Marshal default (`<`, `>`, `&` as \u003c...).
    pub fn to_json(&self, escape_html: bool) -> String {
        let mut out = String::new();
        self.write_json(&mut out, escape_html);
        out
    }

    fn write_json(&self, out: &mut String, esc: bool) {
        match self {
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Num(n) => out.push_str(&n.to_string()),
            Val::Str(s) => write_json_str(out, s, esc),
            Val::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out, esc);
                }
                out.push(']');
            }
            Val::Obj(o) => {
                out.push('{');
                let mut first = true;
                for (k, v) in o.iter().filter(|(k, _)| !k.ends_with("()")) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_str(out, k, esc);
                    out.push(':');
                    v.write_json(out, esc);
                }
                out.push('}');
            }
        }
    }
}

fn write_json_str(out: &mut String, s: &str, esc: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if esc => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------- templates

#[derive(Debug, thiserror::Error)]
#[error("template parsing error: {0}")]
pub struct TemplateError(String);

#[derive(Clone, Debug)]
enum Arg {
    Dot,
    Field(Box<Arg>, Vec<String>),
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Func(String),
    Pipe(Box<Pipeline>),
}

#[derive(Clone, Debug)]
struct Cmd {
    args: Vec<Arg>,
}

#[derive(Clone, Debug)]
struct Pipeline {
    cmds: Vec<Cmd>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed `--format` template.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
    /// Go marshals docker's formatter contexts with HTML escaping on.
    pub escape_html: bool,
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let mut toks = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let mut inner = &rest[start + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end().to_string();
            inner = &inner[1..];
        }
        let end = find_action_end(inner).ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut body = &inner[..end];
        let mut after = &inner[end + 2..];
        let mut trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        if !text.is_empty() {
            toks.push(Tok::Text(text));
        }
        toks.push(Tok::Action(body.trim().to_string()));
        if trim_next {
            after = after.trim_start();
        }
        rest = after;
    }
    if !rest.is_empty() {
        toks.push(Tok::Text(rest.to_string()));
    }
    Ok(toks)
}

/// Finds the closing `}}`, skipping over string literals.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn split_words(s: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut w = String::from('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    w.push(chars[i]);
                    i += 1;
                }
                w.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(TemplateError("unterminated quoted string".into()));
            }
            w.push('"');
            i += 1;
            out.push(w);
        } else if c == '`' {
            let mut w = String::from('`');
            i += 1;
            while i < chars.len() && chars[i] != '`' {
                w.push(chars[i]);
                i += 1;
            }
            w.push('`');
            i += 1;
            out.push(w);
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut w = String::new();
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '|' | '(' | ')' | '"')
            {
                w.push(chars[i]);
                i += 1;
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn unquote(w: &str) -> String {
    if w.starts_with('`') {
        return w.trim_matches('`').to_string();
    }
    let inner = &w[1..w.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_pipeline(words: &[String], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut cmds = vec![Cmd { args: Vec::new() }];
    while *pos < words.len() {
        let w = &words[*pos];
        *pos += 1;
        match w.as_str() {
            "|" => cmds.push(Cmd { args: Vec::new() }),
            ")" => break,
            "(" => {
                let p = parse_pipeline(words, pos)?;
                push_arg(&mut cmds, Arg::Pipe(Box::new(p)));
            }
            _ => push_arg(&mut cmds, parse_operand(w)?),
        }
    }
    if cmds.iter().any(|c| c.args.is_empty()) {
        return Err(TemplateError("missing value for command".into()));
    }
    Ok(Pipeline { cmds })
}

fn push_arg(cmds: &mut [Cmd], a: Arg) {
    // `(.X).Y` chains a field onto a parenthesised pipeline.
    cmds.last_mut().expect("at least one command").args.push(a);
}

fn parse_operand(w: &str) -> Result<Arg, TemplateError> {
    if w == "." {
        return Ok(Arg::Dot);
    }
    if w.starts_with('"') || w.starts_with('`') {
        return Ok(Arg::Str(unquote(w)));
    }
    if w == "true" || w == "false" {
        return Ok(Arg::Bool(w == "true"));
    }
    if let Some(rest) = w.strip_prefix('.') {
        return Ok(Arg::Field(
            Box::new(Arg::Dot),
            rest.split('.').map(str::to_string).collect(),
        ));
    }
    if let Some(rest) = w.strip_prefix('$') {
        let fields: Vec<String> = rest
            .trim_start_matches('.')
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(Arg::Field(Box::new(Arg::Func("$".into())), fields));
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Arg::Num(n.into()));
    }
    if let Ok(f) = w.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Ok(Arg::Num(n));
    }
    if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Arg::Func(w.to_string()));
    }
    Err(TemplateError(format!("unexpected {w:?} in command")))
}

enum Stop {
    Eof,
    Else(Option<Pipeline>),
    End,
}

fn parse_nodes(toks: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Stop), TemplateError> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) => {
                if a.starts_with("/*") {
                    continue;
                }
                let words = split_words(a)?;
                let kw = words.first().map(String::as_str).unwrap_or("");
                match kw {
                    "end" => return Ok((nodes, Stop::End)),
                    "else" => {
                        if words.get(1).map(String::as_str) == Some("if") {
                            let p = parse_pipeline(&words[2..], &mut 0)?;
                            return Ok((nodes, Stop::Else(Some(p))));
                        }
                        return Ok((nodes, Stop::Else(None)));
                    }
                    "if" | "range" | "with" => {
                        let p = parse_pipeline(&words[1..], &mut 0)?;
                        let node = parse_block(kw, p, toks, pos)?;
                        nodes.push(node);
                    }
                    _ => {
                        let p = parse_pipeline(&words, &mut 0)?;
                        nodes.push(Node::Action(p));
                    }
                }
            }
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(
    kw: &str,
    p: Pipeline,
    toks: &[Tok],
    pos: &mut usize,
) -> Result<Node, TemplateError> {
    let (body, stop) = parse_nodes(toks, pos)?;
    let els = match stop {
        Stop::Eof => return Err(TemplateError(format!("unexpected EOF in {kw}"))),
        Stop::End => Vec::new(),
        Stop::Else(None) => {
            let (e, stop) = parse_nodes(toks, pos)?;
            if !matches!(stop, Stop::End) {
                return Err(TemplateError(format!("expected end after else in {kw}")));
            }
            e
        }
        // `else if` nests a new if that shares this block's `end`.
        Stop::Else(Some(p2)) => vec![parse_block("if", p2, toks, pos)?],
    };
    Ok(match kw {
        "if" => Node::If(p, body, els),
        "range" => Node::Range(p, body, els),
        _ => Node::With(p, body, els),
    })
}

#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct ExecError(String);

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, stop) = parse_nodes(&toks, &mut pos)?;
        if !matches!(stop, Stop::Eof) {
            return Err(TemplateError("unexpected end or else".into()));
        }
        Ok(Template {
            nodes,
            escape_html: false,
        })
    }

    pub fn render(&self, data: &Val) -> Result<String, ExecError> {
        let mut out = String::new();
        self.exec(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }

    fn exec(
        &self,
        nodes: &[Node],
        dot: &Val,
        root: &Val,
        out: &mut String,
    ) -> Result<(), ExecError> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.eval_pipe(p, dot, root)?;
                    out.push_str(&printable(&v));
                }
                Node::If(p, a, b) => {
                    let v = self.eval_pipe(p, dot, root)?;
                    self.exec(if v.truthy() { a } else { b }, dot, root, out)?;
                }
                Node::With(p, a, b) => {
                    let v = self.eval_pipe(p, dot, root)?;
                    if v.truthy() {
                        self.exec(a, &v, root, out)?;
                    } else {
                        self.exec(b, dot, root, out)?;
                    }
                }
                Node::Range(p, a, b) => {
                    let v = self.eval_pipe(p, dot, root)?;
                    let items: Vec<Val> = match v {
                        Val::List(l) => l,
                        Val::Obj(o) => {
                            let mut o = o;
                            o.sort_by(|x, y| x.0.cmp(&y.0));
                            o.into_iter().map(|(_, v)| v).collect()
                        }
                        Val::Null => Vec::new(),
                        other => {
                            return Err(ExecError(format!(
                                "range can't iterate over {}",
                                other.go_string()
                            )));
                        }
                    };
                    if items.is_empty() {
                        self.exec(b, dot, root, out)?;
                    }
                    for it in &items {
                        self.exec(a, it, root, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn eval_pipe(&self, p: &Pipeline, dot: &Val, root: &Val) -> Result<Val, ExecError> {
        let mut prev: Option<Val> = None;
        for c in &p.cmds {
            prev = Some(self.eval_cmd(c, dot, root, prev)?);
        }
        Ok(prev.unwrap_or(Val::Null))
    }

    fn eval_cmd(
        &self,
        c: &Cmd,
        dot: &Val,
        root: &Val,
        piped: Option<Val>,
    ) -> Result<Val, ExecError> {
        match &c.args[0] {
            Arg::Func(name) if name != "$" => {
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot, root)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(name, args)
            }
            Arg::Field(base, path) if c.args.len() > 1 || piped.is_some() => {
                // A method call with arguments, such as `.Label "key"`: the
                // row carries the method's answers under `Name()`.
                let b = self.eval_arg(base, dot, root)?;
                let (last, parents) = path.split_last().expect("non-empty field path");
                let mut cur = b;
                for f in parents {
                    cur = cur.field(f).cloned().unwrap_or(Val::Null);
                }
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot, root)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                match cur.get(&format!("{last}()")) {
                    Some(m) => Ok(args
                        .first()
                        .and_then(|k| m.get(&printable(k)).cloned())
                        .unwrap_or(Val::Str(String::new()))),
                    None => Ok(cur.field(last).cloned().unwrap_or(Val::Null)),
                }
            }
            _ => {
                if c.args.len() > 1 || piped.is_some() {
                    return Err(ExecError("can't give argument to non-function".into()));
                }
                self.eval_arg(&c.args[0], dot, root)
            }
        }
    }

    fn eval_arg(&self, a: &Arg, dot: &Val, root: &Val) -> Result<Val, ExecError> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Str(s) => Val::Str(s.clone()),
            Arg::Num(n) => Val::Num(n.clone()),
            Arg::Bool(b) => Val::Bool(*b),
            Arg::Func(f) if f == "$" => root.clone(),
            Arg::Func(f) => self.call(f, Vec::new())?,
            Arg::Pipe(p) => self.eval_pipe(p, dot, root)?,
            Arg::Field(base, path) => {
                let mut cur = self.eval_arg(base, dot, root)?;
                for f in path {
                    cur = match &cur {
                        Val::Obj(_) => match cur.field(f) {
                            Some(v) => v.clone(),
                            None => Val::Str("<no value>".into()),
                        },
                        Val::Null => return Err(ExecError(format!("nil pointer evaluating .{f}"))),
                        other => {
                            return Err(ExecError(format!(
                                "can't evaluate field {f} in type {}",
                                type_name(other)
                            )));
                        }
                    };
                }
                cur
            }
        })
    }

    fn call(&self, name: &str, args: Vec<Val>) -> Result<Val, ExecError> {
        let s = |i: usize| args.get(i).map(printable).unwrap_or_default();
        Ok(match name {
            "json" => Val::Str(
                args.first()
                    .map(|v| v.to_json(self.escape_html))
                    .unwrap_or_default(),
            ),
            "upper" => Val::Str(s(0).to_uppercase()),
            "lower" => Val::Str(s(0).to_lowercase()),
            "title" => Val::Str(title(&s(0))),
            "split" => Val::List(s(0).split(&s(1)).map(Val::str).collect()),
            "join" => match args.first() {
                Some(Val::List(l)) => {
                    Val::Str(l.iter().map(printable).collect::<Vec<_>>().join(&s(1)))
                }
                _ => Val::Str(s(0)),
            },
            "truncate" => {
                let n = args.get(1).and_then(num).unwrap_or(0.0) as usize;
                Val::Str(s(0).chars().take(n).collect())
            }
            "pad" => {
                let l = args.get(1).and_then(num).unwrap_or(0.0) as usize;
                let r = args.get(2).and_then(num).unwrap_or(0.0) as usize;
                Val::Str(format!("{}{}{}", " ".repeat(l), s(0), " ".repeat(r)))
            }
            "len" => Val::Num(
                (match args.first() {
                    Some(Val::List(l)) => l.len(),
                    Some(Val::Obj(o)) => o.len(),
                    Some(Val::Str(s)) => s.len(),
                    _ => 0,
                } as u64)
                    .into(),
            ),
            "index" => {
                let mut cur = args.first().cloned().unwrap_or(Val::Null);
                for k in &args[1.min(args.len())..] {
                    cur = match (&cur, k) {
                        (Val::List(l), k) => l
                            .get(num(k).unwrap_or(-1.0) as usize)
                            .cloned()
                            .unwrap_or(Val::Null),
                        (Val::Obj(_), k) => cur.get(&printable(k)).cloned().unwrap_or(Val::Null),
                        _ => Val::Null,
                    };
                }
                if cur == Val::Null {
                    Val::Str("<no value>".into())
                } else {
                    cur
                }
            }
            "print" => Val::Str(args.iter().map(printable).collect::<Vec<_>>().join("")),
            "println" => Val::Str(format!(
                "{}\n",
                args.iter().map(printable).collect::<Vec<_>>().join(" ")
            )),
            "printf" => Val::Str(sprintf(&s(0), &args[1.min(args.len())..])),
            "not" => Val::Bool(!args.first().is_some_and(Val::truthy)),
            "and" => args
                .iter()
                .find(|a| !a.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Null),
            "or" => args
                .iter()
                .find(|a| a.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Null),
            "eq" => Val::Bool(args.len() > 1 && args[1..].iter().any(|a| printable(a) == s(0))),
            "ne" => Val::Bool(s(0) != s(1)),
            other => return Err(ExecError(format!("function {other:?} not defined"))),
        })
    }
}

fn type_name(v: &Val) -> &'static str {
    match v {
        Val::Null => "interface {}",
        Val::Bool(_) => "bool",
        Val::Num(_) => "float64",
        Val::Str(_) => "string",
        Val::List(_) => "[]interface {}",
        Val::Obj(_) => "map[string]interface {}",
    }
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Num(n) => n.as_f64(),
        Val::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn printable(v: &Val) -> String {
    v.go_string()
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `printf` with the verbs templates use in practice (%s %d %v %q %%).
fn sprintf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(
                &it.next()
                    .map(|v| Val::Str(printable(v)).to_json(false))
                    .unwrap_or_default(),
            ),
            Some(_) => out.push_str(
                &it.next()
                    .map(printable)
                    .unwrap_or_else(|| "%!v(MISSING)".into()),
            ),
            None => out.push('%'),
        }
    }
    out
}

/// Docker's `--format` conventions: a `table` prefix, `\t`/`\n` escapes and
/// surrounding spaces trimmed.
pub struct FormatSpec {
    pub table: bool,
    pub template: String,
}

pub fn parse_format(f: &str) -> FormatSpec {
    let (table, rest) = match f.strip_prefix("table") {
        Some(r) => (true, r),
        None => (false, f),
    };
    let t = rest
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    FormatSpec { table, template: t }
}

/// Renders rows with a template; table mode adds the header row (the same
/// template applied to `header`) and aligns columns like docker's tabwriter.
pub fn render_rows(
    spec: &FormatSpec,
    rows: &[Val],
    header: &Val,
    escape_html: bool,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut tmpl = Template::parse(&spec.template)?;
    tmpl.escape_html = escape_html;
    let mut body = String::new();
    for r in rows {
        body.push_str(&tmpl.render(r)?);
        body.push('\n');
    }
    if !spec.table {
        return Ok(body);
    }
    let mut all = tmpl.render(header).unwrap_or_default();
    all.push('\n');
    all.push_str(&body);
    Ok(tabwrite(&all, 10, 3))
}

/// Go's text/tabwriter (flags 0, padchar ' '): tab-terminated cells aligned
/// per column block; the text after a line's last tab is not a cell.
pub fn tabwrite(text: &str, minwidth: usize, padding: usize) -> String {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(
        &lines,
        0,
        lines.len(),
        &mut widths,
        minwidth,
        padding,
        &mut out,
    );
    out
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    minwidth: usize,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column >= lines[this].len() - 1 {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = minwidth;
        while this < line1 && column < lines[this].len() - 1 {
            width = width.max(lines[this][column].chars().count() + padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, minwidth, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j < line.len() - 1 {
                let w = cell.chars().count();
                out.push_str(&" ".repeat(widths[j].saturating_sub(w)));
            }
        }
        out.push('\n');
    }
}

/// Go's `json.Compact`: whitespace outside strings removed.
pub fn compact_json(src: &[u8]) -> String {
    let mut out = Vec::with_capacity(src.len());
    let (mut in_str, mut escaped) = (false, false);
    for &c in src {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c.is_ascii_whitespace() {
            continue;
        } else if c == b'"' {
            in_str = true;
        }
        out.push(c);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `json.Indent(dst, src, "", "    ")`: whitespace is rewritten, string
/// contents and key order are left exactly as the daemon sent them.
pub fn indent_json(src: &[u8]) -> String {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_str = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, d: usize| {
        out.push(b'\n');
        for _ in 0..d {
            out.extend_from_slice(b"    ");
        }
    };
    for &c in src {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_str = true;
                out.push(c);
            }
            b'{' | b'[' => {
                out.push(c);
                need_indent = true;
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------ human units

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = ((s as f64) / 3600.0 + 0.5) as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

/// go-units `HumanSizeWithPrecision(size, precision)`: decimal units, `%.*g`.
pub fn human_size(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, precision), UNITS[i])
}

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn human_size_binary(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, 4), UNITS[i])
}

/// Go's `%.{p}g` for the small non-negative values sizes produce.
fn fmt_g(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Go's `strconv.Quote` for the printable text commands are made of.
pub fn go_quote(s: &str) -> String {
    Val::Str(s.to_string()).to_json(false)
}

/// docker's `formatter.Ellipsis` for single-width text.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

/// Go's `time.Time.String()` minus the monotonic part, in local time.
pub fn go_time(secs: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(secs, 0).single() {
        Some(t) => {
            let zone = t.format("%Z").to_string();
            let zone = if zone == "+00:00" {
                "UTC".to_string()
            } else {
                zone
            };
            format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), zone)
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> Val {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn fields_json_and_functions() {
        let v = val(
            r#"{"State":{"ExitCode":3},"Config":{"Hostname":"h","Env":["A=1","B=2"],"Labels":{"z":"1","a":"<2>"}}}"#,
        );
        let r = |t: &str| Template::parse(t).unwrap().render(&v).unwrap();
        assert_eq!(r("{{.State.ExitCode}}"), "3");
        assert_eq!(r("{{.Config.Hostname}}-x"), "h-x");
        assert_eq!(r("{{json .Config.Labels}}"), r#"{"z":"1","a":"<2>"}"#);
        assert_eq!(r("{{.Config.Labels}}"), "map[a:<2> z:1]");
        assert_eq!(r("{{.Config.Env}}"), "[A=1 B=2]");
        assert_eq!(r(r#"{{index .Config.Labels "z"}}"#), "1");
        assert_eq!(r(r#"{{join .Config.Env ","}}"#), "A=1,B=2");
        assert_eq!(r("{{range .Config.Env}}[{{.}}]{{end}}"), "[A=1][B=2]");
        assert_eq!(r("{{if .State.ExitCode}}bad{{else}}ok{{end}}"), "bad");
        assert_eq!(r("{{.Config.Hostname | upper}}"), "H");
        assert_eq!(r("{{.Missing}}"), "<no value>");
        assert_eq!(r("{{println .Config.Hostname}}"), "h\n");
    }

    #[test]
    fn method_with_argument_reads_row_map() {
        let v = val(r#"{"Labels":"a=b","Label()":{"a":"b"}}"#);
        assert_eq!(
            Template::parse(r#"{{.Label "a"}}"#)
                .unwrap()
                .render(&v)
                .unwrap(),
            "b"
        );
    }

    #[test]
    fn tabwriter_matches_docker_layout() {
        let t = tabwrite("CONTAINER ID\tNAMES\nabc\tx\n", 10, 3);
        assert_eq!(t, "CONTAINER ID   NAMES\nabc            x\n");
    }

    #[test]
    fn indent_like_go() {
        assert_eq!(
            indent_json(br#"[{"a":[],"b":{"c":1,"d":"x, y"}}]"#),
            "[\n    {\n        \"a\": [],\n        \"b\": {\n            \"c\": 1,\n            \"d\": \"x, y\"\n        }\n    }\n]"
        );
    }

    #[test]
    fn compact_keeps_strings() {
        assert_eq!(
            compact_json(b"{ \"a b\" : [ 1, \"x\\\" y\" ] }\n"),
            "{\"a b\":[1,\"x\\\" y\"]}"
        );
    }

    #[test]
    fn units() {
        assert_eq!(human_size(1_982_000.0, 3), "1.98MB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(1_982_456.0, 4), "1.982MB");
        assert_eq!(human_duration(56), "56 seconds");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(
            ellipsis("\"sh -c 'echo hello world'\"", 20),
            "\"sh -c 'echo hello …"
        );
    }
}
