//! The etcd backend (etcd v3 API).
//!
//! Keys handed to the [`Backend`] trait (`/configmaps/default/x`) are stored under the
//! backend's prefix (`/registry/configmaps/default/x`), upstream's layout, so `etcdctl get
//! --prefix /registry/` shows what Den wrote. Every call clones the (cheap) client, so any
//! number of requests can be in flight at once.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchOptions,
};

use crate::{
    Backend, EventType, KeyValue, ListResult, Result, Revision, StorageError, WatchEvent,
    WatchStream,
};

/// How long `connect` waits for etcd before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const COMPACTED_MESSAGE: &str = "required revision has been compacted";
const FUTURE_MESSAGE: &str = "required revision is a future revision";

/// The etcd-backed [`Backend`].
#[derive(Clone)]
pub struct EtcdBackend {
    client: Client,
    /// Prepended to every key, e.g. `/registry`.
    prefix: String,
    /// The endpoints, for error messages.
    endpoints: String,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Connects to `endpoints`; every key is stored under `prefix` (e.g. `/registry`).
    /// Fails within a few seconds with `Unavailable` when etcd cannot be reached.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self> {
        let names = endpoints.join(",");
        let unavailable =
            |e: &dyn std::fmt::Display| StorageError::Unavailable(format!("etcd at {names}: {e}"));
        if endpoints.is_empty() {
            return Err(unavailable(&"no endpoints given"));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
        let connect = async {
            let client = Client::connect(endpoints, Some(options))
                .await
                .map_err(|e| unavailable(&e))?;
            // The channel connects lazily: one request proves etcd answers.
            client
                .kv_client()
                .get(prefix, Some(GetOptions::new().with_count_only()))
                .await
                .map_err(|e| unavailable(&e))?;
            Ok(client)
        };
        let client = tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connect)
            .await
            .map_err(|_| unavailable(&"timed out connecting"))??;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            endpoints: names,
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        KeyValue {
            key: self.trim(kv.key()),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        }
    }

    fn trim(&self, key: &[u8]) -> String {
        let key = String::from_utf8_lossy(key);
        key.strip_prefix(self.prefix.as_str())
            .unwrap_or(&key)
            .to_owned()
    }

    /// Maps a client error; revision errors are left to the callers that know the revision.
    fn error(&self, e: etcd_client::Error) -> StorageError {
        use etcd_client::Error as E;
        match e {
            E::GRpcStatus(status) => {
                match i32::from(status.code()) {
                    GRPC_UNAVAILABLE | GRPC_DEADLINE_EXCEEDED => StorageError::Unavailable(
                        format!("etcd at {}: {}", self.endpoints, status.message()),
                    ),
                    _ => StorageError::Internal(format!("etcd: {}", status.message())),
                }
            }
            E::TransportError(e) => {
                StorageError::Unavailable(format!("etcd at {}: {e}", self.endpoints))
            }
            E::IoError(e) => StorageError::Unavailable(format!("etcd at {}: {e}", self.endpoints)),
            other => StorageError::Internal(format!("etcd: {other}")),
        }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.client
            .kv_client()
            .txn(txn)
            .await
            .map_err(|e| self.error(e))
    }

    /// The first key of the else-branch `get` of a failed transaction.
    fn current_from_failed(&self, resp: &TxnResponse) -> Option<KeyValue> {
        resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| self.kv(kv)),
            _ => None,
        })
    }

    /// The store's compacted revision, learnt by watching from revision 1 (etcd answers with
    /// its compact revision). Best effort: 0 when it cannot be learnt quickly.
    async fn compacted_revision(&self) -> Revision {
        let probe = async {
            let mut stream = self
                .client
                .watch_client()
                .watch(
                    self.full_key("/\0den-compaction-probe"),
                    Some(WatchOptions::new().with_start_revision(1)),
                )
                .await
                .ok()?;
            while let Ok(Some(resp)) = stream.message().await {
                if resp.compact_revision() != 0 {
                    return Some(resp.compact_revision());
                }
                if resp.canceled() || !resp.events().is_empty() {
                    return None;
                }
            }
            None
        };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Maps an error of a read or compaction at `revision`.
    async fn revision_error(&self, e: etcd_client::Error, revision: Revision) -> StorageError {
        let message = match &e {
            etcd_client::Error::GRpcStatus(status) => status.message().to_owned(),
            _ => String::new(),
        };
        if message.contains(COMPACTED_MESSAGE) {
            StorageError::Compacted {
                requested: revision,
                compacted: self.compacted_revision().await,
            }
        } else if message.contains(FUTURE_MESSAGE) {
            match self.current_revision().await {
                Ok(current) => StorageError::FutureRevision {
                    requested: revision,
                    current,
                },
                Err(e) => e,
            }
        } else {
            self.error(e)
        }
    }
}

/// gRPC status codes (as integers, so this crate needs no direct tonic dependency).
const GRPC_DEADLINE_EXCEEDED: i32 = 4;
const GRPC_UNAVAILABLE: i32 = 14;

/// How many keys one range request reads when a list has no (or a large) limit.
const LIST_PAGE: usize = 500;

/// Whether a gRPC error says the response outgrew the message size limit.
fn is_message_too_large(err: &etcd_client::Error) -> bool {
    let text = err.to_string();
    text.contains("message length too large") || text.contains("larger than max")
}

/// The first key after every key starting with `prefix` (etcd's range end for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Empty or all 0xff: everything from the key on.
    vec![0]
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, |h| h.revision())
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let resp = self
            .client
            .kv_client()
            .get(self.full_key(key), None)
            .await
            .map_err(|e| self.error(e))?;
        Ok((
            resp.kvs().first().map(|kv| self.kv(kv)),
            header_revision(resp.header()),
        ))
    }

    /// Reads in pages at one revision, so no single gRPC response outgrows the client's
    /// 4 MiB message limit; a page that still does is read again in smaller pages.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult> {
        let full_prefix = self.full_key(prefix);
        let mut start = match start_after {
            Some(after) if after >= prefix => format!("{}\0", self.full_key(after)),
            _ => full_prefix.clone(),
        };
        let mut revision = revision;
        let mut page = LIST_PAGE;
        let mut items: Vec<KeyValue> = Vec::new();
        loop {
            let want = if limit == 0 {
                page
            } else {
                page.min(limit - items.len())
            };
            let options = GetOptions::new()
                .with_range(prefix_end(full_prefix.as_bytes()))
                .with_revision(revision)
                .with_limit(i64::try_from(want).unwrap_or(i64::MAX));
            let resp = match self
                .client
                .kv_client()
                .get(start.clone(), Some(options))
                .await
            {
                Ok(resp) => resp,
                Err(e) if page > 1 && is_message_too_large(&e) => {
                    page /= 2;
                    continue;
                }
                Err(e) => return Err(self.revision_error(e, revision).await),
            };
            if revision == 0 {
                revision = header_revision(resp.header());
            }
            items.extend(resp.kvs().iter().map(|kv| self.kv(kv)));
            let remaining = (resp.count() - resp.kvs().len() as i64).max(0);
            let done = remaining == 0 || (limit > 0 && items.len() >= limit);
            if done {
                return Ok(ListResult {
                    revision,
                    more: remaining > 0,
                    remaining: Some(remaining),
                    items,
                });
            }
            let last = resp
                .kvs()
                .last()
                .map(|kv| kv.key().to_vec())
                .unwrap_or_default();
            start = format!("{}\0", String::from_utf8_lossy(&last));
        }
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full, value.to_vec(), None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(StorageError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let rev = header_revision(resp.header());
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([
                Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
                Compare::create_revision(full.clone(), CompareOp::Greater, 0),
            ])
            .and_then([TxnOp::put(
                full.clone(),
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(StorageError::Conflict {
                key: key.to_owned(),
                current: self.current_from_failed(&resp).map(Box::new),
            });
        }
        let rev = header_revision(resp.header());
        let create_revision = resp
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Put(put) => put.prev_key().map(|kv| kv.create_revision()),
                _ => None,
            })
            .unwrap_or(rev);
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: rev,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let full = self.full_key(key);
        let delete_options = Some(DeleteOptions::new().with_prev_key());
        let (rev, prev) = match expected {
            None => {
                let resp = self
                    .client
                    .kv_client()
                    .delete(full, delete_options)
                    .await
                    .map_err(|e| self.error(e))?;
                let Some(prev) = resp.prev_kvs().first().map(|kv| self.kv(kv)) else {
                    return Err(StorageError::NotFound {
                        key: key.to_owned(),
                    });
                };
                (header_revision(resp.header()), prev)
            }
            Some(expected) => {
                let txn = Txn::new()
                    .when([
                        Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
                        Compare::create_revision(full.clone(), CompareOp::Greater, 0),
                    ])
                    .and_then([TxnOp::delete(full.clone(), delete_options)])
                    .or_else([TxnOp::get(full, None)]);
                let resp = self.txn(txn).await?;
                if !resp.succeeded() {
                    return Err(StorageError::Conflict {
                        key: key.to_owned(),
                        current: self.current_from_failed(&resp).map(Box::new),
                    });
                }
                let prev = resp
                    .op_responses()
                    .into_iter()
                    .find_map(|op| match op {
                        TxnOpResponse::Delete(del) => del.prev_kvs().first().map(|kv| self.kv(kv)),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        StorageError::Internal("etcd delete returned no value".into())
                    })?;
                (header_revision(resp.header()), prev)
            }
        };
        Ok(KeyValue {
            mod_revision: rev,
            ..prev
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let full_prefix = self.full_key(prefix);
        let options = WatchOptions::new()
            .with_range(prefix_end(full_prefix.as_bytes()))
            .with_start_revision(after.saturating_add(1))
            .with_prev_key();
        let stream = self
            .client
            .watch_client()
            .watch(full_prefix, Some(options))
            .await
            .map_err(|e| self.error(e))?;
        let state = EtcdWatch {
            backend: self.clone(),
            stream,
            after,
            pending: VecDeque::new(),
            ended: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut state| async move {
                let item = state.next().await?;
                Some((item, state))
            },
        )))
    }

    async fn current_revision(&self) -> Result<Revision> {
        let resp = self
            .client
            .kv_client()
            .get(
                self.prefix.as_str(),
                Some(GetOptions::new().with_count_only().with_limit(1)),
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(header_revision(resp.header()))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.client.kv_client().compact(revision, None).await {
            Ok(_) => Ok(()),
            Err(e) => match self.revision_error(e, revision).await {
                // Compacting at or below the compacted revision is a no-op.
                StorageError::Compacted { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

/// The state of one etcd watch stream.
struct EtcdWatch {
    backend: EtcdBackend,
    stream: etcd_client::WatchStream,
    after: Revision,
    pending: VecDeque<WatchEvent>,
    ended: bool,
}

impl EtcdWatch {
    async fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            let resp = match self.stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    self.ended = true;
                    return None;
                }
                Err(e) => {
                    self.ended = true;
                    return Some(Err(self.backend.error(e)));
                }
            };
            if resp.compact_revision() != 0 {
                self.ended = true;
                return Some(Err(StorageError::Compacted {
                    requested: self.after,
                    compacted: resp.compact_revision(),
                }));
            }
            if resp.canceled() {
                self.ended = true;
                return Some(Err(StorageError::Unavailable(format!(
                    "etcd at {} canceled the watch: {}",
                    self.backend.endpoints,
                    resp.cancel_reason()
                ))));
            }
            for event in resp.events() {
                if let Some(event) = self.convert(event) {
                    self.pending.push_back(event);
                }
            }
        }
    }

    fn convert(&self, event: &etcd_client::Event) -> Option<WatchEvent> {
        let b = &self.backend;
        let kv = event.kv()?;
        let prev = event.prev_kv().map(|p| b.kv(p));
        Some(match event.event_type() {
            etcd_client::EventType::Put => WatchEvent {
                event_type: if kv.version() == 1 {
                    EventType::Created
                } else {
                    EventType::Modified
                },
                kv: b.kv(kv),
                prev,
            },
            etcd_client::EventType::Delete => WatchEvent {
                event_type: EventType::Deleted,
                kv: match &prev {
                    Some(p) => KeyValue {
                        mod_revision: kv.mod_revision(),
                        ..p.clone()
                    },
                    None => KeyValue {
                        key: b.trim(kv.key()),
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: kv.mod_revision(),
                    },
                },
                prev,
            },
        })
    }
}
