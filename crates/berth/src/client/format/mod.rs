//! Output formatting shared by all commands: an order-preserving JSON value,
//! Go templates for `--format`, table layout and human-readable units.

mod layout;
mod template;
mod units;
mod value;

pub use layout::{compact_json, indent_json, parse_format, render_rows, tabwrite};
pub use template::Template;
pub use units::{ellipsis, go_quote, go_time, human_duration, human_size, human_size_binary};
pub use value::Val;
