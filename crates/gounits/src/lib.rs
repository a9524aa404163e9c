//! The Go and go-units semantics Docker users see, written once: the
//! docker CLI, dockerd and Dockerfiles parse and print durations and sizes
//! with these exact rules (rounding included), so berth's client, API and
//! builder use one copy.

mod duration;
mod human;

pub use duration::{DurationError, parse_duration};
pub use human::{SizeError, bytes_size, from_human_size, human_duration, human_size, ram_in_bytes};
