//! Table tests of the three patch engines as the PATCH handler drives them: JSON patch
//! (RFC 6902, with upstream's error wording), JSON merge patch (RFC 7386's examples) and
//! strategic merge patch on a built-in kind.

use http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};

use super::apply_patch;
use crate::openapi::OpenApi;
use crate::resources::ResourceTable;

fn patch(
    content_type: &str,
    definition: Option<&str>,
    doc: Value,
    patch: Value,
) -> Result<Value, (u16, String)> {
    let openapi = OpenApi::new(&ResourceTable::builtin());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    let body = serde_json::to_vec(&patch).unwrap();
    apply_patch(&openapi, definition, &headers, &body, &doc).map_err(|e| (e.code, e.message))
}

#[test]
fn json_patch_operations() {
    let doc = json!({"a": {"b": [1, 2]}, "c": "x", "d~/e": 1});
    let cases = [
        (
            json!([{"op": "add", "path": "/a/b/-", "value": 3}]),
            json!({"a": {"b": [1, 2, 3]}, "c": "x", "d~/e": 1}),
        ),
        (
            json!([{"op": "add", "path": "/a/b/0", "value": 0}]),
            json!({"a": {"b": [0, 1, 2]}, "c": "x", "d~/e": 1}),
        ),
        (
            json!([{"op": "remove", "path": "/c"}]),
            json!({"a": {"b": [1, 2]}, "d~/e": 1}),
        ),
        (
            json!([{"op": "replace", "path": "/d~0~1e", "value": 2}]),
            json!({"a": {"b": [1, 2]}, "c": "x", "d~/e": 2}),
        ),
        (
            json!([{"op": "move", "from": "/c", "path": "/a/c"}]),
            json!({"a": {"b": [1, 2], "c": "x"}, "d~/e": 1}),
        ),
        (
            json!([{"op": "copy", "from": "/a/b", "path": "/f"}]),
            json!({"a": {"b": [1, 2]}, "c": "x", "d~/e": 1, "f": [1, 2]}),
        ),
        (
            json!([{"op": "test", "path": "/c", "value": "x"}, {"op": "remove", "path": "/a"}]),
            json!({"c": "x", "d~/e": 1}),
        ),
    ];
    for (ops, want) in cases {
        assert_eq!(
            patch(
                "application/json-patch+json",
                None,
                doc.clone(),
                ops.clone()
            ),
            Ok(want),
            "{ops}"
        );
    }
}

#[test]
fn json_patch_failures_use_upstream_words_and_change_nothing() {
    let doc = json!({"spec": {"replicas": 1}});
    let cases = [
        (
            json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
            "testing value /spec/replicas failed: test failed",
        ),
        (
            json!([{"op": "replace", "path": "/spec/nope", "value": 2}]),
            "replace operation does not apply: doc is missing key: /spec/nope: missing value",
        ),
        (
            json!([{"op": "remove", "path": "/spec/nope"}]),
            "remove operation does not apply: doc is missing path: \"/spec/nope\": missing value",
        ),
        (
            json!([{"op": "add", "path": "/missing/x", "value": 1}]),
            "add operation does not apply: doc is missing path: \"/missing/x\": missing value",
        ),
    ];
    for (ops, message) in cases {
        assert_eq!(
            patch("application/json-patch+json", None, doc.clone(), ops),
            Err((422, message.to_string()))
        );
    }
}

/// RFC 7386, appendix A.
#[test]
fn json_merge_patch_rfc_examples() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (doc, merge, want) in cases {
        assert_eq!(
            patch("application/merge-patch+json", None, doc, merge.clone()),
            Ok(want),
            "{merge}"
        );
    }
}

#[test]
fn strategic_merge_patch_on_a_pod_and_its_absence_for_custom_resources() {
    let pod = json!({"spec": {"containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "y"}
    ]}});
    let cases = [
        // Merged by name; ports by containerPort.
        (
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 81}]}]}}),
            json!({"spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 81}, {"containerPort": 80}]},
            {"name": "b", "image": "y"}]}}),
        ),
        // Delete one item by its key.
        (
            json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
            json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}}),
        ),
        // Fix the order of the merged list.
        (
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
            json!({"spec": {"containers": [
            {"name": "b", "image": "y"},
            {"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}}),
        ),
    ];
    for (smp, want) in cases {
        let got = patch(
            "application/strategic-merge-patch+json",
            Some("io.k8s.api.core.v1.Pod"),
            pod.clone(),
            smp.clone(),
        );
        assert_eq!(got, Ok(want), "{smp}");
    }
    let (code, message) = patch(
        "application/strategic-merge-patch+json",
        None,
        json!({}),
        json!({}),
    )
    .unwrap_err();
    assert_eq!(code, 415);
    assert!(message.ends_with("application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"), "{message}");
}
