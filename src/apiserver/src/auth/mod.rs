//! Authentication: client certificates signed by Den's CA, upstream's static token file and
//! service-account tokens; then impersonation and authorization, and the review APIs that
//! answer questions about all three.

pub mod authorizer;
pub mod impersonation;
pub mod reviews;
pub mod serviceaccount;
pub mod tokenrequest;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use den_apimachinery::status::ApiError;
use http::{HeaderMap, header};

use crate::server::ApiServer;

/// Upstream's `system:authenticated` group, which every authenticated user is in.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// Upstream's `system:unauthenticated` group, the anonymous user's.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user of requests without credentials.
pub const ANONYMOUS: &str = "system:anonymous";

/// An authenticated user, as upstream's `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo {
            name: ANONYMOUS.into(),
            groups: vec![ALL_UNAUTHENTICATED.into()],
            ..UserInfo::default()
        }
    }

    /// Whether this is the anonymous user (or one in its group).
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS || self.groups.iter().any(|g| g == ALL_UNAUTHENTICATED)
    }

    /// `name` with `system:authenticated` added to `groups`, as upstream's group adder does.
    pub fn authenticated(name: String, uid: String, mut groups: Vec<String>) -> Self {
        if !groups
            .iter()
            .any(|g| g == ALL_AUTHENTICATED || g == ALL_UNAUTHENTICATED)
        {
            groups.push(ALL_AUTHENTICATED.into());
        }
        UserInfo {
            name,
            uid,
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// The `authentication.k8s.io/v1` `UserInfo` form (TokenReview, SelfSubjectReview).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        if !self.name.is_empty() {
            out.insert("username".into(), self.name.clone().into());
        }
        if !self.uid.is_empty() {
            out.insert("uid".into(), self.uid.clone().into());
        }
        if !self.groups.is_empty() {
            out.insert("groups".into(), self.groups.clone().into());
        }
        if !self.extra.is_empty() {
            out.insert("extra".into(), serde_json::json!(self.extra));
        }
        out.into()
    }
}

/// The user named by a verified client certificate: CN is the name, each O a group.
pub fn user_from_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(UserInfo::authenticated(name, String::new(), groups))
}

/// Upstream's `--token-auth-file`: CSV lines `token,user,uid[,"group1,group2"]`.
#[derive(Default)]
pub struct TokenAuthenticator {
    tokens: HashMap<String, UserInfo>,
}

impl TokenAuthenticator {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read token file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("malformed token file {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let mut tokens = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields = split_csv_line(line)
                .with_context(|| format!("line {line_no}: unbalanced quotes"))?;
            if fields.len() < 3 {
                bail!(
                    "line {line_no}: expected token,user,uid[,groups], got {} fields",
                    fields.len()
                );
            }
            let (token, name, uid) = (&fields[0], &fields[1], &fields[2]);
            if token.is_empty() || name.is_empty() {
                bail!("line {line_no}: token and user name must not be empty");
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if tokens.contains_key(token) {
                bail!("line {line_no}: duplicate token");
            }
            tokens.insert(
                token.clone(),
                UserInfo::authenticated(name.clone(), uid.clone(), groups),
            );
        }
        Ok(TokenAuthenticator { tokens })
    }

    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.tokens.get(token).cloned()
    }
}

/// What a bearer token authenticated as, and the audiences it was accepted for.
#[derive(Debug)]
pub struct Authenticated {
    pub user: UserInfo,
    pub audiences: Vec<String>,
}

/// Upstream's message when no token authenticator recognises a bearer token.
const INVALID_BEARER_TOKEN: &str = "invalid bearer token";

/// Upstream's token authenticator union for one bearer token: the static token file, then
/// service-account tokens. `audiences` are the audiences the token must be good for
/// (the API server's own, or a TokenReview's). The error is upstream's, which a TokenReview
/// reports as `status.error`.
pub async fn authenticate_token(
    server: &ApiServer,
    token: &str,
    audiences: &[String],
) -> Result<Authenticated, String> {
    // The token file is audience-agnostic: it serves exactly the API server's audiences.
    let shared: Vec<String> = server
        .service_accounts
        .api_audiences()
        .iter()
        .filter(|a| audiences.contains(a))
        .cloned()
        .collect();
    if !shared.is_empty()
        && let Some(user) = server.tokens.authenticate(token)
    {
        return Ok(Authenticated {
            user,
            audiences: shared,
        });
    }
    let service_accounts = &server.service_accounts;
    match service_accounts
        .authenticate(server, token, audiences)
        .await
    {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(INVALID_BEARER_TOKEN.into()),
        Err(e) => Err(e),
    }
}

/// The bearer token of an `Authorization` header, as upstream's bearer-token authenticator
/// reads it: another scheme or an empty token is no token at all.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = auth.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Upstream's request authenticator chain: a verified client certificate, then a bearer
/// token; a request with neither is anonymous, one with a token nobody accepts is refused.
pub async fn authenticate_request(
    server: &ApiServer,
    headers: &HeaderMap,
    certificate_user: Option<&UserInfo>,
) -> Result<UserInfo, ApiError> {
    if let Some(user) = certificate_user {
        return Ok(user.clone());
    }
    let Some(token) = bearer_token(headers) else {
        return Ok(UserInfo::anonymous());
    };
    match authenticate_token(server, token, server.service_accounts.api_audiences()).await {
        Ok(found) => Ok(found.user),
        Err(e) => {
            tracing::debug!("unable to authenticate the request: {e}");
            Err(ApiError::unauthorized("Unauthorized"))
        }
    }
}

/// Splits one CSV line with double-quoted fields (a doubled quote inside quotes is a quote).
fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut()?.push('"');
            }
            ('"', _) => in_quotes = !in_quotes,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut()?.push(c),
        }
    }
    (!in_quotes).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_give_users_with_quoted_groups() {
        let auth = TokenAuthenticator::parse("t1,alice,u1,\"dev,ops\"\nt2,bob,u2\n").unwrap();
        let alice = auth.authenticate("t1").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(
            auth.authenticate("t2").unwrap().groups,
            ["system:authenticated"]
        );
        assert!(auth.authenticate("nope").is_none());
    }

    #[test]
    fn bearer_tokens_are_read_like_upstream() {
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc extra")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer  abc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn authenticated_users_join_system_authenticated_once() {
        let user = UserInfo::authenticated("a".into(), String::new(), vec!["x".into()]);
        assert_eq!(user.groups, ["x", ALL_AUTHENTICATED]);
        let user = UserInfo::authenticated("a".into(), String::new(), user.groups);
        assert_eq!(user.groups, ["x", ALL_AUTHENTICATED]);
        assert!(UserInfo::anonymous().is_anonymous());
        assert!(!user.is_anonymous());
    }

    #[test]
    fn malformed_token_file_is_rejected_with_its_line() {
        let err = TokenAuthenticator::parse("ok,a,1\nbroken\n").err().unwrap();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        assert!(TokenAuthenticator::parse("t,a,1,\"unterminated\n").is_err());
    }
}
