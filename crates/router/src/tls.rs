//! TLS for the router: a certificate per host name chosen by SNI, from a
//! [`CertSource`]. [`CertDir`] reads `DIR/<host>.crt` + `DIR/<host>.key`
//! (PEM; `_wildcard.example.test.*` serves `*.example.test`, `_default.*`
//! clients without SNI or naming a host without one) and reloads them when
//! their files change. An ACME client would be another
//! `CertSource`, answering from the certificates it obtained.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Where the TLS listener finds a host's certificate.
pub trait CertSource: Send + Sync + std::fmt::Debug {
    /// The certificate for `server_name` (lowercase SNI; none when the
    /// client sent no SNI); none refuses the handshake.
    fn certified_key(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>>;
}

/// Size and mtime of each file, to notice changes without reading them.
type Stamps = BTreeMap<PathBuf, (SystemTime, u64)>;

#[derive(Debug, Default)]
struct Loaded {
    stamps: Stamps,
    keys: HashMap<String, Arc<CertifiedKey>>,
}

/// The certificates of a directory, per host name.
#[derive(Debug)]
pub struct CertDir {
    dir: PathBuf,
    loaded: RwLock<Loaded>,
}

const WILDCARD_PREFIX: &str = "_wildcard.";
/// The key under which `_default.crt` is kept.
const DEFAULT: &str = "_default";

impl CertDir {
    /// Reads the directory now: a missing one stops the daemon's start; a
    /// bad pair is skipped with a warning (its host gets no TLS).
    pub fn open(dir: &Path) -> Result<Arc<CertDir>, TlsError> {
        if !dir.is_dir() {
            return Err(file_err(dir, "not a directory"));
        }
        let d = Arc::new(CertDir {
            dir: dir.to_path_buf(),
            loaded: RwLock::new(Loaded::default()),
        });
        d.reload_if_changed();
        Ok(d)
    }

    /// The host names served, sorted.
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self.loaded.read().keys.keys().cloned().collect();
        h.sort();
        h
    }

    fn stamps(&self) -> Stamps {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Stamps::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                let ext = path.extension()?.to_str()?;
                if !matches!(ext, "crt" | "key") {
                    return None;
                }
                // Through symlinks: certbot-style links switch targets.
                let m = std::fs::metadata(&path).ok()?;
                Some((path, (m.modified().ok()?, m.len())))
            })
            .collect()
    }

    /// Reloads every pair when a file was added, removed or changed; true
    /// when it did. A pair that no longer loads keeps its previous
    /// certificate (a half-written renewal must not take the host down).
    pub fn reload_if_changed(&self) -> bool {
        let stamps = self.stamps();
        if stamps == self.loaded.read().stamps {
            return false;
        }
        let previous = self.loaded.read().keys.clone();
        let mut keys = HashMap::new();
        for crt in stamps
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        {
            let Some(stem) = crt.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let host = match stem.strip_prefix(WILDCARD_PREFIX) {
                Some(rest) => format!("*.{rest}"),
                None => stem.to_string(),
            }
            .to_ascii_lowercase();
            match load_pair(crt, &crt.with_extension("key")) {
                Ok(k) => {
                    keys.insert(host, Arc::new(k));
                }
                Err(e) => {
                    tracing::warn!("router TLS: {e}");
                    if let Some(old) = previous.get(&host) {
                        keys.insert(host, old.clone());
                    }
                }
            }
        }
        let mut hosts: Vec<&String> = keys.keys().collect();
        hosts.sort();
        tracing::info!(
            "router TLS: certificates for {hosts:?} from {}",
            self.dir.display()
        );
        *self.loaded.write() = Loaded { stamps, keys };
        true
    }

    /// Polls the directory every second until the daemon stops.
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let d = self.clone();
            let _ = tokio::task::spawn_blocking(move || d.reload_if_changed()).await;
        }
    }
}

impl CertSource for CertDir {
    fn certified_key(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.loaded.read();
        let exact = server_name.and_then(|name| {
            loaded.keys.get(name).cloned().or_else(|| {
                let (_, parent) = name.split_once('.')?;
                loaded.keys.get(&format!("*.{parent}")).cloned()
            })
        });
        exact.or_else(|| loaded.keys.get(DEFAULT).cloned())
    }
}

fn load_pair(crt: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(crt)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_err(crt, e))?;
    if chain.is_empty() {
        return Err(file_err(crt, "no PEM certificate in it"));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| file_err(key, e))?;
    Ok(CertifiedKey::new(chain, signer))
}

#[derive(Debug)]
struct BySni(Arc<dyn CertSource>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        self.0.certified_key(name.as_deref())
    }
}

/// A TLS acceptor choosing certificates from `source`, offering h2 and
/// HTTP/1.1 by ALPN.
pub fn acceptor(source: Arc<dyn CertSource>) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(source)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, file_stem: &str, san: &str) -> Vec<u8> {
        let ck = rcgen::generate_simple_self_signed(vec![san.to_string()]).unwrap();
        std::fs::write(dir.join(format!("{file_stem}.crt")), ck.cert.pem()).unwrap();
        std::fs::write(
            dir.join(format!("{file_stem}.key")),
            ck.key_pair.serialize_pem(),
        )
        .unwrap();
        ck.cert.der().to_vec()
    }

    fn served(d: &CertDir, name: &str) -> Option<Vec<u8>> {
        d.certified_key(Some(name)).map(|k| k.cert[0].to_vec())
    }

    #[test]
    fn per_host_wildcard_and_reload_on_change() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_pair(tmp.path(), "a.test", "a.test");
        let w = write_pair(tmp.path(), "_wildcard.w.test", "*.w.test");
        let d = CertDir::open(tmp.path()).unwrap();
        assert_eq!(d.hosts(), ["*.w.test", "a.test"]);
        assert_eq!(served(&d, "a.test"), Some(a));
        assert_eq!(served(&d, "x.w.test"), Some(w));
        assert_eq!(served(&d, "b.test"), None);
        assert!(!d.reload_if_changed(), "nothing changed");
        // A renewal; mtimes have a granularity, so it lands a second later.
        std::thread::sleep(Duration::from_millis(1100));
        let a2 = write_pair(tmp.path(), "a.test", "a.test");
        assert!(d.reload_if_changed());
        assert_eq!(served(&d, "a.test"), Some(a2));
        // A broken rewrite keeps the last good certificate.
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::write(tmp.path().join("a.test.key"), "garbage").unwrap();
        assert!(d.reload_if_changed());
        assert!(served(&d, "a.test").is_some());
        std::fs::remove_file(tmp.path().join("a.test.crt")).unwrap();
        assert!(d.reload_if_changed());
        assert_eq!(served(&d, "a.test"), None);
    }

    #[test]
    fn a_default_pair_serves_clients_without_sni_or_a_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_pair(tmp.path(), "a.test", "a.test");
        let fallback = write_pair(tmp.path(), "_default", "fallback.test");
        let d = CertDir::open(tmp.path()).unwrap();
        assert_eq!(served(&d, "a.test"), Some(a));
        assert_eq!(served(&d, "other.test"), Some(fallback.clone()));
        let no_sni = d.certified_key(None).map(|k| k.cert[0].to_vec());
        assert_eq!(no_sni, Some(fallback));
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let e = CertDir::open(Path::new("/nonexistent/certs")).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
