//! Service-account tokens (upstream's `pkg/serviceaccount`): JWTs signed with an ES256 key
//! kept under the data dir, issued by TokenRequest and accepted as bearer tokens.
//!
//! A token's claims are upstream's: `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud`,
//! `exp`, `iat`, `nbf`, `jti` and the private `kubernetes.io` claim naming the namespace,
//! the service account and the pod, secret or node the token is bound to. Validation checks
//! the signature, issuer, audiences and times, then that the service account and the bound
//! object still exist with the UIDs the token names.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Map, Value, json};

use super::impersonation::{service_account_groups, service_account_user_name};
use super::{Authenticated, UserInfo};
use crate::certs::write_private;
use crate::server::ApiServer;

/// The issuer Den signs with unless `--service-account-issuer` says otherwise (kubeadm's).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The signing key's file under the PKI directory (kubeadm's name).
pub const KEY_FILE: &str = "sa.key";
/// Upstream's tolerance for clock skew when checking `exp`, `nbf` and `iat` (go-jose's).
const LEEWAY_SECONDS: i64 = 60;
/// The expiration kubelets ask for, which upstream extends (warning only after it passes).
pub const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS: i64 = 60 * 60 + 7;
/// How long such a pod-bound token really lasts: a year.
pub const EXPIRATION_EXTENSION_SECONDS: i64 = 24 * 365 * 60 * 60;
/// The `user.Info` extra key of a token's credential id (`JTI=<jti>`).
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";
const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";
/// go-jose's message for a signature that does not verify.
const CRYPTO_FAILURE: &str = "go-jose/go-jose: error in cryptographic primitive";
/// The DER prefix of a P-256 public key in SubjectPublicKeyInfo form, before its 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted_list(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| den_apimachinery::validation::go_quote(v))
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// A name and UID of an object a token names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

impl ObjectRef {
    /// The name and UID of a stored object.
    pub fn of(obj: &Value) -> Self {
        let meta = |field: &str| {
            crate::objects::meta_str(obj, field)
                .unwrap_or("")
                .to_string()
        };
        ObjectRef {
            name: meta("name"),
            uid: meta("uid"),
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if !self.name.is_empty() {
            out.insert("name".into(), self.name.clone().into());
        }
        if !self.uid.is_empty() {
            out.insert("uid".into(), self.uid.clone().into());
        }
        out.into()
    }

    fn from_json(value: Option<&Value>) -> Option<Self> {
        let value = value?;
        let field = |f: &str| {
            value
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Some(ObjectRef {
            name: field("name"),
            uid: field("uid"),
        })
    }
}

/// What a token is issued for: upstream's `Claims` arguments.
#[derive(Clone, Debug, Default)]
pub struct TokenClaims {
    pub namespace: String,
    pub service_account: ObjectRef,
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
    pub node: Option<ObjectRef>,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expiration_seconds: i64,
    /// Seconds after `issued_at` when a still-valid token is reported stale (0: never).
    pub warn_after_seconds: i64,
    /// The token's unique id (`jti`).
    pub id: String,
}

impl TokenClaims {
    /// The JWT payload, without `iss` (the signer adds it).
    pub fn to_json(&self) -> Value {
        let mut kubernetes = json!({
            "namespace": self.namespace,
            "serviceaccount": self.service_account.to_json(),
        });
        for (key, bound) in [
            ("pod", &self.pod),
            ("secret", &self.secret),
            ("node", &self.node),
        ] {
            if let Some(bound) = bound {
                kubernetes[key] = bound.to_json();
            }
        }
        if self.warn_after_seconds != 0 {
            kubernetes["warnafter"] = json!(self.issued_at + self.warn_after_seconds);
        }
        let mut claims = json!({
            "aud": self.audiences,
            "exp": self.issued_at + self.expiration_seconds,
            "iat": self.issued_at,
            "kubernetes.io": kubernetes,
            "nbf": self.issued_at,
            "sub": service_account_user_name(&self.namespace, &self.service_account.name),
        });
        if !self.id.is_empty() {
            claims["jti"] = json!(self.id);
        }
        claims
    }
}

/// The claims of a token whose signature verified.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verified {
    audiences: Vec<String>,
    expiry: Option<i64>,
    not_before: Option<i64>,
    issued_at: Option<i64>,
    id: String,
    namespace: String,
    service_account: ObjectRef,
    pod: Option<ObjectRef>,
    secret: Option<ObjectRef>,
    node: Option<ObjectRef>,
}

impl Verified {
    fn parse(payload: &Value) -> Result<Self, String> {
        let date = |field: &str| -> Result<Option<i64>, String> {
            match payload.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(|f| Some(f as i64))
                    .ok_or_else(|| format!("json: cannot unmarshal {v} into a NumericDate")),
            }
        };
        let audiences = match payload.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or(
                    "go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience",
                )?,
            Some(_) => {
                return Err(
                    "go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience"
                        .into(),
                );
            }
        };
        let kubernetes = payload.get("kubernetes.io");
        let private = |field: &str| kubernetes.and_then(|k| k.get(field));
        Ok(Verified {
            audiences,
            expiry: date("exp")?,
            not_before: date("nbf")?,
            issued_at: date("iat")?,
            id: payload
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            namespace: private("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            service_account: ObjectRef::from_json(private("serviceaccount")).unwrap_or_default(),
            pod: ObjectRef::from_json(private("pod")),
            secret: ObjectRef::from_json(private("secret")),
            node: ObjectRef::from_json(private("node")),
        })
    }

    /// go-jose's time checks with upstream's messages.
    fn check_times(&self, now: i64) -> Result<(), String> {
        if self
            .not_before
            .is_some_and(|nbf| now + LEEWAY_SECONDS < nbf)
        {
            return Err("service account token is not valid yet".into());
        }
        if self.expiry.is_some_and(|exp| now - LEEWAY_SECONDS > exp) {
            return Err("service account token has expired".into());
        }
        if self.issued_at.is_some_and(|iat| now + LEEWAY_SECONDS < iat) {
            return Err("service account token is issued in the future".into());
        }
        Ok(())
    }
}

/// The signing key and the issuers and audiences tokens are checked against.
pub struct ServiceAccountTokens {
    /// The first signs; every one is accepted.
    issuers: Vec<String>,
    /// The audiences of the API server itself (upstream's `--api-audiences`, by default the
    /// issuers).
    api_audiences: Vec<String>,
    key: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl ServiceAccountTokens {
    /// Loads `<pki_dir>/sa.key`, creating an ECDSA P-256 key there on first start.
    pub fn load_or_create(pki_dir: &Path, issuers: Vec<String>) -> Result<Self> {
        let path = pki_dir.join(KEY_FILE);
        if !path.exists() {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .context("cannot generate the service account signing key")?;
            write_private(&path, &key.serialize_pem())?;
        }
        let pem =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_pem(&pem, issuers).with_context(|| format!("invalid key {}", path.display()))
    }

    /// A signer of `issuers` (the first signs) with a PKCS#8 ECDSA P-256 private key.
    pub fn from_pem(pem: &[u8], issuers: Vec<String>) -> Result<Self> {
        if issuers.is_empty() || issuers.iter().any(String::is_empty) {
            bail!("--service-account-issuer must not be empty");
        }
        let der = match PrivateKeyDer::from_pem_slice(pem).context("no private key in PEM")? {
            PrivateKeyDer::Pkcs8(der) => der,
            _ => bail!("the service account signing key must be a PKCS#8 ECDSA P-256 key"),
        };
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|e| anyhow::anyhow!("the service account signing key must be ECDSA P-256: {e}"))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        let key_id =
            URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref());
        Ok(ServiceAccountTokens {
            api_audiences: issuers.clone(),
            issuers,
            key,
            key_id,
            rng,
        })
    }

    /// The issuer of the tokens Den signs.
    pub fn issuer(&self) -> &str {
        &self.issuers[0]
    }

    /// The API server's own audiences: what a token is for when it names none.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// Signs `claims` (adding `iss`) into a compact JWS with the `ES256` algorithm.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let mut claims = claims.clone();
        claims["iss"] = json!(self.issuer());
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| anyhow::anyhow!("failed to generate token: {e}"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// Checks the signature, issuer, audiences and times of `token`. `Ok(None)` when the
    /// token is not a JWT of one of our issuers (another authenticator may know it).
    fn verify(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<Option<Verified>, String> {
        let parts: Vec<&str> = token.split('.').collect();
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        if token.trim_start().starts_with('{') || parts.len() != 3 {
            return Ok(None);
        }
        let Some(payload) = decode(parts[1]) else {
            return Ok(None);
        };
        let issuer = payload.get("iss").and_then(Value::as_str).unwrap_or("");
        if !self.issuers.iter().any(|i| i == issuer) {
            return Ok(None);
        }
        let (Some(header), Ok(signature)) = (decode(parts[0]), URL_SAFE_NO_PAD.decode(parts[2]))
        else {
            return Ok(None);
        };
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        if !kid.is_empty() && kid != self.key_id {
            return Err("invalid signature, no keys found".into());
        }
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err("go-jose/go-jose: unknown/unsupported algorithm".into());
        }
        let public_key = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        let signed = &token[..parts[0].len() + 1 + parts[1].len()];
        public_key
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| CRYPTO_FAILURE.to_string())?;
        let mut claims = Verified::parse(&payload)?;
        if claims.audiences.is_empty() {
            // Only legacy tokens name no audience: they are for the API server.
            claims.audiences = self.api_audiences.clone();
        }
        let shared: Vec<String> = claims
            .audiences
            .iter()
            .filter(|a| audiences.contains(a))
            .cloned()
            .collect();
        if shared.is_empty() {
            return Err(format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quoted_list(&claims.audiences),
                go_quoted_list(audiences)
            ));
        }
        claims.check_times(now)?;
        claims.audiences = shared;
        Ok(Some(claims))
    }

    /// Authenticates a bearer token as its service account: `Ok(None)` when the token is not
    /// ours, an upstream message when it is ours but not (or no longer) valid.
    pub async fn authenticate(
        &self,
        server: &ApiServer,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<Authenticated>, String> {
        let Some(claims) = self.verify(token, audiences, unix_now())? else {
            return Ok(None);
        };
        let user = validate_bound_objects(server, &claims).await?;
        Ok(Some(Authenticated {
            user,
            audiences: claims.audiences,
        }))
    }

    /// `/.well-known/openid-configuration` for clients that verify tokens themselves, or
    /// `None` when the issuer is not an https URL (upstream serves nothing then).
    pub fn openid_configuration(&self, external_address: &str) -> Option<Value> {
        self.issuer().starts_with("https://").then(|| {
            json!({
                "issuer": self.issuer(),
                "jwks_uri": format!("https://{external_address}/openid/v1/jwks"),
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            })
        })
    }

    /// `/openid/v1/jwks`: the public signing key.
    pub fn jwks(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({"keys": [{
            "use": "sig",
            "kty": "EC",
            "kid": self.key_id,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]})
    }
}

/// How a stored object differs from the one a token names.
enum Stale {
    /// Another object of the same name, with this UID.
    Replaced(String),
    /// Deleted long enough ago (beyond the leeway) to void the token.
    Deleted,
}

fn staleness(obj: &Value, uid: &str, now: i64) -> Option<Stale> {
    let actual = crate::objects::meta_str(obj, "uid").unwrap_or("");
    if actual != uid {
        return Some(Stale::Replaced(actual.to_string()));
    }
    crate::objects::meta_str(obj, "deletionTimestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t.timestamp() < now - LEEWAY_SECONDS)
        .then_some(Stale::Deleted)
}

/// Upstream's validator: the service account and the bound pod, secret or node still exist
/// with the UIDs the token names. The user is the service account's.
async fn validate_bound_objects(server: &ApiServer, claims: &Verified) -> Result<UserInfo, String> {
    let now = unix_now();
    let namespace = claims.namespace.as_str();
    let sa_ref = &claims.service_account;
    let sa = get(server, "serviceaccounts", namespace, &sa_ref.name)
        .await
        .map_err(|e| e.message)?;
    match staleness(&sa, &sa_ref.uid, now) {
        Some(Stale::Replaced(uid)) => {
            return Err(format!(
                "service account UID ({uid}) does not match claim ({})",
                sa_ref.uid
            ));
        }
        Some(Stale::Deleted) => {
            return Err(format!(
                "service account {namespace}/{} has been deleted",
                sa_ref.name
            ));
        }
        None => {}
    }
    // A bound object that is gone, replaced or long deleted voids the token.
    let check_bound = async |plural: &str, namespace: &str, bound: &ObjectRef, what: &str| {
        let invalidated = || "service account token has been invalidated".to_string();
        let obj = get(server, plural, namespace, &bound.name)
            .await
            .map_err(|_| invalidated())?;
        match staleness(&obj, &bound.uid, now) {
            Some(Stale::Replaced(uid)) => Err(format!(
                "{what} UID ({uid}) does not match service account {what} ref claim ({})",
                bound.uid
            )),
            Some(Stale::Deleted) => Err(invalidated()),
            None => Ok(()),
        }
    };
    if let Some(secret) = &claims.secret {
        check_bound("secrets", namespace, secret, "secret").await?;
    }
    let mut user = UserInfo::authenticated(
        service_account_user_name(namespace, &sa_ref.name),
        sa_ref.uid.clone(),
        service_account_groups(namespace),
    );
    if let Some(pod) = &claims.pod {
        check_bound("pods", namespace, pod, "pod").await?;
        user.extra
            .insert(POD_NAME_KEY.into(), vec![pod.name.clone()]);
        user.extra.insert(POD_UID_KEY.into(), vec![pod.uid.clone()]);
    }
    if let Some(node) = &claims.node {
        // A pod-bound token only reports its pod's node; a node-bound one needs the node.
        if claims.pod.is_none() {
            check_bound("nodes", "", node, "node").await?;
        }
        user.extra
            .insert(NODE_NAME_KEY.into(), vec![node.name.clone()]);
        if !node.uid.is_empty() {
            user.extra
                .insert(NODE_UID_KEY.into(), vec![node.uid.clone()]);
        }
    }
    if !claims.id.is_empty() {
        user.extra
            .insert(CREDENTIAL_ID_KEY.into(), vec![format!("JTI={}", claims.id)]);
    }
    Ok(user)
}

/// Reads a core `v1` object.
pub(crate) async fn get(
    server: &ApiServer,
    plural: &str,
    namespace: &str,
    name: &str,
) -> Result<Value, den_apimachinery::status::ApiError> {
    let info = server
        .resources()
        .get("", "v1", plural)
        .cloned()
        .expect("a built-in kind");
    server.registry.get(&info, namespace, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = DEFAULT_ISSUER;

    fn tokens() -> ServiceAccountTokens {
        let dir = tempfile::tempdir().unwrap();
        ServiceAccountTokens::load_or_create(dir.path(), vec![ISSUER.into()]).unwrap()
    }

    fn claims(now: i64) -> TokenClaims {
        TokenClaims {
            namespace: "ns".into(),
            service_account: ObjectRef {
                name: "builder".into(),
                uid: "sa-uid".into(),
            },
            audiences: vec![ISSUER.into()],
            issued_at: now,
            expiration_seconds: 3600,
            id: "jti-1".into(),
            ..TokenClaims::default()
        }
    }

    fn payload(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn tokens_carry_upstreams_claims() {
        let tokens = tokens();
        let now = 1_700_000_000;
        let mut c = claims(now);
        c.pod = Some(ObjectRef {
            name: "p".into(),
            uid: "pod-uid".into(),
        });
        c.warn_after_seconds = 3607;
        let token = tokens.sign(&c.to_json()).unwrap();
        assert_eq!(
            payload(&token),
            json!({
                "aud": [ISSUER],
                "exp": now + 3600,
                "iat": now,
                "iss": ISSUER,
                "jti": "jti-1",
                "kubernetes.io": {
                    "namespace": "ns",
                    "pod": {"name": "p", "uid": "pod-uid"},
                    "serviceaccount": {"name": "builder", "uid": "sa-uid"},
                    "warnafter": now + 3607,
                },
                "nbf": now,
                "sub": "system:serviceaccount:ns:builder",
            })
        );
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": tokens.key_id}));
    }

    #[test]
    fn signed_tokens_verify_and_name_their_service_account() {
        let tokens = tokens();
        let now = unix_now();
        let token = tokens.sign(&claims(now).to_json()).unwrap();
        let verified = tokens
            .verify(&token, &[ISSUER.into()], now)
            .unwrap()
            .unwrap();
        assert_eq!(verified.namespace, "ns");
        assert_eq!(verified.service_account.uid, "sa-uid");
        assert_eq!(verified.audiences, [ISSUER]);
        assert_eq!(verified.id, "jti-1");
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused_with_upstreams_messages() {
        let tokens = tokens();
        let now = unix_now();
        let auds = [ISSUER.to_string()];
        let token = tokens.sign(&claims(now).to_json()).unwrap();

        // Another payload under the same signature.
        let mut forged = claims(now);
        forged.service_account.name = "admin".into();
        let other = tokens.sign(&forged.to_json()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(
            tokens.verify(&tampered, &auds, now).unwrap_err(),
            CRYPTO_FAILURE
        );

        assert_eq!(
            tokens.verify(&token, &auds, now + 3600 + 61).unwrap_err(),
            "service account token has expired"
        );
        assert!(tokens.verify(&token, &auds, now + 3600 + 59).is_ok());
        assert_eq!(
            tokens.verify(&token, &auds, now - 61).unwrap_err(),
            "service account token is not valid yet"
        );
        assert_eq!(
            tokens
                .verify(&token, &["other".to_string()], now)
                .unwrap_err(),
            format!(
                "token audiences [\"{ISSUER}\"] is invalid for the target audiences [\"other\"]"
            )
        );

        // A token of another key with our issuer: the key id names no key of ours.
        let stranger = self::tokens().sign(&claims(now).to_json()).unwrap();
        assert_eq!(
            tokens.verify(&stranger, &auds, now).unwrap_err(),
            "invalid signature, no keys found"
        );
        // Not a JWT, or another issuer's: not ours to judge.
        assert_eq!(tokens.verify("s3cret", &auds, now), Ok(None));
        let dir = tempfile::tempdir().unwrap();
        let elsewhere =
            ServiceAccountTokens::load_or_create(dir.path(), vec!["https://elsewhere".into()])
                .unwrap();
        let foreign = elsewhere.sign(&claims(now).to_json()).unwrap();
        assert_eq!(tokens.verify(&foreign, &auds, now), Ok(None));
    }

    #[test]
    fn the_key_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceAccountTokens::load_or_create(dir.path(), vec![ISSUER.into()]).unwrap();
        let token = first.sign(&claims(unix_now()).to_json()).unwrap();
        let second = ServiceAccountTokens::load_or_create(dir.path(), vec![ISSUER.into()]).unwrap();
        assert_eq!(first.key_id, second.key_id);
        assert!(
            second
                .verify(&token, &[ISSUER.into()], unix_now())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn discovery_documents_describe_the_issuer_and_key() {
        let tokens = tokens();
        let config = tokens.openid_configuration("127.0.0.1:6443").unwrap();
        assert_eq!(config["issuer"], ISSUER);
        assert_eq!(config["jwks_uri"], "https://127.0.0.1:6443/openid/v1/jwks");
        let jwks = tokens.jwks();
        assert_eq!(jwks["keys"][0]["kid"], tokens.key_id.as_str());
        assert_eq!(jwks["keys"][0]["x"].as_str().unwrap().len(), 43);
    }
}
