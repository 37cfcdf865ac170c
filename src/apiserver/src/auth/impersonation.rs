//! Impersonation (upstream's `WithImpersonation` filter): an authenticated user may act as
//! another user, groups, uid and extra values with the `Impersonate-User`, `Impersonate-Group`,
//! `Impersonate-Uid` and `Impersonate-Extra-<key>` headers, when the authorizer lets it
//! `impersonate` each of them.

use std::collections::BTreeMap;

use den_apimachinery::status::ApiError;
use den_apimachinery::validation::{go_quote, is_dns1123_label, is_dns1123_subdomain};
use http::HeaderMap;

use super::authorizer::{self, Attributes, Authorizer};
use super::{ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, UserInfo};

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The prefix of every service account's user name.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The group of every service account.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_user_name(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

/// The groups of a service account in `namespace`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        ALL_SERVICE_ACCOUNTS.to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// The namespace and name of a service account's user name (upstream's `SplitUsername`).
pub fn split_service_account_user(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user
        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?
        .split_once(':')?;
    let valid = !name.contains(':')
        && is_dns1123_label(namespace).is_empty()
        && is_dns1123_subdomain(name).is_empty();
    valid.then_some((namespace, name))
}

/// One thing a request asks to impersonate (upstream builds these as object references).
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    ServiceAccount { namespace: &'a str, name: &'a str },
    User(&'a str),
    Group(&'a str),
    Extra { key: String, value: &'a str },
    Uid(&'a str),
}

impl Request<'_> {
    /// Go's `%v` of the object reference upstream builds for this request.
    fn go_reference(&self) -> String {
        let (kind, namespace, name, api_version, field_path) = match self {
            Request::ServiceAccount { namespace, name } => {
                ("ServiceAccount", *namespace, *name, "", "")
            }
            Request::User(name) => ("User", "", *name, "", ""),
            Request::Group(name) => ("Group", "", *name, "", ""),
            Request::Extra { key, value } => (
                "UserExtra",
                "",
                *value,
                "authentication.k8s.io/v1",
                key.as_str(),
            ),
            Request::Uid(uid) => ("UID", "", *uid, "authentication.k8s.io/v1", ""),
        };
        format!("{{{kind} {namespace} {name}  {api_version}  {field_path}}}")
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Decodes an extra key the way upstream does: lowercased, then `%`-decoded when well-formed.
fn unescape_extra_key(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return encoded.to_string();
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| encoded.to_string())
}

/// The impersonation requests of `headers`, in upstream's order; an error when groups,
/// extras or a uid are asked for without a user.
fn requests(headers: &HeaderMap) -> Result<Vec<Request<'_>>, String> {
    let mut out = Vec::new();
    let user = header_values(headers, USER).first().copied().unwrap_or("");
    if !user.is_empty() {
        out.push(match split_service_account_user(user) {
            Some((namespace, name)) => Request::ServiceAccount { namespace, name },
            None => Request::User(user),
        });
    }
    let groups = header_values(headers, GROUP);
    out.extend(groups.iter().map(|g| Request::Group(g)));
    let mut has_extra = false;
    for name in headers.keys() {
        let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) else {
            continue;
        };
        has_extra = true;
        let key = unescape_extra_key(key);
        for value in header_values(headers, name.as_str()) {
            out.push(Request::Extra {
                key: key.clone(),
                value,
            });
        }
    }
    let uid = header_values(headers, UID).first().copied().unwrap_or("");
    if !uid.is_empty() {
        out.push(Request::Uid(uid));
    }
    if (!groups.is_empty() || has_extra || !uid.is_empty()) && user.is_empty() {
        let references: Vec<String> = out.iter().map(Request::go_reference).collect();
        return Err(format!(
            "requested [{}] without impersonating a user",
            references.join(" ")
        ));
    }
    Ok(out)
}

/// Applies the impersonation headers of a request by `requestor` to `request_uri`: the
/// impersonated user, or `requestor` itself when the request impersonates nobody.
pub fn impersonate(
    authorizer: &dyn Authorizer,
    requestor: UserInfo,
    headers: &HeaderMap,
    request_uri: &str,
) -> Result<UserInfo, ApiError> {
    let requests = requests(headers).map_err(|e| {
        ApiError::new(
            500,
            "InternalError",
            &format!("Internal Server Error: {}: {e}", go_quote(request_uri)),
        )
    })?;
    if requests.is_empty() {
        return Ok(requestor);
    }
    let groups_specified = headers.contains_key(GROUP);
    let mut user = UserInfo::default();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for request in &requests {
        let mut attributes = Attributes {
            user: Some(&requestor),
            verb: "impersonate",
            resource_request: true,
            ..Attributes::default()
        };
        match request {
            Request::ServiceAccount { namespace, name } => {
                attributes.resource = "serviceaccounts";
                attributes.api_version = "v1";
                attributes.namespace = namespace;
                attributes.name = name;
                user.name = service_account_user_name(namespace, name);
                if !groups_specified {
                    user.groups = service_account_groups(namespace);
                }
            }
            Request::User(name) => {
                attributes.resource = "users";
                attributes.api_version = "v1";
                attributes.name = name;
                user.name = name.to_string();
            }
            Request::Group(name) => {
                attributes.resource = "groups";
                attributes.api_version = "v1";
                attributes.name = name;
                user.groups.push(name.to_string());
            }
            Request::Extra { key, value } => {
                attributes.api_group = "authentication.k8s.io";
                attributes.api_version = "v1";
                attributes.resource = "userextras";
                attributes.subresource = key;
                attributes.name = value;
                extra
                    .entry(key.clone())
                    .or_default()
                    .push(value.to_string());
            }
            Request::Uid(uid) => {
                attributes.api_group = "authentication.k8s.io";
                attributes.api_version = "v1";
                attributes.resource = "uids";
                attributes.name = uid;
                user.uid = uid.to_string();
            }
        }
        authorizer::check(authorizer, &attributes)?;
    }
    let has = |group: &str| user.groups.iter().any(|g| g == group);
    if user.name != ANONYMOUS {
        // A non-anonymous user is authenticated unless told it is unauthenticated.
        if !has(ALL_AUTHENTICATED) && !has(ALL_UNAUTHENTICATED) {
            user.groups.push(ALL_AUTHENTICATED.into());
        }
    } else if !has(ALL_UNAUTHENTICATED) {
        user.groups.push(ALL_UNAUTHENTICATED.into());
    }
    user.extra = extra;
    tracing::debug!(
        "{} is impersonating {} {:?}",
        requestor.name,
        user.name,
        user.groups
    );
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::authorizer::AllowAuthenticated;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn admin() -> UserInfo {
        UserInfo::authenticated("admin".into(), String::new(), vec!["system:masters".into()])
    }

    #[test]
    fn no_headers_leave_the_requestor() {
        let user = impersonate(&AllowAuthenticated, admin(), &HeaderMap::new(), "/api").unwrap();
        assert_eq!(user, admin());
    }

    #[test]
    fn a_user_with_groups_uid_and_extras_is_impersonated() {
        let h = headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "u-1"),
            ("Impersonate-Extra-Scopes", "view"),
            ("Impersonate-Extra-Scopes", "edit"),
            ("Impersonate-Extra-Example.com%2fteam", "a"),
        ]);
        let user = impersonate(&AllowAuthenticated, admin(), &h, "/api").unwrap();
        assert_eq!(user.name, "jane");
        assert_eq!(user.uid, "u-1");
        assert_eq!(user.groups, ["devs", "ops", ALL_AUTHENTICATED]);
        assert_eq!(user.extra["scopes"], ["view", "edit"]);
        assert_eq!(user.extra["example.com/team"], ["a"]);
    }

    #[test]
    fn service_accounts_get_their_groups_unless_groups_are_given() {
        let h = headers(&[("Impersonate-User", "system:serviceaccount:ns:builder")]);
        let user = impersonate(&AllowAuthenticated, admin(), &h, "/api").unwrap();
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                ALL_AUTHENTICATED
            ]
        );
        let h = headers(&[
            ("Impersonate-User", "system:serviceaccount:ns:builder"),
            ("Impersonate-Group", ALL_UNAUTHENTICATED),
        ]);
        let user = impersonate(&AllowAuthenticated, admin(), &h, "/api").unwrap();
        assert_eq!(user.groups, [ALL_UNAUTHENTICATED]);
        let user = impersonate(
            &AllowAuthenticated,
            admin(),
            &headers(&[("Impersonate-User", ANONYMOUS)]),
            "/api",
        )
        .unwrap();
        assert_eq!(user.groups, [ALL_UNAUTHENTICATED]);
    }

    #[test]
    fn groups_without_a_user_are_an_error() {
        let h = headers(&[("Impersonate-Group", "devs")]);
        let err = impersonate(&AllowAuthenticated, admin(), &h, "/api/v1/pods").unwrap_err();
        assert_eq!(err.code, 500);
        assert_eq!(
            err.message,
            "Internal Server Error: \"/api/v1/pods\": requested [{Group  devs    }] without impersonating a user"
        );
    }

    #[test]
    fn the_anonymous_user_may_not_impersonate() {
        let h = headers(&[("Impersonate-User", "jane")]);
        let err = impersonate(&AllowAuthenticated, UserInfo::anonymous(), &h, "/api").unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "users \"jane\" is forbidden: User \"system:anonymous\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
    }

    #[test]
    fn service_account_user_names_split_only_when_valid() {
        assert_eq!(
            split_service_account_user("system:serviceaccount:ns:sa"),
            Some(("ns", "sa"))
        );
        assert_eq!(split_service_account_user("system:serviceaccount:ns"), None);
        assert_eq!(
            split_service_account_user("system:serviceaccount:NS:sa"),
            None
        );
        assert_eq!(split_service_account_user("jane"), None);
    }
}
