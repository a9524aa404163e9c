//! Durable files for berth's stores, in one place so every store gets the
//! same crash guarantees:
//!
//! - [`atomic`]: replace a file so a crash leaves the old or the new bytes
//!   (unique temp file, fsync, rename, fsync of the directory), JSON on top.
//! - [`digest`]: `sha256:<hex>` digests: computing, validating (the OCI
//!   grammar, sha256 strictly), the hex part and Docker's short ids.
//! - [`content`]: the content-addressed blob store ([`ContentStore`]) with
//!   its filesystem implementation ([`FsStore`], used by the image store and
//!   the registry) and an in-memory one ([`MemStore`]) for unit tests; both
//!   pass the one conformance suite ([`suite`], feature `suite`), and so
//!   must any other implementation.
//! - [`spread`]: the hint that places each container's tree in a block group
//!   of its own (ext2/3/4).

pub mod atomic;
pub mod content;
pub mod digest;
mod error;
pub mod reaper;
pub mod spread;
#[cfg(any(test, feature = "suite"))]
pub mod suite;

pub use atomic::{
    fsync_dir, read_json, rename_durable, replace_atomic, replace_json_atomic, write_atomic,
    write_json_atomic,
};
pub use content::{BlobWriter, ContentStore, FsStore, FsWriter, MemStore};
pub use digest::{hex_of, sha256_digest, short_id, validate_digest};
pub use error::CasError;
