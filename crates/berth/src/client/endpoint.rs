//! Which daemon the client talks to, and how: the docker CLI's rules for
//! `-H`, `DOCKER_HOST`, contexts (`--context`, `DOCKER_CONTEXT`, the
//! context store under the config dir) and TLS (`--tlsverify`,
//! `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, `--tlscacert/--tlscert/--tlskey`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::connect::{ClientError, DEFAULT_HOST};

/// The global flags that choose the endpoint.
#[derive(Debug, Default, Clone)]
pub struct Choice {
    pub host: Option<String>,
    pub context: Option<String>,
    pub config_dir: Option<String>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// TLS towards a tcp:// daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Verify the daemon's certificate against `ca` (else trust any).
    pub verify: bool,
    pub ca: Option<PathBuf>,
    /// The client certificate and key, presented when both exist.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub tls: Option<Tls>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--config`, `$DOCKER_CONFIG`, else `~/.docker`.
fn config_dir(choice: &Choice) -> PathBuf {
    if let Some(d) = choice.config_dir.clone().or_else(|| env("DOCKER_CONFIG")) {
        return PathBuf::from(d);
    }
    let home = env("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".docker")
}

/// The context a command runs in: `--context`, `$DOCKER_CONTEXT`, the
/// config file's `currentContext`, else `default` (the environment's host).
fn context_name(choice: &Choice, config: &Path) -> Option<String> {
    if let Some(c) = choice.context.clone().or_else(|| env("DOCKER_CONTEXT")) {
        return Some(c);
    }
    let file = std::fs::read(config.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&file).ok()?;
    v.get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// A context of the docker CLI's store: its docker endpoint and TLS files.
fn load_context(config: &Path, name: &str) -> Result<Endpoint, ClientError> {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_path = config.join("contexts/meta").join(&id).join("meta.json");
    let raw = std::fs::read(&meta_path).map_err(|_| {
        ClientError::Config(format!(
            "context {name:?} does not exist (no {}); create it with `docker context create {name} --docker host=…`",
            meta_path.display()
        ))
    })?;
    let meta: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| ClientError::Config(format!("{}: {e}", meta_path.display())))?;
    let docker = meta.pointer("/Endpoints/docker");
    let host = docker
        .and_then(|d| d.get("Host"))
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ClientError::Config(format!(
                "context {name:?} has no docker endpoint host ({})",
                meta_path.display()
            ))
        })?
        .to_string();
    let skip_verify = docker
        .and_then(|d| d.get("SkipTLSVerify"))
        .and_then(|s| s.as_bool())
        .unwrap_or(false);
    let tls_dir = config.join("contexts/tls").join(&id).join("docker");
    let file = |f: &str| Some(tls_dir.join(f)).filter(|p| p.is_file());
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    let tls = (ca.is_some() || cert.is_some() || skip_verify).then_some(Tls {
        verify: !skip_verify,
        ca,
        cert,
        key,
    });
    Ok(Endpoint { host, tls })
}

/// The endpoint of this invocation, as the docker CLI picks it.
pub fn resolve(choice: &Choice) -> Result<Endpoint, ClientError> {
    let config = config_dir(choice);
    if choice.host.is_some() && choice.context.is_some() {
        return Err(ClientError::Config(
            "conflicting options: either specify --host or --context, not both".into(),
        ));
    }
    // The docker CLI's order: --context, then -H, $DOCKER_HOST (berth's own
    // $BERTH_HOST first), then $DOCKER_CONTEXT and the config's current context.
    let host = choice
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .filter(|_| choice.context.is_none())
        .or_else(|| env("BERTH_HOST").filter(|_| choice.context.is_none()))
        .or_else(|| env("DOCKER_HOST").filter(|_| choice.context.is_none()));
    let host = match host {
        Some(h) => h,
        None => match context_name(choice, &config).filter(|c| c != "default") {
            Some(name) => return load_context(&config, &name),
            None => DEFAULT_HOST.to_string(),
        },
    };
    let verify = choice.tlsverify || env("DOCKER_TLS_VERIFY").is_some();
    let tls = (verify || choice.tls).then(|| {
        let dir = env("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| config.clone());
        let pick = |flag: &Option<PathBuf>, name: &str| {
            flag.clone()
                .or_else(|| Some(dir.join(name)).filter(|p| p.is_file()))
        };
        Tls {
            verify,
            ca: pick(&choice.tlscacert, "ca.pem"),
            cert: pick(&choice.tlscert, "cert.pem"),
            key: pick(&choice.tlskey, "key.pem"),
        }
    });
    Ok(Endpoint { host, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_context(config: &Path, name: &str, host: &str, with_tls: bool) {
        let id = hex::encode(Sha256::digest(name.as_bytes()));
        let meta = config.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            serde_json::json!({
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}
            })
            .to_string(),
        )
        .unwrap();
        if with_tls {
            let tls = config.join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&tls).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(tls.join(f), "x").unwrap();
            }
        }
    }

    #[test]
    fn a_named_context_gives_its_host_and_tls_files() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "far", "tcp://10.1.2.3:2376", true);
        let choice = Choice {
            context: Some("far".into()),
            config_dir: Some(dir.path().to_string_lossy().into_owned()),
            ..Default::default()
        };
        let e = resolve(&choice).unwrap();
        assert_eq!(e.host, "tcp://10.1.2.3:2376");
        let tls = e.tls.unwrap();
        assert!(tls.verify);
        assert!(tls.ca.unwrap().ends_with("docker/ca.pem"));
        assert!(tls.key.unwrap().ends_with("docker/key.pem"));
    }

    #[test]
    fn unknown_contexts_and_conflicts_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let config_dir = Some(dir.path().to_string_lossy().into_owned());
        let e = resolve(&Choice {
            context: Some("nowhere".into()),
            config_dir: config_dir.clone(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("context \"nowhere\" does not exist"),
            "{e}"
        );
        let e = resolve(&Choice {
            host: Some("tcp://h:1".into()),
            context: Some("x".into()),
            config_dir,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("either specify --host or --context"),
            "{e}"
        );
    }

    #[test]
    fn tlsverify_takes_flags_over_the_cert_path() {
        let dir = tempfile::tempdir().unwrap();
        let choice = Choice {
            host: Some("tcp://127.0.0.1:2376".into()),
            config_dir: Some(dir.path().to_string_lossy().into_owned()),
            tlsverify: true,
            tlscacert: Some("/certs/ca.pem".into()),
            ..Default::default()
        };
        let tls = resolve(&choice).unwrap().tls.unwrap();
        assert!(tls.verify);
        assert_eq!(tls.ca.as_deref(), Some(Path::new("/certs/ca.pem")));
        // Files absent from the config dir stay unset rather than guessed.
        assert_eq!(tls.cert, None);
    }
}
