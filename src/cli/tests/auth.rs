//! Service-account tokens, the review APIs and impersonation against a real Den: through
//! `kube::Client` and through kubectl 1.33 and 1.27.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, Den, fails, ok};
use den_apiserver::auth::serviceaccount::{
    DEFAULT_ISSUER, ObjectRef, ServiceAccountTokens, TokenClaims, unix_now,
};
use k8s_openapi::api::authentication::v1::{
    SelfSubjectReview, TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SelfSubjectRulesReview,
    SelfSubjectRulesReviewSpec, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::{Value, json};

const SA_USER: &str = "system:serviceaccount:default:builder";
const SA_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:default",
    "system:authenticated",
];

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts that a request failed with `code` and `message`.
#[track_caller]
fn assert_api_error(err: kube::Error, code: u16, message: &str) {
    let status = api_error(err);
    assert_eq!((status.code, status.message.as_str()), (code, message));
}

async fn create_service_account(client: &kube::Client, name: &str) -> ServiceAccount {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &sa)
        .await
        .unwrap()
}

async fn request_token(client: &kube::Client, name: &str, spec: TokenRequestSpec) -> TokenRequest {
    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .create_token_request(
            name,
            &PostParams::default(),
            &TokenRequest {
                spec,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

async fn review(client: &kube::Client, token: &str, audiences: &[&str]) -> Value {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            audiences: (!audiences.is_empty())
                .then(|| audiences.iter().map(|a| a.to_string()).collect()),
        },
        ..Default::default()
    };
    let reviewed = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    serde_json::to_value(reviewed.status.unwrap()).unwrap()
}

/// A client of `den` that authenticates with `token` instead of the admin certificate.
async fn client_with_token(den: &Den, token: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&den.kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.auth_info = serde_json::from_value(json!({"token": token})).unwrap();
    kube::Client::try_from(config).unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_give_tokens_that_token_reviews_and_requests_accept() {
    let den = Den::start(Backend::Embedded);
    let admin = den.client().await;
    let sa = create_service_account(&admin, "builder").await;
    let sa_uid = sa.metadata.uid.unwrap();

    let issued = request_token(&admin, "builder", TokenRequestSpec::default()).await;
    assert_eq!(issued.metadata.name.as_deref(), Some("builder"));
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    assert_eq!(issued.spec.audiences, [DEFAULT_ISSUER]);
    let status = issued.status.unwrap();
    let token = status.token;
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], DEFAULT_ISSUER);
    assert_eq!(claims["sub"], SA_USER);
    assert_eq!(claims["aud"], json!([DEFAULT_ISSUER]));
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"],
        json!({"name": "builder", "uid": sa_uid})
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert_eq!(status.expiration_timestamp.0.as_second(), iat + 3600);
    let jti = claims["jti"].as_str().unwrap();

    let reviewed = review(&admin, &token, &[]).await;
    assert_eq!(
        reviewed,
        json!({
            "authenticated": true,
            "audiences": [DEFAULT_ISSUER],
            "user": {
                "username": SA_USER,
                "uid": sa_uid,
                "groups": SA_GROUPS,
                "extra": {"authentication.kubernetes.io/credential-id": [format!("JTI={jti}")]},
            },
        })
    );
    let reviewed = review(&admin, &token, &["vault"]).await;
    assert_eq!(reviewed["authenticated"], json!(null));
    assert_eq!(
        reviewed["error"],
        format!(
            "token audiences [\"{DEFAULT_ISSUER}\"] is invalid for the target audiences [\"vault\"]"
        )
    );

    // The token is the service account's credential for any request.
    let as_sa = client_with_token(&den, &token).await;
    Api::<ConfigMap>::namespaced(as_sa.clone(), "default")
        .list(&Default::default())
        .await
        .unwrap();
    let me = Api::<SelfSubjectReview>::all(as_sa)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let me = me.status.unwrap().user_info.unwrap();
    assert_eq!(me.username.as_deref(), Some(SA_USER));
    assert_eq!(me.groups.unwrap(), SA_GROUPS);

    // A token for another audience is not a credential for the API server.
    let vault = request_token(
        &admin,
        "builder",
        TokenRequestSpec {
            audiences: vec!["vault".into()],
            expiration_seconds: Some(600),
            ..Default::default()
        },
    )
    .await
    .status
    .unwrap()
    .token;
    assert_eq!(
        review(&admin, &vault, &["vault"]).await["authenticated"],
        true
    );
    let err = Api::<ConfigMap>::namespaced(client_with_token(&den, &vault).await, "default")
        .list(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 401);

    let err = Api::<ServiceAccount>::namespaced(admin.clone(), "default")
        .create_token_request(
            "builder",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(60),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_api_error(
        err,
        422,
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
    );
    let err = Api::<ServiceAccount>::namespaced(admin.clone(), "default")
        .create_token_request("nobody", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap_err();
    assert_api_error(err, 404, "serviceaccounts \"nobody\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_expired_and_orphaned_tokens_are_refused() {
    let mut den = Den::start(Backend::Embedded);
    let admin = den.client().await;
    let sa = create_service_account(&admin, "builder").await;
    let token = request_token(&admin, "builder", TokenRequestSpec::default())
        .await
        .status
        .unwrap()
        .token;

    // Another service account's name under the signature of this token.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(&token);
    claims["sub"] = json!("system:serviceaccount:kube-system:admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let refused = |token: String| {
        let den = &den;
        async move {
            let err = Api::<ConfigMap>::namespaced(client_with_token(den, &token).await, "default")
                .list(&Default::default())
                .await
                .unwrap_err();
            assert_api_error(err, 401, "Unauthorized");
        }
    };
    refused(tampered.clone()).await;
    let reviewed = review(&admin, &tampered, &[]).await;
    assert_eq!(
        reviewed,
        json!({"user": {}, "error": "go-jose/go-jose: error in cryptographic primitive"})
    );

    // Signed with the server's own key, but long expired.
    let key = ServiceAccountTokens::load_or_create(
        &den.dir.path().join("pki"),
        vec![DEFAULT_ISSUER.into()],
    )
    .unwrap();
    let expired = key
        .sign(
            &TokenClaims {
                namespace: "default".into(),
                service_account: ObjectRef::of(&serde_json::to_value(&sa).unwrap()),
                audiences: vec![DEFAULT_ISSUER.into()],
                issued_at: unix_now() - 7200,
                expiration_seconds: 600,
                ..Default::default()
            }
            .to_json(),
        )
        .unwrap();
    refused(expired.clone()).await;
    assert_eq!(
        review(&admin, &expired, &[]).await["error"],
        "service account token has expired"
    );
    assert_eq!(
        review(&admin, "not-a-token", &[]).await["error"],
        "invalid bearer token"
    );

    // The signing key survives a restart, and so do the tokens it signed.
    den.kill();
    den.spawn();
    let admin = den.client().await;
    assert_eq!(review(&admin, &token, &[]).await["authenticated"], true);

    // A token dies with its service account, even when a namesake replaces it.
    let sas = Api::<ServiceAccount>::namespaced(admin.clone(), "default");
    sas.delete("builder", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        review(&admin, &token, &[]).await["error"],
        "serviceaccounts \"builder\" not found"
    );
    let namesake = create_service_account(&admin, "builder").await;
    assert_eq!(
        review(&admin, &token, &[]).await["error"],
        format!(
            "service account UID ({}) does not match claim ({})",
            namesake.metadata.uid.unwrap(),
            sa.metadata.uid.unwrap()
        )
    );

    // A pod-bound token names its pod and dies with it.
    let pods = Api::<Pod>::namespaced(admin.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "worker"},
        "spec": {"serviceAccountName": "builder", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let bound = |kind: &str, name: &str| TokenRequestSpec {
        bound_object_ref: Some(
            serde_json::from_value(json!({"apiVersion": "v1", "kind": kind, "name": name}))
                .unwrap(),
        ),
        ..Default::default()
    };
    let pod_token = request_token(&admin, "builder", bound("Pod", "worker"))
        .await
        .status
        .unwrap()
        .token;
    let pod_uid = pod.metadata.uid.unwrap();
    assert_eq!(
        claims_of(&pod_token)["kubernetes.io"]["pod"],
        json!({"name": "worker", "uid": pod_uid})
    );
    let reviewed = review(&admin, &pod_token, &[]).await;
    assert_eq!(
        reviewed["user"]["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["worker"])
    );
    assert_eq!(
        reviewed["user"]["extra"]["authentication.kubernetes.io/pod-uid"],
        json!([pod_uid])
    );
    pods.delete("worker", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(
        review(&admin, &pod_token, &[]).await["error"],
        "service account token has been invalidated"
    );
    let err = Api::<ServiceAccount>::namespaced(admin.clone(), "default")
        .create_token_request(
            "builder",
            &PostParams::default(),
            &TokenRequest {
                spec: bound("ConfigMap", "x"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_api_error(
        err,
        400,
        "cannot bind token to object of type /v1, Kind=ConfigMap",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_answer_what_real_requests_get() {
    let den = Den::start(Backend::Embedded);
    let admin = den.client().await;
    let list_configmaps = |namespace: &str| ResourceAttributes {
        verb: Some("list".into()),
        resource: Some("configmaps".into()),
        namespace: Some(namespace.into()),
        version: Some("v1".into()),
        ..Default::default()
    };
    let sar = |user: &str, groups: Vec<String>| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            resource_attributes: Some(list_configmaps("default")),
            user: (!user.is_empty()).then(|| user.into()),
            groups: Some(groups),
            ..Default::default()
        },
        ..Default::default()
    };
    let sars = Api::<SubjectAccessReview>::all(admin.clone());
    let allowed = sars
        .create(
            &PostParams::default(),
            &sar(SA_USER, SA_GROUPS.map(String::from).to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(allowed.status.unwrap()).unwrap(),
        json!({"allowed": true})
    );
    let anonymous = sars
        .create(
            &PostParams::default(),
            &sar("system:anonymous", vec!["system:unauthenticated".into()]),
        )
        .await
        .unwrap();
    assert!(!anonymous.status.unwrap().allowed);
    // And the real anonymous request is refused.
    let mut config = kube::Config::new(den.url.parse().unwrap());
    config.root_cert = Some(vec![certificate_der(&den.dir.path().join("pki/ca.crt"))]);
    let err = Api::<ConfigMap>::namespaced(kube::Client::try_from(config).unwrap(), "default")
        .list(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 403);

    let err = sars
        .create(&PostParams::default(), &sar("", Vec::new()))
        .await
        .unwrap_err();
    assert_api_error(
        err,
        422,
        "SubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified",
    );

    let local = Api::<LocalSubjectAccessReview>::namespaced(admin.clone(), "default");
    let review = |namespace: &str| LocalSubjectAccessReview {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: SubjectAccessReviewSpec {
            resource_attributes: Some(list_configmaps(namespace)),
            user: Some("builder".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let answered = local
        .create(&PostParams::default(), &review("default"))
        .await
        .unwrap();
    assert!(answered.status.unwrap().allowed);
    let err = local
        .create(&PostParams::default(), &review("other"))
        .await
        .unwrap_err();
    assert_api_error(
        err,
        422,
        "LocalSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes.namespace: Invalid value: \"other\": must match metadata.namespace",
    );

    let rules = Api::<SelfSubjectRulesReview>::all(admin.clone())
        .create(
            &PostParams::default(),
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some("default".into()),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rules = serde_json::to_value(rules.status.unwrap()).unwrap();
    assert_eq!(
        rules,
        json!({
            "incomplete": false,
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        })
    );

    // Create-only: listed with that verb alone, and nothing else is served.
    let get = |path: &str| {
        let admin = admin.clone();
        let path = path.to_string();
        async move {
            admin
                .request::<Value>(http::Request::get(path).body(Vec::new()).unwrap())
                .await
        }
    };
    let entry = async |list: &str, name: &str| {
        let list = get(list).await.unwrap();
        let entries = list["resources"].as_array().unwrap();
        entries.iter().find(|r| r["name"] == name).unwrap().clone()
    };
    let sar = entry("/apis/authorization.k8s.io/v1", "subjectaccessreviews").await;
    assert_eq!(sar["verbs"], json!(["create"]));
    let token = entry("/api/v1", "serviceaccounts/token").await;
    assert_eq!(
        (&token["group"], &token["kind"], &token["verbs"]),
        (
            &json!("authentication.k8s.io"),
            &json!("TokenRequest"),
            &json!(["create"])
        )
    );
    let err = get("/apis/authorization.k8s.io/v1/subjectaccessreviews")
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 405);

    // Impersonating groups needs a user to give them to.
    let request = http::Request::get("/api/v1/namespaces/default/configmaps")
        .header("Impersonate-Group", "devs")
        .body(Vec::new())
        .unwrap();
    let err = admin.request::<Value>(request).await.unwrap_err();
    assert_api_error(
        err,
        500,
        "Internal Server Error: \"/api/v1/namespaces/default/configmaps\": requested [{Group  devs    }] without impersonating a user",
    );
}

/// The DER of the first certificate in a PEM file.
fn certificate_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

kubectl_scenarios!(
    auth_whoami_and_can_i_answer_for_the_user_and_for_impersonated_users,
    create_token_gives_a_token_kubectl_authenticates_with,
);

fn auth_whoami_and_can_i_answer_for_the_user_and_for_impersonated_users(den: &Den, k: &Path) {
    let me = ok(den.kubectl(k, &["auth", "whoami", "-o", "json"]));
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["status"]["userInfo"]["username"], "kubernetes-admin");
    assert_eq!(
        me["status"]["userInfo"]["groups"],
        json!(["system:masters", "system:authenticated"])
    );
    let jane = ok(den.kubectl(
        k,
        &[
            "--as=jane",
            "--as-group=devs",
            "--as-uid=u-1",
            "auth",
            "whoami",
        ],
    ));
    let rows: Vec<Vec<&str>> = jane
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.contains(&vec!["Username", "jane"]), "{jane}");
    assert!(rows.contains(&vec!["UID", "u-1"]), "{jane}");
    assert!(
        rows.contains(&vec!["Groups", "[devs", "system:authenticated]"]),
        "{jane}"
    );
    let sa = ok(den.kubectl(
        k,
        &[
            "--as=system:serviceaccount:default:builder",
            "auth",
            "whoami",
        ],
    ));
    assert!(
        sa.contains("[system:serviceaccounts system:serviceaccounts:default system:authenticated]"),
        "{sa}"
    );

    assert_eq!(
        ok(den.kubectl(k, &["auth", "can-i", "list", "pods"])),
        "yes\n"
    );
    assert_eq!(
        ok(den.kubectl(k, &["--as=jane", "auth", "can-i", "delete", "nodes"])),
        "yes\n"
    );
    let list = ok(den.kubectl(k, &["auth", "can-i", "--list"]));
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["*.*", "[]", "[]", "[*]"]),
        "{list}"
    );
}

fn create_token_gives_a_token_kubectl_authenticates_with(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "serviceaccount", "builder"]));
    let token = ok(den.kubectl(k, &["create", "token", "builder"]));
    let token = token.trim();
    assert_eq!(claims_of(token)["sub"], SA_USER);

    // A kubeconfig-less kubectl with only the CA and the token is the service account.
    let empty = den.dir.path().join("empty.kubeconfig");
    std::fs::write(&empty, "").unwrap();
    let with_token = |token: &str, args: &[&str]| {
        Command::new(k)
            .arg(format!("--kubeconfig={}", empty.display()))
            .arg(format!("--server={}", den.url))
            .arg(format!(
                "--certificate-authority={}",
                den.dir.path().join("pki/ca.crt").display()
            ))
            .arg(format!("--token={token}"))
            .args(args)
            .env("HOME", den.dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    };
    let whoami = ok(with_token(token, &["auth", "whoami"]));
    assert!(whoami.contains(SA_USER), "{whoami}");
    ok(with_token(token, &["get", "configmaps"]));
    let err = fails(with_token("garbage", &["get", "configmaps"]));
    assert!(
        err.contains("error: You must be logged in to the server (Unauthorized)"),
        "{err}"
    );

    let err = fails(den.kubectl(k, &["create", "token", "builder", "--duration=5m"]));
    assert!(
        err.contains("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = fails(den.kubectl(k, &["create", "token", "nobody"]));
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
}
