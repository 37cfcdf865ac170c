//! `meta.k8s.io/v1` Table responses, with the columns of `printers.rs`.

use serde_json::{Value, json};

use crate::crd::{CustomResourceVersion, PrinterColumn};
use crate::jsonpath;
use crate::negotiation::IncludeObject;
use crate::printers;
use crate::resources::{Codec, ResourceInfo};

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
            let cells = match &info.codec {
                Codec::Builtin(_) => printers::row_cells(&info.group, &info.plural, obj, now),
                Codec::Custom(custom) => custom_cells(custom, obj, now),
            };
            let mut row = json!({ "cells": cells });
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = crate::negotiation::partial_object_metadata(obj, "v1");
                }
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    let columns = match (&info.codec, with_columns) {
        (_, false) => json!([]),
        (Codec::Builtin(_), true) => printers::column_definitions_json(
            &printers::column_definitions(info.group.as_ref(), info.plural.as_ref()),
        ),
        (Codec::Custom(custom), true) => custom_columns(custom),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// A custom resource's columns: Name, then its printer columns (upstream's default is Age).
fn printer_columns(custom: &CustomResourceVersion) -> Vec<PrinterColumn> {
    if !custom.printer_columns.is_empty() {
        return custom.printer_columns.clone();
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

fn custom_columns(custom: &CustomResourceVersion) -> Value {
    let name = printers::column_definitions("", "")
        .into_iter()
        .next()
        .map(|c| printers::column_definitions_json(&[c]))
        .unwrap_or_else(|| json!([]));
    let mut columns = name.as_array().cloned().unwrap_or_default();
    for c in printer_columns(custom) {
        let description = if c.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                c.json_path
            )
        } else {
            c.description.clone()
        };
        columns.push(json!({
            "name": c.name, "type": c.type_, "format": c.format, "description": description, "priority": c.priority,
        }));
    }
    Value::Array(columns)
}

/// Upstream's cells for printer columns: the first JSONPath result, typed by the column.
fn custom_cells(
    custom: &CustomResourceVersion,
    obj: &Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Value> {
    let mut cells = vec![json!(crate::objects::name(obj))];
    for column in printer_columns(custom) {
        let value = jsonpath::evaluate(obj, &column.json_path)
            .ok()
            .and_then(|v| v.into_iter().next());
        let cell = match (column.type_.as_str(), value) {
            (_, None | Some(Value::Null)) => Value::Null,
            ("string", Some(Value::String(s))) => json!(s),
            ("string", Some(other)) => json!(other.to_string()),
            ("integer", Some(Value::Number(n))) => n
                .as_i64()
                .map(Value::from)
                .unwrap_or_else(|| json!(n.as_f64().map(|f| f as i64))),
            ("number", Some(Value::Number(n))) => json!(n.as_f64()),
            ("boolean", Some(Value::Bool(b))) => json!(b),
            ("date", Some(Value::String(t))) => json!(printers::age(Some(&t), now)),
            _ => Value::Null,
        };
        cells.push(cell);
    }
    cells
}
