//! JSON values on any [`KvStore`]: the cluster stores Docker's own types as
//! JSON, and reads them back with the revisions that are their
//! `Version.Index`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Compare, KeyValue, KvError, KvResult, KvStore, LeaseId, Op};

/// A decoded value with the revisions of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub key: String,
    pub value: T,
    pub create_revision: i64,
    /// Docker's `Version.Index` of the object.
    pub mod_revision: i64,
    pub version: i64,
    pub lease: Option<LeaseId>,
}

pub fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> KvResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| KvError::Json {
        key: key.to_string(),
        message: e.to_string(),
    })
}

pub fn decode<T: DeserializeOwned>(kv: &KeyValue) -> KvResult<Versioned<T>> {
    let value = serde_json::from_slice(&kv.value).map_err(|e| KvError::Json {
        key: kv.key.clone(),
        message: e.to_string(),
    })?;
    Ok(Versioned {
        key: kv.key.clone(),
        value,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    })
}

/// A put of `value` as JSON, for a transaction.
pub fn put_op<T: Serialize + ?Sized>(key: &str, value: &T, lease: Option<LeaseId>) -> KvResult<Op> {
    Ok(Op::Put {
        key: key.to_string(),
        value: encode(key, value)?,
        lease,
    })
}

pub async fn get<T: DeserializeOwned, S: KvStore + ?Sized>(
    store: &S,
    key: &str,
) -> KvResult<Option<Versioned<T>>> {
    store.get(key).await?.as_ref().map(decode).transpose()
}

/// Every value under `prefix` (sorted by key) and the revision they were
/// read at; one value that does not decode fails the whole list.
pub async fn list<T: DeserializeOwned, S: KvStore + ?Sized>(
    store: &S,
    prefix: &str,
) -> KvResult<(Vec<Versioned<T>>, i64)> {
    let listing = store.range(prefix).await?;
    let values = listing.kvs.iter().map(decode).collect::<KvResult<_>>()?;
    Ok((values, listing.revision))
}

/// Unconditional put; the revision it was written at.
pub async fn put<T: Serialize + ?Sized, S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    value: &T,
) -> KvResult<i64> {
    store.put(key, encode(key, value)?).await
}

/// Creates `key` only if it does not exist; `None` when it did (the
/// revision of the write otherwise).
pub async fn create<T: Serialize + ?Sized, S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    value: &T,
) -> KvResult<Option<i64>> {
    let r = store
        .txn(
            vec![Compare::absent(key)],
            vec![put_op(key, value, None)?],
            vec![],
        )
        .await?;
    Ok(r.succeeded.then_some(r.revision))
}

/// Replaces `key` only if it was last written at `mod_revision` (an update
/// carrying `?version=N`); `None` when it was not ("update out of sequence").
pub async fn update<T: Serialize + ?Sized, S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    value: &T,
    mod_revision: i64,
) -> KvResult<Option<i64>> {
    let r = store
        .txn(
            vec![Compare::mod_revision(key, mod_revision)],
            vec![put_op(key, value, None)?],
            vec![],
        )
        .await?;
    Ok(r.succeeded.then_some(r.revision))
}
