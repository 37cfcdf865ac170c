//! The subset of Kubernetes JSONPath that printer columns, scale paths and selectable fields
//! use: `.a.b`, `['a.b']`, `[0]`, `[*]`, `.*` and filters such as `[?(@.type=="Ready")]`.

use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    /// `[?(@.path == "value")]` (or `!=`), or `[?(@.path)]` for "has the field".
    Filter {
        path: String,
        op: Option<(bool, Value)>,
    },
}

/// The values `path` selects in `obj`, in order (empty when nothing matches).
pub fn evaluate(obj: &Value, path: &str) -> Result<Vec<Value>, String> {
    let steps = parse(path)?;
    let mut current = vec![obj.clone()];
    for step in &steps {
        current = current.iter().flat_map(|v| apply(v, step)).collect();
    }
    Ok(current)
}

fn apply(value: &Value, step: &Step) -> Vec<Value> {
    match (step, value) {
        (Step::Field(name), Value::Object(map)) => map.get(name).cloned().into_iter().collect(),
        (Step::Index(i), Value::Array(items)) => {
            let index = if *i < 0 { items.len() as i64 + i } else { *i };
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .into_iter()
                .collect()
        }
        (Step::Wildcard, Value::Array(items)) => items.clone(),
        (Step::Wildcard, Value::Object(map)) => map.values().cloned().collect(),
        (Step::Filter { path, op }, Value::Array(items)) => items
            .iter()
            .filter(|item| {
                let found = evaluate(item, path).unwrap_or_default();
                match op {
                    None => !found.is_empty(),
                    Some((equal, want)) => {
                        found.first().is_some_and(|v| loosely_equal(v, want)) == *equal
                    }
                }
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let chars: Vec<char> = path.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                match name.as_str() {
                    "" => {}
                    "*" => steps.push(Step::Wildcard),
                    _ => steps.push(Step::Field(name)),
                }
            }
            '[' => {
                let end =
                    matching_bracket(&chars, i).ok_or_else(|| format!("unclosed [ in {path}"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(bracket(inner.trim())?);
                i = end + 1;
            }
            // A path may start without a dot (`spec.replicas`).
            _ if i == 0 => {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
            c => return Err(format!("unexpected {c:?} in {path}")),
        }
    }
    Ok(steps)
}

fn matching_bracket(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (i, c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(*c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

fn bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name.to_string()));
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let filter = filter.trim();
        for (op, equal) in [("==", true), ("!=", false)] {
            if let Some((left, right)) = filter.split_once(op) {
                let path = left
                    .trim()
                    .strip_prefix('@')
                    .ok_or_else(|| format!("bad filter {filter}"))?;
                let right = right.trim();
                let want = match unquote(right) {
                    Some(s) => Value::String(s.to_string()),
                    None => serde_json::from_str(right)
                        .map_err(|_| format!("bad filter value {right}"))?,
                };
                return Ok(Step::Filter {
                    path: path.to_string(),
                    op: Some((equal, want)),
                });
            }
        }
        let path = filter
            .strip_prefix('@')
            .ok_or_else(|| format!("bad filter {filter}"))?;
        return Ok(Step::Filter {
            path: path.to_string(),
            op: None,
        });
    }
    inner
        .parse()
        .map(Step::Index)
        .map_err(|_| format!("unsupported JSONPath element [{inner}]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_fields_indexes_wildcards_and_filtered_items() {
        let obj = json!({
            "spec": {"replicas": 3, "labels": {"a.b/c": "x"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]},
        });
        assert_eq!(evaluate(&obj, ".spec.replicas").unwrap(), [json!(3)]);
        assert_eq!(evaluate(&obj, "spec.replicas").unwrap(), [json!(3)]);
        assert_eq!(
            evaluate(&obj, "{.spec.labels['a.b/c']}").unwrap(),
            [json!("x")]
        );
        assert_eq!(
            evaluate(&obj, ".status.conditions[1].type").unwrap(),
            [json!("Synced")]
        );
        assert_eq!(
            evaluate(&obj, ".status.conditions[-1].type").unwrap(),
            [json!("Synced")]
        );
        assert_eq!(
            evaluate(&obj, ".status.conditions[*].status").unwrap(),
            [json!("True"), json!("False")]
        );
        assert_eq!(
            evaluate(&obj, r#".status.conditions[?(@.type=="Ready")].status"#).unwrap(),
            [json!("True")]
        );
        assert!(evaluate(&obj, ".spec.missing").unwrap().is_empty());
        assert!(evaluate(&obj, ".spec[").is_err());
    }
}
