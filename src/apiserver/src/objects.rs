//! Small accessors over objects in their JSON form.

use bytes::Bytes;
use den_storage::KeyValue;
use serde_json::{Map, Value, json};

/// `metadata` of an object, created when missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let root = obj.as_object_mut().expect("objects are JSON objects");
    let meta = root.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("metadata is an object")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The string at a JSON pointer, `""` when absent or not a string.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or("")
}

/// An object's labels (none when it has no `metadata.labels`), borrowed: watch fan-out matches
/// selectors against them once per watcher and event.
pub fn labels(obj: &Value) -> &Map<String, Value> {
    static NO_LABELS: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    obj.get("metadata")
        .and_then(|meta| meta.get("labels"))
        .and_then(Value::as_object)
        .unwrap_or(&NO_LABELS)
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn set_resource_version(obj: &mut Value, revision: i64) {
    meta_mut(obj).insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

/// Decodes a stored value, setting `metadata.resourceVersion` from the key's revision.
pub fn decode(kv: &KeyValue) -> Value {
    let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or_else(|_| json!({}));
    if obj.is_object() {
        set_resource_version(&mut obj, kv.mod_revision);
    }
    obj
}

/// Encodes an object for storage: `resourceVersion` is the store's revision, never stored.
pub fn encode(obj: &Value) -> Bytes {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    Bytes::from(serde_json::to_vec(&obj).expect("JSON values serialize"))
}

/// Now as upstream writes timestamps: RFC 3339, seconds precision, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Everything but `apiVersion`, `kind`, `metadata` and `status`: what "spec changed" means
/// for generation tracking.
pub fn spec_fields(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Stored JSON with `"resourceVersion":"<revision>"` added as the first member of its
/// top-level `metadata`, without decoding the object. `None` when `json` is not an object
/// with a `metadata` object (callers then decode).
pub fn splice_resource_version(json: &[u8], revision: i64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len() + 32);
    splice_resource_version_into(&mut out, json, revision).then_some(out)
}

/// [`splice_resource_version`] appending to `out`; false (and nothing appended) when `json`
/// has no top-level `metadata` object.
pub fn splice_resource_version_into(out: &mut Vec<u8>, json: &[u8], revision: i64) -> bool {
    let Some(at) = top_level_metadata_body(json) else {
        return false;
    };
    let empty = json[at..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(revision.to_string().as_bytes());
    out.extend_from_slice(b"\"");
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(&json[at..]);
    true
}

/// The offset just after the `{` that opens the value of the top-level `"metadata"` member.
fn top_level_metadata_body(json: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    // Whether the string that starts at depth 1 after `{` or `,` is a member name.
    let mut expect_key = false;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let end = string_end(json, i)?;
                if depth == 1 && expect_key && &json[i..=end] == b"\"metadata\"" {
                    let mut j = end + 1;
                    while j < json.len() && (json[j].is_ascii_whitespace() || json[j] == b':') {
                        j += 1;
                    }
                    return (json.get(j) == Some(&b'{')).then_some(j + 1);
                }
                expect_key = false;
                i = end;
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = json[i] == b'{' && depth == 1;
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' => expect_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_version_is_spliced_into_the_top_level_metadata_only() {
        let stored = br#"{"apiVersion":"v1","data":{"metadata":"x\"metadata\":{"},"kind":"ConfigMap","metadata":{"name":"a"},"spec":{"metadata":{}}}"#;
        let spliced = splice_resource_version(stored, 42).unwrap();
        let value: Value = serde_json::from_slice(&spliced).unwrap();
        assert_eq!(
            value["metadata"],
            json!({"name": "a", "resourceVersion": "42"})
        );
        assert_eq!(value["spec"]["metadata"], json!({}));
        assert_eq!(value["data"]["metadata"], "x\"metadata\":{");

        let empty = splice_resource_version(br#"{"metadata":{}}"#, 7).unwrap();
        assert_eq!(empty, br#"{"metadata":{"resourceVersion":"7"}}"#);
        let nested_first = br#"{"a":{"metadata":{"x":1}},"metadata":{"name":"b"}}"#;
        let value: Value =
            serde_json::from_slice(&splice_resource_version(nested_first, 3).unwrap()).unwrap();
        assert_eq!(value["a"]["metadata"], json!({"x": 1}));
        assert_eq!(value["metadata"]["resourceVersion"], "3");
        assert!(splice_resource_version(br#"{"kind":"X"}"#, 1).is_none());
        assert!(splice_resource_version(br#"{"metadata":"s"}"#, 1).is_none());
    }
}
