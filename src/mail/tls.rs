//! TLS of banc's mail clients (`mail send`, `mail fetch`): the CAs to trust, the client
//! certificate of an application mailbox, and handshake failures in words an integrator acts on.
//! (The server side is `transport::tls`.)

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::Arc;

/// The TLS options of a mail client (`mail send`, `mail fetch`).
#[derive(Debug, Clone, Default)]
pub struct ClientTlsOptions {
    /// PEM file of the CAs trusted for the server (e.g. from `banc mail certs`); default: the
    /// system's (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs...).
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS (application mailboxes).
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    pub key: Option<PathBuf>,
}

/// PEM contents read from [`ClientTlsOptions`].
pub struct ClientPem {
    pub ca: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl ClientTlsOptions {
    /// Read the files (errors name the option and the file).
    pub fn read(&self) -> Result<ClientPem, String> {
        let read = |p: &PathBuf, what: &str| {
            crate::files::read_bounded(p, crate::files::MAX_SMALL)
                .map_err(|e| format!("{what} {e}"))
        };
        Ok(ClientPem {
            ca: self.ca.as_ref().map(|p| read(p, "--ca")).transpose()?,
            identity: match (&self.cert, &self.key) {
                (Some(c), Some(k)) => Some((read(c, "--cert")?, read(k, "--key")?)),
                _ => None,
            },
        })
    }
}

/// The certificates of a PEM text; `what` names it in errors.
fn pem_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} : PEM illisible ({e})"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} : aucun certificat PEM (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// A client configuration (TLS 1.2 and 1.3, ring): trust `ca_pem`, else the system's CAs;
/// present `identity` (certificate chain, key; PEM) for mutual TLS.
pub fn client_config(
    ca_pem: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        // Given CAs must all be usable.
        Some(pem) => {
            for c in pem_certs(pem, "--ca")? {
                roots
                    .add(c)
                    .map_err(|e| format!("--ca : certificat d'AC inutilisable ({e})"))?;
            }
        }
        // The system's CAs as rustls-native-certs finds them (SSL_CERT_FILE, SSL_CERT_DIR, else
        // where the distribution puts them). A system bundle may hold certificates rustls
        // cannot use: skip those.
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(
                    "aucune autorité de certification système trouvée : donnez celle du serveur avec --ca FICHIER".into(),
                );
            }
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "autorités de certification système : aucun certificat d'autorité utilisable"
                        .into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // MSSanté asks TLS 1.2 at least (CONF.01, second-hand).
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("configuration TLS : {e}"))?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = pem_certs(cert, "--cert")?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| format!("--key : clé privée PEM illisible ({e})"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--cert/--key : {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

pub fn tls_cause(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// A TLS failure in French, naming its cause (certificate, alert, protocol); `label` names the
/// server as the user gave it, `host` the name its certificate must cover.
pub fn explain(e: &std::io::Error, label: &str, host: &str) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let Some(cause) = tls_cause(e) else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => format!(
                "échec TLS avec {label} : le serveur a fermé la connexion pendant la négociation (parle-t-il TLS sur ce port ?)"
            ),
            _ => format!("échec TLS avec {label} : {e}"),
        };
    };
    let why = match cause {
        R::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "le certificat du serveur n'est pas signé par une autorité de confiance (donnez l'AC du serveur avec --ca)".to_string(),
            C::Expired | C::ExpiredContext { .. } => "le certificat du serveur a expiré".to_string(),
            C::NotValidYet | C::NotValidYetContext { .. } => "le certificat du serveur n'est pas encore valide".to_string(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("le certificat du serveur ne couvre pas le nom « {host} »")
            }
            C::Revoked => "le certificat du serveur est révoqué".to_string(),
            C::BadSignature => "la signature du certificat du serveur est invalide".to_string(),
            other => format!("certificat du serveur refusé ({other:?})"),
        },
        R::AlertReceived(a) => match a {
            A::BadCertificate | A::CertificateRequired | A::UnknownCA | A::CertificateUnknown
            | A::AccessDenied | A::CertificateExpired | A::CertificateRevoked => format!(
                "le serveur a refusé le certificat client (alerte TLS {a:?}) : donnez un certificat reconnu avec --cert/--key"
            ),
            A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity => format!(
                "aucune version ou suite de chiffrement commune (alerte TLS {a:?}) : banc exige TLS 1.2 au moins"
            ),
            other => format!("le serveur a interrompu la négociation (alerte TLS {other:?})"),
        },
        R::InvalidMessage(_) | R::InappropriateMessage { .. } | R::InappropriateHandshakeMessage { .. } => {
            "réponse qui n'est pas du TLS : le serveur attend-il STARTTLS sur ce port ?".to_string()
        }
        R::PeerIncompatible(p) => format!("serveur incompatible ({p:?}) : banc exige TLS 1.2 au moins"),
        other => other.to_string(),
    };
    format!("échec TLS avec {label} : {why}")
}
