//! Reading a DSN (RFC 3464): its per-message and per-recipient fields and the returned message.

use super::*;

/// Read a DSN.
// The finding is the answer a scenario reports as is; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub fn parse_dsn(raw: &[u8]) -> Result<Dsn, Finding> {
    match ack_kind(raw)? {
        AckKind::Dsn => {}
        AckKind::Mdn => {
            return Err(r::ACK_NOT_REPORT
                .finding(
                    "multipart/report; report-type=disposition-notification (un MDN, pas un DSN).",
                )
                .at(at_header("Content-Type")));
        }
    }
    let tree = mime::parse(raw, LIMITS);
    let parts = top_parts(&tree);
    let Some(ds) = parts.iter().find(|p| {
        matches!(
            p.effective_type().as_str(),
            "message/delivery-status" | "message/global-delivery-status"
        )
    }) else {
        return Err(r::DSN_STRUCTURE
            .finding("aucune partie message/delivery-status.")
            .at(at_message()));
    };
    let body = ds.decoded(raw).map(|b| b.into_owned()).unwrap_or_default();
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    let mut pos = 0;
    let mut start = 0;
    // Blocks are separated by blank lines (RFC 3464 §2.1).
    while pos <= body.len() {
        let (text_end, next) = if pos < body.len() {
            mime::line_at(&body, pos, body.len())
        } else {
            (pos, pos + 1)
        };
        let blank = text_end == pos;
        if blank || pos >= body.len() {
            let block = &body[start..pos.min(body.len())];
            if block.iter().any(|b| !b.is_ascii_whitespace()) {
                blocks.push(fields_of(block));
            }
            start = next.min(body.len());
        }
        pos = next;
    }
    let per_message = blocks.first().cloned().unwrap_or_default();
    let recipients = blocks
        .iter()
        .skip(1)
        .map(|b| DsnRecipient {
            final_recipient: get(b, "final-recipient"),
            original_recipient: get(b, "original-recipient"),
            action: get(b, "action").map(|a| a.to_ascii_lowercase()),
            status: get(b, "status"),
            diagnostic_code: get(b, "diagnostic-code"),
            remote_mta: get(b, "remote-mta"),
        })
        .collect();
    let returned = parts
        .iter()
        .find(|p| {
            matches!(
                p.effective_type().as_str(),
                "message/rfc822"
                    | "text/rfc822-headers"
                    | "message/global"
                    | "message/global-headers"
            )
        })
        .and_then(|p| p.decoded(raw).ok())
        .and_then(|b| crate::mail::message_id(&b));
    Ok(Dsn {
        message_id: root_header(&tree, "Message-ID"),
        subject: subject_of(&tree),
        reporting_mta: get(&per_message, "reporting-mta"),
        original_envelope_id: get(&per_message, "original-envelope-id"),
        recipients,
        returned_message_id: returned,
        parts: parts.iter().map(|p| p.effective_type()).collect(),
    })
}
