//! Crash-safe metadata writes (temp file, fsync, rename, fsync of the
//! directory), from the one implementation every store shares.

pub use cas::{read_json, replace_json_atomic, write_json_atomic};
