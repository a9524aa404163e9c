//! Layout of command output: docker's `--format` conventions, Go's
//! tabwriter and `json.Indent`/`json.Compact`.

use super::template::Template;
use super::value::Val;

/// docker's `--format` conventions: a `table` prefix, `\t`/`\n` escapes and
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
