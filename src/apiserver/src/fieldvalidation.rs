//! Server-side field validation (`fieldValidation=Ignore|Warn|Strict`): unknown fields are the
//! ones the typed decode dropped, found by comparing the body with its decoded form.

use den_apimachinery::status::ApiError;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    /// Upstream's default: unknown fields are dropped with a warning.
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(&format!(
                "invalid fieldValidation: {other}, must be one of Ignore, Warn, or Strict"
            ))),
        }
    }
}

/// Paths (`spec.containers[0].bogus`) of the non-null fields of `input` missing from `decoded`.
pub fn unknown_fields(input: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, decoded, String::new(), &mut out);
    out
}

fn walk(input: &Value, decoded: &Value, path: String, out: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    Some(decoded_value) => walk(value, decoded_value, child, out),
                    None if value.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (index, (value, decoded_value)) in a.iter().zip(b).enumerate() {
                walk(value, decoded_value, format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

/// Upstream's wording for unknown fields, one entry per field.
pub fn describe(fields: &[String]) -> Vec<String> {
    fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_dropped_by_the_typed_decode_are_reported_with_their_paths() {
        let input = json!({"spec": {"containers": [{"name": "a", "bogus": 1}], "extra": {"x": 1}, "gone": null}});
        let decoded = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            unknown_fields(&input, &decoded),
            ["spec.containers[0].bogus", "spec.extra"]
        );
    }

    #[test]
    fn only_the_three_directives_are_accepted() {
        assert_eq!(FieldValidation::parse(None).unwrap(), FieldValidation::Warn);
        assert_eq!(
            FieldValidation::parse(Some("Strict")).unwrap(),
            FieldValidation::Strict
        );
        assert_eq!(
            FieldValidation::parse(Some("strict")).unwrap_err().code,
            400
        );
    }
}
