//! Name, label and object-metadata validation with upstream's exact messages
//! (k8s.io/apimachinery/pkg/util/validation, .../api/validation and
//! .../util/validation/field).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX_LENGTH: usize = 63;

const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_LABEL_MAX_LENGTH: usize = 63;

const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const DNS1035_LABEL_MAX_LENGTH: usize = 63;

/// Upper bound on the summed byte length of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES: usize = 256 * 1024;

const IS_NEGATIVE_ERROR_MSG: &str = "must be greater than or equal to 0";

// ---------------------------------------------------------------------------
// Message builders (upstream's MaxLenError, RegexError, EmptyError)

/// `must be no more than N characters`
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// A regex failure explanation, e.g. `<msg> (e.g. 'a' or 'b', regex used for validation is '<fmt>')`.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let examples: String = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

/// `must be non-empty`
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

// ---------------------------------------------------------------------------
// Character-class matchers standing in for upstream's regular expressions

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_alnum(first)
                && is_alnum(last)
                && b.iter()
                    .all(|&c| is_alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_lower_alnum(first)
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Dot-separated DNS-1123 labels.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1035_label(s: &str) -> bool {
    matches_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

// ---------------------------------------------------------------------------
// Format validators: each returns upstream's list of error strings (empty = valid)

/// A qualified name such as a label or annotation key: `[prefix/]name`.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                qualified_name_regex_error()
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name(name) {
        errs.push(format!("name part {}", qualified_name_regex_error()));
    }
    errs
}

fn qualified_name_regex_error() -> String {
    regex_error(
        QUALIFIED_NAME_ERR_MSG,
        QUALIFIED_NAME_FMT,
        &["MyName", "my.name", "123-abc"],
    )
}

/// A label value: empty, or up to 63 characters shaped like a qualified name.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A DNS (RFC 1123) label, e.g. a namespace name.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain that is not a valid label can only be failing on dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// A DNS (RFC 1123) subdomain, the rule for most object names.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// A DNS (RFC 1035) label, e.g. a service name.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Whether `name` can be used as a single URL path segment (upstream's IsValidPathSegmentName).
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    is_valid_path_segment_prefix(name)
}

/// Like [`is_valid_path_segment_name`], but for a prefix that will get a suffix appended.
pub fn is_valid_path_segment_prefix(name: &str) -> Vec<String> {
    ["/", "%"]
        .iter()
        .filter(|illegal| name.contains(*illegal))
        .map(|illegal| format!("may not contain '{illegal}'"))
        .collect()
}

/// Upstream's ValidatePathSegmentName: `prefix` is true for generateName values.
pub fn validate_path_segment_name(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_valid_path_segment_prefix(name)
    } else {
        is_valid_path_segment_name(name)
    }
}

/// Rejects annotations whose keys and values together exceed 256 KiB.
pub fn validate_annotations_size(annotations: &Map<String, Value>) -> Result<(), String> {
    let total: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().unwrap_or("").len())
        .sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES {
        return Err(format!(
            "annotations size {total} is larger than limit {TOTAL_ANNOTATION_SIZE_LIMIT_BYTES}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Name validation functions (upstream's ValidateNameFunc family)

/// Validates an object name; `prefix` is true when validating a generateName.
pub type NameValidation = fn(name: &str, prefix: bool) -> Vec<String>;

/// Names that must be DNS subdomains (most resources).
pub fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    is_dns1123_subdomain(&mask_trailing_dash(name, prefix))
}

/// Names that must be DNS-1123 labels (e.g. namespaces).
pub fn name_is_dns_label(name: &str, prefix: bool) -> Vec<String> {
    is_dns1123_label(&mask_trailing_dash(name, prefix))
}

/// Names that must be DNS-1035 labels (e.g. services).
pub fn name_is_dns1035_label(name: &str, prefix: bool) -> Vec<String> {
    is_dns1035_label(&mask_trailing_dash(name, prefix))
}

/// Names that only need to be safe URL path segments (e.g. RBAC objects).
pub fn name_is_path_segment(name: &str, prefix: bool) -> Vec<String> {
    validate_path_segment_name(name, prefix)
}

/// A generateName may end in '-' since a random suffix follows. Upstream
/// replaces the last *two* bytes with "a"; that quirk is kept on purpose.
fn mask_trailing_dash(name: &str, prefix: bool) -> String {
    if prefix && name.len() > 1 && name.ends_with('-') {
        format!("{}a", &name[..name.len() - 2])
    } else {
        name.to_string()
    }
}

// ---------------------------------------------------------------------------
// Field errors (upstream's field.Error) and their metav1.StatusCause form

/// One metav1.StatusCause: `reason` is the field error type (e.g. `FieldValueInvalid`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cause {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Cause {
    /// The `<field>: <message>` string upstream's field.Error produces.
    pub fn error_string(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// The offending value carried by a field error, rendered like Go's fmt would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// Rendered quoted (`%q`).
    Str(String),
    /// Rendered bare (`%v`).
    Int(i64),
    /// Already-rendered Go syntax (`%#v` of a struct or slice).
    Raw(String),
    /// No value shown (Required, Forbidden, TooLong, ...).
    None,
}

/// Upstream's field.ErrorType values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl ErrorType {
    /// The machine-readable cause type, e.g. `FieldValueInvalid`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human-readable prefix, e.g. `Invalid value`.
    pub fn description(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }
}

/// A field-level validation error (upstream's field.Error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub error_type: ErrorType,
    pub field: String,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub fn invalid(field: &str, value: BadValue, detail: &str) -> Self {
        Self::new(ErrorType::Invalid, field, value, detail)
    }

    pub fn required(field: &str, detail: &str) -> Self {
        Self::new(ErrorType::Required, field, BadValue::None, detail)
    }

    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(ErrorType::Forbidden, field, BadValue::None, detail)
    }

    pub fn duplicate(field: &str, value: BadValue) -> Self {
        Self::new(ErrorType::Duplicate, field, value, "")
    }

    pub fn not_supported(field: &str, value: BadValue, valid: &[&str]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, value, &detail)
    }

    /// `Too long: may not be more than N bytes`
    pub fn too_long(field: &str, max_length: usize) -> Self {
        let detail = format!("may not be more than {max_length} bytes");
        Self::new(ErrorType::TooLong, field, BadValue::None, &detail)
    }

    fn new(error_type: ErrorType, field: &str, value: BadValue, detail: &str) -> Self {
        Self {
            error_type,
            field: field.to_string(),
            value,
            detail: detail.to_string(),
        }
    }

    /// The message without the field path (upstream's ErrorBody).
    pub fn body(&self) -> String {
        let kind = self.error_type.description();
        let mut s = match (&self.value, self.error_type) {
            (
                _,
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::Internal,
            ) => kind.to_string(),
            (BadValue::None, _) => kind.to_string(),
            (BadValue::Str(v), _) => format!("{kind}: {}", go_quote(v)),
            (BadValue::Int(v), _) => format!("{kind}: {v}"),
            (BadValue::Raw(v), _) => format!("{kind}: {v}"),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    pub fn to_cause(&self) -> Cause {
        Cause {
            reason: self.error_type.reason().to_string(),
            message: self.body(),
            field: self.field.clone(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Joins error strings the way upstream's utilerrors aggregate does:
/// duplicates dropped, a single message bare, several as `[a, b]`.
pub fn aggregate_messages(messages: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        if !seen.contains(&m.as_str()) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [single] => single.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Go's `%q` (strconv.Quote) for a string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() && (c as u32) <= 0xffff => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` for a `[]string`.
pub(crate) fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

// ---------------------------------------------------------------------------
// ObjectMeta validation on create (upstream's ValidateObjectMetaAccessor)

/// Validates `metadata` of an object being created. `namespaced` is whether the
/// resource requires a namespace; name generation must already have happened.
pub fn validate_object_meta(meta: &Value, namespaced: bool, name_fn: NameValidation) -> Vec<Cause> {
    let mut errs = Vec::new();
    errs.extend(validate_names(meta, name_fn));
    errs.extend(validate_namespace(str_field(meta, "namespace"), namespaced));
    errs.extend(validate_generation(
        meta.get("generation").and_then(Value::as_i64).unwrap_or(0),
    ));
    errs.extend(validate_labels(
        &map_field(meta, "labels"),
        "metadata.labels",
    ));
    errs.extend(validate_annotations(
        &map_field(meta, "annotations"),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        meta.get("ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        &string_list(meta.get("finalizers")),
        "metadata.finalizers",
    ));
    errs.iter().map(FieldError::to_cause).collect()
}

fn validate_names(meta: &Value, name_fn: NameValidation) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = str_field(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in name_fn(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                BadValue::Str(generate_name.into()),
                &msg,
            ));
        }
    }
    let name = str_field(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_fn(name, false) {
            errs.push(FieldError::invalid(
                "metadata.name",
                BadValue::Str(name.into()),
                &msg,
            ));
        }
    }
    errs
}

fn validate_namespace(namespace: &str, namespaced: bool) -> Vec<FieldError> {
    const FIELD: &str = "metadata.namespace";
    match (namespaced, namespace.is_empty()) {
        (true, true) => vec![FieldError::required(FIELD, "")],
        (true, false) => name_is_dns_label(namespace, false)
            .iter()
            .map(|msg| FieldError::invalid(FIELD, BadValue::Str(namespace.into()), msg))
            .collect(),
        (false, true) => Vec::new(),
        (false, false) => vec![FieldError::forbidden(FIELD, "not allowed on this type")],
    }
}

fn validate_generation(generation: i64) -> Vec<FieldError> {
    if generation < 0 {
        return vec![FieldError::invalid(
            "metadata.generation",
            BadValue::Int(generation),
            IS_NEGATIVE_ERROR_MSG,
        )];
    }
    Vec::new()
}

/// Upstream's v1validation.ValidateLabels: every key a qualified name, every value a label value.
pub fn validate_labels(labels: &Map<String, Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels {
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(field, BadValue::Str(key.clone()), &msg));
        }
        let value = value.as_str().unwrap_or("");
        for msg in is_valid_label_value(value) {
            errs.push(FieldError::invalid(
                field,
                BadValue::Str(value.into()),
                &msg,
            ));
        }
    }
    errs
}

/// Upstream's ValidateAnnotations: keys are case-insensitive qualified names; total size capped.
pub fn validate_annotations(annotations: &Map<String, Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in annotations.keys() {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(field, BadValue::Str(key.clone()), &msg));
        }
    }
    if validate_annotations_size(annotations).is_err() {
        errs.push(FieldError::too_long(
            field,
            TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
        ));
    }
    errs
}

fn validate_owner_references(refs: Option<&Value>, field: &str) -> Vec<FieldError> {
    let refs = refs
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for owner in refs {
        errs.extend(validate_owner_reference(owner, field));
        if owner.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", str_field(owner, "kind"), str_field(owner, "name"));
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    field,
                    BadValue::Raw(go_owner_references(refs)),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

fn validate_owner_reference(owner: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let api_version = str_field(owner, "apiVersion");
    let kind = str_field(owner, "kind");
    let (group, version) = parse_group_version(api_version);
    let checks = [
        (
            "apiVersion",
            api_version,
            version.is_empty(),
            "version must not be empty",
        ),
        ("kind", kind, kind.is_empty(), "kind must not be empty"),
        (
            "name",
            str_field(owner, "name"),
            str_field(owner, "name").is_empty(),
            "name must not be empty",
        ),
        (
            "uid",
            str_field(owner, "uid"),
            str_field(owner, "uid").is_empty(),
            "uid must not be empty",
        ),
    ];
    for (child, value, failed, msg) in checks {
        if failed {
            errs.push(FieldError::invalid(
                &format!("{field}.{child}"),
                BadValue::Str(value.into()),
                msg,
            ));
        }
    }
    if group.is_empty() && version == "v1" && kind == "Event" {
        let msg = format!("{group}/{version}, Kind={kind} is disallowed from being an owner");
        errs.push(FieldError::invalid(
            field,
            BadValue::Raw(go_owner_reference(owner)),
            &msg,
        ));
    }
    errs
}

/// Upstream's schema.ParseGroupVersion, with unparseable input yielding empty parts.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    match api_version.matches('/').count() {
        0 => ("", api_version),
        1 => api_version.split_once('/').unwrap_or(("", "")),
        _ => ("", ""),
    }
}

/// Approximates Go's `%#v` of a metav1.OwnerReference. Go would print pointer
/// addresses for set booleans; those are not reproducible, so a fixed one is used.
fn go_owner_reference(owner: &Value) -> String {
    let ptr = |key: &str| match owner.get(key).and_then(Value::as_bool) {
        Some(_) => "(*bool)(0xc000000000)".to_string(),
        None => "(*bool)(nil)".to_string(),
    };
    format!(
        "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, BlockOwnerDeletion:{}}}",
        go_quote(str_field(owner, "apiVersion")),
        go_quote(str_field(owner, "kind")),
        go_quote(str_field(owner, "name")),
        go_quote(str_field(owner, "uid")),
        ptr("controller"),
        ptr("blockOwnerDeletion"),
    )
}

fn go_owner_references(refs: &[Value]) -> String {
    let items: Vec<String> = refs.iter().map(go_owner_reference).collect();
    format!("[]v1.OwnerReference{{{}}}", items.join(", "))
}

/// Upstream's ValidateFinalizers: qualified names, and not both orphan and foregroundDeletion.
pub fn validate_finalizers(finalizers: &[String], field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for finalizer in finalizers {
        for msg in is_qualified_name(finalizer) {
            errs.push(FieldError::invalid(
                field,
                BadValue::Str(finalizer.clone()),
                &msg,
            ));
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            field,
            BadValue::Raw(go_string_slice(finalizers)),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn map_field(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUBDOMAIN_MSG: &str = r"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn dns1123_subdomain_accepts_dotted_lowercase_names() {
        assert!(is_dns1123_subdomain("example.com").is_empty());
        assert!(is_dns1123_subdomain("a-1.b").is_empty());
    }

    #[test]
    fn dns1123_subdomain_rejects_bad_characters_with_upstream_message() {
        for bad in ["Foo", "a..b", "-a", "a-", "", "a_b"] {
            assert_eq!(
                is_dns1123_subdomain(bad),
                vec![SUBDOMAIN_MSG.to_string()],
                "{bad}"
            );
        }
    }

    #[test]
    fn dns1123_subdomain_reports_length_over_253() {
        let long = "a".repeat(254);
        assert_eq!(
            is_dns1123_subdomain(&long),
            vec!["must be no more than 253 characters".to_string()]
        );
    }

    #[test]
    fn dns1123_label_reports_dots_specially() {
        assert_eq!(
            is_dns1123_label("a.b"),
            vec!["must not contain dots".to_string()]
        );
        assert_eq!(
            is_dns1123_label("A"),
            vec!["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()]
        );
    }

    #[test]
    fn dns1035_label_requires_a_leading_letter() {
        assert!(is_dns1035_label("abc-1").is_empty());
        assert_eq!(
            is_dns1035_label("1abc"),
            vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()]
        );
    }

    #[test]
    fn qualified_name_accepts_prefixed_and_plain_keys() {
        for ok in ["app", "app.kubernetes.io/name", "A_b.c-D", "x/Y"] {
            assert!(is_qualified_name(ok).is_empty(), "{ok}");
        }
    }

    #[test]
    fn qualified_name_reports_empty_name_twice_like_upstream() {
        assert_eq!(
            is_qualified_name("example.com/"),
            vec![
                "name part must be non-empty".to_string(),
                QUALIFIED_NAME_MSG.to_string()
            ]
        );
    }

    #[test]
    fn qualified_name_reports_bad_prefix() {
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty".to_string()]
        );
        assert_eq!(
            is_qualified_name("Bad/a"),
            vec![format!("prefix part {SUBDOMAIN_MSG}")]
        );
    }

    #[test]
    fn qualified_name_rejects_more_than_one_slash() {
        let errs = is_qualified_name("a/b/c");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("a qualified name must consist of"));
        assert!(errs[0].ends_with(
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
    }

    #[test]
    fn label_values_may_be_empty_but_not_too_long() {
        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_label_value("my_value").is_empty());
        assert_eq!(
            is_valid_label_value(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert_eq!(is_valid_label_value("-a").len(), 1);
    }

    #[test]
    fn path_segment_names_reject_dots_slashes_and_percent() {
        assert_eq!(
            validate_path_segment_name("..", false),
            vec!["may not be '..'".to_string()]
        );
        assert_eq!(
            validate_path_segment_name("a/b%", false),
            vec![
                "may not contain '/'".to_string(),
                "may not contain '%'".to_string()
            ]
        );
        assert!(validate_path_segment_name(".", true).is_empty());
    }

    #[test]
    fn annotations_larger_than_256_kib_are_rejected() {
        let mut m = Map::new();
        m.insert(
            "k".into(),
            json!("v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES)),
        );
        assert_eq!(
            validate_annotations_size(&m),
            Err("annotations size 262145 is larger than limit 262144".to_string())
        );
    }

    #[test]
    fn generate_name_may_end_with_a_dash() {
        assert!(name_is_dns_subdomain("web-", true).is_empty());
        assert!(!name_is_dns_subdomain("web-", false).is_empty());
    }

    #[test]
    fn missing_name_is_required_unless_generate_name() {
        let causes = validate_object_meta(
            &json!({"namespace": "default"}),
            true,
            name_is_dns_subdomain,
        );
        assert_eq!(
            causes,
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }]
        );
    }

    #[test]
    fn invalid_name_is_reported_with_quoted_value() {
        let causes = validate_object_meta(
            &json!({"name": "Bad", "namespace": "ns"}),
            true,
            name_is_dns_subdomain,
        );
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].reason, "FieldValueInvalid");
        assert_eq!(
            causes[0].message,
            format!("Invalid value: \"Bad\": {SUBDOMAIN_MSG}")
        );
        assert_eq!(causes[0].field, "metadata.name");
    }

    #[test]
    fn namespace_is_required_for_namespaced_and_forbidden_for_cluster_scoped() {
        let causes = validate_object_meta(&json!({"name": "a"}), true, name_is_dns_subdomain);
        assert_eq!(causes[0].message, "Required value");
        assert_eq!(causes[0].field, "metadata.namespace");
        let causes = validate_object_meta(
            &json!({"name": "a", "namespace": "x"}),
            false,
            name_is_dns_subdomain,
        );
        assert_eq!(causes[0].reason, "FieldValueForbidden");
        assert_eq!(causes[0].message, "Forbidden: not allowed on this type");
    }

    #[test]
    fn bad_labels_and_annotations_are_reported_on_their_maps() {
        let meta = json!({"name": "a", "labels": {"k": "-bad"}, "annotations": {"a/b/c": "x"}});
        let causes = validate_object_meta(&meta, false, name_is_dns_subdomain);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].field, "metadata.labels");
        assert!(
            causes[0]
                .message
                .starts_with("Invalid value: \"-bad\": a valid label must be")
        );
        assert_eq!(causes[1].field, "metadata.annotations");
        assert!(
            causes[1]
                .message
                .starts_with("Invalid value: \"a/b/c\": a qualified name")
        );
    }

    #[test]
    fn oversized_annotations_are_too_long() {
        let meta = json!({"name": "a", "annotations": {"k": "v".repeat(300 * 1024)}});
        let causes = validate_object_meta(&meta, false, name_is_dns_subdomain);
        assert_eq!(causes[0].reason, "FieldValueTooLong");
        assert_eq!(
            causes[0].message,
            "Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn negative_generation_is_invalid() {
        let causes = validate_object_meta(
            &json!({"name": "a", "generation": -1}),
            false,
            name_is_dns_subdomain,
        );
        assert_eq!(
            causes[0].message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(causes[0].field, "metadata.generation");
    }

    #[test]
    fn conflicting_deletion_finalizers_are_invalid() {
        let meta = json!({"name": "a", "finalizers": ["orphan", "foregroundDeletion"]});
        let causes = validate_object_meta(&meta, false, name_is_dns_subdomain);
        assert_eq!(
            causes[0].message,
            "Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
        );
    }

    #[test]
    fn owner_references_need_version_kind_name_and_uid() {
        let meta = json!({"name": "a", "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]});
        let fields: Vec<String> = validate_object_meta(&meta, false, name_is_dns_subdomain)
            .into_iter()
            .map(|c| c.error_string())
            .collect();
        assert_eq!(
            fields,
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ]
        );
    }

    #[test]
    fn causes_serialize_as_status_causes_omitting_empty_fields() {
        let cause = Cause {
            reason: "FieldValueRequired".into(),
            message: "m".into(),
            field: String::new(),
        };
        assert_eq!(
            serde_json::to_value(&cause).unwrap(),
            json!({"reason": "FieldValueRequired", "message": "m"})
        );
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }

    #[test]
    fn aggregated_messages_are_deduplicated_and_bracketed() {
        let msgs = vec!["a".to_string(), "b".to_string(), "a".to_string()];
        assert_eq!(aggregate_messages(&msgs), "[a, b]");
        assert_eq!(aggregate_messages(&["a".to_string(), "a".to_string()]), "a");
    }
}
