//! `berth daemon`: wiring of the engine and the API server.

pub fn main(_args: &[String]) -> i32 {
    eprintln!("not implemented: berth daemon");
    1
}
