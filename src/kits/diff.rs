//! `banc kit diff OLD NEW`: what a kit update changes for the documents it judges — schematron
//! files, checks (assert/report) by the finding id banc gives them, value-set codes per OID
//! (`jeuxDeValeurs/`), XSD files.
//!
//! A check without `@id` has an id hashed from its rule context and test, so editing its test
//! changes its id: an old and a new check left unmatched in the same schematron, pattern and
//! rule context are paired, in order, as one changed check (old id → new id).

use crate::schematron::{self, CheckKind, MessagePart, Schema};
use crate::terminology::svs;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Default, Serialize)]
pub struct KitDiff {
    pub old: String,
    pub new: String,
    /// `.sch` files anywhere in the kit (includes too), by content.
    pub schematrons: Files,
    pub checks: Checks,
    /// Value sets of `jeuxDeValeurs/` whose codes differ, by OID.
    pub value_sets: Vec<ValueSetChange>,
    /// `.xsd` files, by content.
    pub xsd: Files,
}

#[derive(Debug, Default, Serialize)]
pub struct Files {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Files {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Checks {
    pub added: Vec<Check>,
    pub removed: Vec<Check>,
    pub changed: Vec<CheckChange>,
    /// Top-level schematrons the old (new) kit cannot load: their checks are not compared.
    pub unloadable_old: Vec<String>,
    pub unloadable_new: Vec<String>,
}

/// A check as the diff shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// The finding id banc reports for it (`schematron.<stem>...`).
    pub id: String,
    pub kind: &'static str,
    /// Top-level schematron (kit-relative).
    pub schematron: String,
    pub pattern: String,
    pub context: String,
    pub test: String,
    /// Message with `<value-of>`/`<name>` written as in the schematron, whitespace collapsed.
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct CheckChange {
    /// Id in the new kit.
    pub id: String,
    /// Id in the old kit, when it differs (a check without `@id` whose test changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_id: Option<String>,
    pub schematron: String,
    /// `test`, `message` (what differs).
    pub changed: Vec<&'static str>,
    pub old_test: String,
    pub new_test: String,
    pub old_message: String,
    pub new_message: String,
}

#[derive(Debug, Serialize)]
pub struct ValueSetChange {
    pub oid: String,
    /// `added`, `removed` (the whole value set) or `changed`.
    pub status: &'static str,
    /// `code (code system OID)`.
    pub codes_added: Vec<String>,
    pub codes_removed: Vec<String>,
}

impl KitDiff {
    pub fn is_empty(&self) -> bool {
        self.schematrons.is_empty()
            && self.checks.added.is_empty()
            && self.checks.removed.is_empty()
            && self.checks.changed.is_empty()
            && self.checks.unloadable_old == self.checks.unloadable_new
            && self.value_sets.is_empty()
            && self.xsd.is_empty()
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Sections for a terminal, `width` columns.
    pub fn table(&self, width: u16) -> String {
        use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
        use std::fmt::Write;
        let mut out = format!("Kit {} → {}\n", self.old, self.new);
        if self.is_empty() {
            out.push_str("Aucune différence (schématrons, contrôles, jeux de valeurs, XSD).\n");
            return out;
        }
        let table = |header: Vec<&str>| {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width)
                .set_header(header);
            t
        };
        for (title, files) in [("Schématrons", &self.schematrons), ("XSD", &self.xsd)] {
            if files.is_empty() {
                continue;
            }
            let mut t = table(vec!["", "Fichier"]);
            for (mark, list) in [
                ("+", &files.added),
                ("-", &files.removed),
                ("~", &files.changed),
            ] {
                for f in list {
                    t.add_row(vec![mark, f.as_str()]);
                }
            }
            writeln!(out, "\n{title} (+ ajouté, - retiré, ~ modifié) :\n{t}").ok();
        }
        let c = &self.checks;
        if !(c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty()) {
            let mut t = table(vec!["", "Contrôle", "Détail"]);
            for (mark, list) in [("+", &c.added), ("-", &c.removed)] {
                for k in list {
                    t.add_row(vec![
                        mark.to_string(),
                        k.id.clone(),
                        format!("{} : {}\n{}", k.kind, k.test, k.message),
                    ]);
                }
            }
            for k in &c.changed {
                let mut detail = Vec::new();
                if k.changed.contains(&"test") {
                    detail.push(format!("test : {}\n  → {}", k.old_test, k.new_test));
                }
                if k.changed.contains(&"message") {
                    detail.push(format!(
                        "message : {}\n  → {}",
                        k.old_message, k.new_message
                    ));
                }
                let id = match &k.old_id {
                    Some(old) => format!("{old}\n→ {}", k.id),
                    None => k.id.clone(),
                };
                t.add_row(vec!["~".to_string(), id, detail.join("\n")]);
            }
            writeln!(
                out,
                "\nContrôles (+ {}, - {}, ~ {}) :\n{t}",
                c.added.len(),
                c.removed.len(),
                c.changed.len()
            )
            .ok();
        }
        for (side, list) in [
            ("l'ancien", &c.unloadable_old),
            ("le nouveau", &c.unloadable_new),
        ] {
            if !list.is_empty() {
                writeln!(
                    out,
                    "\nSchématrons que {side} kit ne charge pas (contrôles non comparés) : {}",
                    list.join(", ")
                )
                .ok();
            }
        }
        if !self.value_sets.is_empty() {
            let mut t = table(vec!["OID", "", "Codes ajoutés", "Codes retirés"]);
            for v in &self.value_sets {
                t.add_row(vec![
                    v.oid.clone(),
                    match v.status {
                        "added" => "ajouté",
                        "removed" => "retiré",
                        _ => "modifié",
                    }
                    .to_string(),
                    v.codes_added.join("\n"),
                    v.codes_removed.join("\n"),
                ]);
            }
            writeln!(out, "\nJeux de valeurs :\n{t}").ok();
        }
        out
    }
}

/// Compare two kit folders.
pub fn diff(old: &Path, new: &Path) -> Result<KitDiff, String> {
    let (a, b) = rayon::join(|| files(old), || files(new));
    let (a, b) = (a?, b?);
    let by_ext = |ext: &str| {
        let pick = |m: &BTreeMap<String, [u8; 32]>| -> BTreeMap<String, [u8; 32]> {
            m.iter()
                .filter(|(k, _)| k.to_ascii_lowercase().ends_with(ext))
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        compare(&pick(&a), &pick(&b))
    };
    let (checks, value_sets) = rayon::join(|| checks(old, new), || value_sets(old, new, &a, &b));
    Ok(KitDiff {
        old: old.display().to_string(),
        new: new.display().to_string(),
        schematrons: by_ext(".sch"),
        checks,
        value_sets: value_sets?,
        xsd: by_ext(".xsd"),
    })
}

/// Kit-relative path (with `/`) → sha256 of every regular file, hidden ones aside.
fn files(root: &Path) -> Result<BTreeMap<String, [u8; 32]>, String> {
    use rayon::prelude::*;
    use sha2::{Digest, Sha256};
    if !root.is_dir() {
        return Err(format!("{} n'est pas un dossier", root.display()));
    }
    let paths: Vec<(String, std::path::PathBuf)> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(root).ok()?;
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            Some((rel, e.path().to_path_buf()))
        })
        .collect();
    paths
        .par_iter()
        .map(|(rel, p)| {
            let bytes = std::fs::read(p).map_err(|e| format!("{} : {e}", p.display()))?;
            Ok((rel.clone(), Sha256::digest(&bytes).into()))
        })
        .collect()
}

fn compare(a: &BTreeMap<String, [u8; 32]>, b: &BTreeMap<String, [u8; 32]>) -> Files {
    let mut f = Files::default();
    for (k, h) in a {
        match b.get(k) {
            None => f.removed.push(k.clone()),
            Some(h2) if h2 != h => f.changed.push(k.clone()),
            _ => {}
        }
    }
    f.added = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    f
}

fn message_text(parts: &[MessagePart]) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            MessagePart::Text(t) => s.push_str(t),
            MessagePart::ValueOf(e) => s.push_str(&format!("<value-of select=\"{e}\"/>")),
            MessagePart::Name(None) => s.push_str("<name/>"),
            MessagePart::Name(Some(e)) => s.push_str(&format!("<name path=\"{e}\"/>")),
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every check of a loaded schematron, in order.
fn schema_checks(schema: &Schema) -> Vec<Check> {
    let stem = Path::new(&schema.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for pat in &schema.patterns {
        let pid = pat.id.clone().unwrap_or_default();
        for r in &pat.rules {
            for c in &r.checks {
                let mut parts = c.message.clone();
                for d in &c.diagnostics {
                    if let Some(dp) = schema.diagnostics.get(d) {
                        parts.extend(dp.iter().cloned());
                    }
                }
                out.push(Check {
                    id: schematron::check_rule_id(
                        &stem,
                        &pid,
                        &r.context,
                        &c.test,
                        c.id.as_deref(),
                    ),
                    kind: match c.kind {
                        CheckKind::Assert => "assert",
                        CheckKind::Report => "report",
                    },
                    schematron: schema.file.clone(),
                    pattern: pid.clone(),
                    context: r.context.clone(),
                    test: c.test.clone(),
                    message: message_text(&parts),
                });
            }
        }
    }
    out
}

fn checks(old: &Path, new: &Path) -> Checks {
    let (a, b) = rayon::join(|| schematron::check_kit(old), || schematron::check_kit(new));
    let mut out = Checks::default();
    let load = |list: Vec<(String, Result<Schema, schematron::KitIssue>)>,
                unloadable: &mut BTreeSet<String>| {
        let mut all = Vec::new();
        for (file, r) in list {
            match r {
                Ok(s) => all.extend(schema_checks(&s)),
                Err(_) => {
                    unloadable.insert(file);
                }
            }
        }
        all
    };
    let (mut bad_old, mut bad_new) = (BTreeSet::new(), BTreeSet::new());
    let old_checks = load(a, &mut bad_old);
    let new_checks = load(b, &mut bad_new);
    let unloadable: BTreeSet<String> = bad_old.union(&bad_new).cloned().collect();
    // A schematron one side cannot load would show all its checks as added or removed.
    let keep = |c: &Check| !unloadable.contains(&c.schematron);
    // By id, in order of appearance (two identical checks of a rule share an id).
    let mut by_id: BTreeMap<&str, (Vec<&Check>, Vec<&Check>)> = BTreeMap::new();
    for c in old_checks.iter().filter(|c| keep(c)) {
        by_id.entry(&c.id).or_default().0.push(c);
    }
    for c in new_checks.iter().filter(|c| keep(c)) {
        by_id.entry(&c.id).or_default().1.push(c);
    }
    let mut gone: Vec<&Check> = Vec::new();
    let mut came: Vec<&Check> = Vec::new();
    for (o, n) in by_id.values() {
        for (x, y) in o.iter().zip(n.iter()) {
            if let Some(ch) = change(x, y) {
                out.changed.push(ch);
            }
        }
        gone.extend(o.iter().skip(n.len()));
        came.extend(n.iter().skip(o.len()));
    }
    // Pair what is left in the same place (schematron, pattern, rule context), in order.
    let place = |c: &Check| (c.schematron.clone(), c.pattern.clone(), c.context.clone());
    let mut came_at: BTreeMap<(String, String, String), Vec<&Check>> = BTreeMap::new();
    for c in came {
        came_at.entry(place(c)).or_default().push(c);
    }
    for c in came_at.values_mut() {
        c.reverse();
    }
    for o in gone {
        match came_at.get_mut(&place(o)).and_then(Vec::pop) {
            Some(n) => out.changed.extend(change(o, n)),
            None => out.removed.push(o.clone()),
        }
    }
    for rest in came_at.into_values() {
        out.added.extend(rest.into_iter().rev().cloned());
    }
    out.added.sort_by(|a, b| a.id.cmp(&b.id));
    out.removed.sort_by(|a, b| a.id.cmp(&b.id));
    out.changed.sort_by(|a, b| a.id.cmp(&b.id));
    out.unloadable_old = bad_old.into_iter().collect();
    out.unloadable_new = bad_new.into_iter().collect();
    out
}

fn change(o: &Check, n: &Check) -> Option<CheckChange> {
    let mut changed = Vec::new();
    if o.test != n.test {
        changed.push("test");
    }
    if o.message != n.message {
        changed.push("message");
    }
    if changed.is_empty() && o.id == n.id {
        return None;
    }
    Some(CheckChange {
        id: n.id.clone(),
        old_id: (o.id != n.id).then(|| o.id.clone()),
        schematron: n.schematron.clone(),
        changed,
        old_test: o.test.clone(),
        new_test: n.test.clone(),
        old_message: o.message.clone(),
        new_message: n.message.clone(),
    })
}

const VALUE_SETS: &str = "jeuxDeValeurs/";

/// OID → codes of the value-set files of `jeuxDeValeurs/` among `files` (kit-relative).
fn codes(root: &Path, files: &[&String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Ok(bytes) = std::fs::read(root.join(f.as_str())) else {
            continue;
        };
        // A file that is not an SVS value set (the SVS schema...) holds no codes.
        for vs in svs::parse(&bytes, f).unwrap_or_default() {
            out.entry(vs.id.clone()).or_default().extend(
                vs.concepts
                    .iter()
                    .map(|c| format!("{} ({})", c.code, c.system)),
            );
        }
    }
    out
}

fn value_sets(
    old: &Path,
    new: &Path,
    a: &BTreeMap<String, [u8; 32]>,
    b: &BTreeMap<String, [u8; 32]>,
) -> Result<Vec<ValueSetChange>, String> {
    // Only the files that differ are read: an OID of an unchanged file cannot have changed
    // unless another file claims it too, and that file differs.
    let differs = |k: &String| {
        k.starts_with(VALUE_SETS)
            && k.to_ascii_lowercase().ends_with(".xml")
            && a.get(k) != b.get(k)
    };
    let old_files: Vec<&String> = a.keys().filter(|k| differs(k)).collect();
    let new_files: Vec<&String> = b.keys().filter(|k| differs(k)).collect();
    let (mut oa, mut ob) = (codes(old, &old_files), codes(new, &new_files));
    // An OID whose file changed on one side only may also be defined by an unchanged file:
    // read that one too so the comparison is whole.
    let unchanged: Vec<&String> = a
        .keys()
        .filter(|k| k.starts_with(VALUE_SETS) && !differs(k) && b.contains_key(*k))
        .collect();
    if !unchanged.is_empty() && (!oa.is_empty() || !ob.is_empty()) {
        let wanted: BTreeSet<String> = oa.keys().chain(ob.keys()).cloned().collect();
        let shared = codes(old, &unchanged);
        for (oid, set) in shared {
            if wanted.contains(&oid) {
                oa.entry(oid.clone())
                    .or_default()
                    .extend(set.iter().cloned());
                ob.entry(oid).or_default().extend(set);
            }
        }
    }
    let oids: BTreeSet<&String> = oa.keys().chain(ob.keys()).collect();
    let mut out = Vec::new();
    for oid in oids {
        let (x, y) = (oa.get(oid), ob.get(oid));
        let empty = BTreeSet::new();
        let (xs, ys) = (x.unwrap_or(&empty), y.unwrap_or(&empty));
        let added: Vec<String> = ys.difference(xs).cloned().collect();
        let removed: Vec<String> = xs.difference(ys).cloned().collect();
        let status = match (x, y) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ if added.is_empty() && removed.is_empty() => continue,
            _ => "changed",
        };
        out.push(ValueSetChange {
            oid: oid.clone(),
            status,
            codes_added: added,
            codes_removed: removed,
        });
    }
    Ok(out)
}
