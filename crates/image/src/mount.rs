//! overlayfs mounts for container rootfs and the mount table check that makes
//! mounting idempotent.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::{ImageError, IoContext};

/// Whether `target` is a mount point in this mount namespace.
pub fn is_mounted(target: &Path) -> Result<bool, ImageError> {
    let table = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".into())?;
    Ok(table.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&unescape(mp)) == target)
    }))
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts an overlay; `lowers` are listed top-first as overlayfs wants them.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    let mut all: Vec<&Path> = lowers.iter().map(|p| p.as_path()).collect();
    all.extend([upper, work]);
    for p in &all {
        // These characters separate overlay options and cannot be escaped in them.
        if p.to_string_lossy().contains([',', ':']) {
            return Err(ImageError::io(
                format!("overlay path {} contains ',' or ':'", p.display()),
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
    }
    let lower = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    // mount(2) copies at most one page of options.
    if data.len() >= 4096 {
        return Err(ImageError::NotImplemented(format!(
            "overlay mount options for {} layers exceed one page",
            lowers.len()
        )));
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .ctx(|| format!("mount overlay on {}", target.display()))
}

/// Detaches the mount (lazy, so a process still holding a cwd inside does not
/// block container removal); not mounted is fine.
pub fn unmount(target: &Path) -> Result<(), ImageError> {
    if !is_mounted(target)? {
        return Ok(());
    }
    umount2(target, MntFlags::MNT_DETACH).ctx(|| format!("unmount {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/x\04"), r"/x\04");
    }

    #[test]
    fn root_is_mounted() {
        assert!(is_mounted(Path::new("/")).unwrap());
    }
}
