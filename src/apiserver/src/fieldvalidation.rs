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

/// Paths of keys that appear twice in the same JSON object of `body` (`spec.replicas`).
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let _ = serde::de::DeserializeSeed::deserialize(
        PathSeed {
            path: String::new(),
            found: &mut found,
        },
        &mut deserializer,
    );
    found
}

/// Walks a JSON document, recording duplicate keys with their paths.
struct PathSeed<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for PathSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PathSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) && !self.found.contains(&path) {
                self.found.push(path.clone());
            }
            map.next_value_seed(PathSeed {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(PathSeed {
                path: format!("{}[{index}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Upstream's wording for unknown fields, one entry per field.
/// The first key a YAML body repeats within one mapping, in the words of upstream's strict
/// YAML decoder: `line 9: key "foo" already set in map`. Block-style mappings are scanned
/// line by line (what manifests use); a JSON body is checked as JSON.
pub fn yaml_duplicate_key(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if text.trim_start().starts_with('{') {
        let field = duplicate_fields(body).into_iter().next()?;
        let key = field.rsplit('.').next().unwrap_or(&field).to_string();
        return Some(format!("line 1: key {key:?} already set in map"));
    }
    // Open mappings, innermost last: their indentation and the keys seen so far.
    let mut open: Vec<(usize, std::collections::HashSet<String>)> = Vec::new();
    // Inside a block scalar (`key: |`): lines indented deeper than its key are text.
    let mut block_scalar: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let mut indent = line.len() - trimmed.len();
        if let Some(key_indent) = block_scalar {
            if trimmed.is_empty() || indent > key_indent {
                continue;
            }
            block_scalar = None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with("---") {
            open.clear();
            continue;
        }
        let mut content = trimmed;
        // Each `- ` starts a list item, which starts a new mapping.
        while let Some(rest) = content
            .strip_prefix("- ")
            .or_else(|| (content == "-").then_some(""))
        {
            let item = rest.trim_start();
            indent += content.len() - item.len();
            content = item;
            while open.last().is_some_and(|(i, _)| *i >= indent) {
                open.pop();
            }
            open.push((indent, Default::default()));
        }
        let Some((key, value)) = yaml_key(content) else {
            continue;
        };
        while open.last().is_some_and(|(i, _)| *i > indent) {
            open.pop();
        }
        if open.last().is_none_or(|(i, _)| *i < indent) {
            open.push((indent, Default::default()));
        }
        let (_, keys) = open.last_mut().expect("a mapping was pushed");
        if !keys.insert(key.clone()) {
            return Some(format!(
                "line {}: key {key:?} already set in map",
                index + 1
            ));
        }
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar = Some(indent);
        }
    }
    None
}

/// The key and the rest of a `key: value` line, if it is one.
fn yaml_key(content: &str) -> Option<(String, &str)> {
    if let Some(quote) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = content[1..].find(quote)? + 1;
        let rest = content[end + 1..].strip_prefix(':')?;
        return Some((content[1..end].to_string(), rest));
    }
    if content.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    let colon = content
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| content[i + 1..].is_empty() || content[i + 1..].starts_with([' ', '\t']))?;
    let key = content[..colon].trim_end();
    (!key.contains(" #")).then(|| (key.to_string(), &content[colon + 1..]))
}

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
    fn duplicate_keys_are_found_with_their_paths() {
        let body = br#"{"a": 1, "spec": {"x": 1, "list": [{"k": 1, "k": 2}], "x": 2}, "a": 3}"#;
        assert_eq!(duplicate_fields(body), ["spec.list[0].k", "spec.x", "a"]);
        assert!(duplicate_fields(br#"{"a": {"b": 1}, "c": {"b": 2}}"#).is_empty());
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

#[cfg(test)]
mod yaml_tests {
    #[test]
    fn yaml_duplicates_are_named_with_their_line() {
        let body = b"\napiVersion: v1\nkind: X\nspec:\n  foo: 1\n  foo: 2\n";
        assert_eq!(
            super::yaml_duplicate_key(body).as_deref(),
            Some("line 6: key \"foo\" already set in map")
        );
        assert_eq!(super::yaml_duplicate_key(b"a: 1\nb: 2\n"), None);
        let manifest = b"spec:\n  containers:\n  - name: a\n    image: x\n  - name: b\n    image: y\n    args: |\n      name: 1\n      name: 2\n  name: n\n";
        assert_eq!(super::yaml_duplicate_key(manifest), None);
        let repeated = b"spec:\n  containers:\n  - name: a\n    name: b\n";
        assert_eq!(
            super::yaml_duplicate_key(repeated).as_deref(),
            Some("line 4: key \"name\" already set in map")
        );
        assert_eq!(
            super::yaml_duplicate_key(br#"{"a":1,"a":2}"#).as_deref(),
            Some("line 1: key \"a\" already set in map")
        );
    }
}
