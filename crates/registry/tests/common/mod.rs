//! A registry started in-process on 127.0.0.1:0 over a temporary root, and a
//! small raw-HTTP client for it.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use registry::{Config, Server};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub struct Reg {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    pub auth: Option<String>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    /// The first error code of a spec error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub async fn start_with(f: impl FnOnce(&mut Config, &Path)) -> Reg {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new("127.0.0.1:0", dir.path().join("root"));
    f(&mut config, dir.path());
    let server = registry::start(config).await.expect("start registry");
    let base = format!("http://{}", server.local_addr());
    Reg {
        server: Some(server),
        dir,
        base,
        client: Client::builder(TokioExecutor::new()).build_http(),
        auth: None,
    }
}

pub async fn start() -> Reg {
    start_with(|_, _| {}).await
}

impl Reg {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(url);
        if let Some(a) = &self.auth {
            b = b.header("Authorization", a);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .client
            .request(b.body(Full::new(body.into())).unwrap())
            .await
            .expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], Bytes::new()).await
    }

    /// Monolithic upload; asserts success.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[("Content-Type", "application/octet-stream")],
                data.to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            body.to_vec(),
        )
        .await
    }

    /// Pushes a config and one layer, then an image manifest of the given
    /// type; returns (manifest bytes, manifest digest, [config, layer]).
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        seed: &str,
    ) -> (Vec<u8>, String, Vec<String>) {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
        let layer = format!("layer-bytes-{seed}").repeat(100);
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let ld = self.push_blob(repo, layer.as_bytes()).await;
        let (cfg_type, layer_type) = if media_type == DOCKER_MANIFEST {
            (
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        } else {
            (
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar",
            )
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": cfg_type, "digest": cd, "size": config.len()},
            "layers": [{"mediaType": layer_type, "digest": ld, "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let r = self.put_manifest(repo, tag, media_type, &manifest).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let md = digest(&manifest);
        assert_eq!(
            r.header("Docker-Content-Digest").as_deref(),
            Some(md.as_str())
        );
        (manifest, md, vec![cd, ld])
    }

    /// Sends raw bytes on a fresh connection and returns what comes back
    /// before the server closes (or a short timeout).
    pub async fn raw(&self, request: &[u8], close_write: bool) -> String {
        let mut s = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        s.write_all(request).await.unwrap();
        if close_write {
            s.shutdown().await.unwrap();
        }
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn blob_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root().join("blobs/sha256"))
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        v.sort();
        v
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        self.server.take().unwrap().shutdown().await;
        self.dir
    }
}
