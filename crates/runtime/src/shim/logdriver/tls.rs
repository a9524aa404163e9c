//! TLS for log drivers' streams (syslog's `tcp+tls`), from the files the
//! driver's `*-tls-*` options name, as Docker's `tlsconfig.Client`: the CA
//! to trust (the system's when none is given), a client certificate and
//! key when the server asks for one, and skip-verify.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde::{Deserialize, Serialize};

/// Debian's (and most distributions') bundle of trusted CAs.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub skip_verify: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("Could not read CA certificate {path:?}: {source}")]
    ReadCa {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("failed to append certificates from PEM file: {0:?}")]
    NoCa(PathBuf),
    #[error("Could not load X509 key pair: {0}")]
    KeyPair(String),
    #[error("invalid server name {0:?}")]
    ServerName(String),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

impl From<TlsError> for std::io::Error {
    fn from(e: TlsError) -> Self {
        std::io::Error::other(e)
    }
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|source| TlsError::ReadCa {
        path: path.to_path_buf(),
        source,
    })?;
    for cert in certs.flatten() {
        let _ = store.add(cert);
    }
    if store.is_empty() {
        return Err(TlsError::NoCa(path.to_path_buf()));
    }
    Ok(store)
}

/// The client side the files ask for.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if files.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let ca = files.ca_cert.as_deref().unwrap_or(Path::new(SYSTEM_CAS));
        builder.with_root_certificates(roots(ca)?)
    };
    let config = match (&files.cert, &files.key) {
        (None, None) => builder.with_no_client_auth(),
        (cert, key) => {
            let path = |p: &Option<PathBuf>| p.clone().unwrap_or_default();
            let (cert, key) = (path(cert), path(key));
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| TlsError::KeyPair(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| TlsError::KeyPair(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::KeyPair(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// TLS over `tcp` to `host` (a name or an address, checked against the
/// server's certificate), the handshake done before it returns so that a
/// certificate problem shows here rather than as a failed write later.
pub fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    mut tcp: TcpStream,
) -> std::io::Result<TlsStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name =
        ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(host.into()))?;
    let mut conn = ClientConnection::new(config, name).map_err(TlsError::from)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Sends `data` whole over `s`.
pub fn write_all(s: &mut TlsStream, data: &[u8]) -> std::io::Result<()> {
    s.write_all(data)?;
    s.flush()
}

/// `syslog-tls-skip-verify`: any certificate is taken, its signatures
/// still checked so the handshake itself stays sound.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
