//! Trees removed in the background. A removal's visible step stays with
//! its caller: the tree leaves its live name by a rename (made durable) to
//! a temp name its owner cleans at open, so a crash can leave a leftover but
//! never a half-deleted live entry. Freeing the blocks is left to one
//! thread of its own: it holds no lock anyone waits for, and it can wait on
//! the device (on a filesystem mounted with `discard`, unlinking a file
//! waits for its extents' discards), which made a container's removal, and
//! every create that queued behind the image store's lock meanwhile, wait
//! for the disk.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};

enum Job {
    Remove(PathBuf),
    /// Answered once every removal queued before it is done.
    Flush(SyncSender<()>),
}

static REAPER: OnceLock<Option<Sender<Job>>> = OnceLock::new();

fn reaper() -> Option<&'static Sender<Job>> {
    REAPER
        .get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("reaper".into())
                .spawn(move || {
                    for job in rx {
                        match job {
                            Job::Remove(path) => {
                                // Nobody is left to tell: the leftover is
                                // cleaned at its owner's next open.
                                let _ = remove_tree(&path);
                            }
                            Job::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Removes `path` (a tree or a file; missing is fine), now.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes `path`, a tree already out of its live name, in the background
/// (here and now if the background thread could not start).
pub fn remove_later(path: PathBuf) {
    let path = match reaper() {
        Some(tx) => match tx.send(Job::Remove(path)) {
            Ok(()) => return,
            Err(e) => match e.0 {
                Job::Remove(p) => p,
                Job::Flush(_) => return,
            },
        },
        None => path,
    };
    let _ = remove_tree(&path);
}

/// Waits until every removal asked for before this call is done (tests,
/// and what must see the disk space back).
pub fn flush() {
    let Some(tx) = reaper() else { return };
    let (done_tx, done_rx) = sync_channel(1);
    if tx.send(Job::Flush(done_tx)).is_ok() {
        let _ = done_rx.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_given_to_the_reaper_is_gone_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        std::fs::write(dir.path().join("file"), b"y").unwrap();
        remove_later(tree.clone());
        remove_later(dir.path().join("file"));
        remove_later(dir.path().join("missing"));
        flush();
        assert!(!tree.exists());
        assert!(!dir.path().join("file").exists());
    }
}
