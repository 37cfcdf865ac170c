//! Label selectors (k8s.io/apimachinery/pkg/labels/selector.go): the string
//! syntax used by `?labelSelector=` and the metav1.LabelSelector object form.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::validation::{
    FieldError, aggregate_messages, go_string_slice, is_qualified_name, is_valid_label_value,
};

/// A requirement operator; `as_str` gives upstream's selection.Operator spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// The binary operators, in the order upstream lists them in parse errors.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

/// One `key <op> values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement (upstream's NewRequirement without a field path).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let mut errs = Vec::new();
        if let Some(e) = key_error(key, "key") {
            errs.push(e);
        }
        errs.extend(operator_value_errors(operator, &values));
        for (i, value) in values.iter().enumerate() {
            let msgs = is_valid_label_value(value);
            if !msgs.is_empty() {
                let field = format!("values[{i}][{key}]");
                errs.push(
                    FieldError::invalid(&field, str_value(value), &msgs.join("; ")).to_string(),
                );
            }
        }
        if !errs.is_empty() {
            return Err(aggregate_messages(&errs));
        }
        Ok(Self {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether this requirement holds for the given labels.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let actual = labels.get(&self.key).map(|v| v.as_str().unwrap_or(""));
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                actual.is_some_and(has_value)
            }
            Operator::NotIn | Operator::NotEquals => !actual.is_some_and(has_value),
            Operator::Exists => actual.is_some(),
            Operator::DoesNotExist => actual.is_none(),
            Operator::GreaterThan | Operator::LessThan => self.matches_integer(actual),
        }
    }

    fn matches_integer(&self, actual: Option<&str>) -> bool {
        let Some(actual) = actual.and_then(|a| a.parse::<i64>().ok()) else {
            return false;
        };
        let [wanted] = self.values.as_slice() else {
            return false;
        };
        let Ok(wanted) = wanted.parse::<i64>() else {
            return false;
        };
        match self.operator {
            Operator::GreaterThan => actual > wanted,
            _ => actual < wanted,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
        };
        // Values are printed sorted so the string form is canonical.
        let mut values = self.values.clone();
        values.sort();
        let values = values.join(",");
        if parens {
            write!(f, "{op}({values})")
        } else {
            write!(f, "{op}{values}")
        }
    }
}

/// A label selector: the AND of its requirements, kept sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// Set only for the selector of a null metav1.LabelSelector, which selects nothing.
    nothing: bool,
}

impl LabelSelector {
    /// A selector matching every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector matching no object.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the string syntax, e.g. `app=web,tier in (a,b),!legacy`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Parser::new(s).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Converts a metav1.LabelSelector object (`matchLabels` + `matchExpressions`).
    /// JSON null selects nothing; an empty object selects everything.
    pub fn from_label_selector_json(v: &Value) -> Result<Self, String> {
        let obj = match v {
            Value::Null => return Ok(Self::nothing()),
            Value::Object(obj) => obj,
            other => return Err(format!("label selector must be an object, got {other}")),
        };
        let mut requirements = Vec::new();
        if let Some(match_labels) = obj.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in match_labels {
                let value = value.as_str().unwrap_or("").to_string();
                requirements.push(Requirement::new(key, Operator::Equals, vec![value])?);
            }
        }
        if let Some(exprs) = obj.get("matchExpressions").and_then(Value::as_array) {
            for expr in exprs {
                requirements.push(expression_requirement(expr)?);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether the selector places no restriction (matches everything).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether all requirements hold for `labels` (an object's metadata.labels).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The single value `label` must have, if the selector pins it (upstream's RequiresExactMatch).
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(Requirement::to_string)
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn expression_requirement(expr: &Value) -> Result<Requirement, String> {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
    let op_name = expr.get("operator").and_then(Value::as_str).unwrap_or("");
    let operator = match op_name {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(format!(
                "{} is not a valid label selector operator",
                crate::validation::go_quote(other)
            ));
        }
    };
    let values = expr
        .get("values")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    Requirement::new(key, operator, values)
}

fn str_value(s: &str) -> crate::validation::BadValue {
    crate::validation::BadValue::Str(s.to_string())
}

/// The key check upstream's validateLabelKey performs, rendered with `field` as path.
fn key_error(key: &str, field: &str) -> Option<String> {
    let msgs = is_qualified_name(key);
    if msgs.is_empty() {
        return None;
    }
    Some(FieldError::invalid(field, str_value(key), &msgs.join("; ")).to_string())
}

/// The per-operator value-count and value-shape checks of upstream's NewRequirement.
fn operator_value_errors(operator: Operator, values: &[String]) -> Vec<String> {
    let slice = || crate::validation::BadValue::Raw(go_string_slice(values));
    let invalid = |detail: &str| FieldError::invalid("values", slice(), detail).to_string();
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            vec![invalid(
                "for 'in', 'notin' operators, values set can't be empty",
            )]
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            vec![invalid(
                "exact-match compatibility requires one single value",
            )]
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            vec![invalid(
                "values set must be empty for exists and does not exist",
            )]
        }
        Operator::GreaterThan | Operator::LessThan => {
            let mut errs = Vec::new();
            if values.len() != 1 {
                errs.push(invalid(
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    let field = format!("values[{i}]");
                    let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                    errs.push(FieldError::invalid(&field, str_value(value), detail).to_string());
                }
            }
            errs
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// The next byte, or 0 at the end (a NUL byte also ends the input, as upstream).
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
        }
        let lit = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        match keyword_token(&lit) {
            Some(tok) => (tok, lit),
            None => (Token::Identifier, lit),
        }
    }

    /// Longest run of special symbols that still forms an operator, e.g. `!=` or `==`.
    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut buffer = String::new();
        let mut last: Option<(Token, String)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            buffer.push(ch as char);
            match keyword_token(&buffer) {
                Some(tok) => last = Some((tok, buffer.clone())),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        last.unwrap_or_else(|| {
            (
                Token::Error,
                format!("error expected: keyword found '{buffer}'"),
            )
        })
    }
}

// ---------------------------------------------------------------------------
// Parser

/// In value position the keywords `in` and `notin` are plain identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        let mut lexer = Lexer {
            s: s.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let done = item.0 == Token::EndOfString;
            items.push(item);
            if done {
                break;
            }
        }
        Self { items, position: 0 }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        let (tok, lit) = self.items[self.position].clone();
        (contextual(tok, context), lit)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::new(&key, op, Vec::new());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, operator, values.into_iter().collect())
    }

    /// Reads `[!]key`; infers Exists/DoesNotExist when no operator follows.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        // Upstream validates with a nil field path here, hence the "<nil>" prefix.
        if let Some(e) = key_error(&lit, "<nil>") {
            return Err(e);
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    /// Parses `(a,b,c)`; empty entries stand for the empty string.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.insert(lit);
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new()); // "(,"
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new()); // ",)"
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            values.insert(String::new()); // ",,"
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; absent means "".
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            return Ok(BTreeSet::from([lit]));
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

fn contextual(tok: Token, context: Context) -> Token {
    match (context, tok) {
        (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
        _ => tok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn parse(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn good_selectors_round_trip_to_their_canonical_string() {
        for s in [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
        ] {
            assert_eq!(parse(s).to_string(), s.replace(' ', ""), "{s}");
        }
    }

    #[test]
    fn canonical_string_sorts_requirements_and_set_values() {
        assert_eq!(
            parse("z in (b,a),a notin (),y").to_string(),
            "a notin (),y,z in (a,b)"
        );
        assert_eq!(parse("x=a,a=x").to_string(), parse("a=x,x=a").to_string());
        assert_eq!(parse("a==b").to_string(), "a==b");
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for s in [
            "x=a||y=b", "x==a==b", "!x=a", "x<a", "x in a", "x in (a", "x,", ",x", "x=a b",
        ] {
            assert!(LabelSelector::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn parse_errors_carry_upstream_messages() {
        let err = |s: &str| LabelSelector::parse(s).unwrap_err();
        assert_eq!(err("x=a,"), "found '', expected: identifier after ','");
        assert_eq!(err("x=a y"), "found 'y', expected: ',' or 'end of string'");
        assert_eq!(
            err("(x"),
            "found '(', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("x y"),
            "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("x in a"),
            "unable to parse requirement: found 'a' expected: '('"
        );
        assert_eq!(
            err("x in (a b)"),
            "unable to parse requirement: found 'b', expected: ',' or ')'"
        );
        assert_eq!(
            err("x=(a)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("x<a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn invalid_keys_and_values_are_reported_with_field_paths() {
        let err = LabelSelector::parse("a$=b").unwrap_err();
        assert!(err.starts_with("unable to parse requirement: <nil>: Invalid value: \"a$\": name part must consist of"), "{err}");
        let err = LabelSelector::parse("a=b$").unwrap_err();
        assert!(err.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"b$\": a valid label must be"), "{err}");
    }

    #[test]
    fn keywords_in_value_position_are_plain_values() {
        let s = parse("x in (in,notin)");
        assert_eq!(s.requirements()[0].values, vec!["in", "notin"]);
    }

    #[test]
    fn empty_set_entries_stand_for_the_empty_string() {
        assert_eq!(parse("x in (,a)").requirements()[0].values, vec!["", "a"]);
        assert_eq!(parse("x in ()").requirements()[0].values, vec![""]);
    }

    #[test]
    fn equality_and_set_requirements_match_like_upstream() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        assert!(parse("app=web").matches(&l));
        assert!(parse("app==web,tier in (front,back)").matches(&l));
        assert!(!parse("app!=web").matches(&l));
        assert!(parse("missing!=x").matches(&l));
        assert!(parse("missing notin (x)").matches(&l));
        assert!(!parse("missing in (x)").matches(&l));
        assert!(parse("app,!missing").matches(&l));
        assert!(!parse("!app").matches(&l));
        assert!(parse("n>4,n<6").matches(&l));
        assert!(!parse("app>1").matches(&l));
        assert!(parse("").matches(&Map::new()));
    }

    #[test]
    fn exact_match_is_reported_for_single_value_equality() {
        assert_eq!(parse("a=b,c in (d)").requires_exact_match("c"), Some("d"));
        assert_eq!(parse("a!=b").requires_exact_match("a"), None);
    }

    #[test]
    fn empty_label_selector_object_matches_everything() {
        let s = LabelSelector::from_label_selector_json(&json!({})).unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(json!({"a": "b"}))));
    }

    #[test]
    fn null_label_selector_object_matches_nothing() {
        let s = LabelSelector::from_label_selector_json(&Value::Null).unwrap();
        assert!(!s.is_empty());
        assert!(!s.matches(&Map::new()));
    }

    #[test]
    fn label_selector_object_combines_labels_and_expressions() {
        let v = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        });
        let s = LabelSelector::from_label_selector_json(&v).unwrap();
        assert_eq!(s.to_string(), "app=web,!legacy,tier in (a,b)");
        assert!(s.matches(&labels(json!({"app": "web", "tier": "a"}))));
        assert!(!s.matches(&labels(json!({"app": "web", "tier": "a", "legacy": ""}))));
    }

    #[test]
    fn label_selector_object_errors_match_upstream() {
        let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]});
        assert_eq!(
            LabelSelector::from_label_selector_json(&bad_op).unwrap_err(),
            "\"Foo\" is not a valid label selector operator"
        );
        let no_values = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(
            LabelSelector::from_label_selector_json(&no_values).unwrap_err(),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        let with_values =
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]});
        assert_eq!(
            LabelSelector::from_label_selector_json(&with_values).unwrap_err(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
    }

    #[test]
    fn several_requirement_errors_are_aggregated_in_brackets() {
        let err = Requirement::new("a", Operator::GreaterThan, vec!["x$".into()]).unwrap_err();
        assert!(err.starts_with("[values[0]: Invalid value: \"x$\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"x$\""), "{err}");
    }
}
