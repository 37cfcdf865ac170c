//! Authentication: client certificates signed by Den's CA and upstream's static token file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// An authenticated user, as upstream's `user.Info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }

    fn authenticated(name: String, uid: String, mut groups: Vec<String>) -> Self {
        groups.push("system:authenticated".into());
        UserInfo { name, uid, groups }
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
    fn malformed_token_file_is_rejected_with_its_line() {
        let err = TokenAuthenticator::parse("ok,a,1\nbroken\n").err().unwrap();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        assert!(TokenAuthenticator::parse("t,a,1,\"unterminated\n").is_err());
    }
}
