//! swarmkit's checks of a spec's secret and config references (ids and
//! names given, one target each, no two files at one target), with its
//! messages; the rest of a spec's validation is the cluster crate's.

use cluster::model::ServiceSpec;

use crate::error::{Result, SwarmError};

fn invalid(desc: &str) -> SwarmError {
    SwarmError::invalid(format!("rpc error: code = InvalidArgument desc = {desc}"))
}

pub fn service_spec(spec: &ServiceSpec) -> Result<()> {
    crate::leader::depends::validate(&spec.annotations.labels).map_err(|e| invalid(&e))?;
    if let Some(cs) = &spec.task_template.container_spec {
        file_references(
            "secret",
            cs.secrets.iter().map(|r| Reference {
                id: &r.secret_id,
                name: &r.secret_name,
                file: r.file.as_ref().map(|f| f.name.as_str()),
                other_target: false,
            }),
        )?;
        file_references(
            "config",
            cs.configs.iter().map(|r| Reference {
                id: &r.config_id,
                name: &r.config_name,
                file: r.file.as_ref().map(|f| f.name.as_str()),
                other_target: r.runtime.is_some(),
            }),
        )?;
    }
    Ok(())
}

/// A secret's or config's reference in a container spec.
struct Reference<'a> {
    id: &'a str,
    name: &'a str,
    file: Option<&'a str>,
    /// A config can target the runtime (credential specs) instead of a file.
    other_target: bool,
}

/// swarmkit's checks of a spec's secret or config references: ids and
/// names given, a target each, no two files at one target.
fn file_references<'a>(noun: &str, refs: impl Iterator<Item = Reference<'a>>) -> Result<()> {
    let mut targets: Vec<(&str, &str)> = Vec::new();
    for r in refs {
        if r.id.is_empty() || r.name.is_empty() {
            return Err(invalid(&format!("malformed {noun} reference")));
        }
        let Some(file) = r.file else {
            if r.other_target {
                continue;
            }
            return Err(invalid(&format!(
                "malformed {noun} reference, no target provided"
            )));
        };
        if file.is_empty() {
            return Err(invalid(&format!(
                "malformed file {noun} reference, invalid target file name provided"
            )));
        }
        if let Some((_, first)) = targets.iter().find(|(t, _)| *t == file) {
            return Err(invalid(&format!(
                "{noun} references '{first}' and '{}' have a conflicting target: '{file}'",
                r.name
            )));
        }
        targets.push((file, r.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, image: &str) -> ServiceSpec {
        let mut s = ServiceSpec::default();
        s.annotations.name = name.into();
        s.task_template.container_spec = Some(cluster::model::ContainerSpec {
            image: image.into(),
            ..Default::default()
        });
        s
    }

    #[test]
    fn secret_and_config_references_as_swarmkit_checks_them() {
        use cluster::model::{ConfigReference, FileTarget, SecretReference};
        let file = |name: &str| {
            Some(FileTarget {
                name: name.into(),
                ..Default::default()
            })
        };
        let secret = |id: &str, name: &str, target: Option<FileTarget>| SecretReference {
            file: target,
            secret_id: id.into(),
            secret_name: name.into(),
        };
        let with = |refs: Vec<SecretReference>| {
            let mut s = spec("web", "bb");
            if let Some(cs) = s.task_template.container_spec.as_mut() {
                cs.secrets = refs;
            }
            service_spec(&s).map_err(|e| e.message)
        };
        let desc = |m: &str| format!("rpc error: code = InvalidArgument desc = {m}");
        assert!(
            with(vec![
                secret("i1", "a", file("a")),
                secret("i2", "b", file("b"))
            ])
            .is_ok()
        );
        assert_eq!(
            with(vec![secret("", "a", file("a"))]).unwrap_err(),
            desc("malformed secret reference")
        );
        assert_eq!(
            with(vec![secret("i1", "a", None)]).unwrap_err(),
            desc("malformed secret reference, no target provided")
        );
        assert_eq!(
            with(vec![secret("i1", "a", file(""))]).unwrap_err(),
            desc("malformed file secret reference, invalid target file name provided")
        );
        assert_eq!(
            with(vec![
                secret("i1", "s1", file("x")),
                secret("i2", "s2", file("x"))
            ])
            .unwrap_err(),
            desc("secret references 's1' and 's2' have a conflicting target: 'x'")
        );
        let mut s = spec("web", "bb");
        if let Some(cs) = s.task_template.container_spec.as_mut() {
            cs.configs = vec![ConfigReference {
                runtime: Some(Default::default()),
                config_id: "c".into(),
                config_name: "cred".into(),
                ..Default::default()
            }];
        }
        assert!(service_spec(&s).is_ok(), "a runtime target is a target");
    }
}
