//! `/openapi/v2` in protobuf: the Swagger 2.0 document encoded as gnostic's `openapi.v2.Document`
//! (proto3, package `openapi.v2`, from `OpenAPIv2.proto` of `github.com/google/gnostic-models`).
//!
//! kubectl ≤ 1.27 (client-go's `DiscoveryClient.OpenAPISchema`) asks for
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and `proto.Unmarshal`s the body
//! into that message, for client-side validation, `kubectl explain` and to see whether a kind's
//! PATCH operation takes `fieldValidation`.
//!
//! The mapping follows gnostic's JSON/YAML reader: objects become messages, `$ref` is `_ref`,
//! maps become repeated `Named*` entries in document order, `x-…` keys become
//! `NamedAny{name, Any{yaml}}` whose `yaml` holds the value as JSON text (JSON is YAML, which is
//! how every consumer reads it), `default`/`example`/`enum` values are `Any`s too, a schema's
//! `type` is a `TypeItem`, `items` an `ItemsItem`, and the oneofs (parameters, responses, schema
//! items, security definitions) pick their branch the way gnostic does. Keys that
//! `OpenAPIv2.proto` has no field for are dropped. Proto3 scalars equal to their default are
//! omitted (as Go's `proto.Marshal` does); message-valued keys are always written when present,
//! even when empty, so "present but empty" survives (kube-openapi tells `properties: {}` apart
//! from no `properties`).

use bytes::Bytes;
use serde_json::{Map, Value};

/// Encodes a Swagger 2.0 document as gnostic's `openapi.v2.Document`. Anything that is not an
/// object encodes as an empty document.
pub fn encode_openapi_v2(doc: &Value) -> Bytes {
    let mut w = Writer::with_capacity(1 << 20);
    if let Value::Object(m) = doc {
        document(&mut w, m);
    }
    Bytes::from(w.buf)
}

/// [`encode_openapi_v2`] of a serialized Swagger 2.0 JSON document.
pub fn encode_openapi_v2_json(json: &[u8]) -> Result<Bytes, serde_json::Error> {
    let doc: Value = serde_json::from_slice(json)?;
    Ok(encode_openapi_v2(&doc))
}

// ---------------------------------------------------------------------------------------------
// The wire format

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// A protobuf writer: fields are appended in the order written; nested messages are written in
/// place and their length prefix inserted after.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    /// A `string`/`bytes` field, written even when empty (repeated elements, oneof members).
    fn bytes_always(&mut self, field: u32, v: &[u8]) {
        self.tag(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A singular proto3 `string`: omitted when empty.
    fn string(&mut self, field: u32, v: &str) {
        if !v.is_empty() {
            self.bytes_always(field, v.as_bytes());
        }
    }

    fn bool_always(&mut self, field: u32, v: bool) {
        self.tag(field, VARINT);
        self.varint(u64::from(v));
    }

    /// A singular proto3 `bool`: omitted when false.
    fn bool(&mut self, field: u32, v: bool) {
        if v {
            self.bool_always(field, v);
        }
    }

    /// A singular proto3 `int64`: omitted when zero; negatives take ten bytes.
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, VARINT);
            self.varint(v as u64);
        }
    }

    /// A singular proto3 `double`: omitted when +0.0.
    fn double(&mut self, field: u32, v: f64) {
        if v.to_bits() != 0 {
            self.tag(field, FIXED64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A message-typed field, written even when its body is empty.
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        self.tag(field, LEN);
        let start = self.buf.len();
        body(self);
        let len = self.buf.len() - start;
        let mut prefix = [0u8; 10];
        let mut n = 0;
        let mut v = len as u64;
        while v >= 0x80 {
            prefix[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        prefix[n] = v as u8;
        n += 1;
        // Make room for the length in front of the body.
        self.buf.splice(start..start, prefix[..n].iter().copied());
    }
}

// ---------------------------------------------------------------------------------------------
// JSON access

fn get_str<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

fn get_bool(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn get_f64(m: &Map<String, Value>, key: &str) -> f64 {
    m.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn get_i64(m: &Map<String, Value>, key: &str) -> i64 {
    match m.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn get_obj<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

/// `repeated string`: a JSON array of strings (non-strings skipped) or a lone string.
fn strings(w: &mut Writer, field: u32, v: Option<&Value>) {
    match v {
        Some(Value::Array(items)) => {
            for s in items.iter().filter_map(Value::as_str) {
                w.bytes_always(field, s.as_bytes());
            }
        }
        Some(Value::String(s)) => w.bytes_always(field, s.as_bytes()),
        _ => {}
    }
}

/// `Any{yaml}` holding `v` as JSON text (valid YAML), newline-terminated like gnostic's.
fn any(w: &mut Writer, field: u32, v: &Value) {
    w.message(field, |w| {
        let mut text = v.to_string();
        text.push('\n');
        w.string(2, &text);
    });
}

fn any_opt(w: &mut Writer, field: u32, v: Option<&Value>) {
    if let Some(v) = v {
        any(w, field, v);
    }
}

/// `repeated Any` from a JSON array.
fn any_list(w: &mut Writer, field: u32, v: Option<&Value>) {
    if let Some(Value::Array(items)) = v {
        for item in items {
            any(w, field, item);
        }
    }
}

/// `repeated NamedAny vendor_extension`: every `x-…` key.
fn vendor_extensions(w: &mut Writer, field: u32, m: &Map<String, Value>) {
    for (k, v) in m {
        if k.starts_with("x-") {
            named_any(w, field, k, v);
        }
    }
}

fn named_any(w: &mut Writer, field: u32, name: &str, v: &Value) {
    w.message(field, |w| {
        w.string(1, name);
        any(w, 2, v);
    });
}

/// A map of `name → message` as `repeated Named*{name = 1, value = 2}` under `field`.
fn named_objects(
    w: &mut Writer,
    field: u32,
    m: &Map<String, Value>,
    mut value: impl FnMut(&mut Writer, &Map<String, Value>),
) {
    for (name, v) in m {
        if let Value::Object(o) = v {
            w.message(field, |w| {
                w.string(1, name);
                w.message(2, |w| value(w, o));
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The messages

fn document(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "swagger"));
    if let Some(o) = get_obj(m, "info") {
        w.message(2, |w| info(w, o));
    }
    w.string(3, get_str(m, "host"));
    w.string(4, get_str(m, "basePath"));
    strings(w, 5, m.get("schemes"));
    strings(w, 6, m.get("consumes"));
    strings(w, 7, m.get("produces"));
    if let Some(o) = get_obj(m, "paths") {
        w.message(8, |w| paths(w, o));
    }
    if let Some(o) = get_obj(m, "definitions") {
        w.message(9, |w| named_objects(w, 1, o, schema));
    }
    if let Some(o) = get_obj(m, "parameters") {
        w.message(10, |w| named_objects(w, 1, o, parameter));
    }
    if let Some(o) = get_obj(m, "responses") {
        w.message(11, |w| named_objects(w, 1, o, response));
    }
    security_requirements(w, 12, m.get("security"));
    if let Some(o) = get_obj(m, "securityDefinitions") {
        w.message(13, |w| {
            for (name, v) in o {
                if let Value::Object(def) = v {
                    w.message(1, |w| {
                        w.string(1, name);
                        w.message(2, |w| security_definition(w, def));
                    });
                }
            }
        });
    }
    if let Some(Value::Array(tags)) = m.get("tags") {
        for t in tags.iter().filter_map(Value::as_object) {
            w.message(14, |w| tag(w, t));
        }
    }
    if let Some(o) = get_obj(m, "externalDocs") {
        w.message(15, |w| external_docs(w, o));
    }
    vendor_extensions(w, 16, m);
}

fn info(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "title"));
    w.string(2, get_str(m, "version"));
    w.string(3, get_str(m, "description"));
    w.string(4, get_str(m, "termsOfService"));
    if let Some(o) = get_obj(m, "contact") {
        w.message(5, |w| {
            w.string(1, get_str(o, "name"));
            w.string(2, get_str(o, "url"));
            w.string(3, get_str(o, "email"));
            vendor_extensions(w, 4, o);
        });
    }
    if let Some(o) = get_obj(m, "license") {
        w.message(6, |w| {
            w.string(1, get_str(o, "name"));
            w.string(2, get_str(o, "url"));
            vendor_extensions(w, 3, o);
        });
    }
    vendor_extensions(w, 7, m);
}

fn tag(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "name"));
    w.string(2, get_str(m, "description"));
    if let Some(o) = get_obj(m, "externalDocs") {
        w.message(3, |w| external_docs(w, o));
    }
    vendor_extensions(w, 4, m);
}

fn external_docs(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "description"));
    w.string(2, get_str(m, "url"));
    vendor_extensions(w, 3, m);
}

/// `Paths`: `vendor_extension = 1`, `path = 2` (keys starting with `/`).
fn paths(w: &mut Writer, m: &Map<String, Value>) {
    vendor_extensions(w, 1, m);
    for (name, v) in m {
        if let (true, Value::Object(item)) = (name.starts_with('/'), v) {
            w.message(2, |w| {
                w.string(1, name);
                w.message(2, |w| path_item(w, item));
            });
        }
    }
}

fn path_item(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "$ref"));
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(o) = get_obj(m, method) {
            w.message(field, |w| operation(w, o));
        }
    }
    parameters_items(w, 9, m.get("parameters"));
    vendor_extensions(w, 10, m);
}

fn operation(w: &mut Writer, m: &Map<String, Value>) {
    strings(w, 1, m.get("tags"));
    w.string(2, get_str(m, "summary"));
    w.string(3, get_str(m, "description"));
    if let Some(o) = get_obj(m, "externalDocs") {
        w.message(4, |w| external_docs(w, o));
    }
    w.string(5, get_str(m, "operationId"));
    strings(w, 6, m.get("produces"));
    strings(w, 7, m.get("consumes"));
    parameters_items(w, 8, m.get("parameters"));
    if let Some(o) = get_obj(m, "responses") {
        w.message(9, |w| responses(w, o));
    }
    strings(w, 10, m.get("schemes"));
    w.bool(11, get_bool(m, "deprecated"));
    security_requirements(w, 12, m.get("security"));
    vendor_extensions(w, 13, m);
}

/// `repeated ParametersItem`: a `$ref` is a `JsonReference`, anything else a `Parameter`.
fn parameters_items(w: &mut Writer, field: u32, v: Option<&Value>) {
    let Some(Value::Array(items)) = v else {
        return;
    };
    for p in items.iter().filter_map(Value::as_object) {
        w.message(field, |w| {
            if p.contains_key("$ref") {
                w.message(2, |w| json_reference(w, p));
            } else {
                w.message(1, |w| parameter(w, p));
            }
        });
    }
}

fn json_reference(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "$ref"));
    w.string(2, get_str(m, "description"));
}

/// `Parameter`: `body_parameter = 1` when `in` is `body`, else `non_body_parameter = 2` with
/// the sub-schema for its location (`header = 1`, `formData = 2`, `query = 3`, `path = 4`).
fn parameter(w: &mut Writer, m: &Map<String, Value>) {
    let location = get_str(m, "in");
    if location == "body" {
        w.message(1, |w| {
            w.string(1, get_str(m, "description"));
            w.string(2, get_str(m, "name"));
            w.string(3, location);
            w.bool(4, get_bool(m, "required"));
            if let Some(o) = get_obj(m, "schema") {
                w.message(5, |w| schema(w, o));
            }
            vendor_extensions(w, 6, m);
        });
        return;
    }
    // (oneof field, first field of the primitive block, whether it has allowEmptyValue)
    let (field, first, allow_empty) = match location {
        "header" => (1, 5, false),
        "formData" => (2, 6, true),
        "path" => (4, 5, false),
        // gnostic rejects other locations; query is the closest reading.
        _ => (3, 6, true),
    };
    w.message(2, |w| {
        w.message(field, |w| {
            w.bool(1, get_bool(m, "required"));
            w.string(2, location);
            w.string(3, get_str(m, "description"));
            w.string(4, get_str(m, "name"));
            if allow_empty {
                w.bool(5, get_bool(m, "allowEmptyValue"));
            }
            primitive_fields(w, first, m);
            vendor_extensions(w, first + 17, m);
        });
    });
}

/// The block of fields shared by non-body parameters, `PrimitivesItems` and `Header`, in their
/// order: `type`, `format`, `items`, `collectionFormat`, `default`, `maximum`,
/// `exclusiveMaximum`, `minimum`, `exclusiveMinimum`, `maxLength`, `minLength`, `pattern`,
/// `maxItems`, `minItems`, `uniqueItems`, `enum`, `multipleOf`, numbered from `first`.
fn primitive_fields(w: &mut Writer, first: u32, m: &Map<String, Value>) {
    w.string(first, get_str(m, "type"));
    w.string(first + 1, get_str(m, "format"));
    if let Some(o) = get_obj(m, "items") {
        w.message(first + 2, |w| primitives_items(w, o));
    }
    w.string(first + 3, get_str(m, "collectionFormat"));
    any_opt(w, first + 4, m.get("default"));
    w.double(first + 5, get_f64(m, "maximum"));
    w.bool(first + 6, get_bool(m, "exclusiveMaximum"));
    w.double(first + 7, get_f64(m, "minimum"));
    w.bool(first + 8, get_bool(m, "exclusiveMinimum"));
    w.int64(first + 9, get_i64(m, "maxLength"));
    w.int64(first + 10, get_i64(m, "minLength"));
    w.string(first + 11, get_str(m, "pattern"));
    w.int64(first + 12, get_i64(m, "maxItems"));
    w.int64(first + 13, get_i64(m, "minItems"));
    w.bool(first + 14, get_bool(m, "uniqueItems"));
    any_list(w, first + 15, m.get("enum"));
    w.double(first + 16, get_f64(m, "multipleOf"));
}

fn primitives_items(w: &mut Writer, m: &Map<String, Value>) {
    primitive_fields(w, 1, m);
    vendor_extensions(w, 18, m);
}

/// `Responses`: `response_code = 1` for codes and `default`, `vendor_extension = 2`.
fn responses(w: &mut Writer, m: &Map<String, Value>) {
    for (code, v) in m {
        if code.starts_with("x-") {
            continue;
        }
        if let Value::Object(r) = v {
            w.message(1, |w| {
                w.string(1, code);
                w.message(2, |w| {
                    if r.contains_key("$ref") {
                        w.message(2, |w| json_reference(w, r));
                    } else {
                        w.message(1, |w| response(w, r));
                    }
                });
            });
        }
    }
    vendor_extensions(w, 2, m);
}

fn response(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "description"));
    if let Some(s) = get_obj(m, "schema") {
        // `SchemaItem`: a `type: file` schema is a `FileSchema`.
        w.message(2, |w| {
            if get_str(s, "type") == "file" {
                w.message(2, |w| file_schema(w, s));
            } else {
                w.message(1, |w| schema(w, s));
            }
        });
    }
    if let Some(o) = get_obj(m, "headers") {
        w.message(3, |w| {
            named_objects(w, 1, o, |w, h| {
                primitive_fields(w, 1, h);
                w.string(18, get_str(h, "description"));
                vendor_extensions(w, 19, h);
            })
        });
    }
    if let Some(o) = get_obj(m, "examples") {
        w.message(4, |w| {
            for (k, v) in o {
                named_any(w, 1, k, v);
            }
        });
    }
    vendor_extensions(w, 5, m);
}

fn file_schema(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "format"));
    w.string(2, get_str(m, "title"));
    w.string(3, get_str(m, "description"));
    any_opt(w, 4, m.get("default"));
    strings(w, 5, m.get("required"));
    w.string(6, get_str(m, "type"));
    w.bool(7, get_bool(m, "readOnly"));
    if let Some(o) = get_obj(m, "externalDocs") {
        w.message(8, |w| external_docs(w, o));
    }
    any_opt(w, 9, m.get("example"));
    vendor_extensions(w, 10, m);
}

fn schema(w: &mut Writer, m: &Map<String, Value>) {
    w.string(1, get_str(m, "$ref"));
    w.string(2, get_str(m, "format"));
    w.string(3, get_str(m, "title"));
    w.string(4, get_str(m, "description"));
    any_opt(w, 5, m.get("default"));
    w.double(6, get_f64(m, "multipleOf"));
    w.double(7, get_f64(m, "maximum"));
    w.bool(8, get_bool(m, "exclusiveMaximum"));
    w.double(9, get_f64(m, "minimum"));
    w.bool(10, get_bool(m, "exclusiveMinimum"));
    w.int64(11, get_i64(m, "maxLength"));
    w.int64(12, get_i64(m, "minLength"));
    w.string(13, get_str(m, "pattern"));
    w.int64(14, get_i64(m, "maxItems"));
    w.int64(15, get_i64(m, "minItems"));
    w.bool(16, get_bool(m, "uniqueItems"));
    w.int64(17, get_i64(m, "maxProperties"));
    w.int64(18, get_i64(m, "minProperties"));
    strings(w, 19, m.get("required"));
    any_list(w, 20, m.get("enum"));
    // `AdditionalPropertiesItem`: `schema = 1` or `boolean = 2` (a oneof: false is written).
    match m.get("additionalProperties") {
        Some(Value::Object(o)) => w.message(21, |w| w.message(1, |w| schema(w, o))),
        Some(Value::Bool(b)) => w.message(21, |w| w.bool_always(2, *b)),
        _ => {}
    }
    if matches!(m.get("type"), Some(Value::String(_) | Value::Array(_))) {
        w.message(22, |w| strings(w, 1, m.get("type")));
    }
    // `ItemsItem`: one schema, or one per element of an array.
    match m.get("items") {
        Some(Value::Object(o)) => w.message(23, |w| w.message(1, |w| schema(w, o))),
        Some(Value::Array(items)) => w.message(23, |w| {
            for o in items.iter().filter_map(Value::as_object) {
                w.message(1, |w| schema(w, o));
            }
        }),
        _ => {}
    }
    if let Some(Value::Array(all)) = m.get("allOf") {
        for o in all.iter().filter_map(Value::as_object) {
            w.message(24, |w| schema(w, o));
        }
    }
    if let Some(o) = get_obj(m, "properties") {
        w.message(25, |w| named_objects(w, 1, o, schema));
    }
    w.string(26, get_str(m, "discriminator"));
    w.bool(27, get_bool(m, "readOnly"));
    if let Some(o) = get_obj(m, "xml") {
        w.message(28, |w| {
            w.string(1, get_str(o, "name"));
            w.string(2, get_str(o, "namespace"));
            w.string(3, get_str(o, "prefix"));
            w.bool(4, get_bool(o, "attribute"));
            w.bool(5, get_bool(o, "wrapped"));
            vendor_extensions(w, 6, o);
        });
    }
    if let Some(o) = get_obj(m, "externalDocs") {
        w.message(29, |w| external_docs(w, o));
    }
    any_opt(w, 30, m.get("example"));
    vendor_extensions(w, 31, m);
}

/// `repeated SecurityRequirement`: each `{name: [scope, ..]}` object is one requirement of
/// `NamedStringArray{name, StringArray{value}}` entries.
fn security_requirements(w: &mut Writer, field: u32, v: Option<&Value>) {
    let Some(Value::Array(reqs)) = v else {
        return;
    };
    for req in reqs.iter().filter_map(Value::as_object) {
        w.message(field, |w| {
            for (name, scopes) in req {
                w.message(1, |w| {
                    w.string(1, name);
                    w.message(2, |w| strings(w, 1, Some(scopes)));
                });
            }
        });
    }
}

/// `SecurityDefinitionsItem`, chosen by `type` (and `flow` for OAuth 2).
fn security_definition(w: &mut Writer, m: &Map<String, Value>) {
    let scopes = |w: &mut Writer, field: u32| {
        if let Some(o) = get_obj(m, "scopes") {
            w.message(field, |w| {
                for (name, v) in o {
                    w.message(1, |w| {
                        w.string(1, name);
                        w.string(2, v.as_str().unwrap_or(""));
                    });
                }
            });
        }
    };
    let head = |w: &mut Writer| {
        w.string(1, get_str(m, "type"));
        w.string(2, get_str(m, "flow"));
        scopes(w, 3);
    };
    match (get_str(m, "type"), get_str(m, "flow")) {
        ("basic", _) => w.message(1, |w| {
            w.string(1, "basic");
            w.string(2, get_str(m, "description"));
            vendor_extensions(w, 3, m);
        }),
        ("apiKey", _) => w.message(2, |w| {
            w.string(1, "apiKey");
            w.string(2, get_str(m, "name"));
            w.string(3, get_str(m, "in"));
            w.string(4, get_str(m, "description"));
            vendor_extensions(w, 5, m);
        }),
        ("oauth2", "implicit") => w.message(3, |w| {
            head(w);
            w.string(4, get_str(m, "authorizationUrl"));
            w.string(5, get_str(m, "description"));
            vendor_extensions(w, 6, m);
        }),
        ("oauth2", "password") => w.message(4, |w| {
            head(w);
            w.string(4, get_str(m, "tokenUrl"));
            w.string(5, get_str(m, "description"));
            vendor_extensions(w, 6, m);
        }),
        ("oauth2", "application") => w.message(5, |w| {
            head(w);
            w.string(4, get_str(m, "tokenUrl"));
            w.string(5, get_str(m, "description"));
            vendor_extensions(w, 6, m);
        }),
        ("oauth2", "accessCode") => w.message(6, |w| {
            head(w);
            w.string(4, get_str(m, "authorizationUrl"));
            w.string(5, get_str(m, "tokenUrl"));
            w.string(6, get_str(m, "description"));
            vendor_extensions(w, 7, m);
        }),
        // Not a security scheme gnostic knows: an empty item.
        _ => {}
    }
}

/// [`encode_openapi_v2_json`], logging (and answering an empty document) if `json` is not JSON.
pub(super) fn encode(json: &Bytes) -> Bytes {
    encode_openapi_v2_json(json).unwrap_or_else(|err| {
        tracing::error!(%err, "the OpenAPI v2 document is not valid JSON");
        Bytes::new()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::openapi::OpenApi;
    use crate::resources::ResourceTable;

    // -----------------------------------------------------------------------------------------
    // A small reader, enough to check what the writer wrote.

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Wire<'a> {
        Varint(u64),
        Fixed64(u64),
        Len(&'a [u8]),
        Fixed32(u32),
    }

    fn read_varint(buf: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if buf.len() < n {
            return Err(format!("truncated: want {n} bytes, have {}", buf.len()));
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }

    fn try_fields(mut buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, String> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let key = read_varint(&mut buf)?;
            let field = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
            if field == 0 {
                return Err("field number 0".into());
            }
            let wire = match key & 7 {
                0 => Wire::Varint(read_varint(&mut buf)?),
                1 => Wire::Fixed64(u64::from_le_bytes(take(&mut buf, 8)?.try_into().unwrap())),
                2 => {
                    let len = usize::try_from(read_varint(&mut buf)?).unwrap();
                    Wire::Len(take(&mut buf, len)?)
                }
                5 => Wire::Fixed32(u32::from_le_bytes(take(&mut buf, 4)?.try_into().unwrap())),
                w => return Err(format!("wire type {w}")),
            };
            out.push((field, wire));
        }
        Ok(out)
    }

    fn fields(buf: &[u8]) -> Vec<(u32, Wire<'_>)> {
        try_fields(buf).unwrap()
    }

    /// Every length-delimited occurrence of `field`.
    fn all(buf: &[u8], field: u32) -> Vec<&[u8]> {
        fields(buf)
            .into_iter()
            .filter_map(|(n, w)| match w {
                Wire::Len(b) if n == field => Some(b),
                _ => None,
            })
            .collect()
    }

    fn one(buf: &[u8], field: u32) -> Option<&[u8]> {
        all(buf, field).pop()
    }

    fn text(buf: &[u8], field: u32) -> String {
        one(buf, field)
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .unwrap_or_default()
    }

    fn texts(buf: &[u8], field: u32) -> Vec<String> {
        all(buf, field)
            .into_iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    /// The value of an `Any`, read back from its `yaml` (JSON text in our encoding).
    fn any_value(buf: &[u8]) -> Value {
        serde_json::from_str(&text(buf, 2)).unwrap()
    }

    /// `repeated Named*{name = 1, value = 2}` as (name, value bytes).
    fn named(buf: &[u8], field: u32) -> Vec<(String, &[u8])> {
        all(buf, field)
            .into_iter()
            .map(|e| (text(e, 1), one(e, 2).unwrap_or_default()))
            .collect()
    }

    /// A `Schema` back in Swagger 2.0 JSON (a lone `type` or `items` as Den writes them).
    fn decode_schema(buf: &[u8]) -> Value {
        let mut m = Map::new();
        let push = |m: &mut Map<String, Value>, key: &str, v: Value| {
            m.entry(key)
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .unwrap()
                .push(v);
        };
        let str_of = |b: &[u8]| Value::from(String::from_utf8(b.to_vec()).unwrap());
        for (n, w) in fields(buf) {
            match (n, w) {
                (1, Wire::Len(b)) => drop(m.insert("$ref".into(), str_of(b))),
                (2, Wire::Len(b)) => drop(m.insert("format".into(), str_of(b))),
                (3, Wire::Len(b)) => drop(m.insert("title".into(), str_of(b))),
                (4, Wire::Len(b)) => drop(m.insert("description".into(), str_of(b))),
                (5, Wire::Len(b)) => drop(m.insert("default".into(), any_value(b))),
                (7, Wire::Fixed64(x)) => drop(m.insert("maximum".into(), f64::from_bits(x).into())),
                (9, Wire::Fixed64(x)) => drop(m.insert("minimum".into(), f64::from_bits(x).into())),
                (n @ (11 | 12 | 14 | 15 | 17 | 18), Wire::Varint(v)) => {
                    let key = match n {
                        11 => "maxLength",
                        12 => "minLength",
                        14 => "maxItems",
                        15 => "minItems",
                        17 => "maxProperties",
                        _ => "minProperties",
                    };
                    m.insert(key.into(), (v as i64).into());
                }
                (n @ (8 | 10 | 16), Wire::Varint(v)) => {
                    let key = match n {
                        8 => "exclusiveMaximum",
                        10 => "exclusiveMinimum",
                        _ => "uniqueItems",
                    };
                    m.insert(key.into(), (v != 0).into());
                }
                (19, Wire::Len(b)) => push(&mut m, "required", str_of(b)),
                (20, Wire::Len(b)) => push(&mut m, "enum", any_value(b)),
                (21, Wire::Len(b)) => {
                    let v = match fields(b).as_slice() {
                        [(1, Wire::Len(s))] => decode_schema(s),
                        [(2, Wire::Varint(v))] => Value::Bool(*v != 0),
                        other => panic!("bad additionalProperties {other:?}"),
                    };
                    m.insert("additionalProperties".into(), v);
                }
                (22, Wire::Len(b)) => {
                    let mut types: Vec<Value> = texts(b, 1).into_iter().map(Value::from).collect();
                    let v = if types.len() == 1 {
                        types.remove(0)
                    } else {
                        Value::Array(types)
                    };
                    m.insert("type".into(), v);
                }
                (23, Wire::Len(b)) => {
                    let mut items: Vec<Value> = all(b, 1).into_iter().map(decode_schema).collect();
                    let v = if items.len() == 1 {
                        items.remove(0)
                    } else {
                        Value::Array(items)
                    };
                    m.insert("items".into(), v);
                }
                (24, Wire::Len(b)) => push(&mut m, "allOf", decode_schema(b)),
                (25, Wire::Len(b)) => {
                    let props = named(b, 1)
                        .into_iter()
                        .map(|(k, v)| (k, decode_schema(v)))
                        .collect();
                    m.insert("properties".into(), Value::Object(props));
                }
                (27, Wire::Varint(v)) => drop(m.insert("readOnly".into(), (v != 0).into())),
                (31, Wire::Len(b)) => {
                    let name = text(b, 1);
                    m.insert(name, any_value(one(b, 2).unwrap()));
                }
                (n, w) => panic!("unexpected Schema field {n}: {w:?}"),
            }
        }
        Value::Object(m)
    }

    // -----------------------------------------------------------------------------------------
    // The writer

    fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::with_capacity(16);
        f(&mut w);
        w.buf
    }

    #[test]
    fn openapi_protobuf_varints() {
        for (v, want) in [
            (0u64, vec![0x00]),
            (1, vec![0x01]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            assert_eq!(written(|w| w.varint(v)), want, "{v}");
            let mut slice = want.as_slice();
            assert_eq!(read_varint(&mut slice).unwrap(), v);
            assert!(slice.is_empty());
        }
    }

    #[test]
    fn openapi_protobuf_scalars() {
        // Field 1, wire type 2: key 0x0a; field 16 needs a two-byte key.
        assert_eq!(written(|w| w.string(1, "hi")), b"\x0a\x02hi");
        assert_eq!(written(|w| w.string(16, "a")), b"\x82\x01\x01a");
        // proto3 defaults are omitted...
        assert!(written(|w| w.string(1, "")).is_empty());
        assert!(written(|w| w.bool(4, false)).is_empty());
        assert!(written(|w| w.int64(11, 0)).is_empty());
        assert!(written(|w| w.double(7, 0.0)).is_empty());
        // ...but not where presence matters.
        assert_eq!(written(|w| w.bool_always(2, false)), [0x10, 0x00]);
        assert_eq!(written(|w| w.bytes_always(1, b"")), [0x0a, 0x00]);
        assert_eq!(written(|w| w.bool(4, true)), [0x20, 0x01]);
        assert_eq!(written(|w| w.int64(11, 5)), [0x58, 0x05]);
        let negative = written(|w| w.int64(11, -1));
        assert_eq!(negative.len(), 11);
        assert_eq!(fields(&negative), [(11, Wire::Varint(u64::MAX))]);
        let double = written(|w| w.double(7, 1.5));
        assert_eq!(double[0], 0x39);
        assert_eq!(fields(&double), [(7, Wire::Fixed64(1.5f64.to_bits()))]);
    }

    #[test]
    fn openapi_protobuf_nested_messages() {
        assert_eq!(written(|w| w.message(3, |_| {})), [0x1a, 0x00]);
        let long = "x".repeat(200);
        let buf = written(|w| {
            w.message(2, |w| {
                w.string(1, &long);
                w.message(5, |w| w.string(1, "in"));
            });
            w.string(4, "after");
        });
        let top = fields(&buf);
        assert_eq!(top.len(), 2);
        let Wire::Len(outer) = top[0].1 else {
            panic!("{top:?}")
        };
        assert_eq!(top[0].0, 2);
        // 203 bytes for the long string, 6 for the inner message: a two-byte length.
        assert_eq!(outer.len(), 3 + 200 + 6);
        assert_eq!(&buf[..3], [0x12, 0xd1, 0x01]);
        assert_eq!(text(outer, 1), long);
        assert_eq!(text(one(outer, 5).unwrap(), 1), "in");
        assert_eq!(top[1], (4, Wire::Len(b"after")));
    }

    // -----------------------------------------------------------------------------------------
    // The mapping

    #[test]
    fn openapi_protobuf_maps_a_small_document() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": {
                "/api/v1/namespaces/{namespace}/things/{name}": {
                    "parameters": [
                        {"in": "path", "name": "name", "required": true, "type": "string", "uniqueItems": true},
                        {"$ref": "#/parameters/pretty"},
                    ],
                    "patch": {
                        "consumes": ["application/merge-patch+json"],
                        "operationId": "patchThing",
                        "parameters": [
                            {"in": "body", "name": "body", "required": true, "schema": {"$ref": "#/definitions/Patch"}},
                            {"in": "query", "name": "fieldValidation", "type": "string", "uniqueItems": true},
                            {"in": "header", "name": "X-Thing", "type": "integer", "maximum": 3},
                        ],
                        "responses": {
                            "200": {"description": "OK", "schema": {"$ref": "#/definitions/Thing"}},
                            "401": {"description": "Unauthorized"},
                            "404": {"$ref": "#/responses/notFound"},
                        },
                        "x-kubernetes-group-version-kind": {"group": "", "kind": "Thing", "version": "v1"},
                    },
                },
                "x-paths-ext": true,
            },
            "definitions": {
                "Thing": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"$ref": "#/definitions/Spec", "description": "The spec."},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "closed": {"type": "object", "additionalProperties": false},
                        "mode": {"type": "string", "enum": ["a", "b"], "default": "a", "maxLength": 5},
                    },
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Thing", "version": "v1"}],
                },
                "Spec": {"type": "object", "properties": {}},
            },
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
            "security": [{"BearerToken": []}],
        });
        let buf = encode_openapi_v2(&doc);
        assert_eq!(text(&buf, 1), "2.0");
        let info = one(&buf, 2).unwrap();
        assert_eq!(
            (text(info, 1), text(info, 2)),
            ("Kubernetes".into(), "unversioned".into())
        );

        let paths = one(&buf, 8).unwrap();
        let ext = named(paths, 1);
        assert_eq!(ext[0].0, "x-paths-ext");
        assert_eq!(any_value(ext[0].1), json!(true));
        let items = named(paths, 2);
        assert_eq!(items.len(), 1);
        let item = items[0].1;
        let path_params = all(item, 9);
        let path_param = one(one(one(path_params[0], 1).unwrap(), 2).unwrap(), 4).unwrap();
        assert_eq!(
            fields(path_param),
            [
                (1, Wire::Varint(1)),
                (2, Wire::Len(b"path")),
                (4, Wire::Len(b"name")),
                (5, Wire::Len(b"string")),
                (19, Wire::Varint(1)),
            ]
        );
        assert_eq!(
            text(one(path_params[1], 2).unwrap(), 1),
            "#/parameters/pretty"
        );

        let patch = one(item, 8).unwrap();
        assert_eq!(text(patch, 5), "patchThing");
        assert_eq!(texts(patch, 7), ["application/merge-patch+json"]);
        let params = all(patch, 8);
        let body = one(one(params[0], 1).unwrap(), 1).unwrap();
        assert_eq!(text(body, 2), "body");
        assert_eq!(text(body, 3), "body");
        assert_eq!(text(one(body, 5).unwrap(), 1), "#/definitions/Patch");
        let query = one(one(one(params[1], 1).unwrap(), 2).unwrap(), 3).unwrap();
        assert_eq!(text(query, 4), "fieldValidation");
        assert_eq!(text(query, 6), "string");
        assert!(fields(query).contains(&(20, Wire::Varint(1))));
        let header = one(one(one(params[2], 1).unwrap(), 2).unwrap(), 1).unwrap();
        assert_eq!(text(header, 5), "integer");
        assert!(fields(header).contains(&(10, Wire::Fixed64(3f64.to_bits()))));
        let responses = named(one(patch, 9).unwrap(), 1);
        let codes: Vec<&str> = responses.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["200", "401", "404"]);
        let ok = one(responses[0].1, 1).unwrap();
        assert_eq!(text(ok, 1), "OK");
        let ok_schema = one(one(ok, 2).unwrap(), 1).unwrap();
        assert_eq!(text(ok_schema, 1), "#/definitions/Thing");
        assert_eq!(
            text(one(responses[2].1, 2).unwrap(), 1),
            "#/responses/notFound"
        );
        let gvk = named(patch, 13);
        assert_eq!(gvk[0].0, "x-kubernetes-group-version-kind");
        assert_eq!(
            any_value(gvk[0].1),
            json!({"group": "", "kind": "Thing", "version": "v1"})
        );

        let defs = named(one(&buf, 9).unwrap(), 1);
        for (name, schema) in &defs {
            assert_eq!(decode_schema(schema), doc["definitions"][name], "{name}");
        }
        // Present-but-empty `properties` stays present.
        assert_eq!(one(defs[0].1, 25), Some(&b""[..]));

        let sec = named(one(&buf, 13).unwrap(), 1);
        assert_eq!(sec[0].0, "BearerToken");
        let api_key = one(sec[0].1, 2).unwrap();
        assert_eq!(
            (text(api_key, 1), text(api_key, 2), text(api_key, 3)),
            ("apiKey".into(), "authorization".into(), "header".into())
        );
        let req = named(one(&buf, 12).unwrap(), 1);
        assert_eq!(req[0], ("BearerToken".to_string(), &b""[..]));
    }

    // -----------------------------------------------------------------------------------------
    // Den's own document

    fn den() -> &'static (Value, Bytes) {
        static DEN: OnceLock<(Value, Bytes)> = OnceLock::new();
        DEN.get_or_init(|| {
            let openapi = OpenApi::new(&ResourceTable::builtin());
            let json = openapi.v2();
            let start = Instant::now();
            let doc: Value = serde_json::from_slice(&json).unwrap();
            let parsed = start.elapsed();
            let encoded = encode_openapi_v2(&doc);
            eprintln!(
                "openapi v2 protobuf: {} bytes (JSON {} bytes); parse {parsed:?}, parse+encode {:?}",
                encoded.len(),
                json.len(),
                start.elapsed()
            );
            let cached = openapi.v2_protobuf();
            assert_eq!(cached, encoded);
            assert_eq!(openapi.v2_protobuf().as_ptr(), cached.as_ptr());
            // `DEN_OPENAPI_PROTO_DUMP=/tmp/swagger.pb` writes the bytes, for checking with Go.
            if let Some(path) = std::env::var_os("DEN_OPENAPI_PROTO_DUMP") {
                std::fs::write(path, &encoded).unwrap();
            }
            (doc, encoded)
        })
    }

    #[test]
    fn openapi_protobuf_den_document_round_trips() {
        let (doc, buf) = den();
        assert_eq!(text(buf, 1), "2.0");
        let defs = named(one(buf, 9).unwrap(), 1);
        let json_defs = doc["definitions"].as_object().unwrap();
        assert_eq!(defs.len(), json_defs.len());
        for (name, schema) in &defs {
            assert_eq!(&decode_schema(schema), &json_defs[name], "{name}");
        }
        let paths = named(one(buf, 8).unwrap(), 2);
        let json_paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), json_paths.len());
        let mut ops = 0;
        for (name, item) in &paths {
            let json_item = &json_paths[name];
            for (field, method) in [
                (2, "get"),
                (3, "put"),
                (4, "post"),
                (5, "delete"),
                (8, "patch"),
            ] {
                let Some(op) = one(item, field) else {
                    assert!(json_item[method].is_null(), "{name} {method}");
                    continue;
                };
                ops += 1;
                let json_op = &json_item[method];
                assert_eq!(text(op, 5), json_op["operationId"].as_str().unwrap());
                assert_eq!(
                    all(op, 8).len(),
                    json_op["parameters"].as_array().map_or(0, Vec::len),
                    "{name} {method}"
                );
                let codes: Vec<String> = named(one(op, 9).unwrap(), 1)
                    .into_iter()
                    .map(|(c, _)| c)
                    .collect();
                let json_codes: Vec<&String> =
                    json_op["responses"].as_object().unwrap().keys().collect();
                assert_eq!(codes.iter().collect::<Vec<_>>(), json_codes);
            }
            assert_eq!(
                all(item, 9).len(),
                json_item["parameters"].as_array().map_or(0, Vec::len),
                "{name}"
            );
        }
        assert!(ops > 500, "{ops}");
        let sec = named(one(buf, 13).unwrap(), 1);
        assert_eq!(sec.len(), 1);
        assert_eq!(all(buf, 12).len(), 1);
    }

    /// What kubectl ≤ 1.27's `QueryParamVerifier` looks at before sending `fieldValidation`.
    #[test]
    fn openapi_protobuf_configmap_patch_has_field_validation() {
        let (_, buf) = den();
        let paths = named(one(buf, 8).unwrap(), 2);
        let (_, item) = paths
            .iter()
            .find(|(name, _)| name == "/api/v1/namespaces/{namespace}/configmaps/{name}")
            .unwrap();
        let patch = one(item, 8).unwrap();
        assert_eq!(text(patch, 5), "patchCoreV1NamespacedConfigMap");
        let query_names: Vec<String> = all(patch, 8)
            .into_iter()
            .filter_map(|p| one(one(one(p, 1)?, 2)?, 3))
            .map(|q| text(q, 4))
            .collect();
        assert!(
            query_names.iter().any(|n| n == "fieldValidation"),
            "{query_names:?}"
        );
        let ext: BTreeMap<String, Value> = named(patch, 13)
            .into_iter()
            .map(|(k, v)| (k, any_value(v)))
            .collect();
        assert_eq!(
            ext["x-kubernetes-group-version-kind"],
            json!({"group": "", "kind": "ConfigMap", "version": "v1"})
        );
        assert_eq!(ext["x-kubernetes-action"], json!("patch"));
    }
}
