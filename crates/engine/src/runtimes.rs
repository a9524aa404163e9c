//! The OCI runtimes a daemon offers (`--add-runtime NAME=PATH`,
//! `--default-runtime NAME`) beside its built-in one, and which one runs a
//! container (`HostConfig.Runtime`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runtime::RuntimeKind;

use crate::{EngineError, Result};

/// The name of libcontainer in the shim, berth's own runtime (dockerd's
/// stock runtime is called `runc`; berth's is not runc, so it has its own name).
pub const BUILTIN: &str = "berth";

#[derive(Debug, Clone)]
pub struct Runtimes {
    /// Runtime CLIs by name.
    oci: BTreeMap<String, PathBuf>,
    default: String,
}

impl Default for Runtimes {
    fn default() -> Self {
        Self {
            oci: BTreeMap::new(),
            default: BUILTIN.to_string(),
        }
    }
}

impl Runtimes {
    /// Registers an OCI runtime CLI, with dockerd's rules and messages for
    /// the name: lower-cased, the built-in name reserved, no duplicates.
    pub fn add(&mut self, name: &str, path: &Path) -> Result<()> {
        let name = name.trim().to_lowercase();
        if name.is_empty() || path.as_os_str().is_empty() {
            return Err(EngineError::InvalidParameter(format!(
                "invalid runtime argument: {name}={}",
                path.display()
            )));
        }
        if name == BUILTIN {
            return Err(EngineError::InvalidParameter(format!(
                "runtime name '{BUILTIN}' is reserved"
            )));
        }
        if self.oci.contains_key(&name) {
            return Err(EngineError::InvalidParameter(format!(
                "runtime '{name}' was already defined"
            )));
        }
        self.oci.insert(name, path.to_path_buf());
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        name == BUILTIN || self.oci.contains_key(name)
    }

    pub fn set_default(&mut self, name: &str) -> Result<()> {
        if !self.contains(name) {
            return Err(EngineError::InvalidParameter(format!(
                "specified default runtime '{name}' does not exist"
            )));
        }
        self.default = name.to_string();
        Ok(())
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// Every runtime with its binary (the built-in one is `exe`, berth itself).
    pub fn list(&self, exe: &Path) -> Vec<(String, PathBuf)> {
        std::iter::once((BUILTIN.to_string(), exe.to_path_buf()))
            .chain(self.oci.iter().map(|(n, p)| (n.clone(), p.clone())))
            .collect()
    }

    /// The runtime `HostConfig.Runtime` names; empty (records from before
    /// runtimes existed) is the built-in one.
    pub fn kind(&self, name: &str) -> Result<RuntimeKind> {
        if name.is_empty() || name == BUILTIN {
            return Ok(RuntimeKind::Builtin);
        }
        match self.oci.get(name) {
            Some(path) => Ok(RuntimeKind::Oci {
                name: name.to_string(),
                path: path.clone(),
            }),
            None => Err(unknown(name)),
        }
    }

    /// What create stores: the default for an empty name, else a known one.
    pub fn resolve(&self, name: &str) -> Result<String> {
        if name.is_empty() {
            return Ok(self.default.clone());
        }
        self.kind(name).map(|_| name.to_string())
    }
}

/// dockerd's words (400).
pub fn unknown(name: &str) -> EngineError {
    EngineError::InvalidParameter(format!("Unknown runtime specified {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockerds_rules() {
        let mut r = Runtimes::default();
        r.add("CRUN", Path::new("/usr/bin/crun")).unwrap();
        assert!(r.contains("crun"));
        assert_eq!(
            r.add("crun", Path::new("/x")).unwrap_err().to_string(),
            "runtime 'crun' was already defined"
        );
        assert_eq!(
            r.add("berth", Path::new("/x")).unwrap_err().to_string(),
            "runtime name 'berth' is reserved"
        );
        assert_eq!(
            r.set_default("nope").unwrap_err().to_string(),
            "specified default runtime 'nope' does not exist"
        );
        assert_eq!(r.resolve("").unwrap(), "berth");
        r.set_default("crun").unwrap();
        assert_eq!(r.resolve("").unwrap(), "crun");
        assert_eq!(
            r.resolve("nope").unwrap_err().to_string(),
            "Unknown runtime specified nope"
        );
        assert_eq!(r.kind("").unwrap(), RuntimeKind::Builtin);
        assert!(matches!(r.kind("crun").unwrap(), RuntimeKind::Oci { .. }));
    }
}
