//! Building an IHE_XDM.zip from CDA documents: METADATA.XML generated from each CDA header
//! (CI-SIS mapping CDA → XDS), INDEX.HTM and README.TXT, the documents as DOCnnnn.XML.
//! The same inputs give the same bytes (identifiers derive from the contents and the submission
//! time), so a package can be rebuilt and compared.

use super::PackOptions;
use super::checks::{XD_LAB, XD_LAB_TEMPLATES, ts_to_utc, uuid};
use crate::cda::header::{self, Author, CdaHeader, Code};
use crate::xmlw::Xml;
use sha1::Digest;
use std::io::Write as _;

/// A deliberate defect of a package, for the tests of a receiving system (`banc mail compose
/// --fault`). Each raises a rule of [`super::inspect`]; the rest of the package stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackFault {
    /// One more entry, [`BOMB_ENTRY`], inflating to 1 GiB of zeros from about 1 MB (ratio about
    /// 1000:1): `xdm.zip.bomb`.
    Bomb,
    /// No METADATA.XML: `xdm.layout.metadata-missing`.
    NoMetadata,
    /// The DocumentEntry hash is not the SHA-1 of the document, as if the document had been
    /// altered after it was computed (size unchanged): `xdm.metadata.hash`.
    WrongHash,
    /// patientId (DocumentEntry, SubmissionSet) and sourcePatientId name another INS than the
    /// CDA's: `xdm.metadata.cda-patient-id`.
    OtherPatient,
}

/// The entry of [`PackFault::Bomb`] (8.3, in the subset, where a receiver unpacks documents).
pub const BOMB_ENTRY: &str = "IHE_XDM/SUBSET01/BOMBE.BIN";
/// What [`BOMB_ENTRY`] inflates to, in MiB (1 GiB).
pub const BOMB_MIB: u32 = 1024;

/// Fictitious INS with right keys, of nobody in banc's datasets, for [`PackFault::OtherPatient`].
const OTHER_INS: [&str; 2] = ["169037505601278", "275016912304552"];

/// A UUID (RFC 9562 version 8: custom, here derived from SHA-256) for a registry object.
fn uuid_of(seed: &str) -> String {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        hex::encode(&b[..4]),
        hex::encode(&b[4..6]),
        hex::encode(&b[6..8]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..])
    )
}

/// An OID under 2.25 (ITU-T X.667: a UUID as an integer), derived from `seed`.
fn oid_of(seed: &str) -> String {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// Now, UTC, as XDS DTM (`AAAAMMJJhhmmss`).
pub fn now_dtm() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// METADATA.XML being written: one element (with its content when short) per line.
struct Meta(Xml);

const CLASSIFICATION: &str =
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification";

impl Meta {
    fn slot(&mut self, name: &str, values: &[String]) {
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return;
        }
        self.0
            .start("rim:Slot", &[("name", name)])
            .start("rim:ValueList", &[]);
        for v in values {
            self.0.element("rim:Value", &[], v);
        }
        self.0.end("rim:ValueList").end("rim:Slot").newline();
    }

    fn name(&mut self, text: &str) {
        self.0
            .start("rim:Name", &[])
            .empty(
                "rim:LocalizedString",
                &[("value", text), ("xml:lang", "fr-FR"), ("charset", "UTF-8")],
            )
            .end("rim:Name")
            .newline();
    }

    fn coded(&mut self, scheme: &str, object: &str, seed: &str, code: &Code) {
        let id = uuid_of(&format!("{seed}/{scheme}/{}", code.code));
        self.0
            .start(
                "rim:Classification",
                &[
                    ("id", &id),
                    ("classificationScheme", scheme),
                    ("classifiedObject", object),
                    ("nodeRepresentation", &code.code),
                    ("objectType", CLASSIFICATION),
                ],
            )
            .newline();
        self.slot("codingScheme", std::slice::from_ref(&code.system));
        self.name(if code.display.is_empty() {
            &code.code
        } else {
            &code.display
        });
        self.0.end("rim:Classification").newline();
    }

    fn external_id(&mut self, scheme: &str, object: &str, value: &str, label: &str) {
        let id = uuid_of(&format!("{object}/{scheme}"));
        self.0
            .start(
                "rim:ExternalIdentifier",
                &[
                    ("id", &id),
                    ("identificationScheme", scheme),
                    ("registryObject", object),
                    ("value", value),
                    (
                        "objectType",
                        "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier",
                    ),
                ],
            )
            .newline();
        self.name(label);
        self.0.end("rim:ExternalIdentifier").newline();
    }

    fn author(&mut self, scheme: &str, object: &str, a: &Author) {
        let id = uuid_of(&format!("{object}/{scheme}"));
        self.0
            .start(
                "rim:Classification",
                &[
                    ("id", &id),
                    ("classificationScheme", scheme),
                    ("classifiedObject", object),
                    ("nodeRepresentation", ""),
                    ("objectType", CLASSIFICATION),
                ],
            )
            .newline();
        self.slot("authorPerson", &[xcn(a)]);
        if let Some(org) = &a.organization_id {
            let ext = org.extension.as_deref().unwrap_or("");
            self.slot(
                "authorInstitution",
                &[format!(
                    "{}^^^^^&{}&ISO^IDNST^^^{ext}",
                    a.organization_name.as_deref().unwrap_or(""),
                    org.root
                )],
            );
        }
        if let Some(s) = &a.specialty {
            self.slot(
                "authorSpecialty",
                &[format!("{}^{}^{}", s.code, s.display, s.system)],
            );
        }
        self.0.end("rim:Classification").newline();
    }
}

/// XCN of a person: `id^family^given^^^^^^&root&ISO^D^^^IDNPS`.
fn xcn(a: &Author) -> String {
    let (id, root) =
        a.id.as_ref()
            .map(|i| (i.extension.clone().unwrap_or_default(), i.root.clone()))
            .unwrap_or_default();
    format!(
        "{id}^{}^{}^^^^^^&{root}&ISO^D^^^IDNPS",
        a.family.as_deref().unwrap_or(""),
        a.given.as_deref().unwrap_or("")
    )
}

fn patient_cx(h: &CdaHeader, opts: &PackOptions) -> Option<String> {
    let ins = h.patient.ins.as_ref()?;
    let mut ext = ins.extension.as_deref().unwrap_or("");
    if opts.faults.contains(&PackFault::OtherPatient) {
        ext = OTHER_INS
            .into_iter()
            .find(|o| *o != ext)
            .unwrap_or_default();
    }
    Some(format!("{ext}^^^&{}&ISO^NH", ins.root))
}

/// The DocumentEntry of one document.
fn document_entry(
    m: &mut Meta,
    (id, file, bytes, h): (&str, &str, &[u8], &CdaHeader),
    opts: &PackOptions,
) {
    m.0.start(
        "rim:ExtrinsicObject",
        &[
            ("id", id),
            ("mimeType", "text/xml"),
            ("objectType", uuid::DOCUMENT_ENTRY),
            (
                "status",
                "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
            ),
        ],
    )
    .newline();
    let utc = |t: &Option<String>| t.as_deref().and_then(ts_to_utc).unwrap_or_default();
    m.slot("creationTime", &[utc(&h.effective_time)]);
    let mut hash = sha1::Sha1::digest(bytes);
    if opts.faults.contains(&PackFault::WrongHash) {
        // One bit off: what a document altered after the hash was computed gives.
        hash[0] ^= 1;
    }
    m.slot("hash", &[hex::encode(hash)]);
    m.slot(
        "languageCode",
        &[h.language.clone().unwrap_or_else(|| "fr-FR".into())],
    );
    if let Some(l) = &h.legal_authenticator {
        m.slot("legalAuthenticator", &[xcn(l)]);
    }
    m.slot("serviceStartTime", &[utc(&h.service_start)]);
    m.slot("serviceStopTime", &[utc(&h.service_stop)]);
    m.slot("size", &[bytes.len().to_string()]);
    let pid = patient_cx(h, opts).unwrap_or_default();
    m.slot("sourcePatientId", std::slice::from_ref(&pid));
    let p = &h.patient;
    let mut info = vec![format!(
        "PID-5|{}^{}^^^^^L",
        p.birth_name.as_deref().unwrap_or(""),
        p.first_given.as_deref().unwrap_or("")
    )];
    if let Some(b) = &p.birth_time {
        // The date part (8 characters, not bytes: a hostile value must not cut a character).
        let date: String = b.chars().take(8).collect();
        info.push(format!("PID-7|{date}"));
    }
    if let Some(g) = &p.gender {
        info.push(format!("PID-8|{g}"));
    }
    m.slot("sourcePatientInfo", &info);
    m.slot("URI", &[file.to_string()]);
    m.name(h.title.as_deref().unwrap_or(""));
    for a in &h.authors {
        m.author(uuid::DE_AUTHOR, id, a);
    }
    // classCode "10" Compte rendu (TRE_A03); ASS_X04's row for 11502-2 is not checked here.
    let class = Code {
        code: "10".into(),
        system: "1.2.250.1.213.1.1.4.1".into(),
        display: "Compte rendu".into(),
    };
    m.coded(uuid::CLASS_CODE, id, id, &class);
    if let Some(c) = &h.confidentiality {
        m.coded(uuid::CONFIDENTIALITY, id, id, c);
    }
    for c in &h.event_codes {
        m.coded(uuid::EVENT_CODE, id, id, c);
    }
    let lab = XD_LAB_TEMPLATES.iter().any(|t| h.has_template(t));
    let format = Code {
        code: if lab {
            XD_LAB.into()
        } else {
            "urn:ihe:iti:xds-sd:text:2008".into()
        },
        system: "1.3.6.1.4.1.19376.1.2.3".into(),
        display: String::new(),
    };
    m.coded(uuid::FORMAT_CODE, id, id, &format);
    if let Some(c) = &h.facility_type {
        m.coded(uuid::FACILITY, id, id, c);
    }
    if let Some(c) = &h.practice_setting {
        m.coded(uuid::PRACTICE, id, id, c);
    }
    if let Some(c) = &h.code {
        m.coded(uuid::TYPE_CODE, id, id, c);
    }
    m.external_id(uuid::DE_PATIENT_ID, id, &pid, "XDSDocumentEntry.patientId");
    if let Some(u) = &h.id {
        m.external_id(
            uuid::DE_UNIQUE_ID,
            id,
            &u.xds(),
            "XDSDocumentEntry.uniqueId",
        );
    }
    m.0.end("rim:ExtrinsicObject").newline();
}

/// The METADATA.XML of documents (file name in the SUBSET, bytes, header), all of one patient.
pub fn metadata(docs: &[(String, &[u8], CdaHeader)], opts: &PackOptions, time: &str) -> String {
    let seed: String = docs
        .iter()
        .map(|(_, b, _)| hex::encode(sha1::Sha1::digest(b)))
        .collect::<Vec<_>>()
        .join("/")
        + time;
    let ss = uuid_of(&format!("ss/{seed}"));
    let mut m = Meta(Xml::new(0));
    m.0.newline()
        .start(
            "lcm:SubmitObjectsRequest",
            &[
                ("xmlns:lcm", "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"),
                ("xmlns:rim", "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"),
            ],
        )
        .newline()
        .start("rim:RegistryObjectList", &[])
        .newline();
    let first = &docs[0].2;
    let ids: Vec<String> = docs
        .iter()
        .map(|(f, b, _)| uuid_of(&format!("de/{f}/{}", hex::encode(sha1::Sha1::digest(b)))))
        .collect();
    for ((file, bytes, h), id) in docs.iter().zip(&ids) {
        document_entry(&mut m, (id, file, bytes, h), opts);
    }
    m.0.start(
        "rim:RegistryPackage",
        &[
            ("id", &ss),
            (
                "objectType",
                "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage",
            ),
        ],
    )
    .newline();
    m.slot("submissionTime", &[time.to_string()]);
    m.name(first.title.as_deref().unwrap_or("Lot de soumission"));
    if let Some(a) = first.authors.first() {
        m.author(uuid::SS_AUTHOR, &ss, a);
    }
    let content = opts
        .content_type
        .clone()
        .or_else(|| first.facility_type.clone());
    if let Some(c) = &content {
        m.coded(uuid::CONTENT_TYPE, &ss, &ss, c);
    }
    m.external_id(
        uuid::SS_UNIQUE_ID,
        &ss,
        &oid_of(&format!("unique/{seed}")),
        "XDSSubmissionSet.uniqueId",
    );
    let source = opts
        .source_id
        .clone()
        .unwrap_or_else(|| oid_of("banc/source"));
    m.external_id(
        uuid::SS_SOURCE_ID,
        &ss,
        &source,
        "XDSSubmissionSet.sourceId",
    );
    m.external_id(
        uuid::SS_PATIENT_ID,
        &ss,
        &patient_cx(first, opts).unwrap_or_default(),
        "XDSSubmissionSet.patientId",
    );
    m.0.end("rim:RegistryPackage").newline();
    m.0.empty(
        "rim:Classification",
        &[
            ("id", &uuid_of(&format!("ss-class/{seed}"))),
            ("classifiedObject", &ss),
            ("classificationNode", uuid::SUBMISSION_SET),
            ("objectType", CLASSIFICATION),
        ],
    )
    .newline();
    for id in &ids {
        m.0.start(
            "rim:Association",
            &[
                ("id", &uuid_of(&format!("hm/{id}"))),
                ("associationType", uuid::HAS_MEMBER),
                ("sourceObject", &ss),
                ("targetObject", id),
                (
                    "objectType",
                    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
                ),
            ],
        )
        .newline();
        m.slot("SubmissionSetStatus", &["Original".into()]);
        m.0.end("rim:Association").newline();
    }
    m.0.end("rim:RegistryObjectList")
        .newline()
        .end("lcm:SubmitObjectsRequest");
    m.0.finish()
}

fn index_htm(sender: &str, files: &[String]) -> String {
    let mut x = Xml::new(0);
    x.newline()
        .doctype("html")
        .newline()
        .start(
            "html",
            &[("xmlns", "http://www.w3.org/1999/xhtml"), ("lang", "fr")],
        )
        .newline()
        .start("head", &[])
        .empty("meta", &[("charset", "UTF-8")])
        .element("title", &[], "Paquet IHE XDM")
        .end("head")
        .newline()
        .start("body", &[])
        .newline()
        .element("h1", &[], "Paquet IHE XDM")
        .newline()
        .element("p", &[], &format!("Expéditeur : {sender}"))
        .newline()
        .element("p", &[], "Documents : ")
        .start("ul", &[]);
    for f in files {
        x.element("li", &[], &format!("IHE_XDM/SUBSET01/{f}"));
    }
    x.end("ul")
        .newline()
        .start("p", &[])
        .element("a", &[("href", "README.TXT")], "README.TXT")
        .end("p")
        .newline()
        .end("body")
        .newline()
        .end("html");
    x.finish()
}

fn readme_txt(sender: &str, files: &[String]) -> String {
    let tree: String = files
        .iter()
        .map(|f| format!("    IHE_XDM/SUBSET01/{f}\r\n"))
        .collect();
    format!(
        "Paquet IHE XDM (ITI-32, ZIP sur messagerie)\r\n\r\nExpéditeur : {sender}\r\nLogiciel : banc {} (banc d'essai CI-SIS / MSSanté)\r\n\r\nContenu :\r\n    INDEX.HTM\r\n    README.TXT\r\n    IHE_XDM/SUBSET01/METADATA.XML\r\n{tree}\r\nLes documents sont des CDA R2 ; METADATA.XML les décrit (ebRIM 3.0, IHE ITI TF-3).\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Build the package. Every document must be a readable CDA of the same patient (INS).
pub fn pack(docs: &[(String, Vec<u8>)], opts: &PackOptions) -> Result<Vec<u8>, String> {
    pack_read(docs, &read_headers(docs)?, opts)
}

/// The CDA header of each document; the error names the first unreadable one and why.
pub fn read_headers(docs: &[(String, Vec<u8>)]) -> Result<Vec<CdaHeader>, String> {
    docs.iter()
        .map(|(name, bytes)| {
            header::read(name, bytes).map_err(|f| {
                let why: Vec<String> = f.iter().map(|f| f.message.clone()).collect();
                format!("{name} : document CDA illisible ({})", why.join(" ; "))
            })
        })
        .collect()
}

/// [`pack`] of documents whose headers were read already (`headers[i]` is `docs[i]`'s).
pub fn pack_read(
    docs: &[(String, Vec<u8>)],
    headers: &[CdaHeader],
    opts: &PackOptions,
) -> Result<Vec<u8>, String> {
    if docs.is_empty() || docs.len() != headers.len() {
        return Err("aucun document à empaqueter".into());
    }
    if docs.len() > 9999 {
        return Err("au plus 9999 documents par paquet".into());
    }
    let mut read = Vec::new();
    for (i, ((name, bytes), h)) in docs.iter().zip(headers).enumerate() {
        let h = h.clone();
        if h.patient.ins.is_none() && !opts.allow_faults {
            return Err(format!(
                "{name} : pas d'INS dans recordTarget/patientRole/id : patientId impossible"
            ));
        }
        read.push((format!("DOC{:04}.XML", i + 1), bytes.as_slice(), h));
    }
    let first = read[0].2.patient.ins.clone();
    if !opts.allow_faults && read.iter().any(|(_, _, h)| h.patient.ins != first) {
        return Err("un paquet XDM concerne un seul patient : INS différents".into());
    }
    let time = opts.submission_time.clone().unwrap_or_else(now_dtm);
    let md = metadata(&read, opts, &time);
    let sender = opts
        .sender
        .clone()
        .unwrap_or_else(|| "banc (expéditeur non renseigné)".into());
    let files: Vec<String> = read.iter().map(|(f, _, _)| f.clone()).collect();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let err = |e: zip::result::ZipError| e.to_string();
    let io = |e: std::io::Error| e.to_string();
    w.start_file("INDEX.HTM", o).map_err(err)?;
    w.write_all(index_htm(&sender, &files).as_bytes())
        .map_err(io)?;
    w.start_file("README.TXT", o).map_err(err)?;
    w.write_all(readme_txt(&sender, &files).as_bytes())
        .map_err(io)?;
    w.add_directory("IHE_XDM/", o).map_err(err)?;
    w.add_directory("IHE_XDM/SUBSET01/", o).map_err(err)?;
    if !opts.faults.contains(&PackFault::NoMetadata) {
        w.start_file("IHE_XDM/SUBSET01/METADATA.XML", o)
            .map_err(err)?;
        w.write_all(md.as_bytes()).map_err(io)?;
    }
    for (file, bytes, _) in &read {
        w.start_file(format!("IHE_XDM/SUBSET01/{file}"), o)
            .map_err(err)?;
        w.write_all(bytes).map_err(io)?;
    }
    if opts.faults.contains(&PackFault::Bomb) {
        // zip writes no deflate stream it did not compress itself: the entry is built apart,
        // then copied as it is.
        let bomb = zeros_zip(BOMB_ENTRY, BOMB_MIB)?;
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(bomb)).map_err(err)?;
        w.raw_copy_file(a.by_index_raw(0).map_err(err)?)
            .map_err(err)?;
    }
    Ok(w.finish().map_err(err)?.into_inner())
}

/// A zip of one entry, `name`, that inflates to `mib` MiB of zeros (at most 4095: no ZIP64),
/// without ever holding them: the deflate stream is one segment of 1 MiB of zeros ended by a
/// full flush, which refers to nothing before it, repeated `mib` times, then an empty final
/// block; the CRC-32 of the whole is combined from the segment's.
fn zeros_zip(name: &str, mib: u32) -> Result<Vec<u8>, String> {
    const MIB: usize = 1 << 20;
    if mib == 0 || mib > 4095 {
        return Err(format!("{mib} Mio : entre 1 et 4095"));
    }
    let zeros = vec![0u8; MIB];
    let mut z = flate2::Compress::new(flate2::Compression::best(), false);
    let mut segment = Vec::with_capacity(64 * 1024);
    z.compress_vec(&zeros, &mut segment, flate2::FlushCompress::Full)
        .map_err(|e| e.to_string())?;
    // All input taken and room left: the flush is complete (1 MiB of zeros deflates to ~1 KB).
    if z.total_in() != MIB as u64 || segment.len() == segment.capacity() {
        return Err("compression du segment de zéros incomplète".into());
    }
    // Final block, fixed Huffman codes, end-of-block only.
    const LAST: [u8; 2] = [0x03, 0x00];
    let (mut crc, mut power) = (crc32fast::Hasher::new(), crc32fast::Hasher::new());
    power.update(&zeros);
    for bit in 0..12 {
        if mib & (1 << bit) != 0 {
            crc.combine(&power);
        }
        let p = power.clone();
        power.combine(&p);
    }
    let crc = crc.finalize();
    let packed = u32::try_from(segment.len() * mib as usize + LAST.len())
        .map_err(|_| "entrée compressée de plus de 4 Gio".to_string())?;
    let size = mib << 20;
    let name_len = u16::try_from(name.len()).map_err(|_| "nom trop long".to_string())?;
    let mut out = Vec::with_capacity(packed as usize + 2 * name.len() + 100);
    // Local file header (APPNOTE 4.3.7): version 2.0, deflate, 1980-01-01 00:00.
    let head = |out: &mut Vec<u8>| {
        for v in [20u16, 0, 8, 0, 0x21] {
            out.extend(v.to_le_bytes());
        }
        for v in [crc, packed, size] {
            out.extend(v.to_le_bytes());
        }
        out.extend(name_len.to_le_bytes());
    };
    out.extend(0x0403_4b50u32.to_le_bytes());
    head(&mut out);
    out.extend(0u16.to_le_bytes()); // extra field
    out.extend(name.as_bytes());
    for _ in 0..mib {
        out.extend(&segment);
    }
    out.extend(LAST);
    // Central directory header (4.3.12): made by version 2.0, no extra, comment, attributes.
    let cd = u32::try_from(out.len()).map_err(|_| "archive de plus de 4 Gio".to_string())?;
    out.extend(0x0201_4b50u32.to_le_bytes());
    out.extend(20u16.to_le_bytes());
    head(&mut out);
    for v in [0u16, 0, 0, 0] {
        out.extend(v.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes()); // external attributes
    out.extend(0u32.to_le_bytes()); // offset of the local header
    out.extend(name.as_bytes());
    // End of central directory (4.3.16): one entry.
    let cd_size = u32::try_from(out.len()).unwrap_or(u32::MAX) - cd;
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tsh() -> Vec<(String, Vec<u8>)> {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cr-bio/valid/tsh.xml");
        vec![("tsh.xml".into(), std::fs::read(p).unwrap())]
    }

    fn ids(zip: &[u8]) -> Vec<String> {
        super::super::inspect(zip, &super::super::Limits::default())
            .findings
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn the_zeros_entry_inflates_to_what_it_declares_with_a_right_crc() {
        let z = zeros_zip("Z.BIN", 3).unwrap();
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        let mut f = a.by_index(0).unwrap();
        assert_eq!(f.size(), 3 << 20);
        let mut all = Vec::new();
        // zip checks the CRC-32 at the end of the entry.
        f.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 3 << 20);
        assert!(all.iter().all(|b| *b == 0));
    }

    #[test]
    fn each_package_fault_raises_its_rule_and_only_it() {
        let docs = tsh();
        let clean = pack(&docs, &PackOptions::default()).unwrap();
        assert_eq!(ids(&clean), Vec::<String>::new());
        for (fault, rule) in [
            (PackFault::Bomb, "xdm.zip.bomb"),
            (PackFault::NoMetadata, "xdm.layout.metadata-missing"),
            (PackFault::WrongHash, "xdm.metadata.hash"),
            (PackFault::OtherPatient, "xdm.metadata.cda-patient-id"),
        ] {
            let o = PackOptions {
                faults: vec![fault],
                ..PackOptions::default()
            };
            let z = pack(&docs, &o).unwrap();
            assert_eq!(ids(&z), [rule], "{fault:?}");
            if fault == PackFault::Bomb {
                // About 1 MB for 1 GiB declared, the rest of the package intact.
                assert!(z.len() < 1_200_000 && z.len() > 1_000_000, "{}", z.len());
                let mut a = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
                let b = a.by_name(BOMB_ENTRY).unwrap();
                assert_eq!(b.size(), 1 << 30);
                assert!(b.size() / b.compressed_size() > 1000);
                drop(b);
                assert!(a.by_name("IHE_XDM/SUBSET01/METADATA.XML").is_ok());
            }
        }
    }
}
