//! Browsing a registry (the distribution API: catalog, tags, manifests) and
//! deleting a manifest, for the Registry page. The daemon asks, not the
//! browser: registries do not answer other origins, and the engine's own
//! rule decides plain HTTP (loopback and `--insecure-registry` ones).
//! Credentials are the page's, per request: Basic auth, or, for a registry
//! that answers with a Bearer challenge, exchanged at its token server for
//! a token (Docker's token flow), never stored.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::UiError;
use crate::state::Ui;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

#[derive(Deserialize)]
pub struct Target {
    registry: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    digest: String,
}

impl Target {
    /// The registry's base URL; its name and repository checked so that
    /// nothing but a registry's /v2/ API can be reached through here.
    fn base(&self, ui: &Ui) -> Result<String, UiError> {
        let r = registry_name(&self.registry)?;
        let scheme = if ui.engine.insecure_registry(r) {
            "http"
        } else {
            "https"
        };
        Ok(format!("{scheme}://{r}"))
    }

    fn repo(&self) -> Result<&str, UiError> {
        repository_name(&self.repo)
    }
}

/// `HOST[:PORT]` only: no path, user or query can ride along.
fn registry_name(r: &str) -> Result<&str, UiError> {
    let r = r.trim();
    let ok = !r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    ok.then_some(r).ok_or_else(|| {
        UiError::BadInput(format!(
            "invalid registry {r:?}: expected HOST[:PORT], e.g. 127.0.0.1:5000"
        ))
    })
}

/// A repository path as the distribution spec spells them.
fn repository_name(repo: &str) -> Result<&str, UiError> {
    let ok = !repo.is_empty()
        && !repo.contains("..")
        && !repo.starts_with('/')
        && repo
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c));
    ok.then_some(repo)
        .ok_or_else(|| UiError::BadInput(format!("invalid repository {repo:?}")))
}

/// Basic credentials from the page's `X-Registry-Auth` (Docker's shape:
/// base64url JSON with `username` and `password`).
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let raw = headers.get("x-registry-auth")?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim()))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let user = v["username"]
        .as_str()
        .filter(|u| !u.is_empty())?
        .to_string();
    Some((user, v["password"].as_str().unwrap_or_default().to_string()))
}

/// A request with the page's credentials, if it sent any.
fn authed(
    req: reqwest::RequestBuilder,
    creds: &Option<(String, String)>,
) -> reqwest::RequestBuilder {
    match creds {
        Some((user, password)) => req.basic_auth(user, Some(password)),
        None => req,
    }
}

fn client() -> Result<reqwest::Client, UiError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| UiError::Internal(e.to_string()))
}

/// `Bearer realm="…",service="…",scope="…"`: its parameters, if the
/// challenge is a Bearer one.
fn bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').map_or((after, ""), |(v, t)| (v, t)),
        };
        params.push((key.trim().to_ascii_lowercase(), value.to_string()));
        rest = tail.trim_start_matches([',', ' ']);
    }
    Some(params)
}

/// A token from the challenge's realm for its service and scope, asked with
/// the page's credentials (anonymous without).
async fn token(
    http: &reqwest::Client,
    challenge: &[(String, String)],
    creds: &Option<(String, String)>,
    url: &str,
) -> Result<String, UiError> {
    let get = |k: &str| {
        challenge
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let realm = get("realm")
        .filter(|r| r.starts_with("http://") || r.starts_with("https://"))
        .ok_or_else(|| {
            UiError::BadInput(format!(
                "{url}: a Bearer challenge without an http(s) realm"
            ))
        })?;
    let mut query = Vec::new();
    if let Some(s) = get("service") {
        query.push(("service", s));
    }
    if let Some(s) = get("scope") {
        query.push(("scope", s));
    }
    let resp = authed(http.get(realm).query(&query), creds)
        .send()
        .await
        .map_err(|e| UiError::BadInput(format!("token server {realm}: {e}")))?;
    match resp.status().as_u16() {
        200..=299 => {}
        401 | 403 => {
            return Err(UiError::BadInput(if creds.is_some() {
                format!(
                    "{url}: unauthorized: the token server {realm} refused the user and password"
                )
            } else {
                format!(
                    "{url}: unauthorized: the registry wants a user and password (its token server refused anonymous access)"
                )
            }));
        }
        s => {
            return Err(UiError::BadInput(format!(
                "token server {realm} answered {s}"
            )));
        }
    }
    let v: Value = resp
        .json()
        .await
        .map_err(|e| UiError::BadInput(format!("token server {realm}: {e}")))?;
    v["token"]
        .as_str()
        .or(v["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| UiError::BadInput(format!("token server {realm}: no token in its answer")))
}

/// Sends a request with the page's credentials; a Bearer challenge is
/// answered with a token from the registry's token server, then sent again.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    creds: &Option<(String, String)>,
) -> Result<reqwest::Response, UiError> {
    let request = || {
        http.request(method.clone(), url)
            .header(ACCEPT, MANIFEST_TYPES)
    };
    let failed = |e: reqwest::Error| UiError::BadInput(format!("{url}: {e}"));
    let resp = authed(request(), creds).send().await.map_err(failed)?;
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(resp);
    }
    let Some(challenge) = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_challenge)
    else {
        return Ok(resp);
    };
    let token = token(http, &challenge, creds, url).await?;
    request().bearer_auth(token).send().await.map_err(failed)
}

/// GET `url` as JSON; a registry's refusal comes back as its message.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    creds: &Option<(String, String)>,
) -> Result<(Value, Option<String>), UiError> {
    let resp = send(http, Method::GET, url, creds).await?;
    refused(&resp, url)?;
    let digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .bytes()
        .await
        .map_err(|e| UiError::BadInput(format!("{url}: {e}")))?;
    let v = serde_json::from_slice(&body).map_err(|e| UiError::BadInput(format!("{url}: {e}")))?;
    Ok((v, digest))
}

fn refused(resp: &reqwest::Response, url: &str) -> Result<(), UiError> {
    match resp.status().as_u16() {
        200..=299 => Ok(()),
        401 => Err(UiError::BadInput(format!(
            "{url}: unauthorized: the registry wants a user and password"
        ))),
        404 => Err(UiError::NotFound(format!("{url}: not found"))),
        s => Err(UiError::BadInput(format!(
            "{url}: the registry answered {s}"
        ))),
    }
}

pub async fn repositories(
    State(ui): State<Arc<Ui>>,
    Query(t): Query<Target>,
    headers: HeaderMap,
) -> Result<Json<Value>, UiError> {
    let url = format!("{}/v2/_catalog?n=1000", t.base(&ui)?);
    let (v, _) = get_json(&client()?, &url, &credentials(&headers)).await?;
    Ok(Json(json!({ "repositories": v["repositories"] })))
}

/// A repository's tags, each with its manifest's digest, type and size
/// (the config and layers it lists, as `docker images` would count them).
pub async fn tags(
    State(ui): State<Arc<Ui>>,
    Query(t): Query<Target>,
    headers: HeaderMap,
) -> Result<Json<Value>, UiError> {
    let base = format!("{}/v2/{}", t.base(&ui)?, t.repo()?);
    let http = client()?;
    let creds = credentials(&headers);
    let (list, _) = get_json(&http, &format!("{base}/tags/list"), &creds).await?;
    let names: Vec<String> = list["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let rows = futures_util::future::join_all(names.iter().map(|tag| {
        let (http, base, creds) = (&http, &base, &creds);
        async move {
            match get_json(http, &format!("{base}/manifests/{tag}"), creds).await {
                Ok((m, digest)) => json!({
                    "tag": tag,
                    "digest": digest,
                    "mediaType": m["mediaType"],
                    "size": size_of(&m),
                    "layers": m["layers"].as_array().map(Vec::len),
                }),
                Err(e) => json!({ "tag": tag, "error": e.to_string() }),
            }
        }
    }))
    .await;
    Ok(Json(json!({ "tags": rows })))
}

/// The bytes a manifest pulls: its config and layers, or for an index the
/// manifests it lists.
fn size_of(m: &Value) -> u64 {
    let sum = |k: &str| {
        m[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["size"].as_u64())
            .sum::<u64>()
    };
    m["config"]["size"].as_u64().unwrap_or(0) + sum("layers") + sum("manifests")
}

/// Deletes a manifest by digest: every tag naming it goes with it.
pub async fn delete(
    State(ui): State<Arc<Ui>>,
    Query(t): Query<Target>,
    headers: HeaderMap,
) -> Result<Json<Value>, UiError> {
    let ok = t
        .digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(UiError::BadInput(format!("invalid digest {:?}", t.digest)));
    }
    let url = format!("{}/v2/{}/manifests/{}", t.base(&ui)?, t.repo()?, t.digest);
    let resp = send(&client()?, Method::DELETE, &url, &credentials(&headers)).await?;
    refused(&resp, &url)?;
    Ok(Json(json!({ "deleted": t.digest })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registry_hosts_and_repository_paths_pass() {
        assert_eq!(registry_name(" 127.0.0.1:5000 ").unwrap(), "127.0.0.1:5000");
        assert!(registry_name("[::1]:5000").is_ok());
        for bad in [
            "",
            "host/path",
            "user@host",
            "host:5000?x=1",
            "host#frag",
            "a b",
        ] {
            assert!(registry_name(bad).is_err(), "{bad}");
        }
        assert!(repository_name("team/app").is_ok());
        for bad in ["", "../v2", "/abs", "Upper", "a?b", "a b"] {
            assert!(repository_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_challenges_are_read() {
        let c = bearer_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            [
                ("realm".to_string(), "http://127.0.0.1:1/token".to_string()),
                ("service".to_string(), "reg".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
        assert_eq!(
            bearer_challenge("bearer realm=x, service=y").unwrap(),
            [
                ("realm".to_string(), "x".to_string()),
                ("service".to_string(), "y".to_string())
            ]
        );
        assert!(bearer_challenge(r#"Basic realm="registry""#).is_none());
    }

    #[test]
    fn sizes_count_config_and_layers() {
        let m = json!({"config": {"size": 10}, "layers": [{"size": 100}, {"size": 5}]});
        assert_eq!(size_of(&m), 115);
        assert_eq!(size_of(&json!({"manifests": [{"size": 7}]})), 7);
        assert_eq!(size_of(&json!({})), 0);
    }
}
