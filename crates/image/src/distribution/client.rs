//! A blocking client for one repository of a distribution-spec registry,
//! with the spec's auth dance (Basic, or Bearer tokens from a token server).

use parking_lot::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE};
use serde::Deserialize;

use super::challenge::{self, Challenge};
use crate::config::MediaType;
use crate::error::ImageError;
use crate::reference::{DEFAULT_DOMAIN, Reference};

// oci-spec has no variants for Docker's schema 2 types (they parse as
// `MediaType::Other`), hence these.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Credentials for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// A bearer token sent as is (Docker's `RegistryToken`).
    Token(String),
}

impl Credentials {
    /// Docker's encoded auth config (the `X-Registry-Auth` header, and a
    /// service's `--with-registry-auth`): base64url JSON of {username,
    /// password} or {identitytoken}. None when it is not one.
    pub fn decode(encoded: &str) -> Option<Credentials> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        let raw = encoded.trim();
        let bytes = URL_SAFE
            .decode(raw)
            .or_else(|_| URL_SAFE_NO_PAD.decode(raw))
            .or_else(|_| STANDARD.decode(raw))
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let s = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|x| !x.is_empty())
                .map(String::from)
        };
        if let Some(token) = s("identitytoken").or_else(|| s("registrytoken")) {
            return Some(Credentials::Token(token));
        }
        Some(Credentials::Basic {
            username: s("username")?,
            password: s("password").unwrap_or_default(),
        })
    }
}

/// A connection to one repository.
pub struct RegistryClient {
    http: Client,
    base: String,
    repo: String,
    credentials: Option<Credentials>,
    actions: &'static str,
    /// The `Authorization` value that last worked.
    authorization: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

fn transport(e: reqwest::Error) -> ImageError {
    ImageError::Registry(e.to_string())
}

/// A registry error response as one message: `CODE: message` like Docker's.
fn error_of(resp: Response, what: &str) -> ImageError {
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    let detail = serde_json::from_str::<ErrorBody>(&text)
        .ok()
        .and_then(|b| b.errors.into_iter().next())
        .map(|e| format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message))
        .unwrap_or_else(|| format!("{status}"));
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        ImageError::Unauthorized(format!("{what}: {detail}"))
    } else {
        ImageError::Registry(format!("{what}: {detail}"))
    }
}

/// Where a reference's registry answers: Docker Hub's API host differs from
/// its name.
pub(crate) fn base_url(domain: &str, insecure: bool) -> String {
    let host = if domain == DEFAULT_DOMAIN {
        "registry-1.docker.io"
    } else {
        domain
    };
    let scheme = if insecure { "http" } else { "https" };
    format!("{scheme}://{host}")
}

impl RegistryClient {
    /// A client for `base` (`scheme://host[:port]`); `repo` empty means no
    /// repository (login), so token requests carry no scope.
    pub(crate) fn new(
        base: String,
        repo: &str,
        credentials: Option<Credentials>,
        push: bool,
    ) -> Result<Self, ImageError> {
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .build()
            .map_err(transport)?;
        let client = RegistryClient {
            http,
            base,
            repo: repo.to_string(),
            credentials,
            actions: if push { "pull,push" } else { "pull" },
            authorization: Mutex::new(None),
        };
        if let Some(Credentials::Token(t)) = &client.credentials {
            *client.authorization.lock() = Some(format!("Bearer {t}"));
        }
        Ok(client)
    }

    /// Connects (pings `/v2/`) and authenticates for pull, or pull and push.
    pub fn connect(
        reference: &Reference,
        credentials: Option<Credentials>,
        insecure: bool,
        push: bool,
    ) -> Result<Self, ImageError> {
        Self::connect_to(
            &base_url(reference.domain(), insecure),
            reference,
            credentials,
            push,
        )
    }

    /// [`Self::connect`] to `base` (`scheme://host[:port]`) instead of the
    /// reference's own registry: a mirror.
    pub fn connect_to(
        base: &str,
        reference: &Reference,
        credentials: Option<Credentials>,
        push: bool,
    ) -> Result<Self, ImageError> {
        let client = Self::new(base.to_string(), reference.path(), credentials, push)?;
        let url = format!("{}/v2/", client.base);
        let resp = client.send(|h| h.get(&url))?;
        if !resp.status().is_success() {
            return Err(error_of(resp, "ping registry"));
        }
        Ok(client)
    }

    pub fn repository(&self) -> &str {
        &self.repo
    }

    fn attempt(
        &self,
        build: &mut dyn FnMut(&Client) -> RequestBuilder,
    ) -> Result<Response, ImageError> {
        let mut req = build(&self.http);
        if let Some(a) = self.authorization.lock().clone() {
            req = req.header(AUTHORIZATION, a);
        }
        req.send().map_err(transport)
    }

    /// Sends the request built by `build`; on a 401 answers the challenge
    /// once and sends a fresh request (bodies cannot be replayed).
    pub(crate) fn send(
        &self,
        mut build: impl FnMut(&Client) -> RequestBuilder,
    ) -> Result<Response, ImageError> {
        let resp = self.attempt(&mut build)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(header) = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            return Ok(resp);
        };
        let Some(c) = challenge::parse(&header) else {
            return Ok(resp);
        };
        let auth = self.answer(&c)?;
        *self.authorization.lock() = Some(auth);
        // A second 401 goes back to the caller, which reports it in context.
        self.attempt(&mut build)
    }

    fn basic(&self) -> Option<String> {
        match &self.credentials {
            Some(Credentials::Basic { username, password }) => {
                let raw = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            _ => None,
        }
    }

    /// The `Authorization` value answering a challenge.
    fn answer(&self, c: &Challenge) -> Result<String, ImageError> {
        match c {
            Challenge::Basic => self
                .basic()
                .ok_or_else(|| ImageError::Unauthorized("no basic auth credentials".into())),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.clone().or_else(|| {
                    (!self.repo.is_empty())
                        .then(|| format!("repository:{}:{}", self.repo, self.actions))
                });
                let mut query = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s.clone()));
                }
                // Login asks for no scope: any token proves the credentials.
                // (No offline token either: the CLI keeps the password.)
                if let Some(scope) = scope {
                    query.push(("scope", scope));
                }
                if let Some(Credentials::Basic { username, .. }) = &self.credentials {
                    query.push(("account", username.clone()));
                }
                let mut req = self.http.get(realm).query(&query);
                if let Some(b) = self.basic() {
                    req = req.header(AUTHORIZATION, b);
                }
                let resp = req.send().map_err(transport)?;
                if !resp.status().is_success() {
                    return Err(ImageError::Unauthorized(format!(
                        "token server {realm}: {}",
                        resp.status()
                    )));
                }
                let body = resp.bytes().map_err(transport)?;
                let t: TokenResponse = serde_json::from_slice(&body)?;
                let token = t.token.or(t.access_token).ok_or_else(|| {
                    ImageError::Unauthorized(format!("token server {realm}: no token"))
                })?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    /// Fetches a manifest or index by tag or digest: (bytes, media type,
    /// `Docker-Content-Digest` if the registry sent one).
    pub fn get_manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, String, Option<String>), ImageError> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = [
            MediaType::ImageIndex.as_ref(),
            MediaType::ImageManifest.as_ref(),
            MEDIA_TYPE_DOCKER_LIST,
            MEDIA_TYPE_DOCKER_MANIFEST,
        ]
        .join(", ");
        let resp = self.send(|h| h.get(&url).header(ACCEPT, &accept))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound(format!(
                "manifest for {}:{reference} not found",
                self.repo
            )));
        }
        if !resp.status().is_success() {
            return Err(error_of(resp, &format!("fetch manifest {reference}")));
        }
        let media_type = header(resp.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
        let digest = header(resp.headers(), "docker-content-digest");
        let body = resp.bytes().map_err(transport)?.to_vec();
        Ok((body, media_type, digest))
    }

    /// Uploads a manifest under a tag or digest; returns the registry's digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<Option<String>, ImageError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(|h| {
            h.put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(body.to_vec())
        })?;
        if !resp.status().is_success() {
            return Err(error_of(resp, &format!("push manifest {reference}")));
        }
        Ok(header(resp.headers(), "docker-content-digest"))
    }

    /// A blob's body as a reader (redirects are followed).
    pub fn get_blob(&self, digest: &str) -> Result<Response, ImageError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(|h| h.get(&url))?;
        if !resp.status().is_success() {
            return Err(error_of(resp, &format!("fetch blob {digest}")));
        }
        Ok(resp)
    }

    pub fn blob_exists(&self, digest: &str) -> Result<bool, ImageError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(|h| h.head(&url))?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(error_of(resp, &format!("check blob {digest}"))),
        }
    }

    /// Monolithic upload: POST opens a session, one PUT sends the bytes and
    /// closes it with the digest. `body` is called again if auth forces a retry.
    pub fn upload_blob(
        &self,
        digest: &str,
        body: impl Fn() -> Result<reqwest::blocking::Body, ImageError>,
    ) -> Result<(), ImageError> {
        let url = self.url("blobs/uploads/");
        let resp = self.send(|h| h.post(&url).header("content-length", "0"))?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_of(resp, &format!("start upload of {digest}")));
        }
        let location = header(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| ImageError::Registry("upload without Location".into()))?;
        let mut put = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(digest);
        let mut failure = None;
        let resp = self.send(|h| match body() {
            Ok(b) => h
                .put(&put)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(b),
            Err(e) => {
                failure = Some(e.to_string());
                h.put(&put)
            }
        });
        if let Some(f) = failure {
            return Err(ImageError::Registry(format!("upload {digest}: {f}")));
        }
        let resp = resp?;
        if !resp.status().is_success() {
            return Err(error_of(resp, &format!("upload {digest}")));
        }
        Ok(())
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string())
}
