//! `banc mail compose`: write a conforming MSSanté message (.eml) from CDA documents, or a
//! deliberately faulty one (`--fault`) for the tests of a receiving system.
//!
//! Layout (IG LPS struct-email-standard, Référentiel #2 ECO.2.x as quoted in mssante-xdm.md §2):
//! `multipart/mixed` = `text/plain; charset=utf-8` body + `application/zip; name="IHE_XDM.zip"`
//! (base64, attachment) + the PDF copy (`<date acte>_<type>_<NOM>_<prénom>.pdf`), headers
//! `X-MSS-CODECDA`, `X-MSS-INS`, `X-MSS-NIL`, and `X-MSS-MES: FIN` towards a patient mailbox.

use super::conventions::{self, Identity};
use super::mime::{self, BASE64};
use crate::cda::header::CdaHeader;
use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use regex::Regex;
use std::path::PathBuf;
use std::sync::LazyLock;

/// X-MSS-NIL written when none is given: a placeholder, not a real product reference (those are
/// issued by convergence.esante.gouv.fr, e.g. `DEV935997`).
pub const DEFAULT_NIL: &str = "BANC-TEST";
/// From written when none is given.
pub const DEFAULT_FROM: &str = "emetteur@banc.invalid";

crate::choice_enum! {
    /// A deliberate defect, for testing what a receiving system does with it. Each one raises a
    /// known rule of banc's own judge ([`Fault::rule`]).
    pub enum Fault {
        /// No IHE_XDM.zip attached.
        NoZip = "no-zip",
        /// The package attached twice.
        TwoZips = "two-zips",
        /// The package named `documents.zip`.
        ZipName = "zip-name",
        /// The package declared `application/octet-stream`.
        OctetStream = "octet-stream",
        /// Base64 of the package corrupted.
        BadBase64 = "bad-base64",
        /// No X-MSS-* header at all.
        NoXMss = "no-x-mss",
        NoCodecda = "no-codecda",
        /// X-MSS-CODECDA of another document type (11488-4, consultation note).
        WrongCodecda = "wrong-codecda",
        NoInsHeader = "no-ins-header",
        /// X-MSS-INS says the opposite of the CDA.
        WrongInsHeader = "wrong-ins-header",
        NoNil = "no-nil",
        /// X-MSS-MES with another value than FIN.
        MesWrong = "mes-wrong",
        /// A patient mailbox that is not the patient's INS.
        WrongPatientAddress = "wrong-patient-address",
        /// Subject without `XDM/1.0/DDM+`.
        SubjectNoPrefix = "subject-no-prefix",
        /// Subject naming another patient.
        SubjectWrongIdentity = "subject-wrong-identity",
        /// Birth date of the subject as AAAA-MM-JJ.
        SubjectBadDate = "subject-bad-date",
        /// No PDF part.
        NoPdf = "no-pdf",
        /// PDF named `compte-rendu.pdf`.
        PdfBadName = "pdf-bad-name",
        NoMessageId = "no-message-id",
        /// Message-ID without angle brackets nor `@`.
        BadMessageId = "bad-message-id",
        NoDate = "no-date",
        /// A header written in raw UTF-8 (no RFC 2047).
        EightBitHeader = "eight-bit-header",
        /// A header value carrying `LF Bcc: ...`, as when user data is copied into a header.
        CrlfInjection = "crlf-injection",
        /// `Content-Transfert-Encoding` (the IG examples' typo) on the package.
        CteTypo = "cte-typo",
        /// Body in Latin-1, declared UTF-8.
        Latin1Body = "latin1-body",
        /// Body without charset.
        NoCharset = "no-charset",
        /// multipart/mixed boundary of 80 characters.
        LongBoundary = "long-boundary",
        /// The closing boundary cut off.
        Truncated = "truncated",
        /// The body wrapped in 12 levels of multipart/mixed.
        DeepNesting = "deep-nesting",
        /// Disposition-Notification-To different from Return-Path.
        DntLoop = "dnt-loop",
        /// Documents of several patients in one message (give CDAs of two patients).
        TwoPatients = "two-patients",
        /// One more entry in IHE_XDM.zip inflating to 1 GiB of zeros from about 1 MB (ratio about
        /// 1000:1), the rest of the package valid.
        ZipBomb = "zip-bomb",
        /// IHE_XDM.zip without METADATA.XML (the documents are there).
        NoMetadata = "no-metadata",
        /// METADATA.XML's hash of the document is not the document's SHA-1 (as if the document
        /// had been altered after it was computed; same size).
        WrongHash = "wrong-hash",
        /// patientId of the XDS metadata (DocumentEntry and SubmissionSet) is another INS than
        /// the CDA's.
        PatientIdMismatch = "patient-id-mismatch",
        /// The CDA without INS (its INS identifier removed from recordTarget/patientRole), hence
        /// a package without patientId and X-MSS-INS: N.
        NoIns = "no-ins",
    }
}

/// The id of `banc.patient.ins-missing` (declared in a check table of `crate::banc`).
const BANC_INS_MISSING: &str = "banc.patient.ins-missing";

impl Fault {
    /// The rule of banc's judge this fault raises.
    pub fn rule(self) -> &'static str {
        use super::rules as r;
        match self {
            Fault::NoZip => r::ZIP_MISSING.id,
            Fault::TwoZips => r::ZIP_SEVERAL.id,
            Fault::ZipName => r::ZIP_NAME.id,
            Fault::OctetStream => r::ZIP_OCTET_STREAM.id,
            Fault::BadBase64 => r::BAD_BASE64.id,
            Fault::NoXMss | Fault::NoNil => r::NIL_MISSING.id,
            Fault::NoCodecda => r::CODECDA_MISSING.id,
            Fault::WrongCodecda => r::CODECDA_MISMATCH.id,
            Fault::NoInsHeader => r::INS_MISSING.id,
            Fault::WrongInsHeader => r::INS_MISMATCH.id,
            Fault::MesWrong => r::MES_VALUE.id,
            Fault::WrongPatientAddress => r::PATIENT_ADDRESS_INS.id,
            Fault::SubjectNoPrefix => r::SUBJECT_PREFIX.id,
            Fault::SubjectWrongIdentity => r::SUBJECT_IDENTITY.id,
            Fault::SubjectBadDate => r::SUBJECT_DATE.id,
            Fault::NoPdf => r::PDF_MISSING.id,
            Fault::PdfBadName => r::PDF_NAME.id,
            Fault::NoMessageId | Fault::NoDate => r::HEADER_REQUIRED.id,
            Fault::BadMessageId => r::MESSAGE_ID.id,
            Fault::EightBitHeader => r::NON_ASCII.id,
            Fault::CrlfInjection => r::CRLF_INJECTION.id,
            Fault::CteTypo => r::CTE_TYPO.id,
            Fault::Latin1Body => r::TEXT_INVALID_UTF8.id,
            Fault::NoCharset => r::TEXT_CHARSET_MISSING.id,
            Fault::LongBoundary => r::BOUNDARY_SYNTAX.id,
            Fault::Truncated => r::UNTERMINATED.id,
            Fault::DeepNesting => r::TOO_DEEP.id,
            Fault::DntLoop => r::DNT_LOOP.id,
            Fault::TwoPatients => r::PATIENT_SEVERAL.id,
            Fault::ZipBomb => crate::xdm::zipread::BOMB.id,
            Fault::NoMetadata => crate::xdm::checks::METADATA_MISSING.id,
            Fault::WrongHash => crate::xdm::checks::HASH.id,
            Fault::PatientIdMismatch => crate::xdm::checks::CDA_PATIENT_ID.id,
            Fault::NoIns => BANC_INS_MISSING,
        }
    }

    /// The defect of the IHE_XDM package this fault is, when it is one.
    fn package(self) -> Option<crate::xdm::PackFault> {
        use crate::xdm::PackFault as P;
        match self {
            Fault::ZipBomb => Some(P::Bomb),
            Fault::NoMetadata => Some(P::NoMetadata),
            Fault::WrongHash => Some(P::WrongHash),
            Fault::PatientIdMismatch => Some(P::OtherPatient),
            _ => None,
        }
    }
}

/// Where the PDF copy comes from.
#[derive(Debug, Clone, Default)]
pub enum PdfSource {
    /// The PDF embedded in the first CDA (FR-Document-PDF-copie), when there is one.
    #[default]
    FromCda,
    File(Vec<u8>),
    None,
}

#[derive(Debug, Clone)]
pub struct ComposeOptions {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// X-MSS-NIL.
    pub nil: String,
    /// Libellé of the subject (default: the document title).
    pub label: Option<String>,
    /// Text body (default: a short French message naming the patient).
    pub body: Option<String>,
    pub pdf: PdfSource,
    /// A package to attach instead of building one from the documents.
    pub zip: Option<Vec<u8>>,
    pub disposition_notification_to: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Without angle brackets; default: generated, unique.
    pub message_id: Option<String>,
    /// Unix time of the Date header; default: now.
    pub date: Option<i64>,
    pub package: crate::xdm::PackOptions,
    pub faults: Vec<Fault>,
}

impl Default for ComposeOptions {
    fn default() -> ComposeOptions {
        ComposeOptions {
            from: DEFAULT_FROM.into(),
            to: Vec::new(),
            cc: Vec::new(),
            nil: DEFAULT_NIL.into(),
            label: None,
            body: None,
            pdf: PdfSource::FromCda,
            zip: None,
            disposition_notification_to: None,
            in_reply_to: None,
            references: Vec::new(),
            message_id: None,
            date: None,
            package: crate::xdm::PackOptions::default(),
            faults: Vec::new(),
        }
    }
}

static PDF_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?s)<(?:[A-Za-z_][\w.-]*:)?value\b[^>]*\bmediaType\s*=\s*["']application/pdf["'][^>]*>([^<]*)<"#,
    )
    .expect("static regex")
});

/// The PDF copy embedded in a CDA (observationMedia value, B64), when there is one.
pub fn pdf_from_cda(cda: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(cda);
    let b64 = PDF_VALUE.captures(&text)?.get(1)?.as_str().to_string();
    mime::decode(b64.as_bytes(), "base64")
        .ok()
        .map(|b| b.into_owned())
        .filter(|b| b.starts_with(b"%PDF-"))
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("banc.invalid")
}

/// 16 hex digits that differ from one call to the next (time, process, counter, content).
fn unique_hex(seed: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(seed);
    hex::encode(&h.finalize()[..8])
}

fn stable_hex(seed: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(seed)[..8])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `AAAAMMJJ` of a Unix time (UTC).
fn ymd(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Compose a message holding `docs` (file name, CDA bytes).
pub fn compose(docs: &[(String, Vec<u8>)], opts: &ComposeOptions) -> Result<Vec<u8>, String> {
    let has = |f: Fault| opts.faults.contains(&f);
    if docs.is_empty() {
        return Err("aucun document CDA à envoyer".into());
    }
    if opts.to.is_empty() {
        return Err("aucun destinataire (--to)".into());
    }
    let package_faults: Vec<crate::xdm::PackFault> =
        opts.faults.iter().filter_map(|f| f.package()).collect();
    if opts.zip.is_some()
        && let Some(f) = opts
            .faults
            .iter()
            .find(|f| f.package().is_some() || **f == Fault::NoIns)
    {
        return Err(format!(
            "le défaut {} touche le paquet ou le document : il ne s'applique pas à un paquet fourni (--zip)",
            f.name()
        ));
    }
    let stripped;
    let docs = if has(Fault::NoIns) {
        stripped = docs
            .iter()
            .map(|(n, b)| without_ins(n, b).map(|b| (n.clone(), b)))
            .collect::<Result<Vec<_>, String>>()?;
        stripped.as_slice()
    } else {
        docs
    };
    let headers: Vec<CdaHeader> = crate::xdm::pack::read_headers(docs)?;
    let h0 = &headers[0];
    if !has(Fault::TwoPatients)
        && headers.iter().any(|h| {
            h.patient.ins != h0.patient.ins || h.patient.birth_name != h0.patient.birth_name
        })
    {
        return Err(
            "un message MSSanté concerne un seul patient (ECO.2.1.1) : documents de patients différents"
                .into(),
        );
    }
    let id = conventions::identity(&h0.patient).ok_or_else(|| {
        format!(
            "{} : identité du patient incomplète (NOM de naissance et prénom nécessaires à l'objet)",
            docs[0].0
        )
    })?;
    let label = opts.label.clone().unwrap_or_else(|| conventions::label(h0));
    let date = opts.date.unwrap_or_else(now);
    let message_id = opts.message_id.clone().unwrap_or_else(|| {
        format!(
            "{}.{}@{}",
            ymd(date),
            unique_hex(label.as_bytes()),
            domain_of(&opts.from)
        )
    });
    let stable = stable_hex(message_id.as_bytes());

    // Subject.
    let subject = if has(Fault::SubjectNoPrefix) {
        conventions::subject(&label, &id)
            .trim_start_matches(conventions::SUBJECT_PREFIX)
            .to_string()
    } else if has(Fault::SubjectWrongIdentity) {
        let other = Identity {
            family: "DUPONT".into(),
            given: "Jean".into(),
            birth_date: id.birth_date.clone(),
        };
        conventions::subject(&label, &other)
    } else if has(Fault::SubjectBadDate) {
        let iso = id.birth_date.as_deref().and_then(|d| {
            let p: Vec<&str> = d.split('/').collect();
            (p.len() == 3).then(|| format!("{}-{}-{}", p[2], p[1], p[0]))
        });
        let bad = Identity {
            birth_date: Some(iso.unwrap_or_else(|| "1900-01-01".into())),
            ..id.clone()
        };
        conventions::subject(&label, &bad)
    } else {
        conventions::subject(&label, &id)
    };

    // X-MSS-*.
    let mut codes: Vec<String> = Vec::new();
    for h in &headers {
        if let Some(c) = &h.code
            && !codes.contains(&c.code)
        {
            codes.push(c.code.clone());
        }
    }
    let codecda = if has(Fault::WrongCodecda) {
        "11488-4".to_string()
    } else {
        codes.join(",")
    };
    let qualified = headers.iter().all(|h| h.patient.ins_qualified());
    let ins = match (qualified, has(Fault::WrongInsHeader)) {
        (true, false) | (false, true) => "O",
        _ => "N",
    };
    let mut to = opts.to.clone();
    if has(Fault::WrongPatientAddress) {
        to.push(conventions::patient_address("111111111111111"));
    }
    let to_patient = to
        .iter()
        .chain(opts.cc.iter())
        .any(|a| conventions::is_patient_address(a));

    // Attachments.
    let zip = match &opts.zip {
        Some(z) => z.clone(),
        None => {
            let mut po = opts.package.clone();
            po.allow_faults |= has(Fault::TwoPatients) || has(Fault::NoIns);
            po.faults.extend(package_faults);
            if po.sender.is_none() {
                po.sender = Some(opts.from.clone());
            }
            crate::xdm::pack::pack_read(docs, &headers, &po)?
        }
    };
    let pdf = match &opts.pdf {
        PdfSource::FromCda => pdf_from_cda(&docs[0].1),
        PdfSource::File(b) => Some(b.clone()),
        PdfSource::None => None,
    };
    let act = conventions::act_date(h0).unwrap_or_else(|| ymd(date));
    let pdf_name = if has(Fault::PdfBadName) {
        "compte-rendu.pdf".to_string()
    } else {
        conventions::pdf_name(&act, &label, &id, None)
    };
    let body = opts.body.clone().unwrap_or_else(|| {
        format!(
            "Bonjour,\r\n\r\nVeuillez trouver ci-joint : {label}, concernant {} {}{}.\r\n\r\nL'archive IHE_XDM.zip contient le document structuré (CDA) ; le PDF en est la copie lisible.\r\n\r\nMessage produit par banc, banc d'essai CI-SIS / MSSanté.\r\n",
            id.family,
            id.given,
            id.birth_date
                .as_deref()
                .map(|d| format!(", né(e) le {d}"))
                .unwrap_or_default()
        )
    });

    let mut parts: Vec<MimePart<'_>> = Vec::new();
    parts.push(text_part(&body, opts));
    if !has(Fault::NoZip) {
        parts.push(zip_part(&zip, opts, "IHE_XDM.zip"));
        if has(Fault::TwoZips) {
            parts.push(zip_part(&zip, opts, "IHE_XDM.zip"));
        }
    }
    if let (Some(p), false) = (&pdf, has(Fault::NoPdf)) {
        parts.push(
            MimePart::new(
                ContentType::new("application/pdf").attribute("name", pdf_name.clone()),
                BodyPart::Binary(p.clone().into()),
            )
            .attachment(pdf_name.clone()),
        );
    }
    let boundary = if has(Fault::LongBoundary) {
        format!("banc-{}", "x".repeat(75))
    } else {
        format!("banc-mixed-{stable}")
    };
    let mut body_part = MimePart::new(
        ContentType::new("multipart/mixed").attribute("boundary", boundary.clone()),
        BodyPart::Multipart(parts),
    );
    if has(Fault::DeepNesting) {
        for level in 0..12 {
            body_part = MimePart::new(
                ContentType::new("multipart/mixed")
                    .attribute("boundary", format!("banc-level{level}-{stable}")),
                BodyPart::Multipart(vec![body_part]),
            );
        }
    }

    let mut b = MessageBuilder::new().from(Address::from(opts.from.as_str()));
    b = b.to(Address::new_list(
        to.iter().map(|a| Address::from(a.as_str())).collect(),
    ));
    if !opts.cc.is_empty() {
        b = b.cc(Address::new_list(
            opts.cc.iter().map(|a| Address::from(a.as_str())).collect(),
        ));
    }
    b = b.subject(subject).date(date);
    b = if has(Fault::BadMessageId) {
        b.header("Message-ID", Raw::new(format!("banc-{stable}")))
    } else {
        b.message_id(MessageId::new(message_id.clone()))
    };
    if let Some(irt) = &opts.in_reply_to {
        b = b.in_reply_to(MessageId::new(irt.trim_matches(['<', '>']).to_string()));
    }
    if !opts.references.is_empty() {
        b = b.references(MessageId::new_list(
            opts.references
                .iter()
                .map(|r| r.trim_matches(['<', '>']).to_string()),
        ));
    }
    let dnt = if has(Fault::DntLoop) {
        Some(
            opts.disposition_notification_to
                .clone()
                .unwrap_or_else(|| opts.from.clone()),
        )
    } else {
        opts.disposition_notification_to.clone()
    };
    if let Some(d) = &dnt {
        b = b.header("Disposition-Notification-To", Address::from(d.as_str()));
    }
    let x_mss = !has(Fault::NoXMss);
    if x_mss && !has(Fault::NoCodecda) && !has(Fault::NoZip) {
        b = b.header("X-MSS-CODECDA", Raw::new(codecda));
    }
    if x_mss && !has(Fault::NoInsHeader) && !has(Fault::NoZip) {
        b = b.header("X-MSS-INS", Raw::new(ins));
    }
    if x_mss && !has(Fault::NoNil) {
        b = b.header("X-MSS-NIL", Raw::new(opts.nil.clone()));
    }
    if x_mss && (to_patient || has(Fault::MesWrong)) {
        let v = if has(Fault::MesWrong) { "NON" } else { "FIN" };
        b = b.header("X-MSS-MES", Raw::new(v));
    }
    b = b.header("MIME-Version", Raw::new("1.0")).body(body_part);
    let mut raw = b
        .write_to_vec()
        .map_err(|e| format!("écriture du message : {e}"))?;

    // Faults only raw bytes can carry.
    if has(Fault::NoMessageId) {
        raw = remove_header(&raw, "Message-ID");
    }
    if has(Fault::NoDate) {
        raw = remove_header(&raw, "Date");
    }
    if has(Fault::CrlfInjection) {
        // A value copied from user data with its line break: a bare LF, then a new field.
        let nil = format!("X-MSS-NIL: {}", opts.nil);
        raw = replace_in_part(
            &raw,
            nil.as_bytes(),
            format!("{nil}\r\n").as_bytes(),
            format!("{nil}\nBcc: collecte@exemple.invalid\r\n").as_bytes(),
        );
    }
    if has(Fault::DntLoop) {
        raw = prepend(&raw, b"Return-Path: <rebonds@banc.invalid>\r\n");
    }
    if has(Fault::EightBitHeader) {
        raw = prepend(
            &raw,
            "Organization: Laboratoire de biologie médicale\r\n".as_bytes(),
        );
    }
    if has(Fault::CteTypo) {
        raw = replace_in_part(
            &raw,
            b"filename=\"IHE_XDM.zip\"",
            b"Content-Transfer-Encoding: base64",
            b"Content-Transfert-Encoding: base64",
        );
    }
    if has(Fault::Truncated) {
        let close = format!("--{boundary}--");
        if let Some(pos) = find_last(&raw, close.as_bytes()) {
            raw.truncate(pos);
        }
    }
    Ok(raw)
}

static PATIENT_ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)<(?:[A-Za-z_][\w.-]*:)?patientRole\b.*?</(?:[A-Za-z_][\w.-]*:)?patientRole\s*>",
    )
    .expect("static regex")
});
static INS_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"<(?:[A-Za-z_][\w.-]*:)?id\b[^>]*\broot\s*=\s*["']1\.2\.250\.1\.213\.1\.4\.(?:8|9|10|11)["'][^>]*/>"#,
    )
    .expect("static regex")
});

/// A CDA whose patient has no INS: every INS `id` of its patientRole removed, or, when the INS
/// was the patient's only identifier, replaced by `<id nullFlavor="NI"/>` (the schema wants one).
fn without_ins(name: &str, cda: &[u8]) -> Result<Vec<u8>, String> {
    let fail = |why: &str| format!("{name} : défaut no-ins : {why}");
    let h = crate::cda::header::read(name, cda).map_err(|_| fail("document CDA illisible"))?;
    let text = std::str::from_utf8(cda).map_err(|_| fail("document non UTF-8"))?;
    let role = PATIENT_ROLE
        .find(text)
        .ok_or_else(|| fail("pas de recordTarget/patientRole"))?;
    if h.patient.ins.is_none() || !INS_ID.is_match(role.as_str()) {
        return Err(fail("le document n'a pas d'INS à retirer"));
    }
    let mut inner = role.as_str().to_string();
    if h.patient.other_ids.is_empty() {
        inner = INS_ID
            .replace(&inner, r#"<id nullFlavor="NI"/>"#)
            .into_owned();
    }
    inner = INS_ID.replace_all(&inner, "").into_owned();
    // Match offsets are byte offsets of `cda` (`text` is `cda` as UTF-8).
    Ok([&cda[..role.start()], inner.as_bytes(), &cda[role.end()..]].concat())
}

fn text_part<'x>(body: &str, opts: &ComposeOptions) -> MimePart<'x> {
    let has = |f: Fault| opts.faults.contains(&f);
    if has(Fault::Latin1Body) {
        // What a Windows-1252 program writes when it forgets to convert.
        let latin1: Vec<u8> = body
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        return MimePart::new(
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Binary(latin1.into()),
        )
        .header("Content-Transfer-Encoding", Raw::new("8bit"));
    }
    if has(Fault::NoCharset) {
        return MimePart::new(
            ContentType::new("text/plain"),
            BodyPart::Binary(body.as_bytes().to_vec().into()),
        )
        .header("Content-Transfer-Encoding", Raw::new("8bit"));
    }
    MimePart::new(
        ContentType::new("text/plain").attribute("charset", "utf-8"),
        BodyPart::Text(body.to_string().into()),
    )
}

fn zip_part<'x>(zip: &[u8], opts: &ComposeOptions, default_name: &str) -> MimePart<'x> {
    let has = |f: Fault| opts.faults.contains(&f);
    let name = if has(Fault::ZipName) {
        "documents.zip".to_string()
    } else {
        default_name.to_string()
    };
    let ty = if has(Fault::OctetStream) {
        "application/octet-stream"
    } else {
        "application/zip"
    };
    let ct = ContentType::new(ty).attribute("name", name.clone());
    if has(Fault::BadBase64) {
        // Lines of 76 characters as a real encoder writes them (an SMTP server refuses lines
        // over 1000 bytes, which would hide the fault), one of them corrupted.
        let encoded = BASE64.encode(zip);
        let mut lines: Vec<String> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let mid = lines.len() / 2;
        if let Some(l) = lines.get_mut(mid) {
            l.insert_str(l.len() / 2, "!!corrompu!!");
        }
        let text = lines.join("\r\n") + "\r\n";
        return MimePart::new(ct, BodyPart::Binary(text.into_bytes().into()))
            .header("Content-Transfer-Encoding", Raw::new("base64"))
            .attachment(name);
    }
    MimePart::new(ct, BodyPart::Binary(zip.to_vec().into())).attachment(name)
}

/// End of the top-level header block (offset of the blank line).
fn header_end(raw: &[u8]) -> usize {
    let mut pos = 0;
    while pos < raw.len() {
        let (text_end, next) = mime::line_at(raw, pos, raw.len());
        if text_end == pos {
            return pos;
        }
        pos = next;
    }
    raw.len()
}

/// Remove every top-level header field `name` (with its folded lines).
fn remove_header(raw: &[u8], name: &str) -> Vec<u8> {
    let end = header_end(raw);
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    let mut skipping = false;
    while pos < end {
        let (_, next) = mime::line_at(raw, pos, end);
        let line = &raw[pos..next];
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':';
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        pos = next;
    }
    out.extend_from_slice(&raw[end..]);
    out
}

fn prepend(raw: &[u8], line: &[u8]) -> Vec<u8> {
    let mut out = line.to_vec();
    out.extend_from_slice(raw);
    out
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Replace `from` by `to` in the header block of the part whose headers contain `marker`.
fn replace_in_part(raw: &[u8], marker: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let Some(m) = find(raw, marker, 0) else {
        return raw.to_vec();
    };
    // The part's header block starts after the previous blank line.
    let start = raw[..m]
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(0);
    let Some(at) = find(raw, from, start) else {
        return raw.to_vec();
    };
    let mut out = raw[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&raw[at + from.len()..]);
    out
}

/// Read the CDA files given on the command line.
pub fn read_documents(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, String> {
    paths
        .iter()
        .map(|p| {
            let bytes = crate::files::read_bounded(p, crate::files::MAX_DOCUMENT)?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            Ok((name, bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsh() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/cr-bio/valid/tsh.xml"
        ))
        .unwrap()
    }

    fn patient(cda: &[u8]) -> crate::cda::header::Patient {
        crate::cda::header::read("d.xml", cda).unwrap().patient
    }

    #[test]
    fn no_ins_keeps_the_other_identifiers_or_writes_a_null_one() {
        let with_local = without_ins("tsh.xml", &tsh()).unwrap();
        let p = patient(&with_local);
        assert!(p.ins.is_none());
        assert_eq!(p.other_ids.len(), 1);
        assert!(!String::from_utf8_lossy(&with_local).contains("nullFlavor=\"NI\""));
        // The INS as the patient's only identifier: the schema still gets one id.
        let only_ins = String::from_utf8(tsh()).unwrap().replace(
            r#"<id root="1.2.3.4.56002439.1" extension="GOL-117530"/>"#,
            "",
        );
        let out = without_ins("tsh.xml", only_ins.as_bytes()).unwrap();
        let p = patient(&out);
        assert!(p.ins.is_none());
        assert!(String::from_utf8_lossy(&out).contains(r#"<id nullFlavor="NI"/>"#));
        // Nothing to remove is an error, not a message without the fault.
        assert!(
            without_ins("tsh.xml", &out)
                .unwrap_err()
                .contains("pas d'INS")
        );
    }
}
