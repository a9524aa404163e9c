//! Image layer of berth: a content-addressed store, image references, layer
//! unpacking onto overlayfs snapshots, and the image operations of the engine.
//!
//! - [`ImageStore`]: open (repairs crash leftovers), import, list, get, tag,
//!   remove, and the containers' writable overlay layers.
//! - [`reference`](mod@reference), [`changes`], [`passwd`]: Docker's names, `--change` lines, `-u`.
//! - [`unpack`]: the safe tar unpacker every archive goes through.
//! - [`distribution`]: pull and push against OCI registries.
//! - [`archive`]: `docker save` / `docker load`; [`commit`]: commit and export.

pub mod archive;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod config;
pub mod derive;
pub mod distribution;
pub mod error;
mod fsutil;
mod ingest;
pub mod merge;
pub mod mount;
pub mod passwd;
pub mod reference;
pub mod snapshots;
mod stage;
mod store;
pub mod unpack;

pub use config::{ContainerConfigSpec, HealthConfig, ImageConfigFile};
pub use error::ImageError;
pub use fsutil::short_id;
pub use reference::Reference;
pub use store::{DeleteItem, Image, ImageId, ImageStore, ImageSummary, ImageUse, ImportOptions};
