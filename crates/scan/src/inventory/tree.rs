//! The files a scan reads, gathered from an image's layer tar streams
//! bottom-up as overlayfs would show them: an upper layer's entry replaces
//! a lower one's, `.wh.NAME` deletes NAME (and what is under it) from the
//! layers below, `.wh..wh..opq` hides everything a lower layer had in its
//! directory. Only the files a scan looks at are kept in memory.

use std::collections::BTreeMap;
use std::io::Read;

use crate::error::{IoContext, ScanError};

/// Package databases and lockfiles larger than this are not read.
const MAX_FILE: u64 = 64 << 20;
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    File(Vec<u8>),
    Symlink(String),
    /// A file whose presence matters, not its contents (rpm's BerkeleyDB
    /// and ndb databases, which berth does not read).
    Marker,
    /// An executable's Go build information (see [`super::gobin`]).
    GoBuildInfo(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Tree {
    pub files: BTreeMap<String, Node>,
    pub warnings: Vec<String>,
}

/// Package databases berth does not read, so a scan can say so: rpm's
/// BerkeleyDB (RHEL ≤ 8, CentOS) and ndb (SUSE) formats.
pub fn marker(path: &str) -> bool {
    matches!(
        path,
        "var/lib/rpm/Packages" | "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db"
    )
}

/// Where rpm ≥ 4.16 keeps its sqlite database (Fedora and SUSE moved it
/// under /usr and link /var/lib/rpm to it). The write-ahead log beside it
/// may hold the last transactions.
pub const RPMDB_SQLITE: [&str; 2] = [
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "var/lib/rpm/rpmdb.sqlite",
];

/// The paths a scan reads: package databases, os-release and lockfiles.
pub fn wanted(path: &str) -> bool {
    const EXACT: [&str; 4] = [
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "etc/os-release",
        "usr/lib/os-release",
    ];
    if EXACT.contains(&path) {
        return true;
    }
    if RPMDB_SQLITE.iter().any(|db| {
        path.strip_prefix(db)
            .is_some_and(|x| x.is_empty() || x == "-wal")
    }) {
        return true;
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return !rest.contains('/') && !rest.ends_with(".md5sums");
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    matches!(
        base,
        "Cargo.lock" | "package-lock.json" | "poetry.lock" | "requirements.txt"
    )
}

fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn remove_under(files: &mut BTreeMap<String, Node>, dir: &str, include_self: bool) {
    if include_self {
        files.remove(dir);
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        files.remove(&k);
    }
}

impl Tree {
    /// Applies one layer (an uncompressed tar stream) over the layers below.
    /// A layer that breaks off mid-way keeps what was read of it, with a warning.
    pub fn apply_layer(&mut self, name: &str, layer: impl Read) -> Result<(), ScanError> {
        let mut archive = tar::Archive::new(layer);
        let mut added: BTreeMap<String, Node> = BTreeMap::new();
        let mut hidden: Vec<(String, bool)> = Vec::new();
        let mut replaced: Vec<(String, bool)> = Vec::new();
        let entries = archive.entries().ctx(|| format!("read layer {name}"))?;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.warnings.push(format!(
                        "layer {name}: stopped reading at a damaged entry: {e}"
                    ));
                    break;
                }
            };
            let Ok(raw) = entry.path().map(|p| p.to_string_lossy().into_owned()) else {
                continue;
            };
            let path = normalize(&raw);
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (d.to_string(), b.to_string()),
                None => (String::new(), path.clone()),
            };
            if base == OPAQUE {
                hidden.push((dir, false));
                continue;
            }
            if let Some(target) = base.strip_prefix(WHITEOUT) {
                let p = if dir.is_empty() {
                    target.to_string()
                } else {
                    format!("{dir}/{target}")
                };
                hidden.push((p, true));
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                replaced.push((path.clone(), false));
            } else {
                // A non-directory hides whatever a lower layer had there, tree and all.
                replaced.push((path.clone(), true));
            }
            if marker(&path) {
                added.insert(path, Node::Marker);
                continue;
            }
            if !wanted(&path) {
                let exec = entry.header().mode().unwrap_or(0) & 0o111 != 0;
                if kind.is_file() && exec && entry.size() >= 1024 {
                    match super::gobin::capture(&mut entry) {
                        Ok(Some(blob)) => {
                            added.insert(path, Node::GoBuildInfo(blob));
                        }
                        Ok(None) => {}
                        Err(e) => self
                            .warnings
                            .push(format!("layer {name}: {path} cut short: {e}")),
                    }
                }
                continue;
            }
            if kind.is_file() {
                if entry.size() > MAX_FILE {
                    self.warnings
                        .push(format!("{path}: larger than {MAX_FILE} bytes, not read"));
                    continue;
                }
                let mut buf = Vec::with_capacity(entry.size() as usize);
                if let Err(e) = entry.read_to_end(&mut buf) {
                    self.warnings
                        .push(format!("layer {name}: {path} cut short: {e}"));
                }
                added.insert(path, Node::File(buf));
            } else if kind.is_symlink() {
                if let Ok(Some(t)) = entry.link_name() {
                    added.insert(path, Node::Symlink(t.to_string_lossy().into_owned()));
                }
            } else if kind.is_hard_link()
                && let Ok(Some(t)) = entry.link_name()
            {
                let t = normalize(&t.to_string_lossy());
                if let Some(n) = added.get(&t).or_else(|| self.files.get(&t)).cloned() {
                    added.insert(path, n);
                }
            }
        }
        for (p, whole) in hidden {
            remove_under(&mut self.files, &p, whole);
        }
        for (p, tree) in replaced {
            if tree {
                remove_under(&mut self.files, &p, true);
            } else {
                self.files.remove(&p);
            }
        }
        self.files.extend(added);
        Ok(())
    }

    /// A file's contents, following symlinks within the tree.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let mut path = normalize(path);
        for _ in 0..8 {
            match self.files.get(&path)? {
                Node::File(b) => return Some(b),
                Node::Marker | Node::GoBuildInfo(_) => return None,
                Node::Symlink(t) => {
                    path = if t.starts_with('/') {
                        normalize(t)
                    } else {
                        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                        normalize(&format!("{dir}/{t}"))
                    };
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, body) in entries {
            let mut h = tar::Header::new_gnu();
            match body {
                Some(body) => {
                    h.set_size(body.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, body.as_bytes()).unwrap();
                }
                None => {
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_and_top_layer_wins() {
        let mut t = Tree::default();
        let l1 = layer(&[
            ("./app/Cargo.lock", Some("one")),
            ("./srv/x/requirements.txt", Some("a==1")),
            ("./srv/y/requirements.txt", Some("b==1")),
            ("./var/lib/dpkg/status", Some("low")),
            ("./usr/bin/ls", Some("elf")),
        ]);
        let l2 = layer(&[
            ("app/.wh.Cargo.lock", Some("")),
            ("srv/x/.wh..wh..opq", Some("")),
            ("srv/x/requirements.txt", Some("c==2")),
            ("var/lib/dpkg/status", Some("high")),
        ]);
        let l3 = layer(&[("srv/.wh.y", Some(""))]);
        for (i, l) in [l1, l2, l3].iter().enumerate() {
            t.apply_layer(&i.to_string(), &l[..]).unwrap();
        }
        assert_eq!(t.read("app/Cargo.lock"), None);
        assert_eq!(t.read("srv/x/requirements.txt"), Some(&b"c==2"[..]));
        assert_eq!(t.read("srv/y/requirements.txt"), None);
        assert_eq!(t.read("var/lib/dpkg/status"), Some(&b"high"[..]));
        assert!(
            !t.files.contains_key("usr/bin/ls"),
            "unwanted files are not kept"
        );
    }

    #[test]
    fn a_directory_replaces_a_file() {
        let mut t = Tree::default();
        t.apply_layer("0", &layer(&[("a/Cargo.lock", Some("x"))])[..])
            .unwrap();
        t.apply_layer("1", &layer(&[("a/Cargo.lock", None)])[..])
            .unwrap();
        assert_eq!(t.read("a/Cargo.lock"), None);
    }

    #[test]
    fn a_file_replaces_a_directory_and_its_tree() {
        let mut t = Tree::default();
        t.apply_layer("0", &layer(&[("srv/x/requirements.txt", Some("a==1"))])[..])
            .unwrap();
        t.apply_layer("1", &layer(&[("srv/x", Some("now a file"))])[..])
            .unwrap();
        assert_eq!(t.read("srv/x/requirements.txt"), None);
    }

    #[test]
    fn a_truncated_layer_keeps_what_was_read() {
        let mut t = Tree::default();
        let mut l = layer(&[
            ("a/Cargo.lock", Some("x")),
            ("b/Cargo.lock", Some(&"y".repeat(4000))),
        ]);
        l.truncate(1536 + 512);
        t.apply_layer("0", &l[..]).unwrap();
        assert_eq!(t.read("a/Cargo.lock"), Some(&b"x"[..]));
        assert!(!t.warnings.is_empty());
    }
}
