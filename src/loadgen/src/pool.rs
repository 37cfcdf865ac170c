//! Runs `count` operations over `concurrency` tasks and times each one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::report::{Row, Samples};

pub struct PoolResult {
    /// Latency of every operation that succeeded.
    pub samples: Samples,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the first operation's start to the last one's end.
    pub elapsed: Duration,
}

impl PoolResult {
    pub fn row(self, scenario: &str) -> Row {
        let ops = self.samples.len() as u64;
        Row::new(scenario, ops, self.elapsed, self.samples).errors(self.errors, self.first_error)
    }
}

/// Calls `op(0..count)`, at most `concurrency` at a time, each worker a task of its own.
pub async fn run<F, Fut>(count: usize, concurrency: usize, op: F) -> PoolResult
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = concurrency.clamp(1, count.max(1));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let op = op.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut samples = Samples::with_capacity(count / workers + 1);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                match op(i).await {
                    Ok(()) => samples.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (samples, errors, first_error)
        });
    }
    let mut result = PoolResult {
        samples: Samples::with_capacity(count),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((samples, errors, first_error)) => {
                result.samples.extend(samples);
                result.errors += errors;
                if result.first_error.is_none() {
                    result.first_error = first_error;
                }
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    result.elapsed = start.elapsed();
    result
}
