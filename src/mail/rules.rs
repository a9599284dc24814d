//! Every rule of the `mail` layer: one constant per id (French message, English hint, source), so
//! that a reader finds a rule from its id. The checks are in `checks.rs` (received message) and
//! `mdn.rs` (acknowledgements). Specs start with the check id of `docs/mssante-xdm.md` §6.

use crate::finding::{Layer, Rule, Severity};

use Severity::{Error, Info, Warning};

// M01 — a message, and its required headers.
pub const UNREADABLE: &Rule = &crate::rule! {
    id: "mail.message.unreadable",
    layer: Layer::Mail,
    severity: Error,
    message: "Ce fichier n'est pas un message électronique : il ne commence pas par des en-têtes RFC 5322 (Date, From, Subject...).",
    hint: "Give the raw message (.eml, RFC 5322), headers first, as stored by the mail server.",
    spec: "MSSanté M01 — RFC 5322 §2.1 (structure d'un message)",
};
pub const BOM: &Rule = &crate::rule! {
    id: "mail.message.bom",
    layer: Layer::Mail,
    severity: Warning,
    message: "Le fichier commence par une marque d'ordre d'octets UTF-8 (BOM) : elle est ignorée pour l'analyse, mais un message transmis n'en porte pas (sa première ligne d'en-tête serait altérée).",
    hint: "Save the message without a byte-order mark; an MTA never adds one.",
    spec: "MSSanté M01 — RFC 5322 §2.1 (un message commence par ses en-têtes)",
};
pub const HEADER_REQUIRED: &Rule = &crate::rule! {
    id: "mail.header.required",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête obligatoire absent :",
    hint: "Date, From, To, Message-ID and Subject must all be present.",
    spec: "MSSanté M01 — RFC 5322 §3.6 (Date et From obligatoires) ; To, Message-ID, Subject exigés pour un message MSSanté (ETT DTS)",
};
pub const HEADER_DUPLICATE: &Rule = &crate::rule! {
    id: "mail.header.duplicate",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête présent plusieurs fois alors qu'il doit être unique :",
    hint: "Write each of Date, From, Sender, Reply-To, To, Cc, Message-ID, In-Reply-To, References, Subject at most once (a duplicate is also the mark of a header injection).",
    spec: "MSSanté M01 — RFC 5322 §3.6 (nombre d'occurrences des champs)",
};
pub const HEADER_DATE: &Rule = &crate::rule! {
    id: "mail.header.date",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête Date illisible (forme RFC 5322 §3.3 attendue, ex. « Wed, 21 Jan 2026 16:22:40 +0100 ») :",
    hint: "Write the date as day-of-week, day month year hh:mm:ss and a numeric zone.",
    spec: "MSSanté M01 — RFC 5322 §3.3",
};
pub const HEADER_ADDRESS: &Rule = &crate::rule! {
    id: "mail.header.address",
    layer: Layer::Mail,
    severity: Error,
    message: "Adresse électronique invalide :",
    hint: "Each address must be local-part@domain (RFC 5322 §3.4), e.g. laboratoire@golfe.mssante.fr.",
    spec: "MSSanté M01 — RFC 5322 §3.4",
};

// M02 — Message-ID.
pub const MESSAGE_ID: &Rule = &crate::rule! {
    id: "mail.header.message-id",
    layer: Layer::Mail,
    severity: Error,
    message: "Message-ID mal formé (forme « <partie-gauche@partie-droite> » attendue, RFC 5322 §3.6.4) :",
    hint: "Generate <unique-part@domain-of-the-sender> once per message.",
    spec: "MSSanté M02 — Référentiel #2 ECO.2.2.1 (cité de seconde main) ; RFC 5322 §3.6.4",
};
pub const MESSAGE_ID_REUSED: &Rule = &crate::rule! {
    id: "mail.header.message-id-reused",
    layer: Layer::Mail,
    severity: Error,
    message: "Message-ID déjà porté par un autre message :",
    hint: "Generate a new Message-ID for every message, resends included.",
    spec: "MSSanté M02 — Référentiel #2 ECO.2.2.1 (cité de seconde main) ; ETT MT17/45",
};

// M03 — ASCII headers, RFC 2047.
pub const NON_ASCII: &Rule = &crate::rule! {
    id: "mail.header.non-ascii",
    layer: Layer::Mail,
    severity: Error,
    message: "Octet non ASCII ou de contrôle dans les en-têtes : un texte accentué doit être encodé en mots RFC 2047 (=?UTF-8?Q?...?=).",
    hint: "Encode non-ASCII header text as RFC 2047 encoded words, and non-ASCII file names per RFC 2231.",
    spec: "MSSanté M03 — RFC 5322 §2.2, RFC 2047 ; ETT DTS196",
};
pub const ENCODED_WORD: &Rule = &crate::rule! {
    id: "mail.header.encoded-word",
    layer: Layer::Mail,
    severity: Error,
    message: "Mot encodé RFC 2047 invalide :",
    hint: "An encoded word is =?charset?B|Q?text?= with a known charset and valid base64 or Q text (UTF-8 recommended).",
    spec: "MSSanté M03 — RFC 2047 §2–5",
};
pub const CRLF_INJECTION: &Rule = &crate::rule! {
    id: "mail.header.crlf-injection",
    layer: Layer::Mail,
    severity: Error,
    message: "Fin de ligne anormale dans les en-têtes, marque d'une injection d'en-têtes :",
    hint: "End every header line with CRLF; never copy user data containing CR or LF into a header (strip or encode it).",
    spec: "MSSanté M03 — RFC 5322 §2.2 (champs terminés par CRLF) ; mssante-xdm.md §6 entrées invalides (injection CRLF)",
};

// M04, M05 — subject.
pub const SUBJECT_PREFIX: &Rule = &crate::rule! {
    id: "mail.subject.prefix",
    layer: Layer::Mail,
    severity: Error,
    message: "L'objet ne commence pas par « XDM/1.0/DDM+ » :",
    hint: "Subject: XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>, e.g. XDM/1.0/DDM+CR d'examens biologiques VIAL Paul 26/11/1978.",
    spec: "MSSanté M04 — Référentiel #2 ECO.2.1.3 (cité de seconde main) ; ETT DTS 124",
};
pub const SUBJECT_FORMAT: &Rule = &crate::rule! {
    id: "mail.subject.format",
    layer: Layer::Mail,
    severity: Error,
    message: "Objet incomplet : « XDM/1.0/DDM+<libellé> <NOM> <prénom> [JJ/MM/AAAA] » attendu (libellé, NOM et prénom obligatoires) :",
    hint: "Give the document label, the patient's birth name and first given name after the prefix.",
    spec: "MSSanté M04 — Référentiel #2 ECO.2.1.3 (cité de seconde main)",
};
pub const SUBJECT_DATE: &Rule = &crate::rule! {
    id: "mail.subject.date",
    layer: Layer::Mail,
    severity: Error,
    message: "Date de naissance de l'objet invalide (JJ/MM/AAAA, date réelle) :",
    hint: "Write the birth date as DD/MM/YYYY, e.g. 26/11/1978.",
    spec: "MSSanté M04 — Référentiel #2 ECO.2.1.3 (cité de seconde main)",
};
pub const SUBJECT_IDENTITY: &Rule = &crate::rule! {
    id: "mail.subject.identity-mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "L'identité de l'objet ne correspond pas au patient du CDA (recordTarget) :",
    hint: "Build the subject from the CDA's recordTarget: birth name, first given name, birth date.",
    spec: "MSSanté M05 — dérivé de ECO.2.1.3 (objet) et de l'en-tête CDA recordTarget",
};

// M06 — MIME structure.
pub const MIME_VERSION: &Rule = &crate::rule! {
    id: "mail.mime.version",
    layer: Layer::Mail,
    severity: Warning,
    message: "En-tête « MIME-Version: 1.0 » absent.",
    hint: "Add MIME-Version: 1.0 to the message headers.",
    spec: "MSSanté M06 — RFC 2045 §4",
};
pub const NOT_MIXED: &Rule = &crate::rule! {
    id: "mail.mime.not-multipart-mixed",
    layer: Layer::Mail,
    severity: Error,
    message: "Le message n'est pas un multipart/mixed :",
    hint: "Send Content-Type: multipart/mixed with the text body, IHE_XDM.zip and the PDF as its parts.",
    spec: "MSSanté M06 — IG LPS struct-email-standard ; ETT DTS137–140",
};
pub const BOUNDARY_MISSING: &Rule = &crate::rule! {
    id: "mail.mime.boundary-missing",
    layer: Layer::Mail,
    severity: Error,
    message: "Partie multipart sans paramètre boundary : ses parties sont illisibles.",
    hint: "Declare boundary=\"...\" on every multipart Content-Type.",
    spec: "MSSanté M06 — RFC 2046 §5.1.1",
};
pub const BOUNDARY_SYNTAX: &Rule = &crate::rule! {
    id: "mail.mime.boundary-syntax",
    layer: Layer::Mail,
    severity: Error,
    message: "Délimiteur (boundary) invalide : 1 à 70 caractères ASCII permis par la RFC 2046, sans espace final :",
    hint: "Use a boundary of at most 70 characters among letters, digits and '()+_,-./:=? (quote it).",
    spec: "MSSanté M06 — RFC 2046 §5.1.1 ; ETT DTS137–140",
};
pub const BOUNDARY_ABSENT: &Rule = &crate::rule! {
    id: "mail.mime.boundary-absent",
    layer: Layer::Mail,
    severity: Error,
    message: "Le délimiteur déclaré n'apparaît sur aucune ligne du corps : aucune partie lisible.",
    hint: "Write each part after a line --boundary and end with --boundary--.",
    spec: "MSSanté M06 — RFC 2046 §5.1.1",
};
pub const UNTERMINATED: &Rule = &crate::rule! {
    id: "mail.mime.unterminated",
    layer: Layer::Mail,
    severity: Error,
    message: "Multipart non terminé : la ligne de fin « --boundary-- » manque (message tronqué ?).",
    hint: "End every multipart with its close delimiter; check the message was not cut in transit or storage.",
    spec: "MSSanté M06 — RFC 2046 §5.1.1 ; ETT DTS137–140 ; mssante-xdm.md §6 (MIME tronqué)",
};
pub const TOO_DEEP: &Rule = &crate::rule! {
    id: "mail.mime.too-deep",
    layer: Layer::Mail,
    severity: Error,
    message: "Imbrication MIME au-delà de la limite : les parties plus profondes ne sont pas examinées.",
    hint: "An MSSanté message needs two levels at most (multipart/mixed, then multipart/alternative).",
    spec: "MSSanté M06 — mssante-xdm.md §6 (imbrication très profonde) ; limite de banc (Policy.max_depth)",
};
pub const TOO_MANY_PARTS: &Rule = &crate::rule! {
    id: "mail.mime.too-many-parts",
    layer: Layer::Mail,
    severity: Error,
    message: "Trop de parties MIME : les suivantes ne sont pas examinées.",
    hint: "Send the text body, IHE_XDM.zip and the PDF; nothing else is expected.",
    spec: "MSSanté M06 — limite de banc (Policy.max_parts)",
};
pub const CTE_TYPO: &Rule = &crate::rule! {
    id: "mail.mime.content-transfert-encoding",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête « Content-Transfert-Encoding » (coquille des exemples de l'IG) : aucun lecteur ne le connaît, le contenu n'est pas décodé.",
    hint: "Write Content-Transfer-Encoding (no 't' in Transfer).",
    spec: "MSSanté M06 — mssante-xdm.md §4 (coquille connue des exemples de l'IG LPS) ; RFC 2045 §6",
};
pub const CTE_UNKNOWN: &Rule = &crate::rule! {
    id: "mail.mime.transfer-encoding",
    layer: Layer::Mail,
    severity: Error,
    message: "Content-Transfer-Encoding inconnu (7bit, 8bit, binary, quoted-printable ou base64) :",
    hint: "Use base64 for attachments and quoted-printable or 8bit for UTF-8 text.",
    spec: "MSSanté M06 — RFC 2045 §6.1",
};
pub const BAD_BASE64: &Rule = &crate::rule! {
    id: "mail.mime.base64",
    layer: Layer::Mail,
    severity: Error,
    message: "Contenu déclaré base64 qui ne se décode pas.",
    hint: "Encode the attachment in base64 (RFC 2045 §6.8), lines of 76 characters.",
    spec: "MSSanté M06 — RFC 2045 §6.8",
};

// M07 — the IHE_XDM archive.
pub const ZIP_MISSING: &Rule = &crate::rule! {
    id: "mail.zip.missing",
    layer: Layer::Mail,
    severity: Error,
    message: "Aucune pièce jointe IHE_XDM.zip dans le message.",
    hint: "Attach the package as Content-Type: application/zip; name=\"IHE_XDM.zip\", base64, Content-Disposition: attachment.",
    spec: "MSSanté M07 — IG LPS struct-email-standard ; Référentiel #2 ECO.2.1.1 (cité de seconde main)",
};
pub const ZIP_SEVERAL: &Rule = &crate::rule! {
    id: "mail.zip.several",
    layer: Layer::Mail,
    severity: Error,
    message: "Plusieurs archives ZIP jointes : le message doit en porter exactement une (IHE_XDM.zip).",
    hint: "Put every document of the patient in one IHE_XDM.zip (one SUBSET per submission).",
    spec: "MSSanté M07 — IG LPS struct-email-standard ; mssante-xdm.md §6 (deux zips)",
};
pub const ZIP_NAME: &Rule = &crate::rule! {
    id: "mail.zip.name",
    layer: Layer::Mail,
    severity: Error,
    message: "Archive ZIP jointe sous un autre nom que IHE_XDM.zip :",
    hint: "Name the package IHE_XDM.zip (receivers look for that name).",
    spec: "MSSanté M07 — IG LPS struct-email-standard",
};
pub const ZIP_OCTET_STREAM: &Rule = &crate::rule! {
    id: "mail.zip.octet-stream",
    layer: Layer::Mail,
    severity: Warning,
    message: "IHE_XDM.zip déclaré application/octet-stream au lieu de application/zip.",
    hint: "Declare Content-Type: application/zip; name=\"IHE_XDM.zip\".",
    spec: "MSSanté M07 — IG LPS struct-email-standard ; ETT 28",
};
pub const ZIP_CONTENT_TYPE: &Rule = &crate::rule! {
    id: "mail.zip.content-type",
    layer: Layer::Mail,
    severity: Error,
    message: "IHE_XDM.zip déclaré avec un type inattendu (application/zip attendu) :",
    hint: "Declare Content-Type: application/zip; name=\"IHE_XDM.zip\".",
    spec: "MSSanté M07 — IG LPS struct-email-standard",
};
pub const ZIP_ENCODING: &Rule = &crate::rule! {
    id: "mail.zip.encoding",
    layer: Layer::Mail,
    severity: Warning,
    message: "IHE_XDM.zip non encodé en base64 :",
    hint: "Send the package with Content-Transfer-Encoding: base64.",
    spec: "MSSanté M07 — IG LPS struct-email-standard",
};
pub const ZIP_DISPOSITION: &Rule = &crate::rule! {
    id: "mail.zip.disposition",
    layer: Layer::Mail,
    severity: Warning,
    message: "IHE_XDM.zip sans « Content-Disposition: attachment; filename=\"IHE_XDM.zip\" » :",
    hint: "Add Content-Disposition: attachment; filename=\"IHE_XDM.zip\".",
    spec: "MSSanté M07 — IG LPS struct-email-standard",
};

// M08 — one patient.
pub const PATIENT_SEVERAL: &Rule = &crate::rule! {
    id: "mail.patient.several",
    layer: Layer::Mail,
    severity: Error,
    message: "Plusieurs patients dans le même message :",
    hint: "Send one message per patient.",
    spec: "MSSanté M08 — Référentiel #2 ECO.2.1.1 (cité de seconde main)",
};

// M09 — the PDF (severity set by Policy.pdf_severity).
pub const PDF_MISSING: &Rule = &crate::rule! {
    id: "mail.pdf.missing",
    layer: Layer::Mail,
    severity: Warning,
    message: "Aucune copie PDF du compte rendu jointe au message.",
    hint: "Attach the PDF rendering of the CDA (application/pdf), named per ECO.2.1.6.",
    spec: "MSSanté M09 — Référentiel #2 ECO.2.1.1 et ECO.2.1.5 (cités de seconde main)",
};
pub const PDF_NAME: &Rule = &crate::rule! {
    id: "mail.pdf.name",
    layer: Layer::Mail,
    severity: Warning,
    message: "Nom du PDF non conforme à « <date de l'acte AAAAMMJJ>_<type de document>_<NOM>_<prénom>[_<n° dossier>].pdf » :",
    hint: "Name the PDF e.g. 20260121_CR d'examens biologiques_GAUTIER_SOPHIE.pdf (RFC 2231 encoding for accents).",
    spec: "MSSanté M09 — Référentiel #2 ECO.2.1.6 (cité de seconde main)",
};
pub const PDF_CONTENT: &Rule = &crate::rule! {
    id: "mail.pdf.content",
    layer: Layer::Mail,
    severity: Error,
    message: "La pièce jointe PDF n'est pas un PDF (pas de signature %PDF-).",
    hint: "Attach the PDF file itself, base64-encoded.",
    spec: "MSSanté M09 — Référentiel #2 ECO.2.1.5 (cité de seconde main)",
};

// M10 — text parts.
pub const TEXT_BODY_MISSING: &Rule = &crate::rule! {
    id: "mail.text.body-missing",
    layer: Layer::Mail,
    severity: Warning,
    message: "Aucune partie texte (corps du message).",
    hint: "Add a text/plain; charset=utf-8 part addressed to the reader.",
    spec: "MSSanté M10 — Référentiel #2 ECO.2.2.3 (cité de seconde main) ; IG transmission profils-messages",
};
pub const TEXT_CHARSET_MISSING: &Rule = &crate::rule! {
    id: "mail.text.charset-missing",
    layer: Layer::Mail,
    severity: Error,
    message: "Partie texte sans jeu de caractères déclaré (charset) :",
    hint: "Declare Content-Type: text/plain; charset=utf-8.",
    spec: "MSSanté M10 — Référentiel #2 ECO.2.2.3 (cité de seconde main)",
};
pub const TEXT_CHARSET: &Rule = &crate::rule! {
    id: "mail.text.charset",
    layer: Layer::Mail,
    severity: Error,
    message: "Partie texte dans un autre jeu de caractères que UTF-8 :",
    hint: "Encode text parts in UTF-8 and declare charset=utf-8.",
    spec: "MSSanté M10 — Référentiel #2 ECO.2.2.3 (cité de seconde main)",
};
pub const TEXT_INVALID_UTF8: &Rule = &crate::rule! {
    id: "mail.text.invalid-utf8",
    layer: Layer::Mail,
    severity: Error,
    message: "Partie texte déclarée UTF-8 dont les octets ne sont pas de l'UTF-8 (texte Latin-1 ?) :",
    hint: "Convert the text to UTF-8 before sending, or declare its real charset.",
    spec: "MSSanté M10 — Référentiel #2 ECO.2.2.3 (cité de seconde main) ; mssante-xdm.md §6 (Latin-1 étiqueté UTF-8)",
};

// M11–M13 — X-MSS-* headers.
pub const CODECDA_MISSING: &Rule = &crate::rule! {
    id: "mail.x-mss-codecda.missing",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête X-MSS-CODECDA absent alors que l'archive contient un CDA.",
    hint: "Add X-MSS-CODECDA: <code of the CDA>, e.g. 11502-2 (comma-separated when several documents).",
    spec: "MSSanté M11 — Référentiel #2 ECO.2.4.1 (cité par DEVBOX)",
};
pub const CODECDA_MISMATCH: &Rule = &crate::rule! {
    id: "mail.x-mss-codecda.mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "X-MSS-CODECDA ne correspond pas au(x) code(s) des CDA de l'archive :",
    hint: "Copy ClinicalDocument/code/@code of each document into X-MSS-CODECDA.",
    spec: "MSSanté M11 — Référentiel #2 ECO.2.4.1 (cité par DEVBOX)",
};
pub const CODECDA_UNEXPECTED: &Rule = &crate::rule! {
    id: "mail.x-mss-codecda.unexpected",
    layer: Layer::Mail,
    severity: Warning,
    message: "X-MSS-CODECDA présent alors que le message ne porte aucun CDA dans une archive IHE_XDM.",
    hint: "Leave X-MSS-CODECDA out when no CDA is attached.",
    spec: "MSSanté M11 — Référentiel #2 ECO.2.4.1 (cité par DEVBOX)",
};
pub const INS_MISSING: &Rule = &crate::rule! {
    id: "mail.x-mss-ins.missing",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête X-MSS-INS absent alors que l'archive contient un CDA.",
    hint: "Add X-MSS-INS: O when the CDA carries a qualified INS, N otherwise.",
    spec: "MSSanté M12 — Référentiel #2 ECO.2.4.2 (cité par DEVBOX)",
};
pub const INS_VALUE: &Rule = &crate::rule! {
    id: "mail.x-mss-ins.value",
    layer: Layer::Mail,
    severity: Error,
    message: "Valeur de X-MSS-INS autre que O ou N :",
    hint: "X-MSS-INS takes exactly O or N.",
    spec: "MSSanté M12 — Référentiel #2 ECO.2.4.2 (cité par DEVBOX)",
};
pub const INS_MISMATCH: &Rule = &crate::rule! {
    id: "mail.x-mss-ins.mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "X-MSS-INS ne correspond pas au statut de l'INS du CDA :",
    hint: "O only when the CDA's recordTarget carries the INS (matricule and OID) with the identity traits; N otherwise.",
    spec: "MSSanté M12 — Référentiel #2 ECO.2.4.2 (cité par DEVBOX)",
};
pub const NIL_MISSING: &Rule = &crate::rule! {
    id: "mail.x-mss-nil.missing",
    layer: Layer::Mail,
    severity: Error,
    message: "En-tête X-MSS-NIL absent ou vide.",
    hint: "Add X-MSS-NIL: <product reference from convergence.esante.gouv.fr>, e.g. DEV935997.",
    spec: "MSSanté M13 — Référentiel #2 ECO.2.4.3 (cité par DEVBOX)",
};

// M14 — patient recipient.
pub const PATIENT_ADDRESS_FORMAT: &Rule = &crate::rule! {
    id: "mail.patient-address.format",
    layer: Layer::Mail,
    severity: Error,
    message: "Adresse patient dont la partie locale n'est pas un INS de 15 caractères :",
    hint: "A Mon espace santé address is <15-character INS matricule>@patient.mssante.fr.",
    spec: "MSSanté M14 — Référentiel #2 ECO.2.2.6 (cité de seconde main)",
};
pub const PATIENT_ADDRESS_INS: &Rule = &crate::rule! {
    id: "mail.patient-address.ins-mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "L'adresse patient ne correspond pas à l'INS du CDA :",
    hint: "Build the patient address from the INS of the CDA's recordTarget.",
    spec: "MSSanté M14 — Référentiel #2 ECO.2.2.6 (cité de seconde main) ; mssante-xdm.md §3 contrôles croisés",
};
pub const PATIENT_ADDRESS_NOT_QUALIFIED: &Rule = &crate::rule! {
    id: "mail.patient-address.ins-not-qualified",
    layer: Layer::Mail,
    severity: Error,
    message: "Message adressé à une boîte patient alors que l'INS du CDA n'est pas qualifié (matricule, OID et traits d'identité).",
    hint: "Only a qualified INS may be used to address a patient mailbox.",
    spec: "MSSanté M14 — Référentiel #2 ECO.2.2.6 (cité de seconde main)",
};
pub const MES_VALUE: &Rule = &crate::rule! {
    id: "mail.x-mss-mes.value",
    layer: Layer::Mail,
    severity: Error,
    message: "Valeur de X-MSS-MES autre que FIN :",
    hint: "X-MSS-MES takes exactly FIN (no reply from the patient).",
    spec: "MSSanté M14 — Référentiel #2 ECO.2.2.8 (cité de seconde main) ; IG transmission mapping-mss",
};
pub const MES_UNEXPECTED: &Rule = &crate::rule! {
    id: "mail.x-mss-mes.unexpected",
    layer: Layer::Mail,
    severity: Warning,
    message: "X-MSS-MES présent alors qu'aucun destinataire n'est une boîte patient (@patient.mssante.fr).",
    hint: "Only send X-MSS-MES: FIN to a patient mailbox.",
    spec: "MSSanté M14 — Référentiel #2 ECO.2.2.8 (cité de seconde main)",
};

// M15 — read receipt request.
pub const DNT_SYNTAX: &Rule = &crate::rule! {
    id: "mail.header.disposition-notification-to",
    layer: Layer::Mail,
    severity: Error,
    message: "Disposition-Notification-To ne contient pas une adresse valide :",
    hint: "Give one address: Disposition-Notification-To: <sender@domain>.",
    spec: "MSSanté M15 — IG LPS struct-msg-mdn ; RFC 8098 §2.1",
};
pub const DNT_LOOP: &Rule = &crate::rule! {
    id: "mail.header.disposition-notification-loop",
    layer: Layer::Mail,
    severity: Warning,
    message: "Disposition-Notification-To diffère du Return-Path : le destinataire ne renverra pas d'accusé automatique (garde anti-boucle).",
    hint: "Ask for the MDN at the envelope sender's address.",
    spec: "MSSanté M15 — IG LPS struct-msg-mdn ; RFC 8098 §2.1",
};
pub const MDN_REQUESTED: &Rule = &crate::rule! {
    id: "mail.header.mdn-requested",
    layer: Layer::Mail,
    severity: Info,
    message: "Accusé de lecture (MDN) demandé à :",
    hint: "Informative: the receiving system is expected to return an MDN to this address.",
    spec: "MSSanté M15 — IG LPS struct-msg-mdn ; Référentiel #2 ECO.3.1.6 (cité de seconde main)",
};

// M16 — size.
pub const OVERSIZE: &Rule = &crate::rule! {
    id: "mail.message.oversize",
    layer: Layer::Mail,
    severity: Error,
    message: "Message plus gros que la limite configurée :",
    hint: "Keep the message under the operator's limit (25 MB for Mon espace santé); compress or split the PDF.",
    spec: "MSSanté M16 — limite non normative (25 Mo Mon espace santé, cité de seconde main ; NON CONFIRMÉ)",
};

/// Every rule of a received message, in check order.
pub static MESSAGE_RULES: &[&Rule] = &[
    UNREADABLE,
    BOM,
    HEADER_REQUIRED,
    HEADER_DUPLICATE,
    HEADER_DATE,
    HEADER_ADDRESS,
    MESSAGE_ID,
    MESSAGE_ID_REUSED,
    NON_ASCII,
    ENCODED_WORD,
    CRLF_INJECTION,
    SUBJECT_PREFIX,
    SUBJECT_FORMAT,
    SUBJECT_DATE,
    SUBJECT_IDENTITY,
    MIME_VERSION,
    NOT_MIXED,
    BOUNDARY_MISSING,
    BOUNDARY_SYNTAX,
    BOUNDARY_ABSENT,
    UNTERMINATED,
    TOO_DEEP,
    TOO_MANY_PARTS,
    CTE_TYPO,
    CTE_UNKNOWN,
    BAD_BASE64,
    ZIP_MISSING,
    ZIP_SEVERAL,
    ZIP_NAME,
    ZIP_OCTET_STREAM,
    ZIP_CONTENT_TYPE,
    ZIP_ENCODING,
    ZIP_DISPOSITION,
    PATIENT_SEVERAL,
    PDF_MISSING,
    PDF_NAME,
    PDF_CONTENT,
    TEXT_BODY_MISSING,
    TEXT_CHARSET_MISSING,
    TEXT_CHARSET,
    TEXT_INVALID_UTF8,
    CODECDA_MISSING,
    CODECDA_MISMATCH,
    CODECDA_UNEXPECTED,
    INS_MISSING,
    INS_VALUE,
    INS_MISMATCH,
    NIL_MISSING,
    PATIENT_ADDRESS_FORMAT,
    PATIENT_ADDRESS_INS,
    PATIENT_ADDRESS_NOT_QUALIFIED,
    MES_VALUE,
    MES_UNEXPECTED,
    DNT_SYNTAX,
    DNT_LOOP,
    MDN_REQUESTED,
    OVERSIZE,
];

// A01 — acknowledgements: MDN (RFC 8098, IG LPS struct-msg-mdn) and DSN (RFC 3464).
const MDN_SPEC: &str = "MSSanté A01 — IG LPS struct-msg-mdn ; RFC 8098 §3 ; RFC 6522";
const DSN_SPEC: &str = "MSSanté §4 (accusé de réception) — RFC 3464 §2–3 ; RFC 6522";

pub const ACK_UNREADABLE: &Rule = &crate::rule! {
    id: "mail.ack.unreadable",
    layer: Layer::Mail,
    severity: Error,
    message: "Ce fichier n'est pas un message électronique : aucun en-tête RFC 5322 au début.",
    hint: "Give the raw acknowledgement (.eml) as received.",
    spec: "MSSanté A01 — RFC 5322 §2.1",
};
pub const ACK_NOT_REPORT: &Rule = &crate::rule! {
    id: "mail.ack.not-report",
    layer: Layer::Mail,
    severity: Error,
    message: "Ce message n'est ni un MDN ni un DSN : multipart/report avec report-type=disposition-notification ou delivery-status attendu ; type trouvé :",
    hint: "An MDN is multipart/report; report-type=disposition-notification (RFC 8098); a DSN multipart/report; report-type=delivery-status (RFC 3464).",
    spec: "MSSanté A01 — RFC 6522 §3 ; IG LPS struct-msg-mdn (sinon le courriel standard de struct-email-standard, non exploitable par machine)",
};
pub const MDN_STRUCTURE: &Rule = &crate::rule! {
    id: "mail.mdn.structure",
    layer: Layer::Mail,
    severity: Error,
    message: "Structure du MDN non conforme :",
    hint: "Part 1 text/plain for a human, part 2 message/disposition-notification, part 3 message/rfc822 with the original message.",
    spec: MDN_SPEC,
};
pub const MDN_ORIGINAL_MISSING: &Rule = &crate::rule! {
    id: "mail.mdn.original-missing",
    layer: Layer::Mail,
    severity: Error,
    message: "Le MDN ne restitue pas le message d'origine (3e partie message/rfc822 absente).",
    hint: "Attach the original message, headers, body and attachments, as part 3 (message/rfc822).",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn (partie 3 requise par le volet, optionnelle pour la RFC 6522)",
};
pub const MDN_FINAL_RECIPIENT: &Rule = &crate::rule! {
    id: "mail.mdn.final-recipient",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Final-Recipient absent ou invalide (forme « rfc822;adresse » attendue) :",
    hint: "Write Final-Recipient: rfc822;<mailbox for which the MDN is issued>.",
    spec: MDN_SPEC,
};
pub const MDN_DISPOSITION: &Rule = &crate::rule! {
    id: "mail.mdn.disposition",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Disposition absent ou invalide (« automatic-action/MDN-sent-automatically; processed » attendu) :",
    hint: "Disposition: <action-mode>/<sending-mode>; <displayed|deleted|dispatched|processed>[/error].",
    spec: "MSSanté A01 — RFC 8098 §3.2.6 ; IG LPS struct-msg-mdn",
};
pub const MDN_ERROR_CODE: &Rule = &crate::rule! {
    id: "mail.mdn.error-code",
    layer: Layer::Mail,
    severity: Error,
    message: "Erreur signalée sans code applicatif lisible (« <code>^<libellé> », codes 900 à 906) :",
    hint: "On error, give the consumer's ERR string, at least <code>^<label>, e.g. 902^Identifiant patient inconnu.",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn et error-codes (table 0533)",
};
pub const MDN_LEGACY_ERROR: &Rule = &crate::rule! {
    id: "mail.mdn.legacy-error-form",
    layer: Layer::Mail,
    severity: Info,
    message: "Erreur portée dans le modificateur de Disposition (« processed/Error: <code>^<libellé> ») : forme des versions de l'IG LPS jusqu'à 1.1.2 ; la version 1.1.3 la place dans un champ Error: séparé.",
    hint: "Both forms are read; IG LPS 1.1.3 writes Disposition: ...; processed/error and Error: <code>^<label>.",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn (v1.1.3, point d'attention) ; RFC 8098 §3.2.6–3.2.7",
};
pub const MDN_ORIGINAL_MESSAGE_ID_MISSING: &Rule = &crate::rule! {
    id: "mail.mdn.original-message-id-missing",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Original-Message-ID absent : le MDN ne peut pas être rapproché du message envoyé.",
    hint: "Copy the Message-ID of the original message into Original-Message-ID.",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn (exigé par le volet) ; RFC 8098 §3.2.5",
};
pub const MDN_ORIGINAL_MESSAGE_ID_MISMATCH: &Rule = &crate::rule! {
    id: "mail.mdn.original-message-id-mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "Original-Message-ID ne correspond pas au Message-ID du message d'origine :",
    hint: "Copy the Message-ID of the message the MDN answers, unchanged.",
    spec: MDN_SPEC,
};
pub const MDN_REPORTING_UA: &Rule = &crate::rule! {
    id: "mail.mdn.reporting-ua",
    layer: Layer::Mail,
    severity: Warning,
    message: "Champ Reporting-UA absent (recommandé : il identifie la plateforme qui a produit le MDN).",
    hint: "Add Reporting-UA: <host>; <product>.",
    spec: "MSSanté A01 — RFC 8098 §3.2.1 (SHOULD) ; IG LPS struct-msg-mdn v1.1.3",
};
pub const MDN_ORIGINAL_RECIPIENT: &Rule = &crate::rule! {
    id: "mail.mdn.original-recipient",
    layer: Layer::Mail,
    severity: Warning,
    message: "Champ Original-Recipient absent alors que le message d'origine le donnait.",
    hint: "Copy the Original-Recipient header of the original message.",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn ; RFC 8098 §3.2.3",
};
pub const MDN_SUBJECT: &Rule = &crate::rule! {
    id: "mail.mdn.subject",
    layer: Layer::Mail,
    severity: Error,
    message: "Objet du MDN non conforme :",
    hint: "Success: XDM/1.0/DDM+<libellé> <NOM> <prénom> <date>; error: [KO Intégration système !][<code>] XDM/1.0/DDM+...",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn (objet du MDN)",
};
pub const MDN_RECIPIENT: &Rule = &crate::rule! {
    id: "mail.mdn.recipient",
    layer: Layer::Mail,
    severity: Error,
    message: "Le MDN n'est pas adressé à l'adresse demandée par Disposition-Notification-To du message d'origine :",
    hint: "Send the MDN To the address of the original's Disposition-Notification-To.",
    spec: "MSSanté A01 — RFC 8098 §2.1 ; IG LPS struct-msg-mdn v1.1.3 (valeurs des champs d'adressage)",
};
pub const MDN_NOT_REQUESTED: &Rule = &crate::rule! {
    id: "mail.mdn.not-requested",
    layer: Layer::Mail,
    severity: Warning,
    message: "MDN envoyé alors que le message d'origine n'en demandait pas (pas de Disposition-Notification-To).",
    hint: "Only return an MDN when the original carries Disposition-Notification-To.",
    spec: "MSSanté A01 — IG LPS struct-msg-mdn ; RFC 8098 §2.1",
};
pub const MDN_HUMAN_PART: &Rule = &crate::rule! {
    id: "mail.mdn.human-readable",
    layer: Layer::Mail,
    severity: Error,
    message: "Première partie du MDN : texte lisible attendu (text/plain), avec le code et le libellé de l'erreur en cas d'erreur :",
    hint: "Part 1: text/plain; charset=utf-8 explaining the outcome (error code and label on error).",
    spec: MDN_SPEC,
};
pub const MDN_OUTCOME: &Rule = &crate::rule! {
    id: "mail.mdn.outcome",
    layer: Layer::Mail,
    severity: Info,
    message: "Issue rapportée par le MDN :",
    hint: "Informative: what the receiving system did with the message.",
    spec: MDN_SPEC,
};

pub const DSN_STRUCTURE: &Rule = &crate::rule! {
    id: "mail.dsn.structure",
    layer: Layer::Mail,
    severity: Error,
    message: "Structure du DSN non conforme :",
    hint: "Part 1 text/plain, part 2 message/delivery-status, part 3 (optional) the returned message or its headers.",
    spec: DSN_SPEC,
};
pub const DSN_REPORTING_MTA: &Rule = &crate::rule! {
    id: "mail.dsn.reporting-mta",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Reporting-MTA absent ou invalide (forme « dns;hôte » attendue).",
    hint: "Write Reporting-MTA: dns;<host name of the reporting server>.",
    spec: "MSSanté §4 — RFC 3464 §2.2.2",
};
pub const DSN_FINAL_RECIPIENT: &Rule = &crate::rule! {
    id: "mail.dsn.final-recipient",
    layer: Layer::Mail,
    severity: Error,
    message: "Destinataire du DSN sans Final-Recipient valide (forme « rfc822;adresse ») :",
    hint: "Each per-recipient block starts with Final-Recipient: rfc822;<address>.",
    spec: "MSSanté §4 — RFC 3464 §2.3.2",
};
pub const DSN_ACTION: &Rule = &crate::rule! {
    id: "mail.dsn.action",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Action absent ou invalide (failed, delayed, delivered, relayed ou expanded) :",
    hint: "Action: failed | delayed | delivered | relayed | expanded.",
    spec: "MSSanté §4 — RFC 3464 §2.3.3",
};
pub const DSN_STATUS: &Rule = &crate::rule! {
    id: "mail.dsn.status",
    layer: Layer::Mail,
    severity: Error,
    message: "Champ Status absent, invalide ou incohérent avec Action (ex. 5.1.1 pour failed, 2.0.0 pour delivered) :",
    hint: "Status: class.subject.detail (RFC 3463); class 5 with failed, 4 with delayed, 2 with delivered/relayed/expanded.",
    spec: "MSSanté §4 — RFC 3464 §2.3.4 ; RFC 3463",
};
pub const DSN_DIAGNOSTIC: &Rule = &crate::rule! {
    id: "mail.dsn.diagnostic-code",
    layer: Layer::Mail,
    severity: Warning,
    message: "Échec sans Diagnostic-Code : la plateforme émettrice ne peut pas reporter le code SMTP (ERR-5 du ZAM^Z02).",
    hint: "Add Diagnostic-Code: smtp; <SMTP reply>, e.g. smtp; 550 5.1.1 User unknown.",
    spec: "MSSanté §4 — RFC 3464 §2.3.6 ; IG transmission error-codes (SMTPERRORCODE)",
};
pub const DSN_ORIGINAL_MISMATCH: &Rule = &crate::rule! {
    id: "mail.dsn.original-mismatch",
    layer: Layer::Mail,
    severity: Error,
    message: "Le message renvoyé par le DSN n'est pas le message d'origine (Message-ID différent) :",
    hint: "Return the headers of the message the DSN is about.",
    spec: "MSSanté §4 — RFC 3464 §2 (partie 3 : message ou en-têtes renvoyés)",
};
pub const DSN_ORIGINAL_MISSING: &Rule = &crate::rule! {
    id: "mail.dsn.original-missing",
    layer: Layer::Mail,
    severity: Warning,
    message: "Le DSN ne renvoie pas le message d'origine ni ses en-têtes : il ne peut pas être rapproché du message envoyé.",
    hint: "Add part 3 (message/rfc822 or text/rfc822-headers).",
    spec: "MSSanté §4 — RFC 3464 §2 ; RFC 6522 §3",
};
pub const DSN_OUTCOME: &Rule = &crate::rule! {
    id: "mail.dsn.outcome",
    layer: Layer::Mail,
    severity: Info,
    message: "Remise rapportée par le DSN :",
    hint: "Informative: the delivery outcome per recipient.",
    spec: DSN_SPEC,
};

pub static ACK_RULES: &[&Rule] = &[
    ACK_UNREADABLE,
    ACK_NOT_REPORT,
    MDN_STRUCTURE,
    MDN_ORIGINAL_MISSING,
    MDN_FINAL_RECIPIENT,
    MDN_DISPOSITION,
    MDN_ERROR_CODE,
    MDN_LEGACY_ERROR,
    MDN_ORIGINAL_MESSAGE_ID_MISSING,
    MDN_ORIGINAL_MESSAGE_ID_MISMATCH,
    MDN_REPORTING_UA,
    MDN_ORIGINAL_RECIPIENT,
    MDN_SUBJECT,
    MDN_RECIPIENT,
    MDN_NOT_REQUESTED,
    MDN_HUMAN_PART,
    MDN_OUTCOME,
    DSN_STRUCTURE,
    DSN_REPORTING_MTA,
    DSN_FINAL_RECIPIENT,
    DSN_ACTION,
    DSN_STATUS,
    DSN_DIAGNOSTIC,
    DSN_ORIGINAL_MISMATCH,
    DSN_ORIGINAL_MISSING,
    DSN_OUTCOME,
];

/// The rule of an id (mail layer).
pub fn by_id(id: &str) -> Option<&'static Rule> {
    MESSAGE_RULES
        .iter()
        .chain(ACK_RULES.iter())
        .copied()
        .find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = MESSAGE_RULES
            .iter()
            .chain(ACK_RULES.iter())
            .map(|r| r.id)
            .collect();
        for id in &ids {
            assert!(
                id.starts_with("mail.") && id.split('.').count() == 3,
                "{id}"
            );
        }
        for r in MESSAGE_RULES.iter().chain(ACK_RULES.iter()) {
            assert!(
                r.spec.starts_with("MSSanté "),
                "{}: spec names its check id",
                r.id
            );
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
