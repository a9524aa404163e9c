//! Modes of what the runtime writes under the exec root: other users get
//! nothing (bundles carry the container's environment, logs its output).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub(crate) const DIR: u32 = 0o700;
pub(crate) const FILE: u32 = 0o600;

/// `mkdir -p`, new directories 0700.
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR).create(path)
}

/// Opens `path` for appending, creating it 0600.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE)
        .open(path)
}

/// Creates `path` empty (or empties it), 0600.
pub(crate) fn open_truncate(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE)
        .open(path)
}

/// Creates or replaces the content of `path`; the file ends up 0600 even
/// if an older one was looser.
pub(crate) fn write(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE))?;
    f.write_all(data)
}

/// libcontainer's state of a container (its dir, state files and notify
/// sockets, made with the umask) becomes root's alone, as everything else
/// under the exec root. Best effort: the dir above is 0700 anyway.
pub(crate) fn restrict_dir(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry
            .file_type()
            .is_ok_and(|t| !t.is_dir() && !t.is_symlink())
        {
            let _ = restrict(&entry.path());
        }
    }
}

/// chmod 0600 (a socket just bound: its mode came from the umask).
pub(crate) fn restrict(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE))
}
