//! What secrets and configs have in common in swarmkit's control API:
//! names of their own rules, unique in any case; lookups by id, name or id
//! prefix; their own filters; only labels may change; and no removal while
//! a service's spec refers to them. Each kind says what differs (its
//! record, its size limit, how its data is compared) in [`Blob`].

use cluster::model::{Annotations, ContainerSpec, Meta, Service};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Filters, Manager, lookup};
use crate::error::{ErrorKind, Result, SwarmError};
use crate::store::{Guards, Kind, Marker, StoreError};

/// How often a write that lost a race to a concurrent one is tried again
/// (each try re-reads and re-checks, so the loser gets the right error).
pub(super) const RACE_RETRIES: usize = 10;

/// A secret or a config as stored.
pub(super) trait Blob: Clone + Serialize + DeserializeOwned {
    const KIND: Kind;
    fn id(&self) -> &str;
    fn annotations(&self) -> &Annotations;
    fn annotations_mut(&mut self) -> &mut Annotations;
    fn meta_mut(&mut self) -> &mut Meta;
    /// The `(id, name)` of each reference `cs` makes to this kind.
    fn references(cs: &ContainerSpec) -> Vec<(&str, &str)>;
}

pub(super) fn invalid(desc: impl std::fmt::Display) -> SwarmError {
    SwarmError::invalid(format!("rpc error: code = InvalidArgument desc = {desc}"))
}

/// swarmkit's name rule for secrets and configs (not the DNS rule of
/// services): `[a-zA-Z0-9]`, then `[a-zA-Z0-9-_.]`, ending alphanumeric,
/// at most 64 bytes.
pub(super) fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("name must be provided"));
    }
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    let bytes = name.as_bytes();
    let ok = name.len() <= 64
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(invalid(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
        ));
    }
    Ok(())
}

/// swarmkit's size rule: at least a byte, less than `max`.
pub(super) fn validate_size(noun: &str, len: usize, max: usize) -> Result<()> {
    if len == 0 || len >= max {
        return Err(invalid(format!(
            "{noun} data must be larger than 0 and less than {max} bytes"
        )));
    }
    Ok(())
}

/// Every object a service's spec refers to exists under the name given,
/// as swarmkit checks at service create and update (dockerd's messages);
/// the guards keep that true until the service is written.
pub(super) fn check_references<T: Blob>(
    store: &crate::store::ClusterStore,
    spec: &cluster::model::ServiceSpec,
    known: &[T],
    guards: Guards,
) -> Result<Guards> {
    let Some(cs) = &spec.task_template.container_spec else {
        return Ok(guards);
    };
    let refs = T::references(cs);
    let missing: Vec<&str> = refs
        .iter()
        .filter(|(id, name)| {
            !known
                .iter()
                .any(|b| b.id() == *id && b.annotations().name == *name)
        })
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        let noun = T::KIND.noun();
        let plural = if missing.len() == 1 { "" } else { "s" };
        return Err(invalid(format!(
            "{noun}{plural} not found: {}",
            missing.join(", ")
        )));
    }
    Ok(refs
        .iter()
        .fold(guards, |g, (id, _)| g.exists(store, T::KIND, id)))
}

impl Manager {
    pub(super) async fn blobs<T: Blob>(&self, filters: &Filters) -> Result<Vec<T>> {
        filters.check_blob_keys()?;
        let (all, _) = self.store.list::<T>(T::KIND).await?;
        let mut out: Vec<T> = all
            .into_iter()
            .map(|s| {
                let mut b = s.value;
                b.meta_mut().version.index = s.version as u64;
                b
            })
            .filter(|b| filters.blob(b.id(), b.annotations()))
            .collect();
        out.sort_by(|a, b| a.annotations().name.cmp(&b.annotations().name));
        Ok(out)
    }

    pub(super) async fn blob<T: Blob>(&self, id_or_name: &str) -> Result<T> {
        let all = self.blobs::<T>(&Filters::default()).await?;
        // Names match in any case, as swarmkit's name index does.
        let found = lookup::one_by(
            &all,
            id_or_name,
            T::KIND.noun(),
            |b| b.id(),
            |b, wanted| b.annotations().name.eq_ignore_ascii_case(wanted),
        )?;
        Ok(found.clone())
    }

    pub(super) async fn create_blob<T: Blob>(&self, value: &T) -> Result<()> {
        let name = value.annotations().name.as_str();
        match self
            .store
            .create(T::KIND, value.id(), Some(name), value)
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::NameConflict { .. }) => Err(SwarmError::new(
                ErrorKind::Conflict,
                format!(
                    "rpc error: code = AlreadyExists desc = {} {name} already exists",
                    T::KIND.noun()
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Only the labels change; `same_data` says whether data sent with the
    /// update is what the object holds (absent data is no change).
    pub(super) async fn update_blob<T: Blob>(
        &self,
        id_or_name: &str,
        version: i64,
        spec: &Annotations,
        same_data: impl FnOnce(&T) -> Result<bool>,
    ) -> Result<()> {
        let mut current = self.blob::<T>(id_or_name).await?;
        if current.annotations().name != spec.name || !same_data(&current)? {
            return Err(invalid("only updates to Labels are allowed"));
        }
        current.annotations_mut().labels = spec.labels.clone();
        current.meta_mut().updated_at = super::now();
        let id = current.id().to_string();
        self.store
            .update(T::KIND, &id, version, None, &current)
            .await?;
        Ok(())
    }

    /// Refused while a service's spec refers to the object; the check and
    /// the removal hold together against a service written in between.
    pub(super) async fn remove_blob<T: Blob>(&self, id_or_name: &str) -> Result<()> {
        let target = self.blob::<T>(id_or_name).await?;
        let (id, name) = (target.id(), target.annotations().name.as_str());
        for _ in 0..RACE_RETRIES {
            let seen = self.store.marker(Marker::ServiceReferences).await?;
            let (services, _) = self.store.list::<Service>(Kind::Service).await?;
            let mut users: Vec<&str> = services
                .iter()
                .filter(|s| {
                    s.value
                        .spec
                        .task_template
                        .container_spec
                        .as_ref()
                        .is_some_and(|cs| T::references(cs).iter().any(|(r, _)| *r == id))
                })
                .map(|s| s.value.spec.annotations.name.as_str())
                .collect();
            if !users.is_empty() {
                users.sort_unstable();
                let services = if users.len() == 1 {
                    "service"
                } else {
                    "services"
                };
                return Err(invalid(format!(
                    "{} '{name}' is in use by the following {services}: {}",
                    T::KIND.noun(),
                    users.join(", ")
                )));
            }
            let guards = Guards::default().unchanged(&self.store, Marker::ServiceReferences, seen);
            match self
                .store
                .delete_guarded(T::KIND, id, Some(name), guards)
                .await
            {
                Err(StoreError::Raced { .. }) => continue,
                Err(StoreError::NotFound { .. }) => {
                    return Err(SwarmError::not_found(T::KIND.noun(), id_or_name));
                }
                other => return Ok(other?),
            }
        }
        Err(StoreError::Raced { kind: T::KIND }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_swarmkit() {
        for ok in ["a", "db_pass", "my.conf", "A-1", &"x".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_name("").unwrap_err().message,
            "rpc error: code = InvalidArgument desc = name must be provided"
        );
        for bad in ["bad name", "-a", "a-", ".a", "a/b", &"x".repeat(65)] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.message.contains("invalid name, only 64"), "{bad}");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn sizes_follow_swarmkit() {
        assert!(validate_size("secret", 1, 512_000).is_ok());
        assert!(validate_size("secret", 511_999, 512_000).is_ok());
        assert_eq!(
            validate_size("secret", 512_000, 512_000)
                .unwrap_err()
                .message,
            "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"
        );
        assert!(validate_size("config", 0, 1_024_000).is_err());
    }
}
