//! The `authorizer` variable of admission expressions, upstream's CEL authz library
//! (`k8s.io/apiserver/pkg/cel/library/authz.go`): `authorizer.group('apps')
//! .resource('deployments').namespace('x').check('create').allowed()`,
//! `authorizer.path('/healthz').check('get')`, `authorizer.serviceAccount(ns, name)`, and
//! `authorizer.requestResource`, the check of the request's own resource. Checks ask the
//! server's authorizer, for the request's user.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use cel::common::types::{CelBool, CelString, STRING_TYPE, Type};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{Env, ExecutionError};
use den_apimachinery::validation::{is_dns1123_label, is_dns1123_subdomain};

use crate::auth::UserInfo;
use crate::auth::authorizer::{Attributes, Decision};

/// The server's decision for one check.
pub type Authorize = Arc<dyn Fn(&Attributes<'_>) -> Decision + Send + Sync>;

static AUTHORIZER: Type = Type::new_struct_type("kubernetes.authorization.Authorizer");
static PATH_CHECK: Type = Type::new_struct_type("kubernetes.authorization.PathCheck");
static GROUP_CHECK: Type = Type::new_struct_type("kubernetes.authorization.GroupCheck");
static RESOURCE_CHECK: Type = Type::new_struct_type("kubernetes.authorization.ResourceCheck");
static DECISION: Type = Type::new_struct_type("kubernetes.authorization.Decision");

/// The member functions the library declares, for the compiler.
pub const FUNCTIONS: &[&str] = &[
    "path",
    "group",
    "serviceAccount",
    "resource",
    "subresource",
    "namespace",
    "name",
    "fieldSelector",
    "labelSelector",
    "check",
    "allowed",
    "reason",
    "errored",
    "error",
];

#[derive(Clone, Default)]
struct ResourceCheck {
    group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Clone)]
enum Node {
    Authorizer,
    Path(String),
    Group(String),
    Resource(ResourceCheck),
    Decision { allowed: bool, reason: String },
}

/// One value of the library: the authorizer and the checks built from it.
#[derive(Clone)]
pub struct AuthzVal {
    node: Node,
    user: Arc<UserInfo>,
    authorize: Authorize,
}

impl fmt::Debug for AuthzVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get_type().name())
    }
}

impl AuthzVal {
    /// `authorizer`, for `user`.
    pub fn authorizer(user: UserInfo, authorize: Authorize) -> Self {
        AuthzVal {
            node: Node::Authorizer,
            user: Arc::new(user),
            authorize,
        }
    }

    /// `authorizer.requestResource`: the check of the request's resource.
    pub fn request_resource(
        &self,
        group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        self.with(Node::Resource(ResourceCheck {
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }))
    }

    fn with(&self, node: Node) -> Self {
        AuthzVal {
            node,
            user: self.user.clone(),
            authorize: self.authorize.clone(),
        }
    }
}

impl Val for AuthzVal {
    fn get_type(&self) -> &Type {
        match self.node {
            Node::Authorizer => &AUTHORIZER,
            Node::Path(_) => &PATH_CHECK,
            Node::Group(_) => &GROUP_CHECK,
            Node::Resource(_) => &RESOURCE_CHECK,
            Node::Decision { .. } => &DECISION,
        }
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        &AUTHORIZER
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for AuthzVal {}

type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;
type Out<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn target<'a>(args: &'a [CowVal<'_, '_>], function: &str) -> Result<&'a AuthzVal, ExecutionError> {
    args.first()
        .and_then(|a| a.downcast_ref::<AuthzVal>())
        .ok_or_else(|| ExecutionError::no_such_overload(function, vec![]))
}

fn string_arg(args: &[CowVal<'_, '_>], i: usize, function: &str) -> Result<String, ExecutionError> {
    args.get(i)
        .and_then(|a| a.downcast_ref::<CelString>())
        .map(|s| s.inner().to_string())
        .ok_or_else(|| ExecutionError::no_such_overload(function, vec![]))
}

fn path<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let authz = target(&args, "path")?;
    let path = string_arg(&args, 1, "path")?;
    if path.trim().is_empty() {
        return Err(ExecutionError::function_error(
            "path",
            "path must not be empty",
        ));
    }
    Ok(CowVal::owned(authz.with(Node::Path(path))))
}

fn group<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let authz = target(&args, "group")?;
    let group = string_arg(&args, 1, "group")?;
    Ok(CowVal::owned(authz.with(Node::Group(group))))
}

fn service_account<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let authz = target(&args, "serviceAccount")?;
    let namespace = string_arg(&args, 1, "serviceAccount")?;
    let name = string_arg(&args, 2, "serviceAccount")?;
    if !is_dns1123_subdomain(&name).is_empty() {
        return Err(ExecutionError::function_error(
            "serviceAccount",
            "Invalid service account name",
        ));
    }
    if !is_dns1123_label(&namespace).is_empty() {
        return Err(ExecutionError::function_error(
            "serviceAccount",
            "Invalid service account namespace",
        ));
    }
    let user = UserInfo {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
        ],
        ..UserInfo::default()
    };
    Ok(CowVal::owned(AuthzVal {
        node: Node::Authorizer,
        user: Arc::new(user),
        authorize: authz.authorize.clone(),
    }))
}

fn resource<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let authz = target(&args, "resource")?;
    let resource = string_arg(&args, 1, "resource")?;
    let Node::Group(group) = &authz.node else {
        return Err(ExecutionError::no_such_overload("resource", vec![]));
    };
    if resource.trim().is_empty() {
        return Err(ExecutionError::function_error(
            "resource",
            "resource must not be empty",
        ));
    }
    Ok(CowVal::owned(authz.with(Node::Resource(ResourceCheck {
        group: group.clone(),
        resource,
        ..ResourceCheck::default()
    }))))
}

/// A setter of a resource check: `subresource`, `namespace`, `name`, and the selectors
/// (which Den's authorizer does not look at).
fn set_field<'b, 'v>(
    args: Args<'b, 'v>,
    function: &str,
    set: fn(&mut ResourceCheck, String),
) -> Out<'b, 'v> {
    let authz = target(&args, function)?;
    let value = string_arg(&args, 1, function)?;
    let Node::Resource(check) = &authz.node else {
        return Err(ExecutionError::no_such_overload(function, vec![]));
    };
    let mut check = check.clone();
    set(&mut check, value);
    Ok(CowVal::owned(authz.with(Node::Resource(check))))
}

fn subresource<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    set_field(args, "subresource", |c, v| c.subresource = v)
}

fn namespace<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    set_field(args, "namespace", |c, v| c.namespace = v)
}

fn name<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    set_field(args, "name", |c, v| c.name = v)
}

fn selector<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    set_field(args, "fieldSelector", |_, _| {})
}

fn check<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let authz = target(&args, "check")?;
    let verb = string_arg(&args, 1, "check")?;
    let user = Some(&*authz.user);
    let attributes = match &authz.node {
        Node::Path(path) => Attributes {
            user,
            verb: &verb,
            path,
            ..Attributes::default()
        },
        Node::Resource(c) => Attributes {
            user,
            verb: &verb,
            resource_request: true,
            namespace: &c.namespace,
            api_group: &c.group,
            api_version: "*",
            resource: &c.resource,
            subresource: &c.subresource,
            name: &c.name,
            path: "",
        },
        _ => return Err(ExecutionError::no_such_overload("check", vec![])),
    };
    let decision = (authz.authorize)(&attributes);
    Ok(CowVal::owned(authz.with(Node::Decision {
        allowed: decision.allowed(),
        reason: decision.reason().to_string(),
    })))
}

fn decision<'a>(
    args: &'a [CowVal<'_, '_>],
    function: &str,
) -> Result<(bool, &'a str), ExecutionError> {
    match &target(args, function)?.node {
        Node::Decision { allowed, reason } => Ok((*allowed, reason)),
        _ => Err(ExecutionError::no_such_overload(function, vec![])),
    }
}

fn allowed<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let (allowed, _) = decision(&args, "allowed")?;
    Ok(CowVal::owned(CelBool::from(allowed)))
}

fn reason<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    let (_, reason) = decision(&args, "reason")?;
    Ok(CowVal::owned(CelString::from(reason.to_string())))
}

/// Den's authorizer decides without errors.
fn errored<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    decision(&args, "errored")?;
    Ok(CowVal::owned(CelBool::from(false)))
}

fn error<'b, 'v>(args: Args<'b, 'v>) -> Out<'b, 'v> {
    decision(&args, "error")?;
    Ok(CowVal::owned(CelString::from(String::new())))
}

/// Declares the library's member functions in `env`.
pub fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    let s = || STRING_TYPE.to_owned();
    let authorizer = || AUTHORIZER.to_owned();
    let resource_check = || RESOURCE_CHECK.to_owned();
    env.add_member_overload("path", "authorizer_path", authorizer(), vec![s()], path)?;
    env.add_member_overload("group", "authorizer_group", authorizer(), vec![s()], group)?;
    env.add_member_overload(
        "serviceAccount",
        "authorizer_serviceaccount",
        authorizer(),
        vec![s(), s()],
        service_account,
    )?;
    env.add_member_overload(
        "resource",
        "groupcheck_resource",
        GROUP_CHECK.to_owned(),
        vec![s()],
        resource,
    )?;
    for (name, id, f) in [
        (
            "subresource",
            "resourcecheck_subresource",
            subresource as cel::common::functions::Function,
        ),
        ("namespace", "resourcecheck_namespace", namespace),
        ("name", "resourcecheck_name", name),
        ("fieldSelector", "authorizer_fieldselector", selector),
        ("labelSelector", "authorizer_labelselector", selector),
    ] {
        env.add_member_overload(name, id, resource_check(), vec![s()], f)?;
    }
    env.add_member_overload(
        "check",
        "pathcheck_check",
        PATH_CHECK.to_owned(),
        vec![s()],
        check,
    )?;
    env.add_member_overload(
        "check",
        "resourcecheck_check",
        resource_check(),
        vec![s()],
        check,
    )?;
    let decision = || DECISION.to_owned();
    env.add_member_overload("allowed", "decision_allowed", decision(), vec![], allowed)?;
    env.add_member_overload("reason", "decision_reason", decision(), vec![], reason)?;
    env.add_member_overload("errored", "decision_errored", decision(), vec![], errored)?;
    env.add_member_overload("error", "decision_error", decision(), vec![], error)?;
    Ok(())
}
