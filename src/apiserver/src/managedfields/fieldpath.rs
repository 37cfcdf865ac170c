//! Field paths and sets of them: what a manager owns, in the `FieldsV1` format upstream's
//! structured-merge-diff writes into `metadata.managedFields`.
//!
//! A path is a list of elements: a field of a map (`f:name`), an item of an associative list
//! by its key fields (`k:{"name":"nginx"}`), an item of a set by its value (`v:"a"`), or an
//! index (`i:0`, never produced here). A [`Set`] is a tree: the paths it holds as members, and
//! per element the set of paths below it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElement {
    Field(String),
    /// An associative list item: its key fields, sorted by name.
    Key(Vec<(String, Value)>),
    /// A set item: its (scalar) value.
    Value(Value),
    Index(usize),
}

pub type Path = Vec<PathElement>;

impl PathElement {
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key: `f:name`, `k:{...}`, `v:...`, `i:N`.
    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let map: Map<String, Value> = fields.iter().cloned().collect();
                format!("k:{}", Value::Object(map))
            }
            PathElement::Value(value) => format!("v:{value}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(key: &str) -> Result<Self, String> {
        let invalid = || format!("invalid path element: {key:?}");
        let (kind, rest) = key.split_once(':').ok_or_else(invalid)?;
        Ok(match kind {
            "f" => PathElement::Field(rest.to_string()),
            "k" => match serde_json::from_str::<Value>(rest).map_err(|_| invalid())? {
                Value::Object(map) => PathElement::Key(map.into_iter().collect()),
                _ => return Err(invalid()),
            },
            "v" => PathElement::Value(serde_json::from_str(rest).map_err(|_| invalid())?),
            "i" => PathElement::Index(rest.parse().map_err(|_| invalid())?),
            _ => return Err(invalid()),
        })
    }
}

/// Upstream's path notation in conflict messages: `.spec.containers[name="nginx"].image`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Values as structured-merge-diff prints them: strings quoted, everything else as JSON.
fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                    let o = ka.cmp(kb).then_with(|| compare_values(va, vb));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// structured-merge-diff's total order of values: numbers, strings, booleans, lists, maps, null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (a, b) in x.iter().zip(y) {
                let o = compare_values(a, b);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|a, b| a.0.cmp(b.0));
            ys.sort_by(|a, b| a.0.cmp(b.0));
            for ((ka, va), (kb, vb)) in xs.iter().zip(&ys) {
                let o = ka.cmp(kb).then_with(|| compare_values(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A set of field paths, as a tree. Empty children are never kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Self {
        Set::default()
    }

    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> Self {
        let mut set = Set::new();
        for path in paths {
            set.insert(path);
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element` (relative to it).
    pub fn child(&self, element: &PathElement) -> Option<&Set> {
        self.children.get(element)
    }

    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &Set)> {
        self.children.iter()
    }

    /// Adds `element` as a member of this level (used when building sets walk by walk).
    pub fn insert_member(&mut self, element: PathElement) {
        self.members.insert(element);
    }

    /// Adds `child` below `element`.
    pub fn insert_child(&mut self, element: PathElement, child: Set) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(&element) {
            Some(existing) => *existing = existing.union(&child),
            None => {
                self.children.insert(element, child);
            }
        }
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            out.insert_child(pe.clone(), child.clone());
        }
        out
    }

    /// The paths of `self` not in `other` (exact paths: a member of `other` does not remove
    /// the paths below it).
    pub fn difference(&self, other: &Set) -> Set {
        self.difference_with(other, false)
    }

    /// The paths of `self` that neither are in `other` nor lie below one of its members.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        self.difference_with(other, true)
    }

    fn difference_with(&self, other: &Set, recursive: bool) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if recursive && other.members.contains(pe) {
                continue;
            }
            let rest = match other.children.get(pe) {
                Some(o) => child.difference_with(o, recursive),
                None => child.clone(),
            };
            out.insert_child(pe.clone(), rest);
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                out.insert_child(pe.clone(), child.intersection(o));
            }
        }
        out
    }

    /// Every member path, depth first in element order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON object.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        // Members and children in element order; an element that is both is written once,
        // its object marked with `.`.
        let mut elements: BTreeSet<&PathElement> = self.members.iter().collect();
        elements.extend(self.children.keys());
        for pe in elements {
            let value = match self.children.get(pe) {
                Some(child) => child.emit(self.members.contains(pe)),
                None => Map::new(),
            };
            out.insert(pe.encode(), Value::Object(value));
        }
        out
    }

    pub fn from_fields_v1(value: &Value) -> Result<Set, String> {
        let Value::Object(map) = value else {
            return Err("FieldsV1 must be a JSON object".into());
        };
        let mut set = Set::new();
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::decode(key)?;
            let Value::Object(child_map) = child else {
                return Err(format!("the value of {key:?} must be a JSON object"));
            };
            if child_map.is_empty() || child_map.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child_set = Set::from_fields_v1(child)?;
            set.insert_child(pe, child_set);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn fields_v1_round_trips_in_upstream_order() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
                },
                "f:replicas": {}
            }
        });
        let set = Set::from_fields_v1(&encoded).unwrap();
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(set.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.has(&[f("metadata")]));
        let key = PathElement::Key(vec![("name".into(), json!("nginx"))]);
        assert!(set.has(&[f("spec"), f("containers"), key.clone(), f("image")]));
        assert!(set.has(&[f("spec"), f("containers"), key]));
        assert_eq!(
            serde_json::to_string(&set.to_fields_v1()).unwrap(),
            serde_json::to_string(&encoded).unwrap()
        );
    }

    #[test]
    fn set_operations() {
        let a = Set::from_paths([&[f("a")][..], &[f("b"), f("c")][..], &[f("b"), f("d")][..]]);
        let b = Set::from_paths([&[f("b")][..], &[f("b"), f("c")][..]]);
        assert_eq!(
            a.difference(&b),
            Set::from_paths([&[f("a")][..], &[f("b"), f("d")][..]])
        );
        assert_eq!(a.recursive_difference(&b), Set::from_paths([&[f("a")][..]]));
        assert_eq!(a.intersection(&b), Set::from_paths([&[f("b"), f("c")][..]]));
        assert_eq!(a.union(&b).paths().len(), 4);
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn paths_print_like_upstream() {
        let path = vec![
            f("spec"),
            f("containers"),
            PathElement::Key(vec![("name".into(), json!("nginx"))]),
            f("image"),
        ];
        assert_eq!(path_string(&path), ".spec.containers[name=\"nginx\"].image");
        let ports = vec![
            f("ports"),
            PathElement::Key(vec![
                ("containerPort".into(), json!(80)),
                ("protocol".into(), json!("TCP")),
            ]),
        ];
        assert_eq!(
            path_string(&ports),
            ".ports[containerPort=80,protocol=\"TCP\"]"
        );
        assert_eq!(
            path_string(&[f("finalizers"), PathElement::Value(json!("a"))]),
            ".finalizers[=\"a\"]"
        );
    }

    #[test]
    fn malformed_fields_v1_is_an_error() {
        assert!(Set::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(Set::from_fields_v1(&json!({"f:y": 1})).is_err());
        assert!(Set::from_fields_v1(&json!([])).is_err());
    }
}
