//! The schematron layer in the pipeline: which schematrons a profile runs, their plans compiled
//! once per process, findings and SVRL out of each run.

use super::eval::{self, Docs, Outcome, Plan};
use super::{CheckKind, KitIssue};
use crate::clock::Deadline;
use crate::clock::stages::stage;
use crate::finding::report::RuleRun;
use crate::finding::{Finding, Layer, Location, Rule, SchematronRef, Severity};
use crate::profile::Profile;
use crate::xml::Loaded;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A schematron of the profile cannot be used at all (kit defect).
pub const UNUSABLE: &Rule = &crate::rule! {
    id: "schematron.unusable",
    layer: Layer::Schematron,
    severity: Severity::Error,
    message: "Schématron inutilisable, ses règles n'ont pas été vérifiées :",
    hint: "The kit cannot run this schematron (see `banc kit check`); the document is not fully checked.",
    spec: "",
};
/// The SVRL of a run could not be written (`--svrl DIR`).
pub const SVRL_WRITE: &Rule = &crate::rule! {
    id: "schematron.svrl.write",
    layer: Layer::Schematron,
    severity: Severity::Warning,
    message: "Écriture du SVRL impossible :",
    hint: "",
    spec: "",
};

/// Every static `schematron.*` rule. The kit's asserts are `schematron.<stem>.<id>` (see
/// `eval::Plan::build`), a run of a file `schematron.<stem>`, its evaluation errors
/// `schematron.<stem>.runtime-error`: ids that depend on the kit, listed by `banc rules --kit`.
pub static RULES: &[&Rule] = &[UNUSABLE, SVRL_WRITE];
/// Runtime errors per schematron and document kept as findings (the rest is counted).
const MAX_ERRORS: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--phase`: used by every schematron that declares it (`#ALL` for all); others keep theirs.
    pub phase: Option<String>,
    /// `--schematron FILE`: run after the profile's own.
    pub added: Vec<PathBuf>,
    /// `--replace-schematron NAME=FILE`: NAME is a profile schematron's file name or kit path.
    pub replaced: Vec<(String, PathBuf)>,
    /// `--svrl DIR`: one SVRL file per document and schematron.
    pub svrl_dir: Option<PathBuf>,
}

type Slot = Arc<OnceLock<Result<Arc<Plan>, KitIssue>>>;

pub struct Engine {
    kit_root: PathBuf,
    settings: Settings,
    plans: Mutex<HashMap<PathBuf, Slot>>,
    /// Kit issues met while loading (case-insensitive includes...), reported once per run.
    issues: Mutex<Vec<KitIssue>>,
    /// Documents the rules read (value sets), shared by this engine's plans.
    docs: Arc<Docs>,
    /// Where plans of the kit's own schematrons are kept between processes, and the kit's
    /// fingerprint that keys them.
    cache: Option<(crate::cache::Cache, String)>,
}

impl Engine {
    pub fn new(kit_root: &Path, mut settings: Settings) -> Engine {
        // The user's schematrons are named from the working folder; their `doc()` and includes
        // resolve from their own folder, so they are made absolute once here.
        let absolute = |p: &mut PathBuf| {
            if let Ok(a) = std::path::absolute(&*p) {
                *p = a;
            }
        };
        settings.added.iter_mut().for_each(absolute);
        settings.replaced.iter_mut().for_each(|(_, p)| absolute(p));
        Engine {
            kit_root: kit_root.to_path_buf(),
            settings,
            plans: Mutex::new(HashMap::new()),
            issues: Mutex::new(Vec::new()),
            docs: Arc::default(),
            cache: None,
        }
    }

    /// Keep the plans of the kit's schematrons in `cache`, keyed by the kit's `fingerprint`
    /// (and banc's version, the phase): a later process reads them instead of translating the
    /// kit again.
    pub fn with_cache(mut self, cache: crate::cache::Cache, fingerprint: &str) -> Engine {
        self.docs.keep_repairs_in(cache.clone(), fingerprint);
        self.cache = Some((cache, fingerprint.to_string()));
        self
    }

    /// The schematron files `profile` runs, in order, with the user's replacements and additions.
    pub fn files_for(&self, profile: &Profile) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = profile
            .schematrons
            .iter()
            .map(|rel| {
                let name = Path::new(rel).file_name().map(|n| n.to_string_lossy());
                self.settings
                    .replaced
                    .iter()
                    .find(|(k, _)| k == rel || Some(k.as_str()) == name.as_deref())
                    .map(|(_, p)| p.clone())
                    .unwrap_or_else(|| self.kit_root.join(rel))
            })
            .collect();
        out.extend(self.settings.added.iter().cloned());
        out
    }

    /// `--phase` must name a phase that one of the schematrons `profiles` run declares (or
    /// `#ALL`): a misspelt phase would otherwise silently run the default phases. The error lists
    /// the phases each schematron declares.
    pub fn check_phase(&self, profiles: &[&Profile]) -> Result<(), String> {
        let Some(phase) = self.settings.phase.as_deref().filter(|p| *p != "#ALL") else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = profiles.iter().flat_map(|p| self.files_for(p)).collect();
        files.sort();
        files.dedup();
        let mut declared = Vec::new();
        for f in &files {
            // A schematron that cannot be loaded is reported when it runs; here it declares nothing.
            let Ok(schema) = super::load(&self.kit_root, f) else {
                continue;
            };
            if schema.phases.iter().any(|p| p.id == phase) {
                return Ok(());
            }
            if !schema.phases.is_empty() {
                let ids: Vec<&str> = schema.phases.iter().map(|p| p.id.as_str()).collect();
                declared.push(format!("{} : {}", schema.file, ids.join(", ")));
            }
        }
        Err(if declared.is_empty() {
            format!(
                "--phase « {phase} » : aucun des schématrons exécutés ne déclare de phase (seule #ALL s'applique)"
            )
        } else {
            format!(
                "--phase « {phase} » : aucun des schématrons exécutés ne déclare cette phase (ou #ALL). Phases déclarées :\n  {}",
                declared.join("\n  ")
            )
        })
    }

    /// Where the plan of `sch` is kept and its key: only for a file of the kit, whose
    /// fingerprint says when the plan is stale.
    fn plan_key(&self, sch: &Path) -> Option<(&crate::cache::Cache, [String; 3])> {
        let (cache, fp) = self
            .cache
            .as_ref()
            .filter(|_| sch.starts_with(&self.kit_root))?;
        let phase = self.settings.phase.clone().unwrap_or_default();
        Some((cache, [fp.clone(), sch.display().to_string(), phase]))
    }

    /// The plan of `sch` read from the cache, its defects noted; `None` on a miss.
    fn cached_plan(&self, sch: &Path) -> Option<Arc<Plan>> {
        let (cache, k) = self.plan_key(sch)?;
        let k: Vec<&str> = k.iter().map(String::as_str).collect();
        let (schema_issues, plan) = cache.read::<(Vec<KitIssue>, Plan)>("plan", &k)?;
        let mut issues = self.issues.lock().unwrap_or_else(|e| e.into_inner());
        issues.extend(schema_issues);
        issues.extend(plan.issues.iter().cloned());
        Some(Arc::new(plan.with_docs(self.docs.clone())))
    }

    /// The plans every one of `profiles` runs that the cache holds, read now; nothing is built
    /// (see `pipeline::Validator::open`: this may run before the kit's fingerprint is known
    /// for sure, and a plan built then could be kept under a stale key).
    pub fn prefetch_common(&self, profiles: &[&Profile]) {
        for sch in self.common_files(profiles) {
            let slot = {
                let mut m = self.plans.lock().unwrap_or_else(|e| e.into_inner());
                m.entry(sch.clone()).or_default().clone()
            };
            if slot.get().is_none()
                && let Some(plan) = self.cached_plan(&sch)
            {
                let _ = slot.set(Ok(plan));
            }
        }
    }

    /// The schematrons every one of `profiles` runs.
    fn common_files(&self, profiles: &[&Profile]) -> Vec<PathBuf> {
        let Some((first, rest)) = profiles.split_first() else {
            return Vec::new();
        };
        let others: Vec<Vec<PathBuf>> = rest.iter().map(|p| self.files_for(p)).collect();
        self.files_for(first)
            .into_iter()
            .filter(|sch| others.iter().all(|files| files.contains(sch)))
            .collect()
    }

    /// The compiled plan of `sch` (absolute), built on first use and shared by every thread.
    pub fn plan(&self, sch: &Path) -> Result<Arc<Plan>, KitIssue> {
        let slot = {
            let mut m = self.plans.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(sch.to_path_buf()).or_default().clone()
        };
        slot.get_or_init(|| {
            crate::xml::ffi::init().map_err(|message| KitIssue {
                rule: crate::kit::rules::LIBXML2_UNSUPPORTED.id,
                severity: crate::kit::rules::LIBXML2_UNSUPPORTED.severity,
                file: sch.display().to_string(),
                line: 0,
                message,
            })?;
            if let Some(plan) = self.cached_plan(sch) {
                return Ok(plan);
            }
            let schema = super::load(&self.kit_root, sch)?;
            let phase = match self.settings.phase.as_deref() {
                Some("#ALL") => Some("#ALL"),
                Some(p) if schema.phases.iter().any(|ph| ph.id == p) => Some(p),
                _ => None,
            };
            let plan = Plan::build_with(&self.kit_root, &schema, phase, self.docs.clone())
                .map_err(|message| KitIssue {
                    rule: crate::kit::rules::PHASE_UNKNOWN.id,
                    severity: crate::kit::rules::PHASE_UNKNOWN.severity,
                    file: schema.file.clone(),
                    line: 0,
                    message,
                })?;
            if let Some((cache, k)) = self.plan_key(sch) {
                let k: Vec<&str> = k.iter().map(String::as_str).collect();
                // Its rule contexts compiled for banc's evaluator and their shared prefixes,
                // which every document needs, are kept with it.
                plan.prefixes();
                cache.write("plan", &k, &(&schema.issues, &plan));
            }
            let mut issues = self.issues.lock().unwrap_or_else(|e| e.into_inner());
            issues.extend(schema.issues.iter().cloned());
            issues.extend(plan.issues.iter().cloned());
            Ok(Arc::new(plan))
        })
        .clone()
    }

    /// Kit issues met so far (loading and value-set repairs), each once.
    pub fn issues(&self) -> Vec<KitIssue> {
        let mut v = self
            .issues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for slot in self
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            if let Some(Err(e)) = slot.get() {
                v.push(e.clone());
            }
        }
        for r in self.docs.repairs() {
            v.push(KitIssue {
                rule: crate::kit::rules::VALUESET_FALLBACK.id,
                severity: crate::kit::rules::VALUESET_FALLBACK.severity,
                file: r.file,
                line: 0,
                message: r.message,
            });
        }
        v.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
        v.dedup();
        v
    }

    /// Run one schematron on a loaded document (tests, benchmarks, tools).
    pub fn outcome(&self, sch: &Path, loaded: &Loaded) -> Result<(Arc<Plan>, Outcome), KitIssue> {
        let plan = self.plan(sch)?;
        let index = eval::DocIndex::build(&loaded.doc);
        let out = eval::run(&plan, &loaded.doc, &index);
        Ok((plan, out))
    }

    /// Build (or read from the cache) the plans `profile` runs: work done once per process, not
    /// the document's. Their expressions are compiled on each thread as they are first used.
    /// Defects are reported when the plans are used.
    pub fn prepare(&self, profile: &Profile) {
        for sch in self.files_for(profile) {
            let _ = self.plan(&sch);
        }
    }

    /// [`Engine::prepare`] for the schematrons every one of `profiles` runs: what a run can
    /// build before it has read a document, while the kit's schema compiles.
    pub fn prepare_common(&self, profiles: &[&Profile]) {
        for sch in self.common_files(profiles) {
            let _ = self.plan(&sch);
        }
    }

    /// Run the profile's schematrons on a loaded document, until `deadline`: when it passes,
    /// where the run stopped, in words (« pendant le schématron X »); the findings made so far
    /// are kept.
    pub fn check(
        &self,
        doc_name: &str,
        loaded: &Loaded,
        profile: &Profile,
        findings: &mut Vec<Finding>,
        ran: &mut Vec<RuleRun>,
        deadline: &Deadline,
    ) -> Option<String> {
        let index = stage(
            || "schématrons : index".into(),
            || eval::DocIndex::build(&loaded.doc),
        );
        for sch in self.files_for(profile) {
            let plan = match self.plan(&sch) {
                Ok(p) => p,
                Err(issue) => {
                    findings.push(
                        Finding::new(
                            UNUSABLE.id,
                            UNUSABLE.severity,
                            UNUSABLE.layer,
                            format!(
                                "Schématron inutilisable, ses règles n'ont pas été vérifiées : {} \
                                 ({}{})",
                                issue.message,
                                issue.file,
                                if issue.line > 0 {
                                    format!(", ligne {}", issue.line)
                                } else {
                                    String::new()
                                }
                            ),
                        )
                        .hint(UNUSABLE.hint),
                    );
                    continue;
                }
            };
            if deadline.passed() {
                return Some(format!("avant le schématron {}", plan.file));
            }
            let outcome = stage(
                || format!("schématron {}", plan.file),
                || eval::run_until(&plan, &loaded.doc, &index, deadline),
            );
            ran.push(RuleRun {
                rule: format!("schematron.{}", plan.stem),
                layer: Layer::Schematron,
                title: format!(
                    "Schématron {} (phase {}) : {} règles déclenchées",
                    plan.file,
                    plan.phase,
                    outcome.fired_rules()
                ),
            });
            stage(
                || "schématrons : constats".into(),
                || convert(&plan, &outcome, loaded, findings),
            );
            COLLECTED.with(|c| {
                if let Some(kept) = c.borrow_mut().as_mut() {
                    kept.push((
                        svrl_name(doc_name, &plan.stem),
                        svrl(&plan, &outcome, loaded),
                    ));
                }
            });
            if let Some(dir) = &self.settings.svrl_dir
                && let Err(e) = write_svrl(dir, doc_name, &plan, &outcome, loaded)
            {
                findings.push(Finding::new(
                    SVRL_WRITE.id,
                    SVRL_WRITE.severity,
                    SVRL_WRITE.layer,
                    format!("Écriture du SVRL impossible dans {} : {e}", dir.display()),
                ));
            }
            if outcome.stopped {
                return Some(format!("pendant le schématron {}", plan.file));
            }
        }
        None
    }
}

/// Location of a node an [`Outcome`] names (the document node is `/`). Only addresses of
/// `loaded`'s tree are looked at: another address gives an empty location.
pub fn location(loaded: &Loaded, node: usize) -> Location {
    if node == loaded.doc.raw() as usize || node == 0 {
        return Location {
            xpath: Some("/".into()),
            line: None,
            column: None,
        };
    }
    match loaded.node_at(node) {
        Some(n) => loaded.locate(n),
        None => Location::default(),
    }
}

fn convert(plan: &Plan, out: &Outcome, loaded: &Loaded, findings: &mut Vec<Finding>) {
    let terminologie = crate::profile::UNCOUNTED_SCH.contains(&plan.file.as_str());
    for (pi, run) in out.patterns.iter().enumerate() {
        let pattern = &plan.patterns[pi];
        for fired in &run.fired {
            let rule = &pattern.rules[fired.rule];
            for hit in &fired.hits {
                let check = &rule.checks[hit.check];
                let mut severity = check.severity;
                if terminologie {
                    severity = severity.min(Severity::Warning);
                }
                let mut f = Finding::new(
                    check.rule_id.clone(),
                    severity,
                    Layer::Schematron,
                    hit.text.clone(),
                )
                .at(location(loaded, fired.node));
                if terminologie {
                    f = f.hint(
                        "terminologie.sch: recorded but not counted in the verdict, as the \
                         reference does (the kit lacks several terminology files).",
                    );
                }
                f.schematron = Some(SchematronRef {
                    file: plan.file.clone(),
                    kind: match check.kind {
                        CheckKind::Assert => "assert",
                        CheckKind::Report => "report",
                    },
                    pattern: pattern.id.clone().unwrap_or_default(),
                    context: rule.context.clone(),
                    test: check.test.clone(),
                    id: check.id.clone(),
                    role: check.role.clone(),
                });
                findings.push(f);
            }
        }
    }
    for e in out.errors.iter().take(MAX_ERRORS) {
        let rule = &plan.patterns[e.pattern].rules[e.rule];
        let mut f = Finding::new(
            format!("schematron.{}.runtime-error", plan.stem),
            Severity::Error,
            Layer::Schematron,
            format!(
                "Erreur d'évaluation dans {} (règle « {} ») : {}",
                plan.file, rule.context, e.message
            ),
        )
        .at(location(loaded, e.node));
        f = f.hint("The rule could not be evaluated; the reference would stop this schematron.");
        findings.push(f);
    }
    if out.errors.len() > MAX_ERRORS {
        findings.push(Finding::new(
            crate::finding::LIMIT_FINDINGS.id,
            crate::finding::LIMIT_FINDINGS.severity,
            Layer::Schematron,
            format!(
                "{} autres erreurs d'évaluation de {} non listées",
                out.errors.len() - MAX_ERRORS,
                plan.file
            ),
        ));
    }
}

thread_local! {
    /// The SVRL kept for a [`collect_svrl`] running on this thread.
    static COLLECTED: std::cell::RefCell<Option<Vec<(String, String)>>> =
        const { std::cell::RefCell::new(None) };
}

/// Run `f` and return, beside its result, the SVRL of every schematron run it made on this
/// thread: (file name as `--svrl` writes it, SVRL text). A server keeps each upload's SVRL this
/// way, without a folder shared by concurrent requests (a document is judged on one thread).
pub fn collect_svrl<R>(f: impl FnOnce() -> R) -> (R, Vec<(String, String)>) {
    /// Puts back the outer collection, also when `f` unwinds.
    struct Restore(Option<Vec<(String, String)>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            COLLECTED.with(|c| *c.borrow_mut() = outer);
        }
    }
    let _restore = Restore(COLLECTED.with(|c| c.borrow_mut().replace(Vec::new())));
    let r = f();
    let kept = COLLECTED
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();
    (r, kept)
}

/// File name for a document's SVRL: the document name made safe, then the schematron's stem.
pub fn svrl_name(doc_name: &str, stem: &str) -> String {
    let safe: String = doc_name
        .trim_start_matches("./")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.{stem}.svrl")
}

/// Standard SVRL (ISO/IEC 19757-3 annex D) for one document and schematron.
pub fn svrl(plan: &Plan, out: &Outcome, loaded: &Loaded) -> String {
    let mut x = crate::xmlw::Xml::new(2);
    x.start(
        "svrl:schematron-output",
        &[
            ("xmlns:svrl", "http://purl.oclc.org/dsdl/svrl"),
            ("title", &plan.file),
            ("phase", &plan.phase),
        ],
    );
    for (pi, run) in out.patterns.iter().enumerate() {
        let pattern = &plan.patterns[pi];
        let id = pattern.id.as_deref().unwrap_or("");
        x.empty("svrl:active-pattern", &[("id", id), ("name", id)]);
        for fired in &run.fired {
            let rule = &pattern.rules[fired.rule];
            x.empty("svrl:fired-rule", &[("context", &rule.context)]);
            let loc = location(loaded, fired.node).xpath.unwrap_or_default();
            for hit in &fired.hits {
                let c = &rule.checks[hit.check];
                let el = match c.kind {
                    CheckKind::Assert => "svrl:failed-assert",
                    CheckKind::Report => "svrl:successful-report",
                };
                let mut attrs = vec![("test", c.test.as_str()), ("location", loc.as_str())];
                for (k, v) in [("id", &c.id), ("role", &c.role), ("flag", &c.flag)] {
                    if let Some(v) = v {
                        attrs.push((k, v));
                    }
                }
                x.start(el, &attrs)
                    .element("svrl:text", &[], &hit.text)
                    .end(el);
            }
        }
    }
    x.end("svrl:schematron-output");
    x.finish()
}

fn write_svrl(
    dir: &Path,
    doc_name: &str,
    plan: &Plan,
    out: &Outcome,
    loaded: &Loaded,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(svrl_name(doc_name, &plan.stem)),
        svrl(plan, out, loaded),
    )
}
