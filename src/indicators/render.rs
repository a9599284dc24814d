//! The indicators report: its data model (serialised as the JSON output) and its renderings —
//! a terminal table, a CSV in the layout of the funding file's tables 1 (establishments: B, C,
//! D, MS-1, MS-2) and 2 (labs: K, L, MS-4), and a self-contained HTML page with a monthly chart
//! (inline SVG, no script, the sheet pinned by its CSP hash).

use serde::Serialize;

/// One input (or document) of a bucket or a list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub source: String,
    /// ClinicalDocument/id (`root^extension`), or a Message-ID.
    pub id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub id: String,
    pub label: String,
    pub count: u64,
    pub items: Vec<Listed>,
}

/// Every input in exactly one bucket: `total` read, the buckets' `sum`, `balanced` when equal.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub label: String,
    pub total: u64,
    pub sum: u64,
    pub balanced: bool,
    pub buckets: Vec<Bucket>,
}

impl Reconciliation {
    pub fn new<'a, B: Serialize + 'a>(
        label: &str,
        total: u64,
        buckets: impl Iterator<Item = (&'static str, &'a B, Vec<Listed>)>,
    ) -> Reconciliation {
        let buckets: Vec<Bucket> = buckets
            .map(|(l, b, items)| Bucket {
                id: serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                label: l.to_string(),
                count: items.len() as u64,
                items,
            })
            .collect();
        let sum = buckets.iter().map(|b| b.count).sum();
        Reconciliation {
            label: label.to_string(),
            total,
            sum,
            balanced: sum == total,
            buckets,
        }
    }

    pub fn count(&self, id: &str) -> u64 {
        self.buckets
            .iter()
            .find(|b| b.id == id)
            .map_or(0, |b| b.count)
    }
}

/// Figures of a lab (funding file, table 2).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabFigures {
    /// Distinct CR-BIO of the period (replacements and duplicates counted once).
    pub cr_bio: u64,
    /// Of which level 3.
    pub level3: u64,
    /// Total K (MS-3): level 3 and conformant to the CI-SIS volet.
    pub k: u64,
    /// Total L: of K, sent through MSSanté (a message not reported undelivered).
    pub l: u64,
    /// MS-4 = L / K, in %.
    pub ms4: Option<f64>,
    /// Of L, acknowledged by an MDN `processed` (integrated by the receiving system).
    pub processed: u64,
    /// Of K, sent but refused by the receiver (MDN error 900–906).
    pub rejected: u64,
    /// Of K, sent but reported undelivered (DSN).
    pub undelivered: u64,
    /// Of K, never found in a message.
    pub never_sent: u64,
}

/// Figures of an establishment (funding file, table 1).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HospitalFigures {
    /// Total B: hospital stays (given with --stays).
    pub b: Option<u64>,
    /// Total C: discharge letters produced in the period.
    pub c: u64,
    /// Of C, conformant to the CI-SIS volet (LDL-SES).
    pub c_conformant: u64,
    /// Total D: of C, sent through MSSanté.
    pub d: u64,
    /// MS-1 = C / B, MS-2 = D / C, in %.
    pub ms1: Option<f64>,
    pub ms2: Option<f64>,
    /// Of D, acknowledged by an MDN `processed`.
    pub processed: u64,
    pub rejected: u64,
    pub undelivered: u64,
    pub never_sent: u64,
}

pub trait Figures: Default + Clone + Serialize {
    fn merge(&mut self, other: &Self);
    fn finish(&mut self);
}

fn rate(n: u64, d: Option<u64>) -> Option<f64> {
    d.filter(|d| *d > 0)
        .map(|d| (n as f64 * 1000.0 / d as f64).round() / 10.0)
}

impl Figures for LabFigures {
    fn merge(&mut self, o: &Self) {
        self.cr_bio += o.cr_bio;
        self.level3 += o.level3;
        self.k += o.k;
        self.l += o.l;
        self.processed += o.processed;
        self.rejected += o.rejected;
        self.undelivered += o.undelivered;
        self.never_sent += o.never_sent;
    }
    fn finish(&mut self) {
        self.ms4 = rate(self.l, Some(self.k));
    }
}

impl Figures for HospitalFigures {
    fn merge(&mut self, o: &Self) {
        self.b = match (self.b, o.b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.c += o.c;
        self.c_conformant += o.c_conformant;
        self.d += o.d;
        self.processed += o.processed;
        self.rejected += o.rejected;
        self.undelivered += o.undelivered;
        self.never_sent += o.never_sent;
    }
    fn finish(&mut self) {
        self.ms1 = rate(self.c, self.b);
        self.ms2 = rate(self.d, Some(self.c));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthFigures<F> {
    /// `AAAA-MM`.
    pub month: String,
    #[serde(flatten)]
    pub figures: F,
}

/// A lab or an establishment (custodian identifier), per month and for the period.
#[derive(Debug, Clone, Serialize)]
pub struct Entity<F> {
    /// `root^extension` of the custodian (FINESS...), or `TOTAL`.
    pub id: String,
    pub name: Option<String>,
    pub months: Vec<MonthFigures<F>>,
    pub total: F,
}

impl<F: Figures> Entity<F> {
    pub fn new(id: &str, name: Option<String>, months: &[String]) -> Entity<F> {
        Entity {
            id: id.to_string(),
            name,
            months: months
                .iter()
                .map(|m| MonthFigures {
                    month: m.clone(),
                    figures: F::default(),
                })
                .collect(),
            total: F::default(),
        }
    }

    /// Apply `f` to the month's figures and the period's.
    pub fn add(&mut self, month: &str, f: impl Fn(&mut F)) {
        if let Some(m) = self.months.iter_mut().find(|m| m.month == month) {
            f(&mut m.figures);
        }
        f(&mut self.total);
    }

    pub fn merge(&mut self, o: &Entity<F>) {
        for (a, b) in self.months.iter_mut().zip(&o.months) {
            a.figures.merge(&b.figures);
        }
        self.total.merge(&o.total);
    }

    pub fn finish(&mut self) {
        for m in &mut self.months {
            m.figures.finish();
        }
        self.total.finish();
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodOut {
    pub label: String,
    pub from: String,
    pub to: String,
    pub months: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    pub ms1: f64,
    pub ms2: f64,
    pub ms4: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub documents: u64,
}

/// The indicators of a period (JSON output as is).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub period: PeriodOut,
    pub targets: Targets,
    /// Table 2: labs (custodians of CR-BIO).
    pub labs: Vec<Entity<LabFigures>>,
    pub labs_total: Entity<LabFigures>,
    /// Table 1: establishments (custodians of discharge letters, or named in --stays).
    pub establishments: Vec<Entity<HospitalFigures>>,
    pub establishments_total: Entity<HospitalFigures>,
    /// Every produced document read, in one bucket.
    pub produced: Reconciliation,
    /// Every file or message of the sent side, in one bucket.
    pub sent: Reconciliation,
    /// Every document of the sent packages, in one bucket.
    pub sent_documents: Reconciliation,
    /// Counted reports (K, C) never found in a message.
    pub never_sent: Vec<Listed>,
    /// Counted reports refused by a receiver (MDN error).
    pub rejected: Vec<Listed>,
    /// Documents sent but not among the produced ones.
    pub sent_unknown: Vec<Listed>,
    /// Non-conformant CR-BIO and letters of the period, by failing rule.
    pub nonconformant: Vec<RuleCount>,
    /// Establishments of --stays with no discharge letter in the period.
    pub stays_unmatched: Vec<String>,
}

fn pct(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.1} %").replace('.', ","))
        .unwrap_or_else(|| "—".into())
}

fn opt(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "—".into())
}

fn entity_name(id: &str, name: &Option<String>) -> String {
    match name {
        Some(n) => format!("{n} ({id})"),
        None => id.to_string(),
    }
}

// ------------------------------------------------------------------------------------------------
// Table

/// The terminal table.
pub fn table(r: &Report) -> String {
    use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
    let mut out = format!(
        "Indicateurs d'usage MSSanté — période {} (du {} au {})\n\n",
        r.period.label, r.period.from, r.period.to
    );
    let new = |head: &[&str]| {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(head.iter().map(|h| h.to_string()));
        t
    };
    out += &format!(
        "Tableau 2 — laboratoires : MS-3 = Total K (CR-BIO de niveau 3 conformes), MS-4 = L / K (cible {} %)\n",
        r.targets.ms4
    );
    let mut t = new(&[
        "laboratoire",
        "mois",
        "CR-BIO",
        "niveau 3",
        "K (MS-3)",
        "L",
        "MS-4",
        "intégrés (MDN)",
        "refusés",
        "non remis",
        "jamais envoyés",
    ]);
    for e in r.labs.iter().chain(std::iter::once(&r.labs_total)) {
        let name = entity_name(&e.id, &e.name);
        let rows = e
            .months
            .iter()
            .map(|m| (m.month.clone(), &m.figures))
            .chain(std::iter::once((r.period.label.clone(), &e.total)));
        for (month, f) in rows {
            t.add_row(vec![
                name.clone(),
                month,
                f.cr_bio.to_string(),
                f.level3.to_string(),
                f.k.to_string(),
                f.l.to_string(),
                pct(f.ms4),
                f.processed.to_string(),
                f.rejected.to_string(),
                f.undelivered.to_string(),
                f.never_sent.to_string(),
            ]);
        }
    }
    out += &format!("{t}\n\n");
    out += &format!(
        "Tableau 1 — établissements : MS-1 = C / B (cible {} %), MS-2 = D / C (cible {} %)\n",
        r.targets.ms1, r.targets.ms2
    );
    let mut t = new(&[
        "établissement",
        "mois",
        "B séjours",
        "C lettres",
        "dont conformes",
        "D envoyées",
        "MS-1",
        "MS-2",
        "intégrées (MDN)",
        "refusées",
        "non remises",
        "jamais envoyées",
    ]);
    for e in r
        .establishments
        .iter()
        .chain(std::iter::once(&r.establishments_total))
    {
        let name = entity_name(&e.id, &e.name);
        let rows = e
            .months
            .iter()
            .map(|m| (m.month.clone(), &m.figures))
            .chain(std::iter::once((r.period.label.clone(), &e.total)));
        for (month, f) in rows {
            t.add_row(vec![
                name.clone(),
                month,
                opt(f.b),
                f.c.to_string(),
                f.c_conformant.to_string(),
                f.d.to_string(),
                pct(f.ms1),
                pct(f.ms2),
                f.processed.to_string(),
                f.rejected.to_string(),
                f.undelivered.to_string(),
                f.never_sent.to_string(),
            ]);
        }
    }
    out += &format!("{t}\n\n");
    for rec in [&r.produced, &r.sent, &r.sent_documents] {
        out += &format!(
            "Rapprochement — {} : {} = {}{}\n",
            rec.label,
            rec.total,
            rec.buckets
                .iter()
                .map(|b| b.count.to_string())
                .collect::<Vec<_>>()
                .join(" + "),
            if rec.balanced {
                " (équilibré)".to_string()
            } else {
                format!(" — DÉSÉQUILIBRE : somme {}", rec.sum)
            }
        );
        for b in &rec.buckets {
            out += &format!("  {:>7}  {} [{}]\n", b.count, b.label, b.id);
            if b.id != "counted" && b.id != "with-documents" && b.id != "acknowledgement" {
                out += &listing(&b.items, "           ");
            }
        }
        out += "\n";
    }
    let lists: [(&str, &Vec<Listed>); 3] = [
        ("Documents comptés jamais envoyés", &r.never_sent),
        (
            "Documents comptés refusés par le destinataire (MDN en erreur)",
            &r.rejected,
        ),
        (
            "Documents envoyés absents des documents produits",
            &r.sent_unknown,
        ),
    ];
    for (title, items) in lists {
        out += &format!("{title} : {}\n", items.len());
        out += &listing(items, "  ");
    }
    out += &format!(
        "Documents de la période non conformes, par règle : {}\n",
        r.nonconformant.len()
    );
    for rc in &r.nonconformant {
        out += &format!("  {:>7}  {}\n", rc.documents, rc.rule);
    }
    if !r.stays_unmatched.is_empty() {
        out += &format!(
            "Établissements de --stays sans lettre de liaison dans la période : {}\n",
            r.stays_unmatched.join(", ")
        );
    }
    out
}

fn listing(items: &[Listed], indent: &str) -> String {
    let mut out = String::new();
    for l in items.iter().take(super::LIST_SHOWN) {
        out += &format!(
            "{indent}{}{}{}\n",
            l.source,
            l.id.as_ref().map(|i| format!(" [{i}]")).unwrap_or_default(),
            if l.detail.is_empty() {
                String::new()
            } else {
                format!(" : {}", l.detail)
            }
        );
    }
    if items.len() > super::LIST_SHOWN {
        out += &format!(
            "{indent}… et {} autres (liste complète : --format json)\n",
            items.len() - super::LIST_SHOWN
        );
    }
    out
}

// ------------------------------------------------------------------------------------------------
// CSV

/// A text cell from a document (a custodian's name or id) as a spreadsheet must show it: one
/// starting like a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`, so that opening the
/// CSV never runs what a document wrote.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// The funding file's tables as one CSV (`;`, decimal comma, as a French spreadsheet opens it):
/// a `tableau` column (1: establishments, 2: labs), one row per structure and month, then the
/// period's row (`periode` = the quarter), then the TOTAL rows.
pub fn csv(r: &Report) -> Result<String, String> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    let e = |e: csv::Error| e.to_string();
    w.write_record([
        "tableau",
        "structure",
        "nom",
        "periode",
        "total_B_sejours",
        "total_C_lettres_produites",
        "total_D_lettres_transmises",
        "MS-1_C_sur_B_pct",
        "MS-2_D_sur_C_pct",
        "total_K_CR-BIO_niveau3_conformes",
        "total_L_CR-BIO_transmis",
        "MS-4_L_sur_K_pct",
        "integres_MDN_processed",
        "refuses_MDN",
        "non_remis_DSN",
        "jamais_envoyes",
    ])
    .map_err(e)?;
    let num = |v: Option<f64>| {
        v.map(|v| format!("{v:.1}").replace('.', ","))
            .unwrap_or_default()
    };
    for ent in r
        .establishments
        .iter()
        .chain(std::iter::once(&r.establishments_total))
    {
        let rows = ent
            .months
            .iter()
            .map(|m| (m.month.as_str(), &m.figures))
            .chain(std::iter::once((r.period.label.as_str(), &ent.total)));
        for (p, f) in rows {
            w.write_record([
                "1",
                &cell(&ent.id),
                &cell(ent.name.as_deref().unwrap_or_default()),
                p,
                &f.b.map(|b| b.to_string()).unwrap_or_default(),
                &f.c.to_string(),
                &f.d.to_string(),
                &num(f.ms1),
                &num(f.ms2),
                "",
                "",
                "",
                &f.processed.to_string(),
                &f.rejected.to_string(),
                &f.undelivered.to_string(),
                &f.never_sent.to_string(),
            ])
            .map_err(e)?;
        }
    }
    for ent in r.labs.iter().chain(std::iter::once(&r.labs_total)) {
        let rows = ent
            .months
            .iter()
            .map(|m| (m.month.as_str(), &m.figures))
            .chain(std::iter::once((r.period.label.as_str(), &ent.total)));
        for (p, f) in rows {
            w.write_record([
                "2",
                &cell(&ent.id),
                &cell(ent.name.as_deref().unwrap_or_default()),
                p,
                "",
                "",
                "",
                "",
                "",
                &f.k.to_string(),
                &f.l.to_string(),
                &num(f.ms4),
                &f.processed.to_string(),
                &f.rejected.to_string(),
                &f.undelivered.to_string(),
                &f.never_sent.to_string(),
            ])
            .map_err(e)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

// ------------------------------------------------------------------------------------------------
// JSON

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

// ------------------------------------------------------------------------------------------------
// HTML

const CSS: &str = r#"
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5a6370; --bg: #fff; --panel: #f5f6f8; --line: #d5d9df; --a: #1f5fa8; --b: #1e6b34; --warn: #8a5300; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #a2abb7; --bg: #15181c; --panel: #1e2227; --line: #363c44; --a: #8cc0ff; --b: #7fd699; --warn: #ffc56b; } }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 1.25rem 3rem; font: 16px/1.5 system-ui, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--fg); background: var(--bg); }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .2rem .5rem; text-align: right; white-space: nowrap; }
td:first-child { white-space: normal; }
th:first-child, td:first-child, td.l { text-align: left; }
tr.period td { font-weight: 600; background: var(--panel); }
.muted { color: var(--muted); }
.bad { color: var(--warn); font-weight: 600; }
svg { max-width: 100%; height: auto; }
svg .a { fill: var(--a); } svg .b { fill: var(--b); } svg text { fill: var(--fg); font-size: 12px; }
svg .axis { stroke: var(--line); }
ul.items { font-size: .9em; }
"#;

/// The HTML page: tables 1 and 2, a monthly chart of each table (inline SVG), the reconciliation
/// and the lists. No script; everything submitted is escaped (maud).
pub fn html(r: &Report) -> String {
    use maud::{DOCTYPE, PreEscaped, html};
    let csp = format!(
        "default-src 'none'; style-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
        crate::report::html::csp_hash(CSS)
    );
    let lab_series: Vec<(String, u64, u64)> = r
        .labs_total
        .months
        .iter()
        .map(|m| (m.month.clone(), m.figures.k, m.figures.l))
        .collect();
    let ldl_series: Vec<(String, u64, u64)> = r
        .establishments_total
        .months
        .iter()
        .map(|m| (m.month.clone(), m.figures.c, m.figures.d))
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Indicateurs MSSanté — " (r.period.label) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Indicateurs d'usage MSSanté — " (r.period.label) }
                p.muted { "Du " (r.period.from) " au " (r.period.to) ", mesurés par banc à partir des documents produits et des messages envoyés." }
                h2 { "Tableau 2 — laboratoires (MS-3, MS-4)" }
                p { "MS-3 = Total K, CR-BIO de niveau 3 conformes au volet CI-SIS ; MS-4 = L / K, cible " (r.targets.ms4) " %." }
                (chart("Par mois : K (produits) et L (transmis)", &lab_series, "K", "L"))
                table {
                    thead { tr { th { "laboratoire" } th { "mois" } th { "CR-BIO" } th { "niveau 3" } th { "K (MS-3)" } th { "L" } th { "MS-4" } th { "intégrés (MDN)" } th { "refusés" } th { "non remis" } th { "jamais envoyés" } } }
                    tbody {
                        @for e in r.labs.iter().chain(std::iter::once(&r.labs_total)) {
                            @for (m, f, last) in rows(e, &r.period.label) {
                                tr class=[last.then_some("period")] {
                                    td.l { (entity_name(&e.id, &e.name)) } td.l { (m) }
                                    td { (f.cr_bio) } td { (f.level3) } td { (f.k) } td { (f.l) }
                                    td class=[f.ms4.filter(|v| *v < r.targets.ms4).map(|_| "bad")] { (pct(f.ms4)) }
                                    td { (f.processed) } td { (f.rejected) } td { (f.undelivered) } td { (f.never_sent) }
                                }
                            }
                        }
                    }
                }
                h2 { "Tableau 1 — établissements (MS-1, MS-2)" }
                p { "MS-1 = C / B, cible " (r.targets.ms1) " % ; MS-2 = D / C, cible " (r.targets.ms2) " %." }
                (chart("Par mois : C (lettres produites) et D (transmises)", &ldl_series, "C", "D"))
                table {
                    thead { tr { th { "établissement" } th { "mois" } th { "B séjours" } th { "C lettres" } th { "dont conformes" } th { "D envoyées" } th { "MS-1" } th { "MS-2" } th { "intégrées (MDN)" } th { "refusées" } th { "non remises" } th { "jamais envoyées" } } }
                    tbody {
                        @for e in r.establishments.iter().chain(std::iter::once(&r.establishments_total)) {
                            @for (m, f, last) in rows(e, &r.period.label) {
                                tr class=[last.then_some("period")] {
                                    td.l { (entity_name(&e.id, &e.name)) } td.l { (m) }
                                    td { (opt(f.b)) } td { (f.c) } td { (f.c_conformant) } td { (f.d) }
                                    td class=[f.ms1.filter(|v| *v < r.targets.ms1).map(|_| "bad")] { (pct(f.ms1)) }
                                    td class=[f.ms2.filter(|v| *v < r.targets.ms2).map(|_| "bad")] { (pct(f.ms2)) }
                                    td { (f.processed) } td { (f.rejected) } td { (f.undelivered) } td { (f.never_sent) }
                                }
                            }
                        }
                    }
                }
                h2 { "Rapprochement : chaque entrée dans une seule case" }
                @for rec in [&r.produced, &r.sent, &r.sent_documents] {
                    h3 { (rec.label) " : " (rec.total) @if rec.balanced { " (équilibré)" } @else { span.bad { " — déséquilibre : somme " (rec.sum) } } }
                    table {
                        tbody {
                            @for b in &rec.buckets {
                                tr { td { (b.count) } td.l { (b.label) } td.l.muted { (b.id) } }
                            }
                        }
                    }
                    @for b in rec.buckets.iter().filter(|b| b.count > 0 && !["counted", "with-documents", "acknowledgement"].contains(&b.id.as_str())) {
                        details { summary { (b.label) " (" (b.count) ")" } (items(&b.items)) }
                    }
                }
                h2 { "Listes" }
                details { summary { "Documents comptés jamais envoyés (" (r.never_sent.len()) ")" } (items(&r.never_sent)) }
                details { summary { "Documents refusés par le destinataire (" (r.rejected.len()) ")" } (items(&r.rejected)) }
                details { summary { "Documents envoyés absents des documents produits (" (r.sent_unknown.len()) ")" } (items(&r.sent_unknown)) }
                h3 { "Documents de la période non conformes, par règle" }
                table { tbody { @for rc in &r.nonconformant { tr { td { (rc.documents) } td.l { code { (rc.rule) } } } } } }
                @if !r.stays_unmatched.is_empty() {
                    p.bad { "Établissements de --stays sans lettre de liaison dans la période : " (r.stays_unmatched.join(", ")) }
                }
            }
        }
    };
    page.into_string()
}

fn rows<'a, F>(e: &'a Entity<F>, label: &'a str) -> Vec<(&'a str, &'a F, bool)> {
    e.months
        .iter()
        .map(|m| (m.month.as_str(), &m.figures, false))
        .chain(std::iter::once((label, &e.total, true)))
        .collect()
}

fn items(list: &[Listed]) -> maud::Markup {
    maud::html! {
        ul.items {
            @for l in list.iter().take(super::LIST_SHOWN) {
                li { code { (l.source) } @if let Some(id) = &l.id { " [" (id) "]" } @if !l.detail.is_empty() { " : " (l.detail) } }
            }
            @if list.len() > super::LIST_SHOWN {
                li.muted { "… et " (list.len() - super::LIST_SHOWN) " autres (liste complète : --format json)" }
            }
        }
    }
}

/// Grouped bars per month (`a` then `b`), inline SVG with a title and a text alternative.
fn chart(title: &str, series: &[(String, u64, u64)], a: &str, b: &str) -> maud::Markup {
    let max = series
        .iter()
        .map(|s| s.1.max(s.2))
        .max()
        .unwrap_or(0)
        .max(1);
    let (h, top, bottom, left, group) = (180.0, 20.0, 30.0, 40.0, 90.0);
    let width = left + group * series.len().max(1) as f64 + 20.0;
    let scale = |v: u64| (h - top - bottom) * v as f64 / max as f64;
    let desc = series
        .iter()
        .map(|(m, x, y)| format!("{m} : {a} {x}, {b} {y}"))
        .collect::<Vec<_>>()
        .join(" ; ");
    maud::html! {
        figure {
            svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {width} {h}")) width=(width) height=(h) {
                title { (title) }
                desc { (desc) }
                line.axis x1=(left) y1=(h - bottom) x2=(width - 10.0) y2=(h - bottom) {}
                text x="4" y=(top) { (max) }
                text x="4" y=(h - bottom) { "0" }
                @for (i, (m, x, y)) in series.iter().enumerate() {
                    @let x0 = left + group * i as f64 + 10.0;
                    rect.a x=(x0) y=(h - bottom - scale(*x)) width="30" height=(scale(*x)) { title { (a) " " (m) " : " (x) } }
                    rect.b x=(x0 + 34.0) y=(h - bottom - scale(*y)) width="30" height=(scale(*y)) { title { (b) " " (m) " : " (y) } }
                    text x=(x0) y=(h - bottom + 16.0) { (m) }
                }
            }
            figcaption { (title) " — " span.muted { (a) " à gauche, " (b) " à droite" } }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(super::cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(super::cell("Laboratoire"), "Laboratoire");
    }
}
