//! The documents the rules read through `document()`/`doc()` (value sets), parsed once and
//! shared by every thread, the Art-Decor repair of missing value-set files, and the hash indexes
//! `banc:keyed` looks values up in. Not the validated document (see `run`).

use super::functions::node_string;
use super::run::element_name;
use crate::xml::ffi::{cstr, element_walk, owned};
use libxml::bindings as b;
use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

struct SharedDoc(b::xmlDocPtr);
// SAFETY: value-set documents are parsed once and then only read by XPath evaluation.
unsafe impl Send for SharedDoc {}
unsafe impl Sync for SharedDoc {}

/// Value-set repairs made while running (the kit's missing Art-Decor files), reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub file: String,
    pub message: String,
}

struct DocCache {
    docs: HashMap<PathBuf, Option<SharedDoc>>,
    repairs: Vec<Repair>,
}

fn doc_cache() -> &'static Mutex<DocCache> {
    static CACHE: OnceLock<Mutex<DocCache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(DocCache {
            docs: HashMap::new(),
            repairs: Vec::new(),
        })
    })
}

/// Kit repairs made so far by this process.
pub fn repairs() -> Vec<Repair> {
    doc_cache()
        .lock()
        .map(|c| c.repairs.clone())
        .unwrap_or_default()
}

fn parse_file(path: &Path) -> Option<b::xmlDocPtr> {
    let bytes = std::fs::read(path).ok()?;
    parse_mem(&bytes, &path.to_string_lossy())
}

/// A value-set document, parsed with banc's hardened options and kept for the process.
fn parse_mem(bytes: &[u8], url: &str) -> Option<b::xmlDocPtr> {
    let d = crate::xml::ffi::parse(bytes, url).doc?.into_raw();
    // Document order indexes make XPath node sorting on big value sets cheap.
    unsafe { b::xmlXPathOrderDocElems(d) };
    Some(d)
}

/// The document at `path` (absolute), from the cache; `kit_root` serves the Art-Decor fallback.
pub(super) fn shared_doc(path: &Path, kit_root: &Path) -> Option<b::xmlDocPtr> {
    let mut cache = doc_cache().lock().ok()?;
    if let Some(d) = cache.docs.get(path) {
        return d.as_ref().map(|d| d.0);
    }
    let mut doc = parse_file(path);
    if doc.is_none()
        && let Some((xml, svs)) = artdecor_fallback(path, kit_root)
    {
        doc = parse_mem(xml.as_bytes(), &path.to_string_lossy());
        if doc.is_some() {
            let rel = |p: &Path| {
                p.strip_prefix(kit_root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            };
            cache.repairs.push(Repair {
                file: rel(path),
                message: format!(
                    "Jeu de valeurs Art-Decor absent du kit : {} ; banc le reconstruit depuis le \
                     jeu de valeurs SVS de même OID {} (comme la référence)",
                    rel(path),
                    rel(&svs)
                ),
            });
        }
    }
    cache.docs.insert(path.to_path_buf(), doc.map(SharedDoc));
    doc
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
    unsafe {
        for n in element_walk(d) {
            if cstr((*n).name as *const c_char) == "Concept" {
                let attr = |a: &str| {
                    let a = CString::new(a).unwrap_or_default();
                    owned(b::xmlGetProp(n, a.as_ptr() as *const u8))
                };
                out.push_str(&format!(
                    "      <concept code=\"{}\" codeSystem=\"{}\" displayName=\"{}\"/>\n",
                    esc(&attr("code")),
                    esc(&attr("codeSystem")),
                    esc(&attr("displayName"))
                ));
            }
        }
        b::xmlFreeDoc(d);
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
        std::fs::File::open(p)
            .and_then(|f| {
                use std::io::Read;
                let mut head = Vec::new();
                f.take(4096).read_to_end(&mut head)?;
                Ok(String::from_utf8_lossy(&head).contains(&needle))
            })
            .unwrap_or(false)
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

type KeyIndex = HashMap<String, Vec<usize>>;

/// Hash indexes of value-set files: (document, namespace, local name, key) → value → elements.
pub(super) fn keyed_index(
    doc: b::xmlDocPtr,
    ns: &str,
    local: &str,
    key: &str,
) -> std::sync::Arc<KeyIndex> {
    type Key = (usize, String, String, String);
    static CACHE: OnceLock<Mutex<HashMap<Key, std::sync::Arc<KeyIndex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let k = (
        doc as usize,
        ns.to_string(),
        local.to_string(),
        key.to_string(),
    );
    let mut m = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = m.get(&k) {
        return i.clone();
    }
    let mut idx: KeyIndex = HashMap::new();
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
    let idx = std::sync::Arc::new(idx);
    m.insert(k, idx.clone());
    idx
}
