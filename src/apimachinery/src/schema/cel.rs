//! CEL validation rules (`x-kubernetes-validations`, KEP-2876), following
//! upstream apiextensions-apiserver v1.33 `pkg/apiserver/schema/cel`
//! (validation.go, compilation.go) on top of the `cel` crate.
//!
//! - [`validate_cel`]: evaluate every rule of a custom resource, with `self`
//!   bound to the node's value and, for transition rules on update, `oldSelf`
//!   to the correlated old value; failures are reported as upstream does
//!   (`Invalid value: "object": <message>`), including validation ratcheting
//!   of unchanged values.
//! - [`compile_rules`]: the compilation checks run when a CRD is created or
//!   updated (`compilation failed: ...`).
//!
//! The `cel` crate has no type checker, so compilation here is parsing plus a
//! light check of identifiers, function names, fields selected on schema
//! typed values and the result type where it is statically known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::common::types::{DYN_TYPE, LIST_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::objects::{Key, Map, OptionalValue};
use cel::{Context, Env, ExecutionError, Program, Value as CelValue};
use serde_json::Value;

use super::gofmt::{FieldPath, go_sharp_v};
use super::structural::{Structural, ValidationRule};
use crate::validation::{BadValue, Cause, FieldError};

const SELF: &str = "self";
const OLD_SELF: &str = "oldSelf";
/// Upstream's `MaxEvaluatedMessageExpressionSizeBytes`.
pub const MAX_MESSAGE_EXPRESSION_BYTES: usize = 5 * 1024;

// ---------------------------------------------------------------------------
// Public API

/// Evaluates the `x-kubernetes-validations` rules of `schema` (the root of a
/// custom resource) against `obj`; `old` is the stored object on update.
/// Field paths start at the object root (`spec.replicas`); a failing rule on
/// the root itself reports the field `<nil>`, as upstream's nil path does.
pub fn validate_cel(obj: &Value, old: Option<&Value>, schema: &Structural) -> Vec<Cause> {
    let mut errs = Vec::new();
    walk(
        schema,
        schema,
        true,
        &FieldPath::default(),
        obj,
        old,
        false,
        &mut errs,
    );
    errs.iter().map(FieldError::to_cause).collect()
}

/// Whether any node of `schema` carries `x-kubernetes-validations`.
pub fn has_cel_rules(schema: &Structural) -> bool {
    !schema.x_validations.is_empty()
        || schema.items.as_deref().is_some_and(has_cel_rules)
        || schema.properties.values().any(has_cel_rules)
        || schema
            .additional_properties
            .as_ref()
            .and_then(|a| a.schema())
            .is_some_and(has_cel_rules)
        || schema.value_validation.all_of.iter().any(has_cel_rules)
}

/// The CRD-time compilation errors of every rule of `schema`, located under
/// `path` (e.g. `spec.validation.openAPIV3Schema`): rules that do not compile
/// (`compilation failed: ...`), that do not evaluate to a bool, message
/// expressions that do not compile, invalid `fieldPath`s, `oldSelf` on the
/// uncorrelatable parts of the schema and `optionalOldSelf` without `oldSelf`.
pub fn compile_rules(schema: &Structural, path: &str) -> Vec<Cause> {
    let mut errs = Vec::new();
    compile_node(schema, schema, true, &FieldPath::new(path), None, &mut errs);
    errs.iter().map(FieldError::to_cause).collect()
}

// ---------------------------------------------------------------------------
// Environment and programs

fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(new_env()))
}

/// The standard library, the strings extension and the Kubernetes libraries.
fn new_env() -> Env {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("strings extension");
    register_kubernetes_library(&mut env).expect("kubernetes library");
    env
}

type CompiledProgram = Result<Arc<Program>, String>;

/// Programs by source: rules are compiled once per process.
fn program(source: &str) -> CompiledProgram {
    static CACHE: OnceLock<Mutex<HashMap<String, CompiledProgram>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(source).cloned()) {
        return p;
    }
    let compiled = env()
        .compile(source)
        .map(Arc::new)
        .map_err(|e| format_parse_errors(source, &e));
    if let Ok(mut c) = cache.lock() {
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(source.to_string(), compiled.clone());
    }
    compiled
}

/// cel-go's rendering of issues: `ERROR: <input>:L:C: msg` with a snippet.
fn format_parse_errors(source: &str, errs: &cel::ParseErrors) -> String {
    let issues: Vec<String> = errs
        .errors
        .iter()
        .map(|e| {
            let msg = if e.msg.starts_with("Syntax error") {
                e.msg.clone()
            } else {
                format!("Syntax error: {}", e.msg)
            };
            issue(
                source,
                e.pos.0.max(1) as usize,
                (e.pos.1 - 1).max(0) as usize,
                &msg,
            )
        })
        .collect();
    issues.join("\n")
}

/// One cel-go issue; `col` is 0-based.
fn issue(source: &str, line: usize, col: usize, msg: &str) -> String {
    let mut s = format!("ERROR: <input>:{line}:{}: {msg}", col + 1);
    if let Some(text) = source.lines().nth(line - 1) {
        s.push_str(&format!("\n | {text}\n | {}^", ".".repeat(col)));
    }
    s
}

/// Whether `prog` references the identifier `oldSelf`.
fn uses_old_self(prog: &Program) -> bool {
    fn visit(e: &IdedExpr, bound: &mut Vec<String>) -> bool {
        match &e.expr {
            Expr::Ident(name) => name == OLD_SELF && !bound.iter().any(|b| b == OLD_SELF),
            Expr::Select(s) => visit(&s.operand, bound),
            Expr::Call(c) => {
                c.target.as_deref().is_some_and(|t| visit(t, bound))
                    || c.args.iter().any(|a| visit(a, bound))
            }
            Expr::List(l) => l.elements.iter().any(|a| visit(a, bound)),
            Expr::Map(m) => m.entries.iter().any(|en| match &en.expr {
                EntryExpr::MapEntry(me) => visit(&me.key, bound) || visit(&me.value, bound),
                EntryExpr::StructField(f) => visit(&f.value, bound),
            }),
            Expr::Struct(s) => s.entries.iter().any(|en| match &en.expr {
                EntryExpr::MapEntry(me) => visit(&me.key, bound) || visit(&me.value, bound),
                EntryExpr::StructField(f) => visit(&f.value, bound),
            }),
            Expr::Comprehension(c) => {
                if visit(&c.iter_range, bound) || visit(&c.accu_init, bound) {
                    return true;
                }
                let n = bound.len();
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.clone());
                bound.push(c.accu_var.clone());
                let r = visit(&c.loop_cond, bound)
                    || visit(&c.loop_step, bound)
                    || visit(&c.result, bound);
                bound.truncate(n);
                r
            }
            Expr::Literal(_) | Expr::Unspecified => false,
        }
    }
    visit(prog.expression(), &mut Vec::new())
}

// ---------------------------------------------------------------------------
// Runtime validation

#[allow(clippy::too_many_arguments)]
fn walk(
    vs: &Structural,
    ns: &Structural,
    is_root: bool,
    path: &FieldPath,
    obj: &Value,
    old: Option<&Value>,
    parent_unchanged: bool,
    errs: &mut Vec<FieldError>,
) {
    if obj.is_null() {
        return;
    }
    let old = old.filter(|o| !o.is_null());
    // Ratcheting: errors of rules without oldSelf are dropped when the nearest
    // correlated value (this one, or an ancestor's) did not change.
    let unchanged = match old {
        Some(o) => o == obj,
        None => parent_unchanged,
    };
    if !vs.x_validations.is_empty() {
        validate_rules(vs, ns, is_root, path, obj, old, unchanged, errs);
    }
    for all_of in &vs.value_validation.all_of {
        walk(all_of, ns, is_root, path, obj, old, parent_unchanged, errs);
    }
    match obj {
        Value::Object(map) => {
            let correlatable = matches!(
                ns.extensions.map_type.as_deref(),
                None | Some("granular") | Some("atomic")
            );
            let old_map = old.and_then(Value::as_object).filter(|_| correlatable);
            let vs_ap = vs.additional_properties.as_ref().and_then(|a| a.schema());
            let ns_ap = ns.additional_properties.as_ref().and_then(|a| a.schema());
            if let (Some(vap), Some(nap)) = (vs_ap, ns_ap) {
                for (k, v) in map {
                    let o = old_map.and_then(|m| m.get(k));
                    walk(
                        vap,
                        nap,
                        nap.extensions.embedded_resource,
                        &path.key(k),
                        v,
                        o,
                        unchanged,
                        errs,
                    );
                }
            }
            for (k, vp) in &vs.properties {
                let (Some(np), Some(v)) = (ns.properties.get(k), map.get(k)) else {
                    continue;
                };
                let o = old_map.and_then(|m| m.get(k));
                walk(
                    vp,
                    np,
                    np.extensions.embedded_resource,
                    &path.child(k),
                    v,
                    o,
                    unchanged,
                    errs,
                );
            }
        }
        Value::Array(items) => {
            let (Some(vi), Some(ni)) = (vs.items.as_deref(), ns.items.as_deref()) else {
                return;
            };
            let old_items = old.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                let o = old_items.and_then(|olds| correlate_item(ns, item, olds));
                walk(
                    vi,
                    ni,
                    ni.extensions.embedded_resource,
                    &path.index(i),
                    item,
                    o,
                    unchanged,
                    errs,
                );
            }
        }
        _ => {}
    }
}

/// The old item with the same map keys, for `x-kubernetes-list-type: map`.
fn correlate_item<'a>(s: &Structural, item: &Value, olds: &'a [Value]) -> Option<&'a Value> {
    if s.extensions.list_type.as_deref() != Some("map") || s.extensions.list_map_keys.is_empty() {
        return None;
    }
    let keys = &s.extensions.list_map_keys;
    let key_of = |v: &Value| -> Option<Vec<Value>> {
        let m = v.as_object()?;
        Some(
            keys.iter()
                .map(|k| m.get(k).cloned().unwrap_or(Value::Null))
                .collect(),
        )
    };
    let want = key_of(item)?;
    olds.iter().find(|o| key_of(o).as_ref() == Some(&want))
}

#[allow(clippy::too_many_arguments)]
fn validate_rules(
    vs: &Structural,
    ns: &Structural,
    is_root: bool,
    path: &FieldPath,
    obj: &Value,
    old: Option<&Value>,
    unchanged: bool,
    errs: &mut Vec<FieldError>,
) {
    let ty = if is_root && ns.type_().is_empty() {
        "object".to_string()
    } else {
        ns.type_().to_string()
    };
    let field = |p: &FieldPath| -> String {
        if p.as_str().is_empty() {
            "<nil>".to_string()
        } else {
            p.as_str().to_string()
        }
    };
    let self_val = to_cel(obj, ns, is_root);
    let old_val = old.map(|o| to_cel(o, ns, is_root));
    for rule in &vs.x_validations {
        if rule.rule.trim().is_empty() {
            continue;
        }
        let prog = match program(&rule.rule) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("rule compile error: compilation failed: {e}");
                errs.push(FieldError::invalid(
                    &field(path),
                    BadValue::Str(ty.clone()),
                    &msg,
                ));
                continue;
            }
        };
        let transition = uses_old_self(&prog);
        let optional = rule.optional_old_self == Some(true);
        if transition && old_val.is_none() && !optional {
            continue;
        }
        let mut ctx = Context::with_env(env().clone());
        ctx.add_variable_from_value(SELF, self_val.clone());
        if transition {
            match (&old_val, optional) {
                (Some(o), false) => ctx.add_variable_from_value(OLD_SELF, o.clone()),
                (Some(o), true) => ctx.add_variable_from_value(
                    OLD_SELF,
                    CelValue::Opaque(Arc::new(OptionalValue::of(o.clone()))),
                ),
                (None, _) => ctx.add_variable_from_value(
                    OLD_SELF,
                    CelValue::Opaque(Arc::new(OptionalValue::none())),
                ),
            }
        }
        let result = prog.execute(&ctx);
        let err_str = rule_error_string(rule);
        match result {
            Ok(CelValue::Bool(true)) => {}
            Err(e) => {
                let e = go_error(&e);
                let msg = if e.starts_with("no such overload") {
                    format!(
                        "'{e}': call arguments did not match a supported operator, function or macro signature for rule: {err_str}"
                    )
                } else {
                    format!("{e} evaluating rule: {err_str}")
                };
                errs.push(FieldError::invalid(
                    &field(path),
                    BadValue::Str(ty.clone()),
                    &msg,
                ));
            }
            Ok(_) => {
                if !transition && unchanged {
                    continue;
                }
                let mut fp = path.clone();
                if let Some(normalized) = normalized_field_path(&rule.field_path, ns) {
                    fp = fp.child(&normalized);
                }
                let mut detail = rule_message_or_default(rule);
                if !rule.message_expression.is_empty() {
                    // upstream evaluates messageExpression with the activation
                    // whose oldSelf is not optional
                    let mut mctx = Context::with_env(env().clone());
                    mctx.add_variable_from_value(SELF, self_val.clone());
                    if let Some(o) = &old_val {
                        mctx.add_variable_from_value(OLD_SELF, o.clone());
                    }
                    if let Some(m) = eval_message_expression(&rule.message_expression, &mctx) {
                        detail = m;
                    }
                }
                errs.push(field_error_for_reason(
                    &field(&fp),
                    &ty,
                    &detail,
                    rule.reason.as_deref(),
                ));
            }
        }
    }
}

fn eval_message_expression(source: &str, ctx: &Context) -> Option<String> {
    let prog = program(source).ok()?;
    match prog.execute(ctx) {
        Ok(CelValue::String(s)) => {
            let t = s.trim();
            if t.is_empty() || t.len() > MAX_MESSAGE_EXPRESSION_BYTES || t.contains('\n') {
                None
            } else {
                Some(t.to_string())
            }
        }
        _ => None,
    }
}

fn rule_error_string(rule: &ValidationRule) -> String {
    if rule.message.is_empty() {
        rule.rule.trim().to_string()
    } else {
        rule.message.trim().to_string()
    }
}

fn rule_message_or_default(rule: &ValidationRule) -> String {
    if rule.message.is_empty() {
        format!("failed rule: {}", rule_error_string(rule))
    } else {
        rule.message.trim().to_string()
    }
}

fn field_error_for_reason(field: &str, ty: &str, detail: &str, reason: Option<&str>) -> FieldError {
    match reason {
        Some("FieldValueForbidden") => FieldError::forbidden(field, detail),
        Some("FieldValueRequired") => FieldError::required(field, detail),
        Some("FieldValueDuplicate") => FieldError::duplicate(field, BadValue::Str(ty.into())),
        _ => FieldError::invalid(field, BadValue::Str(ty.into()), detail),
    }
}

/// cel-go's wording of a runtime error.
fn go_error(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::NoSuchOverload(_)
        | ExecutionError::UnsupportedBinaryOperator(..)
        | ExecutionError::ValuesNotComparable(..)
        | ExecutionError::UnexpectedType { .. }
        | ExecutionError::UnsupportedTargetType { .. }
        | ExecutionError::NotSupportedAsMethod { .. } => "no such overload".to_string(),
        ExecutionError::IndexOutOfBounds(i) => match i {
            CelValue::Int(i) => format!("index out of bounds: {i}"),
            CelValue::UInt(i) => format!("index out of bounds: {i}"),
            other => format!("index out of bounds: {other:?}"),
        },
        ExecutionError::DivisionByZero(_) => "division by zero".to_string(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_string(),
        ExecutionError::Overflow(..) => "integer overflow".to_string(),
        ExecutionError::UndeclaredReference(r) => format!("no such attribute(s): {r}"),
        ExecutionError::FunctionError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// JSON to CEL values, as upstream's UnstructuredToVal

fn to_cel(v: &Value, s: &Structural, is_root: bool) -> CelValue {
    if v.is_null() {
        return CelValue::Null;
    }
    if s.extensions.int_or_string {
        return match v {
            Value::String(st) => CelValue::String(Arc::new(st.clone())),
            Value::Number(n) => n
                .as_i64()
                .map(CelValue::Int)
                .unwrap_or_else(|| CelValue::Float(n.as_f64().unwrap_or(0.0))),
            other => generic(other),
        };
    }
    let ty = if is_root && s.type_().is_empty() {
        "object"
    } else {
        s.type_()
    };
    match (ty, v) {
        ("object", Value::Object(m)) => {
            let mut out: HashMap<Key, CelValue> = HashMap::new();
            let ap = s.additional_properties.as_ref().and_then(|a| a.schema());
            if is_root || s.extensions.embedded_resource || !s.properties.is_empty() {
                for (k, prop) in &s.properties {
                    let (Some(val), Some(name)) = (m.get(k), escape(k)) else {
                        continue;
                    };
                    if prop.type_().is_empty() && !prop.extensions.int_or_string {
                        continue;
                    }
                    out.insert(
                        Key::String(Arc::new(name)),
                        to_cel(val, prop, prop.extensions.embedded_resource),
                    );
                }
                if is_root || s.extensions.embedded_resource {
                    add_type_and_object_meta(m, s, &mut out);
                }
            } else if let Some(ap) = ap {
                for (k, val) in m {
                    out.insert(
                        Key::String(Arc::new(k.clone())),
                        to_cel(val, ap, ap.extensions.embedded_resource),
                    );
                }
            }
            CelValue::Map(Map { map: Arc::new(out) })
        }
        ("array", Value::Array(items)) => match s.items.as_deref() {
            Some(is) => CelValue::List(Arc::new(
                items
                    .iter()
                    .map(|i| to_cel(i, is, is.extensions.embedded_resource))
                    .collect(),
            )),
            None => generic(v),
        },
        ("string", Value::String(st)) => string_value(st, &s.value_validation.format),
        ("number", Value::Number(n)) => CelValue::Float(n.as_f64().unwrap_or(0.0)),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(CelValue::Int)
            .unwrap_or_else(|| CelValue::Float(n.as_f64().unwrap_or(0.0))),
        _ => generic(v),
    }
}

/// `apiVersion`, `kind`, `metadata.name` and `metadata.generateName`, always
/// visible at the root of a resource (upstream's WithTypeAndObjectMeta).
fn add_type_and_object_meta(
    m: &serde_json::Map<String, Value>,
    s: &Structural,
    out: &mut HashMap<Key, CelValue>,
) {
    for k in ["apiVersion", "kind"] {
        if let Some(Value::String(v)) = m.get(k) {
            out.insert(
                Key::String(Arc::new(k.to_string())),
                CelValue::String(Arc::new(v.clone())),
            );
        }
    }
    let Some(Value::Object(meta)) = m.get("metadata") else {
        return;
    };
    let mut mm: HashMap<Key, CelValue> = match s.properties.get("metadata") {
        Some(ms) => match to_cel(&Value::Object(meta.clone()), ms, false) {
            CelValue::Map(existing) => (*existing.map).clone(),
            _ => HashMap::new(),
        },
        None => HashMap::new(),
    };
    for k in ["name", "generateName"] {
        if let Some(Value::String(v)) = meta.get(k) {
            mm.insert(
                Key::String(Arc::new(k.to_string())),
                CelValue::String(Arc::new(v.clone())),
            );
        }
    }
    out.insert(
        Key::String(Arc::new("metadata".to_string())),
        CelValue::Map(Map { map: Arc::new(mm) }),
    );
}

fn string_value(st: &str, format: &str) -> CelValue {
    match format {
        "duration" => {
            if let Some(d) = parse_duration(st) {
                return CelValue::Duration(d);
            }
        }
        "date" => {
            if let Ok(d) = chrono::NaiveDate::parse_from_str(st, "%Y-%m-%d")
                && let Some(dt) = d.and_hms_opt(0, 0, 0)
            {
                return CelValue::Timestamp(dt.and_utc().fixed_offset());
            }
        }
        "date-time" => {
            if let Ok(d) = chrono::DateTime::parse_from_rfc3339(st) {
                return CelValue::Timestamp(d);
            }
        }
        "byte" => {
            use base64::Engine;
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(st) {
                return CelValue::Bytes(Arc::new(b));
            }
        }
        _ => {}
    }
    CelValue::String(Arc::new(st.to_string()))
}

/// Go-style durations (`1h30m`, `250ms`), plus `d` and `w` as strfmt accepts.
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_end].trim();
        rest = &rest[unit_end..];
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            _ => return None,
        };
        nanos += n * mult;
    }
    let d = chrono::Duration::nanoseconds(nanos as i64);
    Some(if neg { -d } else { d })
}

/// A value without a schema: JSON mapped as is.
fn generic(v: &Value) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(CelValue::Int)
            .unwrap_or_else(|| CelValue::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(a) => CelValue::List(Arc::new(a.iter().map(generic).collect())),
        Value::Object(m) => CelValue::Map(Map {
            map: Arc::new(
                m.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), generic(v)))
                    .collect(),
            ),
        }),
    }
}

/// CEL's reserved words: not usable as identifiers.
pub const RESERVED_WORDS: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Upstream's `cel.Escape` of a property name; `None` when it cannot be
/// accessed from CEL.
pub fn escape(ident: &str) -> Option<String> {
    let first = ident.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED_WORDS.contains(&ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::with_capacity(ident.len());
    let mut chars = ident.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// fieldPath (upstream's ValidFieldPath)

/// The normalized `fieldPath` of a rule relative to its node, or `None` when
/// it is empty or invalid.
fn normalized_field_path(field_path: &str, s: &Structural) -> Option<String> {
    if field_path.is_empty() {
        return None;
    }
    valid_field_path(field_path, s).ok()
}

fn valid_field_path(json_path: &str, schema: &Structural) -> Result<String, String> {
    let tokens = tokenize_path(json_path);
    let mut path = FieldPath::default();
    let mut s = schema;
    let mut i = 0;
    let invalid = || "does not refer to a valid field".to_string();
    let step = |name: &str, s: &mut &Structural, path: &mut FieldPath| -> Result<(), String> {
        if !s.properties.is_empty() {
            *path = path.child(name);
            *s = s.properties.get(name).ok_or_else(invalid)?;
        } else if let Some(ap) = &s.additional_properties {
            *path = path.key(name);
            *s = ap.schema().ok_or_else(invalid)?;
        } else {
            return Err(invalid());
        }
        Ok(())
    };
    while i < tokens.len() {
        match tokens[i].as_str() {
            "[" => {
                let tok = tokens.get(i + 1).ok_or("unexpected end of JSON path")?;
                if tok.len() < 2 || !tok.starts_with('\'') || !tok.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {tok}"));
                }
                let name = unescape_single_quote(&tok[1..tok.len() - 1])?;
                step(&name, &mut s, &mut path)?;
                match tokens.get(i + 2).map(String::as_str) {
                    Some("]") => {}
                    Some(t) => return Err(format!("expected ] but got {t}")),
                    None => return Err("unexpected end of JSON path".into()),
                }
                i += 3;
            }
            "." => {
                let tok = tokens.get(i + 1).ok_or("unexpected end of JSON path")?;
                step(tok, &mut s, &mut path)?;
                i += 2;
            }
            t => return Err(format!("expected [ or . but got: {t}")),
        }
    }
    Ok(path.as_str().to_string())
}

fn tokenize_path(p: &str) -> Vec<String> {
    let b: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\'' {
            let mut j = i + 1;
            while j < b.len() && !(b[j] == '\'' && b[j - 1] != '\\') {
                j += 1;
            }
            let end = (j + 1).min(b.len());
            out.push(b[i..end].iter().collect());
            i = end;
        } else if matches!(b[i], '.' | '[' | ']') {
            out.push(b[i].to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < b.len() && !matches!(b[j], '.' | '[' | ']') {
                j += 1;
            }
            out.push(b[i..j].iter().collect());
            i = j;
        }
    }
    out
}

fn unescape_single_quote(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('\\');
            break;
        };
        out.push(match d {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\'' => '\'',
            '\\' => '\\',
            other => {
                return Err(format!(
                    "invalid string literal: invalid escape char \\{other}"
                ));
            }
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// CRD-time compilation

fn compile_node(
    vs: &Structural,
    ns: &Structural,
    is_root: bool,
    path: &FieldPath,
    uncorrelatable: Option<&FieldPath>,
    errs: &mut Vec<FieldError>,
) {
    for (i, rule) in vs.x_validations.iter().enumerate() {
        let rp = path.child("x-kubernetes-validations").index(i);
        let bad = BadValue::Raw(rule_go_syntax(rule));
        if !rule.field_path.trim().is_empty() && valid_field_path(&rule.field_path, ns).is_err() {
            errs.push(FieldError::invalid(
                rp.child("fieldPath").as_str(),
                BadValue::Str(rule.field_path.clone()),
                "fieldPath must be a valid path",
            ));
            continue;
        }
        if rule.rule.trim().is_empty() {
            continue;
        }
        let optional = rule.optional_old_self == Some(true);
        match check_expression(&rule.rule, ns, is_root, optional) {
            Err(detail) => {
                errs.push(FieldError::invalid(rp.child("rule").as_str(), bad, &detail));
                continue;
            }
            Ok(p) if p != Prim::Bool && p != Prim::Dyn => {
                errs.push(FieldError::invalid(
                    rp.child("rule").as_str(),
                    bad,
                    "cel expression must evaluate to a bool",
                ));
                continue;
            }
            Ok(_) => {}
        }
        if !rule.message_expression.is_empty() {
            match check_expression(&rule.message_expression, ns, is_root, false) {
                Err(detail) => {
                    errs.push(FieldError::invalid(
                        rp.child("messageExpression").as_str(),
                        BadValue::Raw(rule_go_syntax(rule)),
                        &format!("messageExpression {detail}"),
                    ));
                }
                Ok(p) if p != Prim::Str && p != Prim::Dyn => {
                    errs.push(FieldError::invalid(
                        rp.child("messageExpression").as_str(),
                        BadValue::Raw(rule_go_syntax(rule)),
                        "messageExpression must evaluate to a string",
                    ));
                }
                Ok(_) => {}
            }
        }
        let transition = program(&rule.rule).is_ok_and(|p| uses_old_self(&p));
        if transition {
            if let Some(up) = uncorrelatable {
                errs.push(FieldError::invalid(
                    rp.child("rule").as_str(),
                    BadValue::Str(rule.rule.clone()),
                    &format!(
                        "oldSelf cannot be used on the uncorrelatable portion of the schema within {up}"
                    ),
                ));
            }
        } else if let Some(b) = rule.optional_old_self {
            errs.push(FieldError::invalid(
                rp.child("optionalOldSelf").as_str(),
                BadValue::Raw(b.to_string()),
                "may not be set if oldSelf is not used in rule",
            ));
        }
    }
    if let (Some(vi), Some(ni)) = (vs.items.as_deref(), ns.items.as_deref()) {
        let items_path = path.child("items");
        let unc = match uncorrelatable {
            Some(u) => Some(u.clone()),
            None if ns.extensions.list_type.as_deref() != Some("map") => Some(items_path.clone()),
            None => None,
        };
        compile_node(
            vi,
            ni,
            ni.extensions.embedded_resource,
            &items_path,
            unc.as_ref(),
            errs,
        );
    }
    for (k, vp) in &vs.properties {
        if let Some(np) = ns.properties.get(k) {
            compile_node(
                vp,
                np,
                np.extensions.embedded_resource,
                &path.child("properties").key(k),
                uncorrelatable,
                errs,
            );
        }
    }
    let vap = vs.additional_properties.as_ref().and_then(|a| a.schema());
    let nap = ns.additional_properties.as_ref().and_then(|a| a.schema());
    if let (Some(vap), Some(nap)) = (vap, nap) {
        compile_node(
            vap,
            nap,
            nap.extensions.embedded_resource,
            &path.child("additionalProperties"),
            uncorrelatable,
            errs,
        );
    }
    for (i, all_of) in vs.value_validation.all_of.iter().enumerate() {
        compile_node(
            all_of,
            ns,
            is_root,
            &path.child("allOf").index(i),
            uncorrelatable,
            errs,
        );
    }
}

/// `%#v` of upstream's internal `apiextensions.ValidationRule`.
fn rule_go_syntax(rule: &ValidationRule) -> String {
    let q = |s: &str| go_sharp_v(&Value::String(s.to_string()));
    let reason = match &rule.reason {
        None => "(*apiextensions.FieldValueErrorReason)(nil)".to_string(),
        Some(_) => "(*apiextensions.FieldValueErrorReason)(0xc000010000)".to_string(),
    };
    let optional = match rule.optional_old_self {
        None => "(*bool)(nil)".to_string(),
        Some(_) => "(*bool)(0xc000010008)".to_string(),
    };
    format!(
        "apiextensions.ValidationRule{{Rule:{}, Message:{}, MessageExpression:{}, Reason:{reason}, FieldPath:{}, OptionalOldSelf:{optional}}}",
        q(&rule.rule),
        q(&rule.message),
        q(&rule.message_expression),
        q(&rule.field_path),
    )
}

/// Compiles `source` for a node of schema `s`: parse errors and the issues
/// the light checker finds, as `compilation failed: ERROR: ...`; on success,
/// the statically known kind of the result.
fn check_expression(
    source: &str,
    s: &Structural,
    is_root: bool,
    optional_old_self: bool,
) -> Result<Prim, String> {
    let prog = program(source).map_err(|e| format!("compilation failed: {e}"))?;
    let mut checker = Checker {
        source,
        prog: &prog,
        issues: Vec::new(),
        extra_functions: &[],
    };
    let node = Ty::Node(s, is_root);
    let old = if optional_old_self {
        Ty::Prim(Prim::Optional)
    } else {
        node.clone()
    };
    let mut scope: Vec<(String, Ty)> = vec![(SELF.to_string(), node), (OLD_SELF.to_string(), old)];
    let ty = checker.check(prog.expression(), &mut scope);
    if !checker.issues.is_empty() {
        return Err(format!("compilation failed: {}", checker.issues.join("\n")));
    }
    Ok(ty.prim())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Dyn,
    Bool,
    Int,
    Uint,
    Double,
    Str,
    Bytes,
    Null,
    List,
    Map,
    Duration,
    Timestamp,
    Type,
    Optional,
}

/// A statically known type: a schema node, or a primitive.
#[derive(Debug, Clone)]
enum Ty<'a> {
    Dyn,
    Prim(Prim),
    /// A schema node; the flag marks the root of a resource.
    Node(&'a Structural, bool),
    List(Box<Ty<'a>>),
    Map(Box<Ty<'a>>),
    /// An object with exactly these fields, each dyn: admission's `variables`.
    Fields(&'a [String]),
}

impl Ty<'_> {
    fn prim(&self) -> Prim {
        match self {
            Ty::Dyn => Prim::Dyn,
            Ty::Prim(p) => *p,
            Ty::List(_) => Prim::List,
            Ty::Map(_) | Ty::Fields(_) => Prim::Map,
            Ty::Node(s, root) => {
                if s.extensions.int_or_string {
                    return Prim::Dyn;
                }
                match s.type_() {
                    "object" => Prim::Map,
                    "" if *root => Prim::Map,
                    "array" => Prim::List,
                    "boolean" => Prim::Bool,
                    "integer" => Prim::Int,
                    "number" => Prim::Double,
                    "string" => match s.value_validation.format.as_str() {
                        "byte" => Prim::Bytes,
                        "duration" => Prim::Duration,
                        "date" | "date-time" => Prim::Timestamp,
                        _ => Prim::Str,
                    },
                    _ => Prim::Dyn,
                }
            }
        }
    }
}

/// Functions of upstream's base environment this module evaluates.
const SUPPORTED_FUNCTIONS: &[&str] = &[
    // standard library
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "duration",
    "timestamp",
    "type",
    "dyn",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "or",
    "orValue",
    // cel-go strings extension
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "format",
    "strings.quote",
    // Kubernetes lists and regex libraries, cel-go sets extension
    "isSorted",
    "sum",
    "min",
    "max",
    "find",
    "findAll",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
];

/// Functions of upstream's base environment that compile but are not
/// evaluated here (their rules fail at runtime with an evaluation error).
pub const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    // URLs
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    // quantity
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "isLessThan",
    "isGreaterThan",
    "compareTo",
    // IP and CIDR
    "ip",
    "isIP",
    "ip.isCanonical",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "prefixLength",
    "masked",
    // format
    "format.named",
    "validate",
    // semver
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    // two-variable comprehensions
    "transformList",
    "transformMap",
    "transformMapEntry",
    "existsOne",
];

const NAMESPACES: &[&str] = &["optional", "sets", "strings", "format", "ip"];

const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
    "duration",
    "timestamp",
];

struct Checker<'s> {
    source: &'s str,
    prog: &'s Program,
    issues: Vec<String>,
    /// Functions declared besides the base environment's.
    extra_functions: &'s [&'s str],
}

impl<'s> Checker<'s> {
    fn report(&mut self, id: u64, msg: &str) {
        let offset = self
            .prog
            .source_info()
            .offset_for(id)
            .map(|o| o.0 as usize)
            .unwrap_or(0);
        let before: Vec<char> = self.source.chars().take(offset).collect();
        let line = before.iter().filter(|c| **c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|c| **c != '\n').count();
        self.issues.push(issue(self.source, line, col, msg));
    }

    fn check<'a>(&mut self, e: &IdedExpr, scope: &mut Vec<(String, Ty<'a>)>) -> Ty<'a> {
        match &e.expr {
            Expr::Literal(l) => Ty::Prim(match l {
                LiteralValue::Boolean(_) => Prim::Bool,
                LiteralValue::Bytes(_) => Prim::Bytes,
                LiteralValue::Double(_) => Prim::Double,
                LiteralValue::Int(_) => Prim::Int,
                LiteralValue::Null => Prim::Null,
                LiteralValue::String(_) => Prim::Str,
                LiteralValue::UInt(_) => Prim::Uint,
            }),
            Expr::Ident(name) => {
                if let Some((_, t)) = scope.iter().rev().find(|(n, _)| n == name) {
                    return t.clone();
                }
                if TYPE_NAMES.contains(&name.as_str()) {
                    return Ty::Prim(Prim::Type);
                }
                self.report(
                    e.id,
                    &format!("undeclared reference to '{name}' (in container '')"),
                );
                Ty::Dyn
            }
            Expr::Select(sel) => {
                let operand = self.check(&sel.operand, scope);
                let t = self.select(e.id, &operand, &sel.field);
                if sel.test { Ty::Prim(Prim::Bool) } else { t }
            }
            Expr::Call(call) => self.call(e, call, scope),
            Expr::List(l) => {
                let mut elem = None;
                for el in &l.elements {
                    let t = self.check(el, scope);
                    elem.get_or_insert(t);
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(m) => {
                for en in &m.entries {
                    match &en.expr {
                        EntryExpr::MapEntry(me) => {
                            self.check(&me.key, scope);
                            self.check(&me.value, scope);
                        }
                        EntryExpr::StructField(f) => {
                            self.check(&f.value, scope);
                        }
                    }
                }
                Ty::Map(Box::new(Ty::Dyn))
            }
            Expr::Struct(st) => {
                for en in &st.entries {
                    match &en.expr {
                        EntryExpr::MapEntry(me) => {
                            self.check(&me.key, scope);
                            self.check(&me.value, scope);
                        }
                        EntryExpr::StructField(f) => {
                            self.check(&f.value, scope);
                        }
                    }
                }
                Ty::Dyn
            }
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range, scope);
                let accu = self.check(&c.accu_init, scope);
                let (first, second) = match &range {
                    Ty::Node(s, _) if s.type_() == "array" => (
                        s.items
                            .as_deref()
                            .map(|i| Ty::Node(i, i.extensions.embedded_resource))
                            .unwrap_or(Ty::Dyn),
                        Ty::Dyn,
                    ),
                    Ty::Node(s, root) if s.type_() == "object" || *root => {
                        let value = s
                            .additional_properties
                            .as_ref()
                            .and_then(|a| a.schema())
                            .map(|a| Ty::Node(a, a.extensions.embedded_resource))
                            .unwrap_or(Ty::Dyn);
                        (Ty::Prim(Prim::Str), value)
                    }
                    Ty::List(e) => ((**e).clone(), Ty::Dyn),
                    _ => (Ty::Dyn, Ty::Dyn),
                };
                let n = scope.len();
                match &c.iter_var2 {
                    None => scope.push((c.iter_var.clone(), first)),
                    Some(v2) => {
                        // two-variable form: (index, value) or (key, value)
                        let (k, v) = match range.prim() {
                            Prim::List => (Ty::Prim(Prim::Int), first),
                            _ => (first, second),
                        };
                        scope.push((c.iter_var.clone(), k));
                        scope.push((v2.clone(), v));
                    }
                }
                scope.push((c.accu_var.clone(), accu));
                self.check(&c.loop_cond, scope);
                self.check(&c.loop_step, scope);
                let r = self.check(&c.result, scope);
                scope.truncate(n);
                r
            }
            Expr::Unspecified => Ty::Dyn,
        }
    }

    fn select<'a>(&mut self, id: u64, operand: &Ty<'a>, field: &str) -> Ty<'a> {
        match operand {
            Ty::Node(s, root) => {
                if s.extensions.int_or_string {
                    return Ty::Dyn;
                }
                let resource = *root || s.extensions.embedded_resource;
                if s.type_() != "object" && !resource {
                    return Ty::Dyn;
                }
                if resource {
                    match field {
                        "apiVersion" | "kind" => return Ty::Prim(Prim::Str),
                        // metadata carries at least name and generateName
                        "metadata" => return Ty::Dyn,
                        _ => {}
                    }
                }
                if s.properties.is_empty()
                    && let Some(ap) = s.additional_properties.as_ref().and_then(|a| a.schema())
                {
                    return Ty::Node(ap, ap.extensions.embedded_resource);
                }
                let prop = s.properties.iter().find(|(k, p)| {
                    escape(k).as_deref() == Some(field)
                        && (!p.type_().is_empty() || p.extensions.int_or_string)
                });
                match prop {
                    Some((_, p)) => Ty::Node(p, p.extensions.embedded_resource),
                    None => {
                        self.report(id, &format!("undefined field '{field}'"));
                        Ty::Dyn
                    }
                }
            }
            Ty::Map(v) => (**v).clone(),
            Ty::Fields(names) => {
                if !names.iter().any(|n| n == field) {
                    self.report(id, &format!("undefined field '{field}'"));
                }
                Ty::Dyn
            }
            _ => Ty::Dyn,
        }
    }

    fn call<'a>(
        &mut self,
        e: &IdedExpr,
        call: &cel::common::ast::CallExpr,
        scope: &mut Vec<(String, Ty<'a>)>,
    ) -> Ty<'a> {
        let mut name = call.func_name.clone();
        let mut target = None;
        if let Some(t) = call.target.as_deref() {
            match &t.expr {
                Expr::Ident(ns)
                    if NAMESPACES.contains(&ns.as_str()) && !scope.iter().any(|(n, _)| n == ns) =>
                {
                    name = format!("{ns}.{name}");
                }
                _ => target = Some(self.check(t, scope)),
            }
        }
        let args: Vec<Ty<'a>> = call.args.iter().map(|a| self.check(a, scope)).collect();
        let operator = name.starts_with('_') || name.starts_with('@') || name.starts_with('!');
        if !operator
            && !SUPPORTED_FUNCTIONS.contains(&name.as_str())
            && !UNSUPPORTED_FUNCTIONS.contains(&name.as_str())
            && !self.extra_functions.contains(&name.as_str())
        {
            self.report(
                e.id,
                &format!("undeclared reference to '{name}' (in container '')"),
            );
            return Ty::Dyn;
        }
        let arg_prim = |i: usize| args.get(i).map(Ty::prim).unwrap_or(Prim::Dyn);
        match name.as_str() {
            "_==_"
            | "_!=_"
            | "_<_"
            | "_<=_"
            | "_>_"
            | "_>=_"
            | "_&&_"
            | "_||_"
            | "!_"
            | "@in"
            | "@not_strictly_false"
            | "contains"
            | "startsWith"
            | "endsWith"
            | "matches"
            | "isSorted"
            | "hasValue"
            | "sets.contains"
            | "sets.equivalent"
            | "sets.intersects" => Ty::Prim(Prim::Bool),
            "_[_]" => match target.as_ref().or(args.first()) {
                Some(Ty::Node(s, _)) if s.type_() == "array" => s
                    .items
                    .as_deref()
                    .map(|i| Ty::Node(i, i.extensions.embedded_resource))
                    .unwrap_or(Ty::Dyn),
                Some(Ty::Node(s, _)) if s.type_() == "object" => s
                    .additional_properties
                    .as_ref()
                    .and_then(|a| a.schema())
                    .map(|a| Ty::Node(a, a.extensions.embedded_resource))
                    .unwrap_or(Ty::Dyn),
                Some(Ty::List(el)) | Some(Ty::Map(el)) => (**el).clone(),
                _ => Ty::Dyn,
            },
            "_?_:_" => {
                if arg_prim(1) == arg_prim(2) {
                    args[1].clone()
                } else {
                    Ty::Dyn
                }
            }
            "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => {
                let (a, b) = (arg_prim(0), arg_prim(1));
                if a == b
                    && matches!(
                        a,
                        Prim::Int | Prim::Uint | Prim::Double | Prim::Str | Prim::List
                    )
                {
                    Ty::Prim(a)
                } else {
                    Ty::Dyn
                }
            }
            "-_" => Ty::Prim(arg_prim(0)),
            "size" | "int" | "indexOf" | "lastIndexOf" => Ty::Prim(Prim::Int),
            "uint" => Ty::Prim(Prim::Uint),
            "double" => Ty::Prim(Prim::Double),
            "string" | "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "join"
            | "charAt" | "format" | "strings.quote" | "find" => Ty::Prim(Prim::Str),
            "bool" => Ty::Prim(Prim::Bool),
            "bytes" => Ty::Prim(Prim::Bytes),
            "duration" => Ty::Prim(Prim::Duration),
            "timestamp" => Ty::Prim(Prim::Timestamp),
            "type" => Ty::Prim(Prim::Type),
            "split" | "findAll" => Ty::List(Box::new(Ty::Prim(Prim::Str))),
            _ => Ty::Dyn,
        }
    }
}

// ---------------------------------------------------------------------------
// Admission expressions (upstream's k8s.io/apiserver/pkg/admission/plugin/cel)

/// What an admission expression must evaluate to (upstream's `ReturnTypes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnType {
    Bool,
    String,
    /// Variables: anything.
    Any,
}

/// Compiles an expression of an admission policy once: `declared` are the
/// top-level variables (each dyn), `variables` the fields of `variables`
/// when it is declared, `functions` the (member) functions declared besides
/// the base environment's. Errors carry upstream's detail:
/// `compilation failed: ERROR: <input>:1:1: ...` for parse errors and
/// undeclared names, `must evaluate to bool but got int` for a result of a
/// statically known wrong type.
pub fn compile_admission(
    source: &str,
    declared: &[&str],
    variables: Option<&[String]>,
    functions: &[&str],
    want: ReturnType,
) -> Result<Arc<Program>, String> {
    let prog = program(source).map_err(|e| format!("compilation failed: {e}"))?;
    let mut checker = Checker {
        source,
        prog: &prog,
        issues: Vec::new(),
        extra_functions: functions,
    };
    let mut scope: Vec<(String, Ty)> = declared
        .iter()
        .map(|name| (name.to_string(), Ty::Dyn))
        .collect();
    if let Some(names) = variables {
        scope.push(("variables".to_string(), Ty::Fields(names)));
    }
    let ty = checker.check(prog.expression(), &mut scope);
    if !checker.issues.is_empty() {
        return Err(format!("compilation failed: {}", checker.issues.join("\n")));
    }
    let (wanted, name) = match want {
        ReturnType::Bool => (Prim::Bool, "bool"),
        ReturnType::String => (Prim::Str, "string"),
        ReturnType::Any => return Ok(prog),
    };
    match prim_type_name(ty.prim()) {
        Some(got) if ty.prim() != wanted => Err(format!("must evaluate to {name} but got {got}")),
        _ => Ok(prog),
    }
}

/// cel-go's name of a statically known scalar type; `None` for dyn and the
/// parameterized types.
fn prim_type_name(p: Prim) -> Option<&'static str> {
    Some(match p {
        Prim::Bool => "bool",
        Prim::Int => "int",
        Prim::Uint => "uint",
        Prim::Double => "double",
        Prim::Str => "string",
        Prim::Bytes => "bytes",
        Prim::Null => "null_type",
        Prim::Duration => "google.protobuf.Duration",
        Prim::Timestamp => "google.protobuf.Timestamp",
        _ => return None,
    })
}

/// A new environment for admission expressions to run in: the standard
/// library, the strings extension and the Kubernetes libraries this module
/// implements, for the caller to add its own functions to.
pub fn new_environment() -> Env {
    new_env()
}

/// A JSON value as CEL sees an unstructured object: integers are `int`,
/// other numbers `double`, objects maps with string keys.
pub fn json_to_cel(v: &Value) -> CelValue {
    generic(v)
}

/// cel-go's wording of a runtime error (`no such key: replicas`).
pub fn error_string(e: &ExecutionError) -> String {
    go_error(e)
}

// ---------------------------------------------------------------------------
// Kubernetes CEL library (k8s.io/apiserver/pkg/cel/library) and cel-go sets

fn register_kubernetes_library(env: &mut Env) -> Result<(), cel::DeclarationError> {
    env.add_member_overload("isSorted", "list_is_sorted", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list_min", LIST_TYPE, vec![], list_min)?;
    env.add_member_overload("max", "list_max", LIST_TYPE, vec![], list_max)?;
    env.add_member_overload(
        "indexOf",
        "list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        list_index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        list_last_index_of,
    )?;
    env.add_member_overload("find", "string_find", STRING_TYPE, vec![STRING_TYPE], find)?;
    env.add_member_overload(
        "findAll",
        "string_find_all",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "string_find_all_n",
        STRING_TYPE,
        vec![STRING_TYPE, cel::common::types::INT_TYPE],
        find_all,
    )?;
    env.add_overload(
        "sets.contains",
        "sets_contains",
        vec![LIST_TYPE, LIST_TYPE],
        sets_contains,
    )?;
    env.add_overload(
        "sets.equivalent",
        "sets_equivalent",
        vec![LIST_TYPE, LIST_TYPE],
        sets_equivalent,
    )?;
    env.add_overload(
        "sets.intersects",
        "sets_intersects",
        vec![LIST_TYPE, LIST_TYPE],
        sets_intersects,
    )?;
    Ok(())
}

type LibResult<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;
type ListVal = Arc<Vec<CelValue>>;

fn values(args: &[CowVal<'_, '_>]) -> Result<Vec<CelValue>, ExecutionError> {
    args.iter()
        .map(|a| CelValue::try_from(a.as_ref()))
        .collect()
}

fn owned<'b, 'v>(v: CelValue) -> LibResult<'b, 'v> {
    let b: Box<dyn Val> = v.try_into()?;
    Ok(CowVal::Owned(b))
}

fn list_arg(v: &CelValue, function: &str) -> Result<ListVal, ExecutionError> {
    match v {
        CelValue::List(l) => Ok(l.clone()),
        _ => Err(ExecutionError::no_such_overload(function, vec![])),
    }
}

/// CEL ordering, numbers compared across types.
fn compare(a: &CelValue, b: &CelValue) -> Option<std::cmp::Ordering> {
    let num = |v: &CelValue| match v {
        CelValue::Int(i) => Some(*i as f64),
        CelValue::UInt(u) => Some(*u as f64),
        CelValue::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (CelValue::Int(x), CelValue::Int(y)) => Some(x.cmp(y)),
        (CelValue::UInt(x), CelValue::UInt(y)) => Some(x.cmp(y)),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => a.partial_cmp(b),
        },
    }
}

fn cel_equal(a: &CelValue, b: &CelValue) -> bool {
    match (a, b) {
        (CelValue::Int(_) | CelValue::UInt(_) | CelValue::Float(_), _) => {
            compare(a, b) == Some(std::cmp::Ordering::Equal)
        }
        _ => a == b,
    }
}

fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let list = list_arg(&vals[0], "isSorted")?;
    for w in list.windows(2) {
        match compare(&w[0], &w[1]) {
            Some(std::cmp::Ordering::Greater) => return owned(CelValue::Bool(false)),
            Some(_) => {}
            None => return Err(ExecutionError::no_such_overload("isSorted", vec![])),
        }
    }
    owned(CelValue::Bool(true))
}

fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let list = list_arg(&vals[0], "sum")?;
    let mut acc: Option<CelValue> = None;
    for v in list.iter() {
        acc = Some(match (acc, v) {
            (None, v) => v.clone(),
            (Some(CelValue::Int(a)), CelValue::Int(b)) => CelValue::Int(
                a.checked_add(*b)
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow"))?,
            ),
            (Some(CelValue::UInt(a)), CelValue::UInt(b)) => {
                CelValue::UInt(a.checked_add(*b).ok_or_else(|| {
                    ExecutionError::function_error("sum", "unsigned integer overflow")
                })?)
            }
            (Some(CelValue::Float(a)), CelValue::Float(b)) => CelValue::Float(a + b),
            (Some(CelValue::Duration(a)), CelValue::Duration(b)) => CelValue::Duration(a + *b),
            _ => return Err(ExecutionError::no_such_overload("sum", vec![])),
        });
    }
    owned(acc.unwrap_or(CelValue::Int(0)))
}

fn extreme<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    name: &str,
    prefer: std::cmp::Ordering,
) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let list = list_arg(&vals[0], name)?;
    let mut best: Option<&CelValue> = None;
    for v in list.iter() {
        best = match best {
            None => Some(v),
            Some(b) => match compare(v, b) {
                Some(o) if o == prefer => Some(v),
                Some(_) => Some(b),
                None => return Err(ExecutionError::no_such_overload(name, vec![])),
            },
        };
    }
    match best {
        Some(b) => owned(b.clone()),
        None => Err(ExecutionError::function_error(
            name,
            format!("{name} called on empty list"),
        )),
    }
}

fn list_min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    extreme(args, "min", std::cmp::Ordering::Less)
}

fn list_max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    extreme(args, "max", std::cmp::Ordering::Greater)
}

fn list_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let list = list_arg(&vals[0], "indexOf")?;
    let i = list.iter().position(|v| cel_equal(v, &vals[1]));
    owned(CelValue::Int(i.map(|i| i as i64).unwrap_or(-1)))
}

fn list_last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let list = list_arg(&vals[0], "lastIndexOf")?;
    let i = list.iter().rposition(|v| cel_equal(v, &vals[1]));
    owned(CelValue::Int(i.map(|i| i as i64).unwrap_or(-1)))
}

fn regex_arg(v: &CelValue, function: &str) -> Result<regex::Regex, ExecutionError> {
    match v {
        CelValue::String(re) => regex::Regex::new(re)
            .map_err(|e| ExecutionError::function_error(function, format!("Illegal regex: {e}"))),
        _ => Err(ExecutionError::no_such_overload(function, vec![])),
    }
}

fn find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let re = regex_arg(&vals[1], "find")?;
    let CelValue::String(s) = &vals[0] else {
        return Err(ExecutionError::no_such_overload("find", vec![]));
    };
    let found = re
        .find(s)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    owned(CelValue::String(Arc::new(found)))
}

fn find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let vals = values(&args)?;
    let re = regex_arg(&vals[1], "findAll")?;
    let CelValue::String(s) = &vals[0] else {
        return Err(ExecutionError::no_such_overload("findAll", vec![]));
    };
    let n = match vals.get(2) {
        Some(CelValue::Int(n)) if *n >= 0 => Some(*n as usize),
        _ => None,
    };
    let found: Vec<CelValue> = re
        .find_iter(s)
        .take(n.unwrap_or(usize::MAX))
        .map(|m| CelValue::String(Arc::new(m.as_str().to_string())))
        .collect();
    owned(CelValue::List(Arc::new(found)))
}

fn two_lists(args: &[CowVal<'_, '_>], name: &str) -> Result<(ListVal, ListVal), ExecutionError> {
    let vals = values(args)?;
    Ok((list_arg(&vals[0], name)?, list_arg(&vals[1], name)?))
}

fn contains_all(a: &[CelValue], b: &[CelValue]) -> bool {
    b.iter().all(|x| a.iter().any(|y| cel_equal(x, y)))
}

fn sets_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let (a, b) = two_lists(&args, "sets.contains")?;
    owned(CelValue::Bool(contains_all(&a, &b)))
}

fn sets_equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let (a, b) = two_lists(&args, "sets.equivalent")?;
    owned(CelValue::Bool(contains_all(&a, &b) && contains_all(&b, &a)))
}

fn sets_intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> LibResult<'b, 'v> {
    let (a, b) = two_lists(&args, "sets.intersects")?;
    owned(CelValue::Bool(
        a.iter().any(|x| b.iter().any(|y| cel_equal(x, y))),
    ))
}

#[cfg(test)]
#[path = "cel_tests.rs"]
mod cel_tests;
