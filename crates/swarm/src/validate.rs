//! The checks a manager runs before it stores a spec, with dockerd's
//! messages (swarmkit's controlapi). The cluster crate's full validation
//! replaces this once it lands; until then these are the ones clients hit.

use cluster::model::ServiceSpec;

use crate::error::{Result, SwarmError};

fn invalid(desc: &str) -> SwarmError {
    SwarmError::invalid(format!("rpc error: code = InvalidArgument desc = {desc}"))
}

pub fn service_spec(spec: &ServiceSpec) -> Result<()> {
    let name = &spec.annotations.name;
    if !name.is_empty() && !dns_label(name) {
        return Err(invalid("name must be valid as a DNS name component"));
    }
    let image = spec
        .task_template
        .container_spec
        .as_ref()
        .map(|c| c.image.as_str())
        .unwrap_or("");
    if image.is_empty() {
        return Err(invalid("ContainerSpec: image reference must be provided"));
    }
    if spec.mode.members_set() > 1 {
        return Err(invalid(
            "service mode must be one of replicated, global, replicated-job or global-job",
        ));
    }
    for c in spec.task_template.constraints() {
        if !(c.contains("==") || c.contains("!=")) {
            return Err(SwarmError::internal(
                "rpc error: code = Unknown desc = constraint expected one operator from ==, !=",
            ));
        }
    }
    Ok(())
}

/// RFC 1123 label: letters, digits and inner hyphens, at most 63 bytes.
fn dns_label(s: &str) -> bool {
    s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
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
    fn dockerds_messages() {
        assert!(service_spec(&spec("web", "bb")).is_ok());
        assert_eq!(
            service_spec(&spec("bad name!", "bb")).unwrap_err().message,
            "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"
        );
        assert_eq!(
            service_spec(&spec("web", "")).unwrap_err().message,
            "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided"
        );
        let mut c = spec("web", "bb");
        c.task_template.placement = Some(cluster::model::Placement {
            constraints: vec!["node.role=manager".into()],
            ..Default::default()
        });
        assert!(service_spec(&c).unwrap_err().message.contains("==, !="));
    }
}
