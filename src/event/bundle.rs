//! Evidence bundles: `banc event export` writes one zip holding every attempt, report,
//! message, document, decision and the audit log of an event (or of one participant: only
//! what concerns it), with `manifest.json` listing the sha256 of each file, the suites'
//! versions and hashes and the kits' fingerprints, signed with the event's Ed25519 key
//! (`manifest.sig`). `banc event verify` checks the signature and every hash, and says what
//! the bundle proves.

use super::store::{self, AuditEntry, Store};
use super::{Error, InstanceRow};
use ed25519_dalek::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

pub const BUNDLE_SCHEMA: &str = "banc-event-bundle/1";
const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.sig";
/// Largest bundle entry read by `verify` (a message or a document is far smaller).
const MAX_ENTRY: u64 = 512 * 1024 * 1024;
const MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub event: ManifestEvent,
    /// The participant the bundle is restricted to; null: the whole event.
    pub participant: Option<String>,
    /// When it was exported (RFC 3339), by which banc.
    pub exported: String,
    pub banc: String,
    pub suites: Vec<ManifestSuite>,
    /// Fingerprints of the kits the attempts were judged with.
    pub kits: Vec<String>,
    pub counts: BTreeMap<String, usize>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEvent {
    pub id: String,
    pub title: String,
    pub created: String,
    /// Ed25519 public key (hex) the manifest is signed with.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSuite {
    pub id: String,
    pub version: Option<String>,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// One attempt as exported, with its steps, artifacts and decisions.
#[derive(Debug, Clone, Serialize)]
struct AttemptExport {
    #[serde(flatten)]
    attempt: super::AttemptRow,
    steps: Vec<serde_json::Value>,
    artifacts: Vec<ArtifactExport>,
}

#[derive(Debug, Clone, Serialize)]
struct ArtifactExport {
    step: i64,
    kind: String,
    name: String,
    sha256: String,
    size: i64,
    /// Its file in the bundle.
    path: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub path: String,
    pub files: usize,
    pub bytes: u64,
    pub attempts: usize,
    pub public_key: String,
}

fn concerns(e: &AuditEntry, participant: &str) -> bool {
    e.subject == format!("participant {participant}")
        || e.subject.starts_with(&format!("{participant}/"))
}

/// Write the bundle of the event (or of one participant) to `out`.
pub fn export(dir: &Path, participant: Option<&str>, out: &Path) -> Result<Exported, Error> {
    let st = Store::open(dir)?;
    let key = super::signing_key(dir)?;
    let info = super::info(&st)?;
    let conn = st.conn();
    let participants: Vec<_> = super::participants(conn)?
        .into_iter()
        .filter(|p| participant.is_none_or(|x| p.id == x))
        .collect();
    if let Some(p) = participant
        && participants.is_empty()
    {
        return Err(Error::Invalid(format!("participant inconnu : {p}")));
    }
    let instances: Vec<InstanceRow> = super::instances(conn, participant)?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    let mut kits: BTreeSet<String> = BTreeSet::new();
    let mut attempts_out: BTreeMap<String, Vec<AttemptExport>> = BTreeMap::new();
    let mut n_attempts = 0;
    for i in &instances {
        let mut list = Vec::new();
        for a in super::attempts(conn, &i.id)? {
            n_attempts += 1;
            if let Some(k) = &a.kit {
                kits.insert(k.clone());
            }
            if let Some(r) = &a.report {
                blobs.insert(r.clone());
            }
            let steps: Vec<serde_json::Value> = {
                let mut q =
                    conn.prepare("SELECT result FROM steps WHERE attempt = ?1 ORDER BY n")?;
                q.query_map([a.id], |r| r.get::<_, String>(0))?
                    .filter_map(|r| r.ok())
                    .filter_map(|j| serde_json::from_str(&j).ok())
                    .collect()
            };
            let artifacts: Vec<ArtifactExport> = {
                let mut q = conn.prepare(
                    "SELECT step, kind, name, sha256, size FROM artifacts WHERE attempt = ?1 ORDER BY rowid",
                )?;
                q.query_map([a.id], |r| {
                    let sha: String = r.get(3)?;
                    Ok(ArtifactExport {
                        step: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        path: format!("blobs/{sha}"),
                        sha256: sha,
                        size: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?
            };
            blobs.extend(artifacts.iter().map(|x| x.sha256.clone()));
            list.push(AttemptExport {
                attempt: a,
                steps,
                artifacts,
            });
        }
        attempts_out.insert(i.id.clone(), list);
    }
    let decisions: Vec<_> = super::monitor::decisions(conn, None)?
        .into_iter()
        .filter(|d| participant.is_none_or(|p| d.instance.starts_with(&format!("{p}/"))))
        .collect();
    let overrides: Vec<_> = super::monitor::overrides(conn)?
        .into_iter()
        .filter(|o| participant.is_none_or(|p| o.participant == p))
        .collect();
    let scores: Vec<_> = super::score::scores(&st)?
        .into_iter()
        .filter(|s| participant.is_none_or(|p| s.participant == p))
        .collect();
    let audit: Vec<AuditEntry> = store::audit_log(conn)?
        .into_iter()
        .filter(|e| participant.is_none_or(|p| concerns(e, p)))
        .collect();
    let suites = super::suites(conn)?;
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    files.push((
        "event.json".into(),
        json(&serde_json::json!({
            "event": info,
            "participants": participants,
            "instances": instances,
            "attempts": attempts_out,
            "decisions": decisions,
            "overrides": overrides,
        })),
    ));
    files.push(("scores.json".into(), json(&serde_json::json!(scores))));
    files.push((
        "audit.json".into(),
        json(&serde_json::json!({
            "complete": participant.is_none(),
            "entries": audit,
        })),
    ));
    let mut counts = BTreeMap::new();
    counts.insert("instances".into(), instances.len());
    counts.insert("attempts".into(), n_attempts);
    counts.insert("decisions".into(), decisions.len());
    counts.insert("audit".into(), audit.len());
    counts.insert("blobs".into(), blobs.len());
    let mut listed: Vec<ManifestFile> = files
        .iter()
        .map(|(p, b)| ManifestFile {
            path: p.clone(),
            sha256: hex::encode(Sha256::digest(b)),
            size: b.len() as u64,
        })
        .collect();
    for b in &blobs {
        let meta = std::fs::metadata(store::blob_path(dir, b))
            .map_err(|e| Error::Io(format!("blob {b} : {e}")))?;
        // Content-addressed: the name is the hash (checked again when the file is copied).
        listed.push(ManifestFile {
            path: format!("blobs/{b}"),
            sha256: b.clone(),
            size: meta.len(),
        });
    }
    let manifest = Manifest {
        schema: BUNDLE_SCHEMA.into(),
        event: ManifestEvent {
            id: info.id.clone(),
            title: info.title.clone(),
            created: info.created.clone(),
            public_key: info.public_key.clone(),
        },
        participant: participant.map(String::from),
        exported: crate::clock::Utc::now().rfc3339(),
        banc: env!("CARGO_PKG_VERSION").into(),
        suites: suites
            .iter()
            .map(|s| ManifestSuite {
                id: s.id.clone(),
                version: s.version.clone(),
                hash: s.print.hash.clone(),
            })
            .collect(),
        kits: kits.into_iter().collect(),
        counts,
        files: listed,
    };
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Io(e.to_string()))?;
    let signature = key.sign(&manifest_bytes);
    // Written beside the target, then renamed: a half-written bundle never has its name.
    let tmp = out.with_extension("zip.part");
    let io = |e: std::io::Error| Error::Io(format!("{} : {e}", tmp.display()));
    let zerr = |e: zip::result::ZipError| Error::Io(format!("{} : {e}", tmp.display()));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = zip::ZipWriter::new(file);
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file(MANIFEST, o).map_err(zerr)?;
    w.write_all(&manifest_bytes).map_err(io)?;
    w.start_file(SIGNATURE, o).map_err(zerr)?;
    w.write_all(hex::encode(signature.to_bytes()).as_bytes())
        .map_err(io)?;
    for (p, b) in &files {
        w.start_file(p.as_str(), o).map_err(zerr)?;
        w.write_all(b).map_err(io)?;
    }
    for b in &blobs {
        let bytes = std::fs::read(store::blob_path(dir, b)).map_err(io)?;
        if hex::encode(Sha256::digest(&bytes)) != *b {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Io(format!(
                "blob {b} altéré dans le magasin de l'événement : export refusé"
            )));
        }
        w.start_file(format!("blobs/{b}"), o).map_err(zerr)?;
        w.write_all(&bytes).map_err(io)?;
    }
    let f = w.finish().map_err(zerr)?;
    f.sync_all().map_err(io)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    drop(f);
    std::fs::rename(&tmp, out).map_err(|e| Error::Io(format!("{} : {e}", out.display())))?;
    Ok(Exported {
        path: out.display().to_string(),
        files: manifest.files.len() + 2,
        bytes: size,
        attempts: n_attempts,
        public_key: info.public_key,
    })
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Signature and every hash hold (and the key is the one expected, when one was given).
    pub ok: bool,
    pub signature_ok: bool,
    /// The key the manifest names, and whether it is the one given with `--key`.
    pub public_key: String,
    pub key_pinned: Option<bool>,
    pub files_checked: usize,
    /// Each problem, in French.
    pub problems: Vec<String>,
    pub manifest: Option<Manifest>,
    /// The audit chain of a whole-event bundle verified (None: a participant's bundle holds
    /// only its entries, whose chain cannot be recomputed alone).
    pub audit_chain_ok: Option<bool>,
}

/// Check a bundle: the manifest's signature with its key (or with `key` when given), the
/// sha256 of every file it lists, and that it holds no file it does not list.
pub fn verify(path: &Path, key: Option<&str>) -> Result<Verification, Error> {
    let file = crate::files::open(path).map_err(|e| Error::Io(e.to_string()))?;
    let mut z = zip::ZipArchive::new(file).map_err(|e| {
        Error::Invalid(format!(
            "{} : pas une archive zip lisible ({e})",
            path.display()
        ))
    })?;
    let mut v = Verification {
        ok: false,
        signature_ok: false,
        public_key: String::new(),
        key_pinned: None,
        files_checked: 0,
        problems: Vec::new(),
        manifest: None,
        audit_chain_ok: None,
    };
    if z.len() > MAX_ENTRIES {
        v.problems.push(format!(
            "{} entrées : trop pour un paquet de preuves",
            z.len()
        ));
        return Ok(v);
    }
    let read =
        |z: &mut zip::ZipArchive<std::fs::File>, name: &str| -> Result<Option<Vec<u8>>, String> {
            let mut f = match z.by_name(name) {
                Ok(f) => f,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                Err(e) => return Err(format!("{name} : {e}")),
            };
            let mut b = Vec::new();
            (&mut f)
                .take(MAX_ENTRY + 1)
                .read_to_end(&mut b)
                .map_err(|e| format!("{name} : {e}"))?;
            if b.len() as u64 > MAX_ENTRY {
                return Err(format!("{name} : plus de {MAX_ENTRY} octets"));
            }
            Ok(Some(b))
        };
    let manifest_bytes = match read(&mut z, MANIFEST) {
        Ok(Some(b)) => b,
        Ok(None) => {
            v.problems.push(format!("{MANIFEST} absent"));
            return Ok(v);
        }
        Err(e) => {
            v.problems.push(e);
            return Ok(v);
        }
    };
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems.push(format!("{MANIFEST} illisible : {e}"));
            return Ok(v);
        }
    };
    v.public_key = manifest.event.public_key.clone();
    if let Some(k) = key {
        v.key_pinned = Some(k.trim().eq_ignore_ascii_case(&manifest.event.public_key));
        if v.key_pinned == Some(false) {
            v.problems.push(format!(
                "le manifeste est signé par la clé {} et non par la clé attendue {k}",
                manifest.event.public_key
            ));
        }
    }
    let signed_with = key.unwrap_or(&manifest.event.public_key);
    let vk = hex::decode(signed_with.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
    let sig = match read(&mut z, SIGNATURE) {
        Ok(Some(b)) => hex::decode(String::from_utf8_lossy(&b).trim())
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b)),
        _ => None,
    };
    match (vk, sig) {
        (Some(vk), Some(sig)) => {
            v.signature_ok = vk.verify(&manifest_bytes, &sig).is_ok();
            if !v.signature_ok {
                v.problems
                    .push("signature du manifeste invalide : le manifeste a été modifié, ou signé par une autre clé".into());
            }
        }
        (None, _) => v.problems.push("clé publique illisible".into()),
        (_, None) => v.problems.push(format!("{SIGNATURE} absent ou illisible")),
    }
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut names: Vec<String> = Vec::new();
    for n in z.file_names() {
        match n {
            Ok(n) => names.push(n.into_owned()),
            Err(e) => v.problems.push(format!("nom d'entrée illisible : {e}")),
        }
    }
    for n in &names {
        if n != MANIFEST && n != SIGNATURE && !listed.contains(n.as_str()) {
            v.problems
                .push(format!("{n} : fichier absent du manifeste"));
        }
    }
    let mut audit_bytes = None;
    for f in &manifest.files {
        match read(&mut z, &f.path) {
            Ok(Some(b)) => {
                v.files_checked += 1;
                let sha = hex::encode(Sha256::digest(&b));
                if sha != f.sha256 || b.len() as u64 != f.size {
                    v.problems.push(format!(
                        "{} : contenu modifié (sha256 {sha}, attendu {})",
                        f.path, f.sha256
                    ));
                }
                if f.path == "audit.json" {
                    audit_bytes = Some(b);
                }
            }
            Ok(None) => v.problems.push(format!("{} : absent de l'archive", f.path)),
            Err(e) => v.problems.push(e),
        }
    }
    if manifest.participant.is_none() {
        v.audit_chain_ok = audit_bytes.map(|b| audit_chain_holds(&b));
        if v.audit_chain_ok == Some(false) {
            v.problems
                .push("journal d'audit : chaîne d'empreintes rompue".into());
        }
    }
    v.ok = v.problems.is_empty() && v.signature_ok;
    v.manifest = Some(manifest);
    Ok(v)
}

fn audit_chain_holds(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Audit {
        entries: Vec<AuditEntry>,
    }
    serde_json::from_slice::<Audit>(bytes).is_ok_and(|a| store::verify_chain(&a.entries).is_none())
}
