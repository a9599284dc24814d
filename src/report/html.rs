//! `--html FILE`: one self-contained page (no network assets).
//!
//! Everything that comes from a document (paths, messages quoting its content, source lines,
//! XPaths) goes through maud's escaping, after [`visible`] made control and bidi characters
//! visible. The only unescaped text is the page's own constant CSS and JavaScript, and a
//! Content-Security-Policy pins both by hash: even a slip in escaping could not run a script.
//! The script only adds conveniences (filters, fold/unfold); the page is complete without it.

use super::style::VALIDATE as CSS;
use super::{DocumentReport, RuleRun, RunReport};
use crate::finding::{Finding, Layer, Severity, Verdict};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashSet;

const TITLE: &str = "banc — rapport de validation";

/// Characters of a source line shown around the marked column.
const WINDOW: usize = 120;
/// Of which, before the column.
const LEAD: usize = 40;
/// Longest run of characters marked at the column.
const MARK_MAX: usize = 40;

pub fn render(report: &RunReport) -> String {
    render_with(report, html! {})
}

/// The report with `banner` at the top of the page (`banc serve`: the permalink's downloads).
/// The banner uses the page's sheet only (no `style` attribute: the CSP pins the sheet).
pub fn render_with(report: &RunReport, banner: Markup) -> String {
    let totals = Counts::of(report.documents.iter().flat_map(|d| &d.findings));
    let mut ids = Ids::default();
    let overall = if report.summary.error > 0 {
        Verdict::Error
    } else if report.summary.fail > 0 {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let docs: Vec<Markup> = report
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| document(i + 1, d, &mut ids))
        .collect();
    html! {
        (DOCTYPE)
        html lang="fr" {
            (head(TITLE, &report.banc, CSS, SCRIPT))
            body {
                (banner)
                header.page {
                    h1 { (TITLE) }
                    p.overall {
                        (verdict_badge(overall))
                        " "
                        (overall_text(report))
                    }
                    dl.run {
                        dt { "banc" }
                        dd { "version " (report.banc) }
                        dt { "Kit" }
                        dd {
                            @match &report.kit {
                                Some(k) => {
                                    code { (visible(&k.path)) }
                                    br;
                                    span.muted { "empreinte " }
                                    code.fp { (k.fingerprint) }
                                    @if let Some(src) = &k.source {
                                        br;
                                        span.muted { "installé par banc kit fetch : ref " }
                                        code { (visible(&src.reference)) }
                                        span.muted { ", archive sha256 " }
                                        code.fp { (src.archive_sha256) }
                                    }
                                }
                                None => {
                                    "sans kit : règles intégrées de banc seulement "
                                    span.muted { "(le schéma CDA n'est pas vérifié ; " code { "--kit DIR" } " pour l'ajouter)" }
                                }
                            }
                        }
                        dt { "Seuil d'échec" }
                        dd {
                            (severity_badge(report.fail_on))
                            " un document échoue dès qu'il a un constat de sévérité "
                            (severity_label(report.fail_on).to_lowercase())
                            @if report.fail_on != Severity::Error { " ou plus" }
                            " (" code { "--fail-on " (report.fail_on.as_str()) } ")"
                        }
                        dt { "Exécution" }
                        dd { (generation_text(report, &totals)) }
                        @if let Some(g) = &report.gate {
                            dt { "Porte CI" }
                            dd { (visible(&super::table::gate_text(g))) }
                        }
                    }
                }
                main {
                    section #synthese aria-labelledby="synthese-titre" {
                        h2 #synthese-titre { "Synthèse" }
                        div.cards {
                            (card("Documents", report.summary.documents, "docs"))
                            (card("Conformes (pass)", report.summary.pass, "v-pass"))
                            (card("Non conformes (fail)", report.summary.fail, "v-fail"))
                            (card("Non vérifiés (error)", report.summary.error, "v-error"))
                            (card("Erreurs", totals.error, "sev-error"))
                            (card("Avertissements", totals.warning, "sev-warning"))
                            (card("Infos", totals.info, "sev-info"))
                        }
                        (filters(&totals))
                        @if report.documents.is_empty() {
                            p { "Aucun document validé." }
                        } @else {
                            (documents_table(report))
                        }
                    }
                    @for d in &docs { (d) }
                }
                footer.page {
                    p {
                        "Rapport autonome produit par banc " (report.banc)
                        " : aucune ressource externe, lisible hors ligne et imprimable. "
                        "Les pistes de correction (« Piste ») sont en anglais."
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

fn overall_text(report: &RunReport) -> String {
    let s = &report.summary;
    let mut bad = Vec::new();
    if s.error > 0 {
        bad.push(format!(
            "{} non vérifiable{}",
            s.error,
            if s.error > 1 { "s" } else { "" }
        ));
    }
    if s.fail > 0 {
        bad.push(format!(
            "{} non conforme{}",
            s.fail,
            if s.fail > 1 { "s" } else { "" }
        ));
    }
    if s.documents == 0 {
        "Aucun document.".into()
    } else if !bad.is_empty() {
        format!(
            "Échec : {} sur {}.",
            bad.join(", "),
            plural(s.documents, "document", "documents")
        )
    } else if s.documents == 1 {
        "Le document est conforme.".into()
    } else {
        format!("Les {} documents sont conformes.", s.documents)
    }
}

fn generation_text(report: &RunReport, totals: &Counts) -> String {
    let ms: f64 = report.documents.iter().map(|d| d.duration_ms).sum();
    let rules: usize = report.documents.iter().map(|d| d.rules_run.len()).sum();
    format!(
        "{} validé{}, {} exécutée{}, {} ({}, {}, {}) ; temps de validation cumulé {}.",
        plural(report.summary.documents, "document", "documents"),
        if report.summary.documents > 1 {
            "s"
        } else {
            ""
        },
        plural(rules, "règle", "règles"),
        if rules > 1 { "s" } else { "" },
        plural(totals.total(), "constat", "constats"),
        plural(totals.error, "erreur", "erreurs"),
        plural(totals.warning, "avertissement", "avertissements"),
        plural(totals.info, "info", "infos"),
        duration(ms)
    )
}

fn card(label: &str, n: usize, class: &str) -> Markup {
    html! {
        div class={ "card " (class) @if n == 0 { " zero" } } {
            span.n { (n) }
            span.l { (label) }
        }
    }
}

/// Controls for the script; hidden (and useless) without JavaScript.
fn filters(totals: &Counts) -> Markup {
    html! {
        div #filtres hidden {
            fieldset {
                legend { "Afficher les constats" }
                @for (sev, n) in [(Severity::Error, totals.error), (Severity::Warning, totals.warning), (Severity::Info, totals.info)] {
                    label {
                        input type="checkbox" checked data-sev=(sev.as_str());
                        " " (severity_label(sev)) " (" (n) ")"
                    }
                }
            }
            fieldset {
                legend { "Documents" }
                label {
                    input type="checkbox" #masquer-conformes;
                    " masquer les documents conformes"
                }
                button type="button" #tout-ouvrir { "Tout déplier" }
                button type="button" #tout-fermer { "Tout replier" }
            }
        }
    }
}

fn documents_table(report: &RunReport) -> Markup {
    html! {
        div.scroll {
            table.docs {
                caption { "Documents validés" }
                thead {
                    tr {
                        th scope="col" { "Verdict" }
                        th scope="col" { "Document" }
                        th scope="col" { "Profil" }
                        th scope="col" .num { abbr title="Erreurs" { "Err." } }
                        th scope="col" .num { abbr title="Avertissements" { "Avert." } }
                        th scope="col" .num { "Infos" }
                        th scope="col" .num { "Durée" }
                    }
                }
                tbody {
                    @for (i, d) in report.documents.iter().enumerate() {
                        @let c = Counts::of(&d.findings);
                        tr class={ "v-" (d.verdict.as_str()) } {
                            td { (verdict_badge(d.verdict)) }
                            td.path { a href={ "#d" (i + 1) } { (path(&d.path)) } }
                            td { (profile_text(d)) }
                            (count_cell(c.error))
                            (count_cell(c.warning))
                            (count_cell(c.info))
                            td.num { (duration(d.duration_ms)) }
                        }
                    }
                }
            }
        }
    }
}

fn count_cell(n: usize) -> Markup {
    html! { td class={ "num" @if n == 0 { " zero" } } { (n) } }
}

/// A document path, its folder dimmed so that the file names stand out in a list.
fn path(p: &str) -> Markup {
    // After the last separator (one byte): a char boundary.
    let (dir, file) = p.split_at(p.rfind(['/', '\\']).map_or(0, |i| i + 1));
    html! {
        @if !dir.is_empty() { span.dir { (visible(dir)) } }
        span.file { (visible(file)) }
    }
}

fn profile_text(d: &DocumentReport) -> Markup {
    html! {
        @match &d.profile {
            Some(p) => code { (visible(p)) },
            None => span.muted { "non déterminé" },
        }
    }
}

fn document(n: usize, d: &DocumentReport, ids: &mut Ids) -> Markup {
    let c = Counts::of(&d.findings);
    let id = format!("d{n}");
    let mut layers: Vec<Layer> = d.findings.iter().map(|f| f.layer).collect();
    layers.sort();
    layers.dedup();
    let fired: HashSet<&str> = d.findings.iter().map(|f| f.rule.as_str()).collect();
    let mut quiet: Vec<&RuleRun> = d
        .rules_run
        .iter()
        .filter(|r| !fired.contains(r.rule.as_str()))
        .collect();
    quiet.sort_by_key(|r| r.layer);
    let mut per_rule: std::collections::HashMap<&str, usize> = Default::default();
    html! {
        section class={ "doc v-" (d.verdict.as_str()) } #(id) aria-labelledby={ (id) "-titre" } {
            details.doc open {
                summary {
                    h2 #{ (id) "-titre" } {
                        (verdict_badge(d.verdict))
                        " "
                        span.path { (path(&d.path)) }
                    }
                }
                p.docmeta {
                    "Profil " (profile_text(d))
                    " · " (plural(c.error, "erreur", "erreurs"))
                    " · " (plural(c.warning, "avertissement", "avertissements"))
                    " · " (plural(c.info, "info", "infos"))
                    " · " (plural(d.rules_run.len(), "règle exécutée", "règles exécutées"))
                    " · " (duration(d.duration_ms))
                }
                @if d.findings.is_empty() {
                    p.none { "Aucun constat." }
                }
                @for layer in &layers {
                    @let group = layer_group(&d.findings, *layer);
                    section.layer {
                        h3 {
                            (layer.label_fr())
                            " "
                            span.muted { "(" (plural(group.len(), "constat", "constats")) ")" }
                        }
                        @for (k, f) in group.iter().enumerate() {
                            @let nth = { let e = per_rule.entry(f.rule.as_str()).or_default(); *e += 1; *e };
                            @let same_place = k > 0 && group[k - 1].location.line == f.location.line
                                && group[k - 1].location.column == f.location.column;
                            (finding(f, &ids.make(&format!("d{n}-{}-{nth}", f.rule)), d, same_place))
                        }
                    }
                }
                @if !quiet.is_empty() {
                    details.rules {
                        summary { (plural(quiet.len(), "règle exécutée sans constat", "règles exécutées sans constat")) }
                        ul {
                            @for r in &quiet {
                                li { code { (visible(&r.rule)) } " " span.muted { (visible(&r.title)) } }
                            }
                        }
                    }
                }
                p.top { a href="#synthese" { "↑ Synthèse" } }
            }
        }
    }
}

/// The findings of one layer, in document order; at one same place, the most severe first.
fn layer_group(findings: &[Finding], layer: Layer) -> Vec<&Finding> {
    let mut group: Vec<&Finding> = findings.iter().filter(|f| f.layer == layer).collect();
    group.sort_by_key(|f| {
        (
            f.location.line,
            f.location.column,
            std::cmp::Reverse(f.severity),
        )
    });
    group
}

fn finding(f: &Finding, id: &str, d: &DocumentReport, same_place: bool) -> Markup {
    let pos = f.location.position_text();
    let excerpt = f
        .location
        .line
        .and_then(|l| excerpt(d, l, f.location.column));
    html! {
        article class={ "finding sev-" (f.severity.as_str()) } #(id) {
            div.fhead {
                (severity_badge(f.severity))
                " "
                a.rule href={ "#" (id) } title="Lien vers ce constat" { code { (visible(&f.rule)) } }
                @if !pos.is_empty() { " " span.pos { (pos) } }
                @for m in f.marks_fr() { " " span.muted { "[" (visible(&m)) "]" } }
            }
            p.msg { (visible(&f.message)) }
            dl.meta {
                @if let Some(h) = &f.hint {
                    dt { "Piste" }
                    dd lang="en" { (visible(h)) }
                }
                @if let Some(s) = &f.spec {
                    dt { "Référence" }
                    dd { (visible(s)) }
                }
                @if let Some(x) = &f.location.xpath {
                    dt { "XPath" }
                    dd { code.xpath { (visible(x)) } }
                }
                @if let Some(fp) = &f.fingerprint {
                    dt { "Empreinte" }
                    dd { code.fp { (fp) } }
                }
            }
            @if let Some(ex) = excerpt {
                @if same_place {
                    details.again {
                        summary { "Extrait du document (même emplacement que le constat précédent)" }
                        (ex)
                    }
                } @else {
                    (ex)
                }
            }
        }
    }
}

/// The source line at `line` with one line of context either side, cut to a window around the
/// column (the same window for the three lines, so they stay aligned), the column marked.
fn excerpt(d: &DocumentReport, line: u32, column: Option<u32>) -> Option<Markup> {
    let target: Vec<char> = d.source_line(line)?.chars().collect();
    let col = column.map(|c| (c as usize).saturating_sub(1));
    let shown: Vec<(u32, Vec<char>)> = [line.checked_sub(1), Some(line), line.checked_add(1)]
        .into_iter()
        .flatten()
        .filter(|&l| l > 0)
        .filter_map(|l| {
            if l == line {
                return Some((l, target.clone()));
            }
            d.source_line(l).map(|t| (l, t.chars().collect()))
        })
        .collect();
    let longest = shown.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    let (from, to) = window(longest, col.unwrap_or(0));
    let width = shown.last().map_or(1, |(l, _)| l.to_string().len());
    // Past the end of the line as kept: the report may hold only the start of a huge line.
    let beyond = col.is_some_and(|c| c > target.len());
    Some(html! {
        figure.excerpt {
            figcaption {
                "Extrait du document, ligne " (line)
                @if let Some(c) = column { ", colonne " (c) }
                @if beyond { " (au-delà du début de ligne conservé dans le rapport)" }
            }
            pre {
                code {
                    @for (l, chars) in &shown {
                        @let is_target = *l == line;
                        span class=@if is_target { "src-line target" } @else { "src-line" } {
                            span.ln aria-hidden="true" { (format!("{l:>width$} ")) }
                            @if from > 0 && !chars.is_empty() { span.cut title="début de ligne omis" { "…" } }
                            @match col.filter(|_| is_target && !beyond) {
                                Some(c) => (marked(chars, from, to, c)),
                                None => (visible(&slice(chars, from, to))),
                            }
                            @if to < chars.len() || (is_target && beyond) {
                                span.cut title="fin de ligne omise" { "…" }
                            }
                            "\n"
                        }
                    }
                }
            }
        }
    })
}

/// `[from, to)` in characters: the whole line when short, else `WINDOW` characters around `col`.
fn window(len: usize, col: usize) -> (usize, usize) {
    if len <= WINDOW {
        return (0, len);
    }
    let from = col.saturating_sub(LEAD).min(len - WINDOW);
    (from, from + WINDOW)
}

fn slice(chars: &[char], from: usize, to: usize) -> String {
    let to = to.min(chars.len());
    chars
        .get(from.min(to)..to)
        .unwrap_or_default()
        .iter()
        .collect()
}

/// The target line's window with the token starting at `col` in a `<mark>`.
fn marked(chars: &[char], from: usize, to: usize, col: usize) -> Markup {
    let to = to.min(chars.len());
    if col >= to {
        // Past the end of the line (or of the window): mark the end.
        return html! {
            (visible(&slice(chars, from, to)))
            mark title="position signalée (fin de ligne)" { "⏎" }
        };
    }
    let col = col.max(from);
    let mut end = col + 1;
    let word = |c: char| !c.is_whitespace() && !matches!(c, '>' | '<' | '/' | '=' | '"' | '\'');
    if chars[col] == '<' || word(chars[col]) {
        while end < to && end - col < MARK_MAX && word(chars[end]) {
            end += 1;
        }
    }
    html! {
        (visible(&slice(chars, from, col)))
        mark title={ "position signalée (colonne " (col + 1) ")" } { (visible(&slice(chars, col, end))) }
        (visible(&slice(chars, end, to)))
    }
}

/// Control characters (C0 but tab and line feed, DEL, C1) and bidirectional formatting
/// characters (which could make a source line read differently from what it is) shown as
/// visible symbols; U+FFFE and U+FFFF (not allowed in XML) too.
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    fn hidden(c: char) -> bool {
        (c.is_control() && c != '\t' && c != '\n')
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FFFE}' | '\u{FFFF}')
    }
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{0}'..='\u{1F}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
                '\u{7F}' => '\u{2421}',
                c if hidden(c) => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

fn verdict_badge(v: Verdict) -> Markup {
    let (icon, label) = match v {
        Verdict::Pass => ("✓", "Conforme"),
        Verdict::Fail => ("✗", "Non conforme"),
        Verdict::Error => ("!", "Non vérifié"),
    };
    html! {
        span class={ "badge v-" (v.as_str()) } title={ "verdict : " (v.as_str()) } {
            span aria-hidden="true" { (icon) } " " (label)
        }
    }
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Erreur",
        Severity::Warning => "Avertissement",
        Severity::Info => "Info",
    }
}

fn severity_badge(s: Severity) -> Markup {
    let icon = match s {
        Severity::Error => "✗",
        Severity::Warning => "▲",
        Severity::Info => "i",
    };
    html! {
        span class={ "badge sev-" (s.as_str()) } title={ "sévérité : " (s.as_str()) } {
            span aria-hidden="true" { (icon) } " " (severity_label(s))
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n > 1 { many } else { one })
}

fn duration(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else {
        "< 1 ms".into()
    }
}

#[derive(Default)]
struct Counts {
    error: usize,
    warning: usize,
    info: usize,
}

impl Counts {
    fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Error => c.error += 1,
                Severity::Warning => c.warning += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }

    fn total(&self) -> usize {
        self.error + self.warning + self.info
    }
}

/// Element ids made of `[A-Za-z0-9._-]`, unique in the page.
#[derive(Default)]
struct Ids(HashSet<String>);

impl Ids {
    fn make(&mut self, raw: &str) -> String {
        let base: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut id = base.clone();
        let mut k = 1;
        while !self.0.insert(id.clone()) {
            k += 1;
            id = format!("{base}_{k}");
        }
        id
    }
}

/// The `<head>` of a banc page: its own sheet and script pinned by hash in a
/// Content-Security-Policy that allows nothing else (no network, no inline code but these).
pub(crate) fn head(title: &str, banc: &str, css: &str, script: &str) -> Markup {
    let csp = format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(css),
        csp_hash(script)
    );
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta http-equiv="Content-Security-Policy" content=(csp);
            meta name="generator" content={ "banc " (banc) };
            link rel="icon" href="data:,";
            title { (title) }
            style { (PreEscaped(css)) }
        }
    }
}

/// The CSP sources of the validation report's own sheet and script (`banc serve` sends them in
/// its Content-Security-Policy header).
pub(crate) fn report_hashes() -> [String; 2] {
    [csp_hash(CSS), csp_hash(SCRIPT)]
}

/// `'sha256-<base64>'` source expression for a Content-Security-Policy.
pub(crate) fn csp_hash(text: &str) -> String {
    use base64::Engine;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var filters = document.getElementById("filtres");
  if (!filters) { return; }
  filters.hidden = false;
  var body = document.body;
  var sevs = filters.querySelectorAll("input[data-sev]");
  function refresh() {
    var visible = ".finding";
    sevs.forEach(function (box) {
      body.classList.toggle("masquer-" + box.dataset.sev, !box.checked);
      if (!box.checked) { visible += ":not(.sev-" + box.dataset.sev + ")"; }
    });
    document.querySelectorAll("section.layer").forEach(function (layer) {
      layer.classList.toggle("vide", !layer.querySelector(visible));
    });
  }
  sevs.forEach(function (box) { box.addEventListener("change", refresh); });
  var pass = document.getElementById("masquer-conformes");
  pass.addEventListener("change", function () { body.classList.toggle("masquer-pass", pass.checked); });
  function fold(open) {
    document.querySelectorAll("details.doc").forEach(function (d) { d.open = open; });
  }
  document.getElementById("tout-ouvrir").addEventListener("click", function () { fold(true); });
  document.getElementById("tout-fermer").addEventListener("click", function () { fold(false); });
  window.addEventListener("beforeprint", function () { fold(true); });
})();
"#;
