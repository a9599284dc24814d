//! `banc event …`: arguments, tables and exit statuses of a projectathon event; the work in
//! `banc::event`. Every error is one French line on stderr and exit status 2, nothing written.

use super::common::{CheckArgs, emit, emit_json, terminal_width};
use banc::event::{self, InstanceStatus};
use banc::scenario::model::Role;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EventCommand {
    /// Créer un événement : suites, participants, instances de test, clé de signature.
    Init(InitArgs),
    /// Jouer les instances non commencées, interrompues ou non jouées (prérequis), en
    /// enregistrant chaque tentative au fil de l'eau.
    Run(PlayArgs),
    /// Rejouer une instance (nouvelle tentative, l'historique est gardé).
    Rerun(RerunArgs),
    /// L'état de chaque instance.
    Status(StatusArgs),
    /// Ce qui attend un moniteur (instances à vérifier), le plus ancien d'abord.
    Worklist(WorklistArgs),
    /// Prendre une instance de la liste de travail.
    Claim(ClaimArgs),
    /// Décider d'une instance à vérifier : verified, partially-verified ou rejected.
    Decide(DecideArgs),
    /// Les notes calculées par participant et rôle, et pourquoi.
    Score(ScoreArgs),
    /// Imposer une note (gestionnaire), avec une raison : inscrit au journal d'audit.
    Override(OverrideArgs),
    /// Le journal d'audit (chaîné) ; --verify vérifie la chaîne.
    Audit(AuditArgs),
    /// Exporter un paquet de preuves signé (tout l'événement ou un participant).
    Export(ExportArgs),
    /// Vérifier un paquet de preuves : signature, empreintes, et ce qu'il prouve.
    Verify(VerifyArgs),
    /// Donner un accès web (banc serve --event) : lien de connexion ou jeton d'un participant,
    /// d'un moniteur ou d'un gestionnaire ; --revoke le retire.
    Access(AccessArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["participant", "monitor", "manager"])))]
pub struct AccessArgs {
    /// Event folder.
    pub dir: PathBuf,
    /// A participant: sees and plays its own instances only.
    #[arg(long, value_name = "ID")]
    pub participant: Option<String>,
    /// A monitor, by name: the worklist, claims and decisions.
    #[arg(long, value_name = "NAME")]
    pub monitor: Option<String>,
    /// A manager (name optional): everything, scores' publication, bundles.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "gestionnaire")]
    pub manager: Option<String>,
    /// Revoke every token of this person (their sessions end at once).
    #[arg(long)]
    pub revoke: bool,
    /// The server's address as people reach it (as given to banc serve --public-url).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// link: a login link and how to use the token; token: the bare token (scripts).
    #[arg(long, default_value = "link", value_parser = ["link", "token"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Event folder (created; must not hold an event).
    pub dir: PathBuf,
    /// Suite folder (repeatable).
    #[arg(long = "suite", value_name = "DIR", required = true)]
    pub suites: Vec<PathBuf>,
    /// Participants file (see suites/participants.example.toml).
    #[arg(long, value_name = "FILE")]
    pub participants: Option<PathBuf>,
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    /// Register banc's four simulated participants (reference and faulty lab and receiver):
    /// the event can then be played entirely offline.
    #[arg(long)]
    pub rehearsal: bool,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct PlayArgs {
    /// Event folder.
    pub dir: PathBuf,
    /// Only this participant (repeatable).
    #[arg(long = "participant", value_name = "ID")]
    pub participants: Vec<String>,
    /// Only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    #[command(flatten)]
    pub play: PlayOptions,
}

#[derive(clap::Args, Debug)]
pub struct RerunArgs {
    /// Event folder.
    pub dir: PathBuf,
    /// Instance id: participant/scenario/role.
    pub instance: String,
    #[command(flatten)]
    pub play: PlayOptions,
}

#[derive(clap::Args, Debug)]
pub struct PlayOptions {
    /// The participant's partner in these exchanges (a registered participant; default banc).
    #[arg(long, value_name = "ID")]
    pub partner: Option<String>,
    /// Play a suite whose files changed since the event was created (the change is recorded).
    #[arg(long)]
    pub accept_suite_change: bool,
    #[command(flatten)]
    pub runner: super::scenario::RunnerArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    pub dir: PathBuf,
    #[arg(long, value_name = "ID")]
    pub participant: Option<String>,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct WorklistArgs {
    pub dir: PathBuf,
    /// Only what this monitor may take: unclaimed, or claimed by them.
    #[arg(long, value_name = "NAME")]
    pub monitor: Option<String>,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct ClaimArgs {
    pub dir: PathBuf,
    pub instance: String,
    #[arg(long, value_name = "NAME")]
    pub monitor: String,
}

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    pub dir: PathBuf,
    pub instance: String,
    #[arg(long, value_parser = ["verified", "partially-verified", "rejected"])]
    pub verdict: String,
    #[arg(long, value_name = "NAME")]
    pub monitor: String,
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
    /// Checklist items that held (1-based over the attempt's manual steps), e.g. 1,3.
    #[arg(long, value_delimiter = ',', value_name = "N,N")]
    pub checklist: Vec<usize>,
}

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    pub dir: PathBuf,
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv", "junit", "html"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct OverrideArgs {
    pub dir: PathBuf,
    #[arg(long, value_name = "ID")]
    pub participant: String,
    #[arg(long, value_parser = ["producer", "consumer"])]
    pub role: String,
    #[arg(long, value_parser = ["pass", "fail", "incomplete"])]
    pub grade: String,
    #[arg(long, value_name = "NAME")]
    pub manager: String,
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    pub dir: PathBuf,
    /// Check the hash chain: exit 1 at the first entry edited, inserted or removed.
    #[arg(long)]
    pub verify: bool,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    pub dir: PathBuf,
    /// Only what concerns this participant.
    #[arg(long, value_name = "ID")]
    pub participant: Option<String>,
    /// The bundle to write (.zip).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("expected").required(true).args(["key", "event"])))]
pub struct VerifyArgs {
    pub bundle: PathBuf,
    /// The event's public key (hex) as published: the bundle must be signed with it.
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// Or the event folder, whose key is read.
    #[arg(long, value_name = "DIR")]
    pub event: Option<PathBuf>,
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

fn err(e: event::Error) -> String {
    e.to_string()
}

fn json(v: &impl serde::Serialize) {
    emit_json(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ));
}

fn table(header: Vec<&str>) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(terminal_width())
        .set_header(header);
    t
}

pub fn run(cmd: EventCommand) -> Result<ExitCode, String> {
    match cmd {
        EventCommand::Init(a) => init(a),
        EventCommand::Run(a) => play(a.dir, a.participants, a.scenarios, None, a.play),
        EventCommand::Rerun(a) => play(a.dir, Vec::new(), Vec::new(), Some(a.instance), a.play),
        EventCommand::Status(a) => status(a),
        EventCommand::Worklist(a) => worklist(a),
        EventCommand::Claim(a) => {
            let mut st = event::open_for_change(&a.dir).map_err(err)?;
            event::monitor::claim(&mut st, &a.instance, &a.monitor).map_err(err)?;
            emit(&format!("{} pris par {}.\n", a.instance, a.monitor));
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Decide(a) => decide(a),
        EventCommand::Score(a) => score(a),
        EventCommand::Override(a) => {
            let mut st = event::open_for_change(&a.dir).map_err(err)?;
            let role = Role::parse(&a.role).ok_or("rôle inconnu")?;
            let grade = event::score::Grade::parse(&a.grade).ok_or("note inconnue")?;
            event::monitor::override_grade(
                &mut st,
                &a.participant,
                role,
                grade,
                &a.manager,
                &a.reason,
            )
            .map_err(err)?;
            emit(&format!(
                "{} ({}) : note imposée « {} » par {}.\n",
                a.participant, a.role, a.grade, a.manager
            ));
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Audit(a) => audit(a),
        EventCommand::Export(a) => {
            let x =
                event::bundle::export(&a.dir, a.participant.as_deref(), &a.output).map_err(err)?;
            emit(&format!(
                "Paquet de preuves {} : {} fichier(s), {} octet(s), {} tentative(s) ; signé par la clé {}.\n",
                x.path, x.files, x.bytes, x.attempts, x.public_key
            ));
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Verify(a) => verify(a),
        EventCommand::Access(a) => access(a),
    }
}

fn access(a: AccessArgs) -> Result<ExitCode, String> {
    use event::access::Role as R;
    let (role, subject) = match (&a.participant, &a.monitor, &a.manager) {
        (Some(p), _, _) => (R::Participant, p.clone()),
        (_, Some(m), _) => (R::Monitor, m.clone()),
        (_, _, Some(m)) => (R::Manager, m.clone()),
        _ => return Err("--participant, --monitor ou --manager".into()),
    };
    let mut st = event::open_for_change(&a.dir).map_err(err)?;
    let by = "ligne de commande (banc event access)";
    if a.revoke {
        let n = event::access::revoke(&mut st, role, &subject, by).map_err(err)?;
        emit(&format!(
            "{n} accès de {} {subject} révoqué(s) ; ses sessions sont closes.\n",
            role.label_fr()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let token = event::access::grant(&mut st, role, &subject, by).map_err(err)?;
    if a.format == "token" {
        emit(&format!("{token}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let base = a
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "http://ADRESSE-DU-SERVEUR".into());
    emit(&format!(
        "Accès {} pour {subject} :\n  lien de connexion (navigateur) : {base}/login/{token}\n  API : Authorization: Bearer {token}\nÀ transmettre à cette personne seule : qui a le lien a l'accès. Il n'est pas gardé (seule son empreinte l'est) ; pour le retirer : banc event access {} --{} {}--revoke\n",
        role.label_fr(),
        a.dir.display(),
        role.as_str(),
        if role == R::Manager && subject == "gestionnaire" {
            String::new()
        } else {
            format!("{subject} ")
        },
    ));
    Ok(ExitCode::SUCCESS)
}

fn init(a: InitArgs) -> Result<ExitCode, String> {
    let s = event::init(&event::InitRequest {
        dir: a.dir,
        suites: a.suites,
        participants: a.participants,
        title: a.title,
        rehearsal: a.rehearsal,
    })
    .map_err(err)?;
    if a.format == "json" {
        json(&s);
    } else {
        emit(&format!(
            "Événement « {} » créé dans {} : suite(s) {}, {} participant(s), {} instance(s) de test.\nClé publique de l'événement (à publier : elle authentifie les paquets de preuves) : {}\n",
            s.title,
            s.dir,
            s.suites.join(", "),
            s.participants,
            s.instances,
            s.public_key
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn play(
    dir: PathBuf,
    participants: Vec<String>,
    scenarios: Vec<String>,
    rerun: Option<String>,
    o: PlayOptions,
) -> Result<ExitCode, String> {
    let format = o.format.clone();
    let s = event::play::play(&event::play::PlayRequest {
        dir,
        participants,
        scenarios,
        rerun,
        accept_suite_change: o.accept_suite_change,
        partner: o.partner,
        actor: None,
        options: o.runner.into(),
        check: o.check.into(),
    })
    .map_err(err)?;
    if format == "json" {
        json(&s);
    } else {
        if s.recovered > 0 {
            emit(&format!(
                "{} tentative(s) d'une exécution arrêtée brutalement marquée(s) interrompue(s).\n",
                s.recovered
            ));
        }
        if !s.played.is_empty() {
            let mut t = table(vec!["Instance", "Tentative", "Statut", "Motif"]);
            for p in &s.played {
                t.add_row(vec![
                    p.instance.clone(),
                    p.attempt.map(|a| a.to_string()).unwrap_or_default(),
                    p.status.label_fr().to_string(),
                    p.reason.clone().unwrap_or_default(),
                ]);
            }
            emit(&format!("{t}\n"));
        }
        match s.run {
            Some(r) => emit(&format!(
                "Exécution {r} : {} instance(s) jouée(s){}.\n",
                s.played.len(),
                if s.interrupted { ", interrompue" } else { "" }
            )),
            None => emit(
                "Rien à jouer : chaque instance choisie a déjà une tentative (banc event rerun pour rejouer).\n",
            ),
        }
        if !s.left.is_empty() {
            emit(&format!(
                "{} instance(s) laissée(s) telle(s) quelle(s) (déjà jouées ; banc event rerun DIR INSTANCE pour rejouer).\n",
                s.left.len()
            ));
        }
        for r in &s.reports {
            eprintln!("banc : écrit {r}");
        }
    }
    Ok(if s.interrupted {
        ExitCode::from(130)
    } else if s
        .played
        .iter()
        .any(|p| matches!(p.status, InstanceStatus::Failed | InstanceStatus::Skipped))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn status(a: StatusArgs) -> Result<ExitCode, String> {
    let st = event::open_for_change(&a.dir).map_err(err)?;
    if let Some(p) = &a.participant
        && !event::participants(st.conn())
            .map_err(err)?
            .iter()
            .any(|x| &x.id == p)
    {
        return Err(format!("participant inconnu : {p}"));
    }
    let list = event::instances(st.conn(), a.participant.as_deref()).map_err(err)?;
    if a.format == "json" {
        json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(vec![
        "Instance",
        "Niveau",
        "Requis",
        "Statut",
        "Tentatives",
        "Depuis",
        "Motif",
    ]);
    for i in &list {
        t.add_row(vec![
            i.id.clone(),
            i.level.clone(),
            if i.required { "oui" } else { "non" }.into(),
            i.status.label_fr().into(),
            i.attempts.to_string(),
            i.since.clone(),
            i.reason.clone().unwrap_or_default(),
        ]);
    }
    emit(&format!("{t}\n"));
    Ok(ExitCode::SUCCESS)
}

fn worklist(a: WorklistArgs) -> Result<ExitCode, String> {
    let st = event::open_for_change(&a.dir).map_err(err)?;
    let list = event::monitor::worklist(&st, a.monitor.as_deref()).map_err(err)?;
    if a.format == "json" {
        json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        emit("Rien n'attend de moniteur.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(vec![
        "Instance",
        "Depuis",
        "Pris par",
        "À regarder",
        "Liste de contrôle",
    ]);
    for w in &list {
        let look: Vec<String> = w
            .steps
            .iter()
            .map(|s| {
                let ev = if s.evidence.is_empty() {
                    String::new()
                } else {
                    format!(" — preuves : {}", s.evidence.join(", "))
                };
                format!("{} ({}){ev}", s.id, s.title.clone().unwrap_or_default())
            })
            .collect();
        let checklist: Vec<String> = w
            .steps
            .iter()
            .flat_map(|s| s.checklist.iter())
            .enumerate()
            .map(|(i, c)| format!("{}. {c}", i + 1))
            .collect();
        t.add_row(vec![
            format!("{}\n{}", w.instance, w.title),
            w.since.clone(),
            w.claimed_by.clone().unwrap_or_default(),
            look.join("\n"),
            checklist.join("\n"),
        ]);
    }
    emit(&format!("{t}\n{} instance(s) à vérifier.\n", list.len()));
    Ok(ExitCode::SUCCESS)
}

fn decide(a: DecideArgs) -> Result<ExitCode, String> {
    let mut st = event::open_for_change(&a.dir).map_err(err)?;
    let verdict = event::monitor::Verdict::parse(&a.verdict).ok_or("verdict inconnu")?;
    let d = event::monitor::decide(
        &mut st,
        &a.instance,
        verdict,
        &a.monitor,
        &a.comment,
        &a.checklist,
    )
    .map_err(err)?;
    emit(&format!(
        "{} (tentative {}) : {} → {} par {}.\n",
        d.instance,
        d.attempt,
        d.before.label_fr(),
        d.after.label_fr(),
        a.monitor
    ));
    Ok(ExitCode::SUCCESS)
}

fn score(a: ScoreArgs) -> Result<ExitCode, String> {
    let st = event::open_for_change(&a.dir).map_err(err)?;
    let rows = event::score::scores(&st).map_err(err)?;
    let title = event::info(&st).map_err(err)?.title;
    match a.format.as_str() {
        "json" => json(&rows),
        "csv" => emit_json(&event::score::csv(&rows).map_err(err)?),
        "junit" => emit_json(&event::score::junit(&title, &rows).map_err(err)?),
        "html" => emit_json(&event::score::html(&title, &rows)),
        _ => {
            let mut t = table(vec![
                "Participant",
                "Rôle",
                "Note",
                "Requis",
                "Optionnels",
                "Pourquoi",
            ]);
            for r in &rows {
                let grade = match &r.overridden {
                    Some(o) => format!(
                        "{} (imposée par {} ; calculée : {})",
                        r.grade.label_fr(),
                        o.manager,
                        r.computed.label_fr()
                    ),
                    None => r.grade.label_fr().to_string(),
                };
                t.add_row(vec![
                    r.participant.clone(),
                    r.role.as_str().to_string(),
                    grade,
                    format!("{}/{}", r.required_achieved, r.required),
                    format!("{}/{}", r.optional_achieved, r.optional),
                    r.reasons
                        .iter()
                        .map(|x| x.text.clone())
                        .collect::<Vec<_>>()
                        .join("\n"),
                ]);
            }
            emit(&format!("{t}\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(a: AuditArgs) -> Result<ExitCode, String> {
    let st = event::store::Store::open(&a.dir).map_err(err)?;
    let entries = event::store::audit_log(st.conn()).map_err(err)?;
    let check = if a.verify {
        Some(event::verify_audit(&st).map_err(err)?)
    } else {
        None
    };
    let broken = check.as_ref().is_some_and(|c| !c.problems.is_empty());
    if a.format == "json" {
        json(&serde_json::json!({
            "entries": entries,
            "verified": check.as_ref().map(|c| c.problems.is_empty()),
            "problems": check.as_ref().map(|c| &c.problems),
        }));
    } else if let Some(c) = &check {
        if c.problems.is_empty() {
            emit(&format!(
                "Journal d'audit intact : {} entrée(s), chaîne d'empreintes et tête signée vérifiées, états conformes au journal.\n",
                c.entries
            ));
        } else {
            let mut out = format!(
                "Journal d'audit altéré ({} problème(s)) :\n",
                c.problems.len()
            );
            for p in &c.problems {
                out.push_str(&format!("  - {p}\n"));
            }
            emit(&out);
        }
    } else {
        let mut t = table(vec![
            "N°", "Quand", "Qui", "Objet", "Action", "Avant", "Après", "Pourquoi",
        ]);
        for e in &entries {
            t.add_row(vec![
                e.seq.to_string(),
                e.at.clone(),
                e.actor.clone(),
                e.subject.clone(),
                e.action.clone(),
                e.before.clone().unwrap_or_default(),
                e.after.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            ]);
        }
        emit(&format!("{t}\n"));
    }
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn verify(a: VerifyArgs) -> Result<ExitCode, String> {
    let key = match (&a.key, &a.event) {
        (Some(k), _) => k.clone(),
        (None, Some(dir)) => {
            let st = event::store::Store::open(dir).map_err(err)?;
            event::info(&st).map_err(err)?.public_key
        }
        (None, None) => return Err("--key CLÉ ou --event DOSSIER : la clé attendue".into()),
    };
    let v = event::bundle::verify(&a.bundle, &key).map_err(err)?;
    if a.format == "json" {
        json(&v);
    } else {
        let mut out = String::new();
        if v.ok {
            out.push_str("Paquet de preuves authentique et intact.\n");
        } else {
            out.push_str("Paquet de preuves NON VÉRIFIÉ :\n");
            for p in &v.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        if let Some(m) = &v.manifest {
            out.push_str(&format!(
                "Événement « {} » ({}), créé le {} ; exporté le {} par banc {}.\nPortée : {}.\nClé nommée par le manifeste : {}{}.\nSuites : {}.\nKits : {}.\nContenu : {} ; {} fichier(s) vérifié(s).\n",
                m.event.title,
                m.event.id,
                m.event.created,
                m.exported,
                m.banc,
                m.participant
                    .as_ref()
                    .map(|p| format!("le participant {p} seulement"))
                    .unwrap_or_else(|| "tout l'événement".into()),
                v.public_key,
                if v.key_matches {
                    " (la clé attendue)"
                } else {
                    " (PAS la clé attendue)"
                },
                m.suites
                    .iter()
                    .map(|s| format!("{} {} ({})", s.id, s.version.as_deref().unwrap_or("?"), s.hash))
                    .collect::<Vec<_>>()
                    .join(", "),
                if m.kits.is_empty() {
                    "règles intégrées de banc seulement".to_string()
                } else {
                    m.kits.join(", ")
                },
                m.counts
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                v.files_checked
            ));
            match v.audit_chain_ok {
                Some(true) => out.push_str("Journal d'audit complet, chaîne d'empreintes vérifiée.\n"),
                Some(false) => out.push_str("Journal d'audit : chaîne rompue.\n"),
                None => out.push_str(
                    "Journal d'audit : extrait du participant (sa chaîne complète se vérifie sur l'événement).\n",
                ),
            }
        }
        emit(&out);
    }
    Ok(if v.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
