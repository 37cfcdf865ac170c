//! Watch: a chunked stream of `{"type": …, "object": …}` lines.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use den_apimachinery::status::ApiError;
use den_apimachinery::validation::Cause;
use den_storage::{EventType, ProgressSchedule, Revision, StorageError, WatchEvent, WatchOptions};
use futures::{FutureExt, StreamExt};
use http::{Response, StatusCode, header};
use rand::Rng;
use serde_json::{Value, json};

use crate::encoded_events::{Encoded, EncodedEvents};
use crate::handlers::{ResourceRequest, list_options};
use crate::negotiation::Output;
use crate::objects;
use crate::registry::{self, ListOptions, storage_error};
use crate::resources::ResourceInfo;
use crate::server::ApiServer;
use crate::table;
use std::pin::Pin;
use std::sync::Arc;

/// How often a watch that allows bookmarks gets one (upstream: about a minute).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

struct WatchParams {
    allow_bookmarks: bool,
    send_initial_events: Option<bool>,
    resource_version: Option<Revision>,
    timeout: Duration,
}

fn watch_params(req: &ResourceRequest) -> Result<WatchParams, ApiError> {
    let flag = |name: &str| req.query.get(name).map(|v| v == "true" || v == "1");
    let allow_bookmarks = flag("allowWatchBookmarks").unwrap_or(false);
    let send_initial_events = flag("sendInitialEvents");
    let resource_version = match req.query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(&format!("invalid resource version: {rv}")))?,
        ),
    };
    if send_initial_events == Some(true) {
        let mut causes = Vec::new();
        if req.query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
            causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
                field: "resourceVersionMatch".into(),
            });
        }
        if !allow_bookmarks {
            causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message:
                    "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"
                        .into(),
                field: "allowWatchBookmarks".into(),
            });
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes));
        }
    }
    let timeout = match req.query.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| ApiError::bad_request(&format!("invalid timeoutSeconds: {t}")))?,
        ),
        // Upstream ends watches after a random 30–60 minutes so clients spread their re-lists.
        None => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    Ok(WatchParams {
        allow_bookmarks,
        send_initial_events,
        resource_version,
        timeout,
    })
}

pub async fn serve(server: &ApiServer, req: &ResourceRequest) -> Result<Response<Body>, ApiError> {
    let mut opts = list_options(req)?;
    opts.limit = 0;
    opts.continue_token = None;
    let params = watch_params(req)?;
    let info = req.info.clone();

    // Without a resourceVersion (or with sendInitialEvents) the watch starts with the
    // current state as synthetic ADDED events.
    let send_initial = params
        .send_initial_events
        .unwrap_or(params.resource_version.is_none());
    let (initial, start) = if send_initial {
        let list_opts = ListOptions {
            labels: opts.labels.clone(),
            fields: opts.fields.clone(),
            resource_version: params.resource_version.map(|r| r.to_string()),
            resource_version_match: params.resource_version.map(|_| "NotOlderThan".to_string()),
            ..Default::default()
        };
        let page = server
            .registry
            .list(&info, &req.request.namespace, &list_opts)
            .await?;
        (page.items, page.revision)
    } else {
        let start = match params.resource_version {
            Some(rv) => rv,
            None => server
                .registry
                .storage
                .current_revision()
                .await
                .map_err(|e| storage_error(&info, "", e))?,
        };
        (Vec::new(), start)
    };

    let namespace = &req.request.namespace;
    let mut prefix = if info.namespaced && !namespace.is_empty() {
        format!("{}{namespace}/", info.key_prefix())
    } else {
        info.key_prefix()
    };
    let field = |name: &str| opts.fields.as_ref().and_then(|f| f.exact_match(name));
    // A watch of one object watches its key (upstream does the same): other objects'
    // changes are not even offered to it.
    if let Some(name) = field("metadata.name")
        && (!info.namespaced || !namespace.is_empty())
    {
        prefix.push_str(name);
    }
    let deadline = tokio::time::Instant::now() + params.timeout;
    let options = WatchOptions {
        trigger: crate::strategy::trigger_field(&info)
            .and_then(field)
            .map(str::to_owned),
        progress: params.allow_bookmarks.then_some(ProgressSchedule {
            every: BOOKMARK_INTERVAL,
            deadline: Some(deadline),
        }),
    };
    let mut encoder = Encoder {
        info: info.clone(),
        output: req.output,
        columns_sent: false,
    };
    let body = match server
        .registry
        .storage
        .watch_with(&prefix, start, &options)
        .await
    {
        Ok(events) => WatchStream {
            events,
            shared: server.encoded_events.clone(),
            opts,
            encoder,
            initial: initial.into_iter(),
            initial_end_bookmark: params.send_initial_events == Some(true),
            last: start,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            done: false,
        }
        .into_body(),
        // Too old a revision is an ERROR event, not an error status: clients re-list.
        Err(e @ StorageError::Compacted { .. }) => {
            let err = storage_error(&info, "", e);
            Body::from(encoder.line("ERROR", err.to_status_json()))
        }
        Err(e) => return Err(storage_error(&info, "", e)),
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("valid response"))
}

/// Serializes watch events in the representation the client asked for.
struct Encoder {
    info: std::sync::Arc<ResourceInfo>,
    output: Output,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, event_type: &str, object: Value) -> Bytes {
        let mut line = serde_json::to_vec(&json!({"type": event_type, "object": object}))
            .expect("JSON values serialize");
        line.push(b'\n');
        Bytes::from(line)
    }

    /// An event whose object is already encoded: plain JSON output shares its line.
    fn shared_event(&mut self, event_type: &str, encoded: &Encoded) -> Bytes {
        if self.output != Output::Object {
            return self.object_event(event_type, encoded.value.clone());
        }
        encoded.line(event_type)
    }

    fn object_event(&mut self, event_type: &str, obj: Value) -> Bytes {
        let object = match self.output {
            Output::Table { include_object } => {
                let meta = json!({"resourceVersion": objects::meta_str(&obj, "resourceVersion").unwrap_or("")});
                let t = table::table(
                    &self.info,
                    std::slice::from_ref(&obj),
                    include_object,
                    !self.columns_sent,
                    &meta,
                );
                self.columns_sent = true;
                t
            }
            Output::Metadata { version } => {
                crate::negotiation::partial_object_metadata(&obj, version)
            }
            Output::Object => obj,
        };
        self.line(event_type, object)
    }

    fn bookmark(&mut self, revision: Revision, initial_events_end: bool) -> Bytes {
        let (kind, list_kind, api_version) = match self.output {
            Output::Metadata { version } => (
                "PartialObjectMetadata".into(),
                "PartialObjectMetadataList".into(),
                format!("meta.k8s.io/{version}"),
            ),
            _ => (
                self.info.kind.to_string(),
                self.info.list_kind.to_string(),
                self.info.api_version(),
            ),
        };
        let mut metadata =
            json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
        if initial_events_end {
            // v1.33 servers also describe the list the events make up: an empty list of
            // the kind, so clients can build it (base64 of its JSON).
            let blueprint = json!({"kind": list_kind, "apiVersion": api_version, "metadata": {}, "items": null});
            let blueprint = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                serde_json::to_vec(&blueprint).expect("JSON values serialize"),
            );
            metadata["annotations"] = json!({
                "k8s.io/initial-events-end": "true",
                "kubernetes.io/initial-events-list-blueprint": blueprint,
            });
        }
        let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        self.line("BOOKMARK", object)
    }
}

/// The most lines one chunk of the response carries.
const LINES_PER_CHUNK: usize = 64;

/// One watch response: the initial events, then the store's events as this watcher sees them.
struct WatchStream {
    events: den_storage::WatchStream,
    shared: Arc<EncodedEvents>,
    opts: ListOptions,
    encoder: Encoder,
    initial: std::vec::IntoIter<Value>,
    initial_end_bookmark: bool,
    last: Revision,
    deadline: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl WatchStream {
    /// The response body. It is the watch itself, polled by the connection: lines that are
    /// ready go out as one chunk (a burst costs a few writes, not one each), and a client that
    /// goes away drops it, and with it the store's watcher.
    fn into_body(self) -> Body {
        Body::from_stream(futures::stream::unfold(self, |mut watch| async move {
            let chunk = watch.next_chunk().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), watch))
        }))
    }

    /// The next chunk of lines; None when the watch is over (deadline, store ended it).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut lines = Vec::new();
        for obj in self.initial.by_ref().take(LINES_PER_CHUNK) {
            lines.push(self.encoder.object_event("ADDED", obj));
        }
        if lines.is_empty() && std::mem::take(&mut self.initial_end_bookmark) {
            lines.push(self.encoder.bookmark(self.last, true));
        }
        if lines.is_empty() {
            // Wait for the first line, then take whatever else is ready.
            while lines.is_empty() {
                if self.done {
                    return None;
                }
                let event = tokio::select! {
                    _ = &mut self.deadline => return None,
                    event = self.events.next() => event,
                };
                lines.extend(self.line(event));
            }
            while lines.len() < LINES_PER_CHUNK && !self.done {
                let Some(event) = self.events.next().now_or_never() else {
                    break;
                };
                lines.extend(self.line(event));
            }
        }
        Some(match lines.len() {
            // A shared line goes out as it is, uncopied.
            1 => lines.pop().expect("one line"),
            _ => Bytes::from(lines.concat()),
        })
    }

    /// The line of one item of the store's watch, if this watcher sees one.
    fn line(&mut self, event: Option<den_storage::Result<WatchEvent>>) -> Option<Bytes> {
        match event {
            Some(Ok(event)) => self.convert(event),
            Some(Err(e @ StorageError::Compacted { .. })) => {
                self.done = true;
                let err = storage_error(&self.encoder.info, "", e);
                Some(self.encoder.line("ERROR", err.to_status_json()))
            }
            // The store cut this watcher off (it fell behind) or ended: the client re-watches.
            Some(Err(_)) | None => {
                self.done = true;
                None
            }
        }
    }

    /// Turns a store event into the event this watcher sees through its selectors: an object
    /// that stops matching is DELETED for it, one that starts matching is ADDED.
    fn convert(&mut self, event: WatchEvent) -> Option<Bytes> {
        let revision = event.revision();
        self.last = self.last.max(revision);
        let info = self.encoder.info.clone();
        // Decoded and encoded once for every watcher of this resource.
        let current = || self.shared.get(&info, &event.kv, revision);
        let matches = |obj: &Value| registry::matches(&info, obj, &self.opts);
        let (event_type, current) = match event.event_type {
            // Storage yields progress only when bookmarks were allowed, at their schedule.
            EventType::Progress => return Some(self.encoder.bookmark(self.last, false)),
            EventType::Deleted => {
                let current = current();
                (matches(&current.value).then_some("DELETED")?, current)
            }
            EventType::Created => {
                let current = current();
                (matches(&current.value).then_some("ADDED")?, current)
            }
            EventType::Modified => {
                let current = current();
                let before = event
                    .prev
                    .as_ref()
                    .map(|kv| self.shared.get(&info, kv, kv.mod_revision));
                let was = before.as_ref().is_some_and(|b| matches(&b.value));
                let event_type = match (matches(&current.value), was) {
                    (true, true) => "MODIFIED",
                    (true, false) => "ADDED",
                    // It stopped matching: this watcher sees its last matching state deleted.
                    (false, true) => {
                        let mut gone = before.expect("matched before").value.clone();
                        objects::set_resource_version(&mut gone, revision);
                        return Some(self.encoder.object_event("DELETED", gone));
                    }
                    (false, false) => return None,
                };
                (event_type, current)
            }
        };
        Some(self.encoder.shared_event(event_type, &current))
    }
}
