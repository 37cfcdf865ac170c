//! The OpenAPI documents of custom resources, after upstream's
//! `apiextensions-apiserver/pkg/controller/openapi/builder`: each served version of an
//! established CRD becomes two definitions (`com.example.v1.Widget` and `...WidgetList`, the
//! group reversed as kube-openapi's `ToRESTFriendlyName` does), its routes (collection, object,
//! `status` and `scale`, no watch routes), one v3 document per group-version
//! (`apis/example.com/v1`), and the same routes and definitions merged into `/openapi/v2`.
//!
//! The kind's schema is the version's `openAPIV3Schema` as the structural schema publishes it
//! (only the structural keywords, `x-kubernetes-int-or-string` unfolded into `anyOf` in v3),
//! with `apiVersion`, `kind` and `metadata` set as for built-in kinds, embedded resources
//! completed the same way, and `x-kubernetes-group-version-kind`. For Swagger 2.0 it is first
//! reduced as upstream's `v2/conversion.go` does: no `allOf`/`anyOf`/`oneOf`/`not`, nullable
//! and `x-kubernetes-preserve-unknown-fields` schemas lose their type, properties and items,
//! and defaults are pruned; a schema that preserves unknown fields at its root is published as a
//! bare object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{
    Body, Builtins, DELETE_OPTIONS, DELETE_PARAMS, DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE,
    GroupVersion, LIST_META, LIST_PARAMS, OBJECT_META, Op, PATCH, PRETTY, Param, PathItem, SCALE,
    STATUS, V2_PREFIX, V3Doc, assemble_v2, assemble_v3, pairs, path_param, query, render_paths,
    sorted, to_v3,
};
use crate::crd::CustomResourceVersion;
use crate::resources::{Codec, ResourceInfo};

const INFO: &str = r#"{"title":"Kubernetes CRD Swagger","version":"v0.1.0"}"#;
const MEDIA: &[&str] = &["application/json", "application/yaml"];
/// Custom resources take no strategic merge patch.
const PATCH_MEDIA: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];
const RESOURCE_VERSION: Param = query("resourceVersion", "string");
const OBJECT_META_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_META_DESCRIPTION: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const EMBEDDED_API_VERSION: &str = "apiVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const EMBEDDED_KIND: &str = "kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The documents of a set of custom resource versions.
pub(super) struct Documents {
    resources: Vec<Arc<ResourceInfo>>,
    /// Keyed by the path under `/openapi/v3/`: `apis/example.com/v1`.
    pub(super) v3: BTreeMap<String, V3Doc>,
    v2_paths: Vec<(String, String)>,
    v2_defs: BTreeMap<String, String>,
    /// The built-in definitions the custom paths and definitions refer to.
    v2_builtin_defs: Vec<String>,
    v2: OnceLock<Bytes>,
    pub(super) v2_protobuf: OnceLock<Bytes>,
}

/// One group-version's v3 document, being built.
#[derive(Default)]
struct GroupVersionDoc {
    paths: Vec<PathItem>,
    schemas: BTreeMap<String, String>,
}

impl Documents {
    /// `resources` holds only custom resources.
    pub(super) fn new(builtin: &Builtins, resources: Vec<Arc<ResourceInfo>>) -> Self {
        let model = &builtin.model;
        let mut by_gv: BTreeMap<String, GroupVersionDoc> = BTreeMap::new();
        let mut v2_paths = Vec::new();
        let mut v2_defs = BTreeMap::new();
        let mut v2_roots: BTreeSet<String> = [OBJECT_META, LIST_META]
            .into_iter()
            .map(String::from)
            .collect();
        for r in &resources {
            let Codec::Custom(custom) = &r.codec else {
                continue;
            };
            let kind_name = definition_name(&r.group, &r.version, &r.kind);
            let list_name = definition_name(&r.group, &r.version, &r.list_kind);
            let type_meta = &model.type_meta;
            let gv = GroupVersion::new(&r.group, &r.version);
            let paths = resource_paths(&gv, r, &kind_name, &list_name);

            let v2_kind = kind_schema(r, custom, type_meta, true);
            let v2_list = list_schema(r, custom, &kind_name, type_meta);
            v2_paths.extend(render_paths(&paths, PathItem::to_v2));
            v2_roots.extend(
                paths
                    .iter()
                    .flat_map(PathItem::schema_names)
                    .map(String::from),
            );
            v2_defs.insert(kind_name.clone(), v2_kind.to_string());
            v2_defs.insert(list_name.clone(), v2_list.to_string());

            let doc = by_gv
                .entry(gv.prefix.trim_start_matches('/').to_string())
                .or_default();
            let v3_kind = to_v3(&kind_schema(r, custom, type_meta, false));
            let v3_list = to_v3(&v2_list);
            doc.schemas.insert(kind_name, v3_kind.to_string());
            doc.schemas.insert(list_name, v3_list.to_string());
            doc.paths.extend(paths);
        }

        let v3 = by_gv
            .into_iter()
            .map(|(name, doc)| {
                let builtin_names = model.closure(
                    doc.paths
                        .iter()
                        .flat_map(PathItem::schema_names)
                        .chain([OBJECT_META, LIST_META]),
                );
                let mut schemas: BTreeMap<&str, &str> = builtin_names
                    .into_iter()
                    .map(|n| (n, model.defs_v3[n].as_str()))
                    .collect();
                schemas.extend(doc.schemas.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let paths = render_paths(&doc.paths, PathItem::to_v3);
                let bytes = assemble_v3(INFO, pairs(&paths), schemas.into_iter());
                (name, V3Doc::new(bytes))
            })
            .collect();
        let v2_builtin_defs = model
            .closure(v2_roots.iter().map(String::as_str))
            .into_iter()
            .map(String::from)
            .collect();
        Self {
            resources,
            v3,
            v2_paths,
            v2_defs,
            v2_builtin_defs,
            v2: OnceLock::new(),
            v2_protobuf: OnceLock::new(),
        }
    }

    pub(super) fn resources(&self) -> &[Arc<ResourceInfo>] {
        &self.resources
    }

    /// `/openapi/v2`: the built-in document with the custom paths and definitions merged in,
    /// assembled on first use.
    pub(super) fn v2(&self, builtin: &Builtins) -> Bytes {
        self.v2
            .get_or_init(|| {
                let model = &builtin.model;
                let mut defs: BTreeMap<&str, &str> = builtin
                    .v2_defs
                    .iter()
                    .chain(&self.v2_builtin_defs)
                    .map(|n| (n.as_str(), model.defs_v2[n].as_str()))
                    .collect();
                defs.extend(self.v2_defs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let paths = pairs(&builtin.v2_paths).chain(pairs(&self.v2_paths));
                Bytes::from(assemble_v2(paths, defs.into_iter()))
            })
            .clone()
    }
}

/// Whether two custom resource versions publish the same documents.
pub(super) fn same(a: &ResourceInfo, b: &ResourceInfo) -> bool {
    let (Codec::Custom(ca), Codec::Custom(cb)) = (&a.codec, &b.codec) else {
        return false;
    };
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.list_kind == b.list_kind
        && a.plural == b.plural
        && a.namespaced == b.namespaced
        && a.status_subresource == b.status_subresource
        && a.scale_subresource == b.scale_subresource
        && ca.openapi_schema == cb.openapi_schema
        && ca.selectable_fields == cb.selectable_fields
}

/// `example.com`, `v1`, `Widget` → `com.example.v1.Widget` (kube-openapi's `ToRESTFriendlyName`
/// of `example.com/v1.Widget`).
pub(super) fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

// ---------------------------------------------------------------------------------------------
// Schemas

fn gvk(r: &ResourceInfo, kind: &str) -> Value {
    json!([{"group": r.group, "kind": kind, "version": r.version}])
}

fn selectable_fields(custom: &CustomResourceVersion) -> Option<Value> {
    (!custom.selectable_fields.is_empty()).then(|| {
        custom
            .selectable_fields
            .iter()
            .map(|f| json!({"fieldPath": f}))
            .collect()
    })
}

fn meta_ref(name: &str, description: &str) -> Value {
    json!({"$ref": format!("{V2_PREFIX}{name}"), "description": description})
}

/// The kind's definition, with `#/definitions/` refs (converted for v3 by the caller).
fn kind_schema(
    r: &ResourceInfo,
    custom: &CustomResourceVersion,
    type_meta: &Map<String, Value>,
    v2: bool,
) -> Value {
    let schema = custom.openapi_schema.as_ref().map(structural);
    let preserves = |s: &Value| s.get("x-kubernetes-preserve-unknown-fields") == Some(&true.into());
    let mut out = match schema {
        Some(schema) if !(v2 && preserves(&schema)) => {
            let mut schema = if v2 {
                let mut s = to_v2(schema);
                prune_defaults(&mut s);
                s
            } else {
                unfold(schema)
            };
            let Value::Object(map) = &mut schema else {
                unreachable!("structural() answers an object");
            };
            let props = properties(map);
            props.insert(
                "metadata".into(),
                meta_ref(OBJECT_META, OBJECT_META_DESCRIPTION),
            );
            for (field, prop) in type_meta {
                props.insert(field.clone(), prop.clone());
            }
            add_embedded_properties(&mut schema, type_meta, v2);
            schema
        }
        // Without a schema (or, in v2, with one that keeps unknown fields) upstream publishes a
        // bare object: any listed property would make kubectl reject the others.
        _ => json!({"type": "object"}),
    };
    let map = out.as_object_mut().expect("an object");
    map.insert("x-kubernetes-group-version-kind".into(), gvk(r, &r.kind));
    if let Some(fields) = selectable_fields(custom) {
        map.insert("x-kubernetes-selectable-fields".into(), fields);
    }
    out
}

/// The `<Kind>List` definition (the same in v2 and v3 but for its refs).
fn list_schema(
    r: &ResourceInfo,
    custom: &CustomResourceVersion,
    kind_name: &str,
    type_meta: &Map<String, Value>,
) -> Value {
    let mut props = Map::new();
    props.insert(
        "items".into(),
        json!({
            "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", r.plural),
            "type": "array",
            "items": {"$ref": format!("{V2_PREFIX}{kind_name}")},
        }),
    );
    props.insert(
        "metadata".into(),
        meta_ref(LIST_META, LIST_META_DESCRIPTION),
    );
    props.extend(type_meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut out = json!({
        "description": format!("{} is a list of {}", r.list_kind, r.kind),
        "type": "object",
        "required": ["items"],
        "properties": props,
        "x-kubernetes-group-version-kind": gvk(r, &r.list_kind),
    });
    if let Some(fields) = selectable_fields(custom) {
        out["x-kubernetes-selectable-fields"] = fields;
    }
    out
}

fn properties(map: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let props = map
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !props.is_object() {
        *props = Value::Object(Map::new());
    }
    props.as_object_mut().expect("an object")
}

/// The child schemas of a schema: properties, items, additionalProperties and the junctors.
fn children(map: &mut Map<String, Value>) -> impl Iterator<Item = &mut Value> {
    map.iter_mut().flat_map(|(k, v)| {
        let nested: Vec<&mut Value> = match (k.as_str(), v) {
            ("properties", Value::Object(props)) => props.values_mut().collect(),
            ("items" | "additionalProperties" | "not", v @ Value::Object(_)) => vec![v],
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(items)) => {
                items.iter_mut().collect()
            }
            _ => Vec::new(),
        };
        nested
    })
}

/// The keywords a structural schema keeps (upstream's `Structural.ToKubeOpenAPI`).
fn structural(schema: &Value) -> Value {
    const KEEP: &[&str] = &[
        "description",
        "type",
        "title",
        "default",
        "format",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "enum",
        "maxProperties",
        "minProperties",
        "required",
        "allOf",
        "oneOf",
        "anyOf",
        "not",
        "properties",
        "additionalProperties",
        "items",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    ];
    const FLAGS: &[&str] = &[
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ];
    let Value::Object(map) = schema else {
        return json!({});
    };
    let mut out = Map::new();
    for (k, v) in map {
        let keep = KEEP.contains(&k.as_str()) || (FLAGS.contains(&k.as_str()) && *v == true);
        if !keep {
            continue;
        }
        let v = match (k.as_str(), v) {
            ("properties", Value::Object(props)) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), structural(s)))
                    .collect(),
            ),
            ("items" | "additionalProperties" | "not", s @ Value::Object(_)) => structural(s),
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(items)) => {
                items.iter().map(structural).collect()
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// Upstream's `Unfold`: `x-kubernetes-int-or-string` spelled out as `anyOf: [integer, string]`.
fn unfold(mut schema: Value) -> Value {
    fn visit(schema: &mut Value) {
        let Value::Object(map) = schema else {
            return;
        };
        if map.get("x-kubernetes-int-or-string") == Some(&true.into()) {
            let pattern = json!([{"type": "integer"}, {"type": "string"}]);
            let first_all_of_any_of = map
                .get("allOf")
                .and_then(|a| a.get(0))
                .and_then(|a| a.get("anyOf"));
            if map.get("anyOf") != Some(&pattern) && first_all_of_any_of != Some(&pattern) {
                match map.get_mut("anyOf") {
                    None => {
                        map.insert("anyOf".into(), pattern);
                    }
                    Some(_) => {
                        let mut all_of = vec![json!({ "anyOf": pattern })];
                        if let Some(Value::Array(rest)) = map.remove("allOf") {
                            all_of.extend(rest);
                        }
                        map.insert("allOf".into(), Value::Array(all_of));
                    }
                }
            }
        }
        children(map).for_each(visit);
    }
    visit(&mut schema);
    schema
}

/// Upstream's `ToStructuralOpenAPIV2`: drops what Swagger 2.0 (and kubectl's reading of it)
/// cannot express.
fn to_v2(mut schema: Value) -> Value {
    fn is_nullable(s: &Value) -> bool {
        s.get("nullable") == Some(&true.into())
    }
    fn visit(schema: &mut Value) {
        let Value::Object(map) = schema else {
            return;
        };
        for junctor in ["allOf", "anyOf", "oneOf", "not"] {
            map.remove(junctor);
        }
        // Whether the children were nullable, before they are visited.
        let nullable_props: Vec<String> = match map.get("properties") {
            Some(Value::Object(props)) => props
                .iter()
                .filter(|(_, s)| is_nullable(s))
                .map(|(name, _)| name.clone())
                .collect(),
            _ => Vec::new(),
        };
        let nullable_additional = map.get("additionalProperties").is_some_and(is_nullable);
        if is_nullable(schema) {
            let map = schema.as_object_mut().expect("an object");
            for key in ["type", "nullable", "items", "properties"] {
                map.remove(key);
            }
        }
        let map = schema.as_object_mut().expect("an object");
        let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&true.into());
        if preserves {
            map.remove("items");
            map.remove("properties");
        }
        if !map.contains_key("items") && map.get("type") == Some(&"array".into()) {
            map.remove("type");
        }
        if preserves && map.get("type") == Some(&"object".into()) {
            map.remove("type");
        }
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|r| {
                !r.as_str()
                    .is_some_and(|r| nullable_props.iter().any(|p| p == r))
            });
            if required.is_empty() {
                map.remove("required");
            }
        }
        if nullable_additional {
            map.remove("required");
        }
        children(map).for_each(visit);
    }
    visit(&mut schema);
    schema
}

/// kube-openapi's `PruneDefaults`: v2 definitions carry no defaults.
fn prune_defaults(schema: &mut Value) {
    if let Value::Object(map) = schema {
        map.remove("default");
        children(map).for_each(prune_defaults);
    }
}

/// Upstream's `addEmbeddedProperties`: an `x-kubernetes-embedded-resource` object gets
/// `apiVersion`, `kind` and `metadata` (in v2 not where unknown fields are kept).
fn add_embedded_properties(schema: &mut Value, type_meta: &Map<String, Value>, v2: bool) {
    let Value::Object(map) = schema else {
        return;
    };
    children(map).for_each(|child| add_embedded_properties(child, type_meta, v2));
    let flag = |key: &str| map.get(key) == Some(&true.into());
    if v2 && flag("x-kubernetes-preserve-unknown-fields") {
        return;
    }
    if !flag("x-kubernetes-embedded-resource") {
        return;
    }
    let with_description = |field: &str, description: &str| {
        let mut prop = type_meta
            .get(field)
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}));
        prop["description"] = description.into();
        prop
    };
    let api_version = with_description("apiVersion", EMBEDDED_API_VERSION);
    let kind = with_description("kind", EMBEDDED_KIND);
    let props = properties(map);
    props.insert("apiVersion".into(), api_version);
    props.insert("kind".into(), kind);
    props.insert(
        "metadata".into(),
        meta_ref(OBJECT_META, OBJECT_META_DESCRIPTION),
    );
    let required = map.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(required) = required {
        for field in ["kind", "apiVersion"] {
            if !required.iter().any(|r| r == field) {
                required.push(field.into());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The routes of one custom resource version, as upstream's builder installs them: the
/// collection (and, when namespaced, the list across namespaces), the object, and the `status`
/// and `scale` subresources. Parameters every operation of a path shares (`namespace`, `name`,
/// `pretty`) are the path's.
fn resource_paths(
    gv: &GroupVersion,
    r: &ResourceInfo,
    kind_schema: &str,
    list_schema: &str,
) -> Vec<PathItem> {
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let ns_path = if r.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{}{ns_path}/{}", gv.prefix, r.plural);
    let item = format!("{collection}/{{name}}");
    let common = |name: bool| {
        let mut params = Vec::new();
        if r.namespaced {
            params.push(path_param("namespace"));
        }
        if name {
            params.push(path_param("name"));
        }
        params.push(PRETTY);
        sorted(params)
    };
    let gvk = Some((gv.group.clone(), gv.version.clone(), r.kind.to_string()));
    let op = |method: &'static str,
              verb: &str,
              suffix: &str,
              action: &'static str,
              params: &[Param],
              response: &str,
              codes: &[u16]| Op {
        method,
        id: format!("{verb}{}{scope}{}{suffix}", gv.op, r.kind),
        tag: gv.tag.clone(),
        action: Some(action),
        gvk: gvk.clone(),
        params: sorted(params.to_vec()),
        body: None,
        responses: codes.iter().map(|c| (*c, response.to_string())).collect(),
        produces: MEDIA,
        consumes: Some(if method == "patch" {
            PATCH_MEDIA
        } else {
            MEDIA
        }),
    };
    let body = |schema: &str, required: bool| {
        Some(Body {
            schema: schema.to_string(),
            required,
            patch: false,
        })
    };
    let write_params = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
    let patch_params = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];

    let mut paths = Vec::new();
    if r.namespaced {
        let mut params = LIST_PARAMS.to_vec();
        params.push(PRETTY);
        paths.push(PathItem {
            path: format!("{}/{}", gv.prefix, r.plural),
            params: sorted(params),
            ops: vec![Op {
                id: format!("list{}{}ForAllNamespaces", gv.op, r.kind),
                ..op("get", "list", "", "list", &[], list_schema, &[200])
            }],
        });
    }
    paths.push(PathItem {
        path: collection,
        params: common(false),
        ops: vec![
            op("get", "list", "", "list", LIST_PARAMS, list_schema, &[200]),
            Op {
                body: body(kind_schema, true),
                ..op(
                    "post",
                    "create",
                    "",
                    "post",
                    &write_params,
                    kind_schema,
                    &[200, 201, 202],
                )
            },
            Op {
                id: format!("delete{}Collection{scope}{}", gv.op, r.kind),
                ..op(
                    "delete",
                    "delete",
                    "",
                    "deletecollection",
                    LIST_PARAMS,
                    STATUS,
                    &[200],
                )
            },
        ],
    });
    paths.push(PathItem {
        path: item.clone(),
        params: common(true),
        ops: vec![
            op(
                "get",
                "read",
                "",
                "get",
                &[RESOURCE_VERSION],
                kind_schema,
                &[200],
            ),
            Op {
                body: body(kind_schema, true),
                ..op(
                    "put",
                    "replace",
                    "",
                    "put",
                    &write_params,
                    kind_schema,
                    &[200, 201],
                )
            },
            Op {
                body: body(DELETE_OPTIONS, false),
                ..op(
                    "delete",
                    "delete",
                    "",
                    "delete",
                    DELETE_PARAMS,
                    STATUS,
                    &[200, 202],
                )
            },
            Op {
                body: body(PATCH, true),
                ..op(
                    "patch",
                    "patch",
                    "",
                    "patch",
                    &patch_params,
                    kind_schema,
                    &[200],
                )
            },
        ],
    });
    let mut subresource = |sub: &str, suffix: &str, schema: &str| {
        paths.push(PathItem {
            path: format!("{item}/{sub}"),
            params: common(true),
            ops: vec![
                op(
                    "get",
                    "read",
                    suffix,
                    "get",
                    &[RESOURCE_VERSION],
                    schema,
                    &[200],
                ),
                Op {
                    body: body(schema, true),
                    ..op(
                        "put",
                        "replace",
                        suffix,
                        "put",
                        &write_params,
                        schema,
                        &[200, 201],
                    )
                },
                Op {
                    body: body(PATCH, true),
                    ..op(
                        "patch",
                        "patch",
                        suffix,
                        "patch",
                        &patch_params,
                        schema,
                        &[200],
                    )
                },
            ],
        });
    };
    if r.status_subresource {
        subresource("status", "Status", kind_schema);
    }
    if r.scale_subresource {
        subresource("scale", "Scale", SCALE);
    }
    paths
}
