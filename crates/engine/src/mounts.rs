//! A container's mounts: `-v`/`--mount`/`--tmpfs`, anonymous volumes and the
//! image's VOLUMEs, normalised into one list at create time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::model::{Config, HostConfig};
pub use crate::model::{MountKind, MountPoint};
use crate::{EngineError, Result};

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidParameter(msg.into())
}

fn check_destination(dst: &str, spec: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if dst == "/" {
        return Err(invalid(format!(
            "invalid specification: destination can't be '/' in '{spec}'"
        )));
    }
    Ok(())
}

/// `-v src:dst[:opts]` / `-v dst` as the Binds list carries it.
fn parse_bind(spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid(format!("invalid volume specification: '{spec}'"))),
    };
    check_destination(dst, spec)?;
    let mut rw = true;
    let mut propagation = String::new();
    let mut copy_up = true;
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => rw = false,
            "rw" => rw = true,
            "z" | "Z" => {}
            "nocopy" => copy_up = false,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                propagation = opt.to_string()
            }
            other => return Err(invalid(format!("invalid mode: {other}"))),
        }
    }
    let bind = src.starts_with('/');
    Ok(MountPoint {
        kind: if bind {
            MountKind::Bind
        } else {
            MountKind::Volume
        },
        source: if bind {
            PathBuf::from(src)
        } else {
            PathBuf::new()
        },
        destination: dst.to_string(),
        name: (!bind && !src.is_empty()).then(|| src.to_string()),
        rw,
        mode: mode.to_string(),
        propagation: if bind && propagation.is_empty() {
            "rprivate".into()
        } else {
            propagation
        },
        options: Vec::new(),
        copy_up: !bind && copy_up,
        create_source: bind,
        labels: BTreeMap::new(),
    })
}

/// One entry of `HostConfig.Mounts` (`--mount`).
fn parse_mount(m: &Value) -> Result<MountPoint> {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    let kind = match s("Type") {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        "" => return Err(invalid("mount type must be set")),
        other @ ("npipe" | "cluster") => {
            return Err(EngineError::NotImplemented(format!(
                "mounts of type {other}"
            )));
        }
        other => {
            return Err(invalid(format!(
                "invalid mount config for type {other:?}: mount type unknown"
            )));
        }
    };
    let target = s("Target");
    if target.is_empty() {
        return Err(invalid("invalid mount config: Target must not be empty"));
    }
    check_destination(target, target)?;
    let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
    let source = s("Source");
    let mut mp = MountPoint {
        kind,
        source: PathBuf::new(),
        destination: target.to_string(),
        name: None,
        rw: !read_only,
        mode: String::new(),
        propagation: String::new(),
        options: Vec::new(),
        copy_up: false,
        create_source: false,
        labels: BTreeMap::new(),
    };
    match kind {
        MountKind::Bind => {
            if !source.starts_with('/') {
                return Err(invalid(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            mp.source = PathBuf::from(source);
            mp.propagation = m
                .pointer("/BindOptions/Propagation")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("rprivate")
                .to_string();
        }
        MountKind::Volume => {
            mp.name = (!source.is_empty()).then(|| source.to_string());
            mp.copy_up = !m
                .pointer("/VolumeOptions/NoCopy")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if let Some(labels) = m
                .pointer("/VolumeOptions/Labels")
                .and_then(Value::as_object)
            {
                mp.labels = labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect();
            }
            if m.pointer("/VolumeOptions/DriverConfig/Name")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty() && d != "local")
            {
                return Err(EngineError::NotImplemented(
                    "volume drivers other than local".into(),
                ));
            }
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(invalid(
                    "invalid mount config for type \"tmpfs\": source must not be set",
                ));
            }
            match m.pointer("/TmpfsOptions/SizeBytes").and_then(Value::as_i64) {
                Some(size) if size < 0 => {
                    return Err(invalid(format!(
                        "invalid mount config for type \"tmpfs\": invalid size {size}: must not be negative"
                    )));
                }
                Some(size) if size > 0 => mp.options.push(format!("size={size}")),
                _ => {}
            }
            if let Some(mode) = m
                .pointer("/TmpfsOptions/Mode")
                .and_then(Value::as_u64)
                .filter(|m| *m > 0)
            {
                mp.options.push(format!("mode={mode:o}"));
            }
        }
    }
    Ok(mp)
}

/// All mounts of a new container, in Docker's precedence: explicit mounts win
/// over anonymous volumes from `Config.Volumes` and the image's VOLUMEs.
pub fn collect(config: &Config, hc: &HostConfig) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let push = |mp: MountPoint, out: &mut Vec<MountPoint>| -> Result<()> {
        if out.iter().any(|m| m.destination == mp.destination) {
            return Err(invalid(format!(
                "Duplicate mount point: {}",
                mp.destination
            )));
        }
        out.push(mp);
        Ok(())
    };
    for spec in hc.binds.iter().flatten() {
        push(parse_bind(spec)?, &mut out)?;
    }
    for m in hc.mounts.iter().flatten() {
        push(parse_mount(m)?, &mut out)?;
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        check_destination(dst, dst)?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        let rw = !options.iter().any(|o| o == "ro");
        push(
            MountPoint {
                kind: MountKind::Tmpfs,
                source: PathBuf::new(),
                destination: dst.clone(),
                name: None,
                rw,
                mode: String::new(),
                propagation: String::new(),
                options,
                copy_up: false,
                create_source: false,
                labels: BTreeMap::new(),
            },
            &mut out,
        )?;
    }
    // Config.Volumes holds both `-v /path` of this request and the image's VOLUMEs.
    for dst in config.volumes.iter().flatten().map(|(k, _)| k) {
        if out.iter().any(|m| &m.destination == dst) {
            continue;
        }
        check_destination(dst, dst)?;
        out.push(MountPoint {
            kind: MountKind::Volume,
            source: PathBuf::new(),
            destination: dst.clone(),
            name: None,
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            options: Vec::new(),
            copy_up: true,
            create_source: false,
            labels: BTreeMap::new(),
        });
    }
    Ok(out)
}

/// Docker's tmpfs defaults, with the user's options taking precedence.
pub fn tmpfs_options(user: &[String]) -> Vec<String> {
    let mut opts: Vec<String> = Vec::new();
    for (flag, opposite) in [("nosuid", "suid"), ("nodev", "dev"), ("noexec", "exec")] {
        if !user.iter().any(|o| o == opposite || o == flag) {
            opts.push(flag.to_string());
        }
    }
    opts.extend(user.iter().cloned());
    opts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_and_volumes_from_v() {
        let b = parse_bind("/host/dir:/data:ro").unwrap();
        assert_eq!(b.kind, MountKind::Bind);
        assert!(!b.rw && b.create_source);
        assert_eq!(b.propagation, "rprivate");
        let v = parse_bind("cache:/cache").unwrap();
        assert_eq!(v.kind, MountKind::Volume);
        assert_eq!(v.name.as_deref(), Some("cache"));
        assert!(v.copy_up);
        let v = parse_bind("cache:/cache:nocopy").unwrap();
        assert!(!v.copy_up);
        assert!(parse_bind("/a:relative").is_err());
        assert!(parse_bind("/a:/b:bogus").is_err());
        assert!(parse_bind("/a:/").is_err());
    }

    #[test]
    fn mount_entries() {
        let m = parse_mount(&json!({"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 448}})).unwrap();
        assert_eq!(m.options, vec!["size=1048576", "mode=700"]);
        let m =
            parse_mount(&json!({"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": true}))
                .unwrap();
        assert!(!m.rw && !m.create_source);
        assert!(parse_mount(&json!({"Type": "bind", "Source": "x", "Target": "/y"})).is_err());
        assert!(parse_mount(&json!({"Type": "npipe", "Target": "/y"})).is_err());
        let m = parse_mount(&json!({"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"NoCopy": true, "Labels": {"k": "l"}}})).unwrap();
        assert!(!m.copy_up);
        assert_eq!(m.labels.get("k").map(String::as_str), Some("l"));
    }

    #[test]
    fn duplicates_and_anonymous_volumes() {
        let mut hc = HostConfig {
            binds: Some(vec!["/a:/data".into(), "v:/data".into()]),
            ..Default::default()
        };
        assert!(collect(&Config::default(), &hc).is_err());
        let cfg = Config {
            volumes: Some(
                [
                    ("/data".to_string(), json!({})),
                    ("/other".to_string(), json!({})),
                ]
                .into(),
            ),
            ..Default::default()
        };
        hc.binds = Some(vec!["/a:/data".into()]);
        let all = collect(&cfg, &hc).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].destination, "/other");
        assert_eq!(all[1].name, None);
    }

    #[test]
    fn tmpfs_defaults() {
        assert_eq!(tmpfs_options(&[]), vec!["nosuid", "nodev", "noexec"]);
        assert_eq!(
            tmpfs_options(&["exec".into(), "size=1m".into()]),
            vec!["nosuid", "nodev", "exec", "size=1m"]
        );
    }
}
