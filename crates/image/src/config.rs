//! The image config in Docker's JSON shape, and the OCI manifest berth
//! writes (its types are `oci_spec::image`'s).
//!
//! The config types stay local rather than oci-spec's `ImageConfiguration`:
//! its `Config` has no `Healthcheck`, `OnBuild`, `Shell` or `ArgsEscaped`,
//! keeps `Labels`, `ExposedPorts` and `Volumes` in `HashMap`s (their key
//! order changes from run to run) and orders `History` fields differently.
//! A round trip through it would drop or reorder what Docker images carry,
//! and the image id is the sha256 of the config bytes.

use std::collections::BTreeMap;

use oci_spec::image::{ImageManifestBuilder, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};

use crate::error::ImageError;

pub use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};

/// `{}` in maps such as ExposedPorts and Volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The runtime defaults an image carries (`config` in the image config file),
/// in Docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfigSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
}

/// Durations are nanoseconds, as in Docker's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// The image config blob; the image id is the sha256 of its bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub config: ContainerConfigSpec,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// A digest berth computed or stored, checked for `algorithm:encoded` shape.
pub fn digest(d: &str) -> Result<Digest, ImageError> {
    Ok(Digest::try_from(d)?)
}

/// A descriptor as berth writes them: media type, digest and size.
pub fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: u64,
) -> Result<Descriptor, ImageError> {
    Ok(Descriptor::new(media_type, size, self::digest(digest)?))
}

/// The image manifest of a config (as its bytes will be stored) and its
/// layers, bottom first.
///
/// Layers are cut down to media type, digest and size, the only fields
/// berth's manifests have ever carried: a parent's layers read back from a
/// pulled manifest may bring `annotations` or `urls`, which would change the
/// new manifest's bytes (and digest), annotations even in an unstable
/// order since oci-spec keeps them in a `HashMap`.
pub fn manifest_for_config(
    config: &[u8],
    layers: Vec<Descriptor>,
) -> Result<ImageManifest, ImageError> {
    let config = descriptor(
        MediaType::ImageConfig,
        &crate::fsutil::sha256_digest(config),
        config.len() as u64,
    )?;
    let layers: Vec<Descriptor> = layers
        .into_iter()
        .map(|l| Descriptor::new(l.media_type().clone(), l.size(), l.digest().clone()))
        .collect();
    Ok(ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()?)
}

/// GOARCH-style name of the machine we run on (the default for imported images).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const L2: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// The bytes berth's own `Manifest` type wrote before oci-spec: stored
    /// manifests and pushed digests depend on them staying the same.
    #[test]
    fn manifest_bytes_are_pinned() {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let mut from_pull: Descriptor =
            serde_json::from_str(&format!(
                r#"{{"mediaType":"{DOCKER_GZIP}","digest":"{L2}","size":77,"urls":["https://x/y"],"annotations":{{"a":"1","b":"2"}}}}"#
            ))
            .unwrap();
        from_pull.set_artifact_type(Some(MediaType::EmptyJSON));
        let layers = vec![
            descriptor(MediaType::ImageLayer, L1, 1024).unwrap(),
            from_pull,
        ];
        let m = manifest_for_config(config, layers).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f","size":78},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":1024},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210","size":77}]}"#
        );
        let empty = manifest_for_config(b"{}", Vec::new()).unwrap();
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#
        );
    }

    #[test]
    fn docker_schema2_parses_and_prints_back() {
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{L1}","size":1469}},"layers":[{{"mediaType":"{DOCKER_GZIP}","digest":"{L2}","size":2479}}]}}"#
        );
        let m: ImageManifest = serde_json::from_str(&text).unwrap();
        // Docker's types are `Other`, equal to themselves parsed again and
        // never to the OCI variants.
        let docker = MediaType::from("application/vnd.docker.distribution.manifest.v2+json");
        assert_eq!(m.media_type().as_ref(), Some(&docker));
        assert_ne!(docker, MediaType::ImageManifest);
        assert_eq!(m.layers()[0].media_type(), &MediaType::from(DOCKER_GZIP));
        assert_ne!(m.layers()[0].media_type(), &MediaType::ImageLayerGzip);
        assert_eq!(m.config().digest().as_ref(), L1);
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
    }

    /// Entries as Docker Hub lists them: a Windows one with `os.version`
    /// (which oci-spec 0.10 spells `os_version`, so it is ignored, as berth
    /// always did) and a BuildKit attestation.
    #[test]
    fn docker_manifest_list_parses() {
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
              {{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{L1}","size":528,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}},
              {{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{L2}","size":1,"platform":{{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2582","os.features":["win32k"]}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{L2}","size":1,"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
        );
        let i: ImageIndex = serde_json::from_str(&text).unwrap();
        let p = i.manifests()[0].platform().clone().unwrap();
        assert_eq!(p.architecture().to_string(), "arm");
        assert_eq!(p.variant().as_deref(), Some("v7"));
        assert_eq!(i.manifests().len(), 3);
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let config = format!(r#"{{"mediaType":"x","digest":"{L1}","size":2}}"#);
        for bad in [
            // no config
            r#"{"schemaVersion":2,"layers":[]}"#.to_string(),
            // no layers
            format!(r#"{{"schemaVersion":2,"config":{config}}}"#),
            // digest too short for sha256, or not algorithm:encoded
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:abc","size":2},"layers":[]}"#.to_string(),
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"../etc","size":2},"layers":[]}"#.to_string(),
            // size not a number
            format!(r#"{{"schemaVersion":2,"config":{config},"layers":[{{"mediaType":"x","digest":"{L2}","size":"1"}}]}}"#),
            // schema 1 has no config
            r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_string(),
        ] {
            assert!(serde_json::from_str::<ImageManifest>(&bad).is_err(), "{bad}");
        }
        assert!(digest("sha256:abc").is_err());
        assert_eq!(digest(L1).unwrap().as_ref(), L1);
    }
}
