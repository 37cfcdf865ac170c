//! Content negotiation: which representation the client's `Accept` header asks for.

use den_apimachinery::status::ApiError;
use http::{HeaderMap, header};

/// How the object or list of a response is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Object,
    /// A `meta.k8s.io/v1` Table; rows carry the object as `includeObject` says.
    Table {
        include_object: IncludeObject,
    },
    /// `PartialObjectMetadata` (a list: `PartialObjectMetadataList`) of `meta.k8s.io` at
    /// this version (`v1` or `v1beta1`): the objects' metadata only.
    Metadata {
        version: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// The media types of an `Accept` header, each with its parameters.
fn accepted(headers: &HeaderMap) -> Vec<(String, Vec<(String, String)>)> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept
        .split(',')
        .map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let media = pieces.next().unwrap_or("").to_ascii_lowercase();
            let params = pieces
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            (media, params)
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The representation of the first `Accept` entry Den can serve: a Table or partial object
/// metadata when it asks for one in JSON, the object otherwise. (Protobuf entries, which
/// client-go lists first, are passed over.) A resource without `tables` (the create-only
/// reviews, which upstream gives no table convertor) cannot be served as a Table: when that is
/// all the client accepts, the answer is upstream's 406.
pub fn output(
    headers: &HeaderMap,
    include_object: Option<&str>,
    tables: bool,
) -> Result<Output, ApiError> {
    let mut refused_table = false;
    for (media, params) in accepted(headers) {
        if !matches!(
            media.as_str(),
            "application/json" | "*/*" | "application/*" | ""
        ) {
            continue;
        }
        if param(&params, "g").is_some_and(|g| g != "meta.k8s.io") {
            continue;
        }
        match param(&params, "as") {
            None => return Ok(Output::Object),
            Some("Table") if !tables => refused_table = true,
            Some("Table") => {
                let include_object = match include_object {
                    Some("None") => IncludeObject::None,
                    Some("Object") => IncludeObject::Object,
                    _ => IncludeObject::Metadata,
                };
                return Ok(Output::Table { include_object });
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                let version = match param(&params, "v") {
                    Some("v1beta1") => "v1beta1",
                    _ => "v1",
                };
                return Ok(Output::Metadata { version });
            }
            Some(_) => {}
        }
    }
    if refused_table {
        return Err(ApiError::not_acceptable(RESPONSE_MEDIA_TYPES));
    }
    Ok(Output::Object)
}

/// The media types upstream's serializers offer, as its 406 lists them.
const RESPONSE_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// An object's metadata as a `PartialObjectMetadata` of `meta.k8s.io/<version>`.
pub fn partial_object_metadata(obj: &serde_json::Value, version: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

/// The aggregated discovery version the client accepts (`v2` or `v2beta1`), if any.
pub fn aggregated_discovery(headers: &HeaderMap) -> Option<&'static str> {
    for (media, params) in accepted(headers) {
        if media != "application/json" || param(&params, "g") != Some("apidiscovery.k8s.io") {
            continue;
        }
        if param(&params, "as") != Some("APIGroupDiscoveryList") {
            continue;
        }
        match param(&params, "v") {
            Some("v2") => return Some("v2"),
            Some("v2beta1") => return Some("v2beta1"),
            _ => {}
        }
    }
    None
}

/// The representations of `/openapi/v2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenApiV2 {
    Json,
    /// gnostic's `openapi.v2.Document`, what client-go's discovery client asks for.
    Protobuf,
}

/// The first `Accept` entry `/openapi/v2` can serve, as upstream's handler chooses it.
pub fn openapi_v2(headers: &HeaderMap) -> Option<OpenApiV2> {
    let entries = accepted(headers);
    if entries.iter().all(|(media, _)| media.is_empty()) {
        return Some(OpenApiV2::Json);
    }
    entries.iter().find_map(|(media, _)| match media.as_str() {
        "application/json" | "application/*" | "*/*" => Some(OpenApiV2::Json),
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        | "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" => Some(OpenApiV2::Protobuf),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn kubectl_get_accept_header_asks_for_a_table() {
        let h = headers(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(
            output(&h, None, true).unwrap(),
            Output::Table {
                include_object: IncludeObject::Metadata
            }
        );
        assert_eq!(
            output(&headers("application/json"), None, true).unwrap(),
            Output::Object
        );
        // Without tables kubectl's header still falls back to its plain JSON entry.
        assert_eq!(output(&h, None, false).unwrap(), Output::Object);
    }

    #[test]
    fn a_table_of_a_resource_without_tables_is_not_acceptable() {
        let h = headers("application/json;as=Table;v=v1;g=meta.k8s.io");
        let err = output(&h, None, false).unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (406, "NotAcceptable"));
        assert_eq!(
            err.message,
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        );
    }

    #[test]
    fn openapi_v2_is_protobuf_for_client_go_and_json_otherwise() {
        let proto = headers("application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
        assert_eq!(openapi_v2(&proto), Some(OpenApiV2::Protobuf));
        assert_eq!(
            openapi_v2(&headers("application/json")),
            Some(OpenApiV2::Json)
        );
        assert_eq!(openapi_v2(&HeaderMap::new()), Some(OpenApiV2::Json));
        assert_eq!(openapi_v2(&headers("text/html")), None);
    }

    #[test]
    fn client_go_discovery_accept_header_selects_v2() {
        let h = headers(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        assert_eq!(aggregated_discovery(&h), Some("v2"));
        assert_eq!(aggregated_discovery(&headers("application/json")), None);
    }
}
