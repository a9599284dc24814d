//! Download an archive (bounded, hashed while it streams), unpack it into a hidden work folder
//! of the kits folder, check it is a kit, then rename it into place: any failure removes the
//! work folder and leaves the installed kits as they were.

use super::{Bounds, Fetched, Installed, META, Request, Store, check_ref, check_sha256};
use crate::kit::Kit;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn fetch(
    store: &Store,
    req: &Request,
    force: bool,
    bounds: Bounds,
) -> Result<Fetched, String> {
    check_ref(&req.reference)?;
    let pin = req.sha256.as_deref().map(check_sha256).transpose()?;
    let url = req.url();
    let target = store.dir.join(super::folder_name(&req.reference));
    if let Some(k) = super::read_meta(&target) {
        if k.reference != req.reference {
            return Err(format!(
                "{} contient déjà le kit « {} » : la ref « {} » y serait installée à sa place",
                target.display(),
                k.reference,
                req.reference
            ));
        }
        if !force && pin.as_ref().is_none_or(|p| *p == k.sha256) {
            store.set_default(&k.reference)?;
            return Ok(Fetched {
                kit: k,
                already: true,
            });
        }
    }
    std::fs::create_dir_all(&store.dir).map_err(|e| format!("{} : {e}", store.dir.display()))?;
    let work = Work::new(&store.dir)?;
    let archive = work.0.join("archive");
    let sha256 = download(&url, &archive, bounds.archive_bytes)?;
    if let Some(p) = &pin
        && *p != sha256
    {
        return Err(format!(
            "archive refusée : son sha256 est {sha256}, pas celui épinglé ({p}) ; rien n'est installé"
        ));
    }
    let tree = work.0.join("tree");
    super::extract::extract(&archive, &tree, bounds)
        .map_err(|e| format!("archive de {url} refusée : {e} ; rien n'est installé"))?;
    let root = kit_root(&tree).ok_or_else(|| {
        format!(
            "{url} n'est pas un kit TestContenuCDA : {} absent (ni à la racine ni sous un dossier unique) ; rien n'est installé",
            crate::kit::CDA_XSD
        )
    })?;
    if !root.join("schematrons").is_dir() {
        return Err(format!(
            "{url} n'est pas un kit TestContenuCDA : pas de dossier schematrons/ ; rien n'est installé"
        ));
    }
    let kit = Kit::open(&root).map_err(|e| format!("{e} ; rien n'est installé"))?;
    let mut meta = Installed {
        reference: req.reference.clone(),
        url,
        sha256,
        fingerprint: kit.fingerprint,
        fetched_at: crate::clock::Utc::now().rfc3339(),
        banc: env!("CARGO_PKG_VERSION").to_string(),
        path: PathBuf::new(),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(root.join(META), json + "\n").map_err(|e| format!("{META} : {e}"))?;
    // Replace an older install of the same ref: aside first, so that the rename of the new one
    // into place is the only moment the ref changes.
    if target.exists() {
        let old = work.0.join("old");
        std::fs::rename(&target, &old).map_err(|e| format!("{} : {e}", target.display()))?;
    }
    std::fs::rename(&root, &target).map_err(|e| format!("{} : {e}", target.display()))?;
    meta.path = target;
    drop(work);
    store.set_default(&meta.reference)?;
    Ok(Fetched {
        kit: meta,
        already: false,
    })
}

/// A hidden work folder of the kits folder, removed (with what it holds) when dropped.
struct Work(PathBuf);

impl Work {
    fn new(kits: &Path) -> Result<Work, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = kits.join(format!(".partial-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{} : {e}", dir.display()))?;
        Ok(Work(dir))
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kit root of an unpacked tree: the tree itself, or its single folder (a GitHub archive
/// holds `<repo>-<ref>/`).
fn kit_root(tree: &Path) -> Option<PathBuf> {
    if tree.join(crate::kit::CDA_XSD).is_file() {
        return Some(tree.to_path_buf());
    }
    let mut children = std::fs::read_dir(tree).ok()?.filter_map(Result::ok);
    let only = children.next()?;
    if children.next().is_some() || !only.file_type().ok()?.is_dir() {
        return None;
    }
    let root = only.path();
    root.join(crate::kit::CDA_XSD).is_file().then_some(root)
}

/// Stream `url` into `dest`, at most `max` bytes; the hex sha256 of what was received.
fn download(url: &str, dest: &Path, max: u64) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("exécution : {e}"))?;
    rt.block_on(download_async(url, dest, max))
}

async fn download_async(url: &str, dest: &Path, max: u64) -> Result<String, String> {
    let fail =
        |what: String| format!("téléchargement de {url} impossible : {what} ; rien n'est installé");
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("URL invalide ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail("seules les URL http et https sont acceptées".into()));
    }
    // A TLS configuration only when needed: an http mirror works without system CAs.
    let tls = if parsed.scheme() == "https" {
        crate::mail::tls::client_config(None, None).map_err(fail)?
    } else {
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
    };
    // Proxies from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as reqwest reads them.
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("banc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(format!("client HTTP : {e}")))?;
    let mut resp = client.get(parsed).send().await.map_err(|e| {
        let hint = if e.is_connect() || e.is_timeout() {
            " (serveur injoignable : derrière un proxy, HTTPS_PROXY ; un miroir interne, --kit-url ou BANC_KIT_MIRROR)"
        } else {
            ""
        };
        fail(format!("{}{hint}", chain(&e)))
    })?;
    let status = resp.status();
    if !status.is_success() {
        let hint = if status == reqwest::StatusCode::NOT_FOUND {
            " (ref inconnue du dépôt ?)"
        } else {
            ""
        };
        return Err(fail(format!("réponse HTTP {status}{hint}")));
    }
    if let Some(n) = resp.content_length()
        && n > max
    {
        return Err(fail(format!(
            "archive de {n} octets, au-delà de la limite de {max}"
        )));
    }
    let mut file = std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?;
    let mut hash = Sha256::new();
    let mut got: u64 = 0;
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(chain(&e)))? {
        got += chunk.len() as u64;
        if got > max {
            return Err(fail(format!(
                "archive au-delà de la limite de {max} octets"
            )));
        }
        hash.update(&chunk);
        file.write_all(&chunk).map_err(|e| fail(e.to_string()))?;
    }
    file.sync_all().map_err(|e| fail(e.to_string()))?;
    Ok(hex::encode(hash.finalize()))
}

/// An error with its causes (reqwest's own text is only the outermost: "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(" : ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}
