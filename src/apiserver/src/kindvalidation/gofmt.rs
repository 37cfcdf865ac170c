//! Go's `%#v` of the typed values upstream's field errors carry (`map[string]string{…}`,
//! `[]string{…}`, `v1.LabelSelector{…}`), rendered from the JSON form of the value.

use den_apimachinery::validation::{BadValue, go_quote};
use serde_json::Value;

/// `map[string]string{"a":"b"}`; a missing map is Go's nil map.
pub fn string_map(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        None => "map[string]string(nil)".to_string(),
        Some(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let pairs: Vec<String> = keys
                .iter()
                .map(|k| {
                    let value = map[k.as_str()].as_str().unwrap_or("");
                    format!("{}:{}", go_quote(k), go_quote(value))
                })
                .collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
    }
}

/// `[]<elem>{"a", "b"}`; a missing list is Go's nil slice.
pub fn typed_string_slice(elem: &str, v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => format!("[]{elem}(nil)"),
        Some(items) => {
            let quoted: Vec<String> = items
                .iter()
                .map(|i| go_quote(i.as_str().unwrap_or("")))
                .collect();
            format!("[]{elem}{{{}}}", quoted.join(", "))
        }
    }
}

/// `[]string{"a", "b"}`
pub fn string_slice(v: Option<&Value>) -> String {
    typed_string_slice("string", v)
}

/// A `*metav1.LabelSelector` as a field error shows it: the struct, or `"null"` when nil.
pub fn label_selector(v: Option<&Value>) -> BadValue {
    let Some(sel) = v.filter(|s| !s.is_null()) else {
        return BadValue::Str("null".into());
    };
    let expressions = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(exprs) => {
            let items: Vec<String> = exprs
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(str_of(e, "key")),
                        go_quote(str_of(e, "operator")),
                        string_slice(e.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    BadValue::Raw(format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}",
        string_map(sel.get("matchLabels"))
    ))
}

/// An `intstr.IntOrString` value.
pub fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        Some(Value::Number(n)) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            n.as_i64().unwrap_or(0)
        ),
        _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

/// A struct of string fields, `pkg.Type{Field:"v", …}`, from `(GoName, jsonName)` pairs.
pub fn string_struct(type_name: &str, v: &Value, fields: &[(&str, &str)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(go, json)| format!("{go}:{}", go_quote(str_of(v, json))))
        .collect();
    format!("{type_name}{{{}}}", parts.join(", "))
}

/// A `*int32`/`*int64` value: the number, or `"null"` when nil.
pub fn optional_int(v: Option<&Value>) -> BadValue {
    match v.and_then(Value::as_i64) {
        Some(i) => BadValue::Int(i),
        None => BadValue::Str("null".into()),
    }
}

/// A `*string` value: the quoted string, or `"null"` when nil.
pub fn optional_str(v: Option<&Value>) -> BadValue {
    match v.and_then(Value::as_str) {
        Some(s) => BadValue::Str(s.into()),
        None => BadValue::Str("null".into()),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_render_sorted_without_spaces_around_colons() {
        assert_eq!(
            string_map(Some(&json!({"b": "2", "a": "x"}))),
            r#"map[string]string{"a":"x", "b":"2"}"#
        );
        assert_eq!(string_map(None), "map[string]string(nil)");
        assert_eq!(string_map(Some(&json!({}))), "map[string]string{}");
    }

    #[test]
    fn selectors_render_as_go_structs() {
        let sel = json!({"matchLabels": {"app": "x"}});
        assert_eq!(
            label_selector(Some(&sel)),
            BadValue::Raw(
                r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
                    .into()
            )
        );
        assert_eq!(label_selector(None), BadValue::Str("null".into()));
    }

    #[test]
    fn int_or_string_shows_its_type_tag() {
        assert_eq!(
            int_or_string(Some(&json!("25%"))),
            r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}"#
        );
        assert_eq!(
            int_or_string(Some(&json!(3))),
            r#"intstr.IntOrString{Type:0, IntVal:3, StrVal:""}"#
        );
    }
}
