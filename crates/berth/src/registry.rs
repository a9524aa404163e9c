//! `berth registry`: the OCI distribution-spec registry server and its
//! offline garbage collector.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "berth registry", about = "OCI distribution registry")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the registry API.
    Serve {
        /// HOST:PORT to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: String,
        /// Storage directory.
        #[arg(long)]
        root: PathBuf,
        /// htpasswd file with bcrypt hashes; enables basic auth.
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// PEM certificate chain; needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key; needs --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Refuse every write with 405 UNSUPPORTED.
        #[arg(long)]
        read_only: bool,
        /// Bearer-token auth: the token server's URL sent in challenges.
        #[arg(long, requires_all = ["auth_token_service", "auth_token_issuer", "auth_token_key"], conflicts_with = "htpasswd")]
        auth_token_realm: Option<String>,
        /// This registry's name in challenges; the tokens' audience.
        #[arg(long, requires = "auth_token_realm")]
        auth_token_service: Option<String>,
        /// The issuer tokens must name.
        #[arg(long, requires = "auth_token_realm")]
        auth_token_issuer: Option<String>,
        /// File with the HS256 secret shared with the token server, or the
        /// token server's PEM public key(s) or certificate(s) (RS256/ES256…).
        #[arg(long, requires = "auth_token_realm")]
        auth_token_key: Option<PathBuf>,
        /// Scan pushed image manifests against the OSV database under
        /// ROOT/scan (see scan-db-import); serves /berth/v1/scans/<digest>
        /// and Harbor's scanner API (/api/v1/...).
        #[arg(long)]
        scan: bool,
    },
    /// Import OSV records into ROOT/scan's database for --scan: a directory
    /// of .json files, a .zip (osv.dev's all.zip), a .tar or one .json.
    ScanDbImport {
        #[arg(long)]
        root: PathBuf,
        path: PathBuf,
    },
    /// Delete blobs no manifest references. Refuses while a server holds the
    /// root (stop it first).
    Gc {
        #[arg(long)]
        root: PathBuf,
        /// Report what would be deleted without deleting.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn main(args: &[String]) -> i32 {
    let cli = match Cli::try_parse_from(
        std::iter::once("berth registry".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.cmd {
        Cmd::Serve {
            addr,
            root,
            htpasswd,
            tls_cert,
            tls_key,
            read_only,
            auth_token_realm,
            auth_token_service,
            auth_token_issuer,
            auth_token_key,
            scan,
        } => {
            let mut config = registry::Config::new(addr, root);
            if let (Some(realm), Some(service), Some(issuer), Some(key_file)) = (
                auth_token_realm,
                auth_token_service,
                auth_token_issuer,
                auth_token_key,
            ) {
                config.token = Some(registry::TokenConfig {
                    realm,
                    service,
                    issuer,
                    key_file,
                });
            }
            config.htpasswd = htpasswd;
            config.read_only = read_only;
            config.scan = scan;
            config.tls = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| registry::TlsFiles { cert, key });
            serve(config)
        }
        Cmd::ScanDbImport { root, path } => match scan::Scanner::new(&root).import(&path) {
            Ok(s) => {
                for w in &s.warnings {
                    eprintln!("WARN: {w}");
                }
                println!(
                    "Imported {} records ({} withdrawn, {} files skipped); database generation {} has {} records",
                    s.imported,
                    s.withdrawn,
                    s.warnings.len(),
                    s.generation,
                    s.total
                );
                0
            }
            Err(e) => {
                eprintln!("berth registry scan-db-import: {e}");
                1
            }
        },
        Cmd::Gc { root, dry_run } => match registry::gc(&root, dry_run) {
            Ok(report) => {
                for d in &report.deleted {
                    println!("{} {d}", if dry_run { "would delete" } else { "deleted" });
                }
                println!(
                    "{} blobs {}, {} bytes, {} kept, {} stale links removed",
                    report.deleted.len(),
                    if dry_run { "to delete" } else { "deleted" },
                    report.bytes_freed,
                    report.kept,
                    report.links_removed
                );
                0
            }
            Err(e) => {
                eprintln!("berth registry gc: {e}");
                1
            }
        },
    }
}

fn serve(config: registry::Config) -> i32 {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: tokio runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let root = config.root.clone();
        let server = match registry::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berth registry: {e}");
                return 1;
            }
        };
        eprintln!(
            "berth registry listening on {scheme}://{} (root {})",
            server.local_addr(),
            root.display()
        );
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("berth registry: cannot install signal handlers");
            return 1;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        server.shutdown().await;
        0
    })
}
