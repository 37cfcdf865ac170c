//! Discovery: the legacy `/api`, `/apis`, `/apis/{group}[/{version}]` documents and the
//! aggregated (`apidiscovery.k8s.io` v2 / v2beta1) form, all from the resource table.

use serde_json::{Value, json};

use crate::resources::{ResourceInfo, ResourceTable};

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUBRESOURCE_VERBS: [&str; 3] = ["get", "patch", "update"];
const CREATE: [&str; 1] = ["create"];

/// The verbs a resource is served with.
fn verbs(r: &ResourceInfo) -> &'static [&'static str] {
    if r.create_only { &CREATE } else { &VERBS }
}

/// (name, group, version, kind, verbs) of a subresource.
type Subresource<'a> = (
    &'static str,
    &'a str,
    &'a str,
    &'a str,
    &'static [&'static str],
);

fn subresources(r: &ResourceInfo) -> Vec<Subresource<'_>> {
    // (name, group, version, kind, verbs) of each served subresource.
    let mut out = Vec::new();
    if r.scale_subresource {
        out.push((
            "scale",
            "autoscaling",
            "v1",
            "Scale",
            &SUBRESOURCE_VERBS[..],
        ));
    }
    if r.status_subresource {
        out.push((
            "status",
            &r.group,
            &r.version,
            &r.kind,
            &SUBRESOURCE_VERBS[..],
        ));
    }
    if r.is("certificates.k8s.io", "certificatesigningrequests") {
        out.push((
            "approval",
            &r.group,
            &r.version,
            &r.kind,
            &SUBRESOURCE_VERBS[..],
        ));
    }
    if r.is("", "namespaces") {
        out.push(("finalize", &r.group, &r.version, &r.kind, &["update"][..]));
    }
    if r.is("", "pods") {
        out.push(("eviction", "policy", "v1", "Eviction", &CREATE[..]));
    }
    if r.is("", "serviceaccounts") {
        out.push((
            "token",
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            &CREATE[..],
        ));
    }
    out
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`: an APIResourceList.
pub fn resource_list(table: &ResourceTable, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in table
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for (name, g, v, kind, verbs) in subresources(r) {
            let mut sub = json!({
                "name": format!("{}/{name}", &r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if (g, v) != (&r.group, &r.version) {
                sub["group"] = json!(g);
                sub["version"] = json!(v);
            }
            resources.push(sub);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// `GET /api`: APIVersions.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn versions_of<'a>(table: &'a ResourceTable, group: &str) -> Vec<&'a str> {
    table
        .group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

fn api_group(table: &ResourceTable, group: &str) -> Value {
    let versions: Vec<Value> = versions_of(table, group)
        .into_iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
}

fn groups(table: &ResourceTable) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for (g, _) in table.group_versions() {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// `GET /apis`: APIGroupList.
pub fn group_list(table: &ResourceTable) -> Value {
    let groups: Vec<Value> = groups(table)
        .into_iter()
        .map(|g| api_group(table, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`: APIGroup.
pub fn group(table: &ResourceTable, group: &str) -> Option<Value> {
    if group.is_empty() || versions_of(table, group).is_empty() {
        return None;
    }
    let mut g = api_group(table, group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|(name, g, v, kind, verbs)| {
            let (g, v) = if (g, v) == (&r.group, &r.version) { ("", "") } else { (g, v) };
            json!({"subresource": name, "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": verbs})
        })
        .collect();
    if !subs.is_empty() {
        entry["subresources"] = json!(subs);
    }
    entry
}

/// The aggregated discovery document for the core group (`legacy`) or all named groups.
pub fn aggregated(table: &ResourceTable, legacy: bool, version: &str) -> Value {
    let group_names: Vec<&str> = if legacy { vec![""] } else { groups(table) };
    let items: Vec<Value> = group_names
        .into_iter()
        .map(|g| {
            let versions: Vec<Value> = versions_of(table, g)
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = table
                        .iter()
                        .filter(|r| r.group == g && r.version == v)
                        .map(|r| aggregated_resource(r))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !g.is_empty() {
                metadata["name"] = json!(g);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}
