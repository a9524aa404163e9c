//! docker's confirmation prompt and prune reports.

use super::Failure;
use super::format;

/// Prints `message [y/N] ` and reads one answer line from stdin; anything
/// but y/Y (an empty or closed stdin included) declines, as in docker.
pub fn confirm(message: &str) -> bool {
    out!("{message} [y/N] ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y")
}

/// A declined prompt ends the command quietly with status 0, as docker 28
/// does; the reason is only worth a line in debug output.
pub fn cancelled(_what: &str) -> Failure {
    Failure {
        code: 0,
        message: None,
    }
}

pub fn print_reclaimed(bytes: u64) {
    outln!(
        "Total reclaimed space: {}",
        format::human_size(bytes as f64, 4)
    );
}
