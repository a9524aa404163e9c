//! The `berth` command-line client: docker's syntax over the Docker Engine API.

pub fn main(_args: Vec<String>) -> i32 {
    eprintln!("not implemented: berth client");
    1
}
