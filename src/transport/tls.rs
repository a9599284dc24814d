//! TLS for the server (rustls, ring provider, TLS 1.2 minimum) and what a handshake tells: version,
//! cipher suite and the client certificate (mutual TLS, as MSSanté application mailboxes
//! authenticate with an IGC-Santé "personne morale" certificate; mssante-xdm.md §1, 2nd-hand).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
}

/// Where the server's TLS material is.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub client_ca: Option<&'a Path>,
    /// With `client_ca`: no certificate, no handshake (else the certificate is optional).
    pub require_client_cert: bool,
}

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
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if f.require_client_cert {
                v
            } else {
                v.allow_unauthenticated()
            };
            let v = v
                .build()
                .map_err(|e| format!("{} : vérificateur client ({e})", ca.display()))?;
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
        },
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
