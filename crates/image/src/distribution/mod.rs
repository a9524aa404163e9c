//! Registry client: pull and push over the OCI distribution spec.
//!
//! Blocking by design, like the rest of the store: call it from
//! `spawn_blocking` (or a plain thread) in async code.

mod challenge;
pub mod client;
mod login;
pub mod platform;
mod progress;
mod pull;
mod push;

pub use client::{Credentials, RegistryClient};
pub use login::{login, registry_domain};
pub use platform::Platform;
pub use progress::{Progress, ProgressDetail, ProgressFn};
pub use pull::{PullResult, pull};
pub use push::{PushResult, push};

#[derive(Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; defaults to this machine's (linux/amd64 here).
    pub platform: Option<String>,
    pub auth: Option<Credentials>,
    /// Plain http instead of https.
    pub insecure: bool,
    /// For Docker Hub names: mirrors (`scheme://host[:port]`) tried first.
    pub mirrors: Vec<String>,
    pub progress: Option<ProgressFn>,
}

#[derive(Clone, Default)]
pub struct PushOptions {
    pub auth: Option<Credentials>,
    /// Plain http instead of https.
    pub insecure: bool,
    pub progress: Option<ProgressFn>,
}

pub(crate) use cas::sha256_digest as sha256_of;
