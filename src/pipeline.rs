//! The document pipeline: xml → (profile) → xsd → schematrons → banc rules → terminology →
//! findings → verdict.
//! Every door (command line, mail, XDM, scenario) ends here.

use crate::cache::Cache;
use crate::clock::Deadline;
use crate::clock::stages::stage;
use crate::finding::report::{DocumentReport, KitStamp, RuleRun, RunReport};
use crate::finding::{Finding, Layer, Severity, Verdict};
use crate::kit::{Kit, KitError};
use crate::profile::{self, Profile};
use crate::schematron::engine::{self, Engine};
use crate::terminology::{Sources, Store};
use crate::xml::{self, Limits, Load};
use crate::xsd::{self, XsdValidator};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// Forced profile (`--profile`); detected from the templateIds when absent.
    pub profile: Option<Profile>,
    /// The project file's profile per document glob (`[[profile]]`), when none is forced.
    pub profile_globs: Vec<(crate::project::Glob, Profile)>,
    /// Findings at or above this severity fail a document.
    pub fail_on: Severity,
    /// Phase, added/replaced schematrons, SVRL output.
    pub schematron: crate::schematron::engine::Settings,
    /// Run the kit's schematrons (on by default when a kit is given).
    pub run_schematrons: bool,
    /// Terminology files and folders beside the kit's (`--terminology`).
    pub terminology: Vec<PathBuf>,
    /// The "circuit de la biologie" value set (`--circuit-bio`).
    pub circuit_bio: Option<PathBuf>,
    /// Time the checks of one document may take, by its size.
    pub budget: Budget,
}

/// The work budget of a document: `base` + `per_mib` × its size in MiB, from the start of its
/// reading (compiling the kit's rules excluded). At the end the engine at work stops at its
/// next safe point with `banc.limit.budget` and the document gets verdict `error`: a
/// hostile document costs a bounded time, never a hang.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub base: Duration,
    pub per_mib: Duration,
}

impl Default for Budget {
    /// Far above real documents: the ANS examples and the training set take at most 0.6 s
    /// (a few hundred KB), a CR-BIO of 10,000 result entries (21 MB) about 7 s with the kit on
    /// this 2-core machine; their budgets are 10.5 s and 52 s.
    fn default() -> Budget {
        Budget {
            base: Duration::from_secs(10),
            per_mib: Duration::from_secs(2),
        }
    }
}

impl Budget {
    /// No limit.
    pub fn unlimited() -> Budget {
        Budget {
            base: Duration::MAX,
            per_mib: Duration::ZERO,
        }
    }

    /// The budget of a document of `bytes` bytes (saturating).
    pub fn for_size(&self, bytes: usize) -> Duration {
        let mib = bytes as f64 / (1024.0 * 1024.0);
        let scaled =
            Duration::try_from_secs_f64(self.per_mib.as_secs_f64() * mib).unwrap_or(Duration::MAX);
        self.base.saturating_add(scaled)
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            limits: Limits::default(),
            profile: None,
            profile_globs: Vec::new(),
            fail_on: Severity::Error,
            schematron: Default::default(),
            run_schematrons: true,
            terminology: Vec::new(),
            circuit_bio: None,
            budget: Budget::default(),
        }
    }
}

/// Everything compiled once per run and shared by the threads validating documents.
pub struct Validator {
    kit: Option<Kit>,
    xsd: Option<XsdValidator>,
    schematron: Option<Engine>,
    terminology: Store,
    opts: Options,
}

/// What a run reads from the cache under the kit's last known fingerprint while it checks the
/// kit's files ([`crate::kit::indexed_fingerprint`]): the value sets and the plans every
/// profile runs. Only read, never built or written: were the kit changed since, nothing would
/// be kept under its stale fingerprint.
struct Guess {
    fingerprint: String,
    terminology: Option<Result<Store, String>>,
    engine: Option<Engine>,
}

impl Guess {
    fn read(kit_dir: &Path, opts: &Options, cache: &Cache) -> Option<Guess> {
        let fingerprint = crate::kit::indexed_fingerprint(kit_dir, cache)?;
        let terminology = Store::read_cached(
            &Validator::sources(Some(kit_dir.to_path_buf()), opts),
            cache,
            &fingerprint,
        );
        let engine = opts.run_schematrons.then(|| {
            let engine = Validator::new_engine(kit_dir, &fingerprint, opts, cache);
            let all = profile::all();
            engine.prefetch_common(&Validator::profiles(&all, opts));
            engine
        });
        Some(Guess {
            fingerprint,
            terminology,
            engine,
        })
    }
}

impl Validator {
    /// Compile the kit's schema (once for the whole run).
    pub fn new(kit: Option<Kit>, opts: Options) -> Result<Validator, KitError> {
        Validator::with_cache(kit, opts, &Cache::none())
    }

    /// [`Validator::new`], what the kit compiles to (schematron plans, value sets) read from
    /// `cache` when it holds it for this kit and banc, else built and kept there.
    pub fn with_cache(
        kit: Option<Kit>,
        opts: Options,
        cache: &Cache,
    ) -> Result<Validator, KitError> {
        let xsd = kit.as_ref().map(Kit::xsd_path);
        Validator::assemble(xsd, || Ok(kit), |_| None, opts, cache)
    }

    /// Open the kit at `kit_dir` (fingerprint from `cache`'s file index) and build the run's
    /// validator, as [`Validator::with_cache`]. The kit's schema, the longest part of a warm
    /// start, is compiled by libxml2 on another thread meanwhile.
    pub fn open(
        kit_dir: Option<&Path>,
        opts: Options,
        cache: &Cache,
    ) -> Result<Validator, KitError> {
        let xsd = kit_dir.map(|d| d.join(crate::kit::CDA_XSD));
        let kit = || kit_dir.map(|d| Kit::open_cached(d, cache)).transpose();
        let guess = |opts: &Options| kit_dir.and_then(|d| Guess::read(d, opts, cache));
        Validator::assemble(xsd, kit, guess, opts, cache)
    }

    /// The schema at `xsd` compiled on its own thread while `kit` opens and its value sets load.
    /// Meanwhile `guess` reads from the cache what the kit's last known fingerprint keys (see
    /// [`Guess`]), kept if the kit has not changed since.
    fn assemble(
        xsd: Option<PathBuf>,
        kit: impl FnOnce() -> Result<Option<Kit>, KitError>,
        guess: impl FnOnce(&Options) -> Option<Guess> + Send,
        opts: Options,
        cache: &Cache,
    ) -> Result<Validator, KitError> {
        let (kit, xsd, schematron, terminology) = std::thread::scope(|s| {
            let xsd = xsd.map(|path| s.spawn(move || XsdValidator::compile(&path)));
            let guess = s.spawn(|| guess(&opts));
            let kit = kit()?;
            let guess = guess
                .join()
                .ok()
                .flatten()
                .filter(|g| kit.as_ref().is_some_and(|k| k.fingerprint == g.fingerprint));
            let (terminology, engine) = guess.map_or((None, None), |g| (g.terminology, g.engine));
            let terminology = terminology
                .unwrap_or_else(|| {
                    Store::load_cached(
                        &Validator::sources(kit.as_ref().map(|k| k.root.clone()), &opts),
                        cache,
                        kit.as_ref().map(|k| k.fingerprint.as_str()),
                    )
                })
                .map_err(KitError)?;
            let schematron = Validator::engine(kit.as_ref(), &opts, cache, engine)?;
            let xsd = xsd
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("compilation du schéma XSD interrompue".into()))
                })
                .transpose()
                .map_err(KitError)?;
            Ok::<_, KitError>((kit, xsd, schematron, terminology))
        })?;
        Ok(Validator {
            kit,
            xsd,
            schematron,
            terminology,
            opts,
        })
    }

    /// The kit's schematron engine, its phase checked and the plans every profile runs built
    /// (or read from the cache). `started`: that engine, begun by [`Guess::read`] for this kit.
    fn engine(
        kit: Option<&Kit>,
        opts: &Options,
        cache: &Cache,
        started: Option<Engine>,
    ) -> Result<Option<Engine>, KitError> {
        let Some(k) = kit.filter(|_| opts.run_schematrons) else {
            return Ok(None);
        };
        let engine =
            started.unwrap_or_else(|| Validator::new_engine(&k.root, &k.fingerprint, opts, cache));
        let all = profile::all();
        let profiles = Validator::profiles(&all, opts);
        engine.check_phase(&profiles).map_err(KitError)?;
        engine.prepare_common(&profiles);
        Ok(Some(engine))
    }

    fn new_engine(root: &Path, fingerprint: &str, opts: &Options, cache: &Cache) -> Engine {
        Engine::new(root, opts.schematron.clone()).with_cache(cache.clone(), fingerprint)
    }

    /// The profiles a run may meet: the forced one, else all.
    fn profiles<'a>(all: &'a [Profile], opts: &'a Options) -> Vec<&'a Profile> {
        match &opts.profile {
            Some(p) => vec![p],
            None => all.iter().collect(),
        }
    }

    /// Where the run's value sets come from.
    fn sources(kit: Option<PathBuf>, opts: &Options) -> Sources {
        Sources {
            kit,
            extra: opts.terminology.clone(),
            circuit_bio: opts.circuit_bio.clone(),
        }
    }

    /// The value sets of the run.
    pub fn terminology(&self) -> &Store {
        &self.terminology
    }

    /// The schematron engine (with a kit).
    pub fn schematron(&self) -> Option<&Engine> {
        self.schematron.as_ref()
    }

    /// Defects of the kit met during the run (case-insensitive includes, repaired value sets...).
    pub fn kit_issues(&self) -> Vec<crate::schematron::KitIssue> {
        self.schematron
            .as_ref()
            .map(|e| e.issues())
            .unwrap_or_default()
    }

    /// Findings at or above this severity fail a document.
    pub fn fail_on(&self) -> Severity {
        self.opts.fail_on
    }

    /// The report of a run over `docs`: the kit (with the defects met) and terminology stamps.
    pub fn run_report(&self, docs: Vec<DocumentReport>) -> RunReport {
        let mut stamp = self.kit_stamp();
        if let Some(s) = &mut stamp {
            s.issues = self.kit_issues().into_iter().map(Into::into).collect();
        }
        let mut report = RunReport::new(stamp, self.opts.fail_on, docs);
        report.terminology = Some(self.terminology.stamp());
        report
    }

    /// The kit is one `banc kit fetch` installed: reports name it by ref and archive. A kit
    /// whose files changed since it was fetched is refused: it would be judged under a ref it
    /// no longer is.
    pub fn installed_kit(
        &mut self,
        source: crate::finding::report::KitSource,
        fetched: &str,
    ) -> Result<(), String> {
        let Some(kit) = self.kit.as_mut() else {
            return Ok(());
        };
        if kit.fingerprint != fetched {
            return Err(format!(
                "le kit installé « {} » ({}) a changé depuis banc kit fetch (empreinte {} au lieu de {}) : banc kit fetch {} --force le réinstalle",
                source.reference,
                kit.root.display(),
                kit.fingerprint,
                fetched,
                source.reference
            ));
        }
        kit.source = Some(source);
        Ok(())
    }

    pub fn kit_stamp(&self) -> Option<KitStamp> {
        self.kit.as_ref().map(|k| KitStamp {
            path: k.root.display().to_string(),
            fingerprint: k.fingerprint.clone(),
            issues: Vec::new(),
            source: k.source.clone(),
        })
    }

    /// Read and validate one file; `display` is the path as the user should see it.
    pub fn validate_file(&self, path: &Path, display: &str) -> DocumentReport {
        let start = Instant::now();
        match self.read_bounded(path, display, start) {
            Ok(bytes) => {
                let mut r = self.validate_bytes(display, &bytes);
                r.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
                r
            }
            Err(report) => *report,
        }
    }

    /// The file's bytes, within `--max-size`; else the report saying why it was not checked.
    pub fn read_bounded(
        &self,
        path: &Path,
        display: &str,
        start: Instant,
    ) -> Result<Vec<u8>, Box<DocumentReport>> {
        let max = self.opts.limits.max_bytes;
        let e = match crate::files::read_bounded(path, max) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => e,
        };
        let finding = match e.reason {
            crate::files::Unread::TooLarge { .. } => {
                // The size on disk when it can be told (the file may also have grown while read).
                let size = std::fs::metadata(path).map_or(max + 1, |m| m.len().max(max + 1));
                xml::size_finding(size, max)
            }
            reason => Finding::new(
                xml::IO_READ.id,
                xml::IO_READ.severity,
                xml::IO_READ.layer,
                format!("Lecture du fichier impossible : {reason}"),
            ),
        };
        Err(Box::new(unchecked(display, finding, start)))
    }

    /// Validate a document held in memory (from a file, a mail, an XDM package...). A panic
    /// in banc while judging it is the document's `banc.internal.panic` finding.
    pub fn validate_bytes(&self, name: &str, bytes: &[u8]) -> DocumentReport {
        let start = Instant::now();
        crate::banc::internal::guard(|| self.judge(name, bytes, start, None))
            .unwrap_or_else(|f| self.finish(name, None, vec![*f], Vec::new(), true, start, bytes))
    }

    /// [`Validator::validate_bytes`], and the document's CDA header read from the same parse
    /// (None when the document could not be loaded): one parse for a door that needs both.
    pub fn validate_bytes_with_header(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> (DocumentReport, Option<crate::cda::header::CdaHeader>) {
        let start = Instant::now();
        let mut header = None;
        let report =
            crate::banc::internal::guard(|| self.judge(name, bytes, start, Some(&mut header)))
                .unwrap_or_else(|f| {
                    self.finish(name, None, vec![*f], Vec::new(), true, start, bytes)
                });
        (report, header)
    }

    /// The report of an input whose judging stopped on a `banc.internal.*` finding: not
    /// checked (verdict error), the finding says why.
    pub fn internal_error_report(&self, name: &str, finding: Finding) -> DocumentReport {
        self.finish(
            name,
            None,
            vec![finding],
            Vec::new(),
            true,
            Instant::now(),
            &[],
        )
    }

    fn judge(
        &self,
        name: &str,
        bytes: &[u8],
        start: Instant,
        header: Option<&mut Option<crate::cda::header::CdaHeader>>,
    ) -> DocumentReport {
        let mut findings = Vec::new();
        let mut ran = Vec::new();
        let load = stage(
            || "lecture XML".into(),
            || xml::load(xml::Input { name, bytes }, &self.opts.limits, &mut findings),
        );
        let loaded = match load {
            Load::Ready(d) => d,
            Load::Failed => return self.finish(name, None, findings, ran, false, start, bytes),
            Load::Unchecked => return self.finish(name, None, findings, ran, true, start, bytes),
        };
        if let Some(h) = header {
            *h = Some(crate::cda::header::from_node(loaded.cda()));
        }
        if !findings.iter().any(|f| f.severity >= Severity::Warning) {
            ran.push(xml::WELLFORMED.ran());
        }
        let forced = self.opts.profile.clone().or_else(|| {
            self.opts
                .profile_globs
                .iter()
                .find(|(glob, _)| glob.matches(name))
                .map(|(_, p)| p.clone())
        });
        let profile = stage(
            || "profil".into(),
            || match forced {
                Some(p) => profile::forced(&loaded, p, &mut findings),
                None => profile::detect(&loaded, &mut findings),
            },
        );
        let document_id = crate::cda::header::document_id(loaded.cda());
        let mut deadline = Deadline::new(start, self.opts.budget.for_size(bytes.len()));
        if let Some(engine) = &self.schematron {
            let t = Instant::now();
            engine.prepare(&profile);
            deadline.postpone(t.elapsed());
        }
        // Where the deadline stopped the checks (in or before an engine), and that engine's layer.
        let mut stopped: Option<(String, Layer)> = None;
        if let Some(x) = &self.xsd {
            if deadline.passed() {
                stopped = Some(("avant la validation XSD".into(), Layer::Xsd));
            } else {
                let errs = stage(|| "XSD".into(), || x.validate(&loaded));
                if errs.is_empty() {
                    ran.push(xsd::SCHEMA.ran());
                }
                findings.extend(errs);
            }
        }
        if stopped.is_none()
            && let Some(engine) = &self.schematron
            && let Some(what) =
                engine.check(name, &loaded, &profile, &mut findings, &mut ran, &deadline)
        {
            stopped = Some((what, Layer::Schematron));
        }
        if stopped.is_none() {
            let (banc_findings, banc_ran, cut) = stage(
                || "règles banc".into(),
                || crate::banc::run(&loaded, &profile, &deadline),
            );
            findings.extend(banc_findings);
            ran.extend(banc_ran);
            if cut {
                stopped = Some(("pendant les règles banc".into(), Layer::Banc));
            }
        }
        if stopped.is_none() {
            let (term_findings, term_ran, cut) = stage(
                || "terminologie".into(),
                || crate::terminology::checks::run(&loaded, &profile, &self.terminology, &deadline),
            );
            findings.extend(term_findings);
            ran.extend(term_ran);
            if cut {
                stopped = Some((
                    "pendant les contrôles de terminologie".into(),
                    Layer::Terminology,
                ));
            }
        }
        if let Some((what, layer)) = stopped {
            findings.push(crate::finding::budget_finding(
                &what,
                layer,
                deadline.elapsed(),
                deadline.budget().unwrap_or_default(),
            ));
        }
        stage(|| "libération de l'arbre".into(), || drop(loaded));
        let mut report = stage(
            || "rapport".into(),
            || self.finish(name, Some(profile.id), findings, ran, false, start, bytes),
        );
        report.document_id = document_id;
        report
    }

    /// The report of a container (an e-mail, an IHE_XDM package): its own findings (layers
    /// `mail`, `transport`, `xdm`), judged with the run's `--fail-on`. `ran` lists the rules that
    /// ran without finding anything (JUnit test cases); `kind` is shown as the profile
    /// (`mssante-message`, `ihe-xdm`). The documents inside get their own reports.
    pub fn container_report(
        &self,
        name: &str,
        kind: &str,
        findings: Vec<Finding>,
        ran: Vec<RuleRun>,
    ) -> DocumentReport {
        // A container that could not be opened at all (not a zip, not MIME) is not checked.
        let unchecked = findings.iter().any(|f| f.rule.ends_with(".unreadable"));
        self.finish(
            name,
            Some(kind),
            findings,
            ran,
            unchecked,
            Instant::now(),
            &[],
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        name: &str,
        profile: Option<&str>,
        mut findings: Vec<Finding>,
        mut ran: Vec<RuleRun>,
        unchecked: bool,
        start: Instant,
        source: &[u8],
    ) -> DocumentReport {
        // Layer order, then position in the document: stable, deterministic output.
        findings.sort_by(|a, b| {
            (a.layer, a.location.line, a.location.column).cmp(&(
                b.layer,
                b.location.line,
                b.location.column,
            ))
        });
        // Every rule that produced a finding is a rule that ran (one JUnit case per id).
        for f in &findings {
            if !ran.iter().any(|r| r.rule == f.rule) {
                ran.push(engine_run(&f.rule, f.layer, &f.message));
            }
        }
        // A schematron the kit cannot run, or a budget spent, leaves the document not fully
        // checked.
        let unchecked = unchecked
            || findings.iter().any(|f| {
                f.rule == engine::UNUSABLE.id || f.rule == crate::finding::LIMIT_BUDGET.id
            });
        let verdict = if unchecked {
            Verdict::Error
        } else if findings.iter().any(|f| f.severity >= self.opts.fail_on) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        DocumentReport {
            path: name.to_string(),
            profile: profile.map(str::to_string),
            document_id: None,
            verdict,
            rules_run: ran,
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            excerpts: crate::finding::report::excerpts(source, &findings),
            findings,
        }
    }
}

/// A rule that ran, for [`DocumentReport::rules_run`].
pub fn engine_run(rule: &str, layer: Layer, title: &str) -> RuleRun {
    RuleRun {
        rule: rule.to_string(),
        layer,
        title: title.to_string(),
    }
}

fn unchecked(display: &str, f: Finding, start: Instant) -> DocumentReport {
    DocumentReport {
        path: display.to_string(),
        profile: None,
        document_id: None,
        verdict: Verdict::Error,
        rules_run: vec![engine_run(&f.rule, f.layer, &f.message)],
        findings: vec![f],
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        excerpts: Default::default(),
    }
}

/// What every door that judges documents (mail server, IMAP fetch, XDM check, scenario runner)
/// needs to build its [`Validator`]: the same meaning as `banc validate`'s options.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Kit folder laid out like the ANS TestContenuCDA kit (XSD, schematrons, value sets).
    pub kit: Option<PathBuf>,
    /// More value sets (IHE SVS .xml, FHIR .json; files or folders).
    pub terminology: Vec<PathBuf>,
    /// The "circuit de la biologie" value set (.xlsx or .csv).
    pub circuit_bio: Option<PathBuf>,
    /// Skip the kit's schematrons (XSD and banc's rules only).
    pub no_schematron: bool,
}

impl CheckOptions {
    /// Open the kit and compile the run's validator.
    pub fn validator(&self) -> Result<Validator, KitError> {
        let kit = match &self.kit {
            Some(dir) => Some(Kit::open(dir)?),
            None => None,
        };
        let opts = Options {
            run_schematrons: !self.no_schematron,
            terminology: self.terminology.clone(),
            circuit_bio: self.circuit_bio.clone(),
            ..Options::default()
        };
        Validator::new(kit, opts)
    }
}
