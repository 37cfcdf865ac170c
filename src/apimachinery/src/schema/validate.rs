//! Validation of a custom resource against its schema: a port of
//! kube-openapi's validate.SchemaValidator as apiextensions-apiserver uses it,
//! with its messages, followed by upstream's conversion of the result into
//! field errors (kubeOpenAPIResultToFieldErrors).

use serde_json::{Map, Value};

use super::formats;
use super::gofmt::{GoNumber, bad_value, go_float, go_number};
use super::regex_cache;
use super::structural::Structural;
use crate::validation::{BadValue, Cause, ErrorType, FieldError};

const IN: &str = "body";

/// Validates `obj` against `schema`; field paths start at the object root
/// (e.g. `spec.replicas`). Errors not tied to a field (anyOf/oneOf/allOf/not)
/// carry the field `<nil>`, as upstream reports them.
pub fn validate(obj: &Value, schema: &Structural) -> Vec<Cause> {
    validate_at(obj, schema, None)
}

/// Like [`validate`], with every error path prefixed by `base` (upstream's
/// `ValidateCustomResource(fldPath, ...)`, used for default values).
pub fn validate_at(obj: &Value, schema: &Structural, base: Option<&str>) -> Vec<Cause> {
    field_errors_at(obj, schema, base)
        .iter()
        .map(FieldError::to_cause)
        .collect()
}

/// [`validate_at`] returning field errors.
pub fn field_errors_at(obj: &Value, schema: &Structural, base: Option<&str>) -> Vec<FieldError> {
    let result = SchemaValidator::new(schema, "").validate(obj);
    result
        .errors
        .iter()
        .map(|e| e.to_field_error(base))
        .collect()
}

// ---------------------------------------------------------------------------
// kube-openapi errors and results

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    TooShort,
    Pattern,
    Enum,
    MultipleOf,
    Max,
    Min,
    Unique,
    MaxItems,
    MinItems,
    TooFewProperties,
    TooManyProperties,
    UnallowedProperty,
    MultipleOfMustBePositive,
}

/// An openapi error: a `*errors.Validation` (with a code, a name and a
/// value) or a plain composite message.
#[derive(Debug, Clone)]
enum OpenAPIError {
    Validation {
        code: Code,
        name: String,
        value: Option<Value>,
        valid: Option<i64>,
        values: Vec<Value>,
        message: String,
    },
    Composite(String),
}

impl OpenAPIError {
    fn message(&self) -> &str {
        match self {
            OpenAPIError::Validation { message, .. } => message,
            OpenAPIError::Composite(message) => message,
        }
    }

    fn new(code: Code, name: &str, value: Option<Value>, message: String) -> Self {
        OpenAPIError::Validation {
            code,
            name: name.to_string(),
            value,
            valid: None,
            values: Vec::new(),
            message,
        }
    }

    fn with_valid(mut self, limit: i64) -> Self {
        if let OpenAPIError::Validation { valid, .. } = &mut self {
            *valid = Some(limit);
        }
        self
    }

    /// Upstream's kubeOpenAPIResultToFieldErrors for one error.
    fn to_field_error(&self, base: Option<&str>) -> FieldError {
        let base_path = base.unwrap_or("<nil>");
        let OpenAPIError::Validation {
            code,
            name,
            value,
            valid,
            values,
            message,
        } = self
        else {
            return invalid(base_path, BadValue::Str(String::new()), self.message());
        };
        let path = error_path(base, name);
        let bad = value
            .as_ref()
            .map(bad_value)
            .unwrap_or(BadValue::Str(String::new()));
        let int_value = value.as_ref().and_then(Value::as_i64).unwrap_or(-1);
        match code {
            Code::Required => FieldError::required(&path, ""),
            Code::Enum => {
                let supported: Vec<String> = values.iter().map(enum_value_string).collect();
                let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
                let bad = value
                    .as_ref()
                    .map(bad_value)
                    .unwrap_or(BadValue::Str("null".into()));
                FieldError::not_supported(&path, bad, &refs)
            }
            Code::TooLong => FieldError::too_long(&path, valid.unwrap_or(-1).max(0) as usize),
            Code::MaxItems | Code::TooManyProperties => {
                too_many(&path, int_value, valid.unwrap_or(-1))
            }
            Code::InvalidType => FieldError {
                error_type: ErrorType::TypeInvalid,
                field: path,
                value: bad,
                detail: message.clone(),
            },
            _ => invalid(&path, bad, message),
        }
    }
}

fn error_path(base: Option<&str>, name: &str) -> String {
    let name = if name == "." { "" } else { name };
    let name = name.strip_prefix('.').unwrap_or(name);
    match (base, name.is_empty()) {
        (Some(b), true) => b.to_string(),
        (Some(b), false) => format!("{b}.{name}"),
        (None, true) => "<nil>".to_string(),
        (None, false) => name.to_string(),
    }
}

fn enum_value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn invalid(path: &str, value: BadValue, detail: &str) -> FieldError {
    FieldError::invalid(path, value, detail)
}

fn too_many(path: &str, actual: i64, max: i64) -> FieldError {
    let detail = if max >= 0 {
        format!("must have at most {max} items")
    } else {
        "has too many items".to_string()
    };
    FieldError {
        error_type: ErrorType::TooMany,
        field: path.to_string(),
        value: if actual >= 0 {
            BadValue::Int(actual)
        } else {
            BadValue::None
        },
        detail,
    }
}

/// kube-openapi's validate.Result: de-duplicated errors and a match count
/// (used to pick the best failing anyOf/oneOf branch).
#[derive(Debug, Default)]
struct Outcome {
    errors: Vec<OpenAPIError>,
    match_count: usize,
}

impl Outcome {
    fn error(e: OpenAPIError) -> Self {
        Outcome {
            errors: vec![e],
            match_count: 0,
        }
    }

    fn add(&mut self, e: OpenAPIError) {
        if !self.errors.iter().any(|x| x.message() == e.message()) {
            self.errors.push(e);
        }
    }

    fn merge(&mut self, other: Outcome) {
        for e in other.errors {
            self.add(e);
        }
        self.match_count += other.match_count;
    }

    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

// ---------------------------------------------------------------------------
// The schema validator

/// The JSON kinds Go's reflection distinguishes for decoded JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

fn kind_of(v: &Value) -> Option<Kind> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(Kind::Bool),
        Value::Number(n) => Some(match go_number(n) {
            GoNumber::Int(_) => Kind::Int,
            GoNumber::Float(_) => Kind::Float,
        }),
        Value::String(_) => Some(Kind::String),
        Value::Array(_) => Some(Kind::Slice),
        Value::Object(_) => Some(Kind::Map),
    }
}

/// One of the validators a schema validator runs, in upstream's order.
type Step<'a> = fn(&SchemaValidator<'a>, &Value) -> Outcome;

struct SchemaValidator<'a> {
    schema: &'a Structural,
    path: String,
}

impl<'a> SchemaValidator<'a> {
    fn new(schema: &'a Structural, path: &str) -> Self {
        SchemaValidator {
            schema,
            path: path.to_string(),
        }
    }

    fn types(&self) -> Vec<&'static str> {
        if self.schema.extensions.int_or_string {
            return vec!["integer", "string"];
        }
        match self.schema.generic.type_.as_str() {
            "" => vec![],
            "object" => vec!["object"],
            "array" => vec!["array"],
            "string" => vec!["string"],
            "integer" => vec!["integer"],
            "number" => vec!["number"],
            "boolean" => vec!["boolean"],
            "null" => vec!["null"],
            _ => vec!["<unknown>"],
        }
    }

    fn format(&self) -> &str {
        formats::effective_format(&self.schema.value_validation.format)
    }

    fn validate(&self, data: &Value) -> Outcome {
        let mut result = Outcome::default();
        let Some(kind) = kind_of(data) else {
            result.merge(self.validate_type(data));
            result.merge(self.validate_enum(data));
            return result;
        };
        let steps: [(bool, Step<'a>); 8] = [
            (self.type_applies(), Self::validate_type),
            (true, Self::validate_schema_props),
            (kind == Kind::String, Self::validate_string),
            (
                kind == Kind::String && !self.format().is_empty(),
                Self::validate_format,
            ),
            (
                matches!(kind, Kind::Int | Kind::Float),
                Self::validate_number,
            ),
            (kind == Kind::Slice, Self::validate_slice),
            (true, Self::validate_enum),
            (kind == Kind::Map, Self::validate_object),
        ];
        for (applies, step) in steps {
            if applies {
                result.merge(step(self, data));
                result.match_count += 1;
            }
        }
        result.match_count += 1;
        result
    }

    fn child(&self, schema: &'a Structural, path: String) -> SchemaValidator<'a> {
        SchemaValidator { schema, path }
    }

    // -- type ---------------------------------------------------------------

    fn type_applies(&self) -> bool {
        !self.types().is_empty() || !self.format().is_empty()
    }

    fn invalid_type(&self, type_name: &str, value: &str) -> Outcome {
        let message = format!(
            "{} in {IN} must be of type {type_name}: {}",
            self.path,
            crate::validation::go_quote(value)
        );
        Outcome::error(OpenAPIError::new(
            Code::InvalidType,
            &self.path,
            Some(Value::String(value.to_string())),
            message,
        ))
    }

    fn validate_type(&self, data: &Value) -> Outcome {
        let types = self.types();
        let format = self.format();
        let Some(kind) = kind_of(data) else {
            if !types.is_empty() && !types.contains(&"null") && !self.schema.generic.nullable {
                return self.invalid_type(&types.join(","), "null");
            }
            return Outcome::default();
        };
        let (sch_type, data_format) = match kind {
            Kind::Bool => ("boolean", ""),
            Kind::String => ("string", ""),
            Kind::Int => ("integer", "int64"),
            Kind::Float => ("number", "float64"),
            Kind::Slice => ("array", ""),
            Kind::Map => ("object", ""),
        };
        let is_float_int = kind == Kind::Float
            && data.as_f64().is_some_and(is_json_integer)
            && types.contains(&"integer");
        let is_int_float = kind == Kind::Int && types.contains(&"number");
        let matches_type = types.contains(&sch_type) || is_float_int || is_int_float;
        let stringish = matches!(kind, Kind::String | Kind::Slice);
        if !(stringish || format.is_empty() || matches_type || data_format == format) {
            return self.invalid_type(format, data_format);
        }
        let numeric = types.contains(&"number") || types.contains(&"integer");
        if !numeric && !format.is_empty() && stringish {
            return Outcome {
                errors: vec![],
                match_count: 1,
            };
        }
        if !matches_type {
            return self.invalid_type(&types.join(","), sch_type);
        }
        Outcome {
            errors: vec![],
            match_count: 1,
        }
    }

    // -- allOf / anyOf / oneOf / not ----------------------------------------

    fn validate_schema_props(&self, data: &Value) -> Outcome {
        let vv = &self.schema.value_validation;
        let mut main = Outcome::default();
        if !vv.any_of.is_empty() {
            self.validate_any_of(data, &mut main);
        }
        if !vv.one_of.is_empty() {
            self.validate_one_of(data, &mut main);
        }
        if !vv.all_of.is_empty() {
            self.validate_all_of(data, &mut main);
        }
        let not_validated =
            |not: &Structural| self.child(not, self.path.clone()).validate(data).is_valid();
        if vv.not.as_deref().is_some_and(not_validated) {
            main.add(OpenAPIError::Composite(format!(
                "{} must not validate the schema (not)",
                quote(&self.path)
            )));
        }
        main.match_count += 1;
        main
    }

    fn validate_any_of(&self, data: &Value, main: &mut Outcome) {
        let mut best: Option<Outcome> = None;
        let mut first_success: Option<Outcome> = None;
        for s in &self.schema.value_validation.any_of {
            let result = self.child(s, self.path.clone()).validate(data);
            if result.is_valid() {
                best = None;
                first_success = Some(result);
                break;
            }
            if best
                .as_ref()
                .is_none_or(|b| result.match_count > b.match_count)
            {
                best = Some(result);
            }
        }
        if first_success.is_none() {
            main.add(OpenAPIError::Composite(format!(
                "{} must validate at least one schema (anyOf)",
                quote(&self.path)
            )));
        }
        if let Some(r) = best.or(first_success) {
            main.merge(r);
        }
    }

    fn validate_one_of(&self, data: &Value, main: &mut Outcome) {
        let mut best: Option<Outcome> = None;
        let mut first_success: Option<Outcome> = None;
        let mut validated = 0;
        for s in &self.schema.value_validation.one_of {
            let result = self.child(s, self.path.clone()).validate(data);
            if result.is_valid() {
                validated += 1;
                best = None;
                if first_success.is_none() {
                    first_success = Some(result);
                }
                continue;
            }
            if validated == 0
                && best
                    .as_ref()
                    .is_none_or(|b| result.match_count > b.match_count)
            {
                best = Some(result);
            }
        }
        if validated != 1 {
            let additional = if validated == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {validated} valid alternatives")
            };
            main.add(OpenAPIError::Composite(format!(
                "{} must validate one and only one schema (oneOf). {additional}",
                quote(&self.path)
            )));
            if let Some(b) = best {
                main.merge(b);
            }
        } else if let Some(s) = first_success {
            main.merge(s);
        }
    }

    fn validate_all_of(&self, data: &Value, main: &mut Outcome) {
        let all_of = &self.schema.value_validation.all_of;
        let mut validated = 0;
        for s in all_of {
            let result = self.child(s, self.path.clone()).validate(data);
            if result.is_valid() {
                validated += 1;
            }
            main.merge(result);
        }
        if validated != all_of.len() {
            let additional = if validated == 0 {
                ". None validated"
            } else {
                ""
            };
            main.add(OpenAPIError::Composite(format!(
                "{} must validate all the schemas (allOf){additional}",
                quote(&self.path)
            )));
        }
    }

    // -- strings --------------------------------------------------------------

    fn validate_string(&self, data: &Value) -> Outcome {
        let Some(s) = data.as_str() else {
            return Outcome::default();
        };
        let vv = &self.schema.value_validation;
        let len = s.chars().count() as i64;
        let path = &self.path;
        let value = Some(data.clone());
        if let Some(max) = vv.max_length.filter(|max| len > *max) {
            let msg = format!("{path} in {IN} should be at most {max} chars long");
            return Outcome::error(
                OpenAPIError::new(Code::TooLong, path, value, msg).with_valid(max),
            );
        }
        if let Some(min) = vv.min_length.filter(|min| len < *min) {
            let msg = format!("{path} in {IN} should be at least {min} chars long");
            return Outcome::error(
                OpenAPIError::new(Code::TooShort, path, value, msg).with_valid(min),
            );
        }
        if !vv.pattern.is_empty() {
            let shown = match regex_cache::compile(&vv.pattern) {
                Ok(re) if re.is_match(s) => return Outcome::default(),
                Ok(_) => vv.pattern.clone(),
                Err(e) => format!("{}, but pattern is invalid: {e}", vv.pattern),
            };
            let msg = format!("{path} in {IN} should match '{shown}'");
            return Outcome::error(OpenAPIError::new(Code::Pattern, path, value, msg));
        }
        Outcome::default()
    }

    fn validate_format(&self, data: &Value) -> Outcome {
        let format = self.format();
        match data.as_str() {
            Some(s) if !formats::is_valid(format, s) => self.invalid_type(format, s),
            _ => Outcome::default(),
        }
    }

    // -- numbers --------------------------------------------------------------

    fn validate_number(&self, data: &Value) -> Outcome {
        let Value::Number(n) = data else {
            return Outcome::default();
        };
        let n = go_number(n);
        let vv = &self.schema.value_validation;
        let mut result = Outcome::default();
        let multiple = vv
            .multiple_of
            .and_then(|factor| self.check_multiple_of(n, factor));
        let min = vv
            .minimum
            .and_then(|min| self.check_bound(n, min, vv.exclusive_minimum, Bound::Min));
        let max = vv
            .maximum
            .and_then(|max| self.check_bound(n, max, vv.exclusive_maximum, Bound::Max));
        for e in [multiple, min, max].into_iter().flatten() {
            result.add(e);
        }
        result.match_count += 1;
        result
    }

    fn check_multiple_of(&self, n: GoNumber, factor: f64) -> Option<OpenAPIError> {
        let path = &self.path;
        let (ok, shown_factor) = match n {
            GoNumber::Int(i) => {
                let f = factor as i64;
                if f <= 0 {
                    return Some(self.multiple_of_must_be_positive(f.to_string(), Value::from(f)));
                }
                (i % f == 0, f.to_string())
            }
            GoNumber::Float(x) => {
                if factor <= 0.0 {
                    return Some(
                        self.multiple_of_must_be_positive(go_float(factor), num_value(factor)),
                    );
                }
                let mult = if factor < 1.0 {
                    1.0 / factor * x
                } else {
                    x / factor
                };
                (is_json_integer(mult), go_float(factor))
            }
        };
        if ok {
            return None;
        }
        let msg = format!("{path} in {IN} should be a multiple of {shown_factor}");
        Some(OpenAPIError::new(
            Code::MultipleOf,
            path,
            Some(number_value(n)),
            msg,
        ))
    }

    fn multiple_of_must_be_positive(&self, shown: String, factor: Value) -> OpenAPIError {
        let msg = format!(
            "factor MultipleOf declared for {} must be positive: {shown}",
            self.path
        );
        OpenAPIError::new(
            Code::MultipleOfMustBePositive,
            &self.path,
            Some(factor),
            msg,
        )
    }

    fn check_bound(
        &self,
        n: GoNumber,
        bound: f64,
        exclusive: bool,
        which: Bound,
    ) -> Option<OpenAPIError> {
        let (violated, shown) = match n {
            GoNumber::Int(i) => {
                let b = bound as i64;
                (which.violated(exclusive, i.cmp(&b)), b.to_string())
            }
            GoNumber::Float(x) => {
                let ord = x.partial_cmp(&bound).unwrap_or(std::cmp::Ordering::Equal);
                (which.violated(exclusive, ord), go_float(bound))
            }
        };
        if !violated {
            return None;
        }
        let path = &self.path;
        let relation = which.message(exclusive);
        let msg = format!("{path} in {IN} should be {relation} {shown}");
        Some(OpenAPIError::new(
            which.code(),
            path,
            Some(number_value(n)),
            msg,
        ))
    }

    // -- arrays ---------------------------------------------------------------

    fn validate_slice(&self, data: &Value) -> Outcome {
        let Some(items) = data.as_array() else {
            return Outcome::default();
        };
        let mut result = Outcome::default();
        if let Some(item_schema) = &self.schema.items {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{}[{i}]", self.path);
                result.merge(self.child(item_schema, path).validate(item));
            }
        }
        let vv = &self.schema.value_validation;
        let size = items.len() as i64;
        let path = &self.path;
        if let Some(min) = vv.min_items.filter(|min| size < *min) {
            let msg = format!("{path} in {IN} should have at least {min} items");
            result.add(
                OpenAPIError::new(Code::MinItems, path, Some(Value::from(size)), msg)
                    .with_valid(min),
            );
        }
        if let Some(max) = vv.max_items.filter(|max| size > *max) {
            let msg = format!("{path} in {IN} should have at most {max} items");
            result.add(
                OpenAPIError::new(Code::MaxItems, path, Some(Value::from(size)), msg)
                    .with_valid(max),
            );
        }
        if vv.unique_items && has_duplicates(items) {
            let msg = format!("{path} in {IN} shouldn't contain duplicates");
            result.add(OpenAPIError::new(Code::Unique, path, None, msg));
        }
        result.match_count += 1;
        result
    }

    // -- enum -------------------------------------------------------------------

    fn validate_enum(&self, data: &Value) -> Outcome {
        let values = &self.schema.value_validation.enum_;
        if values.is_empty() || values.iter().any(|e| enum_matches(data, e)) {
            return Outcome::default();
        }
        let rendered: Vec<String> = values.iter().map(super::gofmt::go_value).collect();
        let msg = format!(
            "{} in {IN} should be one of [{}]",
            self.path,
            rendered.join(" ")
        );
        let value = if data.is_null() {
            None
        } else {
            Some(data.clone())
        };
        Outcome::error(OpenAPIError::Validation {
            code: Code::Enum,
            name: self.path.clone(),
            value,
            valid: None,
            values: values.clone(),
            message: msg,
        })
    }

    // -- objects ----------------------------------------------------------------

    fn validate_object(&self, data: &Value) -> Outcome {
        let Some(map) = data.as_object() else {
            return Outcome::default();
        };
        let mut result = Outcome::default();
        self.check_property_counts(map, &mut result);
        self.check_additional_properties(map, &mut result);
        for (name, prop) in &self.schema.properties {
            if let Some(v) = map.get(name) {
                let path = if self.path.is_empty() {
                    name.clone()
                } else {
                    format!("{}.{name}", self.path)
                };
                result.merge(self.child(prop, path).validate(v));
            }
        }
        for key in &self.schema.value_validation.required {
            if !map.contains_key(key) {
                let name = format!("{}.{key}", self.path);
                let msg = format!("{name} in {IN} is required");
                result.add(OpenAPIError::new(Code::Required, &name, None, msg));
            }
        }
        result
    }

    fn check_property_counts(&self, map: &Map<String, Value>, result: &mut Outcome) {
        let vv = &self.schema.value_validation;
        let n = map.len() as i64;
        let path = &self.path;
        if let Some(min) = vv.min_properties.filter(|min| n < *min) {
            let msg = format!("{path} in {IN} should have at least {min} properties");
            result.add(
                OpenAPIError::new(Code::TooFewProperties, path, Some(Value::from(n)), msg)
                    .with_valid(min),
            );
        }
        if let Some(max) = vv.max_properties.filter(|max| n > *max) {
            let msg = format!("{path} in {IN} should have at most {max} properties");
            result.add(
                OpenAPIError::new(Code::TooManyProperties, path, Some(Value::from(n)), msg)
                    .with_valid(max),
            );
        }
    }

    fn check_additional_properties(&self, map: &Map<String, Value>, result: &mut Outcome) {
        let Some(additional) = &self.schema.additional_properties else {
            return;
        };
        let unknown = map
            .iter()
            .filter(|(k, _)| !self.schema.properties.contains_key(k.as_str()));
        if !additional.allows() {
            for (k, _) in unknown {
                let msg = format!("{}.{k} in {IN} is a forbidden property", self.path);
                let value = Some(Value::String(k.clone()));
                result.add(OpenAPIError::new(
                    Code::UnallowedProperty,
                    &self.path,
                    value,
                    msg,
                ));
            }
            return;
        }
        if let Some(schema) = additional.schema() {
            for (k, v) in unknown {
                let path = format!("{}.{k}", self.path);
                result.merge(self.child(schema, path).validate(v));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Bound {
    Min,
    Max,
}

impl Bound {
    fn violated(self, exclusive: bool, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match (self, exclusive) {
            (Bound::Max, false) => ord == Greater,
            (Bound::Max, true) => ord != Less,
            (Bound::Min, false) => ord == Less,
            (Bound::Min, true) => ord != Greater,
        }
    }

    fn message(self, exclusive: bool) -> &'static str {
        match (self, exclusive) {
            (Bound::Max, false) => "less than or equal to",
            (Bound::Max, true) => "less than",
            (Bound::Min, false) => "greater than or equal to",
            (Bound::Min, true) => "greater than",
        }
    }

    fn code(self) -> Code {
        match self {
            Bound::Max => Code::Max,
            Bound::Min => Code::Min,
        }
    }
}

fn quote(s: &str) -> String {
    crate::validation::go_quote(s)
}

fn number_value(n: GoNumber) -> Value {
    match n {
        GoNumber::Int(i) => Value::from(i),
        GoNumber::Float(f) => num_value(f),
    }
}

fn num_value(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// go-openapi's swag.IsFloat64AJSONInteger.
fn is_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_992.0; // 2^53
    if !f.is_finite() || f.abs() > MAX_JSON_FLOAT {
        return false;
    }
    if f == f.trunc() {
        return true;
    }
    let diff = (f - f.round()).abs();
    diff < 1e-9 * f.abs().max(1.0)
}

/// Whether `data` equals enum value `e` after Go's reflect conversion of the
/// data to the enum value's type (numbers convert between int64 and float64).
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (data, e) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(e)) => match (go_number(d), go_number(e)) {
            (GoNumber::Float(x), GoNumber::Int(i)) => x.trunc() as i64 == i,
            (d, e) => d.as_f64() == e.as_f64(),
        },
        _ => data == e,
    }
}

fn has_duplicates(items: &[Value]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].iter().any(|b| a == b))
}
