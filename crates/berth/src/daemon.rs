//! `berth daemon`: dockerd's flags, the engine and the API server.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;

mod config_file;
mod dashboard;
mod hosts;
mod listen_addr;
mod memory;
mod metrics;
mod router;
mod userns;
use hosts::{Bound, Host};
use metrics::MetricsOptions;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Parser, Debug)]
#[command(
    name = "berth daemon",
    about = "Run the berth engine (Docker Engine API server)"
)]
struct DaemonArgs {
    /// Settings in dockerd's daemon.json format (a missing default file is fine)
    #[arg(long, value_name = "FILE", default_value = config_file::DEFAULT_PATH)]
    config_file: PathBuf,
    /// Where to serve the API (repeatable): unix:///path, tcp://HOST:PORT (TLS
    /// unless --tls=false), fd:// or fd://N (sockets systemd passed)
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Serve tcp:// hosts with TLS (--tlscert, --tlskey); --tls=false serves
    /// them as plain, unauthenticated HTTP
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    tls: Option<bool>,
    /// TLS, and clients must present a certificate signed by --tlscacert
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    tlsverify: Option<bool>,
    /// CA that signs the clients' certificates (--tlsverify)
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate (chain), PEM
    #[arg(long, value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// The key of --tlscert, PEM
    #[arg(long, value_name = "FILE")]
    tlskey: Option<PathBuf>,
    /// Root of persistent state (images, containers)
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Root of runtime state (sockets, bundles); lost on reboot by design
    #[arg(long, default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Group of the unix sockets (0660 root:GROUP); default "docker" if that group exists
    #[arg(short = 'G', long = "group")]
    group: Option<String>,
    /// Where to write the daemon's pid
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// debug, info, warn, error, fatal
    #[arg(short = 'l', long, default_value = "info")]
    log_level: String,
    /// Parent cgroup of every container
    #[arg(long, default_value = "/berth")]
    cgroup_parent: String,
    /// Static init binary for `run --init` (default: docker-init or tini-static on PATH)
    #[arg(long)]
    init_path: Option<PathBuf>,
    /// Registry (host[:port]) reached over plain HTTP; loopback ones always are (repeatable)
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// Mirror of Docker Hub tried before it, e.g. http://127.0.0.1:5000 (repeatable, in order)
    #[arg(long = "registry-mirror", value_name = "URL")]
    registry_mirrors: Vec<String>,
    /// Bridge of the default network (created if missing); "none" disables it
    #[arg(short = 'b', long = "bridge", default_value = network::DEFAULT_BRIDGE)]
    bridge: String,
    /// Address and prefix of the default bridge, e.g. 172.17.0.1/16
    #[arg(long)]
    bip: Option<String>,
    /// Give the default bridge an IPv6 subnet too (with --fixed-cidr-v6)
    #[arg(long)]
    ipv6: bool,
    /// IPv6 subnet of the default bridge, e.g. fd00:b::/64 (with --ipv6)
    #[arg(long = "fixed-cidr-v6")]
    fixed_cidr_v6: Option<String>,
    /// Pool for new networks' subnets, e.g. base=10.10.0.0/16,size=24 (repeatable)
    #[arg(long = "default-address-pool")]
    default_address_pools: Vec<String>,
    /// Program NAT and published ports in the firewall (false: no port publishing)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    iptables: bool,
    /// Firewall backend: auto, nftables or iptables
    #[arg(long, default_value = "auto")]
    firewall_backend: String,
    /// Prefix of user networks' bridge names; stale bridges with it are removed at start
    #[arg(long, default_value = "berth-")]
    bridge_prefix: String,
    /// nftables table of this daemon's rules (one per daemon on a host)
    #[arg(long, default_value = network::firewall::NFT_TABLE)]
    nft_table: String,
    /// How swarm service VIPs are balanced: nftables (numgen NAT) or ipvs
    /// (as dockerd; needs the kernel's ip_vs)
    #[arg(long, default_value = "nftables", value_parser = ["nftables", "ipvs"])]
    service_lb: String,
    /// An OCI runtime CLI with runc's command line, e.g. crun=/usr/bin/crun (repeatable)
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    add_runtimes: Vec<String>,
    /// Runtime of containers created without --runtime (default: berth, the built-in one)
    #[arg(long, value_name = "NAME")]
    default_runtime: Option<String>,
    /// Swarm managers keep the cluster's state in this etcd cluster (client URLs,
    /// comma-separated) instead of each running an etcd member
    #[arg(long, value_name = "URL[,URL...]")]
    cluster_store: Option<String>,
    /// CA that signed the --cluster-store members' certificates
    #[arg(long, value_name = "FILE", requires = "cluster_store")]
    cluster_store_cacert: Option<PathBuf>,
    /// Client certificate presented to the --cluster-store members
    #[arg(long, value_name = "FILE", requires = "cluster_store")]
    cluster_store_cert: Option<PathBuf>,
    /// Key of --cluster-store-cert
    #[arg(long, value_name = "FILE", requires = "cluster_store")]
    cluster_store_key: Option<PathBuf>,
    /// Log driver of containers created without --log-driver
    #[arg(long, value_name = "DRIVER")]
    log_driver: Option<String>,
    /// An option of the default log driver (repeatable)
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    log_opts: Vec<String>,
    /// Serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 127.0.0.1:9323)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Serve the HTTP router (routes from containers' berth.http.* labels) on HOST:PORT or :PORT
    #[arg(long, value_name = "HOST:PORT")]
    router_addr: Option<String>,
    /// Serve the router over HTTPS too (h2 and HTTP/1.1), certificates by SNI from --router-cert-dir
    #[arg(long, value_name = "HOST:PORT")]
    router_tls_addr: Option<String>,
    /// The router's certificates: DIR/<host>.crt and DIR/<host>.key (PEM), reloaded when they change
    #[arg(long, value_name = "DIR")]
    router_cert_dir: Option<PathBuf>,
    /// Serve the web dashboard on http://HOST:PORT/ (e.g. 127.0.0.1:9000; https with --ui-tls-cert)
    #[arg(long, value_name = "HOST:PORT")]
    ui_addr: Option<String>,
    /// Certificate (PEM) of the dashboard's TLS listener
    #[arg(long, value_name = "FILE")]
    ui_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --ui-tls-cert
    #[arg(long, value_name = "FILE")]
    ui_tls_key: Option<PathBuf>,
    /// Set the dashboard's `admin` password from this file at start (else the first visit sets it)
    #[arg(long, value_name = "FILE")]
    ui_admin_password_file: Option<PathBuf>,
    /// Run containers as an unprivileged range of host ids: "default" (the
    /// dockremap user, made if missing) or USER[:GROUP] with /etc/subuid and /etc/subgid ranges
    #[arg(long, value_name = "default|USER[:GROUP]")]
    userns_remap: Option<String>,
}

/// `--log-driver`/`--log-opt`, checked as dockerd checks its default.
fn log_defaults(args: &DaemonArgs) -> anyhow::Result<engine::logconfig::LogDefaults> {
    let mut defaults = engine::logconfig::LogDefaults::default();
    if let Some(d) = &args.log_driver {
        defaults.driver = d.clone();
    }
    for opt in &args.log_opts {
        let Some((k, v)) = opt.split_once('=') else {
            bail!("--log-opt {opt:?}: expected KEY=VALUE");
        };
        defaults.opts.insert(k.to_string(), v.to_string());
    }
    defaults
        .validate()
        .with_context(|| format!("the default log driver {}", defaults.driver))?;
    Ok(defaults)
}

/// `--cluster-store` and its certificate files: all three for https
/// endpoints (etcd's client-certificate authentication), none for http.
fn cluster_store(args: &DaemonArgs) -> anyhow::Result<Option<swarm::node::ExternalStore>> {
    let Some(urls) = &args.cluster_store else {
        return Ok(None);
    };
    let endpoints: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if endpoints.is_empty() {
        bail!("--cluster-store: no etcd client URL given");
    }
    for e in &endpoints {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            bail!("--cluster-store {e}: an etcd client URL (http:// or https://) is needed");
        }
    }
    let files = (
        &args.cluster_store_cacert,
        &args.cluster_store_cert,
        &args.cluster_store_key,
    );
    let tls = match files {
        (Some(ca), Some(cert), Some(key)) => {
            for f in [ca, cert, key] {
                if !f.is_file() {
                    bail!("--cluster-store: {} is not a file", f.display());
                }
            }
            Some(swarm::node::TlsFiles {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            })
        }
        (None, None, None) => None,
        _ => bail!(
            "--cluster-store-cacert, --cluster-store-cert and --cluster-store-key go together"
        ),
    };
    let https = endpoints.iter().any(|e| e.starts_with("https://"));
    if https != tls.is_some() {
        bail!(
            "--cluster-store: https endpoints need --cluster-store-cacert/-cert/-key, and only they"
        );
    }
    Ok(Some(swarm::node::ExternalStore { endpoints, tls }))
}

/// `--add-runtime` and `--default-runtime`, plus `runc` when it is on PATH:
/// dockerd always offers `runc`, and scripts written for Docker ask for it
/// by name. An explicit `--add-runtime runc=PATH` wins.
fn runtimes(args: &DaemonArgs) -> anyhow::Result<engine::runtimes::Runtimes> {
    let mut r = engine::runtimes::Runtimes::default();
    for spec in &args.add_runtimes {
        let Some((name, path)) = spec.split_once('=') else {
            bail!("invalid runtime argument: {spec}");
        };
        let path = find_binary(path.trim()).with_context(|| format!("--add-runtime {spec}"))?;
        r.add(name, &path)?;
    }
    if !r.contains("runc")
        && let Ok(runc) = find_binary("runc")
    {
        r.add("runc", &runc)?;
    }
    if let Some(name) = &args.default_runtime {
        r.set_default(name)?;
    }
    Ok(r)
}

/// A path as given, a bare name on PATH, as exec would find it; checked now
/// rather than at the first container's start.
fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        if !executable(&path) {
            bail!("{name}: not an executable file");
        }
        return Ok(std::path::absolute(&path)?);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
        .with_context(|| format!("{name}: not found in PATH"))
}

fn net_options(args: &DaemonArgs) -> anyhow::Result<engine::networking::NetOptions> {
    let mut o = engine::networking::NetOptions {
        default_bridge: (args.bridge != "none").then(|| args.bridge.clone()),
        ..Default::default()
    };
    if let Some(bip) = &args.bip {
        let net: ipnet::Ipv4Net = bip
            .parse()
            .with_context(|| format!("invalid --bip {bip:?}: expected e.g. 172.17.0.1/16"))?;
        o.bip = Some((net.addr(), net.trunc()));
    }
    match (args.ipv6, &args.fixed_cidr_v6) {
        (true, Some(cidr)) => {
            let net: ipnet::Ipv6Net = cidr.parse().with_context(|| {
                format!("invalid --fixed-cidr-v6 {cidr:?}: expected e.g. fd00:b::/64")
            })?;
            o.ipv6 = Some(net.trunc());
        }
        // As dockerd: the default bridge then has link-local IPv6 only.
        (true, None) => {
            tracing::warn!("--ipv6 without --fixed-cidr-v6: the default bridge has no IPv6 subnet")
        }
        (false, Some(_)) => tracing::warn!("--fixed-cidr-v6 is ignored without --ipv6"),
        (false, None) => {}
    }
    if !args.default_address_pools.is_empty() {
        o.pools = args
            .default_address_pools
            .iter()
            .map(|p| parse_pool(p))
            .collect::<anyhow::Result<_>>()?;
    }
    o.firewall = if args.iptables {
        args.firewall_backend.clone()
    } else {
        "none".into()
    };
    if !matches!(
        o.firewall.as_str(),
        "auto" | "nftables" | "iptables" | "none"
    ) {
        bail!(
            "invalid --firewall-backend {:?}: auto, nftables or iptables",
            o.firewall
        );
    }
    if args.bridge_prefix.is_empty() || args.bridge_prefix.len() > 8 {
        bail!("--bridge-prefix must have 1 to 8 characters");
    }
    o.bridge_prefix = args.bridge_prefix.clone();
    o.nft_table = args.nft_table.clone();
    o.service_lb = args.service_lb.clone();
    Ok(o)
}

/// dockerd's `base=CIDR,size=N`.
fn parse_pool(spec: &str) -> anyhow::Result<network::AddressPool> {
    let mut base = None;
    let mut size = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(v.parse::<ipnet::Ipv4Net>()?),
            Some(("size", v)) => size = Some(v.parse::<u8>()?),
            _ => bail!("invalid --default-address-pool {spec:?}: expected base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(base), Some(size)) if size >= base.prefix_len() && size <= 30 => {
            Ok(network::AddressPool {
                base: base.trunc(),
                size,
            })
        }
        _ => bail!("invalid --default-address-pool {spec:?}: expected base=CIDR,size=N"),
    }
}

/// How TCP hosts are served, from the TLS flags.
#[derive(Debug)]
enum TcpSecurity {
    Tls(api::listen::TlsFiles),
    /// `--tls=false` (or `--tlsverify=false`): the operator accepted plain HTTP.
    Plain,
    /// No TLS flag at all: TCP hosts are refused.
    Unset,
}

fn tcp_security(args: &DaemonArgs) -> anyhow::Result<TcpSecurity> {
    let verify = args.tlsverify == Some(true);
    if !(verify || args.tls == Some(true)) {
        return Ok(
            if args.tls == Some(false) || args.tlsverify == Some(false) {
                TcpSecurity::Plain
            } else {
                TcpSecurity::Unset
            },
        );
    }
    if verify && args.tlscacert.is_none() {
        bail!("--tlsverify needs --tlscacert: the CA whose certificates clients must present");
    }
    // Without --tlsverify a CA still checks the certificates clients offer.
    let client_ca = args.tlscacert.clone();
    let (Some(cert), Some(key)) = (&args.tlscert, &args.tlskey) else {
        bail!(
            "--tls{} needs --tlscert and --tlskey: the daemon's certificate and its key",
            if verify { "verify" } else { "" }
        );
    };
    for (flag, f) in [("--tlscert", cert), ("--tlskey", key)]
        .into_iter()
        .chain(client_ca.iter().map(|ca| ("--tlscacert", ca)))
    {
        if !f.is_file() {
            bail!("{flag} {}: no such file", f.display());
        }
    }
    Ok(TcpSecurity::Tls(api::listen::TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
        client_ca,
        require_client_cert: verify,
    }))
}

/// Every `-H` bound (or adopted from systemd), with the TLS acceptor TCP
/// hosts get. Refuses plain TCP unless the operator opted in.
fn bind_hosts(
    hosts: &[Host],
    security: &TcpSecurity,
    gid: Option<u32>,
) -> anyhow::Result<(Vec<Bound>, Option<tokio_rustls::TlsAcceptor>)> {
    // Before any socket exists, so a refusal leaves nothing behind.
    if matches!(security, TcpSecurity::Unset)
        && let Some(Host::Tcp(addr)) = hosts.iter().find(|h| matches!(h, Host::Tcp(_)))
    {
        bail!(plain_tcp_refused(&format!("tcp://{addr}")));
    }
    // Certificates are read before any socket exists too.
    let serves_tcp = hosts
        .iter()
        .any(|h| matches!(h, Host::Tcp(_) | Host::Fd(_)));
    let acceptor = match security {
        TcpSecurity::Tls(files) if serves_tcp => Some(api::listen::tls_acceptor(files)?),
        _ => None,
    };
    let (mut bound, mut made) = (Vec::new(), Vec::new());
    if let Err(e) = bind_each(hosts, gid, &mut bound, &mut made) {
        // The sockets this call made would be left as stale files.
        for path in made {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    let tcp: Vec<String> = bound
        .iter()
        .filter(|b| matches!(b, Bound::Tcp(_)))
        .map(Bound::describe)
        .collect();
    if tcp.is_empty() {
        return Ok((bound, None));
    }
    let tcp = tcp.join(", ");
    match security {
        TcpSecurity::Tls(files) => {
            if !files.require_client_cert {
                tracing::warn!(
                    "{tcp}: TLS without --tlsverify authenticates no client: anyone who reaches the port is root on this host; add --tlsverify --tlscacert FILE"
                );
            }
        }
        TcpSecurity::Plain => {
            for line in [
                "serving the API over plain TCP (--tls=false): no encryption, no authentication.",
                "Anyone who can reach this port is root on this host.",
                "Use --tlsverify --tlscacert --tlscert --tlskey (client certificates) instead.",
            ] {
                tracing::warn!("{tcp}: {line}");
            }
        }
        // Only systemd's sockets get here (tcp:// hosts were refused above).
        TcpSecurity::Unset => {
            for path in made {
                let _ = std::fs::remove_file(path);
            }
            bail!(plain_tcp_refused(&tcp))
        }
    }
    Ok((bound, acceptor))
}

/// Binds or adopts every host into `bound`; `made` lists the unix socket
/// files it created (systemd's are not ours to remove).
fn bind_each(
    hosts: &[Host],
    gid: Option<u32>,
    bound: &mut Vec<Bound>,
    made: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let mut activated = hosts::activated()?;
    let passed = activated.len();
    for host in hosts {
        match host {
            Host::Unix(path) => {
                bound.push(Bound::Unix(bind(path, gid)?));
                made.push(path.clone());
            }
            Host::Tcp(addr) => bound.push(Bound::Tcp(hosts::bind_tcp(addr)?)),
            Host::Fd(which) => {
                for (raw, fd) in hosts::select_activated(&mut activated, *which, passed)? {
                    bound.push(hosts::adopt(raw, fd)?);
                }
            }
        }
    }
    Ok(())
}

fn plain_tcp_refused(what: &str) -> String {
    format!(
        "{what}: refusing to serve the API over plain TCP: anyone reaching the port would be root on this host. Use --tlsverify --tlscacert FILE --tlscert FILE --tlskey FILE, or pass --tls=false to accept that risk"
    )
}

pub fn main(args: &[String]) -> i32 {
    let argv = || std::iter::once("berth daemon".to_string()).chain(args.iter().cloned());
    let usage = |e: clap::Error| {
        let _ = e.print();
        if e.use_stderr() { 2 } else { 0 }
    };
    let cli = match <DaemonArgs as clap::CommandFactory>::command().try_get_matches_from(argv()) {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let settings = match Settings::load(&cli) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("berth daemon: {err:#}");
            return 1;
        }
    };
    // The file's settings as the flags they stand for, before the real ones.
    let parsed = match DaemonArgs::try_parse_from(
        std::iter::once("berth daemon".to_string())
            .chain(settings.file_args.iter().cloned())
            .chain(args.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(e) => {
            if settings.file_args.is_empty() {
                return usage(e);
            }
            eprintln!(
                "berth daemon: unable to configure the daemon with file {}: {e}",
                settings.path.display()
            );
            return 1;
        }
    };
    match run(parsed, settings) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("berth daemon: {err:#}");
            1
        }
    }
}

/// The configuration file as read at start, and what the command line set
/// of what a reload may change (the file cannot repeat a flag).
struct Settings {
    path: PathBuf,
    explicit: bool,
    file: serde_json::Map<String, serde_json::Value>,
    file_args: Vec<String>,
    cli_log_level: Option<String>,
    cli_insecure: Vec<String>,
    cli_mirrors: Vec<String>,
}

impl Settings {
    fn load(cli: &clap::ArgMatches) -> anyhow::Result<Self> {
        use clap::parser::ValueSource;
        let path = cli
            .get_one::<PathBuf>("config_file")
            .cloned()
            .unwrap_or_else(|| config_file::DEFAULT_PATH.into());
        let explicit = cli.value_source("config_file") == Some(ValueSource::CommandLine);
        let file = config_file::read(&path, explicit)?.unwrap_or_default();
        let file_args = config_file::to_args(&file, cli).with_context(|| {
            format!(
                "unable to configure the daemon with file {}",
                path.display()
            )
        })?;
        let given = |id: &str| -> Vec<String> {
            if cli.value_source(id) != Some(ValueSource::CommandLine) {
                return Vec::new();
            }
            cli.get_many::<String>(id)
                .map(|v| v.cloned().collect())
                .unwrap_or_default()
        };
        Ok(Settings {
            cli_log_level: given("log_level").pop(),
            cli_insecure: given("insecure_registries"),
            cli_mirrors: given("registry_mirrors"),
            path,
            explicit,
            file,
            file_args,
        })
    }
}

/// dockerd's check of a mirror: an http(s) URL of a host, nothing after it.
fn parse_mirror(m: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = m.split_once("://") else {
        bail!("invalid mirror: {m:?} is not a URL (e.g. https://mirror.example)");
    };
    if !matches!(scheme, "http" | "https") {
        bail!("invalid mirror: unsupported scheme {scheme:?} in {m:?}");
    }
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#']) {
        bail!("invalid mirror: path, query, or fragment at end of the URI {m:?}");
    }
    Ok(format!("{scheme}://{host}"))
}

type LogReload =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

fn log_filter(level: &str) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    let level = match level {
        "fatal" => "error",
        l @ ("debug" | "info" | "warn" | "error" | "trace") => l,
        other => bail!("unknown --log-level {other:?} (debug, info, warn, error, fatal)"),
    };
    Ok(tracing_subscriber::EnvFilter::new(level))
}

fn init_logging(level: &str) -> anyhow::Result<LogReload> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(log_filter(level)?);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                // Colours for a person at a terminal, not escape codes in a log file.
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(|| LogLine),
        )
        .init();
    Ok(handle)
}

/// Writes each log event, formatted whole, with one write(2) on stderr.
/// `std::io::stderr()` serialises writers with a lock, and the router's
/// threads, each writing an access line per request, met on it often
/// enough for half their requests to sleep on it. A line written by one
/// write to a file opened for append, or a pipe (up to PIPE_BUF), lands
/// whole without a lock, as nginx's workers write theirs.
struct LogLine;

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match nix::unistd::write(std::io::stderr(), buf) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => return other.map_err(std::io::Error::from),
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SIGHUP: reads the file again and applies what dockerd applies without a
/// restart (log level, insecure registries, mirrors); names what changed
/// that only a restart applies. A file that no longer parses changes
/// nothing.
fn reload(settings: &mut Settings, engine: &engine::Engine, log: &LogReload) -> anyhow::Result<()> {
    let file = config_file::read(&settings.path, settings.explicit)?.unwrap_or_default();
    let (r, restart) = config_file::reloadable(&file, &settings.file)?;
    let level = r
        .log_level
        .or(settings.cli_log_level.clone())
        .unwrap_or_else(|| "info".into());
    let filter = log_filter(&level)?;
    let mut insecure = settings.cli_insecure.clone();
    insecure.extend(r.insecure_registries);
    let mut mirrors = Vec::new();
    for m in settings.cli_mirrors.iter().chain(&r.registry_mirrors) {
        mirrors.push(parse_mirror(m)?);
    }
    log.modify(|f| *f = filter)
        .map_err(|e| anyhow::anyhow!("changing the log level: {e}"))?;
    engine.set_registries(engine::Registries {
        insecure: insecure.clone(),
        mirrors: mirrors.clone(),
    });
    tracing::info!(
        "reloaded {}: log-level {level}, insecure registries {insecure:?}, registry mirrors {mirrors:?}",
        settings.path.display()
    );
    if !restart.is_empty() {
        tracing::warn!(
            "{}: {} changed; only a restart applies them",
            settings.path.display(),
            restart.join(", ")
        );
    }
    settings.file = file;
    Ok(())
}

/// The group that may use the API sockets, as dockerd picks it: `-G NAME`
/// (which must exist), else `docker` when the host has it, else none (root only).
fn socket_group(explicit: Option<&str>) -> anyhow::Result<Option<nix::unistd::Group>> {
    let name = explicit.unwrap_or("docker");
    let group = nix::unistd::Group::from_name(name)
        .with_context(|| format!("looking up group {name:?}"))?;
    match (group, explicit) {
        (Some(g), _) => Ok(Some(g)),
        (None, Some(_)) => bail!("group {name:?} not found (-G/--group)"),
        (None, None) => Ok(None),
    }
}

/// Binds a unix socket, refusing to steal one another daemon is serving.
/// The socket is 0660 root:`group` (root:root without one): members of the
/// group use the API without sudo, nobody else can connect.
fn bind(path: &Path, group: Option<u32>) -> anyhow::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent() {
        // A missing socket dir only needs to be traversable; the socket's own
        // mode decides who connects. (The exec root, when it holds the
        // socket, is made 0710 root:group by the engine.)
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "{} is in use by another daemon; stop it or pick another -H",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    // Nothing is served before both are set: connections wait in the backlog.
    std::os::unix::fs::chown(path, Some(0), Some(group.unwrap_or(0)))
        .with_context(|| format!("chown {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn write_pidfile(path: &Path) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(path)
        && let Ok(pid) = old.trim().parse::<i32>()
    {
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if alive && pid != std::process::id() as i32 {
            bail!(
                "pid file {} names a running process ({pid}); is a daemon already running?",
                path.display()
            );
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{}", std::process::id()))
        .with_context(|| format!("writing {}", path.display()))
}

fn run(args: DaemonArgs, mut settings: Settings) -> anyhow::Result<()> {
    memory::limit_arenas();
    let log_reload = init_logging(&args.log_level)?;
    if settings.explicit || !settings.file.is_empty() {
        tracing::info!("settings from {}", settings.path.display());
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("berth daemon needs root (it mounts overlays and creates namespaces)");
    }
    // Refused before any socket or pid file exists.
    let runtimes = runtimes(&args)?;
    let registry_mirrors = args
        .registry_mirrors
        .iter()
        .map(|m| parse_mirror(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let log_defaults = log_defaults(&args)?;
    let userns_remap = match args.userns_remap.as_deref() {
        None | Some("") => None,
        Some(spec) => Some(userns::resolve(spec).context("--userns-remap")?),
    };
    let hosts = if args.hosts.is_empty() {
        vec![DEFAULT_HOST.to_string()]
    } else {
        args.hosts.clone()
    };
    let group = socket_group(args.group.as_deref())?;
    let gid = group.as_ref().map(|g| g.gid.as_raw());
    match &group {
        Some(g) => tracing::info!("API sockets: mode 0660, group {}", g.name),
        None => tracing::info!("API sockets: mode 0660, group root (no docker group; see -G)"),
    }
    let security = tcp_security(&args)?;
    let parsed_hosts = hosts
        .iter()
        .map(|h| hosts::parse(h, matches!(security, TcpSecurity::Tls(_))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let socket_paths: Vec<PathBuf> = parsed_hosts
        .iter()
        .filter_map(|h| match h {
            Host::Unix(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let metrics_listener = MetricsOptions::parse(args.metrics_addr.as_deref())?.bind()?;
    let router_listeners = router::RouterListeners::bind(
        args.router_addr.as_deref(),
        args.router_tls_addr.as_deref(),
        args.router_cert_dir.as_ref(),
    )?;
    let ui_listener = dashboard::bind(
        args.ui_addr.as_deref(),
        args.ui_tls_cert.as_ref(),
        args.ui_tls_key.as_ref(),
        args.ui_admin_password_file.as_ref(),
    )?;
    let (std_listeners, tls) = bind_hosts(&parsed_hosts, &security, gid)?;
    let listening = std_listeners
        .iter()
        .map(Bound::describe)
        .collect::<Vec<_>>()
        .join(", ");
    // A socket directly in the exec root (the default /run/berth/berth.sock):
    // its group must traverse the exec root to reach it.
    let exec_root_abs = std::path::absolute(&args.exec_root).unwrap_or(args.exec_root.clone());
    let socket_in_exec_root = socket_paths.iter().any(|p| {
        std::path::absolute(p)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .is_some_and(|dir| dir == exec_root_abs)
    });
    if let Some(pidfile) = &args.pidfile {
        write_pidfile(pidfile)?;
    }
    let cluster_store = cluster_store(&args)?;
    // Apps' git hooks call the daemon back on its first unix socket.
    let apps_host = socket_paths
        .first()
        .map(|p| {
            format!(
                "unix://{}",
                std::path::absolute(p).unwrap_or(p.clone()).display()
            )
        })
        .unwrap_or_else(|| hosts.first().cloned().unwrap_or_default());
    let cfg = engine::EngineConfig {
        data_root: args.data_root.clone(),
        exec_root: args.exec_root.clone(),
        cgroup_parent: args.cgroup_parent.clone(),
        exe: std::env::current_exe().context("locating the berth binary")?,
        init_path: args.init_path.clone(),
        insecure_registries: args.insecure_registries.clone(),
        registry_mirrors,
        network: net_options(&args)?,
        exec_root_group: gid.filter(|_| socket_in_exec_root),
        runtimes,
        log_defaults,
        userns_remap,
    };
    memory::spawn_keeper().context("starting the memory keeper")?;
    // The engine writes its metadata (fsync'd) from the request handlers;
    // on a slow disk one fsync takes milliseconds, and with a worker per
    // core two of them stalled every other request. Four at least: `GET
    // /containers/json` while 8 clients create and remove containers, p50
    // 4.0-4.6 -> 1.8-1.9 ms and p90 11-13 -> 7-8 ms on 2 cores, for
    // 0.3 MB more RSS.
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let engine = engine::Engine::open(cfg)
            .await
            .context("opening the engine")?;
        let mut listeners: Vec<Box<dyn api::listen::Listener>> = Vec::new();
        for l in std_listeners {
            listeners.push(match l {
                Bound::Unix(l) => Box::new(tokio::net::UnixListener::from_std(l)?),
                Bound::Tcp(l) => Box::new(api::listen::Tcp::new(
                    tokio::net::TcpListener::from_std(l)?,
                    tls.clone(),
                )),
            });
        }
        let swarm = swarm::node::Swarm::open(
            engine.clone(),
            swarm::node::SwarmOptions {
                data_root: args.data_root.clone(),
                engine_version: env!("CARGO_PKG_VERSION").to_string(),
                etcd_binary: None,
                cluster_store,
            },
        )
        .await;
        if let Some(l) = metrics_listener {
            let l = tokio::net::TcpListener::from_std(l)?;
            tracing::info!("metrics on http://{}/metrics", l.local_addr()?);
            let engine = engine.clone();
            tokio::spawn(async move {
                if let Err(e) = api::metrics::serve(l, engine).await {
                    tracing::error!("metrics endpoint stopped: {e}");
                }
            });
        }
        let apps = router::open_apps(&args.data_root, &apps_host)?;
        // On a manager the apps are the cluster's: its records, followed here.
        tokio::spawn(api::apps_cluster::follow(swarm.clone(), apps.clone()));
        let router = match router_listeners {
            Some(l) => Some(l.serve(&engine, &apps, &swarm)?),
            None => None,
        };
        let berth = api::routes::Berth { router, apps };
        if let Some(l) = ui_listener {
            l.spawn(
                engine.clone(),
                swarm.clone(),
                berth.clone(),
                args.data_root.clone(),
            )?;
        }
        tracing::info!("berth daemon listening on {}", listening);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let reloading = engine.clone();
        let reloads = async move {
            while hup.recv().await.is_some() {
                if let Err(e) = reload(&mut settings, &reloading, &log_reload) {
                    tracing::error!("reloading {}: {e:#}", settings.path.display());
                }
            }
        };
        tokio::select! {
            _ = api::serve(engine, swarm, berth, listeners) => {}
            _ = reloads => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; containers keep running"),
            _ = term.recv() => tracing::info!("terminated; containers keep running"),
        }
        anyhow::Ok(())
    });
    // Sockets systemd passed are its to remove.
    for p in &socket_paths {
        let _ = std::fs::remove_file(p);
    }
    if let Some(pidfile) = &args.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_of(args: &[&str]) -> anyhow::Result<Option<swarm::node::ExternalStore>> {
        let mut argv = vec!["berth daemon"];
        argv.extend_from_slice(args);
        cluster_store(&DaemonArgs::try_parse_from(argv)?)
    }

    fn security_of(args: &[&str]) -> anyhow::Result<TcpSecurity> {
        let mut argv = vec!["berth daemon"];
        argv.extend_from_slice(args);
        tcp_security(&DaemonArgs::try_parse_from(argv)?)
    }

    #[test]
    fn plain_tcp_needs_an_explicit_flag_and_tls_needs_its_files() {
        assert!(matches!(security_of(&[]).unwrap(), TcpSecurity::Unset));
        assert!(matches!(
            security_of(&["--tls=false"]).unwrap(),
            TcpSecurity::Plain
        ));
        assert!(matches!(
            security_of(&["--tlsverify=false"]).unwrap(),
            TcpSecurity::Plain
        ));
        let e = security_of(&["--tlsverify"]).unwrap_err();
        assert!(
            e.to_string().contains("--tlsverify needs --tlscacert"),
            "{e}"
        );
        let e = security_of(&["--tls", "--tlscert", "/etc/hostname"]).unwrap_err();
        assert!(
            e.to_string().contains("--tls needs --tlscert and --tlskey"),
            "{e}"
        );
        let e = security_of(&[
            "--tls",
            "--tlscert",
            "/nonexistent",
            "--tlskey",
            "/etc/hostname",
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--tlscert /nonexistent: no such file"),
            "{e}"
        );
        let TcpSecurity::Tls(files) = security_of(&[
            "--tlsverify",
            "--tlscacert=/etc/hostname",
            "--tlscert=/etc/hostname",
            "--tlskey=/etc/hostname",
        ])
        .unwrap() else {
            panic!("--tlsverify with its files is TLS");
        };
        assert_eq!(files.client_ca.as_deref(), Some(Path::new("/etc/hostname")));
        assert!(files.require_client_cert);
    }

    #[test]
    fn cluster_store_flags_are_checked_together() {
        assert!(store_of(&[]).unwrap().is_none());
        let plain = store_of(&[
            "--cluster-store",
            "http://10.0.0.1:2379, http://10.0.0.2:2379",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            plain.endpoints,
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert!(plain.tls.is_none());
        let e = store_of(&["--cluster-store", "10.0.0.1:2379"]).unwrap_err();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
        let e = store_of(&["--cluster-store", "https://10.0.0.1:2379"]).unwrap_err();
        assert!(e.to_string().contains("need --cluster-store-cacert"), "{e}");
        let e = store_of(&[
            "--cluster-store",
            "https://10.0.0.1:2379",
            "--cluster-store-cert",
            "/etc/hostname",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        // Certificate flags without a store are a usage error.
        assert!(store_of(&["--cluster-store-cacert", "/etc/hostname"]).is_err());
    }
}
