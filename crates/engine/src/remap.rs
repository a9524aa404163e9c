//! `--userns-remap`: containers whose root is an unprivileged range of host
//! ids. Unlike dockerd, which keeps a second image store chowned into that
//! range, layers stay as they are on disk: a remapped container's lower
//! layers are mounted through an idmapped view of the snapshot store, and
//! only its own upper dir holds host ids. Its user namespace is made by the
//! daemon and owns its network namespace (see [`runtime::userns`]).

use std::path::{Path, PathBuf};

use runtime::userns::IdMappings;

use crate::model::{ContainerRecord, HostConfig, Status};
use crate::networking::containers::{ModeKind, mode_kind};
use crate::{Engine, EngineError, Result};

/// The daemon's remapping, resolved from `--userns-remap` by the binary.
#[derive(Debug, Clone)]
pub struct Remap {
    /// `USER:GROUP` as given or as `default` resolved ("dockremap:dockremap").
    pub name: String,
    pub maps: IdMappings,
}

/// Create-time checks, with dockerd's messages.
pub(crate) fn validate(hc: &HostConfig, remap: Option<&Remap>) -> Result<()> {
    match hc.userns_mode.as_str() {
        "" | "host" => {}
        other => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid USER mode: {other}"
            )));
        }
    }
    if remap.is_none() || hc.userns_mode == "host" {
        return Ok(());
    }
    if hc.privileged {
        return Err(EngineError::InvalidParameter(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".into(),
        ));
    }
    if hc.network_mode == "host" {
        return Err(EngineError::InvalidParameter(
            "cannot share the host's network namespace when user namespaces are enabled".into(),
        ));
    }
    if hc.pid_mode == "host" {
        return Err(EngineError::InvalidParameter(
            "cannot share the host PID namespace when user namespaces are enabled".into(),
        ));
    }
    Ok(())
}

/// The host owner of a new container's root, when it is to run remapped.
pub(crate) fn new_root(hc: &HostConfig, remap: Option<&Remap>) -> Result<Option<(u32, u32)>> {
    match remap {
        Some(r) if hc.userns_mode != "host" => Ok(Some(r.maps.root()?)),
        _ => Ok(None),
    }
}

/// Where a starting remapped container's user namespace comes from.
pub(crate) enum UsernsSource {
    /// A new one, made with the container's network namespace and pinned
    /// here until the runtime has joined it.
    New { pin: PathBuf, maps: IdMappings },
    /// The one of the container whose network namespace it shares.
    Shared(PathBuf),
}

impl UsernsSource {
    pub(crate) fn path(&self) -> &Path {
        match self {
            UsernsSource::New { pin, .. } => pin,
            UsernsSource::Shared(p) => p,
        }
    }

    /// Drops the pin once the container's processes hold the namespace (or
    /// when the start failed).
    pub(crate) fn release(&self) {
        if let UsernsSource::New { pin, .. } = self
            && let Err(e) = runtime::userns::remove_pin(pin)
        {
            tracing::warn!("removing user namespace pin {}: {e}", pin.display());
        }
    }
}

/// Mode of the data root when remapping: others may traverse it (not list
/// it), as dockerd's root with user namespaces, so a remapped container's
/// root can reach its rootfs under [`REMAP_DIR`].
pub const REMAPPED_DATA_ROOT: u32 = 0o711;
/// Under the data root: where remapped containers' rootfs are bound for the
/// runtime, `0710` root:(the remapped root's group).
const REMAP_DIR: &str = "remap";

impl Engine {
    fn userns_dir(&self) -> PathBuf {
        self.cfg.exec_root.join("userns")
    }

    fn stage_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join(REMAP_DIR).join(id)
    }

    /// The runtime opens a container's rootfs, its network namespace and the
    /// sources of its bind mounts by path after it has joined the
    /// container's user namespace, as a host id with no rights over the
    /// daemon's private directories. For a remapped container each of those
    /// that lives under the daemon's roots is bound into a staging dir of
    /// its own that only its root can enter (`remap/<id>`, mode 0700).
    pub(crate) fn stage_for_remap(
        &self,
        id: &str,
        mut config: runtime::ContainerConfig,
    ) -> Result<runtime::ContainerConfig> {
        let Some((uid, gid)) = self.remapped_root(id) else {
            return Ok(config);
        };
        self.unstage(id);
        let stage = self.stage_dir(id);
        crate::perms::create_dir_private(&stage)?;
        std::os::unix::fs::chown(&stage, Some(uid), Some(gid))
            .map_err(|e| EngineError::internal(format!("chown {}", stage.display()), e))?;
        let bind = |source: &Path, name: &str| -> Result<PathBuf> {
            let target = stage.join(name);
            let made = if source.is_dir() {
                std::fs::create_dir(&target)
            } else {
                std::fs::File::create(&target).map(drop)
            };
            made.map_err(|e| EngineError::internal(format!("create {}", target.display()), e))?;
            nix::mount::mount(
                Some(source),
                &target,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                EngineError::internal(format!("bind {} for the runtime", source.display()), e)
            })?;
            Ok(target)
        };
        config.rootfs = bind(&config.rootfs, "rootfs")?;
        if let runtime::NetworkMode::Join(path) = &config.network
            && !path.starts_with("/proc")
        {
            config.network = runtime::NetworkMode::Join(bind(path, "net")?);
        }
        let ours =
            |p: &Path| p.starts_with(&self.cfg.data_root) || p.starts_with(&self.cfg.exec_root);
        for (i, m) in config.mounts.iter_mut().enumerate() {
            if m.kind == "bind" && ours(&m.source) {
                m.source = bind(&m.source, &format!("m{i}"))?;
            }
        }
        Ok(config)
    }

    /// Undoes [`Self::stage_for_remap`]; nothing staged is fine.
    fn unstage(&self, id: &str) {
        let stage = self.stage_dir(id);
        let Ok(entries) = std::fs::read_dir(&stage) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
            let _ = if p.is_dir() {
                std::fs::remove_dir(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        let _ = std::fs::remove_dir(&stage);
    }

    /// Unmounts the container's rootfs (and what was staged for it).
    pub(crate) fn unmount_rootfs(&self, id: &str) {
        self.unstage(id);
        let _ = self.images.unmount_rw_layer(id);
    }

    /// Refuses a data root that the remapped root cannot reach, naming the
    /// directory in the way.
    fn check_reachable(&self, root_gid: u32) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let data_root = std::path::absolute(&self.cfg.data_root)
            .map_err(|e| EngineError::internal("resolving the data root", e))?;
        for dir in data_root.ancestors().skip(1) {
            let m = std::fs::metadata(dir)
                .map_err(|e| EngineError::internal(format!("stat {}", dir.display()), e))?;
            if m.mode() & 0o001 == 0 {
                return Err(EngineError::InvalidParameter(format!(
                    "--userns-remap: {} (mode {:o}) keeps remapped containers from reaching the data root {}; let others search it (chmod o+x) or choose another --data-root",
                    dir.display(),
                    m.mode() & 0o7777,
                    data_root.display()
                )));
            }
        }
        std::fs::set_permissions(
            &data_root,
            std::fs::Permissions::from_mode(REMAPPED_DATA_ROOT),
        )
        .map_err(|e| EngineError::internal("opening the data root for traversal", e))?;
        let dir = data_root.join(REMAP_DIR);
        crate::perms::create_dir_private(&dir)?;
        std::os::unix::fs::chown(&dir, Some(0), Some(root_gid))
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710)))
            .map_err(|e| EngineError::internal(format!("securing {}", dir.display()), e))
    }

    /// Makes the idmapped view of the snapshot store and clears pins left by
    /// a daemon that died mid-start.
    pub(crate) fn open_remap(&self) -> Result<()> {
        let dir = self.userns_dir();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let _ = runtime::userns::remove_pin(&e.path());
            }
        }
        let Some(remap) = &self.cfg.userns_remap else {
            return Ok(());
        };
        self.check_reachable(remap.maps.root()?.1)?;
        crate::perms::create_dir_private(&dir)?;
        let pin = dir.join(".view");
        runtime::userns::create_pinned(&remap.maps, &pin, None)?;
        let made = std::fs::File::open(&pin)
            .map_err(|e| EngineError::internal(format!("open {}", pin.display()), e))
            .and_then(|ns| {
                use std::os::fd::AsFd;
                self.images
                    .enable_remap_view(&self.cfg.exec_root.join("remap-view"), ns.as_fd())
                    .map_err(EngineError::from)
            });
        let _ = runtime::userns::remove_pin(&pin);
        made?;
        tracing::info!(
            "user namespace remapping on: {} (root is host uid {})",
            remap.name,
            remap.maps.root()?.0
        );
        Ok(())
    }

    /// The maps of a remapped container (`None` for others and unknown ids).
    pub(crate) fn remap_maps(&self, name_or_id: &str) -> Option<IdMappings> {
        let c = self.container(name_or_id).ok()?;
        self.remapped_root(&c.id)?;
        self.cfg.userns_remap.as_ref().map(|r| r.maps.clone())
    }

    /// How a container's files are recorded in `commit` and `export`: a
    /// remapped container's host ids as its own.
    pub(crate) fn owner_map(&self, id: &str) -> image::commit::OwnerMap {
        match self.remap_maps(id) {
            Some(m) => image::commit::OwnerMap::new(move |u, g| m.owner_to_container(u, g)),
            None => image::commit::OwnerMap::default(),
        }
    }

    /// The remapping a container's layer was made with, if any.
    pub(crate) fn remapped_root(&self, id: &str) -> Option<(u32, u32)> {
        self.images.rw_remapped_root(id).ok().flatten()
    }

    /// Decides where a starting container's user namespace comes from;
    /// `None` for one in the host's.
    pub(crate) fn userns_source(
        &self,
        id: &str,
        record: &ContainerRecord,
    ) -> Result<Option<UsernsSource>> {
        if self.remapped_root(id).is_none() {
            return Ok(None);
        }
        let Some(remap) = &self.cfg.userns_remap else {
            return Err(EngineError::Conflict(format!(
                "container {id} was created with --userns-remap; start the daemon with it to use this container"
            )));
        };
        let hc = &record.host_config;
        // Namespaces a user namespace owns can only be joined from inside
        // it, so a container sharing another's must share its user
        // namespace too.
        let joined: Vec<String> = [&hc.pid_mode, &hc.ipc_mode]
            .into_iter()
            .filter_map(|m| m.strip_prefix("container:").map(str::to_string))
            .collect();
        match mode_kind(&hc.network_mode) {
            ModeKind::Container(target) => {
                let t = self.container(&target)?;
                if self.remapped_root(&t.id).is_none() {
                    return Err(EngineError::InvalidParameter(format!(
                        "cannot share the network namespace of container {target}: it runs in the host's user namespace (--userns=host) and this one is remapped"
                    )));
                }
                let (status, pid) = {
                    let inner = t.lock();
                    (inner.state.status, inner.state.pid)
                };
                if !matches!(status, Status::Running | Status::Paused) || pid == 0 {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network namespace of a non running container: {}",
                        t.id
                    )));
                }
                for j in &joined {
                    if self.container(j)?.id != t.id {
                        return Err(EngineError::NotImplemented(format!(
                            "a remapped container shares the PID or IPC namespace of {j} only with its network namespace (--network container:{j})"
                        )));
                    }
                }
                Ok(Some(UsernsSource::Shared(PathBuf::from(format!(
                    "/proc/{pid}/ns/user"
                )))))
            }
            ModeKind::Host => Err(EngineError::InvalidParameter(
                "cannot share the host's network namespace when user namespaces are enabled".into(),
            )),
            _ => {
                if let Some(j) = joined.first() {
                    return Err(EngineError::NotImplemented(format!(
                        "a remapped container shares the PID or IPC namespace of {j} only with its network namespace (--network container:{j})"
                    )));
                }
                crate::perms::create_dir_private(&self.userns_dir())?;
                let pin = self.userns_dir().join(id);
                runtime::userns::remove_pin(&pin)?;
                Ok(Some(UsernsSource::New {
                    pin,
                    maps: remap.maps.clone(),
                }))
            }
        }
    }

    /// What the daemon made for a remapped container as host root (its name
    /// files, the top of a fresh volume) goes to the container's root, as
    /// dockerd chowns them into the remapped range.
    pub(crate) fn chown_for_remap(&self, record: &ContainerRecord, root: (u32, u32)) -> Result<()> {
        let own = |p: &Path| -> Result<()> {
            match std::fs::symlink_metadata(p) {
                Ok(m) if std::os::unix::fs::MetadataExt::uid(&m) == 0 => {
                    std::os::unix::fs::lchown(p, Some(root.0), Some(root.1))
                        .map_err(|e| EngineError::internal(format!("chown {}", p.display()), e))
                }
                _ => Ok(()),
            }
        };
        if !matches!(
            mode_kind(&record.host_config.network_mode),
            ModeKind::Container(_)
        ) {
            for p in [
                &record.hostname_path,
                &record.hosts_path,
                &record.resolv_conf_path,
            ] {
                if !p.as_os_str().is_empty() {
                    own(p)?;
                }
            }
        }
        for m in &record.mounts {
            // A volume whose data dir has a device mounted on it (the local
            // driver's `o=bind`/`device=` options) is the user's directory:
            // its owner is theirs to choose.
            let own_dir = |p: &Path| {
                use std::os::unix::fs::MetadataExt;
                let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
                dev(p).is_some() && dev(p) == p.parent().and_then(dev)
            };
            if m.kind == crate::mounts::MountKind::Volume && own_dir(&m.source) {
                own(&m.source)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::userns::{IdMappings, ranges_from_sub};

    fn remap() -> Remap {
        Remap {
            name: "dockremap:dockremap".into(),
            maps: IdMappings {
                uids: ranges_from_sub(&[(100000, 65536)]),
                gids: ranges_from_sub(&[(100000, 65536)]),
            },
        }
    }

    #[test]
    fn dockerd_refusals() {
        let r = remap();
        let mut hc = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert!(
            validate(&hc, Some(&r))
                .unwrap_err()
                .to_string()
                .contains("privileged mode is incompatible")
        );
        assert!(validate(&hc, None).is_ok());
        hc.userns_mode = "host".into();
        assert!(validate(&hc, Some(&r)).is_ok());
        assert_eq!(new_root(&hc, Some(&r)).unwrap(), None);
        hc = HostConfig {
            network_mode: "host".into(),
            ..Default::default()
        };
        assert!(
            validate(&hc, Some(&r))
                .unwrap_err()
                .to_string()
                .contains("host's network namespace")
        );
        hc = HostConfig {
            pid_mode: "host".into(),
            ..Default::default()
        };
        assert!(
            validate(&hc, Some(&r))
                .unwrap_err()
                .to_string()
                .contains("host PID namespace")
        );
        hc = HostConfig {
            userns_mode: "private".into(),
            ..Default::default()
        };
        assert!(
            validate(&hc, None)
                .unwrap_err()
                .to_string()
                .contains("invalid USER mode")
        );
        assert_eq!(
            new_root(&HostConfig::default(), Some(&r)).unwrap(),
            Some((100000, 100000))
        );
    }
}
