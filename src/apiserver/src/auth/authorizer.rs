//! Authorization: one decision for every request, impersonation and access review, behind a
//! small trait so that RBAC can replace the policy Den has until then (upstream's
//! `authorizer.Authorizer` and `authorizer.RuleResolver`).

use den_apimachinery::request_info::RequestInfo;
use den_apimachinery::status::ApiError;
use den_apimachinery::validation::go_quote as q;
use serde_json::{Value, json};

use super::UserInfo;

/// What is being asked, as upstream's `authorizer.Attributes`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attributes<'a> {
    pub user: Option<&'a UserInfo>,
    pub verb: &'a str,
    /// A resource request (`namespace` … `name` apply) or a non-resource one (`path` applies).
    pub resource_request: bool,
    pub namespace: &'a str,
    pub api_group: &'a str,
    /// `*` when an access review leaves the version out.
    pub api_version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub path: &'a str,
}

impl<'a> Attributes<'a> {
    /// The attributes of an API request.
    pub fn of_request(user: &'a UserInfo, info: &'a RequestInfo) -> Self {
        Attributes {
            user: Some(user),
            verb: &info.verb,
            resource_request: info.is_resource_request,
            namespace: &info.namespace,
            api_group: &info.api_group,
            api_version: &info.api_version,
            resource: &info.resource,
            subresource: &info.subresource,
            name: &info.name,
            path: &info.path,
        }
    }

    fn user_name(&self) -> &str {
        self.user.map_or("", |u| u.name.as_str())
    }
}

/// An authorizer's answer (upstream's `Decision` and reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
    /// Neither allowed nor denied: the request is refused unless another authorizer allows it.
    NoOpinion(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// The rules a user has in a namespace (SelfSubjectRulesReview), in the
/// `authorization.k8s.io/v1` `SubjectRulesReviewStatus` form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub resource_rules: Vec<Value>,
    pub non_resource_rules: Vec<Value>,
    pub incomplete: bool,
    pub evaluation_error: String,
}

/// Decides whether a user may do something, and lists what a user may do.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, attributes: &Attributes<'_>) -> Decision;

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> Rules;
}

/// Paths that upstream's `system:public-info-viewer` role opens to everyone.
const PUBLIC_PATHS: [&str; 5] = ["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// Whether `path` is one of the public health and version paths (or a health check below one).
fn is_public_path(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
        || ["/healthz/", "/livez/", "/readyz/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// Den's policy until RBAC lands: every authenticated user may do everything; the anonymous
/// user may only read the public health and version paths, as upstream's default RBAC
/// policy allows.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, attributes: &Attributes<'_>) -> Decision {
        let authenticated = attributes.user.is_some_and(|u| !u.is_anonymous());
        let public = !attributes.resource_request
            && attributes.verb == "get"
            && is_public_path(attributes.path);
        if authenticated || public {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }

    fn rules_for(&self, user: &UserInfo, _namespace: &str) -> Rules {
        if user.is_anonymous() {
            return Rules {
                non_resource_rules: vec![
                    json!({"verbs": ["get"], "nonResourceURLs": PUBLIC_PATHS}),
                ],
                ..Rules::default()
            };
        }
        Rules {
            resource_rules: vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
            non_resource_rules: vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
            ..Rules::default()
        }
    }
}

/// Upstream's 403 for attributes an authorizer did not allow: `pods "x" is forbidden: User
/// "u" cannot get resource "pods" in API group "" in the namespace "ns"`, then the reason.
pub fn forbidden(attributes: &Attributes<'_>, reason: &str) -> ApiError {
    let user = attributes.user_name();
    let mut message = if attributes.resource_request {
        let mut resource = attributes.resource.to_string();
        if !attributes.subresource.is_empty() {
            resource = format!("{resource}/{}", attributes.subresource);
        }
        let scope = if attributes.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {}", q(attributes.namespace))
        };
        format!(
            "User {} cannot {} resource {} in API group {} {scope}",
            q(user),
            attributes.verb,
            q(&resource),
            q(attributes.api_group)
        )
    } else {
        format!(
            "User {} cannot {} path {}",
            q(user),
            attributes.verb,
            q(attributes.path)
        )
    };
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    ApiError::forbidden(
        attributes.api_group,
        attributes.resource,
        attributes.name,
        &message,
    )
}

/// Asks `authorizer` and turns anything but an allow into upstream's 403.
pub fn check(authorizer: &dyn Authorizer, attributes: &Attributes<'_>) -> Result<(), ApiError> {
    match authorizer.authorize(attributes) {
        Decision::Allow(_) => Ok(()),
        decision => Err(forbidden(attributes, decision.reason())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserInfo {
        UserInfo::authenticated(name.into(), String::new(), Vec::new())
    }

    #[test]
    fn authenticated_users_may_do_everything_and_anonymous_only_read_public_paths() {
        let jane = user("jane");
        let anonymous = UserInfo::anonymous();
        let list_pods = |u| Attributes {
            user: Some(u),
            verb: "list",
            resource_request: true,
            resource: "pods",
            namespace: "default",
            ..Attributes::default()
        };
        assert!(AllowAuthenticated.authorize(&list_pods(&jane)).allowed());
        assert_eq!(
            AllowAuthenticated.authorize(&list_pods(&anonymous)),
            Decision::NoOpinion(String::new())
        );
        let get = |path| Attributes {
            user: Some(&anonymous),
            verb: "get",
            path,
            ..Attributes::default()
        };
        assert!(AllowAuthenticated.authorize(&get("/readyz")).allowed());
        assert!(AllowAuthenticated.authorize(&get("/livez/ping")).allowed());
        assert!(!AllowAuthenticated.authorize(&get("/metrics")).allowed());
    }

    #[test]
    fn forbidden_messages_name_user_verb_resource_and_scope() {
        let anonymous = UserInfo::anonymous();
        let cases = [
            (
                Attributes {
                    verb: "impersonate",
                    resource_request: true,
                    resource: "users",
                    name: "jane",
                    ..Attributes::default()
                },
                "",
                "users \"jane\" is forbidden: User \"system:anonymous\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
            ),
            (
                Attributes {
                    verb: "get",
                    resource_request: true,
                    api_group: "apps",
                    resource: "deployments",
                    subresource: "scale",
                    namespace: "ns",
                    ..Attributes::default()
                },
                "no rule",
                "deployments.apps is forbidden: User \"system:anonymous\" cannot get resource \"deployments/scale\" in API group \"apps\" in the namespace \"ns\": no rule",
            ),
            (
                Attributes {
                    verb: "get",
                    path: "/metrics",
                    ..Attributes::default()
                },
                "",
                "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"",
            ),
        ];
        for (attributes, reason, message) in cases {
            let attributes = Attributes {
                user: Some(&anonymous),
                ..attributes
            };
            let err = forbidden(&attributes, reason);
            assert_eq!((err.code, err.message.as_str()), (403, message));
        }
    }

    #[test]
    fn rules_are_everything_for_users_and_public_paths_for_anonymous() {
        let rules = AllowAuthenticated.rules_for(&user("jane"), "default");
        assert_eq!(rules.resource_rules[0]["verbs"], json!(["*"]));
        assert!(!rules.incomplete);
        let rules = AllowAuthenticated.rules_for(&UserInfo::anonymous(), "default");
        assert!(rules.resource_rules.is_empty());
        assert_eq!(rules.non_resource_rules[0]["verbs"], json!(["get"]));
    }
}
