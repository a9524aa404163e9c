//! A subset of Go's text/template, as docker uses it for `--format`.

use super::value::Val;

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
    /// `$name.Field…`; `$` alone (the empty name) is the data passed in.
    Var(String, Vec<String>),
}

#[derive(Clone, Debug)]
struct Cmd {
    args: Vec<Arg>,
}

#[derive(Clone, Debug)]
struct Pipeline {
    /// `$x := …` (or `$i, $e :=` in range) declares, `$x = …` assigns.
    vars: Vec<String>,
    declare: bool,
    cmds: Vec<Cmd>,
}

/// Variables in scope, innermost last; `$` is the first.
type Vars = Vec<(String, Val)>;

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

/// A pipeline that may start with a declaration or assignment:
/// `$x := …`, `$x = …`, `$i, $e := …`.
fn parse_decl_pipeline(words: &[String]) -> Result<Pipeline, TemplateError> {
    if let Some(op) = words.iter().take(4).position(|w| w == ":=" || w == "=")
        && words[..op]
            .iter()
            .all(|w| w.starts_with('$') || w.starts_with(','))
    {
        let vars: Vec<String> = words[..op]
            .iter()
            .flat_map(|w| w.split(','))
            .filter(|v| !v.is_empty())
            .map(|v| v.trim_start_matches('$').to_string())
            .collect();
        if vars.is_empty() || vars.len() > 2 || vars.iter().any(|v| v.contains('.')) {
            return Err(TemplateError(format!(
                "bad variable declaration {:?}",
                words[..op].join(" ")
            )));
        }
        let mut p = parse_pipeline(&words[op + 1..], &mut 0)?;
        p.declare = words[op] == ":=";
        p.vars = vars;
        return Ok(p);
    }
    parse_pipeline(words, &mut 0)
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
    Ok(Pipeline {
        vars: Vec::new(),
        declare: false,
        cmds,
    })
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
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default().to_string();
        let fields = parts
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(Arg::Var(name, fields));
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
                            let p = parse_decl_pipeline(&words[2..])?;
                            return Ok((nodes, Stop::Else(Some(p))));
                        }
                        return Ok((nodes, Stop::Else(None)));
                    }
                    "if" | "range" | "with" => {
                        let p = parse_decl_pipeline(&words[1..])?;
                        let node = parse_block(kw, p, toks, pos)?;
                        nodes.push(node);
                    }
                    _ => {
                        let p = parse_decl_pipeline(&words)?;
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
        let mut vars = vec![(String::new(), data.clone())];
        self.exec(&self.nodes, data, &mut vars, &mut out)?;
        Ok(out)
    }

    /// Runs `nodes`; variables they declare go out of scope at the end, as
    /// Go's end at the `{{end}}` of the enclosing block.
    fn exec(
        &self,
        nodes: &[Node],
        dot: &Val,
        vars: &mut Vars,
        out: &mut String,
    ) -> Result<(), ExecError> {
        let mark = vars.len();
        let result = self.exec_nodes(nodes, dot, vars, out);
        vars.truncate(mark);
        result
    }

    fn exec_nodes(
        &self,
        nodes: &[Node],
        dot: &Val,
        vars: &mut Vars,
        out: &mut String,
    ) -> Result<(), ExecError> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.eval_pipe(p, dot, vars)?;
                    // A declaration or assignment prints nothing.
                    if p.vars.is_empty() {
                        out.push_str(&printable(&v));
                    } else {
                        bind(p, v, vars)?;
                    }
                }
                Node::If(p, a, b) => {
                    let mark = vars.len();
                    let v = self.eval_pipe(p, dot, vars)?;
                    let branch = if v.truthy() { a } else { b };
                    bind(p, v, vars)?;
                    let result = self.exec(branch, dot, vars, out);
                    vars.truncate(mark);
                    result?;
                }
                Node::With(p, a, b) => {
                    let mark = vars.len();
                    let v = self.eval_pipe(p, dot, vars)?;
                    bind(p, v.clone(), vars)?;
                    let result = if v.truthy() {
                        self.exec(a, &v, vars, out)
                    } else {
                        self.exec(b, dot, vars, out)
                    };
                    vars.truncate(mark);
                    result?;
                }
                Node::Range(p, a, b) => {
                    let v = self.eval_pipe(p, dot, vars)?;
                    let items: Vec<(Val, Val)> = match v {
                        Val::List(l) => l
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (Val::Num((i as u64).into()), v))
                            .collect(),
                        Val::Obj(o) => {
                            let mut o = o;
                            o.sort_by(|x, y| x.0.cmp(&y.0));
                            o.into_iter().map(|(k, v)| (Val::Str(k), v)).collect()
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
                        self.exec(b, dot, vars, out)?;
                    }
                    for (key, it) in items {
                        let mark = vars.len();
                        // `range $e := …` binds the element, `range $k, $e := …`
                        // the index or key and the element.
                        match p.vars.as_slice() {
                            [e] => vars.push((e.clone(), it.clone())),
                            [k, e] => {
                                vars.push((k.clone(), key));
                                vars.push((e.clone(), it.clone()));
                            }
                            _ => {}
                        }
                        let result = self.exec(a, &it, vars, out);
                        vars.truncate(mark);
                        result?;
                    }
                }
            }
        }
        Ok(())
    }

    fn eval_pipe(&self, p: &Pipeline, dot: &Val, vars: &Vars) -> Result<Val, ExecError> {
        let mut prev: Option<Val> = None;
        for c in &p.cmds {
            prev = Some(self.eval_cmd(c, dot, vars, prev)?);
        }
        Ok(prev.unwrap_or(Val::Null))
    }

    fn eval_cmd(
        &self,
        c: &Cmd,
        dot: &Val,
        vars: &Vars,
        piped: Option<Val>,
    ) -> Result<Val, ExecError> {
        match &c.args[0] {
            Arg::Func(name) => {
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot, vars)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(name, args)
            }
            Arg::Field(base, path) if c.args.len() > 1 || piped.is_some() => {
                // A method call with arguments, such as `.Label "key"`: the
                // row carries the method's answers under `Name()`.
                let b = self.eval_arg(base, dot, vars)?;
                let (last, parents) = path.split_last().expect("non-empty field path");
                let mut cur = b;
                for f in parents {
                    cur = cur.field(f).cloned().unwrap_or(Val::Null);
                }
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot, vars)?);
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
                self.eval_arg(&c.args[0], dot, vars)
            }
        }
    }

    fn eval_arg(&self, a: &Arg, dot: &Val, vars: &Vars) -> Result<Val, ExecError> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Str(s) => Val::Str(s.clone()),
            Arg::Num(n) => Val::Num(n.clone()),
            Arg::Bool(b) => Val::Bool(*b),
            Arg::Func(f) => self.call(f, Vec::new())?,
            Arg::Pipe(p) => self.eval_pipe(p, dot, vars)?,
            Arg::Var(name, path) => {
                let v = vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| ExecError(format!("undefined variable: ${name}")))?;
                walk(v, path)?
            }
            Arg::Field(base, path) => walk(self.eval_arg(base, dot, vars)?, path)?,
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

/// Binds a pipeline's declared (`:=`) or assigned (`=`) variable.
fn bind(p: &Pipeline, v: Val, vars: &mut Vars) -> Result<(), ExecError> {
    let Some(name) = p.vars.first() else {
        return Ok(());
    };
    if p.declare {
        vars.push((name.clone(), v));
        return Ok(());
    }
    match vars.iter_mut().rev().find(|(n, _)| n == name) {
        Some(slot) => {
            slot.1 = v;
            Ok(())
        }
        None => Err(ExecError(format!("undefined variable: ${name}"))),
    }
}

/// `.A.B…` from `cur`, with Go's answers for missing keys and non-maps.
fn walk(mut cur: Val, path: &[String]) -> Result<Val, ExecError> {
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
    Ok(cur)
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
    fn variables_declare_assign_and_range() {
        let v = val(r#"{"Name":"n","Env":["A=1","B=2"],"Labels":{"z":"1","a":"2"}}"#);
        let r = |t: &str| Template::parse(t).unwrap().render(&v).unwrap();
        let cases = [
            ("{{$n := .Name}}[{{$n}}]", "[n]"),
            ("{{$n := .Name}}{{$n = upper $n}}{{$n}}", "N"),
            ("{{range .Env}}{{$.Name}}:{{.}} {{end}}", "n:A=1 n:B=2 "),
            ("{{range $e := .Env}}{{$e}};{{end}}", "A=1;B=2;"),
            (
                "{{range $i, $e := .Env}}{{$i}}={{$e}} {{end}}",
                "0=A=1 1=B=2 ",
            ),
            (
                "{{range $k,$v := .Labels}}{{$k}}:{{$v}} {{end}}",
                "a:2 z:1 ",
            ),
            ("{{with $l := .Labels}}{{$l.z}}{{.a}}{{end}}", "12"),
            ("{{if $x := .Name}}{{$x}}{{end}}", "n"),
            // Assignment inside a range reaches the outer variable, as in Go.
            (
                "{{$last := \"\"}}{{range .Env}}{{$last = .}}{{end}}{{$last}}",
                "B=2",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(r(t), want, "{t}");
        }
        // A variable declared in a block ends with it.
        let t = Template::parse("{{range .Env}}{{$x := .}}{{end}}{{$x}}").unwrap();
        assert_eq!(
            t.render(&v).unwrap_err().to_string(),
            "template: undefined variable: $x"
        );
    }

    #[test]
    fn trim_markers_eat_whitespace_around_actions() {
        let v = val(r#"{"Env":["A","B"]}"#);
        let r = |t: &str| Template::parse(t).unwrap().render(&v).unwrap();
        assert_eq!(r("a  {{- \"b\" -}}  \n c"), "abc");
        assert_eq!(r("{{range .Env -}}\n  {{.}}\n{{- end}}"), "AB");
        // Without the space, `-3` is a number, not a marker.
        assert_eq!(r("x {{-3}}"), "x -3");
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
}
