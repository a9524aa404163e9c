//! Templated secrets and configs (`--template-driver golang`): the subset
//! of Go's text/template that swarmkit's payload templates use, expanded
//! on the node for each task over swarmkit's context (`.Service`, `.Node`,
//! `.Task`, and the functions `env`, `secret`, `config`, `join`).
//!
//! Anything of Go's language outside the subset (`if`, `range`, variables,
//! `printf`, numbers, …) is refused by [`check`] with its name, so a
//! template either expands as Go would expand it or is refused; it is
//! never expanded into something else.

use std::collections::BTreeMap;

/// The only driver swarmkit knows.
pub const GOLANG: &str = "golang";

/// Why a template does not expand. The texts follow Go's (`template:
/// expansion:LINE: …`), since they reach `docker service ps` as dockerd's do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Valid Go, but outside what berth expands.
    #[error("template: expansion:{line}: {what} is not supported in berth's templates")]
    Unsupported { line: usize, what: String },
    /// Not a valid Go template either.
    #[error("template: expansion:{line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error("template: expansion:{line}: executing \"expansion\" at <{at}>: {msg}")]
    Exec {
        line: usize,
        at: String,
        msg: String,
    },
    /// swarmkit's word for a driver other than `golang`.
    #[error("unrecognized template type")]
    UnknownDriver,
}

impl TemplateError {
    /// Whether dockerd would have refused it too: a template it accepts
    /// (and fails only on the node) is accepted at create time here too.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, TemplateError::Unsupported { .. })
    }
}

/// What a task's templates see (swarmkit's `template.Context` and the
/// payload functions' data).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub service_id: String,
    pub service_name: String,
    pub service_labels: BTreeMap<String, String>,
    pub node_id: String,
    pub node_hostname: String,
    pub node_os: String,
    pub node_architecture: String,
    pub task_id: String,
    pub task_name: String,
    /// The slot, or the node id for a global service's task.
    pub task_slot: String,
    /// The container spec's `Env` (`NAME=value`), read by `env`.
    pub env: Vec<String>,
    /// Target (`File.Name`) → data of the task's other secrets and configs,
    /// unexpanded, as swarmkit's getters give them.
    pub secrets: BTreeMap<String, Vec<u8>>,
    pub configs: BTreeMap<String, Vec<u8>>,
}

/// Refuses what berth cannot expand, for the API's create.
pub fn check(driver: &str, data: &[u8]) -> Result<(), TemplateError> {
    if driver != GOLANG {
        return Ok(());
    }
    parse(data).map(|_| ())
}

/// Expands `data` with `driver` for one task.
pub fn expand(driver: &str, data: &[u8], ctx: &Context) -> Result<Vec<u8>, TemplateError> {
    if driver != GOLANG {
        return Err(TemplateError::UnknownDriver);
    }
    let nodes = parse(data)?;
    let mut out = Vec::with_capacity(data.len());
    for node in &nodes {
        match node {
            Node::Text(t) => out.extend_from_slice(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, ctx)?;
                write_plain(&v, p, &mut out)?;
            }
        }
    }
    Ok(out)
}

// ---- syntax ----

enum Node {
    Text(Vec<u8>),
    Action(Pipeline),
}

struct Pipeline {
    line: usize,
    /// The source text, for errors (`at <…>`).
    text: String,
    commands: Vec<Vec<Operand>>,
}

enum Operand {
    /// `.A.B` or `$.A.B` (`.` and `$` alone have an empty path).
    Field(Vec<String>),
    Str(Vec<u8>),
    Func(String),
    Pipe(Pipeline),
}

#[derive(Debug, PartialEq)]
enum Token {
    Field(Vec<String>),
    Str(Vec<u8>),
    Ident(String),
    Pipe,
    Open,
    Close,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];
/// Go's builtins that berth does not provide.
const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "js", "len", "not", "or", "printf", "slice", "urlquery", "eq", "ne",
    "lt", "le", "gt", "ge",
];
const FUNCS: &[&str] = &[
    "env", "secret", "config", "join", "index", "print", "println",
];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn line_at(src: &[u8], pos: usize) -> usize {
    1 + src[..pos].iter().filter(|b| **b == b'\n').count()
}

fn parse(src: &[u8]) -> Result<Vec<Node>, TemplateError> {
    let mut nodes = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let open = find(src, pos, b"{{");
        let mut text = &src[pos..open.unwrap_or(src.len())];
        if trim_next {
            let start = text
                .iter()
                .position(|b| !is_space(*b))
                .unwrap_or(text.len());
            text = &text[start..];
        }
        let Some(open) = open else {
            push_text(&mut nodes, text);
            break;
        };
        let mut inner = open + 2;
        if src.len() > inner + 1 && src[inner] == b'-' && is_space(src[inner + 1]) {
            let end = text
                .iter()
                .rposition(|b| !is_space(*b))
                .map_or(0, |i| i + 1);
            text = &text[..end];
            inner += 2;
        }
        push_text(&mut nodes, text);
        let line = line_at(src, open);
        let (action, next, trim) = lex_action(src, inner, line)?;
        pos = next;
        trim_next = trim;
        if let Some(tokens) = action {
            let text = String::from_utf8_lossy(&src[inner..next]).into_owned();
            let text = text
                .trim_end_matches("}}")
                .trim_end_matches('-')
                .trim()
                .to_string();
            let mut it = tokens.into_iter().peekable();
            let p = parse_pipeline(&mut it, line, text, false)?;
            if it.next().is_some() {
                return Err(parse_err(line, "unexpected \")\" in command"));
            }
            nodes.push(Node::Action(p));
        }
    }
    Ok(nodes)
}

fn push_text(nodes: &mut Vec<Node>, text: &[u8]) {
    if !text.is_empty() {
        nodes.push(Node::Text(text.to_vec()));
    }
}

fn find(src: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    src[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|i| from + i)
}

fn parse_err(line: usize, msg: impl Into<String>) -> TemplateError {
    TemplateError::Parse {
        line,
        msg: msg.into(),
    }
}

fn unsupported(line: usize, what: impl Into<String>) -> TemplateError {
    TemplateError::Unsupported {
        line,
        what: what.into(),
    }
}

/// The tokens of the action starting at `pos` (None for a comment), where
/// the text after it starts, and whether that text is trimmed.
type Lexed = (Option<Vec<Token>>, usize, bool);

fn lex_action(src: &[u8], mut pos: usize, line: usize) -> Result<Lexed, TemplateError> {
    if src[pos..].starts_with(b"/*") {
        let end = find(src, pos + 2, b"*/").ok_or_else(|| parse_err(line, "unclosed comment"))?;
        let after = end + 2;
        if src[after..].starts_with(b"}}") {
            return Ok((None, after + 2, false));
        }
        if src.len() > after + 3 && is_space(src[after]) && src[after + 1..].starts_with(b"-}}") {
            return Ok((None, after + 4, true));
        }
        return Err(parse_err(line, "comment ends before closing delimiter"));
    }
    let mut tokens = Vec::new();
    loop {
        let Some(&c) = src.get(pos) else {
            return Err(parse_err(line, "unclosed action"));
        };
        if is_space(c) && src[pos + 1..].starts_with(b"-}}") {
            return Ok((Some(tokens), pos + 4, true));
        }
        if src[pos..].starts_with(b"}}") {
            return Ok((Some(tokens), pos + 2, false));
        }
        match c {
            c if is_space(c) => pos += 1,
            b'|' => {
                tokens.push(Token::Pipe);
                pos += 1;
            }
            b'(' => {
                tokens.push(Token::Open);
                pos += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                pos += 1;
            }
            b'"' => {
                let (s, next) = lex_quoted(src, pos + 1, line)?;
                tokens.push(Token::Str(s));
                pos = next;
            }
            b'`' => {
                let end = find(src, pos + 1, b"`")
                    .ok_or_else(|| parse_err(line, "unterminated raw quoted string"))?;
                tokens.push(Token::Str(src[pos + 1..end].to_vec()));
                pos = end + 1;
            }
            b'.' if src.get(pos + 1).is_some_and(|b| b.is_ascii_digit()) => {
                return Err(unsupported(line, "a number constant"));
            }
            b'.' | b'$' => {
                let root_var = c == b'$';
                pos += 1;
                if root_var && src.get(pos).is_some_and(|b| is_ident(*b)) {
                    return Err(unsupported(line, "a template variable ($name)"));
                }
                let mut path = Vec::new();
                // `.` alone is the root; `.A.B` a chain; `$` may chain too.
                let mut dotted = !root_var;
                loop {
                    if dotted {
                        let start = pos;
                        while src.get(pos).is_some_and(|b| is_ident(*b)) {
                            pos += 1;
                        }
                        if start == pos {
                            if !path.is_empty() {
                                return Err(parse_err(line, "bad character in field chain"));
                            }
                            break;
                        }
                        path.push(String::from_utf8_lossy(&src[start..pos]).into_owned());
                    }
                    if src.get(pos) == Some(&b'.') {
                        pos += 1;
                        dotted = true;
                    } else {
                        break;
                    }
                }
                if src.get(pos).is_some_and(|b| b.is_ascii_digit()) {
                    return Err(unsupported(line, "a number constant"));
                }
                tokens.push(Token::Field(path));
            }
            b'0'..=b'9' | b'-' | b'+' => return Err(unsupported(line, "a number constant")),
            b'\'' => return Err(unsupported(line, "a character constant")),
            b':' | b'=' => return Err(unsupported(line, "a variable declaration")),
            b',' => return Err(unsupported(line, "a range declaration (,)")),
            c if is_ident(c) => {
                let start = pos;
                while src.get(pos).is_some_and(|b| is_ident(*b)) {
                    pos += 1;
                }
                let word = String::from_utf8_lossy(&src[start..pos]).into_owned();
                if KEYWORDS.contains(&word.as_str()) {
                    return Err(unsupported(line, format!("{{{{{word}}}}}")));
                }
                if matches!(word.as_str(), "true" | "false") {
                    return Err(unsupported(line, "a boolean constant"));
                }
                if word == "nil" {
                    return Err(unsupported(line, "nil"));
                }
                if GO_BUILTINS.contains(&word.as_str()) {
                    return Err(unsupported(line, format!("the function {word:?}")));
                }
                if !FUNCS.contains(&word.as_str()) {
                    return Err(parse_err(line, format!("function {word:?} not defined")));
                }
                // A method-like chain on a function result (`env "A".B`).
                if src.get(pos) == Some(&b'.') {
                    return Err(unsupported(line, "a field of a function's result"));
                }
                tokens.push(Token::Ident(word));
            }
            c => {
                return Err(parse_err(
                    line,
                    format!("unexpected {:?} in command", char::from(c)),
                ));
            }
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// A Go interpreted string literal after its opening quote.
fn lex_quoted(src: &[u8], mut pos: usize, line: usize) -> Result<(Vec<u8>, usize), TemplateError> {
    let mut out = Vec::new();
    loop {
        let Some(&c) = src.get(pos) else {
            return Err(parse_err(line, "unterminated quoted string"));
        };
        pos += 1;
        match c {
            b'"' => return Ok((out, pos)),
            b'\n' => return Err(parse_err(line, "unterminated quoted string")),
            b'\\' => {
                let Some(&e) = src.get(pos) else {
                    return Err(parse_err(line, "unterminated quoted string"));
                };
                pos += 1;
                let simple = match e {
                    b'n' => Some(b'\n'),
                    b't' => Some(b'\t'),
                    b'r' => Some(b'\r'),
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'v' => Some(11),
                    b'\\' => Some(b'\\'),
                    b'"' => Some(b'"'),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                let digits = |pos: usize, n: usize, radix: u32| -> Result<u32, TemplateError> {
                    let s = src
                        .get(pos..pos + n)
                        .and_then(|d| std::str::from_utf8(d).ok())
                        .ok_or_else(|| parse_err(line, "invalid syntax in quoted string"))?;
                    u32::from_str_radix(s, radix)
                        .map_err(|_| parse_err(line, "invalid syntax in quoted string"))
                };
                match e {
                    b'x' => {
                        out.push(digits(pos, 2, 16)? as u8);
                        pos += 2;
                    }
                    b'0'..=b'7' => {
                        pos -= 1;
                        let v = digits(pos, 3, 8)?;
                        let b = u8::try_from(v)
                            .map_err(|_| parse_err(line, "invalid syntax in quoted string"))?;
                        out.push(b);
                        pos += 3;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let ch = char::from_u32(digits(pos, n, 16)?)
                            .ok_or_else(|| parse_err(line, "invalid syntax in quoted string"))?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        pos += n;
                    }
                    _ => return Err(parse_err(line, "invalid syntax in quoted string")),
                }
            }
            c => out.push(c),
        }
    }
}

fn parse_pipeline(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    line: usize,
    text: String,
    nested: bool,
) -> Result<Pipeline, TemplateError> {
    let mut commands = Vec::new();
    let mut current = Vec::new();
    loop {
        match it.peek() {
            None => break,
            Some(Token::Close) if nested => break,
            Some(Token::Close) => return Err(parse_err(line, "unexpected \")\" in command")),
            _ => {}
        }
        match it.next().expect("peeked") {
            Token::Pipe => {
                if current.is_empty() {
                    return Err(parse_err(line, "missing value for command"));
                }
                commands.push(std::mem::take(&mut current));
            }
            Token::Open => {
                let inner = parse_pipeline(it, line, text.clone(), true)?;
                if it.next() != Some(Token::Close) {
                    return Err(parse_err(line, "unclosed left paren"));
                }
                if inner.commands.is_empty() {
                    return Err(parse_err(line, "missing value for parenthesized pipeline"));
                }
                current.push(Operand::Pipe(inner));
            }
            Token::Close => unreachable!("handled above"),
            Token::Field(path) => current.push(Operand::Field(path)),
            Token::Str(s) => current.push(Operand::Str(s)),
            Token::Ident(f) => current.push(Operand::Func(f)),
        }
    }
    if current.is_empty() {
        return Err(parse_err(line, "missing value for command"));
    }
    commands.push(current);
    for (i, cmd) in commands.iter().enumerate() {
        // Go: only the first command of a pipeline may be a non-function.
        if i > 0 && !matches!(cmd[0], Operand::Func(_)) {
            return Err(parse_err(
                line,
                "non executable command in pipeline stage 2",
            ));
        }
        for arg in &cmd[1..] {
            if let Operand::Func(f) = arg {
                // A function name as an argument calls it with no
                // arguments in Go; none of ours takes none.
                return Err(unsupported(
                    line,
                    format!("{f:?} as an argument without parentheses"),
                ));
            }
        }
        if !matches!(cmd[0], Operand::Func(_)) && (cmd.len() > 1 || i > 0) {
            return Err(parse_err(line, "can't give argument to non-function"));
        }
        if let Operand::Field(path) = &cmd[0]
            && cmd.len() == 1
            && commands.len() == 1
            && !nested
            && is_struct(path)
        {
            let shown = if path.is_empty() {
                ".".to_string()
            } else {
                format!(".{}", path.join("."))
            };
            return Err(unsupported(
                line,
                format!("printing a whole struct ({shown})"),
            ));
        }
    }
    Ok(Pipeline {
        line,
        text,
        commands,
    })
}

/// Whether a field path names one of the context's structs (printing one
/// would need Go's `%v` of a struct).
fn is_struct(path: &[String]) -> bool {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    matches!(
        names.as_slice(),
        [] | ["Service"] | ["Node"] | ["Task"] | ["Node", "Platform"]
    )
}

// ---- evaluation ----

enum Value {
    Str(Vec<u8>),
    Map(BTreeMap<String, String>),
    Struct(&'static str),
}

fn exec_err(p: &Pipeline, msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec {
        line: p.line,
        at: p.text.clone(),
        msg: msg.into(),
    }
}

fn eval_pipeline(p: &Pipeline, ctx: &Context) -> Result<Value, TemplateError> {
    let mut last: Option<Value> = None;
    for cmd in &p.commands {
        let v = match &cmd[0] {
            Operand::Func(f) => {
                let mut args = cmd[1..]
                    .iter()
                    .map(|a| eval_operand(a, p, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(last.take());
                call(f, args, p, ctx)?
            }
            single => eval_operand(single, p, ctx)?,
        };
        last = Some(v);
    }
    Ok(last.expect("a pipeline has a command"))
}

fn eval_operand(a: &Operand, p: &Pipeline, ctx: &Context) -> Result<Value, TemplateError> {
    match a {
        Operand::Str(s) => Ok(Value::Str(s.clone())),
        Operand::Pipe(inner) => eval_pipeline(inner, ctx),
        Operand::Field(path) => field(path, p, ctx),
        Operand::Func(f) => call(f, Vec::new(), p, ctx),
    }
}

fn field(path: &[String], p: &Pipeline, ctx: &Context) -> Result<Value, TemplateError> {
    let mut v = Value::Struct("");
    for name in path {
        let s = |x: &str| Value::Str(x.as_bytes().to_vec());
        v = match (v, name.as_str()) {
            (Value::Struct(""), "Service") => Value::Struct("Service"),
            (Value::Struct(""), "Node") => Value::Struct("Node"),
            (Value::Struct(""), "Task") => Value::Struct("Task"),
            (Value::Struct("Service"), "ID") => s(&ctx.service_id),
            (Value::Struct("Service"), "Name") => s(&ctx.service_name),
            (Value::Struct("Service"), "Labels") => Value::Map(ctx.service_labels.clone()),
            (Value::Struct("Node"), "ID") => s(&ctx.node_id),
            (Value::Struct("Node"), "Hostname") => s(&ctx.node_hostname),
            (Value::Struct("Node"), "Platform") => Value::Struct("Platform"),
            (Value::Struct("Platform"), "OS") => s(&ctx.node_os),
            (Value::Struct("Platform"), "Architecture") => s(&ctx.node_architecture),
            (Value::Struct("Task"), "ID") => s(&ctx.task_id),
            (Value::Struct("Task"), "Name") => s(&ctx.task_name),
            (Value::Struct("Task"), "Slot") => s(&ctx.task_slot),
            (Value::Map(m), key) => match m.get(key) {
                Some(v) => s(v),
                // swarmkit parses with missingkey=error.
                None => return Err(exec_err(p, format!("map has no entry for key {key:?}"))),
            },
            (Value::Struct(t), _) => {
                let ty = if t.is_empty() {
                    "template.PayloadContext"
                } else {
                    t
                };
                return Err(exec_err(
                    p,
                    format!("can't evaluate field {name} in type {ty}"),
                ));
            }
            (Value::Str(_), _) => {
                return Err(exec_err(
                    p,
                    format!("can't evaluate field {name} in type string"),
                ));
            }
        };
    }
    Ok(v)
}

fn string_arg(v: Value, f: &str, p: &Pipeline) -> Result<Vec<u8>, TemplateError> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Map(_) => Err(exec_err(
            p,
            format!("wrong type for value; expected string; got map[string]string (in {f})"),
        )),
        Value::Struct(t) => Err(exec_err(
            p,
            format!("wrong type for value; expected string; got {t} (in {f})"),
        )),
    }
}

fn call(f: &str, args: Vec<Value>, p: &Pipeline, ctx: &Context) -> Result<Value, TemplateError> {
    let one = |args: Vec<Value>| -> Result<String, TemplateError> {
        if args.len() != 1 {
            return Err(exec_err(
                p,
                format!("wrong number of args for {f}: want 1 got {}", args.len()),
            ));
        }
        let arg = args.into_iter().next().expect("one arg");
        Ok(String::from_utf8_lossy(&string_arg(arg, f, p)?).into_owned())
    };
    match f {
        "env" => {
            let name = one(args)?;
            let value = ctx.env.iter().find_map(|e| {
                let (k, v) = e.split_once('=')?;
                (k == name).then(|| v.to_string())
            });
            Ok(Value::Str(value.unwrap_or_default().into_bytes()))
        }
        "secret" => {
            let target = one(args)?;
            match ctx.secrets.get(&target) {
                Some(d) => Ok(Value::Str(d.clone())),
                None => Err(exec_err(
                    p,
                    format!("error calling secret: secret target {target} not found"),
                )),
            }
        }
        "config" => {
            let target = one(args)?;
            match ctx.configs.get(&target) {
                Some(d) => Ok(Value::Str(d.clone())),
                None => Err(exec_err(
                    p,
                    format!("error calling config: config target {target} not found"),
                )),
            }
        }
        "join" => {
            if args.is_empty() {
                return Err(exec_err(p, "error calling join: no separator"));
            }
            let mut parts = args
                .into_iter()
                .map(|a| string_arg(a, f, p))
                .collect::<Result<Vec<_>, _>>()?;
            let sep = parts.remove(0);
            Ok(Value::Str(parts.join(sep.as_slice())))
        }
        "index" => {
            let mut args = args.into_iter();
            let Some(mut item) = args.next() else {
                return Err(exec_err(
                    p,
                    "wrong number of args for index: want at least 1 got 0",
                ));
            };
            for key in args {
                let key = String::from_utf8_lossy(&string_arg(key, f, p)?).into_owned();
                item = match item {
                    // `index` yields the zero value for a missing key
                    // (missingkey=error applies to fields only).
                    Value::Map(m) => {
                        Value::Str(m.get(&key).cloned().unwrap_or_default().into_bytes())
                    }
                    Value::Str(_) => {
                        return Err(exec_err(
                            p,
                            "error calling index: cannot index slice/array with type string",
                        ));
                    }
                    Value::Struct(t) => {
                        return Err(exec_err(
                            p,
                            format!("error calling index: can't index item of type {t}"),
                        ));
                    }
                };
            }
            Ok(item)
        }
        "print" | "println" => {
            let mut out = Vec::new();
            for (i, a) in args.iter().enumerate() {
                // Sprint spaces operands when neither side is a string;
                // Sprintln always.
                if i > 0
                    && (f == "println"
                        || !matches!((&args[i - 1], a), (Value::Str(_), _) | (_, Value::Str(_))))
                {
                    out.push(b' ');
                }
                write_plain(a, p, &mut out)?;
            }
            if f == "println" {
                out.push(b'\n');
            }
            Ok(Value::Str(out))
        }
        _ => Err(exec_err(p, format!("function {f:?} not defined"))),
    }
}

fn write_plain(v: &Value, p: &Pipeline, out: &mut Vec<u8>) -> Result<(), TemplateError> {
    match v {
        Value::Str(s) => out.extend_from_slice(s),
        // fmt's %v of a map: sorted keys.
        Value::Map(m) => {
            out.extend_from_slice(b"map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
            out.push(b']');
        }
        Value::Struct(t) => {
            return Err(TemplateError::Unsupported {
                line: p.line,
                what: format!("printing a whole struct ({t})"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
