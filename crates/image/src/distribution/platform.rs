//! `os/arch[/variant]` and the choice of a manifest from an index.

use serde::Deserialize;

use crate::config::host_architecture;
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

#[derive(Debug, Clone, Deserialize)]
pub struct IndexPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<IndexPlatform>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
}

/// The first entry for `want`; without a wanted variant, an entry without
/// one (or the first with any) is taken.
pub fn choose<'a>(index: &'a Index, want: &Platform) -> Option<&'a IndexEntry> {
    let matches = |e: &&IndexEntry| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    };
    let candidates: Vec<&IndexEntry> = index.manifests.iter().filter(matches).collect();
    match &want.variant {
        Some(v) => candidates
            .into_iter()
            .find(|e| e.platform.as_ref().and_then(|p| p.variant.as_ref()) == Some(v)),
        None => candidates
            .iter()
            .find(|e| e.platform.as_ref().is_some_and(|p| p.variant.is_none()))
            .or(candidates.first())
            .copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        serde_json::from_str(
            r#"{"manifests":[
              {"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},
              {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm","variant":"v6"}},
              {"digest":"sha256:c","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
              {"digest":"sha256:d","platform":{"os":"unknown","architecture":"unknown"}}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn picks_platform() {
        let i = index();
        let pick = |s: &str| choose(&i, &Platform::parse(s).unwrap()).map(|e| e.digest.clone());
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:a"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("sha256:a"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:c"));
        assert_eq!(pick("linux/arm").as_deref(), Some("sha256:b"));
        assert_eq!(pick("linux/s390x"), None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }
}
