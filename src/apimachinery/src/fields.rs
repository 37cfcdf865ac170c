//! Field selectors (k8s.io/apimachinery/pkg/fields/selector.go): the
//! `?fieldSelector=` syntax, `field=value`/`field==value`/`field!=value` terms
//! joined by commas, with `\`, `,` and `=` in values escaped by a backslash.

use std::fmt;

/// How a field is compared with the requirement's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    fn matches(&self, actual: &str) -> bool {
        match self.op {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A field selector: the AND of its requirements. Empty selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// A selector matching everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses e.g. `metadata.name=foo,status.phase!=Running`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = split_terms(s);
        // Upstream sorts the raw terms, which fixes the order of requirements.
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, raw_value)) = split_term(term) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            let value = unescape_value(raw_value)?;
            // A bare "=" term is dropped, as upstream's identity transform does.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                op,
                value,
            });
        }
        Ok(Self { requirements })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every requirement holds; `get` returns a field's value, and a
    /// field it knows nothing about compares as the empty string (as fields.Set does).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(&get(&r.field).unwrap_or_default()))
    }

    /// The value the selector requires for `field` via an `=`/`==` term, if any.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.op == FieldOperator::Equals && r.field == field)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<String> = self
            .requirements
            .iter()
            .map(FieldRequirement::to_string)
            .collect();
        f.write_str(&terms.join(","))
    }
}

/// Escapes `\`, `,` and `=` so a literal can be used as a selector value.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`], rejecting unknown escapes and unescaped `,`/`=`.
pub fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Upstream prints the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Splits on commas that are not backslash-escaped; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator; `!=` and `==` win over `=` at the same spot.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::Equals),
        ("=", FieldOperator::Equals),
    ];
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in OPERATORS {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn getter(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |f| pairs.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone())
    }

    #[test]
    fn terms_are_parsed_with_all_three_operators() {
        let s = FieldSelector::parse("b==2,a=1,c!=3").unwrap();
        let ops: Vec<(&str, FieldOperator, &str)> = s
            .requirements()
            .iter()
            .map(|r| (r.field.as_str(), r.op, r.value.as_str()))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("a", FieldOperator::Equals, "1"),
                ("b", FieldOperator::Equals, "2"),
                ("c", FieldOperator::NotEquals, "3"),
            ]
        );
        assert_eq!(s.to_string(), "a=1,b=2,c!=3");
    }

    #[test]
    fn terms_without_an_operator_are_rejected_with_upstream_message() {
        assert_eq!(
            FieldSelector::parse("a=1,b").unwrap_err(),
            "invalid selector: 'a=1,b'; can't understand 'b'"
        );
    }

    #[test]
    fn escaped_commas_and_equals_stay_in_the_value() {
        let s = FieldSelector::parse(r"a=x\,y\=z\\").unwrap();
        assert_eq!(s.exact_match("a"), Some(r"x,y=z\"));
        assert_eq!(s.to_string(), r"a=x\,y\=z\\");
    }

    #[test]
    fn bad_escapes_are_rejected_with_upstream_messages() {
        assert_eq!(
            FieldSelector::parse(r"a=\x").unwrap_err(),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            FieldSelector::parse(r"a=x\").unwrap_err(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err(),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn empty_terms_and_bare_equals_select_everything() {
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",,=").unwrap().is_empty());
    }

    #[test]
    fn missing_fields_compare_as_the_empty_string() {
        let get = getter(&[("status.phase", "Running")]);
        assert!(
            FieldSelector::parse("status.phase=Running")
                .unwrap()
                .matches(&get)
        );
        assert!(
            FieldSelector::parse("spec.nodeName=")
                .unwrap()
                .matches(&get)
        );
        assert!(
            FieldSelector::parse("spec.nodeName!=x")
                .unwrap()
                .matches(&get)
        );
        assert!(
            !FieldSelector::parse("status.phase!=Running")
                .unwrap()
                .matches(&get)
        );
    }

    #[test]
    fn exact_match_ignores_not_equals_terms() {
        let s = FieldSelector::parse("metadata.name!=a,metadata.namespace=b").unwrap();
        assert_eq!(s.exact_match("metadata.name"), None);
        assert_eq!(s.exact_match("metadata.namespace"), Some("b"));
    }
}
