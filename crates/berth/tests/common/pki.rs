//! Test certificates (rcgen): a CA signing the daemon's and clients'
//! certificates, an expired client certificate, one from another CA.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Certificates a test makes: a CA that signs the daemon's and the
/// client's, a client certificate that expired, and a client certificate
/// from another CA.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// A CA: its PEM and the issuer that signs with it. The issuer keeps the
/// CA's own parameters, so the leaves' authority key id matches the CA's
/// subject key id (OpenSSL, hence docker-py, looks the issuer up by it).
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("test certificate");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("test certificate");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = p.self_signed(&key).expect("test certificate").pem();
    (pem, Issuer::new(p, key))
}

fn leaf(issuer: &Issuer<'static, KeyPair>, server: bool, expired: bool) -> (String, String) {
    let key = KeyPair::generate().expect("test certificate");
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("test certificate");
    if server {
        p.subject_alt_names.push(SanType::IpAddress(
            "127.0.0.1".parse().expect("test certificate"),
        ));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.distinguished_name
            .push(DnType::CommonName, "berth daemon");
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.distinguished_name.push(DnType::CommonName, "client");
    }
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = p.signed_by(&key, issuer).expect("test certificate");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("test certificate");
        let (ca_pem, ca_issuer) = ca("e2e CA");
        let (_, other_issuer) = ca("some other CA");
        let write = |sub: &str, files: &[(&str, &str)]| {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).expect("test certificate");
            for (name, text) in files {
                std::fs::write(d.join(name), text).expect("test certificate");
            }
        };
        let (scert, skey) = leaf(&ca_issuer, true, false);
        write(
            "server",
            &[
                ("ca.pem", &ca_pem),
                ("cert.pem", &scert),
                ("key.pem", &skey),
            ],
        );
        // DOCKER_CERT_PATH layouts: ca.pem, cert.pem, key.pem.
        let (c, k) = leaf(&ca_issuer, false, false);
        write(
            "client",
            &[("ca.pem", &ca_pem), ("cert.pem", &c), ("key.pem", &k)],
        );
        let (c, k) = leaf(&ca_issuer, false, true);
        write(
            "expired",
            &[("ca.pem", &ca_pem), ("cert.pem", &c), ("key.pem", &k)],
        );
        let (c, k) = leaf(&other_issuer, false, false);
        write(
            "wrong-ca",
            &[("ca.pem", &ca_pem), ("cert.pem", &c), ("key.pem", &k)],
        );
        write("no-cert", &[("ca.pem", &ca_pem)]);
        Pki { dir }
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// The daemon's TLS flags: clients must present a certificate of the CA.
    pub fn daemon_args(&self, addr: &str) -> Vec<String> {
        let s = self.path("server");
        let mut args = vec![];
        if !addr.is_empty() {
            args.extend(["-H".to_string(), format!("tcp://{addr}")]);
        }
        args.extend([
            "--tlsverify".to_string(),
            format!("--tlscacert={}", s.join("ca.pem").display()),
            format!("--tlscert={}", s.join("cert.pem").display()),
            format!("--tlskey={}", s.join("key.pem").display()),
        ]);
        args
    }
}
