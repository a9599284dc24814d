//! Evidence bundles: `banc event export` writes one zip holding every attempt, report,
//! message, document, decision and the audit log of an event (or of one participant: only
//! what concerns it), with `manifest.json` listing the sha256 of each file, the suites'
//! versions and hashes and the kits' fingerprints, signed with the event's Ed25519 key
//! (`manifest.sig`). `banc event verify` checks the signature and every hash, and says what
//! the bundle proves.

use super::store::{self, AuditEntry};
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
    // Cut runs first (a killed run's attempts are exported interrupted, not running), then one
    // read transaction: the bundle is one consistent snapshot while runs go on.
    let st = super::open_for_change(dir)?;
    let key = super::signing_key(dir)?;
    let _snapshot = st.conn().unchecked_transaction()?;
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
    // Written beside the target (owner-only: it holds documents about patients), then renamed:
    // a half-written bundle never has its name, nor stays behind.
    let tmp = out.with_extension("zip.part");
    let written = write_bundle(&tmp, dir, &manifest_bytes, &signature, &files, &blobs);
    let size = match written.and_then(|size| {
        std::fs::rename(&tmp, out)
            .map(|()| size)
            .map_err(|e| Error::Io(format!("{} : {e}", out.display())))
    }) {
        Ok(size) => size,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(Exported {
        path: out.display().to_string(),
        files: manifest.files.len() + 2,
        bytes: size,
        attempts: n_attempts,
        public_key: info.public_key,
    })
}

fn write_bundle(
    tmp: &Path,
    dir: &Path,
    manifest: &[u8],
    signature: &ed25519_dalek::Signature,
    files: &[(String, Vec<u8>)],
    blobs: &BTreeSet<String>,
) -> Result<u64, Error> {
    let io = |e: std::io::Error| Error::Io(format!("{} : {e}", tmp.display()));
    let zerr = |e: zip::result::ZipError| Error::Io(format!("{} : {e}", tmp.display()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let file = o.open(tmp).map_err(io)?;
    let mut w = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file(MANIFEST, opts).map_err(zerr)?;
    w.write_all(manifest).map_err(io)?;
    w.start_file(SIGNATURE, opts).map_err(zerr)?;
    w.write_all(hex::encode(signature.to_bytes()).as_bytes())
        .map_err(io)?;
    for (p, b) in files {
        w.start_file(p.as_str(), opts).map_err(zerr)?;
        w.write_all(b).map_err(io)?;
    }
    for b in blobs {
        let bytes = std::fs::read(store::blob_path(dir, b)).map_err(io)?;
        if hex::encode(Sha256::digest(&bytes)) != *b {
            return Err(Error::Io(format!(
                "blob {b} altéré dans le magasin de l'événement : export refusé"
            )));
        }
        w.start_file(format!("blobs/{b}"), opts).map_err(zerr)?;
        w.write_all(&bytes).map_err(io)?;
    }
    let f = w.finish().map_err(zerr)?;
    f.sync_all().map_err(io)?;
    Ok(f.metadata().map(|m| m.len()).unwrap_or(0))
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Signed with the expected key, every hash holds, nothing added.
    pub ok: bool,
    pub signature_ok: bool,
    /// The key the manifest names, and whether it is the expected one.
    pub public_key: String,
    pub key_matches: bool,
    pub files_checked: usize,
    /// Each problem, in French.
    pub problems: Vec<String>,
    pub manifest: Option<Manifest>,
    /// The audit chain of a whole-event bundle verified (None: a participant's bundle holds
    /// only its entries, whose chain cannot be recomputed alone).
    pub audit_chain_ok: Option<bool>,
}

/// Check a bundle against the event's public key (hex) as published: the manifest's
/// signature, then — the manifest being authentic — each file it lists (size, then sha256,
/// read as a stream) and that the archive holds nothing else, no name twice.
pub fn verify(path: &Path, key: &str) -> Result<Verification, Error> {
    let mut v = Verification {
        ok: false,
        signature_ok: false,
        public_key: String::new(),
        key_matches: false,
        files_checked: 0,
        problems: Vec::new(),
        manifest: None,
        audit_chain_ok: None,
    };
    let vk = hex::decode(key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--key {key} : clé publique Ed25519 attendue (64 chiffres hexadécimaux)"
            ))
        })?;
    let file = crate::files::open(path).map_err(|e| Error::Io(e.to_string()))?;
    let mut z = match zip::ZipArchive::new(file) {
        Ok(z) => z,
        Err(e) => {
            v.problems
                .push(format!("pas une archive zip lisible ({e})"));
            return Ok(v);
        }
    };
    if z.len() > MAX_ENTRIES {
        v.problems.push(format!(
            "{} entrées : trop pour un paquet de preuves",
            z.len()
        ));
        return Ok(v);
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for i in 0..z.len() {
        match z.by_index_raw(i) {
            Ok(f) => {
                let n = String::from_utf8_lossy(f.name_raw()).into_owned();
                if !names.insert(n.clone()) {
                    v.problems
                        .push(format!("{n} : présent deux fois dans l'archive"));
                }
            }
            Err(e) => v.problems.push(format!("entrée {} illisible : {e}", i + 1)),
        }
    }
    let small = |z: &mut zip::ZipArchive<std::fs::File>, name: &str| -> Option<Vec<u8>> {
        let f = z.by_name(name).ok()?;
        let mut b = Vec::new();
        f.take(MAX_MANIFEST).read_to_end(&mut b).ok()?;
        Some(b)
    };
    let Some(manifest_bytes) = small(&mut z, MANIFEST) else {
        v.problems.push(format!("{MANIFEST} absent ou illisible"));
        return Ok(v);
    };
    let sig = small(&mut z, SIGNATURE)
        .and_then(|b| hex::decode(String::from_utf8_lossy(&b).trim()).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b));
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems.push(format!("{MANIFEST} illisible : {e}"));
            return Ok(v);
        }
    };
    v.public_key = manifest.event.public_key.clone();
    v.key_matches = key.trim().eq_ignore_ascii_case(&manifest.event.public_key);
    if !v.key_matches {
        v.problems.push(format!(
            "le manifeste nomme la clé {} et non la clé attendue {}",
            manifest.event.public_key,
            key.trim()
        ));
    }
    v.signature_ok = sig.is_some_and(|sig| vk.verify(&manifest_bytes, &sig).is_ok());
    if !v.signature_ok {
        v.problems.push(
            "signature du manifeste invalide pour la clé attendue : le manifeste a été modifié, ou signé par une autre clé"
                .into(),
        );
        v.manifest = Some(manifest);
        return Ok(v);
    }
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for n in &names {
        if n != MANIFEST && n != SIGNATURE && !listed.contains(n.as_str()) {
            v.problems
                .push(format!("{n} : fichier absent du manifeste"));
        }
    }
    let mut audit_bytes = None;
    for f in &manifest.files {
        let entry = match z.by_name(&f.path) {
            Ok(e) => e,
            Err(_) => {
                v.problems.push(format!("{} : absent de l'archive", f.path));
                continue;
            }
        };
        if entry.size() != f.size {
            v.problems.push(format!(
                "{} : {} octets, le manifeste en annonce {}",
                f.path,
                entry.size(),
                f.size
            ));
            continue;
        }
        let keep = f.path == "audit.json";
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut sink = HashSink {
            hasher: &mut hasher,
            keep: keep.then_some(&mut kept),
            n: 0,
        };
        let copied = std::io::copy(&mut entry.take(f.size.saturating_add(1)), &mut sink);
        let n = sink.n;
        match copied {
            Ok(_) if n == f.size => {
                v.files_checked += 1;
                let sha = hex::encode(hasher.finalize());
                if sha != f.sha256 {
                    v.problems.push(format!(
                        "{} : contenu modifié (sha256 {sha}, attendu {})",
                        f.path, f.sha256
                    ));
                } else if keep {
                    audit_bytes = Some(kept);
                }
            }
            Ok(_) => v
                .problems
                .push(format!("{} : taille différente de l'annonce", f.path)),
            Err(e) => v.problems.push(format!("{} : {e}", f.path)),
        }
    }
    if manifest.participant.is_none() {
        v.audit_chain_ok = Some(audit_bytes.is_some_and(|b| audit_chain_holds(&b)));
        if v.audit_chain_ok == Some(false) {
            v.problems
                .push("journal d'audit : chaîne d'empreintes rompue".into());
        }
    }
    v.ok = v.problems.is_empty();
    v.manifest = Some(manifest);
    Ok(v)
}

/// Largest manifest or signature read.
const MAX_MANIFEST: u64 = 256 * 1024 * 1024;

/// Hashes what is written to it (and keeps it when asked), counting bytes.
struct HashSink<'a> {
    hasher: &'a mut Sha256,
    keep: Option<&'a mut Vec<u8>>,
    n: u64,
}

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        if let Some(k) = self.keep.as_mut() {
            k.extend_from_slice(buf);
        }
        self.n += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn audit_chain_holds(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Audit {
        entries: Vec<AuditEntry>,
    }
    serde_json::from_slice::<Audit>(bytes).is_ok_and(|a| store::verify_chain(&a.entries).is_none())
}
