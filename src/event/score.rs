//! Scores, computed: per participant × role, counts per level and status, the grade (`pass`,
//! `fail`, `incomplete`) under the suite's grading rules (`[grading.<role>]` in suite.toml,
//! defaults: every required scenario passed or verified) and *why*: each rule not met, with the
//! instances that fail it. A manager's override is shown beside the computed grade, never in
//! its place silently.

use super::monitor::OverrideRow;
use super::store::Store;
use super::{Error, InstanceStatus};
use crate::scenario::model::{Level, Role, RoleGrading};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Pass,
    Incomplete,
    Fail,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Pass => "pass",
            Grade::Incomplete => "incomplete",
            Grade::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Grade> {
        match s {
            "pass" => Some(Grade::Pass),
            "incomplete" => Some(Grade::Incomplete),
            "fail" => Some(Grade::Fail),
            _ => None,
        }
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Grade::Pass => "réussi",
            Grade::Incomplete => "incomplet",
            Grade::Fail => "échoué",
        }
    }
}

/// A rule not met, and by what.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// `required`, `optional_min` or `partners_min`.
    pub rule: String,
    /// Fail (cannot be met as things stand) or incomplete (waits for a run or a person).
    pub grade: Grade,
    /// The instance concerned, when one is.
    pub instance: Option<String>,
    pub status: Option<InstanceStatus>,
    /// In French.
    pub text: String,
}

/// One line of the scoreboard.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub participant: String,
    pub organisation: String,
    pub role: Role,
    /// level → status → number of instances.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    pub required: usize,
    pub required_achieved: usize,
    pub optional: usize,
    pub optional_achieved: usize,
    /// Distinct partners of the achieved exchanges at the partner levels.
    pub partners: Vec<String>,
    /// The grade the rules give.
    pub computed: Grade,
    /// The grade that counts: the manager's override when there is one, else `computed`.
    pub grade: Grade,
    #[serde(rename = "override")]
    pub overridden: Option<OverrideRow>,
    pub reasons: Vec<Reason>,
}

struct Inst {
    id: String,
    suite: String,
    level: Level,
    required: bool,
    status: InstanceStatus,
    partner: Option<String>,
}

/// The scoreboard: every participant × role it plays, by participant.
pub fn scores(store: &Store) -> Result<Vec<ScoreRow>, Error> {
    let conn = store.conn();
    let grading: BTreeMap<String, crate::scenario::model::Grading> = super::suites(conn)?
        .into_iter()
        .map(|s| (s.id, s.grading))
        .collect();
    let participants = super::participants(conn)?;
    let overrides = super::monitor::overrides(conn)?;
    let mut by: BTreeMap<(String, String), Vec<Inst>> = BTreeMap::new();
    {
        let mut st = conn.prepare(
            "SELECT i.participant, i.role, i.id, i.suite, i.level, i.required, i.status,
                    (SELECT a.partner FROM attempts a WHERE a.instance = i.id ORDER BY a.number DESC LIMIT 1)
             FROM instances i WHERE i.retired = 0",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        for row in rows {
            let (p, role, id, suite, level, required, status, partner) = row?;
            by.entry((p, role)).or_default().push(Inst {
                id,
                suite,
                level: Level::parse(&level).unwrap_or(Level::N1),
                required,
                status: InstanceStatus::parse(&status).unwrap_or(InstanceStatus::NotStarted),
                partner,
            });
        }
    }
    let mut out = Vec::new();
    for p in &participants {
        for role in &p.roles {
            let empty = Vec::new();
            let list = by
                .get(&(p.id.clone(), role.as_str().to_string()))
                .unwrap_or(&empty);
            let suites: BTreeSet<&str> = list.iter().map(|i| i.suite.as_str()).collect();
            let mut row = ScoreRow {
                participant: p.id.clone(),
                organisation: p.organisation.clone(),
                role: *role,
                counts: BTreeMap::new(),
                required: 0,
                required_achieved: 0,
                optional: 0,
                optional_achieved: 0,
                partners: Vec::new(),
                computed: Grade::Pass,
                grade: Grade::Pass,
                overridden: None,
                reasons: Vec::new(),
            };
            for i in list {
                *row.counts
                    .entry(i.level.as_str().to_string())
                    .or_default()
                    .entry(i.status.as_str().to_string())
                    .or_default() += 1;
            }
            let mut partners = BTreeSet::new();
            for suite in suites {
                let rules = grading.get(suite).map(|g| g.of(*role)).unwrap_or_default();
                let mine: Vec<&Inst> = list.iter().filter(|i| i.suite == suite).collect();
                grade_suite(&rules, &mine, &mut row, &mut partners);
            }
            row.partners = partners.into_iter().collect();
            row.computed = row
                .reasons
                .iter()
                .map(|r| r.grade)
                .max()
                .unwrap_or(Grade::Pass);
            row.overridden = overrides
                .iter()
                .rev()
                .find(|o| o.participant == p.id && o.role == role.as_str())
                .cloned();
            row.grade = row
                .overridden
                .as_ref()
                .and_then(|o| Grade::parse(&o.grade))
                .unwrap_or(row.computed);
            out.push(row);
        }
    }
    Ok(out)
}

fn grade_suite(
    rules: &RoleGrading,
    list: &[&Inst],
    row: &mut ScoreRow,
    partners: &mut BTreeSet<String>,
) {
    for i in list.iter().filter(|i| i.required) {
        row.required += 1;
        if i.status.achieved() {
            row.required_achieved += 1;
            continue;
        }
        if !rules.required_levels.contains(&i.level) {
            continue;
        }
        let grade = if i.status.open() {
            Grade::Incomplete
        } else {
            Grade::Fail
        };
        row.reasons.push(Reason {
            rule: "required".into(),
            grade,
            instance: Some(i.id.clone()),
            status: Some(i.status),
            text: format!(
                "{} (requis, {}) : {}",
                i.id,
                i.level.as_str(),
                i.status.label_fr()
            ),
        });
    }
    let optional: Vec<&&Inst> = list.iter().filter(|i| !i.required).collect();
    let achieved = optional.iter().filter(|i| i.status.achieved()).count();
    row.optional += optional.len();
    row.optional_achieved += achieved;
    if achieved < rules.optional_min {
        let still_open = optional.iter().filter(|i| i.status.open()).count();
        let grade = if achieved + still_open >= rules.optional_min {
            Grade::Incomplete
        } else {
            Grade::Fail
        };
        row.reasons.push(Reason {
            rule: "optional_min".into(),
            grade,
            instance: None,
            status: None,
            text: format!(
                "{} scénario(s) optionnel(s) réussi(s) ou vérifié(s) sur {} exigé(s)",
                achieved, rules.optional_min
            ),
        });
    }
    let at_levels: Vec<&&Inst> = list
        .iter()
        .filter(|i| rules.partner_levels.contains(&i.level))
        .collect();
    let mine: BTreeSet<String> = at_levels
        .iter()
        .filter(|i| i.status.achieved())
        .filter_map(|i| i.partner.clone())
        .collect();
    if mine.len() < rules.partners_min {
        let grade = if at_levels.iter().any(|i| i.status.open()) {
            Grade::Incomplete
        } else {
            Grade::Fail
        };
        row.reasons.push(Reason {
            rule: "partners_min".into(),
            grade,
            instance: None,
            status: None,
            text: format!(
                "{} partenaire(s) distinct(s) aux niveaux {} sur {} exigé(s)",
                mine.len(),
                rules
                    .partner_levels
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                rules.partners_min
            ),
        });
    }
    partners.extend(mine);
}

/// The scoreboard as CSV (one line per participant × role; reasons joined by ` | `).
pub fn csv(rows: &[ScoreRow]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Io(e.to_string());
    w.write_record([
        "participant",
        "organisation",
        "role",
        "grade",
        "computed",
        "required",
        "required_achieved",
        "optional",
        "optional_achieved",
        "partners",
        "reasons",
    ])
    .map_err(io)?;
    for r in rows {
        w.write_record([
            r.participant.as_str(),
            r.organisation.as_str(),
            r.role.as_str(),
            r.grade.as_str(),
            r.computed.as_str(),
            &r.required.to_string(),
            &r.required_achieved.to_string(),
            &r.optional.to_string(),
            &r.optional_achieved.to_string(),
            &r.partners.join(" "),
            &r.reasons
                .iter()
                .map(|x| x.text.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
        ])
        .map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The scoreboard as JUnit: one suite per participant, one case per role; a failed grade is a
/// failure, an incomplete one skipped, with the reasons.
pub fn junit(title: &str, rows: &[ScoreRow]) -> Result<String, Error> {
    use crate::report::junit::{non_success, skipped, stamp, to_xml};
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let now = crate::clock::Utc::now().rfc3339();
    let timestamp = now.get(..19).unwrap_or(&now);
    let mut report = Report::new(crate::xmlw::clean(title).as_ref());
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for r in rows {
        let why = crate::xmlw::clean(
            &r.reasons
                .iter()
                .map(|x| x.text.as_str())
                .collect::<Vec<_>>()
                .join(" ; "),
        )
        .into_owned();
        let status = match r.grade {
            Grade::Pass => TestCaseStatus::success(),
            Grade::Fail => non_success(NonSuccessKind::Failure, "fail", &why),
            Grade::Incomplete => skipped("incomplete", &why),
        };
        suites
            .entry(r.participant.as_str())
            .or_insert_with(|| TestSuite::new(crate::xmlw::clean(&r.participant).as_ref()))
            .add_test_case(TestCase::new(r.role.as_str(), status));
    }
    report.add_test_suites(suites.into_values().map(|mut s| {
        stamp(&mut s, timestamp);
        s
    }));
    let xml = to_xml(&report).map_err(|e| Error::Io(format!("JUnit : {e}")))?;
    Ok(String::from_utf8_lossy(&xml).into_owned())
}

/// The scoreboard as a standalone HTML page (every text escaped by maud).
pub fn html(title: &str, rows: &[ScoreRow]) -> String {
    use maud::{DOCTYPE, html};
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { "Scores — " (title) }
                style { "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}.pass{background:#e6f4ea}.fail{background:#fce8e6}.incomplete{background:#fef7e0}" }
            }
            body {
                h1 { "Scores — " (title) }
                table {
                    thead { tr { th { "Participant" } th { "Rôle" } th { "Note" } th { "Requis" } th { "Optionnels" } th { "Partenaires" } th { "Pourquoi" } } }
                    tbody {
                        @for r in rows {
                            tr class=(r.grade.as_str()) {
                                td { (r.participant) br; small { (r.organisation) } }
                                td { (r.role.as_str()) }
                                td {
                                    (r.grade.label_fr())
                                    @if let Some(o) = &r.overridden {
                                        br; small { "imposée par " (o.manager) " : " (o.reason) " (calculée : " (r.computed.label_fr()) ")" }
                                    }
                                }
                                td { (r.required_achieved) " / " (r.required) }
                                td { (r.optional_achieved) " / " (r.optional) }
                                td { (r.partners.join(", ")) }
                                td { ul { @for x in &r.reasons { li { (x.text) } } } }
                            }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// One participant (producer) with instances (scenario, level, required, status, partner).
    fn event(
        grading: &str,
        rows: &[(&str, &str, bool, &str, Option<&str>)],
    ) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "banc-score-{}-{}",
            std::process::id(),
            rows.len() + grading.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut st = Store::create(&dir).unwrap();
        st.write(|tx| {
            tx.execute(
                "INSERT INTO suites (id, dir, title, hash, files, grading) VALUES ('s', 's', 'S', 'h', '{}', ?1)",
                [grading],
            )?;
            tx.execute(
                "INSERT INTO participants (id, organisation, system, roles) VALUES ('lab', 'Laboratoire', 'SGL', 'producer')",
                [],
            )?;
            for (sc, level, required, status, partner) in rows {
                let id = format!("lab/{sc}/producer");
                tx.execute(
                    "INSERT INTO instances (id, participant, suite, scenario, role, level, required, title, status, since)
                     VALUES (?1, 'lab', 's', ?2, 'producer', ?3, ?4, 't', ?5, 'now')",
                    params![id, sc, level, required, status],
                )?;
                if let Some(p) = partner {
                    tx.execute(
                        "INSERT INTO attempts (instance, number, status, partner, started, banc) VALUES (?1, 1, 'passed', ?2, 'now', 'x')",
                        params![id, p],
                    )?;
                }
            }
            Ok(())
        })
        .unwrap();
        (st, dir)
    }

    fn grade(
        grading: &str,
        rows: &[(&str, &str, bool, &str, Option<&str>)],
    ) -> (Grade, Vec<String>) {
        let (st, dir) = event(grading, rows);
        let r = scores(&st).unwrap().remove(0);
        let _ = std::fs::remove_dir_all(dir);
        (
            r.computed,
            r.reasons
                .iter()
                .map(|x| format!("{}:{}", x.rule, x.grade.as_str()))
                .collect(),
        )
    }

    #[test]
    fn required_scenarios_decide_by_default() {
        let rows = [
            ("P1", "N1", true, "passed", Some("banc")),
            ("P2", "N2", true, "verified", Some("banc")),
            ("P3", "N3", false, "failed", None),
        ];
        assert_eq!(grade("{}", &rows), (Grade::Pass, vec![]));
        let rows = [
            ("P1", "N1", true, "passed", None),
            ("P2", "N2", true, "to-verify", None),
        ];
        assert_eq!(grade("{}", &rows).0, Grade::Incomplete);
        let rows = [
            ("P1", "N1", true, "rejected", None),
            ("P2", "N2", true, "to-verify", None),
        ];
        assert_eq!(
            grade("{}", &rows).0,
            Grade::Fail,
            "a fail outweighs what is still open"
        );
        // A level left out of required_levels does not count.
        let g = r#"{"producer":{"required_levels":["N1"],"optional_min":0,"partners_min":0,"partner_levels":["N2","N3"]}}"#;
        let rows = [
            ("P1", "N1", true, "passed", None),
            ("P2", "N3", true, "failed", None),
        ];
        assert_eq!(grade(g, &rows), (Grade::Pass, vec![]));
    }

    #[test]
    fn optional_minimum_and_distinct_partners() {
        let g = r#"{"producer":{"required_levels":["N1","N2","N3"],"optional_min":2,"partners_min":2,"partner_levels":["N2","N3"]}}"#;
        let rows = [
            ("P1", "N2", true, "passed", Some("chu-rennes")),
            ("P2", "N3", true, "passed", Some("chu-rennes")),
            ("P3", "N1", false, "passed", None),
            ("P4", "N1", false, "failed", None),
            ("P5", "N1", false, "not-started", None),
        ];
        // One partner only and no N2/N3 instance still open: fail; one optional passed and one
        // still open: incomplete.
        let (g1, reasons) = grade(g, &rows);
        assert_eq!(g1, Grade::Fail);
        assert_eq!(
            reasons,
            vec!["optional_min:incomplete", "partners_min:fail"]
        );
        let rows = [
            ("P1", "N2", true, "passed", Some("chu-rennes")),
            ("P2", "N3", true, "verified", Some("cabinet-dupont")),
            ("P3", "N1", false, "passed", None),
            ("P4", "N1", false, "verified", None),
        ];
        assert_eq!(grade(g, &rows), (Grade::Pass, vec![]));
        let rows = [
            ("P1", "N2", true, "passed", Some("chu-rennes")),
            ("P2", "N3", true, "passed", Some("cabinet-dupont")),
            ("P3", "N1", false, "passed", None),
            ("P4", "N1", false, "failed", None),
        ];
        assert_eq!(
            grade(g, &rows),
            (Grade::Fail, vec!["optional_min:fail".to_string()])
        );
    }
}
