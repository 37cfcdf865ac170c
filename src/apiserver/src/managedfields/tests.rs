//! Table tests of field ownership, after the cases structured-merge-diff's own tests are
//! known for: set and map lists, atomic lists and maps, nested granular maps, shared
//! ownership, removal of applied fields, conflicts and forcing.

use serde_json::{Map, Value, json};

use super::*;

fn defs() -> Map<String, Value> {
    let defs = json!({
        "Obj": {"type": "object", "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/Meta"},
            "spec": {"$ref": "#/definitions/Spec"},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }},
        "Meta": {"type": "object", "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "managedFields": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "atomic"}
        }},
        "Spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "containers": {
                "type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"$ref": "#/definitions/Container"}
            },
            "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "selector": {"$ref": "#/definitions/Selector"},
            "config": {"type": "object", "properties": {
                "nested": {"type": "object", "properties": {
                    "a": {"type": "string"}, "b": {"type": "string"}
                }}
            }},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }},
        "Selector": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
        }},
        "Container": {"type": "object", "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "ports": {
                "type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "items": {"type": "object", "properties": {
                    "containerPort": {"type": "integer"}, "protocol": {"type": "string"}
                }}
            }
        }}
    });
    match defs {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A live object and the field manager every step goes through.
struct Fixture {
    defs: Map<String, Value>,
    root: Value,
    live: Option<Value>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            defs: defs(),
            root: json!({"$ref": "#/definitions/Obj"}),
            live: None,
        }
    }

    fn manager(&self) -> FieldManager<'_> {
        FieldManager::new(
            TypeRef::new(&self.defs, &self.root),
            "test.io/v1",
            "Obj",
            "",
            &["apiVersion", "kind", "metadata", "spec", "status"],
            true,
        )
    }

    fn apply(&mut self, manager: &str, spec: Value, force: bool) -> Result<(), ApiError> {
        let config = json!({"apiVersion": "test.io/v1", "kind": "Obj", "metadata": {"name": "o"}, "spec": spec});
        let out = self
            .manager()
            .apply(self.live.as_ref(), &config, manager, force)?;
        self.live = Some(out);
        Ok(())
    }

    fn update(&mut self, manager: &str, change: impl FnOnce(&mut Value)) {
        let mut new = self.live.clone().unwrap_or_else(
            || json!({"apiVersion": "test.io/v1", "kind": "Obj", "metadata": {"name": "o"}}),
        );
        change(&mut new);
        self.manager().update(self.live.as_ref(), &mut new, manager);
        self.live = Some(new);
    }

    fn spec(&self) -> &Value {
        &self.live.as_ref().unwrap()["spec"]
    }

    /// `manager/operation` of every entry, in order.
    fn managers(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["manager"].as_str().unwrap(),
                    e["operation"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn entries(&self) -> Vec<Value> {
        self.live
            .as_ref()
            .and_then(|l| l.pointer("/metadata/managedFields"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn fields_of(&self, manager: &str) -> Value {
        self.entries()
            .into_iter()
            .find(|e| e["manager"] == manager)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }
}

#[test]
fn apply_creates_and_a_field_no_longer_applied_is_removed() {
    let mut f = Fixture::new();
    f.apply("a", json!({"replicas": 1, "args": ["x"]}), false)
        .unwrap();
    assert_eq!(f.managers(), ["a/Apply"]);
    assert_eq!(
        f.fields_of("a"),
        json!({"f:spec": {"f:args": {}, "f:replicas": {}}})
    );
    f.apply("a", json!({"replicas": 2}), false).unwrap();
    assert_eq!(f.spec(), &json!({"replicas": 2}));
    assert_eq!(f.fields_of("a"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn set_lists_are_owned_item_by_item() {
    let mut f = Fixture::new();
    f.apply("a", json!({"finalizers": ["x", "y"]}), false)
        .unwrap();
    f.apply("b", json!({"finalizers": ["z", "y"]}), false)
        .unwrap();
    assert_eq!(f.spec()["finalizers"], json!(["x", "z", "y"]));
    // `a` drops both its items: `y` stays because `b` applies it too.
    f.apply("a", json!({}), false).unwrap();
    assert_eq!(f.spec()["finalizers"], json!(["z", "y"]));
    assert_eq!(
        f.fields_of("b"),
        json!({"f:spec": {"f:finalizers": {"v:\"y\"": {}, "v:\"z\"": {}}}})
    );
}

#[test]
fn map_lists_merge_by_key_and_each_manager_owns_its_fields() {
    let mut f = Fixture::new();
    f.apply(
        "a",
        json!({"containers": [{"name": "web", "image": "nginx"}]}),
        false,
    )
    .unwrap();
    f.apply(
        "b",
        json!({"containers": [{"name": "sidecar", "image": "envoy"}, {"name": "web", "ports": [{"containerPort": 80}]}]}),
        false,
    )
    .unwrap();
    assert_eq!(
        f.spec()["containers"],
        json!([
            {"name": "sidecar", "image": "envoy"},
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}
        ])
    );
    assert_eq!(
        f.fields_of("b")["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"],
        json!({".": {}, "f:name": {}, "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}})
    );
    // Changing another manager's field in a shared item conflicts.
    let err = f
        .apply(
            "b",
            json!({"containers": [{"name": "web", "image": "httpd"}]}),
            false,
        )
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.containers[name=\"web\"].image"
    );
    assert_eq!(
        err.details.as_ref().unwrap().causes[0].field,
        ".spec.containers[name=\"web\"].image"
    );
}

#[test]
fn atomic_lists_and_maps_are_owned_whole_and_forcing_takes_them() {
    let mut f = Fixture::new();
    f.apply(
        "a",
        json!({"args": ["1", "2"], "selector": {"matchLabels": {"x": "1"}}}),
        false,
    )
    .unwrap();
    assert_eq!(
        f.fields_of("a"),
        json!({"f:spec": {"f:args": {}, "f:selector": {}}})
    );
    let err = f
        .apply(
            "b",
            json!({"args": ["3"], "selector": {"matchLabels": {"y": "1"}}}),
            false,
        )
        .unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.args\n- .spec.selector"
    );
    f.apply(
        "b",
        json!({"args": ["3"], "selector": {"matchLabels": {"y": "1"}}}),
        true,
    )
    .unwrap();
    // Atomic values are replaced, not merged.
    assert_eq!(f.spec()["args"], json!(["3"]));
    assert_eq!(f.spec()["selector"], json!({"matchLabels": {"y": "1"}}));
    assert_eq!(f.managers(), ["b/Apply"]);
}

#[test]
fn nested_granular_maps_let_managers_share_a_struct() {
    let mut f = Fixture::new();
    f.apply("a", json!({"config": {"nested": {"a": "1"}}}), false)
        .unwrap();
    f.apply("b", json!({"config": {"nested": {"b": "2"}}}), false)
        .unwrap();
    assert_eq!(f.spec()["config"], json!({"nested": {"a": "1", "b": "2"}}));
    f.apply("a", json!({}), false).unwrap();
    assert_eq!(f.spec()["config"], json!({"nested": {"b": "2"}}));
}

#[test]
fn a_field_applied_by_two_managers_stays_until_both_stop() {
    let mut f = Fixture::new();
    f.apply("a", json!({"replicas": 3}), false).unwrap();
    // Same value: shared ownership, no conflict.
    f.apply("b", json!({"replicas": 3}), false).unwrap();
    f.apply("a", json!({}), false).unwrap();
    assert_eq!(f.spec()["replicas"], 3);
    f.apply("b", json!({}), false).unwrap();
    assert_eq!(f.spec().get("replicas"), None);
}

#[test]
fn updates_take_fields_and_appliers_then_conflict_with_the_updater() {
    let mut f = Fixture::new();
    f.apply("applier", json!({"replicas": 1, "args": ["a"]}), false)
        .unwrap();
    f.update("kubectl-scale", |o| o["spec"]["replicas"] = json!(5));
    assert_eq!(f.managers(), ["applier/Apply", "kubectl-scale/Update"]);
    assert_eq!(f.fields_of("applier"), json!({"f:spec": {"f:args": {}}}));
    assert_eq!(
        f.fields_of("kubectl-scale"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(f.entries()[1]["apiVersion"], "test.io/v1");
    let err = f.apply("applier", json!({"replicas": 2, "args": ["a"]}), false);
    assert_eq!(
        err.unwrap_err().message,
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using test.io/v1: .spec.replicas"
    );
    // Reapplying without the field leaves the updater's value alone.
    f.apply("applier", json!({"args": ["a"]}), false).unwrap();
    assert_eq!(f.spec()["replicas"], 5);
}

#[test]
fn update_records_added_maps_as_members_and_removed_fields_leave_every_manager() {
    let mut f = Fixture::new();
    f.update("creator", |o| {
        o["metadata"]["labels"] = json!({"app": "x"});
        o["spec"] = json!({"replicas": 1});
    });
    assert_eq!(
        f.fields_of("creator"),
        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}})
    );
    f.update("editor", |o| {
        o["spec"].as_object_mut().unwrap().remove("replicas");
    });
    assert_eq!(
        f.fields_of("creator"),
        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
    );
    // The editor changed nothing it could own: no entry.
    assert_eq!(f.managers(), ["creator/Update"]);
    // Status is the status subresource's: the main resource's managers never own it.
    f.update("creator", |o| o["status"] = json!({"phase": "Up"}));
    assert_eq!(f.fields_of("creator").get("f:status"), None);
}

#[test]
fn managed_fields_are_reset_by_an_empty_entry_and_kept_when_omitted() {
    let mut f = Fixture::new();
    f.update("creator", |o| o["spec"] = json!({"replicas": 1}));
    // A client that drops managedFields does not erase them.
    f.update("other", |o| {
        o["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
    });
    assert_eq!(f.managers(), ["creator/Update"]);
    f.update("other", |o| o["metadata"]["managedFields"] = json!([{}]));
    assert_eq!(f.managers(), Vec::<String>::new());
}

#[test]
fn undeclared_fields_and_missing_keys_are_rejected_on_apply() {
    let mut f = Fixture::new();
    let err = f.apply("a", json!({"bogus": 1}), false).unwrap_err();
    assert_eq!(err.code, 500);
    assert!(
        err.message
            .ends_with(".spec.bogus: field not declared in schema"),
        "{}",
        err.message
    );
    let err = f
        .apply("a", json!({"containers": [{"image": "x"}]}), false)
        .unwrap_err();
    assert!(
        err.message.contains(
            ".spec.containers: element 0: associative list with keys has an element that omits key field \"name\""
        ),
        "{}",
        err.message
    );
    // Preserved unknown fields are deduced: maps granular, lists atomic.
    f.apply("a", json!({"extra": {"x": {"y": 1}, "l": [1]}}), false)
        .unwrap();
    assert_eq!(
        f.fields_of("a"),
        json!({"f:spec": {"f:extra": {"f:l": {}, "f:x": {".": {}, "f:y": {}}}}})
    );
}

#[test]
fn wrong_kind_and_managed_fields_in_the_configuration_are_bad_requests() {
    let f = Fixture::new();
    let fm = f.manager();
    let err = fm
        .apply(
            None,
            &json!({"apiVersion": "v1", "kind": "Obj"}),
            "a",
            false,
        )
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "invalid object type: /v1, Kind=Obj")
    );
    let config =
        json!({"apiVersion": "test.io/v1", "kind": "Obj", "metadata": {"managedFields": []}});
    let err = fm.apply(None, &config, "a", false).unwrap_err();
    assert_eq!(err.message, "metadata.managedFields must be nil");
}

#[test]
fn a_no_op_apply_keeps_the_object_and_its_times() {
    let mut f = Fixture::new();
    f.apply("a", json!({"replicas": 1}), false).unwrap();
    let before = f.live.clone();
    f.apply("a", json!({"replicas": 1}), false).unwrap();
    assert_eq!(f.live, before);
}

#[test]
fn update_managers_beyond_ten_merge_into_ancient_changes() {
    let mut f = Fixture::new();
    for i in 0..12 {
        f.update(&format!("m{i:02}"), |o| {
            objects::meta_mut(o)
                .entry("labels")
                .or_insert_with(|| json!({}))[format!("l{i}")] = json!("x");
        });
        // Distinct timestamps order the managers; the helper's clock has one-second steps.
        if let Some(entries) = f
            .live
            .as_mut()
            .unwrap()
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
        {
            for entry in entries.iter_mut() {
                if entry["manager"] == format!("m{i:02}") {
                    entry["time"] = json!(format!("2026-01-01T00:00:{i:02}Z"));
                }
            }
        }
    }
    let managers = f.managers();
    assert_eq!(managers.len(), 10, "{managers:?}");
    assert!(
        managers.contains(&"ancient-changes/Update".to_string()),
        "{managers:?}"
    );
}

#[test]
fn field_managers_are_named_after_the_user_agent_and_validated() {
    assert_eq!(
        manager_or_user_agent(None, "kubectl/v1.33.0 (linux/amd64) kubernetes/abc"),
        "kubectl"
    );
    assert_eq!(manager_or_user_agent(Some("mine"), "kubectl/v1"), "mine");
    assert_eq!(manager_or_user_agent(None, &"x".repeat(200)).len(), 128);
    assert_eq!(
        validate_field_manager(None, true)[0].message,
        "Required value: is required for apply patch"
    );
    assert!(validate_field_manager(Some("ok"), true).is_empty());
    assert_eq!(
        validate_field_manager(Some(&"x".repeat(129)), false)[0].message,
        "Too long: may not be more than 128 bytes"
    );
}
