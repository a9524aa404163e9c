//! The parser, expander and .dockerignore matcher never panic, whatever the
//! input: random documents built from Dockerfile-ish fragments and raw bytes.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use dockerfile::{Env, IgnoreMatcher, expand_words, parse_dockerfile};
use rand::{Rng, SeedableRng, rngs::StdRng};

const FRAGMENTS: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "SHELL ",
    "EXPOSE ",
    "VOLUME ",
    "USER ",
    "WORKDIR ",
    "AS ",
    "--from=",
    "--chown=",
    "--interval=",
    "<<",
    "<<-",
    "EOF",
    "'",
    "\"",
    "\\",
    "`",
    "\n",
    "\r\n",
    " ",
    "\t",
    "#",
    "#escape=`\n",
    "# syntax=x\n",
    "[",
    "]",
    ",",
    "=",
    "$",
    "${",
    "}",
    ":-",
    ":+",
    "-",
    "+",
    ":?",
    "*",
    "**",
    "?",
    "!",
    "/",
    "..",
    "a",
    "busybox",
    "NONE",
    "CMD",
    "é",
    "\u{feff}",
    "0",
    "1x",
    "\0",
];

fn random_text(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..40);
    let mut s = String::new();
    for _ in 0..n {
        if rng.random_bool(0.1) {
            s.push(char::from_u32(rng.random_range(0..0x2000)).unwrap_or('x'));
        } else {
            s.push_str(FRAGMENTS[rng.random_range(0..FRAGMENTS.len())]);
        }
    }
    s
}

#[test]
fn never_panics() {
    let mut rng = StdRng::seed_from_u64(0xbe27);
    let mut env = Env::new();
    env.set("A", "x y");
    for _ in 0..30_000 {
        let text = random_text(&mut rng);
        let _ = parse_dockerfile(&text);
        let _ = expand_words(&text, &env, '\\');
        let _ = expand_words(&text, &env, '`');
        if let Ok(m) = IgnoreMatcher::parse(&text) {
            let _ = m.excluded(&random_text(&mut rng));
        }
    }
}
