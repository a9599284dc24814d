//! Making the MDN a receiving system sends (RFC 8098, MSSanté conventions), faults included.

use super::*;

/// What the receiving system did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    Error { code: u16, label: String },
}

impl Outcome {
    /// An error with its built-in French label (900–906); `None` for another code.
    pub fn error(code: u16) -> Option<Outcome> {
        conventions::error_label(code).map(|l| Outcome::Error {
            code,
            label: l.to_string(),
        })
    }
}

crate::choice_enum! {
    /// Where the error string goes in the MDN.
    pub enum MdnStyle {
        /// `processed/Error: <code>^<label>` in Disposition (mssante-xdm.md §4; IG LPS ≤ 1.1.2).
        Legacy = "legacy",
        /// `processed/error` and a separate `Error: <code>^<label>` field (RFC 8098 §3.2.7; IG LPS
        /// 1.1.3).
        Rfc8098 = "rfc8098",
    }
}

// choice_enum! takes doc comments only, so no `#[default]` on a variant.
#[allow(clippy::derivable_impls)]
impl Default for MdnStyle {
    fn default() -> MdnStyle {
        MdnStyle::Legacy
    }
}

/// How to make an MDN.
#[derive(Debug, Clone, Default)]
pub struct MdnOptions {
    /// Make one even when the original does not ask for it.
    pub force: bool,
    pub style: MdnStyle,
    /// Reporting-UA (default: `<domain>; banc <version>`).
    pub reporting_ua: Option<String>,
    /// Unix time of the Date header (default: now).
    pub date: Option<i64>,
    /// Without angle brackets (default: generated).
    pub message_id: Option<String>,
}

/// The MDN a receiving system (`reporting`, its mailbox) returns for `original_raw` (IG LPS
/// struct-msg-mdn: text, notification, original message). Refused when the original does not
/// ask for one (no Disposition-Notification-To).
pub fn make_mdn(original_raw: &[u8], reporting: &str, outcome: Outcome) -> Result<Vec<u8>, String> {
    make_mdn_with(original_raw, reporting, outcome, &MdnOptions::default())
}

pub fn make_mdn_with(
    original_raw: &[u8],
    reporting: &str,
    outcome: Outcome,
    opts: &MdnOptions,
) -> Result<Vec<u8>, String> {
    let o_tree = mime::parse(original_raw, LIMITS);
    if !readable(&o_tree) {
        return Err("le message d'origine n'est pas un message électronique lisible".into());
    }
    let dnt = crate::mail::disposition_notification_to(original_raw);
    let to = match (&dnt, opts.force) {
        (Some(d), _) => d.clone(),
        (None, true) => root_header(&o_tree, "From")
            .map(|f| angle_address(&f))
            .ok_or("le message d'origine n'a ni Disposition-Notification-To ni From")?,
        (None, false) => {
            return Err("le message d'origine ne demande pas d'accusé de lecture (pas de Disposition-Notification-To) : --force pour en produire un quand même".into());
        }
    };
    if !valid_address(reporting) {
        return Err(format!(
            "« {reporting} » : adresse de la boîte qui rend compte invalide"
        ));
    }
    let original_id = crate::mail::message_id(original_raw);
    let o_subject = subject_of(&o_tree).unwrap_or_default();
    let subject = match &outcome {
        Outcome::Processed => o_subject.clone(),
        Outcome::Error { code, .. } => format!("{KO_PREFIX}[{code}] {o_subject}"),
    };
    let domain = reporting
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("banc.invalid");
    let date = opts.date.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let message_id = opts.message_id.clone().unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(original_raw);
        h.update(date.to_le_bytes());
        h.update(format!("{outcome:?}"));
        format!("mdn.{}@{domain}", hex::encode(&h.finalize()[..8]))
    });
    let boundary = {
        use sha2::{Digest, Sha256};
        format!(
            "banc-report-{}",
            hex::encode(&Sha256::digest(message_id.as_bytes())[..8])
        )
    };
    let text = match &outcome {
        Outcome::Processed => format!(
            "Le message « {o_subject} »{} a été reçu et traité automatiquement : le document a été intégré.\r\n",
            original_id
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ),
        Outcome::Error { code, label } => format!(
            "Le message ci-dessous n'a pas pu être intégré automatiquement dans le DPI pour la raison suivante : {label}\r\nCode d'erreur : {code} ({code}^{label})\r\n\r\nLe message d'origine est joint, avec son archive IHE_XDM.zip et sa copie PDF.\r\n"
        ),
    };
    let mut fields = format!(
        "Reporting-UA: {}\r\n",
        opts.reporting_ua
            .clone()
            .unwrap_or_else(|| format!("{domain}; banc {}", env!("CARGO_PKG_VERSION")))
    );
    if let Some(or) = crate::mail::header_text(original_raw, "Original-Recipient") {
        let addr = or.split_once(';').map(|(_, a)| a).unwrap_or(&or);
        fields.push_str(&format!(
            "Original-Recipient: rfc822;{}\r\n",
            angle_address(addr)
        ));
    }
    fields.push_str(&format!("Final-Recipient: rfc822;{reporting}\r\n"));
    if let Some(id) = &original_id {
        fields.push_str(&format!("Original-Message-ID: {id}\r\n"));
    }
    match (&outcome, opts.style) {
        (Outcome::Processed, _) => {
            fields.push_str("Disposition: automatic-action/MDN-sent-automatically; processed\r\n")
        }
        (Outcome::Error { code, label }, MdnStyle::Legacy) => fields.push_str(&format!(
            "Disposition: automatic-action/MDN-sent-automatically; processed/Error: {code}^{label}\r\n"
        )),
        (Outcome::Error { code, label }, MdnStyle::Rfc8098) => fields.push_str(&format!(
            "Disposition: automatic-action/MDN-sent-automatically; processed/error\r\nError: {code}^{label}\r\n"
        )),
    }
    let eight_bit = |b: &[u8]| b.iter().any(|x| *x >= 0x80);
    let notification = MimePart::new(
        ContentType::new("message/disposition-notification"),
        BodyPart::Binary(fields.clone().into_bytes().into()),
    )
    .header(
        "Content-Transfer-Encoding",
        Raw::new(if eight_bit(fields.as_bytes()) {
            "8bit"
        } else {
            "7bit"
        }),
    );
    // message/rfc822 admits no base64 (RFC 2046 §5.2.1): the original goes as it is.
    let original_part = MimePart::new(
        ContentType::new("message/rfc822"),
        BodyPart::Binary(original_raw.to_vec().into()),
    )
    .header(
        "Content-Transfer-Encoding",
        Raw::new(if eight_bit(original_raw) {
            "8bit"
        } else {
            "7bit"
        }),
    );
    let report = MimePart::new(
        ContentType::new("multipart/report")
            .attribute("report-type", "disposition-notification")
            .attribute("boundary", boundary),
        BodyPart::Multipart(vec![
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                BodyPart::Text(text.into()),
            ),
            notification,
            original_part,
        ]),
    );
    let mut b = MessageBuilder::new()
        .from(Address::from(reporting))
        .to(Address::from(to.as_str()))
        .subject(subject)
        .date(date)
        .message_id(MessageId::new(message_id));
    if let Some(id) = &original_id {
        let bare = id.trim().trim_matches(['<', '>']).to_string();
        b = b
            .in_reply_to(MessageId::new(bare.clone()))
            .references(MessageId::new(bare));
    }
    b.header("MIME-Version", Raw::new("1.0"))
        .body(report)
        .write_to_vec()
        .map_err(|e| format!("écriture du MDN : {e}"))
}
