//! Bearer-token auth in the shape of Docker's token spec: clients fetch a
//! token from an external token server (the realm named in the challenge)
//! and present it here. Tokens are JWTs, verified by `jsonwebtoken` with the
//! key in `--auth-token-key`: a secret shared with the token server (HS256),
//! or, as real token servers (distribution's, Harbor, GitLab) publish, PEM
//! public keys or certificates (RS256/ES256 and their siblings). The issuer,
//! audience (service), lifetime and the `access` claim are checked against
//! each request.

use crate::error::RegistryError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Clock skew tolerated on `exp`/`nbf`, as Docker's registry does.
const LEEWAY_SECS: u64 = 60;

/// Algorithms a shared secret verifies: only HS256, as before PEM keys.
const SECRET_ALGS: &[Algorithm] = &[Algorithm::HS256];
/// Algorithms an RSA public key verifies.
const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
/// Algorithms an EC public key verifies (P-256 and P-384).
const EC_ALGS: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];

#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The token server's URL, sent to clients in challenges.
    pub realm: String,
    /// This registry's name: the `service` of challenges, the tokens' `aud`.
    pub service: String,
    /// The token server's name: the tokens' `iss`.
    pub issuer: String,
    /// File holding the HS256 secret shared with the token server, or the
    /// token server's PEM public key(s) or certificate(s).
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
    keys: Vec<VerifyingKey>,
}

/// One key tokens may be signed under, with the algorithms it verifies
/// (jsonwebtoken also refuses an algorithm of another family than the key's,
/// so an HS256 token "signed" with a published public key is never taken).
struct VerifyingKey {
    key: DecodingKey,
    algorithms: &'static [Algorithm],
}

#[derive(Deserialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

/// The claims read after jsonwebtoken has checked iss, aud, exp and nbf.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    access: Vec<Access>,
}

impl TokenAuth {
    pub fn load(config: &TokenConfig) -> Result<Self, RegistryError> {
        crate::fsio::warn_if_exposed(&config.key_file, "token signing key");
        let keys = read_keys(&config.key_file)?;
        Ok(TokenAuth {
            realm: config.realm.clone(),
            service: config.service.clone(),
            issuer: config.issuer.clone(),
            keys,
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
        let alg = jsonwebtoken::decode_header(token).ok()?.alg;
        // A bundle may hold several keys (a rotation): any one that verifies
        // the token under an algorithm it allows is enough.
        self.keys
            .iter()
            .filter(|k| k.algorithms.contains(&alg))
            .find_map(|k| {
                jsonwebtoken::decode::<Claims>(token, &k.key, &self.validation(k.algorithms))
                    .ok()
                    .map(|data| data.claims)
            })
    }

    fn validation(&self, algorithms: &[Algorithm]) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.algorithms = algorithms.to_vec();
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.service]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v
    }
}

/// Reads `--auth-token-key`: a file with PEM blocks holds the token server's
/// public keys or certificates, anything else is a shared HS256 secret.
fn read_keys(path: &Path) -> Result<Vec<VerifyingKey>, RegistryError> {
    let raw = std::fs::read(path).map_err(|e| RegistryError::io(path, e))?;
    let bad = |message: String| RegistryError::TokenKey {
        path: path.to_path_buf(),
        message,
    };
    if raw.windows(PEM_MARK.len()).any(|w| w == PEM_MARK) {
        return read_pem_keys(&raw).map_err(bad);
    }
    // A trailing newline from `echo > key` is not part of the key.
    let secret = raw.trim_ascii_end();
    if secret.len() < 16 {
        return Err(bad(
            "the key must be a shared secret of at least 16 bytes, or PEM public keys or certificates"
                .into(),
        ));
    }
    Ok(vec![VerifyingKey {
        key: DecodingKey::from_secret(secret),
        algorithms: SECRET_ALGS,
    }])
}

const PEM_MARK: &[u8] = b"-----BEGIN ";

fn read_pem_keys(raw: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let blocks = pem::parse_many(raw).map_err(|e| format!("not valid PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("not valid PEM: no complete block".into());
    }
    blocks
        .iter()
        .map(|block| match block.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                // jsonwebtoken reads one block at a time, in PEM.
                let one = pem::encode(block);
                if let Ok(key) = DecodingKey::from_rsa_pem(one.as_bytes()) {
                    Ok(VerifyingKey {
                        key,
                        algorithms: RSA_ALGS,
                    })
                } else if let Ok(key) = DecodingKey::from_ec_pem(one.as_bytes()) {
                    Ok(VerifyingKey {
                        key,
                        algorithms: EC_ALGS,
                    })
                } else {
                    Err(format!(
                        "the {} block holds neither an RSA nor an EC (P-256/P-384) public key",
                        block.tag()
                    ))
                }
            }
            tag if tag.contains("PRIVATE KEY") => Err(format!(
                "a {tag} block: give the registry the token server's public key or certificate, not its private key"
            )),
            tag => Err(format!(
                "a {tag} block: expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    const SECRET: &[u8] = b"0123456789abcdef";

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn auth_with(keys: Vec<VerifyingKey>) -> TokenAuth {
        TokenAuth {
            realm: "http://127.0.0.1:1/token".into(),
            service: "reg".into(),
            issuer: "iss".into(),
            keys,
        }
    }

    fn auth() -> TokenAuth {
        auth_with(vec![VerifyingKey {
            key: DecodingKey::from_secret(SECRET),
            algorithms: SECRET_ALGS,
        }])
    }

    /// A token signed by jsonwebtoken, as a token server would sign it.
    fn mint(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap();
        format!("Bearer {token}")
    }

    fn hs256(key: &[u8], claims: serde_json::Value) -> String {
        mint(Algorithm::HS256, &EncodingKey::from_secret(key), claims)
    }

    /// An unsigned `alg: none` token, which no library will make.
    fn unsigned(claims: serde_json::Value) -> String {
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "Bearer {}.{}.",
            e(br#"{"alg":"none","typ":"JWT"}"#),
            e(claims.to_string().as_bytes())
        )
    }

    fn claims(exp: i64, actions: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "iss": "iss", "aud": "reg", "exp": exp,
            "access": [{"type": "repository", "name": "a/b", "actions": actions}],
        })
    }

    /// Key pairs made by `openssl`, as a token server's operator makes them:
    /// the private key in PKCS#8 PEM, the public key and a self-signed
    /// certificate for the registry.
    struct Pair {
        alg: Algorithm,
        private: Vec<u8>,
        public: PathBuf,
        cert: PathBuf,
    }

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    impl Pair {
        /// The token server's signing key.
        fn signer(&self) -> EncodingKey {
            match self.alg {
                Algorithm::RS256 => EncodingKey::from_rsa_pem(&self.private).unwrap(),
                _ => EncodingKey::from_ec_pem(&self.private).unwrap(),
            }
        }

        fn mint(&self, claims: serde_json::Value) -> String {
            mint(self.alg, &self.signer(), claims)
        }
    }

    /// An RS256 (RSA 2048) or ES256 (P-256) pair.
    fn pair(dir: &Path, name: &str, alg: Algorithm) -> Pair {
        let keygen: &[&str] = match alg {
            Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            _ => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        let key = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        let cert = dir.join(format!("{name}.crt"));
        let k = key.to_str().unwrap();
        let mut args = vec!["genpkey"];
        args.extend_from_slice(keygen);
        args.extend_from_slice(&["-out", k]);
        openssl(&args);
        openssl(&[
            "pkey",
            "-in",
            k,
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            k,
            "-subj",
            "/CN=token-server",
            "-days",
            "1",
            "-out",
            cert.to_str().unwrap(),
        ]);
        Pair {
            alg,
            private: std::fs::read(&key).unwrap(),
            public,
            cert,
        }
    }

    fn config(key_file: &Path) -> TokenConfig {
        TokenConfig {
            realm: "http://127.0.0.1:1/token".into(),
            service: "reg".into(),
            issuer: "iss".into(),
            key_file: key_file.to_path_buf(),
        }
    }

    fn load(key_file: &Path) -> TokenAuth {
        TokenAuth::load(&config(key_file)).unwrap()
    }

    fn load_error(key_file: &Path) -> String {
        match TokenAuth::load(&config(key_file)) {
            Ok(_) => panic!("{} was taken as a key", key_file.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn grants_only_what_the_token_says() {
        let a = auth();
        let pull = Scope::repository("a/b", &["pull"]);
        let push = Scope::repository("a/b", &["pull", "push"]);
        let other = Scope::repository("a/c", &["pull"]);
        let t = hs256(SECRET, claims(now() + 300, &["pull"]));
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
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let bad = [
            hs256(b"another-key-of-16b", claims(now() + 300, &["pull"])),
            hs256(SECRET, claims(now() - 3600, &["pull"])),
            unsigned(claims(now() + 300, &["pull"])),
            // alg none in the header over a real HS256 signature.
            {
                let t = hs256(SECRET, claims(now() + 300, &["pull"]));
                let (_, rest) = t.split_once('.').unwrap();
                format!("Bearer {}.{rest}", e(br#"{"alg":"none"}"#))
            },
            hs256(
                SECRET,
                serde_json::json!({"iss": "other", "aud": "reg", "exp": now() + 300}),
            ),
            hs256(
                SECRET,
                serde_json::json!({"iss": "iss", "aud": "elsewhere", "exp": now() + 300}),
            ),
            // No exp: a token that never expires is not taken.
            hs256(SECRET, serde_json::json!({"iss": "iss", "aud": "reg"})),
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
    fn audience_may_be_a_list_and_leeway_covers_skew() {
        let a = auth();
        let t = hs256(
            SECRET,
            serde_json::json!({"iss": "iss", "aud": ["x", "reg"], "exp": now() + 300}),
        );
        assert_eq!(a.check(Some(&t), None), Ok(()));
        // Expired 30 s ago: within the 60 s leeway Docker's registry allows.
        let t = hs256(SECRET, claims(now() - 30, &["pull"]));
        assert_eq!(a.check(Some(&t), None), Ok(()));
        // Not valid for another 10 minutes: refused.
        let t = hs256(
            SECRET,
            serde_json::json!({"iss": "iss", "aud": "reg", "exp": now() + 900, "nbf": now() + 600}),
        );
        assert_eq!(a.check(Some(&t), None), Err(Refusal::InvalidToken));
    }

    #[test]
    fn shared_secret_file_works_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token.key");
        std::fs::write(&file, b"0123456789abcdef\n").unwrap();
        let a = load(&file);
        let t = hs256(SECRET, claims(now() + 300, &["pull"]));
        assert_eq!(a.check(Some(&t), None), Ok(()));
        std::fs::write(&file, b"short\n").unwrap();
        assert!(load_error(&file).contains("at least 16 bytes"));
    }

    /// Checks a registry keyed with `key_file` takes tokens signed by
    /// `ours`, and refuses ones signed by `theirs`, unsigned, expired or for
    /// another audience.
    fn accepts_and_refuses(key_file: &Path, ours: &Pair, theirs: &Pair) {
        let a = load(key_file);
        let pull = Scope::repository("a/b", &["pull"]);
        let good = ours.mint(claims(now() + 300, &["pull"]));
        assert_eq!(a.check(Some(&good), Some(&pull)), Ok(()), "{:?}", ours.alg);
        assert_eq!(
            a.check(Some(&good), Some(&Scope::repository("a/b", &["push"]))),
            Err(Refusal::InsufficientScope)
        );
        let bad = [
            theirs.mint(claims(now() + 300, &["pull"])),
            unsigned(claims(now() + 300, &["pull"])),
            ours.mint(claims(now() - 3600, &["pull"])),
            ours.mint(
                serde_json::json!({"iss": "iss", "aud": "elsewhere", "exp": now() + 300,
                    "access": [{"type": "repository", "name": "a/b", "actions": ["pull"]}]}),
            ),
            // Key confusion: an HS256 token keyed with the published public
            // key, which anyone can make.
            hs256(
                &std::fs::read(key_file).unwrap(),
                claims(now() + 300, &["pull"]),
            ),
        ];
        for t in &bad {
            assert_eq!(
                a.check(Some(t), Some(&pull)),
                Err(Refusal::InvalidToken),
                "{:?} {t}",
                ours.alg
            );
        }
    }

    /// Both ways an operator hands the registry the token server's key.
    fn verifies_with_public_key_and_certificate(alg: Algorithm) {
        let dir = tempfile::tempdir().unwrap();
        let ours = pair(dir.path(), "ours", alg);
        let theirs = pair(dir.path(), "theirs", alg);
        accepts_and_refuses(&ours.public, &ours, &theirs);
        accepts_and_refuses(&ours.cert, &ours, &theirs);
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key_or_certificate() {
        verifies_with_public_key_and_certificate(Algorithm::RS256);
    }

    #[test]
    fn es256_tokens_verify_with_the_public_key_or_certificate() {
        verifies_with_public_key_and_certificate(Algorithm::ES256);
    }

    #[test]
    fn a_bundle_takes_tokens_from_each_of_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = pair(dir.path(), "rsa", Algorithm::RS256);
        let ec = pair(dir.path(), "ec", Algorithm::ES256);
        let bundle = dir.path().join("bundle.pem");
        let mut text = std::fs::read(&rsa.cert).unwrap();
        text.extend(std::fs::read(&ec.cert).unwrap());
        std::fs::write(&bundle, text).unwrap();
        let a = load(&bundle);
        for pair in [&rsa, &ec] {
            let t = pair.mint(claims(now() + 300, &["pull"]));
            assert_eq!(a.check(Some(&t), None), Ok(()), "{:?}", pair.alg);
        }
    }

    #[test]
    fn pem_files_that_hold_no_public_key_fail_at_startup() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = pair(dir.path(), "rsa", Algorithm::RS256);
        let private = dir.path().join("private.pem");
        std::fs::write(&private, &rsa.private).unwrap();
        let e = load_error(&private);
        assert!(
            e.contains("PRIVATE KEY") && e.contains("not its private key"),
            "{e}"
        );

        let cases = [
            (
                "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
                "neither an RSA nor an EC",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n",
                "not valid PEM",
            ),
            (
                "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEga2V5\n-----END CERTIFICATE REQUEST-----\n",
                "expected PUBLIC KEY",
            ),
        ];
        let file = dir.path().join("key.pem");
        for (text, why) in cases {
            std::fs::write(&file, text).unwrap();
            let e = load_error(&file);
            assert!(e.starts_with("token key ") && e.contains(why), "{e}");
        }
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
