//! CustomResourceDefinitions: each served version of an established CRD becomes a resource in
//! the table, with its structural schema for pruning, defaulting and validation.

use std::sync::Arc;

use den_apimachinery::schema::{self, Structural};
use den_apimachinery::status::ApiError;
use den_apimachinery::validation::{self, Cause};
use serde_json::{Value, json};

use crate::jsonpath;
use crate::objects::str_at;
use crate::resources::{Codec, Name, ResourceInfo};

/// The finalizer a CRD carries while its custom resources are being deleted.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// One `additionalPrinterColumns` entry.
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    pub json_path: String,
}

/// The `scale` subresource's paths (`.spec.replicas` style JSONPaths).
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served version of a custom resource: its schema and per-version behaviour.
pub struct CustomResourceVersion {
    pub group: String,
    pub version: String,
    /// The version objects are stored in (`spec.versions[].storage`).
    pub storage_version: String,
    pub schema: Option<Structural>,
    /// The version's `openAPIV3Schema` as written in the CRD, for published OpenAPI.
    pub openapi_schema: Option<Value>,
    pub scale: Option<ScalePaths>,
    pub printer_columns: Vec<PrinterColumn>,
    /// Field paths (`spec.color`) usable in field selectors.
    pub selectable_fields: Vec<String>,
    /// The `Warning` a deprecated version answers every request with.
    pub deprecation_warning: Option<String>,
}

impl CustomResourceVersion {
    /// Prunes fields the schema does not know (returned, for fieldValidation) and applies
    /// defaults. Validation runs later, on the object about to be stored.
    pub fn canonicalize(&self, mut obj: Value) -> Result<(Value, Vec<String>), ApiError> {
        let Some(schema) = &self.schema else {
            return Ok((obj, Vec::new()));
        };
        let pruned = schema::prune(&mut obj, schema, true);
        schema::apply_defaults(&mut obj, schema);
        Ok((obj, pruned))
    }

    /// Schema and CEL rule violations of `obj` (`old` on updates), with upstream's paths.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        let Some(schema) = &self.schema else {
            return Vec::new();
        };
        let mut causes = schema::validate(obj, schema);
        causes.extend(schema::validate_list_sets_and_maps(obj, schema));
        if causes.is_empty() {
            causes.extend(schema::validate_cel(obj, old, schema));
        }
        causes
    }

    /// The object as stored: in the storage version.
    pub fn to_storage(&self, obj: &mut Value) {
        obj["apiVersion"] = json!(format!("{}/{}", self.group, self.storage_version));
    }

    /// A stored object as this version serves it: converted (strategy `None` only rewrites
    /// `apiVersion`) and defaulted, as upstream defaults when reading from storage.
    pub fn from_storage(&self, obj: &mut Value) {
        obj["apiVersion"] = json!(format!("{}/{}", self.group, self.version));
        if let Some(schema) = &self.schema {
            schema::apply_defaults(obj, schema);
        }
    }

    /// The value of a selectable field, or `None` when the object has none there.
    pub fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let values = jsonpath::evaluate(obj, &format!(".{field}")).ok()?;
        match values.first()? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

fn strings_at(value: &Value, pointer: &str) -> Vec<Name> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(|s| Name::from(s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the CRD's `Established` condition is true.
pub fn is_established(crd: &Value) -> bool {
    condition_status(crd, "Established") == Some("True")
}

pub fn condition_status<'a>(crd: &'a Value, condition: &str) -> Option<&'a str> {
    crd.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition))?
        .get("status")?
        .as_str()
}

/// The table entries of an established CRD: one per served version.
pub fn served_resources(crd: &Value) -> Vec<ResourceInfo> {
    let group = str_at(crd, "/spec/group").to_string();
    let names = crd.pointer("/status/acceptedNames").unwrap_or(&Value::Null);
    let plural = str_at(names, "/plural").to_string();
    let kind = str_at(names, "/kind").to_string();
    if plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| str_at(v, "/name").to_string())
        .unwrap_or_default();
    let list_kind = match str_at(names, "/listKind") {
        "" => format!("{kind}List"),
        list_kind => list_kind.to_string(),
    };
    let singular = match str_at(names, "/singular") {
        "" => kind.to_ascii_lowercase(),
        singular => singular.to_string(),
    };
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .map(|v| {
            let version = CustomResourceVersion {
                group: group.clone(),
                version: str_at(v, "/name").to_string(),
                storage_version: storage_version.clone(),
                openapi_schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                schema: v
                    .pointer("/schema/openAPIV3Schema")
                    .and_then(|s| Structural::from_json(s).ok()),
                scale: v.pointer("/subresources/scale").map(|s| ScalePaths {
                    spec_replicas: str_at(s, "/specReplicasPath").to_string(),
                    status_replicas: str_at(s, "/statusReplicasPath").to_string(),
                    label_selector: s
                        .get("labelSelectorPath")
                        .and_then(Value::as_str)
                        .map(String::from),
                }),
                printer_columns: printer_columns(v),
                selectable_fields: v
                    .pointer("/selectableFields")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.get("jsonPath")?.as_str())
                            .map(|p| p.trim_start_matches('.').to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                deprecation_warning: deprecation_warning(&group, &kind, v),
            };
            ResourceInfo {
                group: group.clone().into(),
                version: version.version.clone().into(),
                kind: kind.clone().into(),
                list_kind: list_kind.clone().into(),
                plural: plural.clone().into(),
                singular: singular.clone().into(),
                namespaced,
                short_names: strings_at(names, "/shortNames"),
                categories: strings_at(names, "/categories"),
                status_subresource: v.pointer("/subresources/status").is_some(),
                scale_subresource: version.scale.is_some(),
                create_on_update: false,
                create_only: false,
                codec: Codec::Custom(Arc::new(version)),
            }
        })
        .collect()
}

fn deprecation_warning(group: &str, kind: &str, version: &Value) -> Option<String> {
    if version.get("deprecated").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    Some(
        match version.get("deprecationWarning").and_then(Value::as_str) {
            Some(warning) => warning.to_string(),
            None => format!("{group}/{} {kind} is deprecated", str_at(version, "/name")),
        },
    )
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    let Some(columns) = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    columns
        .iter()
        .map(|c| PrinterColumn {
            name: str_at(c, "/name").to_string(),
            type_: str_at(c, "/type").to_string(),
            format: str_at(c, "/format").to_string(),
            description: str_at(c, "/description").to_string(),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
            json_path: str_at(c, "/jsonPath").to_string(),
        })
        .collect()
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    validation::FieldError::invalid(field, validation::BadValue::Str(value.to_string()), detail)
        .to_cause()
}

fn required(field: &str, detail: &str) -> Cause {
    validation::FieldError::required(field, detail).to_cause()
}

/// Upstream's CRD validation for what Den serves: names, group, scope, versions, schemas.
pub fn validate_crd(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_at(crd, "/metadata/name");
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    if name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        causes.push(required("spec.group", ""));
    } else if group.split('.').count() < 2 {
        causes.push(invalid(
            "spec.group",
            group,
            "should be a domain with at least one dot",
        ));
    } else {
        for message in validation::is_dns1123_subdomain(group) {
            causes.push(invalid("spec.group", group, &message));
        }
    }
    match str_at(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        "" => causes.push(required("spec.scope", "")),
        other => causes.push(
            validation::FieldError::not_supported(
                "spec.scope",
                validation::BadValue::Str(other.to_string()),
                &["Cluster", "Namespaced"],
            )
            .to_cause(),
        ),
    }
    causes.extend(validate_names(crd));
    causes.extend(validate_versions(crd));
    causes
}

fn validate_names(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (field, value) in [
        ("plural", str_at(crd, "/spec/names/plural")),
        ("singular", str_at(crd, "/spec/names/singular")),
        ("listKind", str_at(crd, "/spec/names/listKind")),
    ] {
        if field == "plural" && value.is_empty() {
            causes.push(required("spec.names.plural", ""));
            continue;
        }
        if field == "listKind" || value.is_empty() {
            continue;
        }
        for message in validation::is_dns1035_label(value) {
            causes.push(invalid(&format!("spec.names.{field}"), value, &message));
        }
    }
    let kind = str_at(crd, "/spec/names/kind");
    if kind.is_empty() {
        causes.push(required("spec.names.kind", ""));
    }
    let list_kind = str_at(crd, "/spec/names/listKind");
    if !list_kind.is_empty() && list_kind == kind {
        causes.push(invalid(
            "spec.names.listKind",
            list_kind,
            "kind and listKind may not be the same",
        ));
    }
    causes
}

fn validate_versions(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(
            validation::FieldError::invalid(
                "spec.versions",
                validation::BadValue::Raw(
                    "[]apiextensions.CustomResourceDefinitionVersion(nil)".into(),
                ),
                "must have exactly one version marked as storage version",
            )
            .to_cause(),
        );
        return causes;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        causes.push(
            validation::FieldError::invalid(
                "spec.versions",
                validation::BadValue::Raw(
                    "[]apiextensions.CustomResourceDefinitionVersion{...}".into(),
                ),
                "must have exactly one version marked as storage version",
            )
            .to_cause(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        let name = str_at(v, "/name");
        if !seen.insert(name.to_string()) {
            causes.push(
                validation::FieldError::duplicate(
                    &format!("spec.versions[{i}].name"),
                    validation::BadValue::Str(name.to_string()),
                )
                .to_cause(),
            );
        }
        for message in validation::is_dns1035_label(name) {
            causes.push(invalid(&format!("spec.versions[{i}].name"), name, &message));
        }
        if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            match Structural::from_json_at(s, &path) {
                Ok(structural) => causes.extend(schema::compile_rules(&structural, &path)),
                Err(errors) => causes.extend(errors),
            }
        }
    }
    if versions
        .iter()
        .all(|v| v.get("served").and_then(Value::as_bool) != Some(true))
    {
        causes.push(invalid(
            "spec.versions",
            "",
            "must have at least one served version",
        ));
    }
    let strategy = str_at(crd, "/spec/conversion/strategy");
    if !matches!(strategy, "" | "None") {
        causes.push(
            validation::FieldError::not_supported(
                "spec.conversion.strategy",
                validation::BadValue::Str(strategy.to_string()),
                &["None"],
            )
            .to_cause(),
        );
    }
    causes
}

/// The status Den's CRD controller wants for `crd`, given the names other established
/// CRDs and built-in kinds already hold in its group.
pub fn desired_status(crd: &Value, taken: &[(String, String, String)], now: &str) -> Value {
    let group = str_at(crd, "/spec/group");
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let plural = str_at(&names, "/plural");
    let kind = str_at(&names, "/kind");
    let conflict = taken.iter().find_map(|(g, p, k)| {
        if g != group {
            None
        } else if p == plural {
            Some(("PluralConflict", format!("\"{plural}\" is already in use")))
        } else if k == kind {
            Some(("KindConflict", format!("\"{kind}\" is already in use")))
        } else {
            None
        }
    });
    let old = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if accepted
        .get("singular")
        .is_none_or(|s| s.as_str() == Some(""))
    {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted
        .get("listKind")
        .is_none_or(|s| s.as_str() == Some(""))
    {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let mut conditions = Vec::new();
    let mut set = |kind: &str, status: &str, reason: &str, message: &str| {
        let previous = old
            .pointer("/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
                    .cloned()
            });
        let since = match &previous {
            Some(p) if p.get("status").and_then(Value::as_str) == Some(status) => {
                p.get("lastTransitionTime").cloned().unwrap_or(json!(now))
            }
            _ => json!(now),
        };
        conditions.push(json!({
            "type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message,
        }));
    };
    let terminating = crd
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let mut status = json!({});
    match conflict {
        Some((reason, message)) => {
            set("NamesAccepted", "False", reason, &message);
            set(
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
            );
            status["acceptedNames"] = old
                .get("acceptedNames")
                .cloned()
                .unwrap_or_else(|| json!({"plural": "", "kind": ""}));
        }
        None => {
            set("NamesAccepted", "True", "NoConflicts", "no conflicts found");
            set(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
            );
            status["acceptedNames"] = accepted;
        }
    }
    if terminating {
        set(
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        );
    }
    status["conditions"] = json!(conditions);
    let mut stored: Vec<String> = old
        .pointer("/storedVersions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(storage) = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .map(|v| str_at(v, "/name").to_string())
        && !stored.contains(&storage)
    {
        stored.push(storage);
    }
    status["storedVersions"] = json!(stored);
    status
}
