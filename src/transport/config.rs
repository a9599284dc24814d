//! The server's settings: the TOML file (`--config`, example in `fixtures/smtp/serve.toml`), then
//! the command line over it, then the defaults. Unknown keys are an error naming the key.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// 25 MiB: the cap Mon espace santé applies (mssante-xdm.md §1, 2nd-hand, UNCONFIRMED).
pub const DEFAULT_MAX_SIZE: u64 = 26_214_400;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2525";
pub const DEFAULT_SPOOL: &str = "reports/spool";
/// RFC 5321 §4.5.3.2.7: at least 5 minutes for a command.
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 300;
/// RFC 5321 §4.5.3.2.5-6: 3 minutes per data block, 10 for the final dot; one figure per line.
pub const DEFAULT_DATA_TIMEOUT: u64 = 180;
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
/// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
pub const DEFAULT_MAX_RECIPIENTS: usize = 100;

/// Largest values the settings accept (flags and file alike): beyond them a value is a typo that
/// would exhaust memory or threads, not a configuration. The smallest is 1 for each.
pub const LIMIT_MAX_SIZE: u64 = 1 << 30;
pub const LIMIT_TIMEOUT_SECS: u64 = 86_400;
pub const LIMIT_CONNECTIONS: u64 = 10_000;
pub const LIMIT_RECIPIENTS: u64 = 10_000;

/// `value` if within 1..=`max`, else the error naming the setting.
fn bounded<T: Copy + Into<u64>>(value: T, max: u64, what: &str) -> Result<T, String> {
    let v: u64 = value.into();
    if (1..=max).contains(&v) {
        Ok(value)
    } else {
        Err(format!("{what} = {v} : attendu de 1 à {max}"))
    }
}

/// The TOML file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub listen: Option<String>,
    pub hostname: Option<String>,
    pub spool: Option<PathBuf>,
    pub max_size: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_recipients: Option<usize>,
    pub timeouts: Option<Timeouts>,
    pub tls: Option<Tls>,
    #[serde(default)]
    pub mailbox: Vec<Mailbox>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Seconds to wait for a command line.
    pub command: Option<u64>,
    /// Seconds to wait for each line of DATA.
    pub data: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists of the client CA (PEM or DER).
    pub crl: Option<PathBuf>,
    pub require_starttls: Option<bool>,
    pub require_client_cert: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    pub address: String,
    /// RCPT TO this mailbox needs a session with a verified client certificate (any of the CA).
    #[serde(default)]
    pub require_client_cert: bool,
    /// An application mailbox (BAL applicative, sender side): MAIL FROM it needs a verified
    /// client certificate that names it ([`super::tls::mailbox_names`]), else `550 5.7.1`.
    #[serde(default)]
    pub application: bool,
}

/// What the command line may set over the file (None / false: not given).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub hostname: Option<String>,
    pub spool: Option<PathBuf>,
    pub max_size: Option<u64>,
    pub max_connections: Option<usize>,
    pub command_timeout: Option<u64>,
    pub data_timeout: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub crl: Option<PathBuf>,
    pub require_client_cert: bool,
    pub starttls_optional: bool,
    pub mailboxes: Vec<String>,
    pub mailboxes_with_cert: Vec<String>,
    pub application_mailboxes: Vec<String>,
}

/// The effective settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub hostname: String,
    pub spool: PathBuf,
    pub max_size: u64,
    pub max_connections: usize,
    pub max_recipients: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub tls: Option<TlsSettings>,
    /// Without a receiving mailbox (one that is not only an application mailbox), any
    /// recipient is accepted.
    pub mailboxes: Vec<Mailbox>,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub crl: Option<PathBuf>,
    pub require_starttls: bool,
    pub require_client_cert: bool,
}

impl Settings {
    /// The mailbox entry for a recipient (case-insensitive), when mailboxes are listed.
    pub fn mailbox(&self, address: &str) -> Option<&Mailbox> {
        self.mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
    }

    /// Is RCPT TO limited to the listed mailboxes? Only when one of them is not an application
    /// mailbox: declaring who may send (banc playing the sender's operator) does not close the
    /// recipients.
    pub fn restricts_recipients(&self) -> bool {
        self.mailboxes.iter().any(|m| !m.application)
    }

    /// The application mailbox `address` is, if it is one.
    pub fn application(&self, address: &str) -> Option<&Mailbox> {
        self.mailbox(address).filter(|m| m.application)
    }

    /// Does the server ask for a client certificate during the handshake?
    pub fn asks_client_cert(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }
}

/// Read a TOML file (relative paths in it are relative to the file's folder).
pub fn read(path: &Path) -> Result<File, String> {
    let text = crate::files::read_text(path, crate::files::MAX_SMALL)?;
    parse(&text, path.parent().unwrap_or(Path::new("")))
        .map_err(|e| format!("{} : {e}", path.display()))
}

/// Parse the TOML text of a configuration; `base` resolves its relative paths.
pub fn parse(text: &str, base: &Path) -> Result<File, String> {
    let mut f: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let rel = |p: &mut Option<PathBuf>| {
        if let Some(x) = p
            && x.is_relative()
        {
            *x = base.join(&*x);
        }
    };
    rel(&mut f.spool);
    if let Some(t) = &mut f.tls {
        rel(&mut t.cert);
        rel(&mut t.key);
        rel(&mut t.client_ca);
        rel(&mut t.crl);
    }
    Ok(f)
}

/// Merge the command line over the file, check the result.
pub fn settings(file: File, cli: Overrides) -> Result<Settings, String> {
    let tls_file = file.tls.unwrap_or_default();
    let cert = cli.tls_cert.or(tls_file.cert);
    let key = cli.tls_key.or(tls_file.key);
    let client_ca = cli.client_ca.or(tls_file.client_ca);
    let crl = cli.crl.or(tls_file.crl);
    let require_client_cert = cli.require_client_cert || tls_file.require_client_cert == Some(true);
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsSettings {
            cert,
            key,
            require_starttls: !cli.starttls_optional && tls_file.require_starttls.unwrap_or(true),
            require_client_cert,
            client_ca,
            crl,
        }),
        (None, None) => {
            if client_ca.is_some() || require_client_cert || crl.is_some() {
                return Err(
                    "un certificat client ne peut être demandé qu'avec TLS : donner aussi --tls-cert et --tls-key".into(),
                );
            }
            None
        }
        _ => {
            return Err(
                "TLS : le certificat et la clé vont ensemble (--tls-cert et --tls-key)".into(),
            );
        }
    };
    if let Some(t) = &tls
        && t.require_client_cert
        && t.client_ca.is_none()
    {
        return Err("require_client_cert demande client_ca (--client-ca) : l'AC qui signe les certificats clients".into());
    }
    if let Some(t) = &tls
        && t.crl.is_some()
        && t.client_ca.is_none()
    {
        return Err("crl (--crl) demande client_ca (--client-ca) : la liste de révocation porte sur les certificats clients".into());
    }
    let mut mailboxes = file.mailbox;
    for (list, with_cert) in [(&cli.mailboxes, false), (&cli.mailboxes_with_cert, true)] {
        for a in list {
            mailboxes.retain(|m| !m.address.eq_ignore_ascii_case(a));
            mailboxes.push(Mailbox {
                address: a.clone(),
                require_client_cert: with_cert,
                application: false,
            });
        }
    }
    for a in &cli.application_mailboxes {
        match mailboxes
            .iter_mut()
            .find(|m| m.address.eq_ignore_ascii_case(a))
        {
            Some(m) => m.application = true,
            None => mailboxes.push(Mailbox {
                address: a.clone(),
                application: true,
                ..Mailbox::default()
            }),
        }
    }
    for m in &mailboxes {
        super::command::mailbox(&m.address)
            .map_err(|r| format!("boîte aux lettres « {} » : {}", m.address, r.text))?;
        if (m.require_client_cert || m.application)
            && tls.as_ref().is_none_or(|t| t.client_ca.is_none())
        {
            return Err(format!(
                "la boîte {} exige un certificat client : configurer [tls] client_ca (--client-ca)",
                m.address
            ));
        }
    }
    let timeouts = file.timeouts.unwrap_or_default();
    let secs = |v: u64, what: &str| bounded(v, LIMIT_TIMEOUT_SECS, what).map(Duration::from_secs);
    let max_size = bounded(
        cli.max_size.or(file.max_size).unwrap_or(DEFAULT_MAX_SIZE),
        LIMIT_MAX_SIZE,
        "max_size",
    )?;
    let count = |v: usize, max: u64, what: &str| bounded(v as u64, max, what).map(|_| v);
    Ok(Settings {
        listen: cli
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into()),
        hostname: cli
            .hostname
            .or(file.hostname)
            .unwrap_or_else(|| "banc.localhost".into()),
        spool: cli
            .spool
            .or(file.spool)
            .unwrap_or_else(|| DEFAULT_SPOOL.into()),
        max_size,
        max_connections: count(
            cli.max_connections
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            LIMIT_CONNECTIONS,
            "max_connections",
        )?,
        max_recipients: count(
            file.max_recipients.unwrap_or(DEFAULT_MAX_RECIPIENTS),
            LIMIT_RECIPIENTS,
            "max_recipients",
        )?,
        command_timeout: secs(
            cli.command_timeout
                .or(timeouts.command)
                .unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            "timeouts.command",
        )?,
        data_timeout: secs(
            cli.data_timeout
                .or(timeouts.data)
                .unwrap_or(DEFAULT_DATA_TIMEOUT),
            "timeouts.data",
        )?,
        tls,
        mailboxes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../fixtures/smtp/serve.toml");
        let f = parse(text, Path::new("/etc/banc")).unwrap();
        assert_eq!(f.max_size, Some(DEFAULT_MAX_SIZE));
        let t = f.tls.as_ref().unwrap();
        assert!(t.cert.as_ref().unwrap().starts_with("/etc/banc"));
        let s = settings(f, Overrides::default()).unwrap();
        assert!(s.tls.as_ref().unwrap().require_starttls);
        assert!(s.mailboxes.iter().any(|m| m.require_client_cert));
        assert!(s.mailboxes.iter().any(|m| m.application));
        assert!(s.tls.as_ref().unwrap().crl.is_some());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("listen = \"127.0.0.1:25\"\nmax_sise = 3\n", Path::new("")).unwrap_err();
        assert!(e.contains("max_sise"), "{e}");
        let e = parse("[tls]\ncert = \"a\"\nciphers = []\n", Path::new("")).unwrap_err();
        assert!(e.contains("ciphers"), "{e}");
    }

    #[test]
    fn command_line_wins() {
        let f = parse("max_size = 1000\nhostname = \"a\"\n", Path::new("")).unwrap();
        let s = settings(
            f,
            Overrides {
                max_size: Some(5),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s.max_size, 5);
        assert_eq!(s.hostname, "a");
        assert_eq!(
            s.command_timeout,
            Duration::from_secs(DEFAULT_COMMAND_TIMEOUT)
        );
        assert!(s.tls.is_none());
    }

    #[test]
    fn application_mailboxes_need_a_client_ca_and_leave_recipients_open() {
        let tls = |ca: bool| Overrides {
            tls_cert: Some("s.pem".into()),
            tls_key: Some("s.key".into()),
            client_ca: ca.then(|| "ca.pem".into()),
            ..Overrides::default()
        };
        let e = settings(
            File::default(),
            Overrides {
                application_mailboxes: vec!["sgl@labo.fr".into()],
                ..tls(false)
            },
        )
        .unwrap_err();
        assert!(e.contains("client_ca"), "{e}");
        let s = settings(
            File::default(),
            Overrides {
                application_mailboxes: vec!["SGL@labo.fr".into()],
                ..tls(true)
            },
        )
        .unwrap();
        assert!(s.application("sgl@LABO.fr").is_some());
        assert!(s.application("autre@labo.fr").is_none());
        assert!(
            !s.restricts_recipients(),
            "senders declared, recipients open"
        );
        // From the file, with a receiving mailbox beside it: recipients closed to the two.
        let file = || {
            parse(
                "[tls]\ncert = \"s.pem\"\nkey = \"s.key\"\nclient_ca = \"ca.pem\"\ncrl = \"crl.der\"\n\
                 [[mailbox]]\naddress = \"dpi@chu.fr\"\n[[mailbox]]\naddress = \"sgl@labo.fr\"\napplication = true\n",
                Path::new("/etc/banc"),
            )
            .unwrap()
        };
        let s = settings(file(), Overrides::default()).unwrap();
        assert_eq!(
            s.tls.as_ref().unwrap().crl.as_deref(),
            Some(Path::new("/etc/banc/crl.der"))
        );
        assert!(s.application("sgl@labo.fr").is_some() && s.application("dpi@chu.fr").is_none());
        assert!(s.restricts_recipients());
        // The flag makes a file entry an application mailbox too, without duplicating it.
        let s = settings(
            file(),
            Overrides {
                application_mailboxes: vec!["DPI@chu.fr".into()],
                ..Overrides::default()
            },
        )
        .unwrap();
        assert!(s.application("dpi@chu.fr").is_some());
        assert_eq!(s.mailboxes.len(), 2);
        // A CRL is about client certificates: without a client CA it is refused.
        let e = settings(
            File::default(),
            Overrides {
                crl: Some("crl.pem".into()),
                ..tls(false)
            },
        )
        .unwrap_err();
        assert!(e.contains("client_ca"), "{e}");
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let only_cert = Overrides {
            tls_cert: Some("c.pem".into()),
            ..Overrides::default()
        };
        assert!(settings(File::default(), only_cert).is_err());
        let cert_mailbox = Overrides {
            mailboxes_with_cert: vec!["bal@labo.fr".into()],
            ..Overrides::default()
        };
        assert!(settings(File::default(), cert_mailbox).is_err());
        let bad = Overrides {
            mailboxes: vec!["pas une adresse".into()],
            ..Overrides::default()
        };
        assert!(settings(File::default(), bad).is_err());
    }

    /// The file is held to the command line's bounds: no zero, no value that would exhaust the
    /// machine (a semaphore of 10^19 permits panics).
    #[test]
    fn file_values_out_of_bounds_are_refused() {
        for (text, key) in [
            ("max_connections = 0", "max_connections"),
            ("max_connections = 99999999999", "max_connections"),
            ("max_recipients = 0", "max_recipients"),
            ("max_size = 0", "max_size"),
            ("max_size = 99999999999", "max_size"),
            ("[timeouts]\ncommand = 0", "timeouts.command"),
            ("[timeouts]\ndata = 99999999999", "timeouts.data"),
        ] {
            let f = parse(text, Path::new("")).unwrap();
            let e = settings(f, Overrides::default()).unwrap_err();
            assert!(
                e.starts_with(key) && e.contains("attendu de 1 à"),
                "{text}: {e}"
            );
        }
        let f = parse(
            "max_connections = 10000\n[timeouts]\ncommand = 86400",
            Path::new(""),
        );
        assert!(settings(f.unwrap(), Overrides::default()).is_ok());
    }
}
