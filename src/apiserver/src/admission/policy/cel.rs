//! CEL for admission policies, upstream's `k8s.io/apiserver/pkg/admission/plugin/cel`: the
//! expressions compiled once per policy, the variables an expression sees (`object`,
//! `oldObject`, `request`, `params`, `namespaceObject`, `variables`), and `variables`
//! evaluated lazily, each at most once per evaluation, each seeing only the ones before it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::traits::Indexer;
use cel::common::types::{CelNull, CelString, MAP_TYPE, Type};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, Program, Value as CelValue};
use den_apimachinery::schema::admission_cel::{
    ReturnType, compile_admission, error_string, json_to_cel, new_environment,
};
use serde_json::Value;

/// One expression of a policy, compiled when the policy was read.
#[derive(Debug)]
pub struct Expression {
    pub source: String,
    /// `Err` holds upstream's detail (`compilation failed: ...`).
    pub program: Result<Arc<Program>, String>,
}

/// Which optional variables an expression may use (upstream's
/// `OptionalVariableDeclarations`).
#[derive(Clone, Copy)]
pub struct Declarations<'a> {
    pub params: bool,
    pub authorizer: bool,
    /// The names of `variables` visible to the expression.
    pub variables: &'a [String],
}

impl Expression {
    pub fn compile(source: &str, decls: Declarations<'_>, want: ReturnType) -> Self {
        let mut declared = vec!["object", "oldObject", "request", "namespaceObject"];
        if decls.params {
            declared.push("params");
        }
        if decls.authorizer {
            declared.push("authorizer");
        }
        Expression {
            source: source.to_string(),
            program: compile_admission(
                source,
                &declared,
                Some(decls.variables),
                super::authz::FUNCTIONS,
                want,
            ),
        }
    }

    /// Evaluates the expression; errors carry upstream's wording: `compilation error: ...`
    /// or `expression '<source>' resulted in error: ...`.
    pub fn evaluate(&self, activation: &Activation<'_>) -> Result<CelValue, String> {
        let program = self
            .program
            .as_ref()
            .map_err(|e| format!("compilation error: {e}"))?;
        activation
            .execute(program)
            .map_err(|e| format!("expression '{}' resulted in error: {e}", self.source))
    }
}

/// A policy's `spec.variables`, in order.
#[derive(Debug, Default)]
pub struct Variables {
    pub names: Vec<String>,
    pub programs: Vec<Result<Arc<Program>, String>>,
}

impl Variables {
    /// Compiles each variable seeing only the variables before it, as upstream's composition
    /// environment does.
    pub fn compile(vars: &[(String, String)], params: bool) -> Self {
        let mut out = Variables::default();
        for (name, source) in vars {
            let decls = Declarations {
                params,
                authorizer: true,
                variables: &out.names,
            };
            let program = Expression::compile(source, decls, ReturnType::Any).program;
            out.names.push(name.clone());
            out.programs.push(program);
        }
        out
    }
}

/// The base environment and the authorizer library.
fn environment() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = new_environment();
        super::authz::register(&mut env).expect("authorizer library");
        Arc::new(env)
    })
}

/// A JSON value as a CEL value, once per request.
pub fn to_val(v: &Value) -> Box<dyn Val> {
    to_val_from_cel(json_to_cel(v))
}

/// The variables every expression of one evaluation sees.
pub struct Base {
    pub object: Box<dyn Val>,
    pub old_object: Box<dyn Val>,
    pub request: Box<dyn Val>,
    /// `None` when the policy has no `paramKind` (then `params` is not declared).
    pub params: Option<Box<dyn Val>>,
    pub namespace_object: Box<dyn Val>,
    /// `authorizer` and `authorizer.requestResource`, where bound.
    pub authorizer: Option<(Box<dyn Val>, Box<dyn Val>)>,
}

/// One evaluation's variables, with `variables` computed on first use.
pub struct Activation<'a> {
    lazy: Lazy<'a>,
}

impl<'a> Activation<'a> {
    pub fn new(base: &'a Base, variables: &'a Variables) -> Self {
        Activation {
            lazy: Lazy {
                base,
                vars: variables,
                cache: (0..variables.names.len())
                    .map(|_| OnceLock::new())
                    .collect(),
            },
        }
    }

    fn execute(&self, program: &Program) -> Result<CelValue, String> {
        self.lazy.execute(program, self.lazy.vars.names.len())
    }
}

struct Lazy<'a> {
    base: &'a Base,
    vars: &'a Variables,
    cache: Vec<OnceLock<Result<Box<dyn Val>, String>>>,
}

impl Lazy<'_> {
    /// Runs `program` seeing the first `visible` variables.
    fn execute(&self, program: &Program, visible: usize) -> Result<CelValue, String> {
        let scope = Scope {
            base: self.base,
            view: View {
                lazy: self,
                limit: visible,
            },
        };
        let mut ctx = Context::with_env(environment().clone());
        ctx.set_variable_resolver(&scope);
        program.execute(&ctx).map_err(|e| error_string(&e))
    }

    /// Variable `index`, evaluated on first use.
    fn value(&self, index: usize) -> &Result<Box<dyn Val>, String> {
        self.cache[index].get_or_init(|| {
            let name = &self.vars.names[index];
            match &self.vars.programs[index] {
                Err(e) => Err(format!(
                    "composited variable \"{name}\" fails to compile: {e}"
                )),
                Ok(program) => self
                    .execute(program, index)
                    .map(|v| to_val_from_cel(v))
                    .map_err(|e| format!("composited variable \"{name}\" fails to evaluate: {e}")),
            }
        })
    }
}

fn to_val_from_cel(v: CelValue) -> Box<dyn Val> {
    Box::<dyn Val>::try_from(v).unwrap_or_else(|_| Box::new(CelNull))
}

/// The names an expression resolves, over the activation.
struct Scope<'l> {
    base: &'l Base,
    view: View<'l>,
}

impl VariableResolver for Scope<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value: &'b dyn Val = match variable {
            "object" => self.base.object.as_ref(),
            "oldObject" => self.base.old_object.as_ref(),
            "request" => self.base.request.as_ref(),
            "namespaceObject" => self.base.namespace_object.as_ref(),
            "params" => self.base.params.as_deref()?,
            "authorizer" => self.base.authorizer.as_ref()?.0.as_ref(),
            "authorizer.requestResource" => self.base.authorizer.as_ref()?.1.as_ref(),
            "variables" => &self.view,
            _ => return None,
        };
        Some(CowVal::Borrowed(value))
    }
}

/// `variables` as one expression sees it: the first `limit` variables.
struct View<'l> {
    lazy: &'l Lazy<'l>,
    limit: usize,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("variables")
            .field("names", &&self.lazy.vars.names[..self.limit])
            .finish()
    }
}

static VARIABLES_TYPE: Type = MAP_TYPE;

impl Val for View<'_> {
    fn get_type(&self) -> &Type {
        &VARIABLES_TYPE
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        &VARIABLES_TYPE
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(View {
            lazy: self.lazy,
            limit: self.limit,
        })
    }
}

impl Indexer for View<'_> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let Some(name) = idx.downcast_ref::<CelString>().map(|s| s.inner()) else {
            return Err(ExecutionError::no_such_key("?"));
        };
        let index = self.lazy.vars.names[..self.limit]
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| ExecutionError::no_such_key(name))?;
        match self.lazy.value(index) {
            Ok(value) => Ok(CowVal::Borrowed(value.as_ref())),
            Err(e) => Err(ExecutionError::function_error("variables", e)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

/// cel-go's name of a value's type, for messages.
pub fn type_name(v: &CelValue) -> &'static str {
    match v {
        CelValue::Bool(_) => "bool",
        CelValue::Int(_) => "int",
        CelValue::UInt(_) => "uint",
        CelValue::Float(_) => "double",
        CelValue::String(_) => "string",
        CelValue::Bytes(_) => "bytes",
        CelValue::List(_) => "list",
        CelValue::Map(_) => "map",
        CelValue::Null => "null_type",
        CelValue::Duration(_) => "google.protobuf.Duration",
        CelValue::Timestamp(_) => "google.protobuf.Timestamp",
        _ => "dyn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(object: Value) -> Base {
        Base {
            object: to_val(&object),
            old_object: to_val(&Value::Null),
            request: to_val(&json!({"operation": "CREATE"})),
            params: None,
            namespace_object: to_val(&Value::Null),
            authorizer: None,
        }
    }

    fn vars(list: &[(&str, &str)]) -> Variables {
        let owned: Vec<(String, String)> = list
            .iter()
            .map(|(n, e)| (n.to_string(), e.to_string()))
            .collect();
        Variables::compile(&owned, false)
    }

    fn eval(expr: &str, b: &Base, v: &Variables) -> Result<CelValue, String> {
        let decls = Declarations {
            params: false,
            authorizer: false,
            variables: &v.names,
        };
        Expression::compile(expr, decls, ReturnType::Bool).evaluate(&Activation::new(b, v))
    }

    #[test]
    fn expressions_see_the_object_and_the_request() {
        let b = base(json!({"spec": {"replicas": 3}}));
        let v = Variables::default();
        assert_eq!(
            eval("object.spec.replicas > 1", &b, &v),
            Ok(CelValue::Bool(true))
        );
        assert_eq!(
            eval("request.operation == 'CREATE' && oldObject == null", &b, &v),
            Ok(CelValue::Bool(true))
        );
        assert_eq!(
            eval("object.spec.paused == true", &b, &v),
            Err(
                "expression 'object.spec.paused == true' resulted in error: no such key: paused"
                    .into()
            )
        );
    }

    #[test]
    fn variables_refer_to_earlier_variables_and_fail_where_used() {
        let b = base(json!({"spec": {"replicas": 3}}));
        let v = vars(&[
            ("replicas", "object.spec.replicas"),
            ("odd", "variables.replicas % 2 == 1"),
            ("missing", "object.spec.nothing"),
        ]);
        assert_eq!(eval("variables.odd", &b, &v), Ok(CelValue::Bool(true)));
        assert_eq!(
            eval("variables.missing == 1", &b, &v),
            Err("expression 'variables.missing == 1' resulted in error: composited variable \"missing\" fails to evaluate: no such key: nothing".into())
        );
    }

    #[test]
    fn the_authorizer_asks_the_server_for_the_requests_user() {
        use super::super::authz::{Authorize, AuthzVal};
        use crate::auth::UserInfo;
        use crate::auth::authorizer::Decision;
        let authorize: Authorize = Arc::new(|a| {
            let who = a.user.map_or("", |u| u.name.as_str());
            if a.verb == "get" || who.starts_with("system:serviceaccount:") {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(format!("{who} may not {} {}", a.verb, a.resource))
            }
        });
        let user = UserInfo {
            name: "alice".into(),
            ..UserInfo::default()
        };
        let authorizer = AuthzVal::authorizer(user, authorize);
        let request_resource = authorizer.request_resource("apps", "deployments", "", "ns", "web");
        let mut b = base(json!({}));
        b.authorizer = Some((Box::new(authorizer), Box::new(request_resource)));
        let v = Variables::default();
        let check = |expr: &str| {
            let decls = Declarations {
                params: false,
                authorizer: true,
                variables: &v.names,
            };
            Expression::compile(expr, decls, ReturnType::Any).evaluate(&Activation::new(&b, &v))
        };
        let yes = Ok(CelValue::Bool(true));
        assert_eq!(
            check(
                "authorizer.group('apps').resource('deployments').namespace('ns').check('get').allowed()"
            ),
            yes
        );
        assert_eq!(
            check("authorizer.requestResource.check('delete').reason()"),
            Ok(CelValue::String(Arc::new(
                "alice may not delete deployments".into()
            )))
        );
        assert_eq!(
            check(
                "authorizer.serviceAccount('ns', 'builder').group('').resource('pods').check('delete').allowed()"
            ),
            yes
        );
        assert_eq!(
            check("authorizer.path('/healthz').check('get').errored()"),
            Ok(CelValue::Bool(false))
        );
        assert_eq!(
            check("authorizer.group('').resource(' ').check('get').allowed()"),
            Err("expression 'authorizer.group('').resource(' ').check('get').allowed()' resulted in error: resource must not be empty".into())
        );
    }

    #[test]
    fn undeclared_names_and_later_variables_do_not_compile() {
        let v = vars(&[("a", "variables.b"), ("b", "1")]);
        let err = v.programs[0].as_ref().unwrap_err();
        assert!(
            err.starts_with("compilation failed: ERROR: <input>:1:10: undefined field 'b'"),
            "{err}"
        );
        let decls = Declarations {
            params: false,
            authorizer: false,
            variables: &v.names,
        };
        let e = Expression::compile("params.x == 1", decls, ReturnType::Bool);
        assert!(
            e.program
                .as_ref()
                .unwrap_err()
                .contains("undeclared reference to 'params'")
        );
        let e = Expression::compile("1 + 1", decls, ReturnType::Bool);
        assert_eq!(
            e.program.as_ref().unwrap_err(),
            "must evaluate to bool but got int"
        );
    }
}
