//! Den's PKI: on first start a CA, a serving certificate and an admin client certificate are
//! created under `<data-dir>/pki`; later starts reuse them.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// PEM material for the server and for the admin kubeconfig.
pub struct Pki {
    pub ca_cert: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

const FILES: [&str; 5] = [
    "ca.crt",
    "apiserver.crt",
    "apiserver.key",
    "admin.crt",
    "admin.key",
];

impl Pki {
    /// Loads the PKI from `dir`, creating it when the CA is missing.
    pub fn load_or_create(dir: &Path, bind_address: IpAddr) -> Result<Self> {
        if !dir.join("ca.crt").exists() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let pki = Self::generate(bind_address)?;
            pki.write(dir)?;
            return Ok(pki);
        }
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        Ok(Pki {
            ca_cert: read(FILES[0])?,
            serving_cert: read(FILES[1])?,
            serving_key: read(FILES[2])?,
            admin_cert: read(FILES[3])?,
            admin_key: read(FILES[4])?,
        })
    }

    fn generate(bind_address: IpAddr) -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "den-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_after = rcgen::date_time_ymd(2125, 1, 1);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut sans: Vec<String> = vec![
            "localhost".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
        ];
        sans.push("kubernetes.default.svc".into());
        let mut serving = CertificateParams::new(sans)?;
        let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse()?, "::1".parse()?];
        if !ips.contains(&bind_address) && !bind_address.is_unspecified() {
            ips.push(bind_address);
        }
        serving
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving.not_after = rcgen::date_time_ymd(2125, 1, 1);
        let serving_key = KeyPair::generate()?;
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin
            .distinguished_name
            .push(DnType::CommonName, "kubernetes-admin");
        admin
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        admin.not_after = rcgen::date_time_ymd(2125, 1, 1);
        let admin_key = KeyPair::generate()?;
        let admin_cert = admin.signed_by(&admin_key, &issuer)?;

        Ok(Pki {
            ca_cert: ca_cert.pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
        })
    }

    /// Writes every file, the CA last: a crash midway leaves no CA, so the next start
    /// regenerates everything instead of reusing half a PKI.
    fn write(&self, dir: &Path) -> Result<()> {
        let contents = [
            &self.ca_cert,
            &self.serving_cert,
            &self.serving_key,
            &self.admin_cert,
            &self.admin_key,
        ];
        for (name, content) in FILES.iter().zip(contents).rev() {
            write_private(&dir.join(name), content)?;
        }
        Ok(())
    }

    /// An admin kubeconfig for `server` with every credential embedded.
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: den\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: den-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: den\n  context:\n    cluster: den\n    user: den-admin\n    namespace: default\ncurrent-context: den\npreferences: {{}}\n",
            ca = b64(&self.ca_cert),
            cert = b64(&self.admin_cert),
            key = b64(&self.admin_key),
        )
    }
}

/// Writes `path` atomically (temp file + rename) with owner-only permissions.
pub fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::io::Write::write_all(&mut file, content.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
