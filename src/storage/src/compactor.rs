//! Periodic compaction of the store's history, like kube-apiserver's compactor.
//!
//! Every `interval` the compactor compacts to the revision it observed at the previous tick,
//! so at least one interval of history is always kept for watchers resuming from an older
//! resource version. Upstream's default interval is five minutes.

use std::sync::Arc;
use std::time::Duration;

use crate::{Backend, Revision};

/// Upstream's default compaction interval (`--etcd-compaction-interval`).
pub const DEFAULT_COMPACTION_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Spawns the compaction loop on the current tokio runtime. It runs until the task is aborted;
/// errors are logged and retried at the next tick.
pub fn spawn_compactor(
    backend: Arc<dyn Backend>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once: it only records the starting revision.
        let mut observed: Option<Revision> = None;
        loop {
            ticker.tick().await;
            if let Some(target) = observed.filter(|rev| *rev > 0) {
                match backend.compact(target).await {
                    Ok(()) => tracing::debug!(revision = target, "compacted storage history"),
                    Err(e) => {
                        tracing::warn!(revision = target, error = %e, "storage compaction failed")
                    }
                }
            }
            match backend.current_revision().await {
                Ok(rev) => observed = Some(rev),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the current revision for compaction failed");
                    observed = None;
                }
            }
        }
    })
}
