//! Image layer of berth: a content-addressed store, image references, layer
//! unpacking onto overlayfs snapshots, and the image operations of the engine.
//!
//! CONTRACT (used by `engine`; keep these names and shapes):
//!
//! ```ignore
//! let store = ImageStore::open(data_root)?;          // creates dirs, repairs crash leftovers
//! let id = store.import(reader, ImportOptions { reference: Some(r), ..Default::default() })?;
//! store.list()? -> Vec<ImageSummary>
//! store.get(name_or_id)? -> Image                     // name:tag, full id, "sha256:" id, short id prefix
//! store.tag(name_or_id, &Reference)?
//! store.remove(name_or_id, force, in_use: &dyn Fn(&str) -> bool)? -> Vec<DeleteItem>
//! store.create_rw_layer(container_id, image_id)?      // upper/work dirs for a container
//! store.mount_rw_layer(container_id, image_id)? -> PathBuf   // overlay mount, idempotent
//! store.unmount_rw_layer(container_id)?
//! store.remove_rw_layer(container_id)?
//! passwd::resolve_user(rootfs, "name|uid[:group|gid]")? -> ResolvedUser
//! ```

pub mod archive;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod config;
pub mod content;
pub mod distribution;
pub mod error;
mod fsutil;
mod ingest;
pub mod mount;
pub mod passwd;
pub mod reference;
pub mod snapshots;
mod store;
pub mod unpack;

pub use config::{ContainerConfigSpec, HealthConfig, ImageConfigFile};
pub use error::ImageError;
pub use fsutil::short_id;
pub use reference::Reference;
pub use store::{DeleteItem, Image, ImageId, ImageStore, ImageSummary, ImportOptions};
