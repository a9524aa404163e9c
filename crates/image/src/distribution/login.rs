//! `docker login`: proves credentials against a registry's `/v2/` the way
//! Docker does, answering a Basic or Bearer challenge.

use reqwest::StatusCode;

use super::client::{Credentials, RegistryClient, base_url};
use crate::error::ImageError;
use crate::reference::DEFAULT_DOMAIN;

/// The registry host an address names: `https://host:port/v1/` → `host:port`;
/// Docker Hub's index addresses → `docker.io`.
pub fn registry_domain(server_address: &str) -> String {
    let s = server_address.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or_default();
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

/// Checks `credentials` against the registry at `domain` (see
/// [`registry_domain`]); plain http when `insecure`.
pub fn login(domain: &str, credentials: &Credentials, insecure: bool) -> Result<(), ImageError> {
    let client = RegistryClient::new(
        base_url(domain, insecure),
        "",
        Some(credentials.clone()),
        false,
    )?;
    let url = format!("{}/v2/", client.base());
    let resp = client.send(|h| h.get(&url))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // Docker's wording, which its CLI prints after "Error response from daemon".
    let message = format!(
        "login attempt to {url} failed with status: {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Err(ImageError::Unauthorized(message))
    } else {
        Err(ImageError::Registry(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_registry() {
        assert_eq!(registry_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            registry_domain("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_domain(""), "docker.io");
    }
}
