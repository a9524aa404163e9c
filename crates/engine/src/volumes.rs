//! Named volumes of the `local` driver: `volumes/<name>/_data` under the data
//! root, with their metadata in `volumes/<name>/volume.json`.
//!
//! A volume created with options (`type`, `device`, `o`) is a mount, as with
//! dockerd's local driver: `device` is mounted on `_data` as `type` with the
//! options `o` when the first container using it starts, and unmounted when
//! the last of them stops.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use serde::{Deserialize, Serialize};

use crate::fsutil::{read_json, write_json_atomic};
use crate::{Engine, EngineError, Result, names};

/// Docker's label marking volumes created for `-v /path` and image VOLUMEs.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

pub(crate) struct VolumeStore {
    root: PathBuf,
    /// Serialises create/remove so a name is never half-made by two callers.
    lock: Mutex<()>,
    /// Volumes with mount options -> the containers running with them.
    users: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

/// The option keys of dockerd's local driver.
const OPTION_KEYS: [&str; 4] = ["type", "device", "o", "size"];

const META: &str = "volume.json";

impl VolumeStore {
    pub fn open(data_root: &Path) -> std::io::Result<Self> {
        let root = data_root.join("volumes");
        crate::perms::create_dir_private(&root)?;
        // A create that crashed before its metadata landed left a bare directory.
        for entry in std::fs::read_dir(&root)?.flatten() {
            if entry.path().is_dir() && !entry.path().join(META).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(VolumeStore {
            root,
            lock: Mutex::new(()),
            users: Mutex::new(BTreeMap::new()),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates a volume, or returns the existing one of that name (as dockerd does).
    /// The bool tells whether it was created now.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        match driver.filter(|d| !d.is_empty()) {
            None | Some("local") => {}
            Some(other) => {
                return Err(EngineError::NotFound(format!(
                    "error looking up volume plugin {other}: plugin \"{other}\" not found"
                )));
            }
        }
        let _guard = self.lock.lock();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !names::valid_name(n) {
                    return Err(EngineError::InvalidParameter(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                // A longer name cannot be a directory name.
                if n.len() > 255 {
                    return Err(EngineError::InvalidParameter(format!(
                        "create {n}: volume name is too long ({} characters, at most 255)",
                        n.len()
                    )));
                }
                if let Ok(v) = self.load(n) {
                    return Ok((v, false));
                }
                n.to_string()
            }
            None => names::new_id(),
        };
        validate_options(&options).map_err(|e| match e {
            EngineError::InvalidParameter(m) => {
                EngineError::InvalidParameter(format!("create {name}: {m}"))
            }
            other => other,
        })?;
        let dir = self.dir(&name);
        let volume = Volume {
            name: name.clone(),
            driver: "local".into(),
            created_at: chrono::Utc::now(),
            labels,
            options,
            mountpoint: dir.join("_data"),
        };
        // volumes/<name> 0700 (Docker: volumes/ 0701, the rest 0755); `_data`
        // 0755 as Docker makes it, since containers see its mode.
        let made = crate::perms::create_dir_private(&dir)
            .and_then(|()| {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .mode(crate::perms::CONTAINER_DIR)
                    .create(&volume.mountpoint)
            })
            .and_then(|()| write_json_atomic(&dir.join(META), &volume));
        if let Err(err) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(EngineError::internal(
                format!("creating volume {name}"),
                err,
            ));
        }
        Ok((volume, true))
    }

    fn load(&self, name: &str) -> Result<Volume> {
        if !names::valid_name(name) {
            return Err(no_such_volume(name));
        }
        let dir = self.dir(name);
        let mut v: Volume = read_json(&dir.join(META)).map_err(|_| no_such_volume(name))?;
        v.mountpoint = dir.join("_data");
        Ok(v)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.load(name)
    }

    pub fn list(&self) -> Vec<Volume> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<Volume> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| self.load(n).ok()))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Deletes the volume and its data; callers check that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _guard = self.lock.lock();
        let volume = self.load(name)?;
        // Never recurse into what is mounted there (a bind volume's _data
        // is the host's directory while mounted).
        if volume.has_mount() {
            lock(&self.users).remove(name);
            unmount_data(&volume.mountpoint)?;
        }
        let dir = self.dir(name);
        // Metadata first: a crash mid-way leaves a bare dir that open() collects.
        std::fs::remove_file(dir.join(META))
            .map_err(|e| EngineError::internal(format!("removing volume {name}"), e))?;
        std::fs::remove_dir_all(&dir)
            .map_err(|e| EngineError::internal(format!("removing volume {name}"), e))
    }
}

impl VolumeStore {
    /// Called before `container` starts with the volume: mounts a volume
    /// that has mount options unless it is mounted already (another
    /// container uses it), and counts the container as a user. A volume
    /// without options needs nothing. Blocking (an NFS server may be slow).
    pub fn acquire(&self, name: &str, container: &str) -> Result<()> {
        let volume = self.load(name)?;
        if !volume.has_mount() {
            return Ok(());
        }
        let mut users = lock(&self.users);
        let mounted = image::mount::is_mounted(&volume.mountpoint)
            .map_err(|e| EngineError::internal("reading the mount table", e))?;
        if !mounted {
            mount_volume(&volume).map_err(|e| {
                EngineError::Internal(format!(
                    "error while mounting volume '{}': {e}",
                    volume.mountpoint.display()
                ))
            })?;
            tracing::debug!(volume = name, "mounted");
        }
        users
            .entry(name.to_string())
            .or_default()
            .insert(container.to_string());
        Ok(())
    }

    /// Called when `container` stopped: it no longer uses any volume, and a
    /// volume whose last user it was is unmounted.
    pub fn release_container(&self, container: &str) {
        let mut users = lock(&self.users);
        let mut unused = Vec::new();
        for (name, ids) in users.iter_mut() {
            if ids.remove(container) && ids.is_empty() {
                unused.push(name.clone());
            }
        }
        for name in unused {
            users.remove(&name);
            if let Err(e) = unmount_data(&self.dir(&name).join("_data")) {
                tracing::warn!(volume = %name, "unmounting: {e}");
            } else {
                tracing::debug!(volume = %name, "unmounted");
            }
        }
    }

    /// Daemon start: `running` lists (volume, container) for the containers
    /// that kept running; volumes with options nobody uses any more (a crash,
    /// or exits while the daemon was away) are unmounted.
    pub fn restore_users(&self, running: &[(String, String)]) {
        let mut users = lock(&self.users);
        users.clear();
        for (volume, container) in running {
            if self.load(volume).is_ok_and(|v| v.has_mount()) {
                users
                    .entry(volume.clone())
                    .or_default()
                    .insert(container.clone());
            }
        }
        for v in self.list() {
            if v.has_mount()
                && !users.contains_key(&v.name)
                && let Err(e) = unmount_data(&v.mountpoint)
            {
                tracing::warn!(volume = %v.name, "unmounting a stale mount: {e}");
            }
        }
    }
}

impl Engine {
    /// `docker volume create`: a new volume, or the existing one of that name
    /// (as dockerd does); the `create` event only for a new one.
    pub fn create_volume(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        self.ensure_volume(name, driver, labels, options)
            .map(|(v, _)| v)
    }

    /// [`Engine::create_volume`], also telling whether the volume is new (a
    /// failed container create removes the ones it made).
    pub(crate) fn ensure_volume(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let (v, made) = self.volumes.create(name, driver, labels, options)?;
        if made {
            self.events
                .publish("volume", "create", &v.name, Default::default());
        }
        Ok((v, made))
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        self.volumes.get(name)
    }

    /// Every volume, by name.
    pub fn list_volumes(&self) -> Vec<Volume> {
        self.volumes.list()
    }

    /// Ids of the containers (in any state) that mount the volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.registry()
            .by_id
            .values()
            .filter(|c| {
                c.lock()
                    .record
                    .mounts
                    .iter()
                    .any(|m| m.name.as_deref() == Some(name))
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// Removes a volume no container uses (409 otherwise).
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        match self.volumes.remove(name) {
            Err(EngineError::NotFound(_)) if force => Ok(()),
            other => other,
        }?;
        self.events
            .publish("volume", "destroy", name, Default::default());
        Ok(())
    }
}

impl Volume {
    /// Whether the volume is a mount of its own (created with options).
    pub fn has_mount(&self) -> bool {
        !self.options.is_empty()
    }
}

fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

/// dockerd's checks at `volume create`: known keys only, a `device`, no `size`
/// (a quota, which needs xfs project quotas berth does not set up).
fn validate_options(options: &BTreeMap<String, String>) -> Result<()> {
    for key in options.keys() {
        if !OPTION_KEYS.contains(&key.as_str()) {
            return Err(EngineError::InvalidParameter(format!(
                "invalid option: {key:?}"
            )));
        }
    }
    if !options.is_empty() && !options.contains_key("device") {
        return Err(EngineError::InvalidParameter(
            "missing required option: \"device\"".into(),
        ));
    }
    if options
        .get("size")
        .is_some_and(|s| !s.is_empty() && s != "0")
    {
        return Err(EngineError::InvalidParameter(
            "quota size requested but no quota support".into(),
        ));
    }
    Ok(())
}

/// `o` split as mount(8) does: flags it knows become mount flags, the rest
/// is data for the filesystem. Answers (flags, propagation, data).
fn parse_mount_options(o: &str) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                propagation |= match opt.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                if opt.starts_with('r') {
                    propagation |= MsFlags::MS_REC;
                }
                continue;
            }
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, propagation, data.join(","))
}

/// Go's wording of an errno ("no such device"), as dockerd's errors carry it.
fn errno_text(e: nix::Error) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// Why a volume's options could not be mounted, worded as dockerd's local
/// driver words it ("failed to mount local volume: mount SRC:DST, flags:
/// 0x…, data: …: <errno>").
#[derive(Debug, thiserror::Error)]
enum MountError {
    #[error("missing device in volume options")]
    MissingDevice,
    #[error("error resolving passed in network volume address: lookup {0}: no such host")]
    UnknownHost(String),
    #[error("failed to mount local volume: {0}")]
    Target(std::io::Error),
    /// `op` is "mount" or "remount-ro"; empty flags and data are left out.
    #[error(
        "failed to mount local volume: {op} {device}:{}{}{}: {}",
        .target.display(),
        flags_text(*.flags),
        data_text(.data),
        errno_text(*.errno)
    )]
    Mount {
        op: &'static str,
        device: String,
        target: PathBuf,
        flags: MsFlags,
        data: String,
        errno: nix::Error,
    },
}

fn flags_text(flags: MsFlags) -> String {
    match flags.is_empty() {
        true => String::new(),
        false => format!(", flags: {:#x}", flags.bits()),
    }
}

fn data_text(data: &str) -> String {
    match data.is_empty() {
        true => String::new(),
        false => format!(", data: {data}"),
    }
}

/// Mounts `device` on the volume's `_data` as dockerd's local driver does.
fn mount_volume(v: &Volume) -> std::result::Result<(), MountError> {
    let device = v.options.get("device").map(String::as_str).unwrap_or("");
    if device.is_empty() {
        return Err(MountError::MissingDevice);
    }
    let fstype = v.options.get("type").map(String::as_str).unwrap_or("");
    let o = v.options.get("o").map(String::as_str).unwrap_or("");
    let (flags, propagation, mut data) = parse_mount_options(o);
    if fstype == "nfs" || fstype == "nfs4" {
        data = resolve_nfs_addr(&data)?;
    }
    let target = &v.mountpoint;
    let fail =
        |op: &'static str, flags: MsFlags, data: &str, errno: nix::Error| MountError::Mount {
            op,
            device: device.to_string(),
            target: target.clone(),
            flags,
            data: data.to_string(),
            errno,
        };
    std::fs::create_dir_all(target).map_err(MountError::Target)?;
    nix::mount::mount(
        Some(device),
        target,
        (!fstype.is_empty()).then_some(fstype),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(|e| fail("mount", flags, &data, e))?;
    let undo = |err: MountError| {
        let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
        err
    };
    if !propagation.is_empty() {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            propagation,
            None::<&str>,
        )
        .map_err(|e| undo(fail("mount", propagation, "", e)))?;
    }
    // A bind ignores MS_RDONLY on the first call; a remount applies it.
    if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
        let remount = flags | MsFlags::MS_REMOUNT;
        nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
            .map_err(|e| undo(fail("remount-ro", remount, "", e)))?;
    }
    Ok(())
}

/// NFS mounts made with mount(2) need the server's address in `addr=`; a
/// host name there is resolved first, as dockerd does.
fn resolve_nfs_addr(data: &str) -> std::result::Result<String, MountError> {
    let mut out = Vec::new();
    for opt in data.split(',') {
        match opt.strip_prefix("addr=") {
            Some(host) if host.parse::<std::net::IpAddr>().is_err() => {
                use std::net::ToSocketAddrs;
                let addrs: Vec<std::net::IpAddr> = (host, 0)
                    .to_socket_addrs()
                    .map(|a| a.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                // IPv4 first, as Go's ResolveIPAddr("ip", …).
                let ip = addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| MountError::UnknownHost(host.to_string()))?;
                out.push(format!("addr={ip}"));
            }
            _ => out.push(opt.to_string()),
        }
    }
    Ok(out.join(","))
}

/// Unmounts a volume's `_data` if something is mounted there, and makes
/// sure nothing stays (so a removal never reaches into a bind's source).
fn unmount_data(data: &Path) -> Result<()> {
    let mounted = |p: &Path| {
        image::mount::is_mounted(p).map_err(|e| EngineError::internal("reading the mount table", e))
    };
    // Stacked mounts (a crash between mount and record) come off one by one.
    for _ in 0..16 {
        if !mounted(data)? {
            return Ok(());
        }
        nix::mount::umount2(data, MntFlags::MNT_DETACH)
            .map_err(|e| EngineError::internal(format!("unmounting {}", data.display()), e))?;
    }
    Err(EngineError::Internal(format!(
        "{} is still mounted",
        data.display()
    )))
}

pub(crate) fn no_such_volume(name: &str) -> EngineError {
    EngineError::NotFound(format!("get {name}: no such volume"))
}

/// Copies a directory tree without following symlinks, keeping modes and owners:
/// Docker seeds a new volume with what the image has at the mount point.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use nix::sys::stat::{Mode, SFlag, mknod};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            // As dockerd's copy: the node itself, never opened.
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFIFO
            };
            mknod(&to, kind, Mode::empty(), meta.rdev()).map_err(std::io::Error::from)?;
        } else {
            // Sockets do not survive a copy.
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

/// The image directory's owner and mode on the volume's root, as dockerd
/// gives them when it seeds a volume (so a `postgres`-owned 0700 data dir
/// stays one on a fresh named volume).
pub(crate) fn copy_owner_and_mode(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(src)?;
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_copies_nodes_and_the_root_owner_and_mode() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(src.path(), Some(70), Some(71)).unwrap();
        nix::unistd::mkfifo(
            &src.path().join("pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o640),
        )
        .unwrap();
        copy_tree(src.path(), dst.path()).unwrap();
        copy_owner_and_mode(src.path(), dst.path()).unwrap();
        let root = std::fs::metadata(dst.path()).unwrap();
        assert_eq!(
            (root.uid(), root.gid(), root.mode() & 0o7777),
            (70, 71, 0o700)
        );
        let pipe = std::fs::symlink_metadata(dst.path().join("pipe")).unwrap();
        assert!(pipe.file_type().is_fifo());
        assert_eq!(pipe.mode() & 0o7777, 0o640);
    }

    #[test]
    fn create_get_list_remove() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        let (v, created) = store
            .create(Some("data"), None, labels, BTreeMap::new())
            .unwrap();
        assert!(created && v.mountpoint.is_dir());
        let (again, created) = store
            .create(
                Some("data"),
                Some("local"),
                BTreeMap::new(),
                BTreeMap::new(),
            )
            .unwrap();
        assert!(!created);
        assert_eq!(again.labels.get("a").map(String::as_str), Some("b"));
        let (anon, _) = store
            .create(None, None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(store.list().len(), 2);
        store.remove("data").unwrap();
        assert!(matches!(store.get("data"), Err(EngineError::NotFound(_))));
        assert!(!root.path().join("volumes/data").exists());
    }

    #[test]
    fn bad_names_and_drivers() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        assert!(
            store
                .create(Some("../x"), None, BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert!(
            store
                .create(Some("x"), Some("nfs"), BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert!(matches!(
            store.get("../../etc"),
            Err(EngineError::NotFound(_))
        ));
    }

    #[test]
    fn options_are_checked_as_dockerd_checks_them() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let opts = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let err = store
            .create(Some("v1"), None, BTreeMap::new(), opts(&[("foo", "bar")]))
            .unwrap_err();
        assert_eq!(err.to_string(), "create v1: invalid option: \"foo\"");
        let err = store
            .create(
                Some("v1"),
                None,
                BTreeMap::new(),
                opts(&[("device", "tmpfs"), ("size", "10m")]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("no quota support"), "{err}");
        assert!(store.list().is_empty());
        let tmpfs = opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=64m")]);
        let (v, made) = store
            .create(Some("v1"), None, BTreeMap::new(), tmpfs.clone())
            .unwrap();
        assert!(made && v.has_mount());
        assert_eq!(store.get("v1").unwrap().options, tmpfs);
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let (flags, prop, data) = parse_mount_options("size=64m,mode=1777");
        assert!(flags.is_empty() && prop.is_empty());
        assert_eq!(data, "size=64m,mode=1777");
        let (flags, prop, data) = parse_mount_options("bind,ro,rprivate");
        assert_eq!(flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert_eq!(prop, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(data, "");
        let (flags, _, data) = parse_mount_options("addr=10.0.0.1,nosuid,rw,vers=4");
        assert_eq!(flags, MsFlags::MS_NOSUID);
        assert_eq!(data, "addr=10.0.0.1,vers=4");
        assert_eq!(
            resolve_nfs_addr("addr=127.0.0.1,vers=4").unwrap(),
            "addr=127.0.0.1,vers=4"
        );
        assert_eq!(
            resolve_nfs_addr("addr=localhost").unwrap(),
            "addr=127.0.0.1"
        );
    }

    #[test]
    fn options_need_a_device_and_an_empty_device_fails_the_mount() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let opts: BTreeMap<String, String> = [("type".to_string(), "tmpfs".to_string())].into();
        let err = store
            .create(Some("nodev"), None, BTreeMap::new(), opts.clone())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "create nodev: missing required option: \"device\""
        );
        let mut opts = opts;
        opts.insert("device".into(), String::new());
        store
            .create(Some("nodev"), None, BTreeMap::new(), opts)
            .unwrap();
        let err = store.acquire("nodev", "c1").unwrap_err();
        assert!(
            err.to_string().contains("missing device in volume options"),
            "{err}"
        );
        // A failed mount leaves no user behind.
        assert!(lock(&store.users).is_empty());
        store.remove("nodev").unwrap();
    }

    #[test]
    fn half_created_volumes_are_collected() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("volumes/crashed/_data")).unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        assert!(store.list().is_empty());
        assert!(!root.path().join("volumes/crashed").exists());
    }

    #[test]
    fn copy_keeps_links_modes_and_does_not_follow() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("d")).unwrap();
        std::fs::write(src.path().join("d/f"), b"hi").unwrap();
        std::fs::set_permissions(
            src.path().join("d/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc", src.path().join("link")).unwrap();
        copy_tree(src.path(), dst.path()).unwrap();
        assert_eq!(std::fs::read(dst.path().join("d/f")).unwrap(), b"hi");
        let mode = std::fs::metadata(dst.path().join("d/f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(
            std::fs::read_link(dst.path().join("link")).unwrap(),
            Path::new("/etc")
        );
    }
}
