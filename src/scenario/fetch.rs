//! What banc downloads for a participant — a `.url` submission, an `http` step's call — goes
//! only to the hosts declared for that participant in the participants file (its `hosts`, and
//! the host of its `http`), over http or https.
//!
//! A submitted address is the participant's text: without this, it could make banc read its own
//! files (`file://`), call services listening on banc's machine or network (`127.0.0.1`, cloud
//! metadata at `169.254.169.254`) and show the answer in the results. So the host is checked,
//! then resolved, and every address it resolves to must be public — a local, link-local or
//! private address only when that address itself is declared (tests declare `127.0.0.1`, an
//! event on a private network declares its depot's address). banc then connects to exactly the
//! addresses it checked (no second lookup to rebind), through no proxy, follows redirects only
//! on the same host, and bounds the body and the time.

use super::model::Participant;
use reqwest::Url;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Longest download, whatever the step's wait.
pub const MAX_TIME: Duration = Duration::from_secs(120);

/// Most redirects followed (on the same host).
const MAX_REDIRECTS: usize = 5;

/// Characters of a submitted address shown in a message.
const SHOWN: usize = 200;

/// The hosts declared for one participant.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    participant: String,
    /// Host names, lower case, without a final dot.
    names: BTreeSet<String>,
    /// Addresses declared as such: fetched even when local or private.
    addrs: BTreeSet<IpAddr>,
}

impl Declared {
    /// `hosts` and the host of `http`.
    pub fn of(p: &Participant) -> Declared {
        let mut d = Declared {
            participant: p.id.clone(),
            ..Declared::default()
        };
        let from_http = p
            .http
            .as_deref()
            .and_then(|h| Url::parse(h).ok())
            .and_then(|u| u.host_str().map(str::to_string));
        for h in p.hosts.iter().cloned().chain(from_http) {
            match literal(&h) {
                Some(ip) => {
                    d.addrs.insert(ip);
                }
                None => {
                    d.names.insert(name(&h));
                }
            }
        }
        d
    }
}

/// A URL banc may fetch, and the addresses to connect to (checked; none for an address literal,
/// which is connected to as written).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// The host as in the URL, lower case.
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// An IP address written as a host (`127.0.0.1`, `::1`, `[::1]`).
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `h` can be a `hosts` entry: a host name or an IP address, nothing else (no scheme,
/// port, path or wildcard).
pub fn valid_host(h: &str) -> bool {
    if literal(h).is_some() {
        return true;
    }
    let n = h.trim_end_matches('.');
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An address as the step's message shows it: at most a few hundred characters.
pub fn shown(url: &str) -> String {
    let mut s: String = url
        .chars()
        .take(SHOWN)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if url.chars().count() > SHOWN {
        s.push('…');
    }
    s
}

/// Whether `ip` is reachable on the public Internet: not loopback, private, link-local, shared
/// (CGNAT), unspecified, multicast, broadcast, documentation, benchmarking or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => public_v4(a),
        IpAddr::V6(a) => public_v6(a),
    }
}

fn public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o0 == 0
        || (o0 == 100 && (o1 & 0xC0) == 64)
        || (o0 == 192 && o1 == 0 && o2 == 0)
        || (o0 == 198 && (o1 & 0xFE) == 18)
        || o0 >= 240)
}

fn public_v6(a: Ipv6Addr) -> bool {
    if a.is_loopback() || a.is_unspecified() || a.is_multicast() {
        return false;
    }
    // An IPv4 address inside IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96) is judged as
    // the IPv4 address it reaches.
    if let Some(v4) = a.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = a.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a0, a1] = s[6].to_be_bytes();
        let [a2, a3] = s[7].to_be_bytes();
        return public_v4(Ipv4Addr::new(a0, a1, a2, a3));
    }
    !((s[0] & 0xFE00) == 0xFC00 // unique local fc00::/7
        || (s[0] & 0xFFC0) == 0xFE80 // link-local fe80::/10
        || (s[0] & 0xFFC0) == 0xFEC0 // site-local fec0::/10 (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0DB8) // documentation
        || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated) and reserved
}

/// `url` checked against the participant's declared hosts, its name resolved (within
/// `timeout`) and every address checked: what to connect to, or why not (in French).
pub async fn target(url: &str, declared: &Declared, timeout: Duration) -> Result<Target, String> {
    let refused = |why: String| format!("adresse refusée : {why}");
    let u = Url::parse(url.trim()).map_err(|e| refused(format!("URL illisible ({e})")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(refused(format!(
            "seules les adresses http:// et https:// sont téléchargées, pas {}:",
            u.scheme()
        )));
    }
    let Some(host) = u.host_str().map(str::to_ascii_lowercase) else {
        return Err(refused("adresse sans hôte".into()));
    };
    let port = u.port_or_known_default().unwrap_or(80);
    let undeclared = || {
        refused(format!(
            "l'hôte « {host} » n'est pas déclaré pour le participant {} (clé hosts du fichier des participants)",
            declared.participant
        ))
    };
    if let Some(ip) = literal(&host) {
        if !declared.addrs.contains(&ip) {
            return Err(undeclared());
        }
        return Ok(Target {
            url: u,
            host,
            addrs: Vec::new(),
        });
    }
    if !declared.names.contains(&name(&host)) {
        return Err(undeclared());
    }
    let lookup = tokio::net::lookup_host((name(&host), port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => return Err(format!("{host} : nom introuvable ({e})")),
        Err(_) => return Err(format!("{host} : pas de réponse DNS dans le délai")),
    };
    if addrs.is_empty() {
        return Err(format!("{host} : nom introuvable"));
    }
    if let Some(bad) = addrs
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| !is_public(*ip) && !declared.addrs.contains(ip))
    {
        return Err(refused(format!(
            "« {host} » désigne {bad}, une adresse locale ou privée ; seule une adresse déclarée elle-même dans hosts peut l'être"
        )));
    }
    Ok(Target {
        url: u,
        host,
        addrs,
    })
}

/// The redirect policy of a download: follow only on the same host (http or https), at most
/// a few times; anything else stops at the redirect, which [`redirect_refused`] reports.
pub fn same_host_redirects(host: &str) -> reqwest::redirect::Policy {
    let host = host.to_string();
    reqwest::redirect::Policy::custom(move |a| {
        let u = a.url();
        let same = matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some_and(|h| h.eq_ignore_ascii_case(&host));
        if same && a.previous().len() <= MAX_REDIRECTS {
            a.follow()
        } else {
            a.stop()
        }
    })
}

/// A redirect the policy did not follow, as an error.
pub fn redirect_refused(resp: &reqwest::Response, t: &Target) -> Result<(), String> {
    if !resp.status().is_redirection() {
        return Ok(());
    }
    let to = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| shown(&String::from_utf8_lossy(l.as_bytes())))
        .unwrap_or_default();
    Err(format!(
        "redirection {} vers « {to} » non suivie : banc ne télécharge que depuis l'hôte déclaré {}",
        resp.status().as_u16(),
        t.host
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(hosts: &[&str], http: Option<&str>) -> Participant {
        Participant {
            id: "labo".into(),
            organisation: "O".into(),
            system: "S".into(),
            roles: vec![],
            mailbox: None,
            smtp: None,
            imap: None,
            http: http.map(String::from),
            contact: None,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            tls: None,
        }
    }

    async fn check(url: &str, p: &Participant) -> Result<Target, String> {
        target(url, &Declared::of(p), Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn only_declared_hosts_over_http_are_fetched() {
        let p = participant(
            &["127.0.0.1", "Depot.Labo.test."],
            Some("https://[::1]:8443/api"),
        );
        assert!(check("http://127.0.0.1:8080/cr.xml", &p).await.is_ok());
        assert!(check("https://[::1]/x", &p).await.is_ok(), "host of http");
        for (url, why) in [
            ("file:///etc/passwd", "pas file:"),
            ("ftp://127.0.0.1/x", "pas ftp:"),
            ("http://127.0.0.2/x", "« 127.0.0.2 » n'est pas déclaré"),
            ("http://localhost:8080/x", "« localhost » n'est pas déclaré"),
            // The URL parser normalises other spellings of an address: still undeclared.
            ("http://2130706434/x", "« 127.0.0.2 » n'est pas déclaré"),
            ("http://169.254.169.254/latest", "n'est pas déclaré"),
            ("pas une url", "URL illisible"),
        ] {
            let e = check(url, &p).await.unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[tokio::test]
    async fn a_declared_name_resolving_to_a_local_address_is_refused_unless_that_address_is_declared()
     {
        let p = participant(&["localhost"], None);
        let e = check("http://localhost:1/x", &p).await.unwrap_err();
        assert!(e.contains("adresse locale ou privée"), "{e}");
        let p = participant(&["localhost", "127.0.0.1", "::1"], None);
        let t = check("http://LOCALHOST:1/x", &p).await.unwrap();
        assert!(
            t.addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 1)
        );
    }

    #[test]
    fn public_and_non_public_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "2a00:1450:4007:80c::200e",
            "::ffff:93.184.216.34",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn hosts_entries_are_names_or_addresses() {
        for h in [
            "depot.labo.fr",
            "127.0.0.1",
            "::1",
            "localhost",
            "a-b.example.",
        ] {
            assert!(valid_host(h), "{h}");
        }
        for h in [
            "https://depot.fr",
            "depot.fr:8080",
            "depot.fr/x",
            "*.labo.fr",
            "",
            "-a.fr",
        ] {
            assert!(!valid_host(h), "{h}");
        }
    }
}
