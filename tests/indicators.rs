//! `banc indicators` on a quarter of activity built from our fixtures: two labs and one
//! hospital, several hundred documents (valid, invalid, level 1, replaced, duplicated, undated,
//! outside the quarter, unreadable), messages sent with `banc mail send` to banc's simulated
//! receiver (its spool keeps them; its MDNs — processed, 902 unknown patient, 900 replacement of
//! an unknown document, 906 — go to a `banc mail serve` spool), a DSN in a Maildir and a copy in
//! an mbox. Every figure of the report is checked against counts known by construction, and every
//! input must end in exactly one bucket.

mod common;

use common::*;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LAB_A: &str = "1.2.250.1.71.4.2.2^1560024390";
const LAB_B: &str = "1.2.250.1.71.4.2.2^1350038618";
const HOSP: &str = "1.2.250.1.71.4.2.2^1350007191";
const SENDER: &str = "sgl@labo-golfe.test";
const RECEIVER: &str = "dpi@recepteur-simule.test";
/// GAUTIER Sophie (tsh), MOREAU Julien (nfs-crp), LE GOFF Yannick (ldl-ses); LEFEBVRE Camille
/// (glycemie-ionogramme) stays unknown: error 902.
const KNOWN_INS: [&str; 3] = ["291025626003396", "157112901911239", "168043523841714"];

/// (month, CR-BIO, level 3, K, L, refused, undelivered, never sent) of a lab.
type LabRow = (&'static str, u64, u64, u64, u64, u64, u64, u64);

/// How one generated document differs from its fixture.
#[derive(Default, Clone)]
struct Edit {
    id: String,
    version: u32,
    set: String,
    /// Header effectiveTime as written.
    time: String,
    /// Parent of a replacement (id extension, set extension).
    replaces: Option<String>,
    invalid: bool,
    level1: bool,
    /// Custodian extension and name to put instead of the fixture's.
    custodian: Option<(&'static str, &'static str, &'static str, &'static str)>,
}

fn edit(src: &str, e: &Edit) -> String {
    let first =
        |re: &str, s: &str, with: &str| Regex::new(re).unwrap().replacen(s, 1, with).into_owned();
    let mut s = first(
        r#"<id root="[^"]*"/>"#,
        src,
        &format!(r#"<id root="1.2.3.4.999.1" extension="{}"/>"#, e.id),
    );
    s = first(
        r#"<setId root="[^"]*"/>"#,
        &s,
        &format!(r#"<setId root="1.2.3.4.999.2" extension="{}"/>"#, e.set),
    );
    s = first(
        r#"<versionNumber value="[^"]*"/>"#,
        &s,
        &format!(r#"<versionNumber value="{}"/>"#, e.version.max(1)),
    );
    s = first(
        r#"<effectiveTime value="[^"]*"/>"#,
        &s,
        &format!(r#"<effectiveTime value="{}"/>"#, e.time),
    );
    if let Some(parent) = &e.replaces {
        s = s.replacen(
            "<componentOf>",
            &format!(
                r#"<relatedDocument typeCode="RPLC"><parentDocument><id root="1.2.3.4.999.1" extension="{parent}"/><setId root="1.2.3.4.999.2" extension="{}"/><versionNumber value="1"/></parentDocument></relatedDocument>
  <componentOf>"#,
                e.set
            ),
            1,
        );
    }
    if e.invalid {
        s = s.replacen(r#"<realmCode code="FR"/>"#, "", 1);
    }
    if e.level1 {
        s = s
            .replacen(
                r#"<templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>"#,
                r#"<templateId root="1.3.6.1.4.1.19376.1.2.20"/>"#,
                1,
            )
            .replacen(r#"<templateId root="1.3.6.1.4.1.19376.1.3.3"/>"#, "", 1);
        s = Regex::new(r"(?s)<structuredBody>.*</structuredBody>")
            .unwrap()
            .replace(
                &s,
                r#"<nonXMLBody><text mediaType="application/pdf" representation="B64">JVBERi0xLjQK</text></nonXMLBody>"#,
            )
            .into_owned();
    }
    if let Some((from, to, name_from, name_to)) = e.custodian {
        s = s.replace(from, to).replace(name_from, name_to);
    }
    s
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures").join(name)).unwrap()
}

fn time(month: u32, day: u32) -> String {
    let zone = if (4..=10).contains(&month) {
        "+0200"
    } else {
        "+0100"
    };
    format!("2026{month:02}{day:02}093000{zone}")
}

/// A started process with stdout lines on a channel (killed on drop).
struct Proc {
    child: std::process::Child,
    /// Kept so that the thread draining its stdout goes on (a full pipe would block it).
    _lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(spool: &Path, relay_port: u16) -> (Proc, u16) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut cmd = banc();
    cmd.args([
        "simulate",
        "receiver",
        "--listen",
        "127.0.0.1:0",
        "--mailbox",
        RECEIVER,
    ])
    .args(["--relay", &format!("127.0.0.1:{relay_port}"), "--spool"])
    .arg(spool);
    for ins in KNOWN_INS {
        cmd.args(["--known-ins", ins]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("banc simulate receiver starts");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the receiver prints its address");
    let port = first
        .split("écoute sur 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("start line: {first}"));
    (Proc { child, _lines: rx }, port)
}

struct Sender {
    port: u16,
    sent: usize,
    with_mdn: usize,
}

impl Sender {
    /// Send `docs` in one message; its Message-ID is returned.
    fn send(&mut self, docs: &[PathBuf], mdn: bool, extra: &[&str]) -> String {
        self.sent += 1;
        let mid = format!("ind-{}@labo-golfe.test", self.sent);
        let port = format!("127.0.0.1:{}", self.port);
        let mut args = vec![
            "mail",
            "send",
            "--smtp",
            &port,
            "--starttls",
            "none",
            "--from",
            SENDER,
            "--to",
            RECEIVER,
            "--message-id",
            &mid,
        ];
        if mdn {
            args.extend(["--mdn-to", SENDER]);
            self.with_mdn += 1;
        }
        args.extend_from_slice(extra);
        let files: Vec<String> = docs.iter().map(|d| s(d)).collect();
        args.extend(files.iter().map(String::as_str));
        let r = run(&args);
        assert_eq!(r.code, 0, "banc mail send: {}\n{}", r.stdout, r.stderr);
        mid
    }
}

/// Wait until the MDN spool's server has logged `n` messages.
fn wait_messages(serve: &Serve, seen: &mut usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while *seen < n {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("only {seen} of {n} acknowledgements arrived"));
        if let Ok(l) = serve.lines.recv_timeout(left)
            && l.contains("reçu id=")
        {
            *seen += 1;
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_quarter_of_two_labs_and_a_hospital_is_measured_and_reconciled() {
    let t = tempdir("indicators");
    let (tsh, nfs, gly, ldl) = (
        fixture("cr-bio/valid/tsh.xml"),
        fixture("cr-bio/valid/nfs-crp.xml"),
        fixture("cr-bio/valid/glycemie-ionogramme.xml"),
        fixture("ldl/valid/ldl-ses.xml"),
    );
    // glycemie-ionogramme is the Tilleuls lab's: made lab A's (the Golfe) here.
    let to_golfe = Some((
        "1350042172",
        "1560024390",
        "Laboratoire de biologie médicale des Tilleuls",
        "Laboratoire de biologie médicale du Golfe",
    ));
    let lab_a = t.join("produced/lab-a");
    let lab_b = t.join("produced/lab-b");
    let hosp = t.join("produced/hospital");
    let unsent = t.join("unsent");
    let doc = |src: &str, dir: &Path, e: Edit| -> PathBuf {
        write(dir, &format!("{}.xml", e.id), &edit(src, &e))
    };
    let mk = |id: String, month: u32, day: u32| Edit {
        set: format!("S-{id}"),
        id,
        version: 1,
        time: time(month, day),
        ..Edit::default()
    };

    // ---- Lab A (the Golfe): per month 30 TSH (24 sent), 8 glycaemia of an unknown patient (all
    // sent: 902), 3 invalid (one sent in August: 906).
    let mut a_sent: Vec<Vec<PathBuf>> = Vec::new(); // groups of one patient, with MDN
    let mut a_unknown_patient: Vec<Vec<PathBuf>> = Vec::new();
    let mut a_invalid_sent = Vec::new();
    for m in 7..=9 {
        let mut group = Vec::new();
        for i in 0..30 {
            let p = doc(&tsh, &lab_a, mk(format!("A{m}-{i:02}"), m, 1 + i % 28));
            if i % 5 != 0 {
                group.push(p);
                if group.len() == 4 {
                    a_sent.push(std::mem::take(&mut group));
                }
            }
        }
        assert!(group.is_empty());
        let mut g = Vec::new();
        for i in 0..8 {
            let e = Edit {
                custodian: to_golfe,
                ..mk(format!("G{m}-{i}"), m, 3 + i)
            };
            g.push(doc(&gly, &lab_a, e));
            if g.len() == 4 {
                a_unknown_patient.push(std::mem::take(&mut g));
            }
        }
        for i in 0..3 {
            let e = Edit {
                invalid: true,
                ..mk(format!("AX{m}-{i}"), m, 10 + i)
            };
            let p = doc(&tsh, &lab_a, e);
            if m == 8 && i == 0 {
                a_invalid_sent.push(p);
            }
        }
    }
    // Outside the quarter (one June report sent), undated, duplicates.
    let mut june = Vec::new();
    for i in 0..4 {
        june.push(doc(&tsh, &lab_a, mk(format!("AJ-{i}"), 6, 15 + i)));
    }
    for i in 0..3 {
        doc(&tsh, &lab_a, mk(format!("AO-{i}"), 10, 2 + i));
    }
    for i in 0..2 {
        let e = Edit {
            time: "2026".into(),
            ..mk(format!("AU-{i}"), 7, 1)
        };
        doc(&tsh, &lab_a, e);
    }
    for (i, orig) in ["A7-01", "A7-02"].iter().enumerate() {
        std::fs::copy(
            lab_a.join(format!("{orig}.xml")),
            lab_a.join(format!("zz-copy-{i}.xml")),
        )
        .unwrap();
    }
    // Six reports replaced: version 1 of 20 July, version 2 of 10 August.
    let (mut v1s, mut v2s) = (Vec::new(), Vec::new());
    for j in 0..6 {
        let set = format!("S-R{j}");
        v1s.push(doc(
            &tsh,
            &lab_a,
            Edit {
                set: set.clone(),
                ..mk(format!("R{j}-v1"), 7, 20)
            },
        ));
        v2s.push(doc(
            &tsh,
            &lab_a,
            Edit {
                set,
                version: 2,
                replaces: Some(format!("R{j}-v1")),
                ..mk(format!("R{j}-v2"), 8, 10)
            },
        ));
    }
    // A report sent but never given as produced.
    let unknown = doc(&tsh, &unsent, mk("U-1".into(), 8, 5));

    // ---- Lab B (the Port), as a zip archive: per month 25 NFS (18 sent; in September 4 of
    // them in a message with no MDN asked, then returned by a DSN), 2 invalid; 2 level-1 CR-BIO
    // in August; 2 unreadable files.
    let mut b_sent: Vec<Vec<PathBuf>> = Vec::new();
    let mut b_dsn: Vec<PathBuf> = Vec::new();
    for m in 7..=9 {
        let mut group = Vec::new();
        for i in 0..25 {
            let p = doc(&nfs, &lab_b, mk(format!("B{m}-{i:02}"), m, 1 + i));
            if i % 4 != 0 {
                group.push(p);
                if group.len() == 4 || i == 23 {
                    if m == 9 && b_dsn.is_empty() {
                        b_dsn = std::mem::take(&mut group);
                    } else {
                        b_sent.push(std::mem::take(&mut group));
                    }
                }
            }
        }
        assert!(group.is_empty(), "{group:?}");
        for i in 0..2 {
            let e = Edit {
                invalid: true,
                ..mk(format!("BX{m}-{i}"), m, 12)
            };
            doc(&nfs, &lab_b, e);
        }
    }
    for i in 0..2 {
        let e = Edit {
            level1: true,
            ..mk(format!("BN-{i}"), 8, 20)
        };
        doc(&nfs, &lab_b, e);
    }
    write(
        &lab_b,
        "broken.xml",
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><id root=",
    );
    write(&lab_b, "binary.xml", "\u{0}\u{1}PDF?\u{0}");
    let zip_path = t.join("produced/lab-b.zip");
    {
        let f = std::fs::File::create(&zip_path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let mut names: Vec<_> = std::fs::read_dir(&lab_b)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            z.start_file(
                format!("export/{}", p.file_name().unwrap().to_string_lossy()),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            std::io::Write::write_all(&mut z, &std::fs::read(&p).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }

    // ---- The hospital (the Vilaine), as a list file: 20 discharge letters a month (18 sent),
    // one of May.
    let mut h_sent: Vec<Vec<PathBuf>> = Vec::new();
    let mut list = String::from("# lettres de liaison du DPI\n");
    for m in 7..=9 {
        let mut group = Vec::new();
        for i in 0..20 {
            let p = doc(&ldl, &hosp, mk(format!("H{m}-{i:02}"), m, 1 + i));
            list += &format!("hospital/H{m}-{i:02}.xml\n");
            if i % 10 != 0 {
                group.push(p);
                if group.len() == 4 || i == 19 {
                    h_sent.push(std::mem::take(&mut group));
                }
            }
        }
    }
    doc(&ldl, &hosp, mk("H5-00".into(), 5, 20));
    list += "hospital/H5-00.xml\n";
    let list_path = write(&t.join("produced"), "hospital.txt", &list);

    // ---- Sending: banc mail send → simulated receiver (its spool) → MDNs to banc mail serve.
    let mdn_spool = t.join("mdn-spool");
    let serve = common::serve(&mdn_spool, &[]);
    let receiver_spool = t.join("receiver-spool");
    let (_receiver, rport) = receiver(&receiver_spool, serve.port);
    let mut tx = Sender {
        port: rport,
        sent: 0,
        with_mdn: 0,
    };
    let mut acked = 0;
    // Version 1 of three replaced reports first, and their MDNs awaited: the receiver then
    // knows them when version 2 comes (processed); the other three version 2 come alone (900).
    for v1 in &v1s[..3] {
        tx.send(std::slice::from_ref(v1), true, &[]);
    }
    wait_messages(&serve, &mut acked, tx.with_mdn);
    for v2 in &v2s {
        tx.send(std::slice::from_ref(v2), true, &[]);
    }
    for g in a_sent
        .iter()
        .chain(&a_unknown_patient)
        .chain(&b_sent)
        .chain(&h_sent)
    {
        tx.send(g, true, &[]);
    }
    for p in a_invalid_sent.iter().chain(&june[..1]).chain([&unknown]) {
        tx.send(std::slice::from_ref(p), true, &[]);
    }
    // A report sent twice, and a message whose package was forgotten.
    tx.send(&[lab_a.join("A7-01.xml")], true, &[]);
    tx.send(&[lab_a.join("A7-02.xml")], true, &["--fault", "no-zip"]);
    let dsn_mid = tx.send(&b_dsn, false, &[]);
    wait_messages(&serve, &mut acked, tx.with_mdn);
    drop(_receiver);
    drop(serve);

    // The DSN in the sending mailbox's Maildir; a copy of a sent message in an mbox.
    let maildir = t.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let dsn = fixture("mail/acks/dsn-failed.eml")
        .replace("tsh.20260121T152500@lbm-golfe.mssante.fr", &dsn_mid);
    write(&maildir.join("new"), "1767000000.dsn.host", &dsn);
    let first_msg = std::fs::read_dir(receiver_spool.join("msg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    let copy = std::fs::read_to_string(&first_msg).unwrap();
    write(
        &t,
        "sent.mbox",
        &format!("From sgl@labo-golfe.test Mon Aug  3 10:00:00 2026\n{copy}\n"),
    );

    // ---- The stays of the quarter.
    let stays = write(
        &t,
        "sejours.csv",
        "mois;etablissement;sejours\n2026-07;1350007191;30\n2026-08;1350007191;28\n2026-09;1350007191;32\n2026-06;1350007191;99\n",
    );

    let r = run(&[
        "indicators",
        "--quarter",
        "2026-T3",
        "--produced",
        &s(&lab_a),
        "--produced",
        &s(&zip_path),
        "--produced",
        &s(&list_path),
        "--sent",
        &s(&receiver_spool),
        "--sent",
        &s(&mdn_spool),
        "--sent",
        &s(&maildir),
        "--sent",
        &s(&t.join("sent.mbox")),
        "--stays",
        &s(&stays),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");

    // ---- Table 2: the labs, month by month.
    let lab = |id: &str| {
        v["labs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("lab {id} in {}", v["labs"]))
            .clone()
    };
    assert_eq!(v["labs"].as_array().unwrap().len(), 2);
    let (a, b) = (lab(LAB_A), lab(LAB_B));
    assert_eq!(a["name"], "Laboratoire de biologie médicale du Golfe");
    // (month, CR-BIO, level 3, K, L, rejected, undelivered, never sent)
    let want_a = [
        ("2026-07", 41, 41, 38, 32, 8, 0, 6),
        ("2026-08", 47, 47, 44, 38, 11, 0, 6),
        ("2026-09", 41, 41, 38, 32, 8, 0, 6),
        ("2026-T3", 129, 129, 120, 102, 27, 0, 18),
    ];
    let want_b = [
        ("2026-07", 27, 27, 25, 18, 0, 0, 7),
        ("2026-08", 29, 27, 25, 18, 0, 0, 7),
        ("2026-09", 27, 27, 25, 14, 0, 4, 7),
        ("2026-T3", 83, 81, 75, 50, 0, 4, 21),
    ];
    let check_lab = |e: &serde_json::Value, want: &[LabRow]| {
        let mut rows: Vec<serde_json::Value> = e["months"].as_array().unwrap().clone();
        let mut total = e["total"].clone();
        total["month"] = "2026-T3".into();
        rows.push(total);
        for (row, w) in rows.iter().zip(want) {
            let got = (
                row["month"].as_str().unwrap(),
                row["cr_bio"].as_u64().unwrap(),
                row["level3"].as_u64().unwrap(),
                row["k"].as_u64().unwrap(),
                row["l"].as_u64().unwrap(),
                row["rejected"].as_u64().unwrap(),
                row["undelivered"].as_u64().unwrap(),
                row["never_sent"].as_u64().unwrap(),
            );
            assert_eq!(got, *w, "{}", e["id"]);
            let ms4 = (w.4 as f64 * 1000.0 / w.3 as f64).round() / 10.0;
            assert_eq!(row["ms4"].as_f64(), Some(ms4), "{} {}", e["id"], w.0);
        }
    };
    check_lab(&a, &want_a);
    check_lab(&b, &want_b);
    // Of L, acknowledged by an MDN `processed`: the TSH reports and the three version 2 whose
    // version 1 the receiver knew; the NFS reports but the four of the DSN message (no MDN).
    let processed = |e: &serde_json::Value| -> Vec<u64> {
        let mut v: Vec<u64> = e["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["processed"].as_u64().unwrap())
            .collect();
        v.push(e["total"]["processed"].as_u64().unwrap());
        v
    };
    assert_eq!(processed(&a), [24, 27, 24, 75]);
    assert_eq!(processed(&b), [18, 18, 14, 50]);
    let lt = &v["labs_total"]["total"];
    assert_eq!((lt["k"].as_u64(), lt["l"].as_u64()), (Some(195), Some(152)));
    assert_eq!(lt["ms4"].as_f64(), Some(77.9));

    // ---- Table 1: the hospital (B from the CSV, June ignored).
    let ests = v["establishments"].as_array().unwrap();
    assert_eq!(ests.len(), 1, "{}", v["establishments"]);
    let h = &ests[0];
    assert_eq!(h["id"], HOSP);
    for (i, b_stays) in [30, 28, 32].into_iter().enumerate() {
        let m = &h["months"][i];
        assert_eq!(
            (
                m["b"].as_u64(),
                m["c"].as_u64(),
                m["d"].as_u64(),
                m["never_sent"].as_u64()
            ),
            (Some(b_stays), Some(20), Some(18), Some(2)),
            "{m}"
        );
    }
    let ht = &h["total"];
    assert_eq!(
        (
            ht["b"].as_u64(),
            ht["c"].as_u64(),
            ht["c_conformant"].as_u64(),
            ht["d"].as_u64()
        ),
        (Some(90), Some(60), Some(60), Some(54))
    );
    assert_eq!(processed(h), [18, 18, 18, 54]);
    assert_eq!(ht["ms1"].as_f64(), Some(66.7));
    assert_eq!(ht["ms2"].as_f64(), Some(90.0));
    assert_eq!(
        v["establishments_total"]["total"]["ms1"].as_f64(),
        Some(66.7)
    );

    // ---- Reconciliation: every input in one bucket.
    let bucket = |rec: &str, id: &str| {
        v[rec]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id)
            .unwrap_or_else(|| panic!("{rec}.{id}"))["count"]
            .as_u64()
            .unwrap()
    };
    let produced = [
        ("counted", 120 + 75 + 60),
        ("in-period-not-counted", 9 + 6 + 2),
        ("outside-period", 7 + 1),
        ("undated", 2),
        ("duplicate", 2),
        ("replaced", 6),
        ("other-type", 0),
        ("unreadable", 2),
    ];
    for (id, n) in produced {
        assert_eq!(bucket("produced", id), n, "produced.{id}");
    }
    assert_eq!(v["produced"]["total"], 292);
    assert_eq!(v["produced"]["balanced"], true);

    let messages = tx.sent as u64;
    assert_eq!(bucket("sent", "with-documents"), messages - 1);
    assert_eq!(bucket("sent", "without-package"), 1);
    assert_eq!(bucket("sent", "duplicate"), 1);
    assert_eq!(bucket("sent", "acknowledgement"), tx.with_mdn as u64 + 1);
    assert_eq!(bucket("sent", "orphan-acknowledgement"), 0);
    assert_eq!(bucket("sent", "unreadable"), 0);
    assert_eq!(
        v["sent"]["total"].as_u64(),
        Some(messages + 1 + tx.with_mdn as u64 + 1)
    );
    assert_eq!(v["sent"]["balanced"], true);

    // Sent documents: 102 + 50 + 54 counted; the second sends (3 version 2, A7-01 again);
    // an invalid one and a June one (produced, not counted); U-1 (unknown).
    for (id, n) in [
        ("counted", 102 + 50 + 4 + 54),
        ("resent", 4),
        ("not-counted", 2),
        ("unknown", 1),
        ("unreadable", 0),
    ] {
        assert_eq!(bucket("sent_documents", id), n, "sent_documents.{id}");
    }
    assert_eq!(v["sent_documents"]["balanced"], true);
    assert_eq!(v["sent_unknown"][0]["id"], "1.2.3.4.999.1^U-1");

    // Refusals: 24 glycaemia reports (902) and three version 2 (900).
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 27);
    let with = |code: &str| {
        rejected
            .iter()
            .filter(|r| r["detail"].as_str().unwrap().contains(code))
            .count()
    };
    assert_eq!(
        (with("error 902"), with("error 900")),
        (24, 3),
        "{rejected:?}"
    );
    assert_eq!(v["never_sent"].as_array().unwrap().len(), 18 + 21 + 6);
    // Non-conformant documents of the quarter, by rule: the 15 without realmCode.
    let rules = v["nonconformant"].as_array().unwrap();
    let realm = rules
        .iter()
        .find(|r| r["rule"] == "banc.header.realm-code")
        .unwrap();
    assert_eq!(realm["documents"], 15);

    // ---- The other formats: CSV tables 1 and 2, HTML with its chart, the table.
    let r = run(&[
        "indicators",
        "--quarter",
        "2026-T3",
        "--produced",
        &s(&list_path),
        "--sent",
        &s(&mdn_spool),
        "--sent",
        &s(&receiver_spool),
        "--stays",
        "90",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total_row = r
        .stdout
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "1;{HOSP};Centre hospitalier de la Vilaine;2026-T3;"
            ))
        })
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(
        total_row.contains(";90;60;54;66,7;90,0;;;;54;0;0;6"),
        "{total_row}"
    );
    assert!(
        r.stdout
            .starts_with("tableau;structure;nom;periode;total_B_sejours")
    );

    let html = t.join("indicators.html");
    let r = run(&[
        "indicators",
        "--from",
        "2026-07-01",
        "--to",
        "2026-09-30",
        "--produced",
        &s(&lab_a),
        "--format",
        "html",
        "--out",
        &s(&html),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Content-Security-Policy"));
    // Self-contained: no script, no external asset.
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("<link"));
    assert!(page.contains("Laboratoire de biologie médicale du Golfe"));

    let r = run(&[
        "indicators",
        "--quarter",
        "2026-T3",
        "--produced",
        &s(&lab_a),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Tableau 2"), "{}", r.stdout);
    assert!(r.stdout.contains("(équilibré)"), "{}", r.stdout);
}

#[test]
fn a_bad_period_or_a_missing_input_is_refused() {
    let r = run(&[
        "indicators",
        "--quarter",
        "2026-T5",
        "--produced",
        "fixtures",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("trimestre"), "{}", r.stderr);
    let r = run(&[
        "indicators",
        "--quarter",
        "2026-T1",
        "--produced",
        "/nonexistent/banc",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("introuvable"), "{}", r.stderr);
}
