//! The raw etcd baseline: puts of a given size straight to etcd, many at once over one
//! client (one gRPC channel, so HTTP/2 multiplexed).

use std::sync::Arc;

use anyhow::{Context, Result};
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, Txn, TxnOp};

use crate::pool;
use crate::report::Row;

pub struct PutArgs {
    pub endpoints: Vec<String>,
    pub count: usize,
    pub concurrency: usize,
    pub size: usize,
    /// Take the value size from this key's value (e.g. an object the API server stored).
    pub size_from_key: Option<String>,
    /// Put only if the key is absent, in a transaction, as an API server's create does.
    pub txn: bool,
    pub run_id: String,
}

/// Puts `count` values of `size` bytes under `/loadgen/<run>/`, then deletes them.
pub async fn put(args: PutArgs) -> Result<Row> {
    let client = Client::connect(&args.endpoints, None)
        .await
        .with_context(|| format!("cannot connect to etcd at {:?}", args.endpoints))?;
    let mut size = args.size;
    let mut size_note = String::new();
    if let Some(key) = &args.size_from_key {
        let found = client.clone().get(key.as_str(), None).await?;
        match found.kvs().first() {
            Some(kv) => {
                size = kv.value().len();
                size_note = format!(" (as stored at {key})");
            }
            None => size_note = format!(" ({key} not found)"),
        }
    }
    let value: Arc<Vec<u8>> = Arc::new((0..size).map(|i| b'a' + (i % 26) as u8).collect());
    let prefix = format!("/loadgen/{}/", args.run_id);
    let (c, p, v, txn) = (client.clone(), prefix.clone(), value.clone(), args.txn);
    let result = pool::run(args.count, args.concurrency, move |i| {
        let mut client = c.clone();
        let key = format!("{p}{i:08}");
        let value = v.to_vec();
        async move {
            if txn {
                let t = Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key.as_str(), value, None)]);
                let r = client.txn(t).await?;
                anyhow::ensure!(r.succeeded(), "{key} exists");
            } else {
                client.put(key, value, None).await?;
            }
            Ok(())
        }
    })
    .await;
    client
        .clone()
        .delete(prefix.as_str(), Some(DeleteOptions::new().with_prefix()))
        .await
        .context("cannot delete the keys put")?;
    let what = if args.txn { "create txns" } else { "puts" };
    let scenario = if args.txn { "etcd txn" } else { "etcd put" };
    Ok(result.row(scenario).note(format!(
        "{} {what} of {size}B{size_note}, {} clients",
        args.count, args.concurrency
    )))
}
