//! rustls configurations for the cluster port (2377): managers serve with
//! their node certificate and ask for, but do not demand, a client
//! certificate (a node that joins has none yet; the handlers decide what
//! an anonymous peer may do); nodes dial "swarm-manager" and trust only the
//! cluster's root.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A TLS configuration that could not be built from the given PEM.
#[derive(Debug, thiserror::Error)]
#[error("cluster TLS: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// What a node holds after it joined: the root it trusts and its own
/// certificate and key.
#[derive(Clone)]
pub struct NodeCredentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The key never reaches a log line.
impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    if roots.is_empty() {
        return Err(TlsError("no CA certificate".into()));
    }
    Ok(roots)
}

fn chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(err)
}

/// A manager's server side.
pub fn server_config(creds: &NodeCredentials) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&creds.ca_pem)?), provider())
            .allow_unauthenticated()
            .build()
            .map_err(err)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain(&creds.cert_pem)?, key(&creds.key_pem)?)
        .map_err(err)?;
    Ok(Arc::new(config))
}

/// A node's client side: presents its certificate, trusts only the root.
pub fn client_config(creds: &NodeCredentials) -> Result<rustls::ClientConfig, TlsError> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots(&creds.ca_pem)?)
        .with_client_auth_cert(chain(&creds.cert_pem)?, key(&creds.key_pem)?)
        .map_err(err)
}

/// A joining node that has pinned the root (by the token's digest) but has
/// no certificate of its own yet.
pub fn join_config(ca_pem: &str) -> Result<rustls::ClientConfig, TlsError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth())
}

/// Only for fetching the root before the node trusts anything: whatever
/// it returns is checked against the join token's digest, and the join
/// itself runs over [`join_config`] with that root. This is swarmkit's
/// bootstrap too (the token is the trust anchor, not the first connection).
pub fn bootstrap_config() -> Result<rustls::ClientConfig, TlsError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .dangerous()
        .with_custom_certificate_verifier(accept_any_server())
        .with_no_client_auth())
}

/// A verifier that takes any server certificate (the handshake's signatures
/// are still checked): the bootstrap above, and API clients told not to
/// verify the daemon (`docker --tls` without `--tlsverify`).
pub fn accept_any_server() -> Arc<dyn ServerCertVerifier> {
    Arc::new(AcceptAnyServer(provider()))
}

#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name every manager certificate carries.
pub fn manager_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from(crate::pki::MANAGER_SERVER_NAME)
            .expect("a valid DNS name literal")
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{ClusterCa, NodeKey, Role, identity};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    fn node(ca: &ClusterCa, id: &str, role: Role) -> NodeCredentials {
        let key = NodeKey::generate().unwrap();
        let cert = ca
            .issue(
                &key.csr_pem,
                id,
                role,
                "c1",
                std::time::Duration::from_secs(600),
            )
            .unwrap();
        NodeCredentials {
            ca_pem: ca.cert_pem().to_string(),
            cert_pem: cert,
            key_pem: key.key_pem,
        }
    }

    /// One handshake and one byte each way; the server's view of the peer.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: rustls::ClientConfig,
    ) -> Result<Option<crate::pki::Identity>, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TlsAcceptor::from(server)
                .accept(tcp)
                .await
                .map_err(|e| e.to_string())?;
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| identity(c).unwrap());
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            tls.write_all(&b).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(peer)
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let client = async {
            let mut tls = TlsConnector::from(Arc::new(client))
                .connect(manager_name(), tcp)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"x").await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        };
        let (c, s) = tokio::join!(client, accept);
        let s = s.unwrap();
        c?;
        s
    }

    #[tokio::test]
    async fn nodes_of_one_cluster_authenticate_each_other() {
        let ca = ClusterCa::generate().unwrap();
        let manager = node(&ca, "m1", Role::Manager);
        let worker = node(&ca, "w1", Role::Worker);
        let peer = handshake(
            server_config(&manager).unwrap(),
            client_config(&worker).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(peer.node_id, "w1");
        assert_eq!(peer.role, Role::Worker);
    }

    #[tokio::test]
    async fn a_joining_node_is_anonymous_and_a_stranger_is_refused() {
        let ca = ClusterCa::generate().unwrap();
        let manager = node(&ca, "m1", Role::Manager);
        let server = server_config(&manager).unwrap();
        let anonymous = handshake(server.clone(), join_config(ca.cert_pem()).unwrap())
            .await
            .unwrap();
        assert_eq!(anonymous, None);

        let other = ClusterCa::generate().unwrap();
        // A client certificate from another cluster's CA.
        let stranger = node(&other, "x", Role::Manager);
        // It trusts this cluster's root, so only the server can refuse it.
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(ca.cert_pem()).unwrap())
            .with_client_auth_cert(
                chain(&stranger.cert_pem).unwrap(),
                key(&stranger.key_pem).unwrap(),
            )
            .unwrap();
        assert!(handshake(server.clone(), config).await.is_err());

        // A node that trusts another root refuses this manager.
        let wrong_root = join_config(other.cert_pem()).unwrap();
        assert!(handshake(server.clone(), wrong_root).await.is_err());

        // The bootstrap connection accepts the manager whatever its root.
        assert_eq!(
            handshake(server, bootstrap_config().unwrap())
                .await
                .unwrap(),
            None
        );
    }
}
