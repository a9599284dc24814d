//! The documents the rules read through `document()`/`doc()` (value sets), parsed once per
//! engine and shared by every thread, the Art-Decor repair of missing value-set files, and the
//! hash indexes `banc:keyed` looks values up in. Not the validated document (see `run`).

use super::functions::node_string;
use super::run::element_name;
use crate::xml::ffi::{self, element_walk, owned};
use libxml::bindings as b;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A parsed value-set document, read by every thread that runs a plan.
struct SharedDoc(ffi::Doc);
// SAFETY: parsed and document-ordered once, under the cache lock; afterwards only read (XPath
// evaluation, index building), which libxml2 allows from several threads on one tree.
unsafe impl Send for SharedDoc {}
// SAFETY: see Send: shared use is read-only.
unsafe impl Sync for SharedDoc {}

/// Value-set repairs made while running (the kit's missing Art-Decor files), reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub file: String,
    pub message: String,
}

#[derive(Default)]
struct DocCache {
    docs: HashMap<PathBuf, Option<SharedDoc>>,
    /// Whether a document not kept in `docs` could be read (`doc-available`).
    available: HashMap<PathBuf, bool>,
    /// Addresses of the documents in `docs`: the only ones whose keyed indexes are kept.
    owned: HashSet<usize>,
    repairs: Vec<Repair>,
}

type KeyIndex = HashMap<String, Vec<usize>>;
/// The values a keyed index has, without its nodes.
pub(super) type KeySet = HashSet<String>;
/// (path, namespace, local name, key).
type KeySetKey = (PathBuf, String, String, String);
/// (document, namespace, local name, key).
type Key = (usize, String, String, String);

/// The documents the rules of an engine's plans read, their repairs and their keyed indexes.
///
/// Owned by the engine and shared with each of its plans (`Arc`), not by the process: they are
/// freed with the last plan, and the document pointers handed to libxml2 during a run stay valid
/// because the running plan holds them. Parsed once per engine (the command line makes one).
#[derive(Default)]
pub struct Docs {
    cache: Mutex<DocCache>,
    keyed: Mutex<HashMap<Key, Arc<KeyIndex>>>,
    /// The keys of `banc:has-key`, by (path, namespace, local name, key); `None` when the
    /// document cannot be read.
    key_sets: Mutex<HashMap<KeySetKey, Option<Arc<KeySet>>>>,
    /// Where the Art-Decor repairs are kept between runs, with the kit's fingerprint: finding
    /// the SVS file of an OID reads the head of every value-set file of the kit.
    repairs_cache: std::sync::OnceLock<(crate::cache::Cache, String)>,
}

impl std::fmt::Debug for Docs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docs").finish_non_exhaustive()
    }
}

/// Whether `path` is under `root`, links resolved. A path that does not exist (an Art-Decor
/// value set banc rebuilds) is its deepest existing folder, resolved, then the rest with `..`
/// applied: it cannot climb out either.
fn inside(path: &Path, root: &Path) -> bool {
    use std::path::{Component, PathBuf};
    let resolve = |p: &Path| -> Option<PathBuf> {
        let p = std::path::absolute(p).ok()?;
        let mut base = p.as_path();
        let mut rest = Vec::new();
        let found = loop {
            if let Ok(c) = base.canonicalize() {
                break c;
            }
            rest.push(base.file_name()?.to_os_string());
            base = base.parent()?;
        };
        let mut out = found;
        for c in rest.iter().rev() {
            match Path::new(c).components().next() {
                Some(Component::ParentDir) => {
                    out.pop();
                }
                Some(Component::CurDir) | None => {}
                Some(_) => out.push(c),
            }
        }
        Some(out)
    };
    match (resolve(path), resolve(root)) {
        (Some(p), Some(r)) => p.starts_with(r),
        _ => false,
    }
}

fn parse_file(path: &Path) -> Option<ffi::Doc> {
    let bytes = crate::files::read_bounded(path, crate::files::MAX_DOCUMENT).ok()?;
    parse_mem(&bytes, &path.to_string_lossy())
}

/// A value-set document, parsed with banc's hardened options.
fn parse_mem(bytes: &[u8], url: &str) -> Option<ffi::Doc> {
    // `ffi::parse` numbers the elements: node sorting on big value sets is cheap.
    ffi::parse(bytes, url).doc
}

impl Docs {
    /// Kit repairs made so far by this engine's plans.
    pub fn repairs(&self) -> Vec<Repair> {
        self.cache
            .lock()
            .map(|c| c.repairs.clone())
            .unwrap_or_default()
    }

    /// Keep the Art-Decor repairs in `cache`, under the kit's `fingerprint` (once).
    pub(super) fn keep_repairs_in(&self, cache: crate::cache::Cache, fingerprint: &str) {
        let _ = self.repairs_cache.set((cache, fingerprint.to_string()));
    }

    /// [`artdecor_fallback`], read from the cache when a run of this kit made it before.
    fn repaired(&self, path: &Path, kit_root: &Path) -> Option<(String, PathBuf)> {
        let Some((cache, fp)) = self.repairs_cache.get() else {
            return artdecor_fallback(path, kit_root);
        };
        let key = path.to_string_lossy();
        let root = kit_root.to_string_lossy();
        let k = [fp.as_str(), &*root, &*key];
        if let Some((xml, svs)) = cache.read::<(String, PathBuf)>("artdecor", &k) {
            return Some((xml, svs));
        }
        let made = artdecor_fallback(path, kit_root)?;
        cache.write("artdecor", &k, &made);
        Some(made)
    }

    /// The document at `path` (absolute), parsed on first use; `kit_root` serves the Art-Decor
    /// fallback. Only documents inside the kit or the schematron's own folder (`base_dir`) are
    /// read: a user schematron's `doc('/etc/…')` or `document('../../…')` finds nothing. The
    /// pointer is valid while `self` lives; the tree must only be read.
    pub(super) fn get(
        &self,
        path: &Path,
        kit_root: &Path,
        base_dir: &Path,
    ) -> Option<b::xmlDocPtr> {
        let mut cache = self.cache.lock().ok()?;
        if let Some(d) = cache.docs.get(path) {
            return d.as_ref().map(|d| d.0.raw());
        }
        let doc = self.load(&mut cache, path, kit_root, base_dir);
        let ptr = doc.as_ref().map(ffi::Doc::raw);
        if let Some(p) = ptr {
            cache.owned.insert(p as usize);
        }
        cache.docs.insert(path.to_path_buf(), doc.map(SharedDoc));
        ptr
    }

    /// `doc-available`: whether [`Docs::get`] would find the document. The tree is not kept
    /// when nothing holds it yet: the kit's terminology files (6.8 MB of RDF for a CR-BIO
    /// batch, about 50 MB as trees) are only asked whether they exist and which codes they
    /// list ([`Docs::key_set`]).
    pub(super) fn available(&self, path: &Path, kit_root: &Path, base_dir: &Path) -> bool {
        let Ok(mut cache) = self.cache.lock() else {
            return false;
        };
        if let Some(d) = cache.docs.get(path) {
            return d.is_some();
        }
        if let Some(&a) = cache.available.get(path) {
            return a;
        }
        let a = self.load(&mut cache, path, kit_root, base_dir).is_some();
        cache.available.insert(path.to_path_buf(), a);
        a
    }

    /// The values of key `key` (an attribute, or `#text`) of the elements `{ns}local` of the
    /// document at `path`, as [`Docs::keyed`] indexes them; `None` when [`Docs::get`] would
    /// not find the document. Built once; the tree is not kept unless something else holds it.
    pub(super) fn key_set(
        &self,
        path: &Path,
        kit_root: &Path,
        base_dir: &Path,
        name: (&str, &str),
        key: &str,
    ) -> Option<Arc<KeySet>> {
        let k = (
            path.to_path_buf(),
            name.0.to_string(),
            name.1.to_string(),
            key.to_string(),
        );
        let mut sets = self.key_sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sets.get(&k) {
            return s.clone();
        }
        let keys = |d: b::xmlDocPtr| {
            // SAFETY: d is a live document, only read here.
            let idx = unsafe { build_keyed(d, name.0, name.1, key) };
            Arc::new(idx.into_keys().collect::<KeySet>())
        };
        let set = {
            let mut cache = self.cache.lock().ok()?;
            match cache.docs.get(path) {
                Some(d) => d.as_ref().map(|d| keys(d.0.raw())),
                None => {
                    let d = self.load(&mut cache, path, kit_root, base_dir);
                    cache.available.insert(path.to_path_buf(), d.is_some());
                    d.map(|d| keys(d.raw()))
                }
            }
        };
        sets.insert(k, set.clone());
        set
    }

    /// The document at `path` parsed (or its Art-Decor repair, recorded once), when it lies
    /// inside the kit or `base_dir`.
    fn load(
        &self,
        cache: &mut DocCache,
        path: &Path,
        kit_root: &Path,
        base_dir: &Path,
    ) -> Option<ffi::Doc> {
        if !inside(path, kit_root) && !inside(path, base_dir) {
            return None;
        }
        let mut doc = parse_file(path);
        if doc.is_none()
            && let Some((xml, svs)) = self.repaired(path, kit_root)
        {
            doc = parse_mem(xml.as_bytes(), &path.to_string_lossy());
            let rel = |p: &Path| {
                p.strip_prefix(kit_root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            };
            if doc.is_some() && !cache.repairs.iter().any(|r| r.file == rel(path)) {
                cache.repairs.push(Repair {
                    file: rel(path),
                    message: format!(
                        "Jeu de valeurs Art-Decor absent du kit : {} ; banc le reconstruit depuis \
                         le jeu de valeurs SVS de même OID {} (comme la référence)",
                        rel(path),
                        rel(&svs)
                    ),
                });
            }
        }
        doc
    }

    /// Hash index of the elements `{ns}local` of `doc` by attribute `key` (or text, `#text`).
    /// Kept for the documents of this cache; built afresh for any other (its address could be
    /// reused by a later document once it is freed).
    ///
    /// # Safety
    /// `doc` must be a live libxml2 document, not modified during the call.
    pub(super) unsafe fn keyed(
        &self,
        doc: b::xmlDocPtr,
        ns: &str,
        local: &str,
        key: &str,
    ) -> Arc<KeyIndex> {
        let cacheable = self
            .cache
            .lock()
            .map(|c| c.owned.contains(&(doc as usize)))
            .unwrap_or(false);
        if !cacheable {
            // SAFETY: caller's contract.
            return Arc::new(unsafe { build_keyed(doc, ns, local, key) });
        }
        let k = (
            doc as usize,
            ns.to_string(),
            local.to_string(),
            key.to_string(),
        );
        let mut m = self.keyed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = m.get(&k) {
            return i.clone();
        }
        // SAFETY: caller's contract (and the document is one of this cache's, alive with it).
        let idx = Arc::new(unsafe { build_keyed(doc, ns, local, key) });
        m.insert(k, idx.clone());
        idx
    }
}

/// `…/voc-<OID>-DYNAMIC.xml` missing: the kit's SVS value set with the same OID, in the Art-Decor
/// layout the StrucMin asserts read (`valueSets/valueSet[@id]/conceptList/concept/@code`).
pub fn artdecor_fallback(path: &Path, kit_root: &Path) -> Option<(String, PathBuf)> {
    let name = path.file_name()?.to_str()?;
    let oid = name.strip_prefix("voc-")?.strip_suffix("-DYNAMIC.xml")?;
    let svs = find_svs(kit_root, oid)?;
    let d = parse_file(&svs)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<valueSets>\n");
    out.push_str(&format!(
        "  <valueSet id=\"{}\" name=\"{}\">\n    <conceptList>\n",
        esc(oid),
        esc(&svs.file_stem()?.to_string_lossy())
    ));
    for n in d.elements() {
        if n.local_name() == "Concept" {
            // xmlGetProp, not Node::attr: any namespace, as the repair has always read them.
            let attr = |a: &str| {
                let a = CString::new(a).unwrap_or_default();
                // SAFETY: n is an element of `d`, alive here; the value is a fresh copy that
                // `owned` frees.
                unsafe { owned(b::xmlGetProp(n.raw(), a.as_ptr() as *const u8)) }
            };
            out.push_str(&format!(
                "      <concept code=\"{}\" codeSystem=\"{}\" displayName=\"{}\"/>\n",
                esc(&attr("code")),
                esc(&attr("codeSystem")),
                esc(&attr("displayName"))
            ));
        }
    }
    out.push_str("    </conceptList>\n  </valueSet>\n</valueSets>\n");
    Some((out, svs))
}

/// The SVS file of the kit's `jeuxDeValeurs/` whose `ValueSet/@id` is `oid`.
fn find_svs(kit_root: &Path, oid: &str) -> Option<PathBuf> {
    let needle = format!("id=\"{oid}\"");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(kit_root.join("jeuxDeValeurs"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    entries.sort();
    entries.into_iter().find(|p| {
        // The ValueSet element opens the file: its attributes sit in the first kilobytes.
        let Ok(f) = crate::files::open(p) else {
            return false;
        };
        use std::io::Read;
        let mut head = Vec::new();
        f.take(4096).read_to_end(&mut head).is_ok()
            && String::from_utf8_lossy(&head).contains(&needle)
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// The index [`Docs::keyed`] serves: value → elements, in document order.
///
/// # Safety
/// `doc` must be a live libxml2 document, not modified during the call.
unsafe fn build_keyed(doc: b::xmlDocPtr, ns: &str, local: &str, key: &str) -> KeyIndex {
    let mut idx: KeyIndex = HashMap::new();
    // SAFETY: doc is live and unmodified (caller's contract): the walk, the child links and the
    // attribute look-ups read nodes of that tree; strings libxml2 returns are copied and freed.
    unsafe {
        for n in element_walk(doc) {
            if element_name(n) != (ns, local) {
                continue;
            }
            if key == "#text" {
                let mut c = (*n).children;
                while !c.is_null() {
                    if matches!(
                        (*c).type_,
                        b::xmlElementType_XML_TEXT_NODE | b::xmlElementType_XML_CDATA_SECTION_NODE
                    ) {
                        let list = idx.entry(node_string(c)).or_default();
                        if list.last() != Some(&(n as usize)) {
                            list.push(n as usize);
                        }
                    }
                    c = (*c).next;
                }
            } else {
                let a = CString::new(key).unwrap_or_default();
                let v = b::xmlGetNoNsProp(n, a.as_ptr() as *const u8);
                if !v.is_null() {
                    idx.entry(owned(v)).or_default().push(n as usize);
                }
            }
        }
    }
    idx
}
