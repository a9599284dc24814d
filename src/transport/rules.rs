//! The transport rules (`transport.*`): what banc's SMTP server observed while receiving a
//! message. One constant per id; [`RULES`] lists them all.

use crate::finding::{Layer, Rule, Severity};

const STARTTLS_SPEC: &str =
    "mssante-xdm.md §1 : soumission SMTP avec STARTTLS (SC.MSS/CONF.05, 2nd-hand) ; RFC 3207";
const MTLS_SPEC: &str = "mssante-xdm.md §1 : BAL applicative authentifiée par certificat IGC-Santé personne morale (TLS mutuel ; DEVBOX, OPMSS, 2nd-hand)";

pub const TLS_NONE: &Rule = &crate::rule! {
    id: "transport.tls.none",
    severity: Severity::Error,
    layer: Layer::Transport,
    message: "Message reçu sans TLS : MSSanté exige STARTTLS (TLS 1.2 minimum) entre le logiciel et l'opérateur.",
    hint: "Issue STARTTLS after EHLO and send MAIL FROM only inside the TLS session.",
    spec: STARTTLS_SPEC,
};
pub const TLS_SESSION: &Rule = &crate::rule! {
    id: "transport.tls.session",
    severity: Severity::Info,
    layer: Layer::Transport,
    message: "Message reçu sous TLS.",
    hint: "Informative: the protocol version and cipher suite negotiated.",
    spec: "mssante-xdm.md §1 : TLS 1.2 minimum (CONF.01/.03, 2nd-hand)",
};
pub const CLIENT_CERT: &Rule = &crate::rule! {
    id: "transport.tls.client-cert",
    severity: Severity::Info,
    layer: Layer::Transport,
    message: "Certificat client présenté et vérifié (chaîne jusqu'à l'AC configurée) :",
    hint: "Informative: the identity the session authenticated with.",
    spec: MTLS_SPEC,
};
pub const CLIENT_CERT_ABSENT: &Rule = &crate::rule! {
    id: "transport.tls.client-cert-absent",
    severity: Severity::Warning,
    layer: Layer::Transport,
    message: "Aucun certificat client présenté alors que le serveur en demandait un : une BAL applicative s'authentifie par certificat IGC-Santé « personne morale » (TLS mutuel).",
    hint: "Configure the sending software with its IGC-Santé personne morale certificate and key (.p12) as the TLS client certificate.",
    spec: MTLS_SPEC,
};
pub const IDENTITY_MISMATCH: &Rule = &crate::rule! {
    id: "transport.tls.identity-mismatch",
    severity: Severity::Error,
    layer: Layer::Transport,
    message: "Expéditeur refusé (550 5.7.1) : MAIL FROM est une boîte applicative déclarée, mais la session n'a pas présenté de certificat client vérifié qui la nomme (subjectAltName rfc822Name, à défaut emailAddress ou CN du sujet) ; rien n'est conservé.",
    hint: "Send from an application mailbox only with the IGC-Santé personne morale certificate issued for that very mailbox (its address in the certificate), as the TLS client certificate.",
    spec: MTLS_SPEC,
};
pub const REVOKED: &Rule = &crate::rule! {
    id: "transport.tls.revoked",
    severity: Severity::Error,
    layer: Layer::Transport,
    message: "Poignée de main TLS refusée : le certificat client est révoqué (il figure dans la liste de révocation du serveur, --crl) ; la session est close, rien n'est conservé.",
    hint: "Use a certificate that is still valid: ask the certification authority (IGC-Santé) for a new one and install it in the sending software.",
    spec: "mssante-xdm.md §1 : contrôle de révocation par CRL ou OCSP (ECO.1.1.6, 2nd-hand) ; RFC 5280 §5",
};
pub const BARE_LF: &Rule = &crate::rule! {
    id: "transport.smtp.bare-lf",
    severity: Severity::Warning,
    layer: Layer::Transport,
    message: "Lignes terminées par LF seul dans DATA (RFC 5321 : toute ligne se termine par CRLF) ; banc les a conservées telles quelles.",
    hint: "Convert line endings to CRLF before the SMTP submission (many servers refuse bare LF since the SMTP smuggling fixes).",
    spec: "RFC 5321 §2.3.8 et §4.1.1.4",
};
pub const EIGHT_BIT: &Rule = &crate::rule! {
    id: "transport.smtp.8bit",
    severity: Severity::Warning,
    layer: Layer::Transport,
    message: "Octets ≥ 0x80 dans le message sans BODY=8BITMIME dans MAIL FROM.",
    hint: "Declare BODY=8BITMIME in MAIL FROM, or encode 8-bit parts (quoted-printable, base64).",
    spec: "RFC 6152 §3 ; RFC 5321 §2.4",
};
pub const SIZE: &Rule = &crate::rule! {
    id: "transport.smtp.size",
    severity: Severity::Error,
    layer: Layer::Transport,
    message: "Message refusé (552 5.3.4) : taille au-delà de la limite du serveur ; il n'est pas conservé.",
    hint: "Keep messages under the operator's limit (SIZE in the EHLO reply; 25 MB at Mon espace santé).",
    spec: "mssante-xdm.md §6 M16 (25 MB, 2nd-hand, UNCONFIRMED) ; RFC 1870",
};
pub const LINE_LENGTH: &Rule = &crate::rule! {
    id: "transport.smtp.line-length",
    severity: Severity::Error,
    layer: Layer::Transport,
    message: "Message refusé (500 5.5.2) : ligne de plus de 1000 octets (CRLF compris) dans DATA ; il n'est pas conservé.",
    hint: "Encode long lines (base64 at 76 characters, quoted-printable soft breaks).",
    spec: "RFC 5321 §4.5.3.1.6 ; RFC 5322 §2.1.1",
};

pub const TOO_LARGE: &Rule = &crate::rule! {
    id: "transport.imap.too-large",
    layer: Layer::Transport,
    severity: Severity::Error,
    message: "Message plus gros que la taille maximale admise : il n'a pas été téléchargé ni analysé.",
    hint: "Keep the whole message under the receiving operator's limit (25 MB at Mon espace santé); raise --max-size only if your operator accepts more.",
    spec: "mssante-xdm.md M16 : taille totale sous la limite configurée (25 Mo pour Mon espace santé ; [CODENG] 2nd-hand, UNCONFIRMED dans un texte ANS)",
};
pub const VANISHED: &Rule = &crate::rule! {
    id: "transport.imap.vanished",
    layer: Layer::Transport,
    severity: Severity::Error,
    message: "Le message a disparu de la boîte entre la recherche et la relève (supprimé ou déplacé par un autre client) : il n'a pas été analysé.",
    hint: "Make sure no other client empties the test mailbox while banc reads it, then fetch again.",
    spec: "RFC 3501 §6.4.8 (UID FETCH d'un message expurgé : aucune donnée)",
};
pub const NO_BODY: &Rule = &crate::rule! {
    id: "transport.imap.no-body",
    layer: Layer::Transport,
    severity: Severity::Error,
    message: "Le serveur IMAP n'a pas rendu le contenu du message (BODY[] absent ou NIL) : il n'a pas été analysé.",
    hint: "This is a server-side fault; check the mailbox storage of the IMAP server.",
    spec: "RFC 3501 §6.4.5 (FETCH BODY.PEEK[])",
};

pub static RULES: &[&Rule] = &[
    TLS_NONE,
    TLS_SESSION,
    CLIENT_CERT,
    CLIENT_CERT_ABSENT,
    IDENTITY_MISMATCH,
    REVOKED,
    BARE_LF,
    EIGHT_BIT,
    SIZE,
    LINE_LENGTH,
    TOO_LARGE,
    VANISHED,
    NO_BODY,
];

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_in_the_transport_layer() {
        let mut ids: Vec<&str> = super::RULES.iter().map(|r| r.id).collect();
        assert!(ids.iter().all(|i| i.starts_with("transport.")));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), super::RULES.len());
    }
}
