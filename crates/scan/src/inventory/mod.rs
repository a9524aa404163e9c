//! What an image holds, read from its layers without running it: the OS
//! packages (dpkg, apk, rpm) and the language packages of lockfiles anywhere in
//! the tree, each group a "target" as Trivy reports them.

mod apk;
mod dpkg;
pub mod gobin;
mod lockfiles;
pub mod os;
mod rpm;
mod rpmheader;
pub mod tree;

use serde::{Deserialize, Serialize};

use crate::version;

pub use tree::Tree;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// The name advisories use: the source package for dpkg, the origin for
    /// apk, the binary package for rpm.
    pub name: String,
    pub version: String,
    /// The binary packages built from it, where that differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// "debian 12 (dpkg)" or the lockfile's path.
    pub target: String,
    /// dpkg, apk, rpm, cargo, npm, pip, poetry.
    pub kind: String,
    /// The OSV ecosystem looked up, when known.
    pub ecosystem: Option<String>,
    pub packages: Vec<Package>,
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub os: Option<os::Os>,
    pub targets: Vec<Target>,
    pub warnings: Vec<String>,
}

fn dedup(mut p: Vec<Package>) -> Vec<Package> {
    p.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let mut out: Vec<Package> = Vec::with_capacity(p.len());
    for x in p {
        match out.last_mut() {
            Some(last) if last.name == x.name && last.version == x.version => {
                last.binaries.extend(x.binaries);
            }
            _ => out.push(x),
        }
    }
    out
}

/// Reads the package databases and lockfiles of `tree`.
pub fn inventory(tree: Tree) -> Inventory {
    let mut inv = Inventory {
        warnings: tree.warnings.clone(),
        ..Default::default()
    };
    inv.os = tree
        .read("etc/os-release")
        .or_else(|| tree.read("usr/lib/os-release"))
        .and_then(os::parse);
    let os_name = inv
        .os
        .as_ref()
        .map(|o| o.display())
        .unwrap_or_else(|| "unknown os".into());
    let os_eco = inv.os.as_ref().and_then(os::Os::ecosystem);

    let mut debs = Vec::new();
    let mut seen_dpkg = false;
    for (path, node) in &tree.files {
        let is_status = path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/");
        if let (true, tree::Node::File(b)) = (is_status, node) {
            seen_dpkg = true;
            dpkg::parse(&format!("/{path}"), b, &mut debs, &mut inv.warnings);
        }
    }
    if seen_dpkg {
        inv.targets.push(Target {
            target: format!("{os_name} (dpkg)"),
            kind: "dpkg".into(),
            ecosystem: os_eco
                .clone()
                .filter(|e| e.starts_with("Debian"))
                .or(Some("Debian".into())),
            packages: dedup(debs),
        });
    }
    if let Some(b) = tree.read("lib/apk/db/installed") {
        let mut pkgs = Vec::new();
        apk::parse("/lib/apk/db/installed", b, &mut pkgs, &mut inv.warnings);
        inv.targets.push(Target {
            target: format!("{os_name} (apk)"),
            kind: "apk".into(),
            ecosystem: os_eco
                .clone()
                .filter(|e| e.starts_with("Alpine"))
                .or(Some("Alpine".into())),
            packages: dedup(pkgs),
        });
    }
    // /var/lib/rpm is often a link to /usr/lib/sysimage/rpm: read the
    // database once, wherever it resolves.
    if let Some((path, db)) = tree::RPMDB_SQLITE
        .iter()
        .find_map(|p| tree.read(p).map(|b| (*p, b)))
    {
        let mut pkgs = Vec::new();
        let wal = tree.read(&format!("{path}-wal"));
        rpm::parse(&format!("/{path}"), db, wal, &mut pkgs, &mut inv.warnings);
        inv.targets.push(Target {
            target: format!("{os_name} (rpm)"),
            kind: "rpm".into(),
            ecosystem: os_eco
                .filter(|e| version::Ecosystem::from_osv(e) == Some(version::Ecosystem::Rpm)),
            packages: dedup(pkgs),
        });
    }
    for (path, node) in &tree.files {
        if *node == tree::Node::Marker {
            inv.warnings.push(format!(
                "/{path}: not implemented: rpm's BerkeleyDB and ndb databases are not read (only rpmdb.sqlite), their packages are not scanned"
            ));
        }
    }
    for (path, node) in &tree.files {
        let tree::Node::GoBuildInfo(blob) = node else {
            continue;
        };
        match gobin::parse(blob) {
            Ok(p) => inv.targets.push(Target {
                target: format!("/{path}"),
                kind: "gobinary".into(),
                ecosystem: Some("Go".into()),
                packages: dedup(p),
            }),
            Err(e) => inv.warnings.push(format!("/{path}: {e}")),
        }
    }
    for (path, node) in &tree.files {
        let tree::Node::File(b) = node else { continue };
        let base = path.rsplit('/').next().unwrap_or(path);
        let (kind, eco, parsed) = match base {
            "Cargo.lock" => ("cargo", "crates.io", lockfiles::cargo(b)),
            "package-lock.json" => ("npm", "npm", lockfiles::npm(b)),
            "poetry.lock" => ("poetry", "PyPI", lockfiles::poetry(b)),
            "requirements.txt" => ("pip", "PyPI", Ok(lockfiles::requirements(b))),
            _ => continue,
        };
        match parsed {
            Ok(p) => inv.targets.push(Target {
                target: format!("/{path}"),
                kind: kind.into(),
                ecosystem: Some(eco.into()),
                packages: dedup(p),
            }),
            Err(e) => inv.warnings.push(format!("/{path}: not read: {e}")),
        }
    }
    inv
}
