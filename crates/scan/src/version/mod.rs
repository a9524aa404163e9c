//! Version ordering per ecosystem. `None` means "not comparable": such a
//! version matches no range (only an exact `versions` entry).

pub mod apk;
pub mod dpkg;
pub mod pep440;
pub mod rpm;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The ecosystems berth finds packages of, by their OSV names' prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    Debian,
    Alpine,
    CratesIo,
    Npm,
    PyPI,
    Go,
    /// The rpm-based distributions OSV carries (Red Hat, AlmaLinux, Rocky
    /// Linux, SUSE and openSUSE, …): binary package names, rpm's ordering.
    Rpm,
}

impl Ecosystem {
    /// From an OSV `ecosystem` ("Debian:12", "Alpine:v3.19", "crates.io", …).
    pub fn from_osv(s: &str) -> Option<Ecosystem> {
        let base = s.split(':').next().unwrap_or_default();
        Some(match base {
            "Debian" => Ecosystem::Debian,
            "Alpine" => Ecosystem::Alpine,
            "crates.io" => Ecosystem::CratesIo,
            "npm" => Ecosystem::Npm,
            "PyPI" => Ecosystem::PyPI,
            "Go" => Ecosystem::Go,
            "Red Hat" | "AlmaLinux" | "Rocky Linux" | "openSUSE" | "SUSE" | "Mageia"
            | "openEuler" => Ecosystem::Rpm,
            _ => return None,
        })
    }

    /// How OSV names a package of this ecosystem, so lookups agree.
    pub fn normalize_name(self, name: &str) -> String {
        match self {
            Ecosystem::PyPI => pep440::normalize_name(name),
            _ => name.trim().to_string(),
        }
    }

    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Ecosystem::Debian => Some(dpkg::compare(a, b)),
            Ecosystem::Alpine => apk::compare(a, b),
            Ecosystem::PyPI => pep440::compare(a, b),
            Ecosystem::Rpm => rpm::compare(a, b),
            Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::Go => semver_compare(a, b),
        }
    }
}

/// SemVer 2.0 ordering (build metadata ignored); a leading `v` (Go) and
/// missing minor/patch numbers are tolerated.
pub fn semver_compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse_semver(a)?, parse_semver(b)?);
    Some(a.cmp_precedence(&b))
}

fn parse_semver(v: &str) -> Option<semver::Version> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    if let Ok(p) = semver::Version::parse(v) {
        return Some(p);
    }
    let (core, tail) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let dots = core.matches('.').count();
    let padded = match dots {
        0 => format!("{core}.0.0{tail}"),
        1 => format!("{core}.0{tail}"),
        _ => return None,
    };
    semver::Version::parse(&padded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn semver_rules() {
        assert_eq!(semver_compare("1.0.0-alpha", "1.0.0"), Some(Less));
        assert_eq!(
            semver_compare("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            Some(Less)
        );
        assert_eq!(semver_compare("v1.2.3", "1.2.3"), Some(Equal));
        assert_eq!(semver_compare("1.2", "1.2.0"), Some(Equal));
        assert_eq!(semver_compare("1.10.0", "1.9.9"), Some(Greater));
        assert_eq!(semver_compare("1.0.0+build", "1.0.0"), Some(Equal));
        assert_eq!(semver_compare("x", "1.0.0"), None);
    }

    #[test]
    fn ecosystems_from_osv() {
        assert_eq!(Ecosystem::from_osv("Debian:12"), Some(Ecosystem::Debian));
        assert_eq!(Ecosystem::from_osv("Alpine:v3.19"), Some(Ecosystem::Alpine));
        assert_eq!(Ecosystem::from_osv("crates.io"), Some(Ecosystem::CratesIo));
        assert_eq!(Ecosystem::from_osv("Maven"), None);
        assert_eq!(Ecosystem::from_osv("Rocky Linux:9"), Some(Ecosystem::Rpm));
        assert_eq!(
            Ecosystem::from_osv("Red Hat:enterprise_linux:9::appstream"),
            Some(Ecosystem::Rpm)
        );
    }
}
