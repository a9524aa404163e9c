//! The history text (`created_by`) Docker's classic builder writes for each
//! step, which `docker history` shows and the cache keys hash. Pure.

use dockerfile::Command;

/// What a metadata step's `created_by` starts with.
pub(super) const NOP: &str = "/bin/sh -c #(nop) ";

/// Go's `%q` of a string slice, as Docker writes CMD/ENTRYPOINT in history.
pub(super) fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a string slice (SHELL, VOLUME in history).
pub(super) fn go_plain(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

pub(super) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A word that expands to exactly `s` (quotes, escapes and `$` neutralised),
/// for the LABEL steps `--label` adds.
pub(super) fn literal(s: &str, escape: char) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == escape || matches!(c, '"' | '\'' | '$') {
            out.push(escape);
        }
        out.push(c);
    }
    out
}

/// The argv of CMD/ENTRYPOINT/RUN: exec form as is, shell form under the shell.
pub(super) fn command_argv(cmd: &Command, shell: &[String]) -> Vec<String> {
    match cmd {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

/// A RUN step's history: its argv, prefixed with the build ARGs it saw
/// (`|2 A=1 B=2 /bin/sh -c make`) so a changed ARG misses the cache.
pub(super) fn run_created_by(argv: &[String], arg_env: &[String]) -> String {
    if arg_env.is_empty() {
        argv.join(" ")
    } else {
        format!(
            "|{} {} {}",
            arg_env.len(),
            arg_env.join(" "),
            argv.join(" ")
        )
    }
}

/// COPY/ADD's history: what kind of source and its content hash.
pub(super) fn copy_created_by(what: &str, desc: &str, hash: &str, dest: &str) -> String {
    format!("{NOP}{what} {desc}:{hash} in {dest} ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_formats() {
        let v = strings(&["sh", "-c", "echo \"hi\""]);
        assert_eq!(go_quoted(&v), r#"["sh" "-c" "echo \"hi\""]"#);
        assert_eq!(go_plain(&v), r#"[sh -c echo "hi"]"#);
        assert_eq!(json_list(&strings(&["CMD", "true"])), r#"["CMD","true"]"#);
    }

    #[test]
    fn literal_neutralises_expansion() {
        assert_eq!(literal("a$b\"c'd\\e", '\\'), "a\\$b\\\"c\\'d\\\\e");
        assert_eq!(literal("x`y", '`'), "x``y");
    }

    #[test]
    fn run_history_carries_args() {
        let argv = strings(&["/bin/sh", "-c", "make"]);
        assert_eq!(run_created_by(&argv, &[]), "/bin/sh -c make");
        assert_eq!(
            run_created_by(&argv, &strings(&["A=1", "B=2"])),
            "|2 A=1 B=2 /bin/sh -c make"
        );
    }

    #[test]
    fn command_forms_and_copy_history() {
        let shell = strings(&["/bin/sh", "-c"]);
        assert_eq!(
            command_argv(&Command::Shell("echo hi".into()), &shell),
            strings(&["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(
            command_argv(&Command::Exec(strings(&["a", "b"])), &shell),
            strings(&["a", "b"])
        );
        assert_eq!(
            copy_created_by("COPY", "file", "abc", "/x"),
            "/bin/sh -c #(nop) COPY file:abc in /x "
        );
    }
}
