//! Accounts, sessions, CSRF tokens and login throttling: pure logic, no HTTP.

pub mod password;
pub mod ratelimit;
pub mod session;
pub mod users;
