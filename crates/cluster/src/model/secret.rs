//! Secrets and configs: named blobs that tasks mount. Only their labels
//! can change after creation.

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Driver, Meta, base64_bytes};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Secret {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: SecretSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecretSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    /// dockerd never returns a secret's data; the API layer clears it.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub data: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<Driver>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templating: Option<Driver>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: ConfigSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    #[serde(skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub data: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templating: Option<Driver>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_create_body_round_trips() {
        // docker secret create --label env=prod db_pass -
        let json = r#"{"Name":"db_pass","Labels":{"env":"prod"},"Data":"c2VjcmV0Cg=="}"#;
        let s: SecretSpec = serde_json::from_str(json).unwrap();
        assert_eq!(s.data, b"secret\n");
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
    }

    #[test]
    fn config_with_templating_round_trips() {
        let json = r#"{"Name":"nginx.conf","Labels":{},"Data":"c2VydmVyIHt9","Templating":{"Name":"golang"}}"#;
        let c: ConfigSpec = serde_json::from_str(json).unwrap();
        assert_eq!(c.templating.as_ref().unwrap().name, "golang");
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }
}
