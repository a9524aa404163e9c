//! An order-preserving JSON value with Go's printing rules.

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

    pub fn truthy(&self) -> bool {
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
