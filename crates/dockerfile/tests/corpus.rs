//! Parses every Dockerfile under tests/corpus: `x.Dockerfile` with `x.err`
//! must fail with exactly that message; with `x.expect` it must parse into
//! the stated number of stages and steps (FROM lines not counted as steps).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use dockerfile::{Instruction, parse_dockerfile};

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("Dockerfile") {
            continue;
        }
        seen += 1;
        let text = fs::read_to_string(&path).unwrap();
        let result = parse_dockerfile(&text);
        let err_file = path.with_extension("err");
        let expect_file = path.with_extension("expect");
        if err_file.exists() {
            let want = fs::read_to_string(&err_file).unwrap();
            let got = result.expect_err(&format!("{} should fail", path.display()));
            assert_eq!(got.to_string(), want.trim_end(), "{}", path.display());
        } else {
            let want = fs::read_to_string(&expect_file)
                .unwrap_or_else(|_| panic!("{} has neither .err nor .expect", path.display()));
            let df = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let steps: usize = df.stages.iter().map(|s| s.steps.len()).sum();
            assert_eq!(
                format!("stages={} steps={steps}", df.stages.len()),
                want.trim_end(),
                "{}",
                path.display()
            );
        }
    }
    assert!(seen >= 10, "corpus has {seen} files");
}

#[test]
fn heredoc_corpus_bodies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let df =
        parse_dockerfile(&fs::read_to_string(dir.join("heredoc.Dockerfile")).unwrap()).unwrap();
    let steps = &df.stages[0].steps;
    match &steps[0].instruction {
        Instruction::Run { heredocs, .. } => {
            assert_eq!(heredocs[0].content, "echo one\necho two\n")
        }
        other => panic!("{other:?}"),
    }
    match &steps[1].instruction {
        Instruction::Run { heredocs, .. } => {
            assert_eq!(heredocs[0].content, "literal $HOME\n");
            assert!(!heredocs[0].expand);
        }
        other => panic!("{other:?}"),
    }
    match &steps[2].instruction {
        Instruction::Copy(c) => {
            assert_eq!(c.sources, vec!["<<EOT"]);
            assert_eq!(c.dest, "/etc/motd");
            assert_eq!(c.heredocs[0].content, "hello $USER\n");
        }
        other => panic!("{other:?}"),
    }
    match &steps[3].instruction {
        Instruction::Run { heredocs, .. } => assert_eq!(heredocs.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn escape_directive_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let df = parse_dockerfile(&fs::read_to_string(dir.join("escape.Dockerfile")).unwrap()).unwrap();
    assert_eq!(df.escape, '`');
    assert_eq!(
        df.stages[0].steps[0].original,
        "RUN echo C:\\windows     && echo two"
    );
}
