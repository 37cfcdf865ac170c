//! Objects walked with their schema, the way structured-merge-diff's `typed` package walks
//! them: which fields an object sets, how two objects differ, how an applied configuration
//! merges into a live object, and how owned fields are removed.
//!
//! The schema is an OpenAPI (v2 definitions) or CRD structural schema as JSON. What matters
//! about a value is its shape: a scalar or *atomic* value is a leaf, owned as a whole; a map
//! (`x-kubernetes-map-type: granular`, the default) owns each key separately; a list is atomic
//! unless `x-kubernetes-list-type` is `set` (items owned by value) or `map` (items owned by
//! their `x-kubernetes-list-map-keys`). Values the schema does not describe are *deduced*:
//! maps are granular, lists atomic.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{Path, PathElement, Set};

const DEFINITIONS_PREFIX: &str = "#/definitions/";

/// A position in the schema; `node` is `None` where the schema says nothing (deduced).
#[derive(Clone, Copy)]
pub struct TypeRef<'a> {
    defs: &'a Map<String, Value>,
    node: Option<&'a Value>,
}

#[derive(Clone, PartialEq)]
enum ListKind<'a> {
    Atomic,
    Set,
    Map(Vec<&'a str>),
}

/// How a value is walked.
enum Node<'a> {
    Leaf,
    Map(TypeRef<'a>),
    List(ListKind<'a>, TypeRef<'a>),
}

impl<'a> TypeRef<'a> {
    /// The schema `node`, whose `$ref`s point into `defs`.
    pub fn new(defs: &'a Map<String, Value>, node: &'a Value) -> Self {
        TypeRef {
            defs,
            node: Some(node),
        }
    }

    fn deduced(self) -> Self {
        TypeRef {
            defs: self.defs,
            node: None,
        }
    }

    fn at(self, node: Option<&'a Value>) -> Self {
        TypeRef {
            defs: self.defs,
            node,
        }
    }

    /// The schema behind `$ref`s and single-schema `allOf` wrappers.
    fn resolved(self) -> Option<&'a Value> {
        let mut node = self.node?;
        for _ in 0..32 {
            if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
                node = self.defs.get(reference.strip_prefix(DEFINITIONS_PREFIX)?)?;
                continue;
            }
            match node.get("allOf").and_then(Value::as_array) {
                Some(all_of) if all_of.len() == 1 => node = &all_of[0],
                _ => break,
            }
        }
        Some(node)
    }

    /// An `x-kubernetes-*` extension on the reference or on what it resolves to.
    fn extension(self, name: &str) -> Option<&'a Value> {
        let node = self.node?;
        node.get(name)
            .or_else(|| {
                node.get("allOf")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(|w| w.get(name))
            })
            .or_else(|| self.resolved()?.get(name))
    }

    fn is_atomic_map(self) -> bool {
        self.extension("x-kubernetes-map-type")
            .and_then(Value::as_str)
            == Some("atomic")
    }

    fn list_kind(self) -> ListKind<'a> {
        match self
            .extension("x-kubernetes-list-type")
            .and_then(Value::as_str)
        {
            Some("set") => ListKind::Set,
            Some("map") => ListKind::Map(
                self.extension("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default(),
            ),
            _ => ListKind::Atomic,
        }
    }

    fn items(self) -> Self {
        self.at(self.resolved().and_then(|n| n.get("items")))
    }

    /// The schema of map key `name`, and whether it is a declared field (a property).
    fn field(self, name: &str) -> (Self, bool) {
        let Some(node) = self.resolved() else {
            return (self.deduced(), false);
        };
        if let Some(prop) = node.get("properties").and_then(|p| p.get(name)) {
            return (self.at(Some(prop)), true);
        }
        let additional = node.get("additionalProperties").filter(|a| a.is_object());
        (self.at(additional), false)
    }

    /// How a value of this type is walked, judged by the schema and the value itself.
    fn node_for(self, value: &Value) -> Node<'a> {
        let Some(schema) = self.resolved() else {
            return match value {
                Value::Object(_) => Node::Map(self.deduced()),
                _ => Node::Leaf,
            };
        };
        if schema.get("x-kubernetes-int-or-string").is_some() {
            return Node::Leaf;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let is_list = ty == Some("array") || schema.get("items").is_some();
        let is_map = ty == Some("object")
            || schema.get("properties").is_some()
            || schema.get("additionalProperties").is_some();
        match value {
            Value::Array(_) if is_list => match self.list_kind() {
                ListKind::Atomic => Node::Leaf,
                kind => Node::List(kind, self.items()),
            },
            Value::Object(_) if is_map && !self.is_atomic_map() => Node::Map(self),
            Value::Object(_) if ty.is_none() && !is_list => Node::Map(self.deduced()),
            _ => Node::Leaf,
        }
    }

    /// The walk for a pair of values: both must agree, or the pair is compared as leaves.
    fn node_for_pair(self, lhs: Option<&Value>, rhs: Option<&Value>) -> Node<'a> {
        match (lhs, rhs) {
            (Some(l), Some(r)) => {
                let (nl, nr) = (self.node_for(l), self.node_for(r));
                match (&nl, &nr) {
                    (Node::Map(_), Node::Map(_)) => nr,
                    (Node::List(a, _), Node::List(b, _)) if a == b => nr,
                    _ => Node::Leaf,
                }
            }
            (Some(v), None) | (None, Some(v)) => self.node_for(v),
            (None, None) => Node::Leaf,
        }
    }

    /// The type of what `element` addresses below a value of this type.
    fn child(self, element: &PathElement) -> (Self, bool) {
        match element {
            PathElement::Field(name) => self.field(name),
            _ => (self.items(), false),
        }
    }

    /// A default of key field `name` in this (item) type, as upstream uses `protocol: TCP`.
    fn key_default(self, name: &str) -> Option<Value> {
        let (field, _) = self.field(name);
        if let Some(default) = field.resolved().and_then(|n| n.get("default")) {
            return Some(default.clone());
        }
        // Our built-in definitions do not carry defaults; the one key field with one is the
        // protocol of container, service and endpoint ports.
        (name == "protocol").then(|| Value::String("TCP".into()))
    }
}

/// The path element of a list item.
fn item_element(kind: &ListKind, items: TypeRef, item: &Value) -> Result<PathElement, String> {
    match kind {
        ListKind::Map(keys) => {
            let Value::Object(map) = item else {
                return Err(if item.is_null() {
                    "associative list with keys may not have a null element".into()
                } else {
                    "associative list with keys may not have non-map elements".into()
                });
            };
            let mut fields = Vec::with_capacity(keys.len());
            for key in keys {
                let value = match map.get(*key) {
                    Some(v) => v.clone(),
                    None => items.key_default(key).ok_or_else(|| {
                        format!(
                            "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                        )
                    })?,
                };
                fields.push((key.to_string(), value));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        _ => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            scalar => Ok(PathElement::Value(scalar.clone())),
        },
    }
}

/// The items of a list by path element, first occurrence wins, in list order.
fn index_items<'v>(
    kind: &ListKind,
    items: TypeRef,
    list: &'v [Value],
    path: &Path,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_element(kind, items, item)
            .map_err(|e| format!("{}: element {i}: {e}", super::fieldpath::path_string(path)))?;
        if seen.insert(pe.clone()) {
            out.push((pe, item));
        }
    }
    Ok(out)
}

/// The fields `value` sets (upstream's `ToFieldSet`).
pub fn to_field_set(value: &Value, ty: TypeRef) -> Result<Set, String> {
    field_set_of(value, ty, &mut Vec::new(), false)
}

/// The fields an applied configuration sets; a field its type does not declare is an error,
/// as converting the configuration to a typed value is upstream.
pub fn to_field_set_strict(value: &Value, ty: TypeRef) -> Result<Set, String> {
    field_set_of(value, ty, &mut Vec::new(), true)
}

fn field_set_of(value: &Value, ty: TypeRef, path: &mut Path, strict: bool) -> Result<Set, String> {
    let mut set = Set::new();
    match ty.node_for(value) {
        Node::Leaf => {}
        Node::Map(ty) => {
            for (key, child) in value.as_object().into_iter().flatten() {
                let (child_ty, named) = ty.field(key);
                let pe = PathElement::Field(key.clone());
                path.push(pe.clone());
                if strict && !named && ty.is_closed() {
                    return Err(format!(
                        "{}: field not declared in schema",
                        super::fieldpath::path_string(path)
                    ));
                }
                let below = field_set_of(child, child_ty, path, strict)?;
                path.pop();
                let is_leaf = matches!(child_ty.node_for(child), Node::Leaf);
                let empty_map = child.as_object().is_some_and(Map::is_empty);
                if is_leaf || child.is_null() || empty_map || !named {
                    set.insert_member(pe.clone());
                }
                set.insert_child(pe, below);
            }
        }
        Node::List(kind, items) => {
            let list = value.as_array().map(Vec::as_slice).unwrap_or_default();
            for (pe, item) in index_items(&kind, items, list, path)? {
                path.push(pe.clone());
                let below = field_set_of(item, items, path, strict)?;
                path.pop();
                set.insert_member(pe.clone());
                set.insert_child(pe, below);
            }
        }
    }
    Ok(set)
}

/// What changed from `lhs` to `rhs` (upstream's `Comparison`).
#[derive(Default, Debug)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

pub fn compare(lhs: &Value, rhs: &Value, ty: TypeRef) -> Result<Comparison, String> {
    let mut c = Comparison::default();
    compare_at(Some(lhs), Some(rhs), ty, &mut Vec::new(), &mut c)?;
    Ok(c)
}

fn compare_at(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: TypeRef,
    path: &mut Path,
    c: &mut Comparison,
) -> Result<(), String> {
    match ty.node_for_pair(lhs, rhs) {
        Node::Leaf => {
            match (lhs, rhs) {
                (None, _) => c.added.insert(path),
                (_, None) => c.removed.insert(path),
                (Some(l), Some(r)) if l != r => c.modified.insert(path),
                _ => {}
            }
            return Ok(());
        }
        Node::Map(ty) => {
            let empty = Map::new();
            let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
            let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
            let keys = l.keys().chain(r.keys().filter(|k| !l.contains_key(*k)));
            for key in keys {
                path.push(PathElement::Field(key.clone()));
                compare_at(l.get(key), r.get(key), ty.field(key).0, path, c)?;
                path.pop();
            }
        }
        Node::List(kind, items) => {
            let l = lhs.and_then(Value::as_array).map(Vec::as_slice);
            let r = rhs.and_then(Value::as_array).map(Vec::as_slice);
            let l = index_items(&kind, items, l.unwrap_or_default(), path)?;
            let r = index_items(&kind, items, r.unwrap_or_default(), path)?;
            let l_by: BTreeMap<&PathElement, &Value> = l.iter().map(|(p, v)| (p, *v)).collect();
            let r_by: BTreeMap<&PathElement, &Value> = r.iter().map(|(p, v)| (p, *v)).collect();
            let elements = l
                .iter()
                .map(|(p, _)| p)
                .chain(r.iter().map(|(p, _)| p).filter(|p| !l_by.contains_key(p)));
            for pe in elements {
                path.push(pe.clone());
                compare_at(l_by.get(pe).copied(), r_by.get(pe).copied(), items, path, c)?;
                path.pop();
            }
        }
    }
    match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
    Ok(())
}

/// Merges the applied configuration `rhs` into `lhs` (upstream's `TypedValue.Merge`): leaves
/// of `rhs` win, maps merge by key, associative lists by item, keeping `lhs`'s items and
/// placing shared ones in `rhs`'s order.
pub fn merge(lhs: &Value, rhs: &Value, ty: TypeRef) -> Result<Value, String> {
    merge_at(Some(lhs), Some(rhs), ty, &mut Vec::new())
}

fn merge_at(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: TypeRef,
    path: &mut Path,
) -> Result<Value, String> {
    let (Some(l), Some(r)) = (lhs, rhs) else {
        return Ok(rhs.or(lhs).cloned().unwrap_or(Value::Null));
    };
    match ty.node_for_pair(lhs, rhs) {
        Node::Leaf => Ok(r.clone()),
        Node::Map(ty) => {
            let mut out = l.as_object().cloned().unwrap_or_default();
            for (key, rv) in r.as_object().into_iter().flatten() {
                path.push(PathElement::Field(key.clone()));
                let merged = merge_at(out.get(key), Some(rv), ty.field(key).0, path)?;
                path.pop();
                out.insert(key.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        Node::List(kind, items) => {
            let l = index_items(
                &kind,
                items,
                l.as_array().map(Vec::as_slice).unwrap_or_default(),
                path,
            )?;
            let r = index_items(
                &kind,
                items,
                r.as_array().map(Vec::as_slice).unwrap_or_default(),
                path,
            )?;
            merge_lists(&l, &r, items, path).map(Value::Array)
        }
    }
}

/// Upstream's list merge order: items only in `lhs` stay where they are, items of `rhs` come
/// in `rhs`'s order, and an item in both is placed where `rhs` puts it.
fn merge_lists(
    lhs: &[(PathElement, &Value)],
    rhs: &[(PathElement, &Value)],
    items: TypeRef,
    path: &mut Path,
) -> Result<Vec<Value>, String> {
    let l_by: BTreeMap<&PathElement, &Value> = lhs.iter().map(|(p, v)| (p, *v)).collect();
    let r_by: BTreeMap<&PathElement, &Value> = rhs.iter().map(|(p, v)| (p, *v)).collect();
    let mut shared = rhs.iter().map(|(p, _)| p).filter(|p| l_by.contains_key(p));
    let mut next_shared = shared.next();
    let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let mut merge_item = |pe: &PathElement| {
        path.push(pe.clone());
        let merged = merge_at(l_by.get(pe).copied(), r_by.get(pe).copied(), items, path);
        path.pop();
        merged
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                merged_rhs.insert(pe);
                out.push(merge_item(pe)?);
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if r_by.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                // A shared item, but not the one due now: it comes when `rhs` reaches it.
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if !r_by.contains_key(pe) {
                out.push(lhs[li].1.clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri].0;
            merged_rhs.insert(pe);
            out.push(merge_item(pe)?);
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    Ok(out)
}

/// `value` without the fields in `set` (upstream's `RemoveItems`). A map or list emptied by
/// the removal disappears from its parent.
pub fn remove_items(value: &Value, set: &Set, ty: TypeRef) -> Value {
    remove_at(value, set, ty).unwrap_or_else(|| Value::Object(Map::new()))
}

fn remove_at(value: &Value, set: &Set, ty: TypeRef) -> Option<Value> {
    match ty.node_for(value) {
        Node::Leaf => Some(value.clone()),
        Node::Map(ty) => {
            let map = value.as_object()?;
            let mut out = Map::new();
            for (key, child) in map {
                let pe = PathElement::Field(key.clone());
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(below) => {
                        if let Some(kept) = remove_at(child, below, ty.field(key).0) {
                            out.insert(key.clone(), kept);
                        }
                    }
                    None => {
                        out.insert(key.clone(), child.clone());
                    }
                }
            }
            (map.is_empty() || !out.is_empty()).then_some(Value::Object(out))
        }
        Node::List(kind, items) => {
            let list = value.as_array()?;
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let Ok(pe) = item_element(&kind, items, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(below) => out.push(
                        remove_at(item, below, items).unwrap_or_else(|| Value::Object(Map::new())),
                    ),
                    None => out.push(item.clone()),
                }
            }
            (list.is_empty() || !out.is_empty()).then_some(Value::Array(out))
        }
    }
}

/// `set` with every declared field that has paths below it also a member (upstream's
/// `EnsureNamedFieldsAreMembers`), so removing the set removes such fields entirely.
pub fn ensure_named_fields_are_members(set: &Set, ty: TypeRef) -> Set {
    let mut out = Set::new();
    for member in set.members() {
        out.insert_member(member.clone());
    }
    for (pe, below) in set.children() {
        let (child_ty, named) = ty.child(pe);
        if named {
            out.insert_member(pe.clone());
        }
        out.insert_child(pe.clone(), ensure_named_fields_are_members(below, child_ty));
    }
    out
}

impl<'a> TypeRef<'a> {
    /// Whether a map type declares all its fields: no additional properties, no unknown
    /// fields preserved.
    fn is_closed(self) -> bool {
        self.resolved().is_some_and(|n| {
            n.get("properties").is_some()
                && n.get("additionalProperties").is_none_or(|a| a == false)
                && n.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
        })
    }

    /// The declared fields of a map type.
    pub fn property_names(self) -> Vec<&'a str> {
        self.resolved()
            .and_then(|n| n.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}
