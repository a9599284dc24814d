//! `banc simulate lab`: a reference producer. For each `submit` or `await-mail` step of a
//! producer scenario it hands over, or sends, the step's `sample` (a CR-BIO of the fixtures), as
//! a well-behaved lab would, or with the faults it is told to have.

use crate::mail::compose::{ComposeOptions, compose};
use crate::scenario::model::{Accept, Step};
use crate::scenario::run::{Ctx, Producer};
use crate::scenario::scope::Scope;
use std::path::{Path, PathBuf};
use std::sync::Arc;

crate::choice_enum! {
    /// A misbehaviour of the simulated lab, and the scenarios of `suites/cr-bio` it makes fail.
    pub enum LabFault {
        /// Never asks for a read receipt (no Disposition-Notification-To): CRBIO-P10.
        NoReadReceipt = "no-read-receipt",
        /// A corrected report gets a new setId instead of keeping the replaced one's: CRBIO-P12.
        ReplacementNewSetId = "replacement-new-set-id",
        /// Messages without any X-MSS-* header: CRBIO-P09 (and, through it, its dependents).
        NoXMss = "no-x-mss",
        /// Deposited documents carry an element the CDA schema does not know: the `submit`
        /// scenarios that expect a valid document (CRBIO-P01, P07, P08), when the XSD runs (with a kit).
        XsdInvalid = "xsd-invalid",
    }
}

/// A simulated producer: its mailbox and faults.
#[derive(Debug, Clone)]
pub struct Lab {
    pub mailbox: String,
    pub faults: Vec<LabFault>,
    /// STARTTLS to banc: the CA to trust, the lab's client certificate and key (PEM); none:
    /// STARTTLS when offered, verified against the system's CAs.
    pub tls: Option<LabTls>,
}

#[derive(Debug, Clone)]
pub struct LabTls {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl Lab {
    fn has(&self, f: LabFault) -> bool {
        self.faults.contains(&f)
    }

    /// The step's sample documents, with the lab's faults applied.
    fn documents(&self, fixtures: &Scope, step: &Step) -> Result<Vec<(String, Vec<u8>)>, String> {
        let sample = step
            .sample
            .as_ref()
            .ok_or("pas d'échantillon (clé sample) pour cette étape")?;
        let mut out = Vec::new();
        for d in &sample.documents {
            // Resolved in the suite folder again: a path leading out is never read nor copied.
            let path = fixtures
                .file(d)
                .map_err(|r| format!("sample : document « {d} » {r}"))?;
            let mut bytes = crate::files::read_bounded(&path, crate::files::MAX_DOCUMENT)?;
            let replacement = step.expect.as_ref().is_some_and(|e| e.replaces.is_some());
            if replacement && self.has(LabFault::ReplacementNewSetId) {
                bytes = new_set_id(&bytes);
            }
            if step.kind == crate::scenario::model::Kind::Submit && self.has(LabFault::XsdInvalid) {
                bytes = unknown_element(&bytes);
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "document.xml".into());
            out.push((name, bytes));
        }
        Ok(out)
    }

    fn message(
        &self,
        docs: &[(String, Vec<u8>)],
        step: &Step,
        to: &str,
    ) -> Result<Vec<u8>, String> {
        let mdn = step.sample.as_ref().is_some_and(|s| s.request_mdn);
        let opts = ComposeOptions {
            from: self.mailbox.clone(),
            to: vec![to.to_string()],
            disposition_notification_to: (mdn && !self.has(LabFault::NoReadReceipt))
                .then(|| self.mailbox.clone()),
            faults: if self.has(LabFault::NoXMss) {
                vec![crate::mail::compose::Fault::NoXMss]
            } else {
                Vec::new()
            },
            ..ComposeOptions::default()
        };
        compose(docs, &opts)
    }

    /// What the lab deposits for a `submit` step: file name and bytes.
    pub fn deposit(&self, fixtures: &Scope, step: &Step) -> Result<(String, Vec<u8>), String> {
        let docs = self.documents(fixtures, step)?;
        let accept = step.accept.clone().unwrap_or_default();
        let first = docs.first().ok_or("échantillon sans document")?;
        if accept.is_empty() || accept.contains(&Accept::Cda) {
            Ok(first.clone())
        } else if accept.contains(&Accept::Xdm) {
            let zip = crate::xdm::pack(&docs, &crate::xdm::PackOptions::default())?;
            Ok(("IHE_XDM.zip".into(), zip))
        } else {
            Ok((
                "message.eml".into(),
                self.message(&docs, step, "banc@banc.test")?,
            ))
        }
    }

    pub async fn deliver(
        &self,
        fixtures: &Scope,
        step: &Step,
        to: &str,
        server: &str,
    ) -> Result<(), String> {
        let docs = self.documents(fixtures, step)?;
        let to = if to.contains("<INS>") {
            let ins = docs
                .first()
                .and_then(|(n, b)| crate::cda::header::read(n, b).ok())
                .and_then(|h| h.patient.ins.and_then(|i| i.extension))
                .ok_or("document sans INS : pas d'adresse patient")?;
            to.replace("<INS>", &ins)
        } else {
            to.to_string()
        };
        let message = self.message(&docs, step, &to)?;
        let mut opts = crate::mail::submit::SubmitOptions::relay(server, &self.mailbox, &to);
        if let Some(t) = &self.tls {
            opts = opts.with_tls(Some(t.ca.clone()), Some((t.cert.clone(), t.key.clone())));
        }
        crate::mail::submit::submit(&opts, &message)
            .await
            .map(|_| ())
            .map_err(|e| format!("envoi à {server} : {e}"))
    }
}

impl Producer for Lab {
    /// Deposit the step's sample in `dir` (written aside, then renamed: never read half-written).
    fn submit(self: Arc<Self>, cx: &Ctx, step: &Step, dir: &Path) {
        let (lab, step, dir, fixtures) = (
            self,
            step.clone(),
            dir.to_path_buf(),
            cx.env.documents.clone(),
        );
        tokio::task::spawn_blocking(move || {
            if let Err(e) = lab
                .deposit(&fixtures, &step)
                .and_then(|(name, bytes)| write_atomic(&dir, &name, &bytes))
            {
                tracing::warn!("banc simulate lab : {e}");
            }
        });
    }

    /// Send the step's sample to banc (`to`; `<INS>` replaced by the document's INS).
    fn send(self: Arc<Self>, cx: &Ctx, step: &Step, to: &str) {
        let (lab, step, to) = (self, step.clone(), to.to_string());
        let (fixtures, server) = (cx.env.documents.clone(), cx.env.smtp_addr.clone());
        tokio::spawn(async move {
            if let Err(e) = lab.deliver(&fixtures, &step, &to, &server).await {
                tracing::warn!("banc simulate lab : {e}");
            }
        });
    }
}

/// Write `name` in `dir`, aside then renamed (never read half-written), readable by its owner
/// only: a copy of a suite's document gets banc's mode, never its source's.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("{} : {e}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{} : {e}", path.display()))?;
    Ok(path)
}

/// The same document under a setId of its own.
fn new_set_id(cda: &[u8]) -> Vec<u8> {
    let re = regex::bytes::Regex::new(r#"<setId\b[^>]*/>"#).expect("static regex");
    re.replace(
        cda,
        &b"<setId root=\"1.2.250.1.213.1.1.9.99\" extension=\"SIMULE-NOUVEAU-SETID\"/>"[..],
    )
    .into_owned()
}

/// The document with an element the CDA schema does not allow, right after typeId.
fn unknown_element(cda: &[u8]) -> Vec<u8> {
    let re = regex::bytes::Regex::new(r#"(<typeId\b[^>]*/>)"#).expect("static regex");
    re.replace(cda, &b"$1<champInconnu>simule</champInconnu>"[..])
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab resolves a sample again when it reads it: a link swapped in after the suite
    /// was checked is refused, never copied.
    #[test]
    fn a_sample_leading_out_of_the_suite_is_not_read() {
        let d = std::env::temp_dir().join(format!("banc-lab-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("suite/documents")).unwrap();
        std::fs::write(d.join("secret.xml"), "<secret/>").unwrap();
        std::os::unix::fs::symlink("../../secret.xml", d.join("suite/documents/cr.xml")).unwrap();
        let step: Step = toml::from_str(
            "kind = \"submit\"\naccept = [\"cda\"]\n[sample]\ndocuments = [\"documents/cr.xml\"]\n",
        )
        .unwrap();
        let lab = Lab {
            mailbox: "sgl@labo.test".into(),
            faults: Vec::new(),
            tls: None,
        };
        let scope = Scope::new(&d.join("suite")).unwrap();
        let e = lab.deposit(&scope, &step).unwrap_err();
        assert!(e.contains("un lien mène hors du dossier"), "{e}");
        std::fs::remove_file(d.join("suite/documents/cr.xml")).unwrap();
        std::fs::write(d.join("suite/documents/cr.xml"), "<cr/>").unwrap();
        assert_eq!(lab.deposit(&scope, &step).unwrap().1, b"<cr/>");
        let _ = std::fs::remove_dir_all(&d);
    }
}
