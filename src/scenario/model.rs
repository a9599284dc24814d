//! The scenario format (suites/README.md) as data: suites, scenarios, steps, expectations,
//! participants. Every table refuses unknown keys; parse errors carry file, line and key.

use super::scope::Scope;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Producer,
    Consumer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "producer" => Some(Role::Producer),
            "consumer" => Some(Role::Consumer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    N1,
    N2,
    N3,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::N1 => "N1",
            Level::N2 => "N2",
            Level::N3 => "N3",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "N1" => Some(Level::N1),
            "N2" => Some(Level::N2),
            "N3" => Some(Level::N3),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Submit,
    AwaitMail,
    SendMail,
    AwaitAck,
    Http,
    Evidence,
    Monitor,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Submit => "submit",
            Kind::AwaitMail => "await-mail",
            Kind::SendMail => "send-mail",
            Kind::AwaitAck => "await-ack",
            Kind::Http => "http",
            Kind::Evidence => "evidence",
            Kind::Monitor => "monitor",
        }
    }

    /// Keys a step of this kind may carry beside the common ones.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Submit => &["accept", "expect", "sample"],
            Kind::AwaitMail => &["mailbox", "expect", "sample"],
            Kind::SendMail => &["document", "faults", "request_mdn", "to"],
            Kind::AwaitAck => &["ack", "of", "expect"],
            Kind::Http => &["method", "url", "status", "body_contains", "wait", "path"],
            Kind::Evidence => &["attachments"],
            Kind::Monitor => &["checklist"],
        }
    }

    /// A person's step: pending (`manual`) until a validator decides.
    pub fn is_manual(self) -> bool {
        matches!(self, Kind::Evidence | Kind::Monitor)
    }
}

/// Keys every step may carry.
pub const COMMON_KEYS: [&str; 5] = ["kind", "id", "title", "timeout", "instructions"];

/// A duration written `30s`, `10m`, `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

/// Longest duration a suite or `--max-wait` may give: 30 days.
pub const MAX_WAIT_SECS: u64 = 30 * 24 * 3600;

/// `30s`, `10m`, `2h`: positive, at most [`MAX_WAIT_SECS`].
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("durée « {s} » : attendu un nombre suivi de s, m ou h (ex. 10m)"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(format!("durée « {s} » : unité s, m ou h attendue")),
    };
    // A projectathon lasts days: a longer wait is a typo (and could overflow a deadline).
    let secs = secs
        .filter(|s| *s <= MAX_WAIT_SECS)
        .ok_or_else(|| format!("durée « {s} » : 30 jours au plus (720h)"))?;
    if secs == 0 {
        return Err(format!("durée « {s} » : doit être positive"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub verdict: Option<ExpectedVerdict>,
    #[serde(default)]
    pub layers: Vec<crate::finding::Layer>,
    pub profile: Option<String>,
    #[serde(default)]
    pub rules_present: Vec<String>,
    #[serde(default)]
    pub rules_absent: Vec<String>,
    #[serde(default)]
    pub loinc_include: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub mdn_requested: Option<bool>,
    pub replaces: Option<String>,
    pub disposition: Option<Disposition>,
    pub error_code: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedVerdict {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    Processed,
    ProcessedWithError,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accept {
    Cda,
    Xdm,
    Eml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckKind {
    Mdn,
    Dsn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendTo {
    Participant,
    Patient,
}

/// What banc's reference producer (`banc simulate lab`, `banc rehearse`) hands over or sends for
/// a `submit` or `await-mail` step; a real participant ignores it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// CDA documents (paths relative to the suite's fixtures folder, inside the suite folder);
    /// a `submit` step that accepts only `xdm` gets them packed, one that accepts only `eml`
    /// gets a message.
    pub documents: Vec<String>,
    /// Ask for a read receipt (Disposition-Notification-To).
    #[serde(default)]
    pub request_mdn: bool,
}

/// One step: the common keys, and the keys of every kind (the linter refuses a key that does not
/// apply to the step's kind).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub kind: Kind,
    pub id: Option<String>,
    pub title: Option<String>,
    pub timeout: Option<Duration>,
    pub instructions: Option<String>,
    pub accept: Option<Vec<Accept>>,
    pub expect: Option<Expect>,
    pub mailbox: Option<String>,
    pub document: Option<Vec<String>>,
    pub faults: Option<Vec<String>>,
    pub request_mdn: Option<bool>,
    pub to: Option<SendTo>,
    pub ack: Option<AckKind>,
    pub of: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    pub wait: Option<bool>,
    pub path: Option<String>,
    pub attachments: Option<Vec<String>>,
    pub checklist: Option<Vec<String>>,
    pub sample: Option<Sample>,
}

impl Step {
    /// The kind-specific keys this step sets.
    pub fn keys_set(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                k.push(name)
            }
        };
        add(self.accept.is_some(), "accept");
        add(self.expect.is_some(), "expect");
        add(self.mailbox.is_some(), "mailbox");
        add(self.document.is_some(), "document");
        add(self.faults.is_some(), "faults");
        add(self.request_mdn.is_some(), "request_mdn");
        add(self.to.is_some(), "to");
        add(self.ack.is_some(), "ack");
        add(self.of.is_some(), "of");
        add(self.method.is_some(), "method");
        add(self.url.is_some(), "url");
        add(self.status.is_some(), "status");
        add(self.body_contains.is_some(), "body_contains");
        add(self.wait.is_some(), "wait");
        add(self.path.is_some(), "path");
        add(self.attachments.is_some(), "attachments");
        add(self.checklist.is_some(), "checklist");
        add(self.sample.is_some(), "sample");
        k
    }

    /// `id`, else `step N` (1-based).
    pub fn label(&self, n: usize) -> String {
        self.id.clone().unwrap_or_else(|| format!("étape {n}"))
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub role: Role,
    pub level: Level,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub prerequisites: Vec<String>,
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
    /// The file it was read from, and its text (set by the loader; the linter points at lines).
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub id: String,
    pub title: String,
    pub version: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Folder `document` paths are relative to (relative to the suite folder, and inside it).
    pub fixtures: Option<String>,
    pub timeout: Option<Duration>,
    /// How an event grades its participants (`banc event score`); absent: every required
    /// scenario passed or verified.
    #[serde(default)]
    pub grading: Grading,
}

/// Grading rules of a suite, per role (`[grading.producer]`, `[grading.consumer]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grading {
    pub producer: Option<RoleGrading>,
    pub consumer: Option<RoleGrading>,
}

impl Grading {
    /// The rules for one role (the defaults when the suite says nothing).
    pub fn of(&self, role: Role) -> RoleGrading {
        match role {
            Role::Producer => self.producer.clone(),
            Role::Consumer => self.consumer.clone(),
        }
        .unwrap_or_default()
    }
}

/// What a participant must achieve in one role to pass.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGrading {
    /// Levels whose required scenarios must all be passed or verified (default: every level).
    #[serde(default = "all_levels")]
    pub required_levels: Vec<Level>,
    /// At least this many optional scenarios passed or verified.
    #[serde(default)]
    pub optional_min: usize,
    /// Exchanges at `partner_levels` passed or verified with at least this many distinct
    /// partners (the systems the participant exchanged with; banc counts as one).
    #[serde(default)]
    pub partners_min: usize,
    #[serde(default = "partner_levels")]
    pub partner_levels: Vec<Level>,
}

impl Default for RoleGrading {
    fn default() -> RoleGrading {
        RoleGrading {
            required_levels: all_levels(),
            optional_min: 0,
            partners_min: 0,
            partner_levels: partner_levels(),
        }
    }
}

fn all_levels() -> Vec<Level> {
    vec![Level::N1, Level::N2, Level::N3]
}

fn partner_levels() -> Vec<Level> {
    vec![Level::N2, Level::N3]
}

/// A loaded suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub meta: SuiteFile,
    pub dir: PathBuf,
    pub scenarios: Vec<Scenario>,
}

impl Suite {
    /// The suite folder: every path the suite names stays inside it.
    pub fn scope(&self) -> Result<Scope, String> {
        Scope::new(&self.dir)
    }

    /// Where `document` and `sample` paths start (the `fixtures` folder, inside the suite),
    /// confined to the suite folder.
    pub fn documents(&self) -> Result<Scope, String> {
        let s = self.scope()?;
        match &self.meta.fixtures {
            Some(f) => s.rebased(f).map_err(|r| format!("fixtures « {f} » : {r}")),
            None => Ok(s),
        }
    }

    pub fn scenario(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    pub id: String,
    pub organisation: String,
    pub system: String,
    pub roles: Vec<Role>,
    pub mailbox: Option<String>,
    pub smtp: Option<String>,
    pub imap: Option<String>,
    pub http: Option<String>,
    pub contact: Option<String>,
    /// Hosts banc may download a participant's `.url` submission from (names or IP addresses;
    /// the host of `http` counts too). A local or private address is fetched only when the
    /// address itself is declared.
    #[serde(default)]
    pub hosts: Vec<String>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsFile {
    #[serde(rename = "participant", default)]
    pub participants: Vec<Participant>,
    /// The file it was read from, and its text (set by the loader).
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub source: String,
}

impl ParticipantsFile {
    /// The participants file's folder: its `tls` paths stay inside it.
    pub fn scope(&self) -> Result<Scope, String> {
        Scope::new(folder_of(&self.file))
    }
}

/// The folder of a file (`.` for a bare file name).
pub fn folder_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A load error: where and why, in French.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for LoadError {
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

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let (line, col) = crate::lines::Lines::new(text.as_bytes()).line_col(text.as_bytes(), offset);
    (line as usize, col as usize)
}

/// Largest suite or participants file read (they are a few KB).
const MAX_FILE: u64 = 1024 * 1024;

/// Read and parse one TOML file into `T`; also gives its text.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String), LoadError> {
    let err = |line, column, message: String| LoadError {
        file: path.to_path_buf(),
        line,
        column,
        message,
    };
    let text = crate::files::read_text(path, MAX_FILE)
        .map_err(|e| err(None, None, e.reason.to_string()))?;
    match toml::from_str(&text) {
        Ok(v) => Ok((v, text)),
        Err(e) => {
            let (line, col) = e
                .span()
                .map(|s| line_col(&text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            Err(err(line, col, e.message().trim().to_string()))
        }
    }
}

/// Load a suite folder: `suite.toml` and every `scenarios/*.toml` (sorted). All parse errors are
/// returned, not only the first. A file whose links lead out of the suite folder is an error,
/// never read (nor is a linked folder outside walked).
pub fn load_suite(dir: &Path) -> Result<Suite, Vec<LoadError>> {
    let error = |file: &Path, message: String| LoadError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        message,
    };
    let scope = Scope::new(dir)
        .map_err(|e| vec![error(dir, format!("dossier de suite illisible : {e}"))])?;
    let suite_toml = dir.join("suite.toml");
    let meta = match scope.contains(&suite_toml) {
        Err(r) if r.escapes() => Err(error(&suite_toml, format!("non lu : {r}"))),
        _ => read_toml::<SuiteFile>(&suite_toml).map(|(m, _)| m),
    };
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    let scen_dir = dir.join("scenarios");
    let files = if scen_dir.is_dir() {
        scenario_files(&scope, &scen_dir, &mut errors)
    } else {
        errors.push(error(&scen_dir, "dossier scenarios/ absent".into()));
        Vec::new()
    };
    for f in files {
        match read_toml::<Scenario>(&f) {
            Ok((mut s, text)) => {
                s.file = f;
                s.source = text;
                scenarios.push(s);
            }
            Err(e) => errors.push(e),
        }
    }
    match meta {
        Ok(meta) if errors.is_empty() => Ok(Suite {
            meta,
            dir: dir.to_path_buf(),
            scenarios,
        }),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.insert(0, e);
            Err(errors)
        }
    }
}

/// The `.toml` files under `scenarios/` (sorted, links followed while they stay in the suite);
/// each entry whose links lead out is an error in `errors`, not walked nor read.
fn scenario_files(scope: &Scope, dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let mut outside = Vec::new();
    let files = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| match scope.contains(e.path()) {
            Err(r) if r.escapes() => {
                outside.push((e.path().to_path_buf(), r));
                false
            }
            _ => true,
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case("toml"))
        })
        .collect();
    for (p, r) in outside {
        errors.push(LoadError {
            file: p,
            line: None,
            column: None,
            message: format!("non lu : {r}"),
        });
    }
    files
}

pub fn load_participants(path: &Path) -> Result<ParticipantsFile, LoadError> {
    let (mut p, text): (ParticipantsFile, String) = read_toml(path)?;
    p.file = path.to_path_buf();
    p.source = text;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_line() {
        let dir = std::env::temp_dir().join(format!("banc-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.toml");
        std::fs::write(
            &f,
            "id = \"X\"\ntitle = \"t\"\nrole = \"producer\"\nlevel = \"N1\"\n\n[[step]]\nkind = \"submit\"\nexpekt = {}\n",
        )
        .unwrap();
        let e = read_toml::<Scenario>(&f).map(|_| ()).unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("expekt"), "{e}");
        std::fs::write(
            &f,
            "id = \"X\"\ntitle = \"t\"\nrole = \"producer\"\nlevel = \"N4\"\n",
        )
        .unwrap();
        let e = read_toml::<Scenario>(&f).map(|_| ()).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("N4"), "{e}");
        std::fs::write(
            &f,
            "id = \"X\"\ntitle = \"t\"\nrole = \"producer\"\nlevel = \"N1\"\ntimeout = \"10 minutes\"\n",
        )
        .unwrap();
        let e = read_toml::<Scenario>(&f).map(|_| ()).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
