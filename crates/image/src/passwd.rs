//! Docker's `--user` resolution against the image's /etc/passwd and /etc/group.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

use crate::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: groups in /etc/group listing the user (only when
    /// the group was not given explicitly, as in Docker).
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `""`, `name`, `uid`, `name:group`, `uid:gid`, `uid:groupname`, ...
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, ImageError> {
    let passwd = read_in_root(rootfs, "etc/passwd")?.map(|s| parse_passwd(&s));
    let group = read_in_root(rootfs, "etc/group")?.map(|s| parse_group(&s));
    resolve(user, passwd.as_deref(), group.as_deref())
}

fn resolve(
    spec: &str,
    passwd: Option<&[PasswdEntry]>,
    group: Option<&[GroupEntry]>,
) -> Result<ResolvedUser, ImageError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_num = user_arg.parse::<u32>().ok();
    let gid_num = group_arg.parse::<u32>().ok();
    let mut out = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let users = passwd.unwrap_or(&[]);
    let found = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    let matched_name = match found {
        Some(u) => {
            out.uid = u.uid;
            out.gid = u.gid;
            out.home = u.home.clone();
            Some(u.name.clone())
        }
        None if user_arg.is_empty() => None,
        None => match uid_num {
            // A numeric uid needs no passwd entry.
            Some(n) => {
                out.uid = n;
                None
            }
            None => {
                return Err(ImageError::InvalidUser(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                )));
            }
        },
    };
    let groups = group.unwrap_or(&[]);
    if !group_arg.is_empty() {
        let g = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        out.gid = match (g, gid_num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(ImageError::InvalidUser(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                )));
            }
        };
    } else if let Some(name) = matched_name {
        out.additional_gids = groups
            .iter()
            .filter(|g| g.members.contains(&name))
            .map(|g| g.gid)
            .collect();
    }
    Ok(out)
}

/// Reads `rel` with the rootfs as the root of resolution: symlinks inside the
/// image (even absolute ones) cannot reach the host's files. Missing → None.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>, ImageError> {
    let root =
        File::open(rootfs).map_err(|e| ImageError::io(format!("open {}", rootfs.display()), e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    // EAGAIN: a mount or rename on the host raced the walk's ".." steps;
    // the kernel asks the caller to try again.
    let mut tries = 0;
    let opened = loop {
        match openat2(root.as_raw_fd(), rel, how) {
            Err(Errno::EAGAIN) if tries < 100 => tries += 1,
            r => break r,
        }
    };
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(e) => {
            return Err(ImageError::io(
                format!("open {rel} in {}", rootfs.display()),
                e.into(),
            ));
        }
    };
    // SAFETY: fd was just returned by openat2 and is owned here only.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut buf = Vec::new();
    // Bounded: a hostile image could make /etc/passwd huge or a device.
    (&mut f)
        .take(16 << 20)
        .read_to_end(&mut buf)
        .map_err(|e: io::Error| ImageError::io(format!("read {rel}"), e))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(s: &str) -> Vec<GroupEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|x| !x.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
                          # comment\n\
                          app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
                         daemon:x:1:\n\
                         wheel:x:10:root,app\n\
                         app:x:1000:\n\
                         audio:x:29:app\n";

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        fs::write(d.path().join("etc/group"), GROUP).unwrap();
        d
    }

    fn r(spec: &str) -> Result<ResolvedUser, ImageError> {
        let d = rootfs();
        resolve_user(d.path(), spec)
    }

    #[test]
    fn forms() {
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, vec![10]);

        let u = r("app").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.additional_gids, vec![10, 29]);

        let u = r("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![10, 29]);

        let u = r("app:audio").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        assert!(
            u.additional_gids.is_empty(),
            "explicit group: no supplementary groups"
        );

        let u = r("1000:5").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 5));

        let u = r("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));

        let u = r("4242:wheel").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 10));
    }

    #[test]
    fn errors() {
        assert_eq!(
            r("nobody").unwrap_err().to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            r("app:nogroup").unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn missing_files() {
        let d = tempfile::tempdir().unwrap();
        let u = resolve_user(d.path(), "").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        assert_eq!(resolve_user(d.path(), "7:8").unwrap().gid, 8);
        assert!(resolve_user(d.path(), "app").is_err());
    }

    #[test]
    fn symlinks_stay_in_root() {
        // /etc/passwd -> /etc/passwd.real (absolute) must resolve inside the
        // rootfs, and a link climbing out with .. must not reach the host.
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(
            d.path().join("etc/passwd.real"),
            "inroot:x:77:78::/h:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd.real", d.path().join("etc/passwd")).unwrap();
        // Read as a group file, in-root passwd.real defines group "inroot" (77);
        // the host's /etc/passwd would define "root".
        std::os::unix::fs::symlink("../../../../../../etc/passwd", d.path().join("etc/group"))
            .unwrap();
        let u = resolve_user(d.path(), "inroot").unwrap();
        assert_eq!((u.uid, u.gid), (77, 78));
        assert_eq!(resolve_user(d.path(), "inroot:inroot").unwrap().gid, 77);
        assert!(resolve_user(d.path(), "inroot:root").is_err());
    }
}
