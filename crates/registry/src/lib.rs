//! An OCI distribution-spec v1.1 registry: HTTP API over a filesystem store,
//! plus offline garbage collection.

mod auth;
mod blobs;
pub mod error;
mod fsio;
mod gc;
mod http;
mod listing;
mod manifests;
pub mod names;
mod scanning;
mod server;
pub mod store;
mod token;
mod uploads;

pub use error::RegistryError;
pub use gc::{GcReport, STALE_UPLOAD, gc};
pub use server::{
    Config, DEFAULT_MAX_MANIFEST_SIZE, DEFAULT_UPLOAD_IDLE_TIMEOUT, Server, TlsFiles, start,
};
pub use token::TokenConfig;
