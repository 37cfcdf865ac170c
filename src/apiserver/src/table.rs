//! `meta.k8s.io/v1` Table responses, with the columns of `printers.rs`.

use serde_json::{Value, json};

use crate::negotiation::IncludeObject;
use crate::printers;
use crate::resources::ResourceInfo;

/// A Table of `items`. `with_columns` is false for watch events after the first.
pub fn table(
    info: &ResourceInfo,
    items: &[Value],
    include: IncludeObject,
    with_columns: bool,
    list_meta: &Value,
) -> Value {
    let now = chrono::Utc::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let mut row =
                json!({"cells": printers::row_cells(&info.group, &info.plural, obj, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    });
                }
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    let columns = if with_columns {
        printers::column_definitions_json(&printers::column_definitions(
            info.group.as_ref(),
            info.plural.as_ref(),
        ))
    } else {
        json!([])
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
