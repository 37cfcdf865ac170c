//! Classifies an HTTP request as a resource or non-resource request and
//! extracts its Kubernetes verb, group, version, namespace, resource,
//! subresource and name (upstream's RequestInfoFactory.NewRequestInfo).

use crate::fields::FieldSelector;
use crate::labels::LabelSelector;
use crate::validation::is_valid_path_segment_name;

/// What a request addresses, as upstream's request.RequestInfo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub is_resource_request: bool,
    pub path: String,
    /// The Kubernetes verb for resource requests (`list`, `watch`, ...);
    /// the lowercase HTTP method otherwise.
    pub verb: String,
    pub api_prefix: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// Path parts starting at `{resource}/{name}`.
    pub parts: Vec<String>,
}

/// URL prefixes that lead to API resources.
const API_PREFIXES: [&str; 2] = ["api", "apis"];
/// The prefix whose paths carry no group segment.
const GROUPLESS_API_PREFIX: &str = "api";
/// Verbs that can appear as a path segment before the resource.
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of a namespace itself, as opposed to resources inside it.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Parses a request. `query` is the raw query string without the `?`.
/// A malformed special-verb path (e.g. `/api/v1/watch`) yields the partial info
/// upstream computes before failing; use [`try_parse_request_info`] to see the error.
pub fn parse_request_info(method: &str, path: &str, query: &str) -> RequestInfo {
    parse(method, path, query).0
}

/// Like [`parse_request_info`], but returns upstream's error for a special verb
/// with nothing after it (upstream answers such requests with an internal error).
pub fn try_parse_request_info(
    method: &str,
    path: &str,
    query: &str,
) -> Result<RequestInfo, String> {
    match parse(method, path, query) {
        (info, None) => Ok(info),
        (_, Some(err)) => Err(err),
    }
}

/// The request info, plus the error upstream would report alongside it.
fn parse(method: &str, path: &str, query: &str) -> (RequestInfo, Option<String>) {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_lowercase(),
        ..RequestInfo::default()
    };

    let mut parts = split_path(path);
    if parts.len() < 3 || !API_PREFIXES.contains(&parts[0].as_str()) {
        return (info, None);
    }
    info.api_prefix = parts.remove(0);

    if info.api_prefix != GROUPLESS_API_PREFIX {
        // The prefix is already consumed, so this asks for four parts in total.
        if parts.len() < 3 {
            return (info, None);
        }
        info.api_group = parts.remove(0);
    }

    info.is_resource_request = true;
    info.api_version = parts.remove(0);

    if SPECIAL_VERBS.contains(&parts[0].as_str()) {
        if parts.len() < 2 {
            let url = if query.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{query}")
            };
            let err = format!("unable to determine kind and namespace from url, {url}");
            return (info, Some(err));
        }
        info.verb = parts.remove(0);
    } else {
        info.verb = verb_for_method(method).to_string();
    }

    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].clone();
        // `/namespaces/{ns}/{resource}` is a namespaced resource, but
        // `/namespaces/{ns}/status` is a subresource of the namespace.
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2].as_str()) {
            parts.drain(..2);
        }
    }
    info.parts = parts;

    assign_resource_name_subresource(&mut info);

    if info.name.is_empty() && info.verb == "get" {
        resolve_collection_get(&mut info, query);
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_string();
    }
    (info, None)
}

fn verb_for_method(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// Parts read as `resource/name/subresource/...`; proxy never has a subresource.
fn assign_resource_name_subresource(info: &mut RequestInfo) {
    let parts = &info.parts;
    if parts.len() >= 3 && info.verb != "proxy" {
        info.subresource = parts[2].clone();
    }
    if parts.len() >= 2 {
        info.name = parts[1].clone();
    }
    if let Some(resource) = parts.first() {
        info.resource = resource.clone();
    }
}

/// A GET without a name is a list or a watch; a `metadata.name=` field
/// selector names the single object it is about.
fn resolve_collection_get(info: &mut RequestInfo, query: &str) {
    let params = parse_query(query);
    let first = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let watch = first("watch").is_some_and(go_query_bool);
    info.verb = if watch { "watch" } else { "list" }.to_string();

    // Upstream decodes all list options at once; if any of them is malformed,
    // only the watch flag survives and the name is not taken from the selector.
    if !list_options_decode(&first) {
        return;
    }
    let Some(Ok(selector)) = first("fieldSelector").map(FieldSelector::parse) else {
        return;
    };
    if let Some(name) = selector.exact_match("metadata.name")
        && is_valid_path_segment_name(name).is_empty()
    {
        info.name = name.to_string();
    }
}

/// Whether the query parameters of metav1.ListOptions that can fail to decode are all valid.
fn list_options_decode<'a>(first: &impl Fn(&str) -> Option<&'a str>) -> bool {
    let label_ok = first("labelSelector").is_none_or(|s| LabelSelector::parse(s).is_ok());
    let field_ok = first("fieldSelector").is_none_or(|s| FieldSelector::parse(s).is_ok());
    let ints_ok = ["timeoutSeconds", "limit"]
        .iter()
        .all(|key| first(key).is_none_or(|v| v.parse::<i64>().is_ok()));
    label_ok && field_ok && ints_ok
}

/// Upstream's query-parameter booleans: only "0" and "false" (any case) are false.
fn go_query_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// Splits a URL path into segments, ignoring leading and trailing slashes.
fn split_path(path: &str) -> Vec<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(str::to_string).collect()
}

/// Decodes a query string like Go's url.ParseQuery, keeping the order of
/// pairs and silently skipping malformed ones (as `URL.Query()` does).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(k)?, query_unescape(v)?))
        })
        .collect()
}

/// Percent-decoding with `+` as space; `None` on a bad escape.
fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (verb, api_prefix, group, version, namespace, resource, subresource, name)
    fn summary(info: &RequestInfo) -> [&str; 8] {
        [
            &info.verb,
            &info.api_prefix,
            &info.api_group,
            &info.api_version,
            &info.namespace,
            &info.resource,
            &info.subresource,
            &info.name,
        ]
    }

    fn resource(method: &str, path: &str, query: &str) -> [String; 8] {
        let info = parse_request_info(method, path, query);
        assert!(info.is_resource_request, "{path}");
        summary(&info).map(str::to_string)
    }

    #[test]
    fn resource_paths_resolve_like_upstream() {
        let cases: &[(&str, &str, &str, [&str; 8])] = &[
            (
                "GET",
                "/api/v1/namespaces",
                "",
                ["list", "api", "", "v1", "", "namespaces", "", ""],
            ),
            (
                "GET",
                "/api/v1/namespaces/other",
                "",
                ["get", "api", "", "v1", "other", "namespaces", "", "other"],
            ),
            (
                "GET",
                "/api/v1/namespaces/other/pods",
                "",
                ["list", "api", "", "v1", "other", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/namespaces/other/pods/foo",
                "",
                ["get", "api", "", "v1", "other", "pods", "", "foo"],
            ),
            (
                "HEAD",
                "/api/v1/namespaces/other/pods/foo",
                "",
                ["get", "api", "", "v1", "other", "pods", "", "foo"],
            ),
            (
                "GET",
                "/api/v1/pods",
                "",
                ["list", "api", "", "v1", "", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/namespaces/other/pods/foo/log",
                "",
                ["get", "api", "", "v1", "other", "pods", "log", "foo"],
            ),
            (
                "PUT",
                "/api/v1/namespaces/other/finalize",
                "",
                [
                    "update",
                    "api",
                    "",
                    "v1",
                    "other",
                    "namespaces",
                    "finalize",
                    "other",
                ],
            ),
            (
                "PUT",
                "/api/v1/namespaces/other/status",
                "",
                [
                    "update",
                    "api",
                    "",
                    "v1",
                    "other",
                    "namespaces",
                    "status",
                    "other",
                ],
            ),
            (
                "GET",
                "/apis/apps/v1/namespaces/ns/deployments/d/scale",
                "",
                [
                    "get",
                    "apis",
                    "apps",
                    "v1",
                    "ns",
                    "deployments",
                    "scale",
                    "d",
                ],
            ),
            (
                "GET",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                "",
                [
                    "list",
                    "apis",
                    "rbac.authorization.k8s.io",
                    "v1",
                    "",
                    "clusterroles",
                    "",
                    "",
                ],
            ),
            (
                "POST",
                "/api/v1/namespaces/other/pods",
                "",
                ["create", "api", "", "v1", "other", "pods", "", ""],
            ),
            (
                "PATCH",
                "/api/v1/namespaces/other/pods/foo",
                "",
                ["patch", "api", "", "v1", "other", "pods", "", "foo"],
            ),
            (
                "DELETE",
                "/api/v1/namespaces/other/pods/foo",
                "",
                ["delete", "api", "", "v1", "other", "pods", "", "foo"],
            ),
            (
                "DELETE",
                "/api/v1/namespaces/other/pods",
                "",
                ["deletecollection", "api", "", "v1", "other", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/watch/pods",
                "",
                ["watch", "api", "", "v1", "", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/other/pods",
                "",
                ["watch", "api", "", "v1", "other", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/proxy/namespaces/other/pods/foo/a/b",
                "",
                ["proxy", "api", "", "v1", "other", "pods", "", "foo"],
            ),
            (
                "OPTIONS",
                "/api/v1/pods",
                "",
                ["", "api", "", "v1", "", "pods", "", ""],
            ),
            (
                "GET",
                "/api/v1/pods/",
                "",
                ["list", "api", "", "v1", "", "pods", "", ""],
            ),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(
                resource(method, path, query),
                want.map(str::to_string),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn parts_start_at_the_resource() {
        let info = parse_request_info("GET", "/api/v1/namespaces/ns/pods/foo/log", "");
        assert_eq!(info.parts, vec!["pods", "foo", "log"]);
    }

    #[test]
    fn watch_query_turns_a_list_into_a_watch() {
        for q in [
            "watch=true",
            "watch=1",
            "watch=",
            "watch=yes",
            "a=b&watch=TRUE",
        ] {
            assert_eq!(
                parse_request_info("GET", "/api/v1/pods", q).verb,
                "watch",
                "{q}"
            );
        }
        for q in ["watch=false", "watch=0", "watch=False", ""] {
            assert_eq!(
                parse_request_info("GET", "/api/v1/pods", q).verb,
                "list",
                "{q}"
            );
        }
    }

    #[test]
    fn metadata_name_field_selector_names_the_listed_object() {
        let info = parse_request_info(
            "GET",
            "/api/v1/namespaces/ns/pods",
            "fieldSelector=metadata.name%3Dfoo&watch=1",
        );
        assert_eq!((info.verb.as_str(), info.name.as_str()), ("watch", "foo"));
        let info = parse_request_info(
            "GET",
            "/api/v1/pods",
            "fieldSelector=metadata.name=foo,spec.nodeName=n",
        );
        assert_eq!(info.name, "foo");
    }

    #[test]
    fn unusable_field_selector_names_are_ignored() {
        let name = |q: &str| parse_request_info("GET", "/api/v1/pods", q).name;
        assert_eq!(name("fieldSelector=metadata.name%3D.."), "");
        assert_eq!(name("fieldSelector=metadata.name!%3Dfoo"), "");
        assert_eq!(
            name("fieldSelector=metadata.name%3Dfoo&labelSelector=a%20b"),
            ""
        );
        assert_eq!(name("fieldSelector=metadata.name%3Dfoo&limit=x"), "");
    }

    #[test]
    fn malformed_list_options_still_honour_watch() {
        let info = parse_request_info("GET", "/api/v1/pods", "watch=true&limit=abc");
        assert_eq!(info.verb, "watch");
    }

    #[test]
    fn non_resource_paths_keep_the_lowercase_method() {
        for path in [
            "/",
            "/healthz",
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/openapi/v2",
            "/foo/bar/baz",
        ] {
            let info = parse_request_info("GET", path, "");
            assert!(!info.is_resource_request, "{path}");
            assert_eq!(info.verb, "get");
            assert_eq!(info.path, path);
        }
        assert_eq!(parse_request_info("POST", "/apis/apps", "").verb, "post");
    }

    #[test]
    fn a_bare_special_verb_is_an_error() {
        let err = try_parse_request_info("GET", "/api/v1/watch", "").unwrap_err();
        assert_eq!(
            err,
            "unable to determine kind and namespace from url, /api/v1/watch"
        );
        let partial = parse_request_info("GET", "/api/v1/watch", "");
        assert!(partial.is_resource_request);
        assert_eq!(partial.verb, "get");
    }

    #[test]
    fn query_strings_are_decoded_like_go() {
        assert_eq!(
            parse_query("a=1&b=x+y%2Cz&c&bad=%zz&d=%41"),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y,z".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "A".to_string()),
            ]
        );
    }
}
