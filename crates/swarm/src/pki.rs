//! The cluster's public-key infrastructure, shaped as swarmkit's so the docker
//! CLI's tokens and `TLSInfo` read the same: a root CA (ECDSA P-256, CN
//! `swarm-ca`), node certificates whose subject carries the node's identity
//! (CN = node id, OU = role, O = cluster id), and join tokens
//! `SWMTKN-1-<base36 sha256 of the CA's PEM>-<base36 secret>` that let a
//! joining node pin the CA before it trusts anything the manager says.

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

/// Why a certificate or token could not be made or accepted.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("invalid join token")]
    InvalidToken,
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("invalid certificate: {0}")]
    Parse(String),
}

pub type Result<T> = std::result::Result<T, PkiError>;

/// A node's role as its certificate's OU names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manager,
    Worker,
}

impl Role {
    fn ou(self) -> &'static str {
        match self {
            Role::Manager => "swarm-manager",
            Role::Worker => "swarm-worker",
        }
    }

    fn from_ou(ou: &str) -> Option<Role> {
        match ou {
            "swarm-manager" => Some(Role::Manager),
            "swarm-worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

/// The server name every manager's certificate answers to: a node dials
/// "a manager", not a host name, as swarmkit's agents do.
pub const MANAGER_SERVER_NAME: &str = "swarm-manager";

const CA_VALIDITY_DAYS: i64 = 20 * 365;
const ID_LEN: usize = 25;
const DIGEST_LEN: usize = 50;

/// The root CA: its certificate is public, its key stays with the managers.
pub struct ClusterCa {
    cert_pem: String,
    key_pem: String,
}

impl ClusterCa {
    pub fn generate() -> Result<ClusterCa> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&[(DnType::CommonName, "swarm-ca")]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let (not_before, not_after) = validity(time::Duration::days(CA_VALIDITY_DAYS));
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa> {
        // Both must parse now, not at the first join.
        KeyPair::from_pem(key_pem)?;
        parse_cert(cert_pem)?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Signs the public key of `csr_pem` for `node_id`. The subject comes
    /// from the manager, never from the request: a node cannot ask for a role.
    pub fn issue(
        &self,
        csr_pem: &str,
        node_id: &str,
        role: Role,
        cluster_id: &str,
        valid_for: std::time::Duration,
    ) -> Result<String> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, key)?;
        let mut params = CertificateParams::new(vec![role.ou().to_string(), node_id.to_string()])?;
        params.distinguished_name = dn(&[
            (DnType::CommonName, node_id),
            (DnType::OrganizationalUnitName, role.ou()),
            (DnType::OrganizationName, cluster_id),
        ]);
        let valid_for = time::Duration::try_from(valid_for)
            .map_err(|e| PkiError::Parse(format!("certificate validity: {e}")))?;
        leaf(&mut params, valid_for);
        Ok(params.signed_by(&csr.public_key, &issuer)?.pem())
    }

    /// A certificate for a service the managers run (their etcd members),
    /// valid for `hosts` (IP addresses or names) as server and as client,
    /// with a new key: (certificate PEM, key PEM).
    pub fn issue_server(&self, hosts: &[String]) -> Result<(String, String)> {
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, KeyPair::from_pem(&self.key_pem)?)?;
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params.distinguished_name = dn(&[(DnType::CommonName, "swarm-store")]);
        leaf(&mut params, time::Duration::days(CA_VALIDITY_DAYS));
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// `TLSInfo` of `GET /swarm` and of nodes: the trust root and the
    /// issuer's subject and public key (base64 DER), as dockerd reports them.
    pub fn tls_info(&self) -> Result<TlsInfo> {
        let der = parse_pem(&self.cert_pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| PkiError::Parse(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(TlsInfo {
            trust_root: self.cert_pem.clone(),
            cert_issuer_subject: b64.encode(cert.tbs_certificate.subject.as_raw()),
            cert_issuer_public_key: b64.encode(cert.tbs_certificate.subject_pki.raw),
        })
    }
}

/// The `TLSInfo` object of the swarm API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsInfo {
    pub trust_root: String,
    pub cert_issuer_subject: String,
    pub cert_issuer_public_key: String,
}

/// A node's new key and the request a manager signs.
pub struct NodeKey {
    pub key_pem: String,
    pub csr_pem: String,
}

impl NodeKey {
    pub fn generate() -> Result<NodeKey> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&[(DnType::CommonName, "swarm-node")]);
        let csr = params.serialize_request(&key)?;
        Ok(NodeKey {
            key_pem: key.serialize_pem(),
            csr_pem: csr.pem()?,
        })
    }
}

/// Who a certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub node_id: String,
    pub role: Role,
    pub cluster_id: String,
}

/// The identity in a node certificate (DER, as a TLS peer presents it). The
/// caller has already verified the chain; this only reads the subject.
pub fn identity(cert_der: &[u8]) -> Result<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| PkiError::Parse(e.to_string()))?;
    let subject = cert.subject();
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
    };
    let node_id = first(&mut subject.iter_common_name());
    let ou = first(&mut subject.iter_organizational_unit());
    let cluster_id = first(&mut subject.iter_organization());
    match (node_id, ou.as_deref().and_then(Role::from_ou), cluster_id) {
        (Some(node_id), Some(role), Some(cluster_id)) => Ok(Identity {
            node_id,
            role,
            cluster_id,
        }),
        _ => Err(PkiError::Parse(
            "not a node certificate (CN, OU and O name the node, role and cluster)".into(),
        )),
    }
}

/// A join token: the CA it pins and the secret that grants a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    ca_digest: String,
    secret: String,
}

impl JoinToken {
    /// A new token for the CA whose certificate is `ca_pem`.
    pub fn generate(ca_pem: &str) -> JoinToken {
        JoinToken {
            ca_digest: ca_digest(ca_pem),
            secret: base36(&rand::random::<[u8; 16]>(), ID_LEN),
        }
    }

    /// Checks the shape only; whether it grants anything is the manager's call.
    pub fn parse(token: &str) -> Result<JoinToken> {
        let parts: Vec<&str> = token.split('-').collect();
        let base36_only = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        match parts[..] {
            ["SWMTKN", "1", digest, secret]
                if digest.len() == DIGEST_LEN
                    && secret.len() == ID_LEN
                    && base36_only(digest)
                    && base36_only(secret) =>
            {
                Ok(JoinToken {
                    ca_digest: digest.to_string(),
                    secret: secret.to_string(),
                })
            }
            _ => Err(PkiError::InvalidToken),
        }
    }

    /// Whether `ca_pem` is the CA this token was made for: what a joining
    /// node checks before it sends its secret anywhere.
    pub fn pins(&self, ca_pem: &str) -> bool {
        ca_digest(ca_pem) == self.ca_digest
    }

    /// Compares secrets in constant time (hashes of both, so the length of
    /// a guess leaks nothing either).
    pub fn same_secret(&self, other: &JoinToken) -> bool {
        let a = Sha256::digest(self.secret.as_bytes());
        let b = Sha256::digest(other.secret.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SWMTKN-1-{}-{}", self.ca_digest, self.secret)
    }
}

/// A cluster object id as swarmkit makes them: 128 random bits in base 36,
/// 25 characters.
pub fn new_id() -> String {
    base36(&rand::random::<[u8; 16]>(), ID_LEN)
}

fn ca_digest(ca_pem: &str) -> String {
    base36(&Sha256::digest(ca_pem.as_bytes()), DIGEST_LEN)
}

/// `bytes` as a big-endian number in base 36, left-padded with zeros.
fn base36(bytes: &[u8], width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = bytes.to_vec();
    let mut out = Vec::new();
    while n.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 36) as u8;
            rem = cur % 36;
        }
        out.push(DIGITS[rem as usize]);
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

/// Every certificate the CA signs serves both ends of mutual TLS.
fn leaf(params: &mut CertificateParams, valid_for: time::Duration) {
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let (not_before, not_after) = validity(valid_for);
    params.not_before = not_before;
    params.not_after = not_after;
}

/// Backdated a little so a peer whose clock is slightly behind accepts it.
fn validity(valid_for: time::Duration) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (now - time::Duration::hours(1), now + valid_for)
}

fn parse_pem(pem: &str) -> Result<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| PkiError::Parse(e.to_string()))?;
    Ok(parsed.contents)
}

fn parse_cert(pem: &str) -> Result<()> {
    let der = parse_pem(pem)?;
    x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Parse(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_pads_and_matches_known_values() {
        assert_eq!(base36(&[0], 3), "000");
        assert_eq!(base36(&[35], 1), "z");
        assert_eq!(base36(&[1, 0], 1), "74"); // 256 = 7*36 + 4
        assert_eq!(base36(&[0xff; 16], 25).len(), 25);
        assert_eq!(base36(&[0xff; 32], 50).len(), 50);
    }

    #[test]
    fn ids_are_25_base36_characters_and_differ() {
        let a = new_id();
        assert_eq!(a.len(), 25);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_ne!(a, new_id());
    }

    #[test]
    fn a_token_pins_its_ca_and_round_trips() {
        let ca = ClusterCa::generate().unwrap();
        let other = ClusterCa::generate().unwrap();
        let token = JoinToken::generate(ca.cert_pem());
        let text = token.to_string();
        assert!(text.starts_with("SWMTKN-1-"));
        assert_eq!(text.len(), "SWMTKN-1-".len() + 50 + 1 + 25);
        let parsed = JoinToken::parse(&text).unwrap();
        assert_eq!(parsed, token);
        assert!(parsed.pins(ca.cert_pem()));
        assert!(!parsed.pins(other.cert_pem()));
        assert!(parsed.same_secret(&token));
        assert!(!parsed.same_secret(&JoinToken::generate(ca.cert_pem())));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = JoinToken::generate(ClusterCa::generate().unwrap().cert_pem()).to_string();
        for bad in [
            "",
            "SWMTKN-1",
            &good.replace("SWMTKN-1", "SWMTKN-2"),
            &good.replace("SWMTKN", "XWMTKN"),
            &good[..good.len() - 1],
            &format!("{good}-x"),
            &good.to_uppercase(),
        ] {
            assert!(
                matches!(JoinToken::parse(bad), Err(PkiError::InvalidToken)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn issued_certificates_carry_the_identity_the_manager_chose() {
        let ca = ClusterCa::generate().unwrap();
        let node = NodeKey::generate().unwrap();
        let cert = ca
            .issue(
                &node.csr_pem,
                "node1",
                Role::Worker,
                "cluster1",
                std::time::Duration::from_secs(3600),
            )
            .unwrap();
        let id = identity(&parse_pem(&cert).unwrap()).unwrap();
        assert_eq!(
            id,
            Identity {
                node_id: "node1".into(),
                role: Role::Worker,
                cluster_id: "cluster1".into()
            }
        );
        // A CA's own certificate is not a node certificate.
        assert!(identity(&parse_pem(ca.cert_pem()).unwrap()).is_err());
    }

    #[test]
    fn tls_info_describes_the_root() {
        let ca = ClusterCa::generate().unwrap();
        let info = ca.tls_info().unwrap();
        assert_eq!(info.trust_root, ca.cert_pem());
        let b64 = base64::engine::general_purpose::STANDARD;
        let subject = b64.decode(&info.cert_issuer_subject).unwrap();
        // DER of "CN=swarm-ca" ends with the name itself.
        assert!(subject.ends_with(b"swarm-ca"));
        assert!(!b64.decode(&info.cert_issuer_public_key).unwrap().is_empty());
        let again = ClusterCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.tls_info().unwrap(), info);
        assert!(ClusterCa::from_pem("junk", ca.key_pem()).is_err());
    }

    #[test]
    fn a_garbage_request_is_an_error_not_a_certificate() {
        let ca = ClusterCa::generate().unwrap();
        assert!(
            ca.issue(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "n",
                Role::Manager,
                "c",
                std::time::Duration::from_secs(60)
            )
            .is_err()
        );
    }
}
