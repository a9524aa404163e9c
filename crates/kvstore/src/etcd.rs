//! [`EtcdStore`]: the [`KvStore`] over etcd's v3 gRPC API (`etcd-client`,
//! rustls for TLS with client certificates), plus the cluster's member
//! management (add, remove, list). etcd's errors become typed [`KvError`]s;
//! every request is bounded in time, because the client's balanced channel
//! waits forever when no endpoint is reachable; watches resume by
//! themselves when their stream breaks (a member killed, a lost leader).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, Identity,
    PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse, WatchOptions, WatchStream,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::store::{
    BoxFuture, CmpOp, Compare, CompareTarget, KeyValue, KvError, KvResult, KvStore, LeaseId,
    Listing, Op, OpResponse, TxnResult, Watch, WatchEvent, WatchItem,
};

/// PEM files for mutual TLS: the CA that signed the other side's certificate,
/// and this side's certificate and key. The same shape serves etcd members
/// (peer and client listeners) and clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Time bounds of an [`EtcdStore`].
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// For one TCP/TLS connection, and for the first answer at connect.
    pub connect_timeout: Duration,
    /// For one request (txn, range, lease call, opening a watch).
    pub request_timeout: Duration,
    /// How long a broken watch keeps trying to resume before it ends with
    /// `Unavailable`.
    pub watch_resume: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            watch_resume: Duration::from_secs(15),
        }
    }
}

/// A member of the etcd cluster as `member_list` shows it; a member added
/// but not started yet has no name and no client URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What a new member needs to start: its id and the `--initial-cluster` it
/// must be started with (with `--initial-cluster-state existing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAdded {
    pub id: u64,
    pub initial_cluster: String,
    pub members: Vec<MemberInfo>,
}

/// How long `member_add` waits for etcd to consider its cluster healthy.
const MEMBER_ADD_PATIENCE: Duration = Duration::from_secs(15);

/// A client of an etcd cluster. Clones share the connections.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    opts: EtcdOptions,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

fn read_pem(what: &str, path: &Path) -> KvResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| KvError::Config(format!("{what} {}: {e}", path.display())))
}

/// The largest answer taken from etcd (a range over every task of a big
/// cluster, a watch batch, a transaction of gets): tonic's default of
/// 4 MiB is a few thousand tasks, and etcd itself sends what it has.
pub const MAX_RESPONSE_BYTES: usize = 512 << 20;

impl EtcdStore {
    /// Connects to the cluster at `endpoints` (`https://host:port`, or
    /// `host:port` with the scheme from whether `tls` is given) and checks
    /// that it answers, so a wrong address, a refused certificate or a
    /// cluster without quorum is an error here rather than at first use.
    pub async fn connect(endpoints: &[String], tls: Option<&TlsFiles>) -> KvResult<Self> {
        Self::connect_with(endpoints, tls, EtcdOptions::default()).await
    }

    pub async fn connect_with(
        endpoints: &[String],
        tls: Option<&TlsFiles>,
        opts: EtcdOptions,
    ) -> KvResult<Self> {
        if endpoints.is_empty() {
            return Err(KvError::Config("no etcd endpoints given".into()));
        }
        let mut co = ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            // Pings only while streams (watches) are open: etcd's default
            // enforcement (5 s minimum, none without streams) would answer
            // more eager pings with GOAWAY "too many pings".
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            // A member cut off from the others refuses requests (and ends
            // watches) instead of serving stale reads or silence.
            .with_require_leader(true);
        if let Some(t) = tls {
            let ca = read_pem("CA certificate", &t.ca)?;
            let cert = read_pem("certificate", &t.cert)?;
            let key = read_pem("key", &t.key)?;
            co = co.with_tls(
                TlsOptions::new()
                    .ca_certificate(Certificate::from_pem(ca))
                    .identity(Identity::from_pem(cert, key)),
            );
        }
        let client =
            match tokio::time::timeout(opts.connect_timeout, Client::connect(endpoints, Some(co)))
                .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(map_err(e, &Ctx::default())),
                Err(_) => {
                    return Err(KvError::Unavailable(format!(
                        "no etcd endpoint of {endpoints:?} answered within {:?}",
                        opts.connect_timeout
                    )));
                }
            };
        let store = EtcdStore {
            client,
            opts,
            endpoints: endpoints.to_vec(),
        };
        let probe = store
            .call(Ctx::default(), |mut c| async move {
                c.get("health", None).await
            })
            .await;
        match probe {
            Ok(_) => Ok(store),
            Err(KvError::Unavailable(m)) => Err(KvError::Unavailable(format!(
                "{m} (down, without quorum, or refusing this client's TLS)"
            ))),
            Err(e) => Err(e),
        }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Runs one request under the request timeout. A request that never
    /// left (the balancer picked a dead member's endpoint) is sent again, to
    /// another member: safe for writes too, as no server saw it.
    async fn call<T, F, Fut>(&self, ctx: Ctx, mut attempt: F) -> KvResult<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.opts.request_timeout;
        let mut last = None;
        loop {
            match tokio::time::timeout_at(deadline, attempt(self.client.clone())).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if never_sent(&e) => {
                    tracing::debug!("etcd request not sent ({e}), trying again");
                    last = Some(e);
                    let pause = tokio::time::Instant::now() + Duration::from_millis(50);
                    if pause >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(pause).await;
                }
                Ok(Err(e)) => return Err(map_err(e, &ctx)),
                Err(_) => break,
            }
        }
        Err(KvError::Unavailable(match last {
            Some(e) => format!(
                "no etcd endpoint of {:?} reachable within {:?}: {e}",
                self.endpoints, self.opts.request_timeout
            ),
            None => format!("etcd did not answer within {:?}", self.opts.request_timeout),
        }))
    }

    /// Adds a member (a voting one) with these peer URLs; start it with the
    /// returned `initial_cluster` and `--initial-cluster-state existing`.
    /// etcd refuses while a previously added member has not started yet
    /// (its strict reconfiguration check protects the quorum), and for 5 s
    /// after a member joined, which this waits out.
    pub async fn member_add(&self, name: &str, peer_urls: &[String]) -> KvResult<MemberAdded> {
        // etcd's strict reconfiguration check refuses ("unhealthy cluster")
        // until its leader has been connected to every member for 5 s, as
        // right after the previous member joined: wait that out.
        let deadline = tokio::time::Instant::now() + MEMBER_ADD_PATIENCE;
        let resp = loop {
            match self
                .call(Ctx::default(), |mut c| {
                    let urls = peer_urls.to_vec();
                    async move { c.member_add(urls, None).await }
                })
                .await
            {
                Err(KvError::Unavailable(m))
                    if m.contains("unhealthy cluster")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => break other?,
            }
        };
        let id = resp
            .member()
            .map(|m| m.id())
            .ok_or_else(|| KvError::Rejected("member add answered without the member".into()))?;
        let members: Vec<MemberInfo> = resp.member_list().iter().map(member_info).collect();
        let mut parts = Vec::new();
        for m in &members {
            let n = if m.id == id { name } else { m.name.as_str() };
            for u in &m.peer_urls {
                parts.push(format!("{n}={u}"));
            }
        }
        Ok(MemberAdded {
            id,
            initial_cluster: parts.join(","),
            members,
        })
    }

    /// Removes a member; like an addition, refused by the strict
    /// reconfiguration check for 5 s after the last change, waited out.
    pub async fn member_remove(&self, id: u64) -> KvResult<()> {
        let deadline = tokio::time::Instant::now() + MEMBER_ADD_PATIENCE;
        loop {
            match self
                .call(
                    Ctx::default(),
                    |mut c| async move { c.member_remove(id).await },
                )
                .await
            {
                Err(KvError::Unavailable(m))
                    if m.contains("unhealthy cluster")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => {
                    other?;
                    return Ok(());
                }
            }
        }
    }

    pub async fn member_list(&self) -> KvResult<Vec<MemberInfo>> {
        let resp = self
            .call(Ctx::default(), |mut c| async move { c.member_list().await })
            .await?;
        Ok(resp.members().iter().map(member_info).collect())
    }
}

fn member_info(m: &etcd_client::Member) -> MemberInfo {
    MemberInfo {
        id: m.id(),
        name: m.name().to_string(),
        peer_urls: m.peer_urls().to_vec(),
        client_urls: m.client_urls().to_vec(),
        is_learner: m.is_learner(),
    }
}

/// What an error needs from its request to be precise.
#[derive(Default)]
struct Ctx {
    revision: i64,
    lease: Option<LeaseId>,
}

fn map_err(e: etcd_client::Error, ctx: &Ctx) -> KvError {
    use etcd_client::Error as E;
    match e {
        E::GRpcStatus(s) => status_error(s.code(), s.message(), ctx),
        E::LeaseKeepAliveError(m) if m.contains("not found") => {
            KvError::LeaseNotFound(ctx.lease.unwrap_or(LeaseId(0)))
        }
        E::InvalidArgs(m) => KvError::Config(m),
        E::InvalidUri(u) => KvError::Config(format!("invalid endpoint: {u}")),
        E::EndpointError(m) => KvError::Config(m),
        other => KvError::Unavailable(other.to_string()),
    }
}

/// Whether the request surely never reached a server: the connection to
/// the endpoint the balancer picked could not even be made.
fn never_sent(e: &etcd_client::Error) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    ["tcp connect error", "tcp open error", "connection refused"]
        .iter()
        .any(|w| m.contains(w))
}

fn status_error(code: Code, msg: &str, ctx: &Ctx) -> KvError {
    let msg = msg.trim_start_matches("etcdserver: ").to_string();
    if msg.contains("required revision has been compacted") {
        return KvError::Compacted {
            compact_revision: ctx.revision,
        };
    }
    if msg.contains("required revision is a future revision") {
        return KvError::FutureRevision {
            revision: ctx.revision,
        };
    }
    if msg.contains("requested lease not found") {
        return KvError::LeaseNotFound(ctx.lease.unwrap_or(LeaseId(0)));
    }
    match code {
        Code::InvalidArgument | Code::OutOfRange => KvError::InvalidArgument(msg),
        Code::PermissionDenied | Code::Unauthenticated => KvError::PermissionDenied(msg),
        // Unknown is what tonic reports for a broken connection too.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Unknown => KvError::Unavailable(msg),
        other => KvError::Rejected(format!("{other:?}: {msg}")),
    }
}

fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        // Keys berth writes are UTF-8; a foreign binary key stays visible.
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
    }
}

fn compare(c: Compare) -> etcd_client::Compare {
    let op = match c.op {
        CmpOp::Equal => CompareOp::Equal,
        CmpOp::NotEqual => CompareOp::NotEqual,
        CmpOp::Less => CompareOp::Less,
        CmpOp::Greater => CompareOp::Greater,
    };
    match c.target {
        CompareTarget::ModRevision(n) => etcd_client::Compare::mod_revision(c.key, op, n),
        CompareTarget::CreateRevision(n) => etcd_client::Compare::create_revision(c.key, op, n),
        CompareTarget::Version(n) => etcd_client::Compare::version(c.key, op, n),
        CompareTarget::Value(v) => etcd_client::Compare::value(c.key, op, v),
    }
}

fn txn_op(op: Op) -> TxnOp {
    match op {
        Op::Put { key, value, lease } => {
            TxnOp::put(key, value, lease.map(|l| PutOptions::new().with_lease(l.0)))
        }
        Op::Delete { key } => TxnOp::delete(key, None),
        Op::DeletePrefix { prefix } => {
            TxnOp::delete(prefix, Some(DeleteOptions::new().with_prefix()))
        }
        Op::Get { key } => TxnOp::get(key, None),
    }
}

/// The lease of a transaction's puts, for a `LeaseNotFound` (etcd does not
/// say which one it missed).
fn first_lease(ops: &[Op]) -> Option<LeaseId> {
    ops.iter().find_map(|op| match op {
        Op::Put { lease, .. } => *lease,
        _ => None,
    })
}

fn watch_events(resp: &etcd_client::WatchResponse) -> Vec<WatchEvent> {
    resp.events()
        .iter()
        .filter_map(|ev| {
            let kv = ev.kv()?;
            Some(match ev.event_type() {
                EventType::Put => WatchEvent::Put(key_value(kv)),
                EventType::Delete => WatchEvent::Delete {
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    mod_revision: kv.mod_revision(),
                    prev: ev.prev_kv().map(key_value),
                },
            })
        })
        .collect()
}

/// Opens a watch from `start` (0: now) and waits until etcd confirms it,
/// so writes made after this returns are seen. Returns the stream and the
/// revision the next event will have at least.
async fn open_watch(store: &EtcdStore, prefix: &str, start: i64) -> KvResult<(WatchStream, i64)> {
    let opts = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_start_revision(start);
    store
        .call(Ctx::default(), |c| {
            let opts = opts.clone();
            async move {
                let mut ws = c
                    .watch_client()
                    .max_decoding_message_size(MAX_RESPONSE_BYTES)
                    .watch(prefix, Some(opts))
                    .await?;
                match ws.message().await? {
                    Some(r) if r.compact_revision() > 0 => Ok(Err(KvError::Compacted {
                        compact_revision: r.compact_revision(),
                    })),
                    Some(r) if r.canceled() => Err(etcd_client::Error::WatchError(format!(
                        "watch refused: {}",
                        r.cancel_reason()
                    ))),
                    Some(r) => {
                        let now = r.header().map_or(0, |h| h.revision());
                        let next = if start > 0 { start } else { now + 1 };
                        Ok(Ok((ws, next)))
                    }
                    None => Err(etcd_client::Error::WatchError(
                        "watch stream closed before it was created".into(),
                    )),
                }
            }
        })
        .await?
}

/// Forwards one watch's events, resuming it from the revision after the
/// last event delivered whenever its stream breaks. That revision comes from
/// the events, never from a response's header: while catching up etcd sends
/// several revisions per response with the header at the store's current
/// revision, so resuming from a header would skip what was not sent yet.
async fn pump(
    store: EtcdStore,
    prefix: String,
    mut ws: WatchStream,
    mut next: i64,
    tx: mpsc::Sender<WatchItem>,
) {
    loop {
        let msg = tokio::select! {
            _ = tx.closed() => return,
            m = ws.message() => m,
        };
        let broken = match msg {
            Ok(Some(resp)) => {
                if resp.compact_revision() > 0 {
                    let _ = tx
                        .send(Err(KvError::Compacted {
                            compact_revision: resp.compact_revision(),
                        }))
                        .await;
                    return;
                }
                if resp.canceled() {
                    format!("watch canceled: {}", resp.cancel_reason())
                } else {
                    let events = watch_events(&resp);
                    if let Some(last) = events.last() {
                        next = last.revision() + 1;
                        if tx.send(Ok(events)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            }
            Ok(None) => "watch stream ended".to_string(),
            Err(e) => map_err(e, &Ctx::default()).to_string(),
        };
        tracing::debug!(%prefix, next, "etcd watch broke ({broken}), resuming");
        match resume(&store, &prefix, next, &tx).await {
            Ok(s) => ws = s,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

async fn resume(
    store: &EtcdStore,
    prefix: &str,
    next: i64,
    tx: &mpsc::Sender<WatchItem>,
) -> KvResult<WatchStream> {
    let deadline = tokio::time::Instant::now() + store.opts.watch_resume;
    let mut backoff = Duration::from_millis(50);
    loop {
        if tx.is_closed() {
            return Err(KvError::Unavailable("watch dropped".into()));
        }
        match open_watch(store, prefix, next).await {
            Ok((ws, _)) => return Ok(ws),
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

impl KvStore for EtcdStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, KvResult<Option<KeyValue>>> {
        Box::pin(async move {
            let resp = self
                .call(
                    Ctx::default(),
                    |mut c| async move { c.get(key, None).await },
                )
                .await?;
            Ok(resp.kvs().first().map(key_value))
        })
    }

    fn range<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, KvResult<Listing>> {
        Box::pin(async move {
            let resp = self
                .call(Ctx::default(), |c| async move {
                    c.kv_client()
                        .max_decoding_message_size(MAX_RESPONSE_BYTES)
                        .get(prefix, Some(GetOptions::new().with_prefix()))
                        .await
                })
                .await?;
            Ok(Listing {
                kvs: resp.kvs().iter().map(key_value).collect(),
                revision: resp.header().map_or(0, |h| h.revision()),
            })
        })
    }

    fn txn(
        &self,
        compares: Vec<Compare>,
        on_success: Vec<Op>,
        on_failure: Vec<Op>,
    ) -> BoxFuture<'_, KvResult<TxnResult>> {
        Box::pin(async move {
            let ctx = Ctx {
                revision: 0,
                lease: first_lease(&on_success).or_else(|| first_lease(&on_failure)),
            };
            let txn = Txn::new()
                .when(compares.into_iter().map(compare).collect::<Vec<_>>())
                .and_then(on_success.into_iter().map(txn_op).collect::<Vec<_>>())
                .or_else(on_failure.into_iter().map(txn_op).collect::<Vec<_>>());
            let resp = self
                .call(ctx, |c| {
                    let txn = txn.clone();
                    async move {
                        c.kv_client()
                            .max_decoding_message_size(MAX_RESPONSE_BYTES)
                            .txn(txn)
                            .await
                    }
                })
                .await?;
            let responses = resp
                .op_responses()
                .into_iter()
                .map(|r| match r {
                    TxnOpResponse::Put(_) => OpResponse::Put,
                    TxnOpResponse::Delete(d) => OpResponse::Delete {
                        deleted: d.deleted(),
                    },
                    TxnOpResponse::Get(g) => OpResponse::Get(g.kvs().first().map(key_value)),
                    // Nested transactions are never sent.
                    TxnOpResponse::Txn(_) => OpResponse::Put,
                })
                .collect();
            Ok(TxnResult {
                succeeded: resp.succeeded(),
                revision: resp.header().map_or(0, |h| h.revision()),
                responses,
            })
        })
    }

    fn watch<'a>(&'a self, prefix: &'a str, start_revision: i64) -> BoxFuture<'a, KvResult<Watch>> {
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(64);
            let (ws, next) = match open_watch(self, prefix, start_revision.max(0)).await {
                Err(e @ KvError::Compacted { .. }) => {
                    // As from the memory store: the first item says so.
                    let _ = tx.send(Err(e)).await;
                    return Ok(Watch::new(ReceiverStream::new(rx)));
                }
                other => other?,
            };
            tokio::spawn(pump(self.clone(), prefix.to_string(), ws, next, tx));
            Ok(Watch::new(ReceiverStream::new(rx)))
        })
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, KvResult<LeaseId>> {
        Box::pin(async move {
            if ttl.is_zero() {
                return Err(KvError::InvalidArgument(
                    "a lease needs a TTL above zero".into(),
                ));
            }
            // etcd counts whole seconds; round up so a lease never ends early.
            let secs = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
                .map_err(|_| KvError::InvalidArgument(format!("TTL {ttl:?} too large")))?;
            let resp = self
                .call(Ctx::default(), |mut c| async move {
                    c.lease_grant(secs, None).await
                })
                .await?;
            Ok(LeaseId(resp.id()))
        })
    }

    fn keep_alive(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<Duration>> {
        Box::pin(async move {
            let ctx = Ctx {
                revision: 0,
                lease: Some(lease),
            };
            let ttl = self
                .call(ctx, |mut c| async move {
                    // Opening the stream sends the first refresh and fails
                    // when the lease is gone; its answer is not handed out,
                    // so a second refresh tells the TTL.
                    let (mut keeper, mut stream) = c.lease_keep_alive(lease.0).await?;
                    keeper.keep_alive().await?;
                    match stream.message().await? {
                        Some(r) if r.ttl() > 0 => Ok(r.ttl()),
                        Some(_) => Err(etcd_client::Error::LeaseKeepAliveError(
                            "lease not found".into(),
                        )),
                        None => Err(etcd_client::Error::LeaseKeepAliveError(
                            "keep-alive stream closed".into(),
                        )),
                    }
                })
                .await?;
            Ok(Duration::from_secs(u64::try_from(ttl).unwrap_or(0)))
        })
    }

    fn revoke(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<()>> {
        Box::pin(async move {
            let ctx = Ctx {
                revision: 0,
                lease: Some(lease),
            };
            self.call(ctx, |mut c| async move { c.lease_revoke(lease.0).await })
                .await?;
            Ok(())
        })
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, KvResult<()>> {
        Box::pin(async move {
            let ctx = Ctx {
                revision,
                lease: None,
            };
            self.call(ctx, |mut c| async move { c.compact(revision, None).await })
                .await?;
            Ok(())
        })
    }

    fn revision(&self) -> BoxFuture<'_, KvResult<i64>> {
        Box::pin(async move {
            // Any read answers with the store's revision in its header.
            let resp = self
                .call(Ctx::default(), |mut c| async move {
                    c.get("health", None).await
                })
                .await?;
            Ok(resp.header().map_or(0, |h| h.revision()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_errors_become_typed_errors() {
        let ctx = Ctx {
            revision: 7,
            lease: Some(LeaseId(9)),
        };
        let cases = [
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
                KvError::Compacted {
                    compact_revision: 7,
                },
            ),
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
                KvError::FutureRevision { revision: 7 },
            ),
            (
                Code::NotFound,
                "etcdserver: requested lease not found",
                KvError::LeaseNotFound(LeaseId(9)),
            ),
            (
                Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
                KvError::InvalidArgument("duplicate key given in txn request".into()),
            ),
            (
                Code::Unavailable,
                "etcdserver: no leader",
                KvError::Unavailable("no leader".into()),
            ),
            (
                Code::FailedPrecondition,
                "etcdserver: Peer URLs already exists",
                KvError::Rejected("FailedPrecondition: Peer URLs already exists".into()),
            ),
        ];
        for (code, msg, want) in cases {
            assert_eq!(status_error(code, msg, &ctx), want, "{msg}");
        }
        let keeper = etcd_client::Error::LeaseKeepAliveError("lease not found".into());
        assert_eq!(map_err(keeper, &ctx), KvError::LeaseNotFound(LeaseId(9)));
    }

    #[test]
    fn only_unsent_requests_are_retried() {
        let refused =
            etcd_client::Error::GRpcStatus(tonic::Status::unavailable("tcp connect error"));
        assert!(never_sent(&refused));
        let broken =
            etcd_client::Error::GRpcStatus(tonic::Status::unavailable("h2 protocol error"));
        assert!(!never_sent(&broken));
    }
}
