//! `/secrets` and `/configs`. A secret's data is sealed with the cluster's
//! data key before it is stored and never leaves a manager through the API
//! (only the dispatcher opens it, for the nodes whose tasks use it); a
//! config's data is stored as is and shown by inspect, as dockerd does.

use cluster::model::{
    Annotations, Config, ConfigSpec, ContainerSpec, Meta, Secret, SecretSpec, ServiceSpec,
};
use serde::{Deserialize, Serialize};

use super::blobs::{self, Blob};
use super::{Filters, Manager};
use crate::error::{ErrorKind, Result, SwarmError};
use crate::store::{Guards, Kind, Marker};

/// swarmkit's limits (`MaxSecretSize`, `MaxConfigSize`).
const MAX_SECRET: usize = 500 * 1024;
const MAX_CONFIG: usize = 1000 * 1024;

/// A secret as stored: the API's object without its data, and the data
/// sealed for this secret's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretRecord {
    #[serde(flatten)]
    pub secret: Secret,
    #[serde(rename = "berthSealedData")]
    pub sealed: String,
}

impl Blob for SecretRecord {
    const KIND: Kind = Kind::Secret;

    fn id(&self) -> &str {
        &self.secret.id
    }

    fn annotations(&self) -> &Annotations {
        &self.secret.spec.annotations
    }

    fn annotations_mut(&mut self) -> &mut Annotations {
        &mut self.secret.spec.annotations
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.secret.meta
    }

    fn references(cs: &ContainerSpec) -> Vec<(&str, &str)> {
        cs.secrets
            .iter()
            .map(|r| (r.secret_id.as_str(), r.secret_name.as_str()))
            .collect()
    }
}

impl Blob for Config {
    const KIND: Kind = Kind::Config;

    fn id(&self) -> &str {
        &self.id
    }

    fn annotations(&self) -> &Annotations {
        &self.spec.annotations
    }

    fn annotations_mut(&mut self) -> &mut Annotations {
        &mut self.spec.annotations
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }

    fn references(cs: &ContainerSpec) -> Vec<(&str, &str)> {
        cs.configs
            .iter()
            .map(|r| (r.config_id.as_str(), r.config_name.as_str()))
            .collect()
    }
}

/// A templated secret or config is expanded on each node for each task;
/// here it is only refused when it uses what berth cannot expand (a
/// template Go itself rejects, or an unknown driver, is accepted as dockerd
/// accepts it, and fails the task that uses it with swarmkit's error).
fn check_templating(
    what: &str,
    templating: Option<&cluster::model::Driver>,
    data: &[u8],
) -> Result<()> {
    let Some(t) = templating.filter(|t| !t.name.is_empty()) else {
        return Ok(());
    };
    match crate::template::check(&t.name, data) {
        Err(e) if e.is_unsupported() => Err(SwarmError::not_implemented(&format!(
            "templated {what}: {e}"
        ))),
        _ => Ok(()),
    }
}

fn new_meta() -> Meta {
    let now = super::now();
    Meta {
        created_at: now,
        updated_at: now,
        ..Default::default()
    }
}

impl Manager {
    /// The references a service spec makes to secrets and configs all
    /// resolve; the guards keep them existing until the service is written,
    /// and tell secret and config removals that a service changed.
    pub(super) async fn check_references(&self, spec: &ServiceSpec) -> Result<Guards> {
        let guards = Guards::default().bump(&self.store, Marker::ServiceReferences);
        let guards = self.network_guards(spec, guards);
        let Some(cs) = &spec.task_template.container_spec else {
            return Ok(guards);
        };
        let secrets: Vec<SecretRecord> = if cs.secrets.is_empty() {
            Vec::new()
        } else {
            self.blobs(&Filters::default()).await?
        };
        let guards = blobs::check_references(&self.store, spec, &secrets, guards)?;
        let configs: Vec<Config> = if cs.configs.is_empty() {
            Vec::new()
        } else {
            self.blobs(&Filters::default()).await?
        };
        blobs::check_references(&self.store, spec, &configs, guards)
    }

    // ---- secrets ----

    pub async fn secrets(&self, filters: &Filters) -> Result<Vec<Secret>> {
        Ok(self
            .blobs::<SecretRecord>(filters)
            .await?
            .into_iter()
            .map(|r| r.secret)
            .collect())
    }

    pub async fn secret(&self, id_or_name: &str) -> Result<Secret> {
        Ok(self.blob::<SecretRecord>(id_or_name).await?.secret)
    }

    /// `POST /secrets/create`: the new secret's id.
    pub async fn create_secret(&self, mut spec: SecretSpec) -> Result<String> {
        blobs::validate_name(&spec.annotations.name)?;
        if let Some(driver) = &spec.driver {
            // No secret driver plugins here: dockerd's answer for a
            // driver it cannot find.
            if driver.name.is_empty() {
                return Err(blobs::invalid("secret driver must have a name"));
            }
            return Err(SwarmError::new(
                ErrorKind::Internal,
                format!(
                    "rpc error: code = Unknown desc = plugin {:?} not found",
                    driver.name
                ),
            ));
        }
        blobs::validate_size("secret", spec.data.len(), MAX_SECRET)?;
        check_templating("secret", spec.templating.as_ref(), &spec.data)?;
        let id = crate::pki::new_id();
        let data = zeroize::Zeroizing::new(std::mem::take(&mut spec.data));
        let record = SecretRecord {
            sealed: self.key.seal(&id, &data)?,
            secret: Secret {
                id: id.clone(),
                meta: new_meta(),
                spec,
            },
        };
        self.create_blob(&record).await?;
        Ok(id)
    }

    /// `POST /secrets/{id}/update`: labels only.
    pub async fn update_secret(
        &self,
        id_or_name: &str,
        version: i64,
        spec: SecretSpec,
    ) -> Result<()> {
        let key = &self.key;
        self.update_blob::<SecretRecord>(id_or_name, version, &spec.annotations, |current| {
            if spec.data.is_empty() {
                return Ok(true);
            }
            let held = key.open(&current.secret.id, &current.sealed)?;
            Ok(constant_time_eq(&held, &spec.data))
        })
        .await
    }

    /// `DELETE /secrets/{id}`.
    pub async fn remove_secret(&self, id_or_name: &str) -> Result<()> {
        self.remove_blob::<SecretRecord>(id_or_name).await
    }

    // ---- configs ----

    pub async fn configs(&self, filters: &Filters) -> Result<Vec<Config>> {
        self.blobs(filters).await
    }

    pub async fn config(&self, id_or_name: &str) -> Result<Config> {
        self.blob(id_or_name).await
    }

    /// `POST /configs/create`: the new config's id.
    pub async fn create_config(&self, spec: ConfigSpec) -> Result<String> {
        blobs::validate_name(&spec.annotations.name)?;
        blobs::validate_size("config", spec.data.len(), MAX_CONFIG)?;
        check_templating("config", spec.templating.as_ref(), &spec.data)?;
        let id = crate::pki::new_id();
        let config = Config {
            id: id.clone(),
            meta: new_meta(),
            spec,
        };
        self.create_blob(&config).await?;
        Ok(id)
    }

    /// `POST /configs/{id}/update`: labels only.
    pub async fn update_config(
        &self,
        id_or_name: &str,
        version: i64,
        spec: ConfigSpec,
    ) -> Result<()> {
        self.update_blob::<Config>(id_or_name, version, &spec.annotations, |current| {
            Ok(spec.data.is_empty() || spec.data == current.spec.data)
        })
        .await
    }

    /// `DELETE /configs/{id}`.
    pub async fn remove_config(&self, id_or_name: &str) -> Result<()> {
        self.remove_blob::<Config>(id_or_name).await
    }
}

/// Whether a secret's data equals what was sent, in time that does not
/// depend on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
