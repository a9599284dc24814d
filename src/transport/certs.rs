//! `banc mail certs`: the certificates of a rehearsal — a test CA (clearly not IGC-Santé), a
//! server certificate, client certificates for application mailboxes (CN and e-mail SAN = the
//! mailbox address, like an IGC-Santé "personne morale" certificate: what the server compares
//! MAIL FROM with), and three negatives: an expired client certificate, one signed by another CA,
//! and a revoked one, listed in the CA's revocation list `crl.pem` (`banc mail serve --crl`).
//! ECDSA P-256 keys, PEM files.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use std::path::{Path, PathBuf};

pub const CA_NAME: &str = "banc AC de test";
const ORG: &str = "banc - certificats de test, PAS IGC-Santé";

/// What `banc mail certs` makes.
#[derive(Debug, Clone, Default)]
pub struct CertsOptions {
    /// Folder to write the PEM files to (created if needed).
    pub out: PathBuf,
    /// Server name added to the server certificate (besides localhost and 127.0.0.1).
    pub domain: Option<String>,
    /// Application mailboxes to make a client certificate for (default
    /// bal-applicative@<domain or banc.localhost>).
    pub clients: Vec<String>,
    /// Overwrite files already there.
    pub force: bool,
}

struct Out {
    file: &'static str,
    name: String,
    text: String,
    secret: bool,
    what: String,
}

/// Write the test CA, server and client certificates; each file with its kind and purpose.
pub fn generate(args: &CertsOptions) -> Result<Vec<(PathBuf, &'static str, String)>, String> {
    let files = make(args)?;
    let existing: Vec<String> = files
        .iter()
        .map(|f| args.out.join(&f.name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(format!(
            "fichiers déjà présents (--force pour les remplacer) : {}",
            existing.join(", ")
        ));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{} : {e}", args.out.display()))?;
    let mut written = Vec::new();
    for f in &files {
        let path = args.out.join(&f.name);
        write(&path, f.text.as_bytes(), f.secret)
            .map_err(|e| format!("{} : {e}", path.display()))?;
        let kind = if f.secret { "clé (0600)" } else { f.file };
        written.push((path, kind, f.what.clone()));
    }
    Ok(written)
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if secret {
            o.mode(0o600);
        }
        let mut f = o.open(path)?;
        if secret {
            // An existing file keeps its mode on open: set it (--force).
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        o.open(path)?.write_all(bytes)
    }
}

fn e(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |err| format!("{what} : {err}")
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CountryName, "FR");
    d.push(DnType::OrganizationName, ORG);
    d.push(DnType::CommonName, cn);
    d
}

fn this_year() -> i32 {
    crate::clock::Utc::now().year as i32
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(this_year() + 10, 1, 1);
    p
}

fn client_params(address: &str, expired: bool) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(address);
    p.subject_alt_names = vec![SanType::Rfc822Name(
        address
            .to_string()
            .try_into()
            .map_err(|_| format!("{address} : adresse non ASCII"))?,
    )];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    } else {
        p.not_before = rcgen::date_time_ymd(this_year() - 1, 1, 1);
        p.not_after = rcgen::date_time_ymd(this_year() + 3, 1, 1);
    }
    Ok(p)
}

/// File-name form of an address.
pub fn file_part(address: &str) -> String {
    address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The application mailboxes that get a client certificate (`--client`, else the default one).
pub fn client_mailboxes(args: &CertsOptions) -> Vec<String> {
    if args.clients.is_empty() {
        vec![format!(
            "bal-applicative@{}",
            args.domain.as_deref().unwrap_or("banc.localhost")
        )]
    } else {
        args.clients.clone()
    }
}

fn make(args: &CertsOptions) -> Result<Vec<Out>, String> {
    let domain = args.domain.clone();
    let clients = client_mailboxes(args);
    for c in &clients {
        super::command::mailbox(c).map_err(|r| format!("--client {c} : {}", r.text))?;
    }
    let mut out = Vec::new();
    let key = |what: &str| KeyPair::generate().map_err(e(what));

    let ca_key = key("clé de l'AC")?;
    let ca_p = ca_params(CA_NAME);
    let ca_cert = ca_p.self_signed(&ca_key).map_err(e("AC"))?;
    out.push(Out {
        file: "certificat",
        name: "ca.pem".into(),
        text: ca_cert.pem(),
        secret: false,
        what: format!(
            "AC de test « {CA_NAME} » (à donner en --client-ca au serveur, --ca au client)"
        ),
    });
    out.push(Out {
        file: "clé",
        name: "ca.key".into(),
        text: ca_key.serialize_pem(),
        secret: true,
        what: "clé de l'AC de test".into(),
    });
    let ca = Issuer::new(ca_p, ca_key);

    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(d) = &domain {
        names.push(d.clone());
    }
    let mut server_p = CertificateParams::new(names.clone()).map_err(e("certificat serveur"))?;
    server_p.distinguished_name = dn(domain.as_deref().unwrap_or("localhost"));
    server_p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_p.not_before = rcgen::date_time_ymd(this_year() - 1, 1, 1);
    server_p.not_after = rcgen::date_time_ymd(this_year() + 3, 1, 1);
    let server_key = key("clé du serveur")?;
    let server = server_p
        .signed_by(&server_key, &ca)
        .map_err(e("certificat serveur"))?;
    out.push(Out {
        file: "certificat",
        name: "server.pem".into(),
        text: server.pem(),
        secret: false,
        what: format!("serveur SMTP ({})", names.join(", ")),
    });
    out.push(Out {
        file: "clé",
        name: "server.key".into(),
        text: server_key.serialize_pem(),
        secret: true,
        what: "clé du serveur".into(),
    });

    for c in &clients {
        let k = key("clé client")?;
        let cert = client_params(c, false)?
            .signed_by(&k, &ca)
            .map_err(e("certificat client"))?;
        let base = format!("client-{}", file_part(c));
        out.push(Out {
            file: "certificat",
            name: format!("{base}.pem"),
            text: cert.pem(),
            secret: false,
            what: format!("client de la BAL applicative {c} (comme un certificat personne morale)"),
        });
        out.push(Out {
            file: "clé",
            name: format!("{base}.key"),
            text: k.serialize_pem(),
            secret: true,
            what: format!("clé du client {c}"),
        });
    }

    // Negatives: what a server must refuse at the handshake.
    let first = &clients[0];
    let k = key("clé client expirée")?;
    let expired = client_params(first, true)?
        .signed_by(&k, &ca)
        .map_err(e("certificat expiré"))?;
    out.push(Out {
        file: "certificat",
        name: "client-expired.pem".into(),
        text: expired.pem(),
        secret: false,
        what: format!("NÉGATIF : client {first} expiré (2020-2021), signé par l'AC de test"),
    });
    out.push(Out {
        file: "clé",
        name: "client-expired.key".into(),
        text: k.serialize_pem(),
        secret: true,
        what: "clé du certificat expiré".into(),
    });
    // Revoked: valid and signed by the CA, but listed in its CRL (crl.pem).
    let revoked_serial = SerialNumber::from_slice(&[0x7e, 0x40, 0x0c, 0xed]);
    let k = key("clé client révoquée")?;
    let mut revoked_p = client_params(first, false)?;
    revoked_p.serial_number = Some(revoked_serial.clone());
    let revoked = revoked_p
        .signed_by(&k, &ca)
        .map_err(e("certificat révoqué"))?;
    out.push(Out {
        file: "certificat",
        name: "client-revoked.pem".into(),
        text: revoked.pem(),
        secret: false,
        what: format!("NÉGATIF : client {first} révoqué (listé dans crl.pem)"),
    });
    out.push(Out {
        file: "clé",
        name: "client-revoked.key".into(),
        text: k.serialize_pem(),
        secret: true,
        what: "clé du certificat révoqué".into(),
    });
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(this_year() - 1, 1, 1),
        next_update: rcgen::date_time_ymd(this_year() + 3, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: revoked_serial,
            revocation_time: rcgen::date_time_ymd(this_year() - 1, 1, 1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .map_err(e("liste de révocation"))?;
    out.push(Out {
        file: "liste de révocation",
        name: "crl.pem".into(),
        text: crl.pem().map_err(e("liste de révocation"))?,
        secret: false,
        what: "CRL de l'AC de test : client-revoked.pem y figure (--crl au serveur)".into(),
    });

    let other_key = key("clé de l'autre AC")?;
    let other_p = ca_params("banc autre AC de test (non reconnue)");
    let other_cert = other_p.self_signed(&other_key).map_err(e("autre AC"))?;
    let other = Issuer::new(other_p, other_key);
    let k = key("clé client autre AC")?;
    let foreign = client_params(first, false)?
        .signed_by(&k, &other)
        .map_err(e("certificat d'une autre AC"))?;
    out.push(Out {
        file: "certificat",
        name: "client-other-ca.pem".into(),
        text: foreign.pem(),
        secret: false,
        what: format!("NÉGATIF : client {first} signé par une autre AC"),
    });
    out.push(Out {
        file: "clé",
        name: "client-other-ca.key".into(),
        text: k.serialize_pem(),
        secret: true,
        what: "clé du certificat de l'autre AC".into(),
    });
    out.push(Out {
        file: "certificat",
        name: "other-ca.pem".into(),
        text: other_cert.pem(),
        secret: false,
        what: "l'autre AC (non reconnue par le serveur)".into(),
    });
    Ok(out)
}
