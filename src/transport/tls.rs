//! TLS for the server (rustls, ring provider, TLS 1.2 minimum) and what a handshake tells: version,
//! cipher suite and the client certificate (mutual TLS, as MSSanté application mailboxes
//! authenticate with an IGC-Santé "personne morale" certificate; mssante-xdm.md §1, 2nd-hand).
//!
//! rustls verifies the client certificate during the handshake: chain to `client_ca`, validity
//! dates, client-auth usage and, with a CRL file, revocation (of the client's own certificate).
//! What the certificate is *for* — which mailbox it names ([`mailbox_names`]) — is the session's
//! business (MAIL FROM of an application mailbox, [`super::session`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// What the handshake established, kept in the envelope record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFacts {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The verified client certificate (chained to `client_ca`), when one was presented.
    pub client_cert: Option<CertFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// RFC 3339 UTC.
    pub not_before: String,
    pub not_after: String,
    /// Subject alternative names (e-mail, DNS, IP), as `email:…`, `dns:…`, `ip:…`.
    pub san: Vec<String>,
    /// SHA-256 of the DER certificate (hex).
    pub sha256: String,
    /// The mailbox addresses it names ([`mailbox_names`]): what MAIL FROM of an application
    /// mailbox is compared with.
    #[serde(default)]
    pub names: Vec<String>,
    /// Where they come from: `subjectAltName`, `emailAddress` or `CN` (empty: none).
    #[serde(default)]
    pub names_from: String,
}

/// Where the server's TLS material is.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub client_ca: Option<&'a Path>,
    /// With `client_ca`: no certificate, no handshake (else the certificate is optional).
    pub require_client_cert: bool,
    /// With `client_ca`: certificate revocation lists (PEM or DER); a client certificate listed
    /// there fails the handshake.
    pub crl: Option<&'a Path>,
}

/// Largest CRL file read (IGC-Santé CRLs are a few megabytes).
const MAX_CRL: u64 = 64 * 1024 * 1024;

/// The rustls configuration of the server (no process-wide provider is installed: explicit ring).
pub fn server_config(f: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(f.cert)?;
    let key =
        PrivateKeyDer::from_pem_slice(&crate::files::read_bounded(f.key, crate::files::MAX_SMALL)?)
            .map_err(|e| format!("{} : clé privée PEM illisible ({e})", f.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("configuration TLS : {e}"))?;
    let builder = match f.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{} : certificat d'AC refusé ({e})", ca.display()))?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if let Some(crl) = f.crl {
                // The client's own certificate is checked against the CRLs given; intermediate
                // CAs are not (their CRLs are seldom at hand, and rustls would refuse every
                // chain for want of them). A certificate whose issuer has no CRL in the file
                // is refused (status unknown): revocation checking was asked for.
                v = v
                    .with_crls(read_crls(crl)?)
                    .only_check_end_entity_revocation();
            }
            let v = if f.require_client_cert {
                v
            } else {
                v.allow_unauthenticated()
            };
            let v = v.build().map_err(|e| match (e, f.crl) {
                (rustls::server::VerifierBuilderError::InvalidCrl(e), Some(crl)) => {
                    format!("{} : CRL illisible ({e:?})", crl.display())
                }
                (e, _) => format!("{} : vérificateur client ({e})", ca.display()),
            })?;
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "{} / {} : certificat ou clé refusés ({e})",
            f.cert.display(),
            f.key.display()
        )
    })?;
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = crate::files::read_bounded(path, crate::files::MAX_SMALL)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} : PEM illisible ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} : aucun certificat PEM", path.display()));
    }
    Ok(certs)
}

/// The CRLs of a file: PEM (one or more `X509 CRL` blocks) or one DER CRL.
pub fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let bytes = crate::files::read_bounded(path, MAX_CRL)?;
    let crls: Vec<_> = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{} : CRL PEM illisible ({e})", path.display()))?
    } else {
        vec![CertificateRevocationListDer::from(bytes)]
    };
    if crls.is_empty() {
        return Err(format!(
            "{} : aucune liste de révocation (bloc PEM « X509 CRL » ou CRL DER)",
            path.display()
        ));
    }
    Ok(crls)
}

/// Why a handshake failed, for the log: the rule it breaks when it is one of banc's
/// (`transport.tls.revoked`), and the reason in words.
pub fn refusal(e: &std::io::Error) -> (Option<&'static crate::finding::Rule>, String) {
    use rustls::CertificateError as C;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(C::Revoked)) => (
            Some(super::rules::REVOKED),
            super::rules::REVOKED.message.to_string(),
        ),
        Some(rustls::Error::InvalidCertificate(C::UnknownRevocationStatus)) => (
            None,
            "certificat client refusé : statut de révocation inconnu (aucune CRL de son émetteur dans --crl)".into(),
        ),
        _ => (None, e.to_string()),
    }
}

/// Facts of an established server-side connection.
pub fn facts(conn: &ServerConnection) -> TlsFacts {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "?".to_string(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_else(|| "?".to_string());
    let client_cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| cert_facts(c.as_ref()));
    TlsFacts {
        version,
        cipher,
        client_cert,
    }
}

/// Subject, issuer, validity and names of a DER certificate (rustls already verified it).
pub fn cert_facts(der: &[u8]) -> CertFacts {
    let sha256 = hex::encode(Sha256::digest(der));
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, c)) => {
            let time = |t: x509_parser::time::ASN1Time| {
                crate::clock::Utc::from_unix(t.timestamp(), 0).rfc3339()
            };
            let names = mailbox_names(&c);
            let mut san = Vec::new();
            if let Ok(Some(ext)) = c.subject_alternative_name() {
                use x509_parser::extensions::GeneralName;
                for n in &ext.value.general_names {
                    match n {
                        GeneralName::RFC822Name(s) => san.push(format!("email:{s}")),
                        GeneralName::DNSName(s) => san.push(format!("dns:{s}")),
                        GeneralName::IPAddress(b) => san.push(format!("ip:{}", ip_text(b))),
                        _ => {}
                    }
                }
            }
            CertFacts {
                subject: c.subject().to_string(),
                issuer: c.issuer().to_string(),
                serial: c.raw_serial_as_string(),
                not_before: time(c.validity().not_before),
                not_after: time(c.validity().not_after),
                san,
                sha256,
                names: names.0,
                names_from: names.1.to_string(),
            }
        }
        // rustls accepted it, so this is unexpected; keep what is certain.
        Err(e) => CertFacts {
            subject: format!("(illisible : {e})"),
            issuer: String::new(),
            serial: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            san: Vec::new(),
            sha256,
            names: Vec::new(),
            names_from: String::new(),
        },
    }
}

/// The mailbox addresses a certificate names, and where they were found: its subjectAltName
/// rfc822Name entries; without any, the subject's emailAddress; without one, its CN (IGC-Santé
/// "personne morale" certificates of an application mailbox carry the address there).
pub fn mailbox_names(c: &x509_parser::certificate::X509Certificate) -> (Vec<String>, &'static str) {
    use x509_parser::extensions::GeneralName;
    let san: Vec<String> = match c.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::RFC822Name(s) => Some(s.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !san.is_empty() {
        return (san, "subjectAltName");
    }
    let text = |a: &x509_parser::x509::AttributeTypeAndValue| a.as_str().ok().map(str::to_string);
    let email: Vec<String> = c.subject().iter_email().filter_map(text).collect();
    if !email.is_empty() {
        return (email, "emailAddress");
    }
    let cn: Vec<String> = c.subject().iter_common_name().filter_map(text).collect();
    if !cn.is_empty() {
        return (cn, "CN");
    }
    (Vec::new(), "")
}

impl CertFacts {
    /// Does the certificate name `address` (case-insensitive, as mailboxes are compared)?
    pub fn is_for(&self, address: &str) -> bool {
        self.names
            .iter()
            .any(|n| n.trim().eq_ignore_ascii_case(address))
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => hex::encode(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn facts_of(edit: impl FnOnce(&mut CertificateParams)) -> CertFacts {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, "sgl@labo-a.test");
        edit(&mut p);
        let cert = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        cert_facts(cert.der())
    }

    #[test]
    fn names_come_from_san_then_email_then_cn() {
        // SAN rfc822Name wins over the CN (here naming another mailbox).
        let f = facts_of(|p| {
            p.subject_alt_names = vec![
                SanType::DnsName("labo-b.test".try_into().unwrap()),
                SanType::Rfc822Name("SGL@Labo-B.test".try_into().unwrap()),
            ];
        });
        assert_eq!(
            (f.names.clone(), f.names_from.as_str()),
            (vec!["SGL@Labo-B.test".to_string()], "subjectAltName")
        );
        assert!(f.is_for("sgl@labo-b.test"), "case-insensitive");
        assert!(
            !f.is_for("sgl@labo-a.test"),
            "the CN does not count beside a SAN e-mail"
        );
        // A SAN without e-mail: the subject's emailAddress.
        let f = facts_of(|p| {
            p.subject_alt_names = vec![SanType::DnsName("labo-b.test".try_into().unwrap())];
            p.distinguished_name.push(
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                rcgen::DnValue::Ia5String("bal@labo-c.test".try_into().unwrap()),
            );
        });
        assert_eq!(f.names, ["bal@labo-c.test"]);
        assert_eq!(f.names_from, "emailAddress");
        // Neither: the CN, as IGC-Santé "personne morale" certificates carry the address.
        let f = facts_of(|_| {});
        assert_eq!(f.names, ["sgl@labo-a.test"]);
        assert_eq!(f.names_from, "CN");
        assert!(f.is_for("sgl@labo-a.test") && !f.is_for("sgl@labo-b.test"));
    }

    #[test]
    fn envelopes_written_before_names_still_read() {
        let old = r#"{"subject":"CN=x","issuer":"CN=ca","serial":"01","not_before":"","not_after":"","san":[],"sha256":"00"}"#;
        let f: CertFacts = serde_json::from_str(old).unwrap();
        assert!(f.names.is_empty() && !f.is_for("x"));
    }

    #[test]
    fn crl_files_pem_der_or_refused() {
        let dir = std::env::temp_dir().join(format!("banc-crl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = {
            let mut p = CertificateParams::default();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            rcgen::Issuer::new(p, KeyPair::generate().unwrap())
        };
        let crl = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2030, 1, 1),
            crl_number: rcgen::SerialNumber::from(7u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&ca)
        .unwrap();
        let pem = dir.join("crl.pem");
        std::fs::write(&pem, crl.pem().unwrap()).unwrap();
        let der = dir.join("crl.der");
        std::fs::write(&der, crl.der().as_ref()).unwrap();
        for p in [&pem, &der] {
            assert_eq!(read_crls(p).unwrap()[0].as_ref(), crl.der().as_ref());
        }
        let not = dir.join("cert.pem");
        std::fs::write(
            &not,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = read_crls(&not).unwrap_err();
        assert!(e.contains("aucune liste de révocation"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
