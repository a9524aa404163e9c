//! Bearer-token auth in the shape of Docker's token spec: clients fetch a
//! token from an external token server (the realm named in the challenge)
//! and present it here. Tokens are JWTs signed with HS256 under a key this
//! registry shares with its token server; the issuer, audience (service),
//! lifetime and the `access` claim are checked against each request.

use crate::error::RegistryError;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Clock skew tolerated on `exp`/`nbf`, as Docker's registry does.
const LEEWAY_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The token server's URL, sent to clients in challenges.
    pub realm: String,
    /// This registry's name: the `service` of challenges, the tokens' `aud`.
    pub service: String,
    /// The token server's name: the tokens' `iss`.
    pub issuer: String,
    /// File holding the HS256 key shared with the token server.
    pub key_file: PathBuf,
}

/// What a request needs: `repository:NAME:pull,push` or `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: &'static str,
    pub name: String,
    pub actions: Vec<&'static str>,
}

impl Scope {
    pub fn repository(name: &str, actions: &[&'static str]) -> Self {
        Scope {
            kind: "repository",
            name: name.to_string(),
            actions: actions.to_vec(),
        }
    }

    fn render(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one that is forged, expired or not for this registry.
    InvalidToken,
    /// A valid token that does not grant the scope.
    InsufficientScope,
}

pub struct TokenAuth {
    realm: String,
    service: String,
    issuer: String,
    key: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    access: Vec<Access>,
}

fn b64(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenAuth {
    pub fn load(config: &TokenConfig) -> Result<Self, RegistryError> {
        crate::fsio::warn_if_exposed(&config.key_file, "token signing key");
        let key = read_key(&config.key_file)?;
        Ok(TokenAuth {
            realm: config.realm.clone(),
            service: config.service.clone(),
            issuer: config.issuer.clone(),
            key,
        })
    }

    /// The `WWW-Authenticate` value sending a client to the token server.
    pub fn challenge(&self, scope: Option<&Scope>, refusal: Refusal) -> String {
        let mut c = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm, self.service
        );
        if let Some(s) = scope {
            c.push_str(&format!(",scope=\"{}\"", s.render()));
        }
        if refusal == Refusal::InsufficientScope {
            c.push_str(",error=\"insufficient_scope\"");
        }
        c
    }

    /// Checks an `Authorization` header against `scope` (`None`: any valid
    /// token, as for the `/v2/` ping).
    pub fn check(&self, authorization: Option<&str>, scope: Option<&Scope>) -> Result<(), Refusal> {
        let claims = self.verify(authorization).ok_or(Refusal::InvalidToken)?;
        let Some(scope) = scope else { return Ok(()) };
        let granted = |action: &str| {
            claims.access.iter().any(|a| {
                a.kind == scope.kind
                    && a.name == scope.name
                    && a.actions.iter().any(|x| x == action || x == "*")
            })
        };
        if scope.actions.iter().all(|a| granted(a)) {
            Ok(())
        } else {
            Err(Refusal::InsufficientScope)
        }
    }

    fn verify(&self, authorization: Option<&str>) -> Option<Claims> {
        let (scheme, token) = authorization?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        let header: Header = serde_json::from_slice(&b64(header)?).ok()?;
        if header.alg != "HS256" {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(signed.as_bytes());
        mac.verify_slice(&b64(signature)?).ok()?;
        let claims: Claims = serde_json::from_slice(&b64(payload)?).ok()?;
        let aud_ok = match &claims.aud {
            Audience::One(a) => *a == self.service,
            Audience::Many(v) => v.contains(&self.service),
        };
        let t = now();
        let live = claims.exp + LEEWAY_SECS > t && claims.nbf.is_none_or(|n| n - LEEWAY_SECS <= t);
        (claims.iss == self.issuer && aud_ok && live).then_some(claims)
    }
}

fn read_key(path: &Path) -> Result<Vec<u8>, RegistryError> {
    let raw = std::fs::read(path).map_err(|e| RegistryError::io(path, e))?;
    // A trailing newline from `echo > key` is not part of the key.
    let key = raw.trim_ascii_end().to_vec();
    if key.len() < 16 {
        return Err(RegistryError::TokenKey {
            path: path.to_path_buf(),
            message: "the key must be at least 16 bytes".into(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> TokenAuth {
        TokenAuth {
            realm: "http://127.0.0.1:1/token".into(),
            service: "reg".into(),
            issuer: "iss".into(),
            key: b"0123456789abcdef".to_vec(),
        }
    }

    fn mint(key: &[u8], header: &str, claims: serde_json::Value) -> String {
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let signed = format!(
            "{}.{}",
            e(header.as_bytes()),
            e(claims.to_string().as_bytes())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(signed.as_bytes());
        format!("Bearer {signed}.{}", e(&mac.finalize().into_bytes()))
    }

    fn claims(exp: i64, actions: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "iss": "iss", "aud": "reg", "exp": exp,
            "access": [{"type": "repository", "name": "a/b", "actions": actions}],
        })
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn grants_only_what_the_token_says() {
        let a = auth();
        let pull = Scope::repository("a/b", &["pull"]);
        let push = Scope::repository("a/b", &["pull", "push"]);
        let other = Scope::repository("a/c", &["pull"]);
        let t = mint(&a.key, HS256, claims(now() + 300, &["pull"]));
        assert_eq!(a.check(Some(&t), None), Ok(()));
        assert_eq!(a.check(Some(&t), Some(&pull)), Ok(()));
        assert_eq!(
            a.check(Some(&t), Some(&push)),
            Err(Refusal::InsufficientScope)
        );
        assert_eq!(
            a.check(Some(&t), Some(&other)),
            Err(Refusal::InsufficientScope)
        );
    }

    #[test]
    fn refuses_forged_expired_and_foreign_tokens() {
        let a = auth();
        let pull = Scope::repository("a/b", &["pull"]);
        let bad = [
            mint(b"another-key-of-16b", HS256, claims(now() + 300, &["pull"])),
            mint(&a.key, HS256, claims(now() - 3600, &["pull"])),
            mint(&a.key, r#"{"alg":"none"}"#, claims(now() + 300, &["pull"])),
            mint(
                &a.key,
                HS256,
                serde_json::json!({"iss": "other", "aud": "reg", "exp": now() + 300}),
            ),
            "Bearer not.a.token".into(),
            "Basic dTpw".into(),
        ];
        for t in &bad {
            assert_eq!(
                a.check(Some(t), Some(&pull)),
                Err(Refusal::InvalidToken),
                "{t}"
            );
        }
        assert_eq!(a.check(None, None), Err(Refusal::InvalidToken));
    }

    #[test]
    fn challenge_names_realm_service_and_scope() {
        let a = auth();
        let s = Scope::repository("a/b", &["pull", "push"]);
        assert_eq!(
            a.challenge(Some(&s), Refusal::InsufficientScope),
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope""#
        );
    }
}
