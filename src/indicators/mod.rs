//! Usage indicators MS-1 to MS-4 of the MSSanté funding programmes (call for projects, appendix 4
//! "indicateurs d'atteinte des cibles d'usage"), measured from what a lab or a hospital actually
//! produced (CDA documents, each through the full pipeline) and sent (messages: banc's spool,
//! mbox, Maildir, `.eml`; their IHE_XDM packages; the MDN/DSN that came back).
//!
//! It streams: inputs are read one at a time and validated in batches on the run's threads; of
//! each document only a small record is kept (ids, custodian, date, type, level, verdict, failing
//! rule ids), so memory grows with the number of documents, not their size. Every input ends in
//! exactly one bucket (counted, outside the period, undated, duplicate, replaced...) and the report
//! shows that the buckets add up to the inputs read.
//!
//! Not here: printing, progress display, argument parsing (`src/cli/indicators.rs`).

pub mod produced;
pub mod render;
pub mod sent;

use crate::pipeline::Validator;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Targets of the funding programme (appendix 4).
pub const TARGET_MS1: f64 = 60.0;
pub const TARGET_MS2: f64 = 80.0;
pub const TARGET_MS4: f64 = 90.0;

/// Most items listed per bucket or list in the report (JSON keeps them all).
pub const LIST_SHOWN: usize = 20;

/// The reference period, both days included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `AAAAMMJJ`.
    pub from: u32,
    pub to: u32,
    /// `2026-T3`, or `2026-07-01..2026-09-30`.
    pub label: String,
}

fn parse_day(s: &str) -> Result<u32, String> {
    let bad = || format!("« {s} » : date attendue au format AAAA-MM-JJ");
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (u32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || d == 0 || d > crate::cda::ts::days_in_month(y, m) {
        return Err(format!("« {s} » : ce jour n'existe pas"));
    }
    Ok(y * 10000 + m * 100 + d)
}

impl Period {
    /// `--from AAAA-MM-JJ --to AAAA-MM-JJ`.
    pub fn between(from: &str, to: &str) -> Result<Period, String> {
        let (f, t) = (parse_day(from)?, parse_day(to)?);
        if f > t {
            return Err(format!("période vide : {from} est après {to}"));
        }
        Ok(Period {
            from: f,
            to: t,
            label: format!("{from}..{to}"),
        })
    }

    /// `--quarter 2026-T3` (T1 to T4; `Q` accepted for `T`).
    pub fn quarter(q: &str) -> Result<Period, String> {
        let bad = || format!("« {q} » : trimestre attendu au format AAAA-T1 à AAAA-T4");
        let (y, n) = q.split_once('-').ok_or_else(bad)?;
        let n = n
            .strip_prefix(['T', 't', 'Q', 'q'])
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(bad)?;
        let y: u32 = y.parse().ok().filter(|_| y.len() == 4).ok_or_else(bad)?;
        let (m1, m3) = (3 * n - 2, 3 * n);
        Ok(Period {
            from: y * 10000 + m1 * 100 + 1,
            to: y * 10000 + m3 * 100 + crate::cda::ts::days_in_month(y, m3),
            label: format!("{y}-T{n}"),
        })
    }

    pub fn contains(&self, day: u32) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// The months of the period, `AAAA-MM`, in order.
    pub fn months(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (mut y, mut m) = (self.from / 10000, self.from / 100 % 100);
        while y * 100 + m <= self.to / 100 {
            out.push(format!("{y:04}-{m:02}"));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }
}

/// `AAAAMMJJ` → `AAAA-MM`.
pub fn month_of(day: u32) -> String {
    format!("{:04}-{:02}", day / 10000, day / 100 % 100)
}

/// Hospital stays (MS-1's denominator B): not in documents, given by the establishment.
#[derive(Debug, Clone, Default)]
pub enum Stays {
    #[default]
    Unknown,
    /// One number for the whole period (all establishments), as the SAE gives it.
    Total(u64),
    /// Stays per month and establishment (`mois;etablissement;sejours`).
    Table(Vec<StayRow>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StayRow {
    /// `AAAA-MM`.
    pub month: String,
    /// The establishment's identifier as in the letters' custodian (`root^extension`, or the
    /// extension alone: a FINESS).
    pub establishment: String,
    pub stays: u64,
}

impl Stays {
    /// `--stays N|FILE`: a number, else a CSV file (`;` or `,`, a header line, columns
    /// `mois` (AAAA-MM), `etablissement`, `sejours`, in any order).
    pub fn parse(arg: &str) -> Result<Stays, String> {
        if let Ok(n) = arg.trim().parse::<u64>() {
            return Ok(Stays::Total(n));
        }
        let path = PathBuf::from(arg);
        let text = crate::files::read_text(&path, crate::files::MAX_SMALL)?;
        Stays::from_csv(&text).map_err(|e| format!("{arg} : {e}"))
    }

    pub fn from_csv(text: &str) -> Result<Stays, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let first = text.lines().next().unwrap_or_default();
        let delim = if first.contains(';') { b';' } else { b',' };
        let mut r = csv::ReaderBuilder::new()
            .delimiter(delim)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = r.headers().map_err(|e| e.to_string())?.clone();
        let col = |names: &[&str]| {
            headers.iter().position(|h| {
                let h = h.to_lowercase();
                names.iter().any(|n| h == *n)
            })
        };
        let (Some(cm), Some(ce), Some(cs)) = (
            col(&["mois", "month"]),
            col(&["etablissement", "établissement", "finess", "establishment"]),
            col(&["sejours", "séjours", "stays"]),
        ) else {
            return Err(
                "colonnes attendues : mois (AAAA-MM), etablissement, sejours (ligne d'en-tête)"
                    .into(),
            );
        };
        let mut rows = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| format!("ligne {} : {e}", i + 2))?;
            let line = i + 2;
            let month = rec.get(cm).unwrap_or_default().to_string();
            let ok_month = month.len() == 7
                && month.as_bytes()[4] == b'-'
                && parse_day(&format!("{month}-01")).is_ok();
            if !ok_month {
                return Err(format!(
                    "ligne {line} : mois « {} » (attendu AAAA-MM)",
                    crate::finding::quote(&month)
                ));
            }
            let stays = rec.get(cs).unwrap_or_default();
            let stays: u64 = stays.parse().map_err(|_| {
                format!(
                    "ligne {line} : nombre de séjours « {} » invalide",
                    crate::finding::quote(stays)
                )
            })?;
            let establishment = rec.get(ce).unwrap_or_default().to_string();
            if establishment.is_empty() {
                return Err(format!("ligne {line} : établissement vide"));
            }
            rows.push(StayRow {
                month,
                establishment,
                stays,
            });
        }
        Ok(Stays::Table(rows))
    }
}

/// What kind of document, for the indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocType {
    /// Compte rendu d'examens de biologie médicale (MS-3, MS-4).
    CrBio,
    /// Lettre de liaison à la sortie d'un établissement de santé (MS-1, MS-2).
    Ldl,
    /// Any other document: not in an indicator.
    Other,
}

/// What is kept of one produced document.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The file (or `archive!entry`).
    pub source: String,
    /// `root^extension` of `ClinicalDocument/id`.
    pub id: Option<String>,
    pub set_id: Option<String>,
    pub version: u32,
    /// Parent document of a replacement (`relatedDocument[@typeCode='RPLC']`).
    pub replaces: Option<String>,
    pub custodian: Option<String>,
    pub custodian_name: Option<String>,
    /// `AAAAMMJJ` of the header's effectiveTime; None when absent or not a full date.
    pub day: Option<u32>,
    /// The effectiveTime as written when it is not a usable date (for the report).
    pub bad_date: Option<String>,
    pub doc_type: DocType,
    pub level3: bool,
    /// Verdict `pass` of the full pipeline.
    pub conformant: bool,
    /// Distinct ids of the rules that failed it (at or above `--fail-on`).
    pub failing: Vec<String>,
    /// Why it could not be read as a CDA document.
    pub unreadable: Option<String>,
}

/// What came back for a message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ack {
    Mdn {
        /// `processed`, `displayed`...
        disposition: String,
        error: bool,
        code: Option<u16>,
        text: Option<String>,
    },
    Dsn {
        delivered: bool,
        status: Option<String>,
    },
}

/// A document found in a sent package.
#[derive(Debug, Clone, Serialize)]
pub struct SentDoc {
    /// Path in the package.
    pub path: String,
    pub id: Option<String>,
    pub set_id: Option<String>,
}

/// What is kept of one input of the sent side.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SentItem {
    Message {
        source: String,
        message_id: Option<String>,
        /// Zip attachments found (IHE_XDM candidates).
        packages: usize,
        documents: Vec<SentDoc>,
    },
    Ack {
        source: String,
        /// Message-ID of the message it answers (`Original-Message-ID`, or the returned
        /// message's for a DSN).
        original: Option<String>,
        ack: Ack,
    },
    Unreadable {
        source: String,
        reason: String,
    },
}

/// What `banc indicators` reads.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub produced: Vec<PathBuf>,
    pub sent: Vec<PathBuf>,
    pub period: Period,
    pub stays: Stays,
    /// Threads validating documents.
    pub jobs: usize,
}

/// How far the reading is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// `produits` or `envoyés`.
    pub phase: &'static str,
    pub done: usize,
}

/// Map what `walk` yields on `pool`'s threads, a batch at a time (what is held is one batch of
/// inputs, not the corpus), keeping the walk's order; `progress` after each batch.
pub(crate) fn in_batches<I: Send, O: Send>(
    walk: impl FnOnce(&mut dyn FnMut(I)),
    pool: &rayon::ThreadPool,
    map: impl Fn(I) -> O + Sync + Send,
    phase: &'static str,
    progress: &(dyn Fn(Progress) + Sync),
) -> Vec<O> {
    use rayon::prelude::*;
    let batch_size = 16 * pool.current_num_threads().max(1);
    let mut out: Vec<O> = Vec::new();
    let mut batch: Vec<I> = Vec::with_capacity(batch_size);
    let flush = |batch: &mut Vec<I>, out: &mut Vec<O>| {
        if batch.is_empty() {
            return;
        }
        let done: Vec<O> = pool.install(|| batch.par_drain(..).map(&map).collect());
        out.extend(done);
        progress(Progress {
            phase,
            done: out.len(),
        });
    };
    walk(&mut |input| {
        batch.push(input);
        if batch.len() >= batch_size {
            flush(&mut batch, &mut out);
        }
    });
    flush(&mut batch, &mut out);
    out
}

/// Measure the indicators: read and validate the produced documents, read the sent messages,
/// then compute. `progress` is called after each batch.
pub fn run(
    validator: &Validator,
    inputs: &Inputs,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<render::Report, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(inputs.jobs.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    for p in inputs.produced.iter().chain(&inputs.sent) {
        if !p.exists() {
            return Err(format!("{} : fichier ou dossier introuvable", p.display()));
        }
    }
    let records = produced::read_all(validator, &inputs.produced, &pool, progress);
    let items = sent::read_all(&inputs.sent, &pool, progress);
    Ok(compute(records, items, &inputs.period, &inputs.stays))
}

// ------------------------------------------------------------------------------------------------
// Computing

/// Where a produced document ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProducedBucket {
    /// In an indicator: a level-3 conformant CR-BIO (K) or a discharge letter (C) of the period.
    Counted,
    /// A CR-BIO of the period that is not level 3 or not conformant: not in K.
    InPeriodNotCounted,
    OutsidePeriod,
    Undated,
    /// Same `ClinicalDocument/id` as an earlier input: counted once.
    Duplicate,
    /// An earlier version of a report whose later version is among the inputs.
    Replaced,
    /// Neither a CR-BIO nor a discharge letter.
    OtherType,
    Unreadable,
}

impl ProducedBucket {
    pub const ALL: [ProducedBucket; 8] = [
        ProducedBucket::Counted,
        ProducedBucket::InPeriodNotCounted,
        ProducedBucket::OutsidePeriod,
        ProducedBucket::Undated,
        ProducedBucket::Duplicate,
        ProducedBucket::Replaced,
        ProducedBucket::OtherType,
        ProducedBucket::Unreadable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ProducedBucket::Counted => "comptés dans un indicateur (K ou C)",
            ProducedBucket::InPeriodNotCounted => {
                "CR-BIO de la période hors K (non conformes ou pas de niveau 3)"
            }
            ProducedBucket::OutsidePeriod => "hors période",
            ProducedBucket::Undated => "sans date (effectiveTime absent ou incomplet)",
            ProducedBucket::Duplicate => "doublons (même ClinicalDocument/id, comptés une fois)",
            ProducedBucket::Replaced => "versions remplacées (une version ultérieure est comptée)",
            ProducedBucket::OtherType => "autres documents (ni CR-BIO ni lettre de liaison)",
            ProducedBucket::Unreadable => "illisibles",
        }
    }
}

/// Where a sent-side input ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SentBucket {
    /// A message with at least one document in an IHE_XDM package.
    WithDocuments,
    /// A message without a zip, or whose zip holds no document.
    WithoutPackage,
    /// Same Message-ID as an earlier message (a copy): counted once.
    Duplicate,
    /// An MDN or DSN answering a message read.
    Acknowledgement,
    /// An MDN or DSN whose message is not among the inputs.
    OrphanAcknowledgement,
    Unreadable,
}

impl SentBucket {
    pub const ALL: [SentBucket; 6] = [
        SentBucket::WithDocuments,
        SentBucket::WithoutPackage,
        SentBucket::Duplicate,
        SentBucket::Acknowledgement,
        SentBucket::OrphanAcknowledgement,
        SentBucket::Unreadable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SentBucket::WithDocuments => "messages avec documents (paquet IHE_XDM)",
            SentBucket::WithoutPackage => "messages sans paquet ou sans document",
            SentBucket::Duplicate => "messages en double (même Message-ID, comptés une fois)",
            SentBucket::Acknowledgement => "accusés (MDN, DSN) rattachés à un message",
            SentBucket::OrphanAcknowledgement => "accusés dont le message n'est pas fourni",
            SentBucket::Unreadable => "illisibles (pas un message)",
        }
    }
}

/// Where a document of a sent package ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SentDocBucket {
    /// A report counted in K or C: it makes L or D.
    Counted,
    /// Among the produced documents, but not counted (outside the period, not conformant...).
    NotCounted,
    /// Not among the produced documents (by id, nor by setId).
    Unknown,
    /// The same report already sent in an earlier message: counted once.
    Resent,
    /// No readable ClinicalDocument/id.
    Unreadable,
}

impl SentDocBucket {
    pub const ALL: [SentDocBucket; 5] = [
        SentDocBucket::Counted,
        SentDocBucket::NotCounted,
        SentDocBucket::Unknown,
        SentDocBucket::Resent,
        SentDocBucket::Unreadable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SentDocBucket::Counted => "documents comptés (L ou D)",
            SentDocBucket::NotCounted => {
                "documents produits mais hors indicateur (période, conformité, type)"
            }
            SentDocBucket::Unknown => "documents envoyés absents des documents produits",
            SentDocBucket::Resent => "renvois d'un document déjà envoyé (comptés une fois)",
            SentDocBucket::Unreadable => "documents sans identifiant lisible",
        }
    }
}

/// The delivery of one message, from its acknowledgements.
#[derive(Debug, Clone, Default)]
struct Delivery {
    /// MDN error codes (None: an error without code).
    errors: Vec<Option<u16>>,
    error_texts: Vec<String>,
    processed: bool,
    dsn_failed: bool,
    dsn_delivered: bool,
}

impl Delivery {
    /// Not delivered: a DSN says so and nothing says it arrived.
    fn undelivered(&self) -> bool {
        self.dsn_failed && !self.dsn_delivered && !self.processed && self.errors.is_empty()
    }
}

/// What became of one counted report on the sent side.
#[derive(Debug, Clone, Default)]
struct SentState {
    /// Sent in a message not reported undelivered.
    transmitted: bool,
    /// Sent, but every message carrying it was reported undelivered (DSN failed).
    undelivered: bool,
    /// An MDN `processed` (no error) came back for one of its messages.
    processed: bool,
    /// Error codes of the MDNs of its messages.
    rejected: Vec<Option<u16>>,
    /// Source and text of the first rejection.
    rejection: Option<(String, String)>,
}

/// A report: every version of one document (one setId, or linked by relatedDocument).
struct Group {
    /// Index of the representative record (highest version).
    rep: usize,
}

fn figures_key(r: &Record) -> String {
    r.custodian
        .clone()
        .unwrap_or_else(|| "(sans custodian)".into())
}

/// Compute the indicators from the records of the inputs.
pub fn compute(
    records: Vec<Record>,
    items: Vec<SentItem>,
    period: &Period,
    stays: &Stays,
) -> render::Report {
    use render::*;
    let mut produced_buckets: BTreeMap<ProducedBucket, Vec<Listed>> = BTreeMap::new();
    let mut bucket_of: Vec<Option<ProducedBucket>> = vec![None; records.len()];
    let mut put = |i: usize, b: ProducedBucket, detail: String, bucket_of: &mut Vec<_>| {
        bucket_of[i] = Some(b);
        produced_buckets.entry(b).or_default().push(Listed {
            source: records[i].source.clone(),
            id: records[i].id.clone(),
            detail,
        });
    };
    // 1. Unreadable, duplicates (first occurrence kept).
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(why) = &r.unreadable {
            put(i, ProducedBucket::Unreadable, why.clone(), &mut bucket_of);
            continue;
        }
        let Some(id) = r.id.as_deref() else {
            put(
                i,
                ProducedBucket::Unreadable,
                "pas de ClinicalDocument/id".into(),
                &mut bucket_of,
            );
            continue;
        };
        if let Some(&first) = by_id.get(id) {
            put(
                i,
                ProducedBucket::Duplicate,
                format!("même id que {}", records[first].source),
                &mut bucket_of,
            );
            continue;
        }
        by_id.insert(id, i);
    }
    // 2. Reports: versions grouped by setId, or by the parent they replace.
    let key_of = |i: usize| -> String {
        let mut r = &records[i];
        // Follow relatedDocument parents to the first version we hold (bounded: no cycle).
        for _ in 0..64 {
            if let Some(s) = &r.set_id {
                return format!("set:{s}");
            }
            match r.replaces.as_deref().and_then(|p| by_id.get(p)) {
                Some(&p) => r = &records[p],
                None => break,
            }
        }
        format!("id:{}", r.id.as_deref().unwrap_or_default())
    };
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut group_of: Vec<Option<String>> = vec![None; records.len()];
    for (i, r) in records.iter().enumerate() {
        if bucket_of[i].is_some() {
            continue;
        }
        let k = key_of(i);
        group_of[i] = Some(k.clone());
        match groups.get_mut(&k) {
            None => {
                groups.insert(k, Group { rep: i });
            }
            Some(g) => {
                let cur = &records[g.rep];
                if (r.version, r.day) > (cur.version, cur.day) {
                    g.rep = i;
                }
            }
        }
    }
    for i in 0..records.len() {
        if let Some(k) = &group_of[i] {
            let rep = groups[k].rep;
            if rep != i {
                let detail = format!(
                    "version {} remplacée par la version {} ({})",
                    records[i].version, records[rep].version, records[rep].source
                );
                put(i, ProducedBucket::Replaced, detail, &mut bucket_of);
            }
        }
    }
    // 3. Representatives: type, date, period, conformity.
    let mut counted: HashMap<String, usize> = HashMap::new(); // group key → rep, counted ones
    let mut nonconformant: BTreeMap<String, u64> = BTreeMap::new();
    for (k, g) in &groups {
        let i = g.rep;
        let r = &records[i];
        let (b, detail) = match (r.doc_type, r.day) {
            (DocType::Other, _) => (ProducedBucket::OtherType, String::new()),
            (_, None) => (
                ProducedBucket::Undated,
                r.bad_date
                    .as_ref()
                    .map(|d| format!("effectiveTime « {} »", crate::finding::quote(d)))
                    .unwrap_or_else(|| "pas d'effectiveTime".into()),
            ),
            (_, Some(d)) if !period.contains(d) => (
                ProducedBucket::OutsidePeriod,
                format!("daté du {}", fr_day(d)),
            ),
            (DocType::CrBio, _) if !r.level3 => (
                ProducedBucket::InPeriodNotCounted,
                "CR-BIO qui n'est pas de niveau 3".into(),
            ),
            (DocType::CrBio, _) if !r.conformant => (
                ProducedBucket::InPeriodNotCounted,
                format!("non conforme : {}", r.failing.join(", ")),
            ),
            _ => (ProducedBucket::Counted, String::new()),
        };
        if matches!(
            b,
            ProducedBucket::Counted | ProducedBucket::InPeriodNotCounted
        ) && !r.conformant
        {
            for rule in &r.failing {
                *nonconformant.entry(rule.clone()).or_default() += 1;
            }
        }
        if b == ProducedBucket::Counted {
            counted.insert(k.clone(), i);
        }
        put(i, b, detail, &mut bucket_of);
    }
    // Stable listing order: input order.
    for v in produced_buckets.values_mut() {
        v.sort_by(|a, b| a.source.cmp(&b.source));
    }

    // 4. Sent side: messages, acknowledgements.
    let mut sent_buckets: BTreeMap<SentBucket, Vec<Listed>> = BTreeMap::new();
    let mut doc_buckets: BTreeMap<SentDocBucket, Vec<Listed>> = BTreeMap::new();
    let mut deliveries: HashMap<String, Delivery> = HashMap::new();
    let mut messages: Vec<(usize, Option<String>)> = Vec::new(); // (item index, message id)
    let mut seen_mid: HashMap<String, usize> = HashMap::new();
    for (n, item) in items.iter().enumerate() {
        if let SentItem::Message {
            source, message_id, ..
        } = item
        {
            if let Some(mid) = message_id {
                if let Some(&first) = seen_mid.get(mid) {
                    sent_buckets
                        .entry(SentBucket::Duplicate)
                        .or_default()
                        .push(Listed {
                            source: source.clone(),
                            id: Some(mid.clone()),
                            detail: format!("même Message-ID que {}", item_source(&items[first])),
                        });
                    continue;
                }
                seen_mid.insert(mid.clone(), n);
                deliveries.insert(mid.clone(), Delivery::default());
            }
            messages.push((n, message_id.clone()));
        }
    }
    for item in &items {
        match item {
            SentItem::Ack {
                source,
                original,
                ack,
            } => {
                let d = original.as_ref().and_then(|o| deliveries.get_mut(o));
                let detail = match ack {
                    Ack::Mdn {
                        disposition,
                        error,
                        code,
                        text,
                    } => format!(
                        "MDN {disposition}{}{}",
                        match (error, code) {
                            (true, Some(c)) => format!("/error {c}"),
                            (true, None) => "/error".into(),
                            (false, _) => String::new(),
                        },
                        text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
                    ),
                    Ack::Dsn { delivered, status } => format!(
                        "DSN {}{}",
                        if *delivered { "remis" } else { "échec" },
                        status.as_ref().map(|s| format!(" {s}")).unwrap_or_default()
                    ),
                };
                let listed = Listed {
                    source: source.clone(),
                    id: original.clone(),
                    detail: detail.clone(),
                };
                match d {
                    Some(d) => {
                        match ack {
                            Ack::Mdn {
                                error: true, code, ..
                            } => {
                                d.errors.push(*code);
                                d.error_texts.push(detail);
                            }
                            Ack::Mdn { .. } => d.processed = true,
                            Ack::Dsn {
                                delivered: true, ..
                            } => d.dsn_delivered = true,
                            Ack::Dsn { .. } => d.dsn_failed = true,
                        }
                        sent_buckets
                            .entry(SentBucket::Acknowledgement)
                            .or_default()
                            .push(listed);
                    }
                    None => sent_buckets
                        .entry(SentBucket::OrphanAcknowledgement)
                        .or_default()
                        .push(listed),
                }
            }
            SentItem::Unreadable { source, reason } => sent_buckets
                .entry(SentBucket::Unreadable)
                .or_default()
                .push(Listed {
                    source: source.clone(),
                    id: None,
                    detail: reason.clone(),
                }),
            SentItem::Message { .. } => {}
        }
    }
    // 5. Documents of the messages, matched to the reports.
    let mut set_index: HashMap<&str, String> = HashMap::new(); // setId → group key
    for (i, r) in records.iter().enumerate() {
        if let (Some(s), Some(k)) = (&r.set_id, &group_of[i]) {
            set_index.entry(s.as_str()).or_insert_with(|| k.clone());
        }
    }
    let mut state: HashMap<String, SentState> = HashMap::new();
    for (n, mid) in &messages {
        let SentItem::Message {
            source,
            documents,
            packages,
            ..
        } = &items[*n]
        else {
            continue;
        };
        if documents.is_empty() {
            sent_buckets
                .entry(SentBucket::WithoutPackage)
                .or_default()
                .push(Listed {
                    source: source.clone(),
                    id: mid.clone(),
                    detail: if *packages == 0 {
                        "aucune pièce jointe zip".into()
                    } else {
                        "paquet sans document lisible".into()
                    },
                });
            continue;
        }
        sent_buckets
            .entry(SentBucket::WithDocuments)
            .or_default()
            .push(Listed {
                source: source.clone(),
                id: mid.clone(),
                detail: format!("{} document(s)", documents.len()),
            });
        let delivery = mid.as_ref().and_then(|m| deliveries.get(m));
        for d in documents {
            let at = format!("{source}!{}", d.path);
            let listed = |detail: String| Listed {
                source: at.clone(),
                id: d.id.clone(),
                detail,
            };
            let Some(id) = &d.id else {
                doc_buckets
                    .entry(SentDocBucket::Unreadable)
                    .or_default()
                    .push(listed("en-tête CDA illisible".into()));
                continue;
            };
            let group = by_id
                .get(id.as_str())
                .and_then(|&i| group_of[i].clone())
                .or_else(|| d.set_id.as_deref().and_then(|s| set_index.get(s)).cloned());
            let Some(group) = group else {
                doc_buckets
                    .entry(SentDocBucket::Unknown)
                    .or_default()
                    .push(listed(
                        "ni l'id ni le setId ne sont parmi les documents produits".into(),
                    ));
                continue;
            };
            if !counted.contains_key(&group) {
                let rep = groups[&group].rep;
                let why = bucket_of[rep].map(|b| b.label()).unwrap_or_default();
                doc_buckets
                    .entry(SentDocBucket::NotCounted)
                    .or_default()
                    .push(listed(why.to_string()));
                continue;
            }
            let st = state.entry(group).or_default();
            let first = !st.transmitted && !st.undelivered && st.rejected.is_empty();
            let undelivered = delivery.is_some_and(Delivery::undelivered);
            if let Some(dl) = delivery {
                if !dl.errors.is_empty() && st.rejection.is_none() {
                    st.rejection = Some((source.clone(), dl.error_texts.join(" ; ")));
                }
                st.rejected.extend(dl.errors.iter().copied());
                st.processed |= dl.processed;
            }
            if undelivered {
                st.undelivered = !st.transmitted;
            } else {
                st.transmitted = true;
                st.undelivered = false;
            }
            doc_buckets
                .entry(if first {
                    SentDocBucket::Counted
                } else {
                    SentDocBucket::Resent
                })
                .or_default()
                .push(listed(String::new()));
        }
    }

    // 6. Figures per custodian and month.
    let months = period.months();
    let mut labs: BTreeMap<String, Entity<LabFigures>> = BTreeMap::new();
    let mut hospitals: BTreeMap<String, Entity<HospitalFigures>> = BTreeMap::new();
    let mut never_sent: Vec<Listed> = Vec::new();
    let mut rejected: Vec<Listed> = Vec::new();
    // CR-BIO of the period not in K still show in the lab's row (produced, level 3).
    for (gk, g) in &groups {
        let r = &records[g.rep];
        let Some(day) = r.day.filter(|d| period.contains(*d)) else {
            continue;
        };
        let month = month_of(day);
        let key = figures_key(r);
        let st = state.get(gk);
        let in_k = bucket_of[g.rep] == Some(ProducedBucket::Counted);
        let transmitted = st.is_some_and(|s| s.transmitted);
        let undelivered = st.is_some_and(|s| s.undelivered);
        let is_rejected = st.is_some_and(|s| !s.rejected.is_empty());
        let processed = st.is_some_and(|s| s.processed);
        if in_k {
            if !transmitted && !undelivered {
                never_sent.push(Listed {
                    source: r.source.clone(),
                    id: r.id.clone(),
                    detail: String::new(),
                });
            }
            if let Some((src, text)) = st.and_then(|s| s.rejection.clone()) {
                rejected.push(Listed {
                    source: r.source.clone(),
                    id: r.id.clone(),
                    detail: format!("{text} — message {src}"),
                });
            }
        }
        match r.doc_type {
            DocType::CrBio => {
                let e = labs
                    .entry(key.clone())
                    .or_insert_with(|| Entity::new(&key, r.custodian_name.clone(), &months));
                let add = |f: &mut LabFigures| {
                    f.cr_bio += 1;
                    f.level3 += u64::from(r.level3);
                    if in_k {
                        f.k += 1;
                        f.l += u64::from(transmitted);
                        f.processed += u64::from(processed);
                        f.never_sent += u64::from(!transmitted && !undelivered);
                        f.undelivered += u64::from(undelivered);
                        f.rejected += u64::from(is_rejected);
                    }
                };
                e.add(&month, add);
            }
            DocType::Ldl => {
                let e = hospitals
                    .entry(key.clone())
                    .or_insert_with(|| Entity::new(&key, r.custodian_name.clone(), &months));
                let add = |f: &mut HospitalFigures| {
                    f.c += 1;
                    f.c_conformant += u64::from(r.conformant);
                    f.d += u64::from(transmitted);
                    f.processed += u64::from(processed);
                    f.never_sent += u64::from(!transmitted && !undelivered);
                    f.undelivered += u64::from(undelivered);
                    f.rejected += u64::from(is_rejected);
                };
                e.add(&month, add);
            }
            DocType::Other => {}
        }
    }
    // Stays (B).
    let mut stays_unmatched = Vec::new();
    let mut total_b: Option<u64> = None;
    match stays {
        Stays::Unknown => {}
        Stays::Total(n) => {
            total_b = Some(*n);
            if hospitals.len() == 1
                && let Some(e) = hospitals.values_mut().next()
            {
                e.total.b = Some(*n);
            }
        }
        Stays::Table(rows) => {
            for row in rows.iter().filter(|r| months.contains(&r.month)) {
                let key = hospitals
                    .keys()
                    .find(|k| {
                        *k == &row.establishment
                            || k.rsplit_once('^')
                                .is_some_and(|(_, ext)| ext == row.establishment)
                    })
                    .cloned()
                    .unwrap_or_else(|| row.establishment.clone());
                if !hospitals.contains_key(&key) {
                    stays_unmatched.push(row.establishment.clone());
                }
                let e = hospitals
                    .entry(key.clone())
                    .or_insert_with(|| Entity::new(&key, None, &months));
                e.add(&row.month, |f| f.b = Some(f.b.unwrap_or(0) + row.stays));
                *total_b.get_or_insert(0) += row.stays;
            }
            stays_unmatched.sort();
            stays_unmatched.dedup();
        }
    }
    let mut labs: Vec<Entity<LabFigures>> = labs.into_values().collect();
    let mut hospitals: Vec<Entity<HospitalFigures>> = hospitals.into_values().collect();
    let mut labs_total = Entity::new("TOTAL", None, &months);
    for e in &mut labs {
        e.finish();
        labs_total.merge(e);
    }
    labs_total.finish();
    let mut hospitals_total = Entity::new("TOTAL", None, &months);
    for e in &mut hospitals {
        e.finish();
        hospitals_total.merge(e);
    }
    hospitals_total.total.b = total_b;
    hospitals_total.finish();
    never_sent.sort_by(|a, b| a.source.cmp(&b.source));
    rejected.sort_by(|a, b| a.source.cmp(&b.source));

    let produced_total = records.len() as u64;
    let sent_total = items.len() as u64;
    let sent_docs_total = messages
        .iter()
        .map(|(n, _)| match &items[*n] {
            SentItem::Message { documents, .. } => documents.len() as u64,
            _ => 0,
        })
        .sum();
    let mut sent_unknown = doc_buckets
        .get(&SentDocBucket::Unknown)
        .cloned()
        .unwrap_or_default();
    sent_unknown.sort_by(|a, b| a.source.cmp(&b.source));
    Report {
        period: PeriodOut {
            label: period.label.clone(),
            from: fr_iso(period.from),
            to: fr_iso(period.to),
            months,
        },
        targets: Targets {
            ms1: TARGET_MS1,
            ms2: TARGET_MS2,
            ms4: TARGET_MS4,
        },
        labs,
        labs_total,
        establishments: hospitals,
        establishments_total: hospitals_total,
        produced: Reconciliation::new(
            "documents produits lus",
            produced_total,
            ProducedBucket::ALL
                .iter()
                .map(|b| (b.label(), b, produced_buckets.remove(b).unwrap_or_default())),
        ),
        sent: Reconciliation::new(
            "fichiers et messages envoyés lus",
            sent_total,
            SentBucket::ALL
                .iter()
                .map(|b| (b.label(), b, sent_buckets.remove(b).unwrap_or_default())),
        ),
        sent_documents: Reconciliation::new(
            "documents trouvés dans les paquets envoyés",
            sent_docs_total,
            SentDocBucket::ALL
                .iter()
                .map(|b| (b.label(), b, doc_buckets.remove(b).unwrap_or_default())),
        ),
        never_sent,
        rejected,
        sent_unknown,
        nonconformant: nonconformant
            .into_iter()
            .map(|(rule, documents)| RuleCount { rule, documents })
            .collect(),
        stays_unmatched,
    }
}

fn item_source(i: &SentItem) -> &str {
    match i {
        SentItem::Message { source, .. }
        | SentItem::Ack { source, .. }
        | SentItem::Unreadable { source, .. } => source,
    }
}

/// `AAAAMMJJ` → `JJ/MM/AAAA`.
pub fn fr_day(d: u32) -> String {
    format!("{:02}/{:02}/{:04}", d % 100, d / 100 % 100, d / 10000)
}

/// `AAAAMMJJ` → `AAAA-MM-JJ`.
pub fn fr_iso(d: u32) -> String {
    format!("{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_periods() {
        let q = Period::quarter("2026-T3").unwrap();
        assert_eq!((q.from, q.to), (20260701, 20260930));
        assert_eq!(q.months(), ["2026-07", "2026-08", "2026-09"]);
        assert_eq!(Period::quarter("2024-T1").unwrap().to, 20240331);
        assert!(Period::quarter("2026-T5").is_err());
        assert!(Period::quarter("26-T1").is_err());
        let p = Period::between("2025-12-15", "2026-01-31").unwrap();
        assert_eq!(p.months(), ["2025-12", "2026-01"]);
        assert!(Period::between("2026-02-30", "2026-03-01").is_err());
        assert!(Period::between("2026-03-01", "2026-02-01").is_err());
    }

    fn rec(id: &str, set: Option<&str>, version: u32, replaces: Option<&str>, day: u32) -> Record {
        Record {
            source: format!("{id}.xml"),
            id: Some(id.into()),
            set_id: set.map(str::to_string),
            version,
            replaces: replaces.map(str::to_string),
            custodian: Some("1.2.250.1.71.4.2.2^1560024390".into()),
            custodian_name: None,
            day: Some(day),
            bad_date: None,
            doc_type: DocType::CrBio,
            level3: true,
            conformant: true,
            failing: Vec::new(),
            unreadable: None,
        }
    }

    #[test]
    fn replacements_without_set_id_and_duplicates_count_once() {
        let q = Period::quarter("2026-T3").unwrap();
        let records = vec![
            rec("a", None, 1, None, 20260701),
            // Version 2 of `a` linked by relatedDocument only (no setId), in August.
            rec("b", None, 2, Some("a"), 20260805),
            rec("a", None, 1, None, 20260701),
            rec("c", Some("s"), 1, None, 20261001),
        ];
        let items = vec![SentItem::Message {
            source: "m.eml".into(),
            message_id: Some("m@x".into()),
            packages: 1,
            documents: vec![SentDoc {
                path: "DOC0001.XML".into(),
                id: Some("a".into()),
                set_id: None,
            }],
        }];
        let r = compute(records, items, &q, &Stays::Unknown);
        assert_eq!(r.produced.count("counted"), 1);
        assert_eq!(r.produced.count("replaced"), 1);
        assert_eq!(r.produced.count("duplicate"), 1);
        assert_eq!(r.produced.count("outside-period"), 1);
        assert!(r.produced.balanced);
        // Sending version 1 transmits the report, counted in August (its latest version).
        let aug = &r.labs[0].months[1];
        assert_eq!(
            (aug.month.as_str(), aug.figures.k, aug.figures.l),
            ("2026-08", 1, 1)
        );
        assert_eq!(r.sent_documents.count("counted"), 1);
    }

    #[test]
    fn stays_csv() {
        let s = Stays::from_csv("mois;etablissement;sejours\n2026-07;1350001234;120\n").unwrap();
        let Stays::Table(rows) = s else { panic!() };
        assert_eq!(rows[0].stays, 120);
        assert!(Stays::from_csv("mois,etab\n").is_err());
        assert!(Stays::from_csv("mois;etablissement;sejours\n2026-13;x;1\n").is_err());
        assert!(matches!(Stays::parse("450").unwrap(), Stays::Total(450)));
    }
}
