//! The ANS value set "jeu de valeurs circuit de la biologie", as published on the bioloinc portal:
//! a spreadsheet (`.xlsx`) or its `.csv` export.
//!
//! The official file is not available offline, so the reader goes by column names, not
//! positions: in each sheet (or the CSV) the header row is the first of the first 30 rows naming a
//! LOINC code column; every other column is recognised by its name, accents, case and punctuation
//! ignored, with the synonyms of [`COLUMNS`]. Title rows above the header (as in the published
//! sheets) and unknown columns are skipped. A sheet whose name says "chapitre" lists the LOINC
//! chapters (its rows are chapters). The layout is documented in `fixtures/terminology/README.md`.

use calamine::{Data, Reader};
use std::collections::HashMap;
use std::path::Path;

/// LOINC's ORDER_OBS, as the value set gives it, plus the chapter rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    Order,
    Both,
    Observation,
    Chapitre,
    SousChapitre,
    /// No Type column, or a value banc does not know (reported).
    Inconnu,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Order => "Order",
            Kind::Both => "Both",
            Kind::Observation => "Observation",
            Kind::Chapitre => "Chapitre",
            Kind::SousChapitre => "Sous-chapitre",
            Kind::Inconnu => "type inconnu",
        }
    }
    /// May code a request (an act or a battery).
    pub fn request(self) -> bool {
        matches!(self, Kind::Order | Kind::Both)
    }
    /// May code a result.
    pub fn result(self) -> bool {
        matches!(self, Kind::Both | Kind::Observation)
    }
    pub fn chapter(self) -> bool {
        matches!(self, Kind::Chapitre | Kind::SousChapitre)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CircuitEntry {
    pub code: String,
    /// OID of the code's system: LOINC, or the "en attente" codes.
    pub system: String,
    pub label: String,
    pub print_label: Option<String>,
    pub kind: Kind,
    pub chapter: Option<String>,
    pub sub_chapter: Option<String>,
    /// UCUM code of the recommended unit.
    pub unit: Option<String>,
    /// 1: the LOINC code suffices to compare results; 2: the technique matters.
    pub comparability: Option<u8>,
    pub discriminating_technique: Option<bool>,
    /// Where it was read: sheet (xlsx) and 1-based row.
    pub sheet: Option<String>,
    pub row: usize,
}

impl CircuitEntry {
    /// The analyte: the label's text before its first ` [` (LOINC-FR labels read
    /// "Analyte [Grandeur] Milieu ; Échelle").
    pub fn analyte(&self) -> String {
        analyte_of(&self.label)
    }
}

#[derive(Debug, Clone)]
pub struct Circuit {
    pub source: String,
    pub version: Option<String>,
    pub entries: Vec<CircuitEntry>,
    /// Column names recognised, as written in the file.
    pub columns: Vec<String>,
    /// Rows skipped or doubtful (French, with sheet and row).
    pub issues: Vec<String>,
    by_code: HashMap<String, usize>,
    by_analyte: HashMap<String, Vec<usize>>,
}

impl Circuit {
    /// O(1).
    pub fn get(&self, code: &str) -> Option<&CircuitEntry> {
        self.by_code.get(code).map(|&i| &self.entries[i])
    }

    /// Retained result codes for the analyte named at the start of `label` (a document's
    /// displayName), those of the same specimen first.
    pub fn suggestions(&self, label: &str) -> Vec<&CircuitEntry> {
        let key = analyte_of(label);
        if key.is_empty() {
            return Vec::new();
        }
        let specimen = specimen_of(label);
        let mut found: Vec<&CircuitEntry> = self
            .by_analyte
            .get(&key)
            .into_iter()
            .flatten()
            .map(|&i| &self.entries[i])
            .filter(|e| e.kind.result())
            .collect();
        // Same specimen only, when the value set has one for it.
        if found.iter().any(|e| specimen_of(&e.label) == specimen) {
            found.retain(|e| specimen_of(&e.label) == specimen);
        }
        found.sort_by_key(|e| e.row);
        found
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }

    fn index(mut self) -> Circuit {
        for (i, e) in self.entries.iter().enumerate() {
            self.by_code.insert(e.code.clone(), i);
            let a = e.analyte();
            if !a.is_empty() {
                self.by_analyte.entry(a).or_default().push(i);
            }
        }
        self
    }
}

/// Lower case, accents removed, punctuation as single spaces: how column names and analytes are
/// compared.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'î' | 'ï' | 'Î' | 'Ï' => 'i',
            'ô' | 'ö' | 'Ô' | 'Ö' => 'o',
            'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'u',
            'ç' | 'Ç' => 'c',
            c => c,
        };
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

fn analyte_of(label: &str) -> String {
    fold(label.split(" [").next().unwrap_or(""))
}

fn specimen_of(label: &str) -> String {
    label
        .split_once(']')
        .map(|(_, rest)| fold(rest.split(';').next().unwrap_or("")))
        .unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Code,
    Label,
    Print,
    Kind,
    Chapter,
    SubChapter,
    Unit,
    Comparability,
    Technique,
    System,
}

/// Column names (folded) and their synonyms.
const COLUMNS: &[(Col, &[&str])] = &[
    (
        Col::Code,
        &[
            "code loinc",
            "code",
            "loinc",
            "code loinc resultat",
            "code loinc demande",
            "code loinc chapitre",
        ],
    ),
    (
        Col::Label,
        &[
            "libelle loinc",
            "libelle",
            "libelle long",
            "libelle loinc fr",
            "libelle francais",
            "libelle long loinc",
        ],
    ),
    (
        Col::Print,
        &[
            "libelle d edition",
            "libelle edition",
            "libelle d impression",
        ],
    ),
    (
        Col::Kind,
        &[
            "type",
            "type de code",
            "order obs",
            "order both observation",
            "type loinc",
        ],
    ),
    (
        Col::Chapter,
        &["chapitre", "code chapitre", "chapitre loinc"],
    ),
    (
        Col::SubChapter,
        &["sous chapitre", "code sous chapitre", "sous chapitre loinc"],
    ),
    (
        Col::Unit,
        &[
            "unite recommandee",
            "unite",
            "unite principale",
            "unite si",
            "unite ucum",
            "unite recommandee ucum",
        ],
    ),
    (
        Col::Comparability,
        &[
            "niveau de comparabilite",
            "niveau minimum de comparabilite",
            "comparabilite",
        ],
    ),
    (
        Col::Technique,
        &["technique discriminante", "technique discriminante o n"],
    ),
    (
        Col::System,
        &["systeme de codage", "code systeme", "codesystem", "oid"],
    ),
];

fn column(name: &str) -> Option<Col> {
    let f = fold(name);
    COLUMNS
        .iter()
        .find(|(_, names)| names.contains(&f.as_str()))
        .map(|(c, _)| *c)
}

/// Rows of one table (a sheet, or the CSV), cells as text.
struct Table {
    sheet: Option<String>,
    rows: Vec<Vec<String>>,
}

/// Read a circuit-bio file by extension.
pub fn read(path: &Path) -> Result<Circuit, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let source = path.display().to_string();
    let fail = |e: String| format!("{source} : {e}");
    let read = || {
        crate::files::read_bounded(path, super::MAX_FILE_BYTES)
            .map_err(|e| fail(e.reason.to_string()))
    };
    let (tables, version) = match ext.as_str() {
        "csv" | "txt" | "tsv" => (vec![csv_table(&read()?).map_err(fail)?], None),
        "xlsx" | "xlsm" | "xls" | "ods" => xlsx_tables(&ext, read()?).map_err(fail)?,
        other => {
            return Err(fail(format!(
                "extension « .{other} » inconnue : attendu .xlsx ou .csv"
            )));
        }
    };
    let mut c = from_tables(&source, tables).map_err(fail)?;
    c.version = version;
    Ok(c)
}

fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        // Excel's French CSV exports are Windows-1252.
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

fn csv_table(bytes: &[u8]) -> Result<Table, String> {
    let text = decode(bytes);
    // The separator is the one that splits the header line most: `;` in French exports.
    let header = text
        .lines()
        .find(|l| fold(l).contains("code"))
        .unwrap_or("");
    let sep = [b';', b'\t', b',']
        .into_iter()
        .max_by_key(|s| header.bytes().filter(|b| b == s).count())
        .unwrap_or(b';');
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for r in rd.records() {
        let r = r.map_err(|e| format!("CSV illisible : {e}"))?;
        rows.push(r.iter().map(|s| s.trim().to_string()).collect());
    }
    Ok(Table { sheet: None, rows })
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "O" } else { "N" }.to_string(),
        other => other.to_string().trim().to_string(),
    }
}

/// Largest total of a workbook's uncompressed parts: a real circuit-bio workbook is a few MB.
const MAX_UNZIPPED: u64 = 512 * 1024 * 1024;

/// Refuse a zip bomb before the spreadsheet reader inflates it (declared sizes; the reader stops at
/// them).
fn check_zip(bytes: &[u8]) -> Result<(), String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("classeur illisible (zip) : {e}"))?;
    let mut total = 0u64;
    for i in 0..z.len() {
        let e = z
            .by_index_raw(i)
            .map_err(|e| format!("classeur illisible (zip) : {e}"))?;
        total = total.saturating_add(e.size());
    }
    if total > MAX_UNZIPPED {
        return Err(format!(
            "classeur de {total} octets une fois décompressé, au-delà de la limite de {MAX_UNZIPPED}"
        ));
    }
    Ok(())
}

fn xlsx_tables(ext: &str, bytes: Vec<u8>) -> Result<(Vec<Table>, Option<String>), String> {
    if ext != "xls" {
        check_zip(&bytes)?;
    }
    use calamine::{Error, Sheets, open_workbook_from_rs as open};
    let rs = std::io::Cursor::new(&bytes[..]);
    // By extension, as `open_workbook_auto` does for a path (its errors name the format).
    let wb: Result<Sheets<_>, Error> = match ext {
        "xls" => open(rs).map(Sheets::Xls).map_err(Error::Xls),
        "ods" => open(rs).map(Sheets::Ods).map_err(Error::Ods),
        _ => open(rs).map(Sheets::Xlsx).map_err(Error::Xlsx),
    };
    let mut wb = wb.map_err(|e| format!("classeur illisible : {e}"))?;
    let mut tables = Vec::new();
    let mut version = None;
    for name in wb.sheet_names().to_owned() {
        let range = wb
            .worksheet_range(&name)
            .map_err(|e| format!("feuille « {name} » illisible : {e}"))?;
        let rows: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        if version.is_none() {
            version = find_version(&rows);
        }
        tables.push(Table {
            sheet: Some(name),
            rows,
        });
    }
    Ok((tables, version))
}

/// "Version" in a cell, the value in the same cell after it or in the next non-empty cell.
fn find_version(rows: &[Vec<String>]) -> Option<String> {
    for r in rows.iter().take(40) {
        for (i, c) in r.iter().enumerate() {
            if fold(c).starts_with("version") {
                let rest = c
                    .get(7..)
                    .unwrap_or("")
                    .trim_matches(|ch: char| ch == ':' || ch.is_whitespace());
                if !rest.is_empty() {
                    return Some(rest.to_string());
                }
                if let Some(v) = r[i + 1..].iter().find(|x| !x.is_empty()) {
                    return Some(v.clone());
                }
            }
        }
    }
    None
}

fn from_tables(source: &str, tables: Vec<Table>) -> Result<Circuit, String> {
    let mut c = Circuit {
        source: source.to_string(),
        version: None,
        entries: Vec::new(),
        columns: Vec::new(),
        issues: Vec::new(),
        by_code: HashMap::new(),
        by_analyte: HashMap::new(),
    };
    let mut seen: HashMap<String, (Option<String>, usize)> = HashMap::new();
    let mut any_header = false;
    for t in tables {
        let chapters_sheet = t
            .sheet
            .as_deref()
            .map(|s| fold(s).contains("chapitre"))
            .unwrap_or(false);
        let Some((h, cols)) = t.rows.iter().take(30).enumerate().find_map(|(i, r)| {
            let cols: Vec<Option<Col>> = r.iter().map(|x| column(x)).collect();
            cols.contains(&Some(Col::Code)).then_some((i, cols))
        }) else {
            continue;
        };
        any_header = true;
        for (name, col) in t.rows[h].iter().zip(&cols) {
            if col.is_some() && !c.columns.contains(name) {
                c.columns.push(name.clone());
            }
        }
        let at = |col: Col| cols.iter().position(|x| *x == Some(col));
        let (code_i, label_i, print_i, kind_i) =
            (at(Col::Code), at(Col::Label), at(Col::Print), at(Col::Kind));
        let (chap_i, sub_i, unit_i, comp_i, tech_i, sys_i) = (
            at(Col::Chapter),
            at(Col::SubChapter),
            at(Col::Unit),
            at(Col::Comparability),
            at(Col::Technique),
            at(Col::System),
        );
        let where_ = |row: usize| match &t.sheet {
            Some(s) => format!("feuille « {s} », ligne {row}"),
            None => format!("ligne {row}"),
        };
        for (i, r) in t.rows.iter().enumerate().skip(h + 1) {
            let row = i + 1;
            let get = |ix: Option<usize>| {
                ix.and_then(|k| r.get(k))
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let Some(code) = get(code_i) else { continue };
            let kind = match get(kind_i).as_deref().map(fold).as_deref() {
                Some("order") => Kind::Order,
                Some("both") => Kind::Both,
                Some("observation") => Kind::Observation,
                Some("chapitre") => Kind::Chapitre,
                Some("sous chapitre") => Kind::SousChapitre,
                None if chapters_sheet => Kind::Chapitre,
                None => Kind::Inconnu,
                Some(other) => {
                    c.issues.push(format!(
                        "{} : type « {other} » inconnu pour {code} (attendu Order, Both, Observation, Chapitre)",
                        where_(row)
                    ));
                    Kind::Inconnu
                }
            };
            let comparability = match get(comp_i) {
                None => None,
                Some(v) => match v.parse::<u8>() {
                    Ok(n @ (1 | 2)) => Some(n),
                    _ => {
                        c.issues.push(format!(
                            "{} : niveau de comparabilité « {v} » pour {code} (attendu 1 ou 2)",
                            where_(row)
                        ));
                        None
                    }
                },
            };
            if let Some((sheet, first)) = seen.get(&code) {
                c.issues.push(format!(
                    "{} : code {code} déjà lu {} ligne {first} ; la première ligne est gardée",
                    where_(row),
                    sheet
                        .as_deref()
                        .map(|s| format!("feuille « {s} »,"))
                        .unwrap_or_default()
                ));
                continue;
            }
            seen.insert(code.clone(), (t.sheet.clone(), row));
            let system = get(sys_i)
                .map(|s| s.trim_start_matches("urn:oid:").to_string())
                .unwrap_or_else(|| {
                    if code.contains('-') {
                        super::LOINC.to_string()
                    } else {
                        super::EN_ATTENTE.to_string()
                    }
                });
            c.entries.push(CircuitEntry {
                code,
                system,
                label: get(label_i).unwrap_or_default(),
                print_label: get(print_i),
                kind,
                chapter: get(chap_i),
                sub_chapter: get(sub_i),
                unit: get(unit_i),
                comparability,
                discriminating_technique: get(tech_i)
                    .map(|v| matches!(fold(&v).as_str(), "o" | "oui" | "y" | "yes" | "1" | "true")),
                sheet: t.sheet.clone(),
                row,
            });
        }
    }
    if !any_header {
        return Err(
            "aucune ligne d'en-tête avec une colonne « Code LOINC » dans les 30 premières lignes \
             (colonnes attendues : Code LOINC, Libellé LOINC, Type, Chapitre, Unité recommandée, \
             Niveau de comparabilité)"
                .into(),
        );
    }
    if c.entries.is_empty() {
        return Err("aucun code lu sous l'en-tête".into());
    }
    Ok(c.index())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Circuit, String> {
        from_tables("t", vec![csv_table(text.as_bytes())?])
    }

    #[test]
    fn header_found_below_title_rows_columns_by_name_in_any_order() {
        let c = csv(
            "Jeu de valeurs circuit de la biologie\n\n\
             Unité recommandée;TYPE;Code LOINC;Libelle LOINC;Niveau de comparabilité;Colonne inconnue\n\
             mmol/L;Both;14749-6;\"Glucose [Moles/Volume] Sérum/Plasma ; Numérique\";1;x\n\
             ;Order;24326-1;\"Ionogramme [-] Sérum/Plasma ; Numérique\";;\n\
             mmol/L;Both;40193-5;\"Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique\";1;\n",
        )
        .unwrap();
        assert_eq!(c.entries.len(), 3);
        let g = c.get("14749-6").unwrap();
        assert_eq!(
            (g.kind, g.unit.as_deref(), g.comparability),
            (Kind::Both, Some("mmol/L"), Some(1))
        );
        assert_eq!(c.get("24326-1").unwrap().kind, Kind::Order);
        let s: Vec<_> = c
            .suggestions("Glucose [Masse/Volume] Sérum/Plasma ; Numérique")
            .iter()
            .map(|e| e.code.as_str())
            .collect();
        assert_eq!(s, ["14749-6"]);
    }

    #[test]
    fn windows_1252_comma_separated_and_bad_values_reported() {
        let bytes = b"Code LOINC,Libell\xe9 LOINC,Type\n2951-2,Sodium [Moles/Volume],Both\n2823-3,Potassium,Resultat\n2951-2,Sodium bis,Both\n";
        let c = from_tables("t", vec![csv_table(bytes).unwrap()]).unwrap();
        assert_eq!(c.get("2951-2").unwrap().label, "Sodium [Moles/Volume]");
        assert_eq!(c.get("2823-3").unwrap().kind, Kind::Inconnu);
        assert_eq!(c.issues.len(), 2, "{:?}", c.issues);
    }

    #[test]
    fn the_sample_csv_and_xlsx_hold_the_same_rows() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/terminology");
        let csv = read(&dir.join("circuit-bio.csv")).unwrap();
        let xlsx = read(&dir.join("circuit-bio.xlsx")).unwrap();
        assert!(csv.issues.is_empty() && xlsx.issues.is_empty());
        assert_eq!(csv.entries.len(), xlsx.entries.len());
        let row = |e: &CircuitEntry| {
            (
                e.system.clone(),
                e.label.clone(),
                e.print_label.clone(),
                e.kind,
                e.chapter.clone(),
                e.sub_chapter.clone(),
                e.unit.clone(),
                e.comparability,
                e.discriminating_technique,
            )
        };
        for e in &csv.entries {
            let x = xlsx
                .get(&e.code)
                .unwrap_or_else(|| panic!("{} in the xlsx", e.code));
            if e.kind.chapter() {
                // The workbook's "Chapitres LOINC" sheet has only code and label columns: its
                // rows are chapters, sub-chapters included.
                assert_eq!(
                    (&e.system, &e.label, true),
                    (&x.system, &x.label, x.kind.chapter()),
                    "{}",
                    e.code
                );
            } else {
                assert_eq!(row(e), row(x), "{}", e.code);
            }
        }
    }

    #[test]
    fn no_code_column_is_an_error_naming_the_expected_columns() {
        let e = csv("a;b;c\n1;2;3\n").unwrap_err();
        assert!(e.contains("Code LOINC"), "{e}");
    }
}
