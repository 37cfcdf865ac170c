//! Strategic merge patch (`application/strategic-merge-patch+json`), what `kubectl apply`
//! (client-side), `kubectl edit`, `kubectl set image` and `kubectl rollout restart` send for
//! built-in kinds.
//!
//! The semantics are upstream's (`k8s.io/apimachinery/pkg/util/strategicpatch`, applied with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`, as the API server does):
//!
//! - maps merge recursively, `null` deletes a key, `{"$patch": "replace"}` replaces a map and
//!   `{"$patch": "delete"}` empties it, `"$retainKeys": [..]` drops the keys not listed;
//! - lists whose field has patch strategy `merge` merge: lists of maps by the field's merge key
//!   (`{"$patch": "delete", key: v}` deletes an item, `{"$patch": "replace"}` replaces the list),
//!   lists of scalars as a set union; `$deleteFromPrimitiveList/<field>` removes scalars;
//!   `$setElementOrder/<field>` fixes the order of the merged list;
//! - any other list is replaced, and fields the schema does not know merge like a JSON merge
//!   patch (maps recurse, everything else is replaced).
//!
//! The patch metadata (patch strategy, merge key, element types) comes from the OpenAPI v2
//! definitions Den serves, which carry the `x-kubernetes-patch-*` facts. Upstream leaves
//! directives it does not consume in values it copies verbatim and relies on the typed decode
//! to drop them; here the result never carries directive keys.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::openapi::OpenApi;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const PATCH_STRATEGY: &str = "x-kubernetes-patch-strategy";
const PATCH_MERGE_KEY: &str = "x-kubernetes-patch-merge-key";
const DEFINITIONS_PREFIX: &str = "#/definitions/";

/// Why a strategic merge patch could not be applied. The messages are upstream's (Go values
/// are printed the way Go's `%v` prints them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicPatchError {
    /// The original or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    #[error("lists of lists are not supported")]
    ListOfLists,
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    /// A `$patch` directive with a value that is not valid where it appears.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `{"$patch": "merge"}` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyForList(String),
    #[error("list element types are not identical: {0}")]
    ElementTypesDiffer(String),
    #[error("no elements in any of the given slices")]
    NoElements,
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    #[error("unexpected patch strategy: {0}")]
    UnexpectedPatchStrategy(String),
}

impl StrategicPatchError {
    /// The HTTP status upstream's API server answers with: 400 for malformed directives, 422
    /// for lists of lists, 500 (reason `InternalError`-less `Unknown`) for everything else.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadJsonDoc
            | Self::BadPatchFormatForPrimitiveList
            | Self::BadPatchFormatForRetainKeys
            | Self::BadPatchFormatForSetElementOrderList => 400,
            Self::ListOfLists => 422,
            _ => 500,
        }
    }
}

type Result<T> = std::result::Result<T, StrategicPatchError>;

/// Applies the strategic merge patch `patch` to `original`, an object of the kind whose OpenAPI
/// definition is `definition` (e.g. `io.k8s.api.core.v1.Pod`). An unknown definition makes
/// every field unknown: the patch then behaves like a JSON merge patch.
pub fn strategic_merge_patch(
    openapi: &OpenApi,
    definition: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value> {
    let defs = definitions(openapi);
    let schema = Schema {
        defs: &defs,
        node: defs.get(definition),
    };
    let schema = schema.resolve(schema.node);
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err(StrategicPatchError::BadJsonDoc),
    };
    let patch = match patch {
        Value::Object(map) => map.clone(),
        Value::Null => return Ok(Value::Object(original)),
        _ => return Err(StrategicPatchError::BadJsonDoc),
    };
    merge_map(original, patch, schema).map(Value::Object)
}

// ---------------------------------------------------------------------------------------------
// Schema lookups

/// OpenAPI v2 definitions by name.
type Definitions = Map<String, Value>;

/// The v2 definitions of the built-in kinds, parsed once per set of built-in documents (one
/// per server; tests run several). Custom resources need none: they have no strategic merge
/// patch, and server-side apply takes their schema from the CRD. Entries are keyed by the
/// address of the built-in `/openapi/v2` bytes; holding a clone of those bytes keeps the
/// address from being reused by another instance.
pub(crate) fn definitions(openapi: &OpenApi) -> Arc<Definitions> {
    const KEPT: usize = 4;
    static CACHE: Mutex<Vec<(Bytes, Arc<Definitions>)>> = Mutex::new(Vec::new());
    let v2 = openapi.builtin_v2();
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, defs)) = cache
        .iter()
        .find(|(bytes, _)| bytes.as_ptr() == v2.as_ptr() && bytes.len() == v2.len())
    {
        return defs.clone();
    }
    let defs = serde_json::from_slice::<Value>(&v2)
        .ok()
        .and_then(|mut doc| match doc.get_mut("definitions")?.take() {
            Value::Object(defs) => Some(defs),
            _ => None,
        })
        .unwrap_or_default();
    let defs = Arc::new(defs);
    if cache.len() == KEPT {
        cache.remove(0);
    }
    cache.push((v2, defs.clone()));
    defs
}

/// A position in the schema: the (resolved) schema of the value being merged, or `None` when
/// the schema does not describe it.
#[derive(Clone, Copy)]
struct Schema<'a> {
    defs: &'a Definitions,
    node: Option<&'a Value>,
}

/// A field's patch strategies (`merge`, `replace`, `retainKeys`) and merge key.
#[derive(Default)]
struct PatchMeta {
    strategies: Vec<String>,
    merge_key: String,
}

impl<'a> Schema<'a> {
    /// Follows `$ref`s and single-schema `allOf` wrappers.
    fn resolve(self, mut node: Option<&'a Value>) -> Schema<'a> {
        for _ in 0..64 {
            let Some(current) = node else { break };
            if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
                node = reference
                    .strip_prefix(DEFINITIONS_PREFIX)
                    .and_then(|name| self.defs.get(name));
                continue;
            }
            match current.get("allOf").and_then(Value::as_array) {
                Some(all_of) if !all_of.is_empty() => node = all_of.first(),
                _ => break,
            }
        }
        Schema {
            defs: self.defs,
            node: node.filter(|n| n.is_object()),
        }
    }

    /// The schema of `key`: a property, or the value schema of a map.
    fn property(&self, key: &str) -> Option<&'a Value> {
        let node = self.node?;
        if let Some(prop) = node.get("properties").and_then(|p| p.get(key)) {
            return Some(prop);
        }
        node.get("additionalProperties").filter(|a| a.is_object())
    }

    fn meta(prop: Option<&Value>) -> PatchMeta {
        let Some(prop) = prop else {
            return PatchMeta::default();
        };
        let wrapped = prop
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first());
        let fact = |name: &str| {
            prop.get(name)
                .or_else(|| wrapped.and_then(|w| w.get(name)))
                .and_then(Value::as_str)
        };
        PatchMeta {
            strategies: fact(PATCH_STRATEGY)
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            merge_key: fact(PATCH_MERGE_KEY).unwrap_or_default().to_string(),
        }
    }

    /// The schema and patch metadata of the map-valued field `key`.
    fn lookup_struct(&self, key: &str) -> (Schema<'a>, PatchMeta) {
        let prop = self.property(key);
        (self.resolve(prop), Self::meta(prop))
    }

    /// The element schema and patch metadata of the list-valued field `key`.
    fn lookup_slice(&self, key: &str) -> (Schema<'a>, PatchMeta) {
        let prop = self.property(key);
        let items = prop.map(|p| match p.get("items") {
            Some(items) if items.is_object() => items,
            _ => p,
        });
        (self.resolve(items), Self::meta(prop))
    }
}

/// The strategy other than `retainKeys` (which only matters to the patch's author).
fn extract_retain_keys_strategy(strategies: &[String]) -> Result<&str> {
    match strategies {
        [] => Ok(""),
        [one] if one == RETAIN_KEYS_STRATEGY => Ok(""),
        [one] => Ok(one),
        [a, b] if a == RETAIN_KEYS_STRATEGY => Ok(b),
        [a, b] if b == RETAIN_KEYS_STRATEGY => Ok(a),
        _ => Err(StrategicPatchError::UnexpectedPatchStrategy(format!(
            "[{}]",
            strategies.join(" ")
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Maps

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema<'_>,
) -> Result<Map<String, Value>> {
    if patch.contains_key(DIRECTIVE_MARKER) {
        return handle_directive_in_merge_map(patch);
    }
    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, schema)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?, true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        };
        match (original_value, patch_value) {
            (Value::Object(original_map), Value::Object(patch_map)) => {
                let (sub, meta) = schema.lookup_struct(&key);
                let merged = if extract_retain_keys_strategy(&meta.strategies)? == REPLACE_DIRECTIVE
                {
                    strip_directive_keys_map(patch_map)
                } else {
                    merge_map(original_map, patch_map, sub)?
                };
                original.insert(key, Value::Object(merged));
            }
            (Value::Array(original_list), Value::Array(patch_list)) => {
                let (sub, meta) = schema.lookup_slice(&key);
                let strategy = extract_retain_keys_strategy(&meta.strategies)?;
                let merged = merge_slice_handler(
                    original_list,
                    patch_list,
                    sub,
                    strategy,
                    &meta.merge_key,
                    is_delete_list,
                )?;
                original.insert(key, Value::Array(merged));
            }
            (original_value, patch_value) => {
                let same_scalar_type = GoKind::of(&original_value) == GoKind::of(&patch_value);
                if is_delete_list && !same_scalar_type {
                    original.insert(key, original_value);
                } else {
                    insert_patch_value(&mut original, key, patch_value);
                }
            }
        }
    }
    Ok(original)
}

/// Puts a patch value where the original has nothing to merge it with: nulls are dropped, maps
/// carrying `$patch` are left out.
fn insert_patch_value(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_null_values(&mut value);
    if let Some(value) = remove_directives(value) {
        original.insert(key, strip_directive_keys(value));
    }
}

fn handle_directive_in_merge_map(mut patch: Map<String, Value>) -> Result<Map<String, Value>> {
    match patch.get(DIRECTIVE_MARKER) {
        Some(Value::String(d)) if d == REPLACE_DIRECTIVE => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(strip_directive_keys_map(patch))
        }
        Some(Value::String(d)) if d == DELETE_DIRECTIVE => Ok(Map::new()),
        directive => Err(StrategicPatchError::BadPatchType {
            directive: go_s(directive.unwrap_or(&Value::Null)),
            map: go_map(&patch),
        }),
    }
}

/// `$retainKeys`: the original keeps only the listed keys, and the patch may only set those.
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(StrategicPatchError::BadPatchFormatForRetainKeys);
    };
    let retained = |key: &str| retain.iter().any(|r| r.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(key) {
            return Err(StrategicPatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's list (if the patch has one) and orders the
/// result: the directive's order first, then the patch's, then the original's.
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema<'_>,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive_key in keys {
        let Some(order) = patch.remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(GoKind::Slice, &order));
        };
        let key = extract_key(&directive_key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&key) {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(other) => return Err(bad_arg_type(GoKind::Slice, other)),
        };
        let patch_list = match patch.get(&key) {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(other) => return Err(bad_arg_type(GoKind::Slice, other)),
        };
        let (sub, meta) = schema.lookup_slice(&key);
        let strategy = extract_retain_keys_strategy(&meta.strategies)?;
        let merge_key = meta.merge_key.as_str();
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;

        let server_order = original_list.clone().unwrap_or_default();
        let kind = slice_element_kind(&[
            original_list.as_deref().unwrap_or_default(),
            patch_list.as_deref().unwrap_or_default(),
        ]);
        let merged = match (original_list, patch_list) {
            (Some(original_list), None) => original_list,
            (None, Some(patch_list)) => match remove_directives(Value::Array(patch_list)) {
                Some(Value::Array(list)) => list.into_iter().map(strip_directive_keys).collect(),
                _ => continue,
            },
            (Some(original_list), Some(patch_list)) => {
                merge_slice_handler(original_list, patch_list, sub, strategy, merge_key, false)?
            }
            (None, None) => continue,
        };
        let (patch_items, server_only) = partition_by_presence(merged, &order, merge_key)?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &server_order,
            merge_key,
            kind?,
        )?;
        original.insert(key.clone(), Value::Array(both));
        patch.remove(&key);
    }
    Ok(())
}

/// Checks that the patch list's items (deletions aside) appear in the `$setElementOrder` list,
/// in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for item in patch_list {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(GoKind::Map, item));
            };
            if map.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE) {
                kept.push(item);
            }
        }
        kept
    };
    let (mut p, mut s) = (0, 0);
    while p < non_delete.len() && s < order.len() {
        if non_delete[p].get(DIRECTIVE_MARKER).is_some() {
            p += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[p], &order[s], merge_key)? {
            p += 1;
        }
        s += 1;
    }
    if p < non_delete.len() && s >= order.len() {
        return Err(StrategicPatchError::SetElementOrderMismatch {
            patch: go_list(patch_list),
            order: go_list(order),
        });
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(GoKind::Map, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(GoKind::Map, right));
    };
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// `prefix/field` → `field`.
fn extract_key(key: &str, prefix: &str) -> Result<String> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX => {
            Err(StrategicPatchError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(StrategicPatchError::BadPatchFormatForSetElementOrderList),
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema<'_>,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_slice(original, patch, schema, merge_key, is_delete_list)
    } else {
        Ok(patch.into_iter().map(strip_directive_keys).collect())
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema<'_>,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoKind::Map {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(&patch) {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(StrategicPatchError::NoMergeKeyForList("struct".into()));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged = merge_slice_without_special_elements(
            original.clone(),
            patch.clone(),
            merge_key,
            schema,
        )?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = partition_by_presence(merged, &patch, merge_key)?;
    normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

/// Applies the list's `$patch` elements: deletions remove matching original items, `replace`
/// drops the original. Returns the original and the patch without them.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(GoKind::Map, &item));
        };
        let Some(directive) = map.get(DIRECTIVE_MARKER) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let value = map
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?;
                original.retain(|o| o.get(merge_key) != Some(value));
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => return Err(StrategicPatchError::MergeDirectiveInList),
            _ => {
                return Err(StrategicPatchError::BadPatchType {
                    directive: go_s(directive),
                    map: go_map(map),
                });
            }
        }
    }
    if replace {
        Ok((
            rest.into_iter().map(strip_directive_keys).collect(),
            Vec::new(),
        ))
    } else {
        Ok((original, rest))
    }
}

/// Merges each patch item into the original item with the same merge key, or appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema<'_>,
) -> Result<Vec<Value>> {
    for item in patch {
        let Value::Object(patch_map) = item else {
            return Err(bad_arg_type(GoKind::Map, &item));
        };
        let value = patch_map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(&patch_map, merge_key))?;
        match find_map_by_key(&original, merge_key, value)? {
            Some(i) => {
                let Value::Object(original_map) = std::mem::take(&mut original[i]) else {
                    unreachable!("find_map_by_key only matches maps");
                };
                original[i] = Value::Object(merge_map(original_map, patch_map, schema)?);
            }
            None => original.push(strip_directive_keys(Value::Object(patch_map))),
        }
    }
    Ok(original)
}

fn find_map_by_key(list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(StrategicPatchError::NotAMap(i));
        };
        if map.get(merge_key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits `list` into the items present in `by` (by merge key, or by value for scalars) and
/// the others, keeping their order.
fn partition_by_presence(
    list: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut present = Vec::with_capacity(list.len());
    let mut absent = Vec::with_capacity(list.len());
    for item in list {
        let found = if merge_key.is_empty() {
            by.contains(&item)
        } else {
            let Value::Object(map) = &item else {
                return Err(bad_arg_type(GoKind::Map, &item));
            };
            let value = map
                .get(merge_key)
                .ok_or_else(|| no_merge_key(map, merge_key))?;
            find_map_by_key(by, merge_key, value)?.is_some()
        };
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Orders the patch items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them: a server-only item goes before a patch item only when the original had
/// both and had it first (so new items come before the original's remaining ones).
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<Vec<Value>> {
    let patch_items = normalize_slice_order(patch_items, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    let position = |item: &Value| index_of(server_order, item, merge_key, kind);
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(l), position(r)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// Sorts `items` by their position in `order` (stable; items `order` lacks go last). For maps,
/// deletion directives go to the end and every item must carry the merge key.
fn normalize_slice_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<Vec<Value>> {
    let (mut items, deletions) = if kind == GoKind::Map {
        for item in items.iter().chain(order) {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(GoKind::Map, item));
            };
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
        items.into_iter().partition(|item| {
            item.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE)
        })
    } else {
        (items, Vec::new())
    };
    let mut keyed: Vec<(Option<usize>, Value)> = items
        .drain(..)
        .map(|item| (index_of(order, &item, merge_key, kind), item))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
    items.extend(keyed.into_iter().map(|(_, item)| item));
    items.extend(deletions);
    Ok(items)
}

/// Where `item` is in `list`: by merge key value for maps, by value otherwise.
fn index_of(list: &[Value], item: &Value, merge_key: &str, kind: GoKind) -> Option<usize> {
    if kind == GoKind::Map {
        let key = item.get(merge_key);
        list.iter().position(|v| v.get(merge_key) == key)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// The common Go type of the lists' elements.
fn slice_element_kind(lists: &[&[Value]]) -> Result<GoKind> {
    let mut kind = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let current = GoKind::of(item);
        match kind {
            None if current == GoKind::Slice => return Err(StrategicPatchError::ListOfLists),
            None => kind = Some(current),
            Some(k) if k != current => {
                let lists: Vec<String> = lists.iter().map(|l| go_list(l)).collect();
                return Err(StrategicPatchError::ElementTypesDiffer(format!(
                    "[{}]",
                    lists.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    kind.ok_or(StrategicPatchError::NoElements)
}

// ---------------------------------------------------------------------------------------------
// Directives in copied values

/// Drops maps carrying `$patch` (and list items that are such maps), recursively. `None` when
/// `value` itself is such a map.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(list) => Some(Value::Array(
            list.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// Removes directive keys that upstream copies verbatim (and its typed decode then drops).
fn strip_directive_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_directive_keys_map(map)),
        Value::Array(list) => Value::Array(list.into_iter().map(strip_directive_keys).collect()),
        other => other,
    }
}

fn strip_directive_keys_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| !is_directive_key(k))
        .map(|(k, v)| (k, strip_directive_keys(v)))
        .collect()
}

/// Removes null map values, recursively (`IgnoreUnmatchedNulls`).
fn discard_null_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_null_values);
        }
        Value::Array(list) => list.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Go's view of JSON values, for upstream's error messages

/// The Go type a JSON value decodes to (numbers as the API server decodes them: integers stay
/// `int64`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GoKind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

impl GoKind {
    fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Nil,
            Value::Bool(_) => Self::Bool,
            Value::Number(n) if n.is_f64() => Self::Float,
            Value::Number(_) => Self::Int,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Slice,
            Value::Object(_) => Self::Map,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Self::Nil => "%!s(<nil>)",
            Self::Bool => "bool",
            Self::Int => "int64",
            Self::Float => "float64",
            Self::String => "string",
            Self::Slice => "[]interface {}",
            Self::Map => "map[string]interface {}",
        }
    }
}

fn bad_arg_type(expected: GoKind, actual: &Value) -> StrategicPatchError {
    StrategicPatchError::BadArgType {
        expected: expected.type_name(),
        actual: GoKind::of(actual).type_name(),
    }
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> StrategicPatchError {
    StrategicPatchError::NoMergeKey {
        map: go_map(map),
        key: key.to_string(),
    }
}

/// Go's `%v`.
fn go_v(value: &Value) -> String {
    let mut out = String::new();
    write_go_v(&mut out, value);
    out
}

fn go_map(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_go_map(&mut out, map);
    out
}

fn go_list(list: &[Value]) -> String {
    let items: Vec<String> = list.iter().map(go_v).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%s`: strings as they are, other scalars as `%!s(type=value)`.
fn go_s(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".into(),
        Value::Bool(_) | Value::Number(_) => {
            format!("%!s({}={})", GoKind::of(value).type_name(), go_v(value))
        }
        Value::Array(_) | Value::Object(_) => go_v(value),
    }
}

fn write_go_v(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => out.push_str(&go_float(f)),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => out.push_str(s),
        Value::Array(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go_v(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_go_map(out, map),
    }
}

fn write_go_map(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("map[");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        write_go_v(out, v);
    }
    out.push(']');
}

/// A float64 as Go's `%v` prints it: shortest form, exponent below 1e-4 and from 1e21.
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::json;

    use super::*;
    use crate::resources::ResourceTable;

    const POD: &str = "io.k8s.api.core.v1.Pod";
    const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

    fn openapi() -> &'static OpenApi {
        static OPENAPI: OnceLock<OpenApi> = OnceLock::new();
        OPENAPI.get_or_init(|| OpenApi::new(&ResourceTable::builtin()))
    }

    fn apply(definition: &str, original: Value, patch: Value) -> Result<Value> {
        strategic_merge_patch(openapi(), definition, &original, &patch)
    }

    #[track_caller]
    fn check(definition: &str, original: Value, patch: Value, expected: Value) {
        let got = apply(definition, original, patch).unwrap();
        assert_eq!(got, expected, "got {got:#}");
        assert_no_directives(&got);
    }

    #[track_caller]
    fn check_err(definition: &str, original: Value, patch: Value, message: &str) {
        let err = apply(definition, original, patch).unwrap_err();
        assert_eq!(err.to_string(), message);
    }

    #[track_caller]
    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    assert!(!is_directive_key(k), "directive {k} left in the result");
                    assert_no_directives(v);
                }
            }
            Value::Array(list) => list.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    fn pod_with(containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
    }

    #[test]
    fn containers_are_merged_by_name_and_other_containers_are_kept() {
        check(
            POD,
            pod_with(json!([
                {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "image": "busybox"}
            ])),
            json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}}),
            pod_with(json!([
                {"name": "nginx", "image": "nginx:1.28", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "image": "busybox"}
            ])),
        );
    }

    #[test]
    fn new_list_items_go_before_the_original_ones_as_upstream_orders_them() {
        check(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])),
            json!({"spec": {"containers": [{"name": "c", "image": "c"}]}}),
            pod_with(json!([
                {"name": "c", "image": "c"}, {"name": "a", "image": "a"}, {"name": "b", "image": "b"}
            ])),
        );
        check(
            POD,
            pod_with(json!([
                {"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}
            ])),
            json!({"spec": {"containers": [{"name": "d", "image": "d"}, {"name": "b", "image": "b"}, {"name": "e"}]}}),
            pod_with(json!([
                {"name": "a"}, {"name": "c"}, {"name": "d", "image": "d"}, {"name": "b", "image": "b"}, {"name": "e"}
            ])),
        );
    }

    #[test]
    fn ports_are_merged_by_container_port() {
        check(
            POD,
            pod_with(json!([{"name": "nginx", "ports": [
                {"containerPort": 80, "protocol": "TCP", "name": "http"},
                {"containerPort": 443, "protocol": "TCP"}
            ]}])),
            json!({"spec": {"containers": [{"name": "nginx", "ports": [
                {"containerPort": 80, "name": "web"}, {"containerPort": 8080}
            ]}]}}),
            pod_with(json!([{"name": "nginx", "ports": [
                {"containerPort": 80, "protocol": "TCP", "name": "web"},
                {"containerPort": 8080},
                {"containerPort": 443, "protocol": "TCP"}
            ]}])),
        );
    }

    #[test]
    fn env_is_merged_by_name_with_deletions() {
        check(
            POD,
            pod_with(
                json!([{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
            ),
            json!({"spec": {"containers": [{"name": "c", "env": [
                {"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"name": "A", "$patch": "delete"}
            ]}]}}),
            pod_with(
                json!([{"name": "c", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
            ),
        );
    }

    #[test]
    fn patch_delete_removes_a_container() {
        check(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            pod_with(json!([{"name": "b", "image": "b"}])),
        );
    }

    #[test]
    fn patch_replace_in_a_list_replaces_the_whole_list() {
        check(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])),
            json!({"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}}),
            pod_with(json!([{"name": "z", "image": "z"}])),
        );
    }

    #[test]
    fn set_element_order_orders_the_merged_containers() {
        let three = || {
            pod_with(json!([
                {"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}
            ]))
        };
        check(
            POD,
            three(),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "a2"}]
            }}),
            pod_with(json!([
                {"name": "c", "image": "c"}, {"name": "a", "image": "a2"}, {"name": "b", "image": "b"}
            ])),
        );
        // Alone, it reorders; items it does not list keep their place relative to the others.
        check(
            POD,
            three(),
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}]}}),
            pod_with(json!([
                {"name": "a", "image": "a"}, {"name": "c", "image": "c"}, {"name": "b", "image": "b"}
            ])),
        );
        // A new item lands where the directive puts it.
        check(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "d"}, {"name": "a"}],
                "containers": [{"name": "d", "image": "d"}]
            }}),
            pod_with(json!([
                {"name": "b", "image": "b"}, {"name": "d", "image": "d"}, {"name": "a", "image": "a"}
            ])),
        );
    }

    #[test]
    fn set_element_order_builds_a_list_the_original_lacks() {
        check(
            POD,
            json!({"spec": {}}),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "b", "image": "b"}, {"name": "a", "image": "a"}]
            }}),
            json!({"spec": {"containers": [{"name": "b", "image": "b"}, {"name": "a", "image": "a"}]}}),
        );
    }

    #[test]
    fn set_element_order_must_agree_with_the_patch_list() {
        check_err(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}, {"name": "c", "image": "c"}])),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                "containers": [{"name": "c", "image": "c2"}, {"name": "a", "image": "a2"}]
            }}),
            "The order in patch list:\n[map[image:c2 name:c] map[image:a2 name:a]]\n doesn't match \
             $setElementOrder list:\n[map[name:a] map[name:c]]\n",
        );
        check_err(
            POD,
            pod_with(json!([{"name": "a"}])),
            json!({"spec": {"$setElementOrder/containers": "x"}}),
            "expected a []interface {}, but received a string",
        );
    }

    #[test]
    fn retain_keys_on_strategy_switches_a_deployment_from_rolling_update_to_recreate() {
        check(
            DEPLOYMENT,
            json!({"spec": {"replicas": 1, "strategy": {
                "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            }}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}}),
        );
    }

    #[test]
    fn retain_keys_rejects_patch_fields_it_does_not_list() {
        check_err(
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
            json!({"spec": {"strategy": {
                "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 1}
            }}}),
            "invalid patch format of retainKeys",
        );
        let err = apply(
            POD,
            pod_with(json!([])),
            json!({"spec": {"$retainKeys": "containers"}}),
        )
        .unwrap_err();
        assert_eq!(err, StrategicPatchError::BadPatchFormatForRetainKeys);
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn retain_keys_inside_a_merged_volume_drops_the_old_source() {
        check(
            POD,
            json!({"spec": {"volumes": [{"name": "v1", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [
                {"name": "v1", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
            ]}}),
            json!({"spec": {"volumes": [{"name": "v1", "hostPath": {"path": "/x"}}]}}),
        );
    }

    #[test]
    fn delete_from_primitive_list_removes_finalizers() {
        check(
            POD,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
            json!({"metadata": {"finalizers": ["a", "c"]}}),
        );
        check(
            POD,
            json!({"metadata": {}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            json!({"metadata": {}}),
        );
        check_err(
            POD,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
            "invalid patch format of primitive list",
        );
    }

    #[test]
    fn primitive_merge_lists_are_unioned_without_duplicates() {
        check(
            POD,
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c", "c"]}}),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        );
        check(
            POD,
            json!({"metadata": {"finalizers": ["x", "y"]}}),
            json!({"metadata": {"finalizers": ["z", "x"]}}),
            json!({"metadata": {"finalizers": ["z", "x", "y"]}}),
        );
        check(
            POD,
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}),
            json!({"metadata": {"finalizers": ["c", "b", "a"]}}),
        );
    }

    #[test]
    fn labels_merge_and_null_deletes_a_label() {
        check(
            POD,
            json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}}),
            json!({"metadata": {"labels": {"a": null, "b": "x", "d": "4", "e": null}}}),
            json!({"metadata": {"labels": {"b": "x", "c": "3", "d": "4"}}}),
        );
    }

    #[test]
    fn volumes_are_merged_by_name() {
        check(
            POD,
            json!({"spec": {"volumes": [
                {"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "cm"}}
            ]}}),
            json!({"spec": {"volumes": [
                {"name": "v2", "configMap": {"name": "cm2"}}, {"name": "v3", "secret": {"secretName": "s"}}
            ]}}),
            json!({"spec": {"volumes": [
                {"name": "v1", "emptyDir": {}},
                {"name": "v2", "configMap": {"name": "cm2"}},
                {"name": "v3", "secret": {"secretName": "s"}}
            ]}}),
        );
    }

    #[test]
    fn tolerations_have_no_merge_key_and_are_replaced() {
        check(
            POD,
            json!({"spec": {"tolerations": [
                {"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}
            ]}}),
            json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}),
            json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}),
        );
    }

    #[test]
    fn kubectl_apply_patch_updates_the_image_and_last_applied_annotation() {
        let last_applied = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{},\"name\":\"nginx\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{\"image\":\"nginx:1.28\",\"name\":\"nginx\"}]}}\n";
        check(
            POD,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "nginx", "namespace": "default", "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "old"
                }},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "resources": {}}],
                         "restartPolicy": "Always"}
            }),
            json!({
                "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
                "spec": {"$setElementOrder/containers": [{"name": "nginx"}],
                         "containers": [{"image": "nginx:1.28", "name": "nginx"}]}
            }),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "nginx", "namespace": "default", "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": last_applied
                }},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.28", "resources": {}}],
                         "restartPolicy": "Always"}
            }),
        );
    }

    #[test]
    fn kubectl_rollout_restart_patch_adds_the_restarted_at_annotation() {
        check(
            DEPLOYMENT,
            json!({"metadata": {"name": "d"}, "spec": {"template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}
            }}}),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"
            }}}}}),
            json!({"metadata": {"name": "d"}, "spec": {"template": {
                "metadata": {"labels": {"app": "x"},
                             "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}
            }}}),
        );
    }

    #[test]
    fn kubectl_set_image_patch_changes_only_the_image() {
        check(
            DEPLOYMENT,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "proxy", "image": "envoy:1"}
            ]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}]},
                {"name": "proxy", "image": "envoy:1"}
            ]}}}}),
        );
    }

    #[test]
    fn patch_replace_and_delete_on_maps() {
        check(
            POD,
            json!({"spec": {"securityContext": {"runAsUser": 1, "fsGroup": 2}}}),
            json!({"spec": {"securityContext": {"$patch": "replace", "runAsGroup": 3}}}),
            json!({"spec": {"securityContext": {"runAsGroup": 3}}}),
        );
        // Upstream empties a map it deletes, and drops one the original lacks.
        check(
            POD,
            json!({"spec": {"affinity": {"nodeAffinity": {}}}}),
            json!({"spec": {"affinity": {"$patch": "delete"}}}),
            json!({"spec": {"affinity": {}}}),
        );
        check(
            POD,
            json!({"spec": {}}),
            json!({"spec": {"affinity": {"$patch": "delete"}}}),
            json!({"spec": {}}),
        );
    }

    #[test]
    fn replace_strategy_fields_are_replaced_not_merged() {
        check(
            "io.k8s.api.policy.v1.PodDisruptionBudget",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "minAvailable": 1}}),
            json!({"spec": {"selector": {"matchLabels": {"c": "d"}}}}),
            json!({"spec": {"selector": {"matchLabels": {"c": "d"}}, "minAvailable": 1}}),
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_owner_references_by_uid() {
        check(
            "io.k8s.api.core.v1.Service",
            json!({"spec": {"ports": [
                {"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "targetPort": 8443}
            ]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            json!({"spec": {"ports": [
                {"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443, "targetPort": 8443}
            ]}}),
        );
        check(
            POD,
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "2", "$patch": "delete"}, {"uid": "3", "name": "c"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "3", "name": "c"}, {"uid": "1", "name": "a"}]}}),
        );
    }

    #[test]
    fn directives_in_values_without_an_original_are_dropped() {
        check(
            POD,
            pod_with(json!([{"name": "a", "image": "a"}])),
            json!({"spec": {"containers": [{
                "name": "b",
                "$setElementOrder/env": [{"name": "B"}],
                "env": [{"name": "B", "value": "b"}]
            }]}}),
            pod_with(
                json!([{"name": "b", "env": [{"name": "B", "value": "b"}]}, {"name": "a", "image": "a"}]),
            ),
        );
        check(
            POD,
            json!({"spec": {}}),
            json!({"spec": {"containers": [
                {"name": "a", "$patch": "delete"},
                {"name": "b", "env": [{"name": "x", "$patch": "delete"}]}
            ]}}),
            json!({"spec": {"containers": [{"name": "b", "env": []}]}}),
        );
        check(
            DEPLOYMENT,
            json!({"spec": {}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
    }

    #[test]
    fn null_values_in_new_maps_are_discarded() {
        check(
            POD,
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"annotations": {"a": null, "b": "1"}}}),
            json!({"metadata": {"name": "p", "annotations": {"b": "1"}}}),
        );
    }

    #[test]
    fn unknown_fields_merge_like_a_json_merge_patch() {
        check(
            POD,
            json!({"spec": {"foo": {"a": 1, "l": [1, 2]}}}),
            json!({"spec": {"foo": {"b": 2, "l": [3]}}}),
            json!({"spec": {"foo": {"a": 1, "b": 2, "l": [3]}}}),
        );
        check(
            "io.example.Unknown",
            json!({"spec": {"containers": [{"name": "a"}], "m": {"x": 1}}}),
            json!({"spec": {"containers": [{"name": "b"}], "m": {"y": 2}}}),
            json!({"spec": {"containers": [{"name": "b"}], "m": {"x": 1, "y": 2}}}),
        );
    }

    #[test]
    fn misplaced_or_unknown_patch_directives_are_errors() {
        let one = || pod_with(json!([{"name": "a", "image": "a"}]));
        check_err(
            POD,
            one(),
            json!({"spec": {"containers": [{"name": "a", "$patch": "bogus"}]}}),
            "unknown patch type: bogus in map: map[$patch:bogus name:a]",
        );
        check_err(
            POD,
            one(),
            json!({"spec": {"$patch": "merge"}}),
            "unknown patch type: merge in map: map[$patch:merge]",
        );
        check_err(
            POD,
            one(),
            json!({"spec": {"$patch": 5}}),
            "unknown patch type: %!s(int64=5) in map: map[$patch:5]",
        );
        check_err(
            POD,
            one(),
            json!({"spec": {"containers": [{"$patch": "merge"}]}}),
            "merging lists cannot yet be specified in the patch",
        );
        check_err(
            POD,
            one(),
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "map: map[$patch:delete] does not contain declared merge key: name",
        );
        check_err(
            POD,
            one(),
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "map: map[image:x] does not contain declared merge key: name",
        );
    }

    #[test]
    fn list_element_type_errors_match_upstream() {
        let one = || pod_with(json!([{"name": "a"}]));
        let err = apply(POD, one(), json!({"spec": {"containers": [["x"]]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "list element types are not identical: [[map[name:a]] [[x]]]"
        );
        let err = apply(
            POD,
            pod_with(json!([])),
            json!({"spec": {"containers": [["x"]]}}),
        )
        .unwrap_err();
        assert_eq!(err, StrategicPatchError::ListOfLists);
        assert_eq!(err.status_code(), 422);
        check_err(
            POD,
            one(),
            json!({"spec": {"containers": ["x"]}}),
            "list element types are not identical: [[map[name:a]] [x]]",
        );
    }

    #[test]
    fn type_changes_replace_the_original_value() {
        check(
            POD,
            pod_with(json!([{"name": "a"}])),
            json!({"spec": {"containers": {"name": "x"}}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": {"name": "x"}}}),
        );
    }

    #[test]
    fn a_null_patch_leaves_the_original_and_non_objects_are_rejected() {
        check(POD, pod_with(json!([])), Value::Null, pod_with(json!([])));
        let err = apply(POD, pod_with(json!([])), json!([1])).unwrap_err();
        assert_eq!(err, StrategicPatchError::BadJsonDoc);
        assert_eq!(err.to_string(), "invalid JSON document");
    }

    #[test]
    fn go_float_formatting_matches_fmt_v() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(80.0), "80");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.00001), "1e-05");
    }
}
