//! `banc suite check`: what can be known of a suite and a participants file without running
//! anything — references, files, keys that do not apply, levels and prerequisites.

use super::model::{COMMON_KEYS, Kind, Level, LoadError, ParticipantsFile, Role, Scenario, Suite};
use super::scope::Scope;
use crate::finding::Severity;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One problem found by the linter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Column (1-based, in characters) where one is known: a value's opening quote.
    pub column: Option<usize>,
    pub message: String,
}

impl Issue {
    fn error(file: &Path, line: Option<usize>, message: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            column: None,
            message: message.into(),
        }
    }
    fn warning(file: &Path, line: Option<usize>, message: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Warning,
            file: file.to_path_buf(),
            line,
            column: None,
            message: message.into(),
        }
    }
    /// An error at a value (line and column), else at `line`.
    fn error_at(
        file: &Path,
        at: Option<(usize, usize)>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            column: at.map(|(_, c)| c),
            line: at.map(|(l, _)| l).or(line),
            ..Issue::error(file, None, message)
        }
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, " : {}", self.message)
    }
}

impl From<LoadError> for Issue {
    fn from(e: LoadError) -> Issue {
        Issue {
            severity: Severity::Error,
            file: e.file,
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}

/// Line and column (1-based, characters) of the string value `value` (`"value"` or
/// `'value'`) written in lines `from..to` (1-based, `to` excluded) of `text`.
fn value_at(text: &str, from: usize, to: usize, value: &str) -> Option<(usize, usize)> {
    let quoted = [format!("\"{value}\""), format!("'{value}'")];
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .take_while(|(i, _)| i + 1 < to)
        .find_map(|(i, l)| {
            let at = quoted.iter().filter_map(|q| l.find(q.as_str())).min()?;
            Some((i + 1, l.get(..at).map_or(1, |p| p.chars().count() + 1)))
        })
}

/// Lines of a scenario file: where each `[[step]]` starts and where a key is written in it.
struct Lines {
    text: String,
    steps: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let text = text.to_string();
        let steps = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("[[step]]"))
            .map(|(i, _)| i + 1)
            .collect();
        Lines { text, steps }
    }

    /// Line of `key =` in step `n` (0-based), else the step's header line.
    fn key(&self, n: usize, key: &str) -> Option<usize> {
        let start = *self.steps.get(n)?;
        let end = self.steps.get(n + 1).copied().unwrap_or(usize::MAX);
        self.text
            .lines()
            .enumerate()
            .skip(start)
            .take_while(|(i, _)| i + 1 < end)
            .find(|(_, l)| {
                let t = l.trim_start();
                t.strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(['=', '.']))
                    || t.starts_with(&format!("[step.{key}]"))
            })
            .map(|(i, _)| i + 1)
            .or(Some(start))
    }

    /// Line and column of the string value `value` in step `n` (0-based).
    fn value(&self, n: usize, value: &str) -> Option<(usize, usize)> {
        let start = *self.steps.get(n)?;
        let end = self.steps.get(n + 1).copied().unwrap_or(usize::MAX);
        value_at(&self.text, start, end, value)
    }

    /// Line of a top-level key.
    fn top(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let t = l.trim_start();
                t.strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map(|i| i + 1)
    }
}

fn matches_fault(name: &str) -> bool {
    crate::mail::compose::Fault::ALL
        .iter()
        .any(|f| f.name() == name)
}

fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// Everything wrong with a loaded suite (and its participants, when given).
pub fn check(suite: &Suite, participants: Option<&ParticipantsFile>) -> Vec<Issue> {
    let mut out = Vec::new();
    let suite_file = suite.dir.join("suite.toml");
    if suite
        .dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy() != suite.meta.id)
    {
        out.push(Issue::warning(
            &suite_file,
            None,
            format!(
                "id « {} » différent du nom du dossier de la suite",
                suite.meta.id
            ),
        ));
    }
    let documents = match suite.documents() {
        Ok(d) => Some(d),
        Err(e) => {
            let text =
                crate::files::read_text(&suite_file, crate::files::MAX_SMALL).unwrap_or_default();
            let fixtures = suite.meta.fixtures.as_deref().unwrap_or_default();
            out.push(Issue::error_at(
                &suite_file,
                value_at(&text, 1, usize::MAX, fixtures),
                Lines::new(&text).top("fixtures"),
                e,
            ));
            None
        }
    };
    if suite.scenarios.is_empty() {
        out.push(Issue::error(
            &suite_file,
            None,
            "aucun scénario dans scenarios/",
        ));
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for s in &suite.scenarios {
        if let Some(first) = seen.insert(&s.id, &s.file) {
            out.push(Issue::error(
                &s.file,
                Lines::new(&s.source).top("id"),
                format!("id « {} » déjà utilisé par {}", s.id, first.display()),
            ));
        }
    }
    for s in &suite.scenarios {
        scenario(suite, s, documents.as_ref(), &mut out);
    }
    cycles(suite, &mut out);
    if let Some(p) = participants {
        participants_issues(suite, p, &mut out);
    }
    out
}

/// A path the step names, resolved in the suite: an error at the value when it escapes the suite
/// folder or is missing.
fn named_file(
    documents: Option<&Scope>,
    what: &str,
    d: &str,
    at: (Option<(usize, usize)>, Option<usize>),
    f: &Path,
    out: &mut Vec<Issue>,
) {
    if let Some(docs) = documents
        && let Err(r) = docs.file(d)
    {
        out.push(Issue::error_at(
            f,
            at.0,
            at.1,
            format!("{what} « {d} » {r}"),
        ));
    }
}

fn scenario(suite: &Suite, s: &Scenario, documents: Option<&Scope>, out: &mut Vec<Issue>) {
    let lines = Lines::new(&s.source);
    let f = &s.file;
    if f.file_stem().is_some_and(|n| n.to_string_lossy() != s.id) {
        out.push(Issue::warning(
            f,
            lines.top("id"),
            format!("le fichier devrait s'appeler {}.toml", s.id),
        ));
    }
    for p in &s.prerequisites {
        match suite.scenario(p) {
            None => out.push(Issue::error(
                f,
                lines.top("prerequisites"),
                format!("prérequis « {p} » : aucun scénario de ce nom dans la suite"),
            )),
            Some(q) if q.id == s.id => out.push(Issue::error(
                f,
                lines.top("prerequisites"),
                "un scénario ne peut pas être son propre prérequis",
            )),
            Some(q) if q.level > s.level => out.push(Issue::warning(
                f,
                lines.top("prerequisites"),
                format!(
                    "prérequis « {p} » de niveau {:?} supérieur à celui du scénario ({:?})",
                    q.level, s.level
                ),
            )),
            Some(_) => {}
        }
    }
    if s.level > Level::N1 && s.prerequisites.is_empty() {
        out.push(Issue::warning(f, lines.top("level"), format!("niveau {:?} sans prérequis : l'espace de test ANS exige les niveaux inférieurs d'abord", s.level)));
    }
    if s.steps.is_empty() {
        out.push(Issue::error(f, None, "aucune étape ([[step]])"));
    }
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    let mut earlier: Vec<(&str, Kind)> = Vec::new();
    for (n, st) in s.steps.iter().enumerate() {
        let at = |key: &str| lines.key(n, key);
        let label = st.label(n + 1);
        for key in st.keys_set() {
            if !st.kind.keys().contains(&key) && !COMMON_KEYS.contains(&key) {
                out.push(Issue::error(f, at(key), format!("{label} : la clé « {key} » ne s'applique pas à une étape « {} » (clés admises : {})", st.kind.as_str(), st.kind.keys().join(", "))));
            }
        }
        if let Some(id) = &st.id
            && !ids.insert(id)
        {
            out.push(Issue::error(
                f,
                at("id"),
                format!("id d'étape « {id} » en double"),
            ));
        }
        let refers = |key: &str, target: &str, want: Option<Kind>, out: &mut Vec<Issue>| {
            match earlier.iter().find(|(id, _)| *id == target) {
                None => out.push(Issue::error(f, at(key), format!("{label} : {key} = « {target} » ne désigne aucune étape précédente du scénario"))),
                Some((_, k)) if want.is_some_and(|w| w != *k) => out.push(Issue::error(f, at(key), format!("{label} : {key} = « {target} » désigne une étape « {} »", k.as_str()))),
                Some(_) => {}
            }
        };
        if let Some(sample) = &st.sample {
            for d in &sample.documents {
                let what = format!("{label} : sample : document");
                named_file(
                    documents,
                    &what,
                    d,
                    (lines.value(n, d), at("sample")),
                    f,
                    out,
                );
            }
        }
        match st.kind {
            Kind::SendMail => {
                let docs = st.document.clone().unwrap_or_default();
                if docs.is_empty() {
                    out.push(Issue::error(
                        f,
                        at("document"),
                        format!(
                            "{label} : « document » (au moins un CDA à envoyer) est obligatoire"
                        ),
                    ));
                }
                for d in docs {
                    let what = format!("{label} : document");
                    named_file(
                        documents,
                        &what,
                        &d,
                        (lines.value(n, &d), at("document")),
                        f,
                        out,
                    );
                }
                for fault in st.faults.iter().flatten() {
                    if !matches_fault(fault) {
                        let all: Vec<&str> = crate::mail::compose::Fault::ALL
                            .iter()
                            .map(|f| f.name())
                            .collect();
                        out.push(Issue::error(f, at("faults"), format!("{label} : défaut « {fault} » inconnu (défauts de banc mail compose : {})", all.join(", "))));
                    }
                }
            }
            Kind::AwaitAck => {
                if st.ack.is_none() {
                    out.push(Issue::error(
                        f,
                        at("ack"),
                        format!("{label} : « ack » (mdn ou dsn) est obligatoire"),
                    ));
                }
                match &st.of {
                    Some(of) => refers("of", of, Some(Kind::SendMail), out),
                    None if !earlier.iter().any(|(_, k)| *k == Kind::SendMail)
                        && !s.steps[..n].iter().any(|p| p.kind == Kind::SendMail) =>
                    {
                        out.push(Issue::error(
                            f,
                            at("kind"),
                            format!("{label} : aucun envoi (send-mail) avant cet accusé"),
                        ))
                    }
                    None => {}
                }
            }
            Kind::Http => {
                let wait = st.wait.unwrap_or(false);
                if wait && st.path.is_none() {
                    out.push(Issue::error(f, at("wait"), format!("{label} : wait = true demande « path » (le chemin que le SUT doit appeler)")));
                }
                if !wait && st.url.is_none() {
                    out.push(Issue::error(
                        f,
                        at("kind"),
                        format!("{label} : « url » est obligatoire (ou wait = true et path)"),
                    ));
                }
                if let Some(m) = &st.method
                    && !["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"].contains(&m.as_str())
                {
                    out.push(Issue::error(
                        f,
                        at("method"),
                        format!("{label} : méthode HTTP « {m} » inconnue"),
                    ));
                }
            }
            Kind::Evidence | Kind::Monitor => {
                if st
                    .instructions
                    .as_deref()
                    .is_none_or(|i| i.trim().is_empty())
                {
                    out.push(Issue::error(f, at("kind"), format!("{label} : une étape « {} » demande des « instructions » pour la personne qui décide", st.kind.as_str())));
                }
            }
            Kind::Submit | Kind::AwaitMail => {
                if st.expect.is_none() {
                    out.push(Issue::warning(f, at("kind"), format!("{label} : sans « expect », l'étape réussit dès qu'aucune erreur n'est trouvée")));
                }
            }
        }
        if let Some(e) = &st.expect {
            if let Some(r) = &e.replaces {
                refers("expect", r, None, out);
            }
            let ack_keys = e.disposition.is_some() || e.error_code.is_some();
            if ack_keys && st.kind != Kind::AwaitAck {
                out.push(Issue::error(f, at("expect"), format!("{label} : disposition et error_code ne s'appliquent qu'à une étape await-ack")));
            }
            if let Some(c) = e.error_code
                && !(900..=906).contains(&c)
            {
                out.push(Issue::error(
                    f,
                    at("expect"),
                    format!("{label} : error_code {c} hors des codes MSSanté 900–906"),
                ));
            }
            if let Some(p) = &e.profile
                && crate::profile::by_id(p).is_none()
            {
                out.push(Issue::error(
                    f,
                    at("expect"),
                    format!("{label} : profil « {p} » inconnu (banc profiles)"),
                ));
            }
        }
        if s.role == Role::Consumer && matches!(st.kind, Kind::Submit | Kind::AwaitMail) {
            out.push(Issue::warning(
                f,
                at("kind"),
                format!(
                    "{label} : étape « {} » dans un scénario consommateur (le SUT reçoit)",
                    st.kind.as_str()
                ),
            ));
        }
        if s.role == Role::Producer && st.kind == Kind::SendMail {
            out.push(Issue::warning(
                f,
                at("kind"),
                format!("{label} : envoi vers le SUT dans un scénario producteur"),
            ));
        }
        if let Some(id) = &st.id {
            earlier.push((id, st.kind));
        }
    }
}

/// Prerequisite cycles (each reported once, on its first scenario).
fn cycles(suite: &Suite, out: &mut Vec<Issue>) {
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for s in &suite.scenarios {
        // Depth-first from s, looking for a path back to s.
        let mut stack: Vec<(String, Vec<String>)> = vec![(s.id.clone(), vec![s.id.clone()])];
        let mut visited: BTreeSet<String> = BTreeSet::new();
        while let Some((id, path)) = stack.pop() {
            let Some(cur) = suite.scenario(&id) else {
                continue;
            };
            for p in &cur.prerequisites {
                if *p == s.id && path.len() > 1 {
                    let mut cyc = path.clone();
                    cyc.push(p.clone());
                    let key = cyc
                        .iter()
                        .cloned()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(",");
                    if reported.insert(key) {
                        out.push(Issue::error(
                            &s.file,
                            Lines::new(&s.source).top("prerequisites"),
                            format!("prérequis en cycle : {}", cyc.join(" → ")),
                        ));
                    }
                } else if visited.insert(p.clone()) {
                    let mut next = path.clone();
                    next.push(p.clone());
                    stack.push((p.clone(), next));
                }
            }
        }
    }
}

fn participants_issues(suite: &Suite, p: &ParticipantsFile, out: &mut Vec<Issue>) {
    let f = &p.file;
    let text = Lines::new(&p.source);
    let scope = match p.scope() {
        Ok(s) => Some(s),
        Err(e) => {
            out.push(Issue::error(f, None, format!("dossier illisible : {e}")));
            None
        }
    };
    // Lines where each `[[participant]]` starts: the values of the n-th are looked for in its
    // block.
    let blocks: Vec<usize> = p
        .source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[participant]]"))
        .map(|(i, _)| i + 1)
        .collect();
    let block = |n: usize| {
        let start = blocks.get(n).copied().unwrap_or(1);
        let end = blocks.get(n + 1).copied().unwrap_or(usize::MAX);
        (start, end)
    };
    let line_of = |id: &str| {
        text.text
            .lines()
            .position(|l| l.contains(&format!("\"{id}\"")))
            .map(|i| i + 1)
    };
    if p.participants.is_empty() {
        out.push(Issue::error(f, None, "aucun participant ([[participant]])"));
    }
    let mut ids = BTreeSet::new();
    for (n, x) in p.participants.iter().enumerate() {
        let at = line_of(&x.id);
        let (from, to) = block(n);
        let value = |v: &str| value_at(&text.text, from, to, v);
        if !ids.insert(&x.id) {
            out.push(Issue::error(
                f,
                at,
                format!("participant « {} » en double", x.id),
            ));
        }
        if x.roles.is_empty() {
            out.push(Issue::error(
                f,
                at,
                format!("{} : aucun rôle (producer, consumer)", x.id),
            ));
        }
        if let Some(m) = &x.mailbox
            && !m
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        {
            out.push(Issue::error(
                f,
                at,
                format!("{} : adresse « {m} » invalide", x.id),
            ));
        }
        for (what, v) in [("smtp", &x.smtp), ("imap", &x.imap)] {
            if let Some(v) = v
                && !is_host_port(v)
            {
                out.push(Issue::error(
                    f,
                    at,
                    format!("{} : {what} « {v} » : attendu HÔTE:PORT", x.id),
                ));
            }
        }
        if let Some(h) = &x.http
            && !(h.starts_with("http://") || h.starts_with("https://"))
        {
            out.push(Issue::error(
                f,
                at,
                format!("{} : http « {h} » : attendu une URL http(s)://", x.id),
            ));
        }
        if x.roles.contains(&Role::Consumer) && (x.mailbox.is_none() || x.smtp.is_none()) {
            out.push(Issue::warning(f, at, format!("{} : consommateur sans mailbox ou smtp : banc ne pourra pas lui envoyer de message", x.id)));
        }
        for h in &x.hosts {
            if !super::fetch::valid_host(h) {
                out.push(Issue::error_at(
                    f,
                    value(h),
                    at,
                    format!("{} : hosts « {h} » : attendu un nom d'hôte ou une adresse IP, sans schéma, port, chemin ni joker", x.id),
                ));
            }
        }
        if let Some(t) = &x.tls {
            // Confined like a suite's paths: a participants file put together from what the
            // participants sent must not make banc read, or present, a key of the host.
            for (what, v) in [("ca", &t.ca), ("cert", &t.cert), ("key", &t.key)] {
                if let Some(v) = v
                    && let Some(scope) = &scope
                    && let Err(r) = scope.file(v)
                {
                    out.push(Issue::error_at(
                        f,
                        value(v),
                        at,
                        format!("{} : tls.{what} « {v} » {r}", x.id),
                    ));
                }
            }
            if t.cert.is_some() != t.key.is_some() {
                out.push(Issue::error(
                    f,
                    at,
                    format!("{} : tls.cert et tls.key vont ensemble", x.id),
                ));
            }
        }
    }
    for role in [Role::Producer, Role::Consumer] {
        let needed = suite.scenarios.iter().any(|s| s.role == role);
        if needed && !p.participants.iter().any(|x| x.roles.contains(&role)) {
            out.push(Issue::warning(
                f,
                None,
                format!(
                    "aucun participant de rôle {} pour les scénarios {} de la suite",
                    role.as_str(),
                    role.as_str()
                ),
            ));
        }
    }
}
