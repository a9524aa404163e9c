//! `berth registry`: the OCI distribution-spec registry server.

pub fn main(_args: &[String]) -> i32 {
    eprintln!("not implemented: berth registry");
    1
}
