//! `os/arch[/variant]` and the choice of a manifest from an index.

use oci_spec::image::{Arch, Os};

use crate::config::{Descriptor, ImageIndex, host_architecture};
use crate::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine (`linux/amd64` here).
    pub fn host() -> Self {
        Platform {
            os: "linux".into(),
            architecture: host_architecture().into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            ImageError::InvalidArgument(format!("invalid platform {s:?}: want os/arch[/variant]"))
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: None,
            }),
            [os, arch, variant] => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalize_arch(arch),
                variant: Some(variant.to_lowercase()),
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// The first entry for `want`; without a wanted variant, an entry without
/// one (or the first with any) is taken.
pub fn choose<'a>(index: &'a ImageIndex, want: &Platform) -> Option<&'a Descriptor> {
    // Compared as oci-spec's values, not their printed names: it reads
    // "armbe" as arm64be, so only parsing both sides keeps armbe matching.
    let (os, arch) = (
        Os::from(want.os.as_str()),
        Arch::from(want.architecture.as_str()),
    );
    let variant = |e: &Descriptor| e.platform().as_ref().and_then(|p| p.variant().clone());
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|e| {
            e.platform()
                .as_ref()
                .is_some_and(|p| *p.os() == os && *p.architecture() == arch)
        })
        .collect();
    match &want.variant {
        Some(v) => candidates
            .into_iter()
            .find(|e| variant(e).as_ref() == Some(v)),
        None => candidates
            .iter()
            .find(|e| variant(e).is_none())
            .or(candidates.first())
            .copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sha256:` and 64 times `c`.
    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index() -> ImageIndex {
        let entry = |c: char, platform: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{}","size":1,"platform":{platform}}}"#,
                d(c)
            )
        };
        let entries = [
            entry('a', r#"{"os":"linux","architecture":"amd64"}"#),
            entry('b', r#"{"os":"linux","architecture":"arm","variant":"v6"}"#),
            entry('c', r#"{"os":"linux","architecture":"arm","variant":"v7"}"#),
            entry('d', r#"{"os":"unknown","architecture":"unknown"}"#),
            entry('e', r#"{"os":"linux","architecture":"armbe"}"#),
        ];
        serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{}]}}"#,
            entries.join(",")
        ))
        .unwrap()
    }

    #[test]
    fn picks_platform() {
        let i = index();
        let pick =
            |s: &str| choose(&i, &Platform::parse(s).unwrap()).map(|e| e.digest().to_string());
        assert_eq!(pick("linux/amd64"), Some(d('a')));
        assert_eq!(pick("linux/x86_64"), Some(d('a')));
        assert_eq!(pick("linux/arm/v7"), Some(d('c')));
        assert_eq!(pick("linux/arm"), Some(d('b')));
        assert_eq!(pick("linux/armbe"), Some(d('e')));
        assert_eq!(pick("linux/s390x"), None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }
}
