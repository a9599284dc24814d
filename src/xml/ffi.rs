//! Thin safe wrappers over libxml2 (through the `libxml` crate's pre-generated bindings).
//!
//! The crate's own `Document`/`SchemaValidationContext` do not fit: they recompile the schema for
//! every validation context and parse with fixed options. banc needs one compiled schema shared by
//! all threads, hardened parse options and every structured error with its node.

use libmimalloc_sys as mi;
use libxml::bindings as b;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::OnceLock;

// The bindings declare the structured-error callback with the Rust ABI, which C cannot call
// soundly; these declarations use the C ABI for the functions that take one.
type SError = Option<unsafe extern "C" fn(*mut c_void, *mut b::_xmlError)>;
type GError = Option<unsafe extern "C" fn(*mut c_void, *const c_char)>;
#[allow(clashing_extern_declarations)]
unsafe extern "C" {
    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: SError);
    // Declared without the variadic tail: the handler ignores the format arguments, and on the
    // C ABIs banc builds for a callee may ignore trailing arguments it does not read.
    fn xmlSetGenericErrorFunc(ctx: *mut c_void, handler: GError);
    fn xmlSchemaSetParserStructuredErrors(
        ctxt: *mut b::_xmlSchemaParserCtxt,
        serror: SError,
        ctx: *mut c_void,
    );
    fn xmlSchemaSetValidStructuredErrors(
        ctxt: *mut b::_xmlSchemaValidCtxt,
        serror: SError,
        ctx: *mut c_void,
    );
}

/// One libxml2 error, copied out of the library's buffers.
#[derive(Debug, Clone)]
pub struct RawError {
    pub domain: i32,
    pub code: i32,
    pub level: u32,
    pub message: String,
    pub line: u32,
    pub column: u32,
    /// The element the error is about (schema validity errors), as an address to look up in
    /// [`Doc::ordinal_of`]; 0 when libxml2 gives none.
    pub node: usize,
}

/// Upper bound on errors kept per document: a broken document can yield one error per element.
const MAX_ERRORS: usize = 1000;

#[derive(Default)]
struct Collector {
    errors: Vec<RawError>,
    dropped: usize,
}

/// Structured-error handler registered with a `&mut Collector` as its context.
///
/// # Safety
/// `ctx` is null or the `Collector` registered for the call that reports; `err` is null or an
/// error libxml2 keeps alive for the duration of the callback.
unsafe extern "C" fn collect(ctx: *mut c_void, err: *mut b::_xmlError) {
    if ctx.is_null() || err.is_null() {
        return;
    }
    // A panic must not cross into C: the error is then lost, the parse goes on.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut Collector registered for the duration of the call that
        // reports, and no other reference to it is used meanwhile.
        let col = unsafe { &mut *(ctx as *mut Collector) };
        // SAFETY: err is non-null and valid for the duration of the callback.
        let e = unsafe { &*err };
        // SAFETY: message is null or a NUL-terminated string owned by the error.
        let message = shorten_quoted(unsafe { cstr(e.message) }.trim());
        col.push(e, message);
    }));
}

/// libxml2 quotes names and values between apostrophes (`'…'`): each quoted run is cut like
/// banc's own quotations, so that a 3 MB attribute value does not make a 3 MB message.
fn shorten_quoted(message: &str) -> String {
    if message.len() <= crate::finding::QUOTE_CHARS {
        return message.to_string();
    }
    let parts: Vec<String> = message
        .split('\'')
        .enumerate()
        .map(|(i, s)| {
            if i % 2 == 1 {
                crate::finding::quote(s)
            } else {
                s.to_string()
            }
        })
        .collect();
    parts.join("'")
}

impl Collector {
    fn push(&mut self, e: &b::_xmlError, message: String) {
        if self.errors.len() >= MAX_ERRORS {
            self.dropped += 1;
            return;
        }
        // For parser errors, int2 carries the column.
        let column = if e.domain == b::xmlErrorDomain_XML_FROM_PARSER as i32 {
            e.int2.max(0) as u32
        } else {
            0
        };
        self.errors.push(RawError {
            domain: e.domain,
            code: e.code,
            level: e.level,
            message,
            line: e.line.max(0) as u32,
            column,
            node: e.node as usize,
        });
    }
}

// The two discarding handlers have empty bodies: nothing in them can unwind.
unsafe extern "C" fn discard(_ctx: *mut c_void, _err: *mut b::_xmlError) {}

unsafe extern "C" fn discard_generic(_ctx: *mut c_void, _msg: *const c_char) {}

/// The libxml2 versions whose struct layouts match the `libxml` crate's pre-generated bindings
/// (generated from 2.9.4): banc reads `_xmlNode`, `_xmlError`, `_xmlXPathContext`… fields
/// directly, so another series (2.10 reordered some, 2.12 changed error handling) would be
/// read as garbage rather than fail.
const SUPPORTED: std::ops::RangeInclusive<u32> = 20900..=20999;

/// `xmlParserVersion` (`"20914"`, possibly with a suffix) checked against [`SUPPORTED`].
fn check_version(version: &str) -> Result<u32, String> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    let v: u32 = digits
        .parse()
        .map_err(|_| format!("version de libxml2 illisible : « {version} »"))?;
    if SUPPORTED.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "libxml2 {}.{}.{} n'est pas prise en charge : banc est construit pour la série 2.9 \
             (structures des liaisons du crate libxml 0.3.3) ; installez libxml2 2.9.x",
            v / 10000,
            v / 100 % 100,
            v % 100
        ))
    }
}

/// libxml2 must be initialised once, from one thread, before any concurrent use; the library
/// found at run time must be one whose layout the bindings describe. Every entry point that
/// works without an already parsed document calls this and reports the error in its own terms.
pub fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    let r = INIT.get_or_init(|| {
        // SAFETY: xmlParserVersion is a constant string set by libxml2 at load time; only its
        // pointer value is copied (no reference to the static is taken).
        let p = unsafe { b::xmlParserVersion };
        // SAFETY: p is null or points to that static NUL-terminated string.
        let version = unsafe { cstr(p) };
        check_version(&version)?;
        // SAFETY: runs once, before any other libxml2 call of banc (every entry point calls
        // init first), as libxml2 requires for multi-threaded use. Its allocator is set first,
        // so that no block is ever freed by another allocator than the one that gave it:
        // mimalloc, banc's own, twice as fast as glibc's on the XPath interpreter's small
        // blocks (which were a fifth of a batch's time).
        unsafe {
            b::xmlMemSetup(
                Some(mi::mi_free),
                Some(mi::mi_malloc),
                Some(mi::mi_realloc),
                Some(mi::mi_strdup),
            );
            b::xmlInitParser()
        };
        Ok(())
    });
    if r.is_ok() {
        quiet_thread();
    }
    r.clone()
}

/// libxml2's error handler is per thread: nothing of libxml2's may reach stderr, every error
/// is collected where it happens.
pub(crate) fn quiet_thread() {
    // SAFETY: the handlers are C-ABI functions that ignore their arguments; setting the
    // calling thread's handlers has no other precondition.
    unsafe {
        xmlSetStructuredErrorFunc(ptr::null_mut(), Some(discard));
        // Some XPath run-time messages (an unknown function) only go to the generic handler.
        xmlSetGenericErrorFunc(ptr::null_mut(), Some(discard_generic));
    }
}

/// Parse options: no network, no DTD loading, no entity substitution (entity references stay
/// unexpanded), no XInclude, libxml2's default depth and amplification limits (no XML_PARSE_HUGE),
/// line numbers beyond 65535.
fn parse_options() -> c_int {
    (b::xmlParserOption_XML_PARSE_NONET
        | b::xmlParserOption_XML_PARSE_BIG_LINES
        | b::xmlParserOption_XML_PARSE_NOWARNING) as c_int
}

/// A parsed libxml2 document, freed on drop. Not `Send`: parsed, checked and dropped on one thread.
pub struct Doc {
    ptr: b::xmlDocPtr,
}

/// Outcome of a parse: the document when well-formed, and every error libxml2 reported.
pub struct Parsed {
    pub doc: Option<Doc>,
    pub errors: Vec<RawError>,
    pub dropped: usize,
}

/// A parse failure before libxml2 saw the bytes, as one error.
fn refused(message: String) -> Parsed {
    Parsed {
        doc: None,
        errors: vec![RawError {
            domain: 0,
            code: -1,
            level: 3,
            message,
            line: 0,
            column: 0,
            node: 0,
        }],
        dropped: 0,
    }
}

pub fn parse(bytes: &[u8], url: &str) -> Parsed {
    if let Err(e) = init() {
        return refused(e);
    }
    let mut col = Collector::default();
    let url_c = CString::new(url.replace('\0', "")).unwrap_or_default();
    let Ok(len) = c_int::try_from(bytes.len()) else {
        return refused("document larger than libxml2 can address".into());
    };
    // SAFETY: the parser context is created, used and freed here; `bytes` and `url_c` outlive
    // the read; the collector registered as the thread's handler outlives the read and the
    // handler is reset before `col` is used again; `doc` is freed unless handed to a `Doc`.
    unsafe {
        let ctxt = b::xmlNewParserCtxt();
        if ctxt.is_null() {
            return Parsed {
                doc: None,
                errors: vec![],
                dropped: 0,
            };
        }
        // The structured error handler is per thread in libxml2; register ours for this call.
        xmlSetStructuredErrorFunc(&mut col as *mut Collector as *mut c_void, Some(collect));
        let doc = b::xmlCtxtReadMemory(
            ctxt,
            bytes.as_ptr() as *const c_char,
            len,
            url_c.as_ptr(),
            ptr::null(),
            parse_options(),
        );
        quiet_thread();
        let well_formed = (*ctxt).wellFormed != 0;
        b::xmlFreeParserCtxt(ctxt);
        let doc = if doc.is_null() {
            None
        } else if !well_formed {
            b::xmlFreeDoc(doc);
            None
        } else {
            // Document order numbers in the elements: libxml2 then compares two nodes in
            // constant time when XPath sorts a node set, instead of walking their siblings
            // (quadratic in a section of thousands of entries).
            b::xmlXPathOrderDocElems(doc);
            Some(Doc { ptr: doc })
        };
        Parsed {
            doc,
            errors: col.errors,
            dropped: col.dropped,
        }
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: the Doc owns its non-null tree; nodes borrowed from it (`Node<'d>`) cannot
        // outlive it.
        unsafe { b::xmlFreeDoc(self.ptr) }
    }
}

/// A borrowed node of a [`Doc`]: the lifetime ties it to its document, so it cannot outlive
/// the tree it points into.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Node<'d> {
    ptr: b::xmlNodePtr,
    _doc: std::marker::PhantomData<&'d Doc>,
}

impl Doc {
    pub fn root(&self) -> Option<Node<'_>> {
        // SAFETY: self.ptr is a live document owned by self.
        let r = unsafe { b::xmlDocGetRootElement(self.ptr) };
        // SAFETY: r is null (filtered) or the root element of this document.
        (!r.is_null()).then(|| unsafe { Node::from_raw(r) })
    }

    /// Elements in document order, the order in which the pre-scan indexed them.
    pub fn elements(&self) -> Vec<Node<'_>> {
        // SAFETY: self.ptr is a live document, not modified while borrowed.
        unsafe { element_walk(self.ptr) }
            .into_iter()
            // SAFETY: every pointer is an element of this document.
            .map(|n| unsafe { Node::from_raw(n) })
            .collect()
    }

    /// Addresses of the nodes that are not elements: attributes and other children of the
    /// elements, children of the document node.
    pub(crate) fn other_node_addrs(&self) -> std::collections::HashSet<usize> {
        let mut out = std::collections::HashSet::new();
        // SAFETY: self.ptr is a live document, unmodified while borrowed; the links followed
        // are null or nodes of that tree (an xmlAttr begins with the xmlNode fields read).
        unsafe {
            let mut parents = vec![self.ptr as b::xmlNodePtr];
            parents.extend(element_walk(self.ptr));
            for (k, p) in parents.into_iter().enumerate() {
                if k > 0 {
                    let mut a = (*p).properties;
                    while !a.is_null() {
                        out.insert(a as usize);
                        a = (*a).next;
                    }
                }
                let mut c = (*p).children;
                while !c.is_null() {
                    if (*c).type_ != b::xmlElementType_XML_ELEMENT_NODE {
                        out.insert(c as usize);
                    }
                    c = (*c).next;
                }
            }
        }
        out
    }

    /// The document pointer, for libxml2 calls that take it (valid while `self` lives).
    pub(crate) fn raw(&self) -> b::xmlDocPtr {
        self.ptr
    }
}

/// Element nodes of `doc` in document order.
///
/// # Safety
/// `doc` must be a valid libxml2 document, not modified during the call.
pub(crate) unsafe fn element_walk(doc: b::xmlDocPtr) -> Vec<b::xmlNodePtr> {
    let mut out = Vec::new();
    // SAFETY: doc is valid (caller's contract).
    let root = unsafe { b::xmlDocGetRootElement(doc) };
    let mut stack = if root.is_null() { vec![] } else { vec![root] };
    while let Some(n) = stack.pop() {
        out.push(n);
        // Push children in reverse so the first child is visited first.
        let mut kids = Vec::new();
        // SAFETY: n and its siblings are nodes of the unmodified tree; links are null or valid.
        let mut c = unsafe { (*n).children };
        while !c.is_null() {
            // SAFETY: c is a non-null node of the tree (see above).
            if unsafe { (*c).type_ } == b::xmlElementType_XML_ELEMENT_NODE {
                kids.push(c);
            }
            // SAFETY: as above.
            c = unsafe { (*c).next };
        }
        stack.extend(kids.into_iter().rev());
    }
    out
}

impl<'d> Node<'d> {
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub fn is_element(&self) -> bool {
        // SAFETY: a Node points into a document that outlives 'd (see `from_raw`).
        unsafe { (*self.ptr).type_ == b::xmlElementType_XML_ELEMENT_NODE }
    }

    pub fn local_name(&self) -> String {
        // SAFETY: live node (see `from_raw`); name is null or NUL-terminated.
        unsafe { cstr((*self.ptr).name as *const c_char) }
    }

    pub fn namespace(&self) -> Option<String> {
        // SAFETY: live node; ns is null or a namespace of the same document.
        unsafe {
            let ns = (*self.ptr).ns;
            if ns.is_null() || (*ns).href.is_null() {
                None
            } else {
                Some(cstr((*ns).href as *const c_char))
            }
        }
    }

    pub fn line(&self) -> u32 {
        // SAFETY: live node.
        unsafe { b::xmlGetLineNo(self.ptr).max(0) as u32 }
    }

    pub fn parent(&self) -> Option<Node<'d>> {
        // SAFETY: live node; its parent is null or a node of the same document.
        let p = unsafe { (*self.ptr).parent };
        // SAFETY: p is non-null when dereferenced, a node of the same document.
        if p.is_null() || unsafe { (*p).type_ } != b::xmlElementType_XML_ELEMENT_NODE {
            None
        } else {
            // SAFETY: an element of the same document, alive for 'd.
            Some(unsafe { Node::from_raw(p) })
        }
    }

    /// Element children, in document order.
    pub fn children(&self) -> Vec<Node<'d>> {
        let mut out = Vec::new();
        // SAFETY: live node; child links are null or nodes of the same document.
        let mut c = unsafe { (*self.ptr).children };
        while !c.is_null() {
            // SAFETY: c is a non-null child of a live node, alive for 'd.
            let node = unsafe { Node::from_raw(c) };
            if node.is_element() {
                out.push(node);
            }
            // SAFETY: as above.
            c = unsafe { (*c).next };
        }
        out
    }

    pub fn attr(&self, name: &str) -> Option<String> {
        let n = CString::new(name).ok()?;
        // SAFETY: live node, NUL-terminated name; the returned copy is ours to free (`owned`).
        unsafe {
            let v = b::xmlGetNoNsProp(self.ptr, n.as_ptr() as *const u8);
            (!v.is_null()).then(|| owned(v))
        }
    }

    /// Attribute `name` in namespace `ns` (e.g. `xsi:type`).
    pub fn attr_ns(&self, name: &str, ns: &str) -> Option<String> {
        let n = CString::new(name).ok()?;
        let u = CString::new(ns).ok()?;
        // SAFETY: as in `attr`.
        unsafe {
            let v = b::xmlGetNsProp(self.ptr, n.as_ptr() as *const u8, u.as_ptr() as *const u8);
            (!v.is_null()).then(|| owned(v))
        }
    }

    /// Concatenated text content of the node and its descendants.
    pub fn text(&self) -> String {
        // SAFETY: live node; the content is a fresh copy, freed here once read.
        unsafe {
            let v = b::xmlNodeGetContent(self.ptr);
            if v.is_null() {
                return String::new();
            }
            let s = cstr(v as *const c_char);
            libxml_free(v as *mut c_void);
            s
        }
    }

    pub(crate) fn raw(&self) -> b::xmlNodePtr {
        self.ptr
    }

    /// A node from its pointer.
    ///
    /// # Safety
    /// `ptr` must be a non-null node of a document that stays alive and unmodified for `'d`
    /// (the caller picks `'d` no longer than its borrow of that document).
    pub(crate) unsafe fn from_raw(ptr: b::xmlNodePtr) -> Node<'d> {
        Node {
            ptr,
            _doc: std::marker::PhantomData,
        }
    }
}

/// Free memory libxml2 allocated for the caller.
///
/// # Safety
/// `p` must be null or a block from libxml2's allocator not freed yet, and not used after.
pub(crate) unsafe fn libxml_free(p: *mut c_void) {
    // SAFETY: caller's contract; xmlFree is libxml2's deallocator (set once at load).
    unsafe {
        if !p.is_null()
            && let Some(f) = b::xmlFree
        {
            f(p)
        }
    }
}

/// A string libxml2 allocated for the caller, copied and freed.
///
/// # Safety
/// As [`libxml_free`], and `p` (when non-null) must be NUL-terminated.
pub(crate) unsafe fn owned(p: *mut u8) -> String {
    // SAFETY: caller's contract.
    let s = unsafe { cstr(p as *const c_char) };
    // SAFETY: caller's contract; `p` is not used after.
    unsafe { libxml_free(p as *mut c_void) };
    s
}

/// A copy of a C string (empty for null).
///
/// # Safety
/// `p` must be null or a NUL-terminated string valid for the call.
pub(crate) unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-null and NUL-terminated (caller's contract).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// The XML Schema namespace.
pub const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// Whether an element or attribute of `doc` is in one of `uris`, or an element binds one of
/// them to a prefix (which an `xsi:type` value could then name).
pub fn mentions_namespaces(doc: &Doc, uris: &[&str]) -> bool {
    let hit = |ns: b::xmlNsPtr| -> bool {
        // SAFETY: ns is null or a namespace of the live, unmodified tree; href is null or a
        // NUL-terminated string of it.
        unsafe {
            !ns.is_null()
                && !(*ns).href.is_null()
                && CStr::from_ptr((*ns).href as *const c_char)
                    .to_str()
                    .is_ok_and(|h| uris.contains(&h))
        }
    };
    // SAFETY: the document is borrowed for the call and not modified; element_walk yields its
    // elements, whose namespace, declaration and attribute links are null or valid.
    unsafe {
        element_walk(doc.ptr).into_iter().any(|n| {
            if hit((*n).ns) {
                return true;
            }
            let mut d = (*n).nsDef;
            while !d.is_null() {
                if hit(d) {
                    return true;
                }
                d = (*d).next;
            }
            let mut a = (*n).properties;
            while !a.is_null() {
                if hit((*a).ns) {
                    return true;
                }
                a = (*a).next;
            }
            false
        })
    }
}

/// A compiled XML schema, shared read-only by every validating thread.
pub struct Schema {
    ptr: b::xmlSchemaPtr,
    /// The root schema document when banc edited it before compiling: kept for as long as the
    /// compiled schema, which may point into it.
    doc: Option<Doc>,
}

// SAFETY: a compiled xmlSchema is not modified by validation; each validation uses its own
// xmlSchemaValidCtxt (libxml2's documented way to validate from several threads).
unsafe impl Send for Schema {}
// SAFETY: see Send above: shared use is read-only.
unsafe impl Sync for Schema {}

/// Compile the schema of the parser context `pctxt` (null: none) and free the context; its
/// errors go to `col`. Null when it does not compile.
///
/// # Safety
/// `pctxt` must be null or a fresh schema parser context, not used after the call.
unsafe fn parse_schema(pctxt: b::xmlSchemaParserCtxtPtr, col: &mut Collector) -> b::xmlSchemaPtr {
    if pctxt.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: pctxt is a live parser context (caller's contract), freed once here; `col`
    // outlives every call that may report into it and the thread handler is reset after.
    unsafe {
        xmlSchemaSetParserStructuredErrors(
            pctxt,
            Some(collect),
            col as *mut Collector as *mut c_void,
        );
        // Schema parsing may read included files; the thread handler catches parser errors.
        xmlSetStructuredErrorFunc(col as *mut Collector as *mut c_void, Some(collect));
        let schema = b::xmlSchemaParse(pctxt);
        quiet_thread();
        b::xmlSchemaFreeParserCtxt(pctxt);
        schema
    }
}

impl Schema {
    /// Compile the schema at `path` (its `xs:include`/`xs:import` resolved from its folder).
    pub fn compile(path: &std::path::Path) -> Result<Schema, Vec<RawError>> {
        if let Err(e) = init() {
            return Err(refused(e).errors);
        }
        let p = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| vec![])?;
        let mut col = Collector::default();
        // SAFETY: a fresh parser context (or null), handed to parse_schema which frees it; the
        // path outlives the call.
        unsafe {
            let schema = parse_schema(b::xmlSchemaNewParserCtxt(p.as_ptr()), &mut col);
            if schema.is_null() {
                Err(col.errors)
            } else {
                Ok(Schema {
                    ptr: schema,
                    doc: None,
                })
            }
        }
    }

    /// Compile the schema at `path` with the `xs:import`s of its root document that `leave_out`
    /// accepts (given their namespace and schema location) removed first. `None` when no import
    /// was removed or the rest does not compile: the caller compiles the whole schema then.
    pub fn compile_without(
        path: &std::path::Path,
        leave_out: impl Fn(&str, &str) -> bool,
    ) -> Option<Schema> {
        init().ok()?;
        let p = CString::new(path.to_string_lossy().as_bytes()).ok()?;
        let mut col = Collector::default();
        // SAFETY: the document is read, edited (imports unlinked and freed) and handed to the
        // schema parser here, then owned by the returned Schema (or freed by `Doc`'s drop);
        // the parser context is created, used and freed here; `col` outlives every call that
        // may report into it and the thread handler is reset before it is read.
        unsafe {
            xmlSetStructuredErrorFunc(&mut col as *mut Collector as *mut c_void, Some(collect));
            // The options libxml2's own schema parser reads schema documents with.
            let raw = b::xmlReadFile(
                p.as_ptr(),
                ptr::null(),
                b::xmlParserOption_XML_PARSE_NOENT as c_int,
            );
            quiet_thread();
            if raw.is_null() {
                return None;
            }
            let doc = Doc { ptr: raw };
            let left_out: Vec<b::xmlNodePtr> = doc
                .root()?
                .children()
                .into_iter()
                .filter(|n| {
                    n.local_name() == "import"
                        && n.namespace().as_deref() == Some(XS_NS)
                        && leave_out(
                            &n.attr("namespace").unwrap_or_default(),
                            &n.attr("schemaLocation").unwrap_or_default(),
                        )
                })
                .map(|n| n.ptr)
                .collect();
            if left_out.is_empty() {
                return None;
            }
            for n in left_out {
                b::xmlUnlinkNode(n);
                b::xmlFreeNode(n);
            }
            let schema = parse_schema(b::xmlSchemaNewDocParserCtxt(raw), &mut col);
            (!schema.is_null()).then_some(Schema {
                ptr: schema,
                doc: Some(doc),
            })
        }
    }

    /// Validate `element` (the document root, or a CDA embedded in an auto-presentable stylesheet).
    pub fn validate(&self, doc: &Doc, element: Node<'_>) -> (Vec<RawError>, usize) {
        if let Err(e) = init() {
            return (refused(e).errors, 0);
        }
        let mut col = Collector::default();
        // SAFETY: the validation context is created, used and freed here on this thread; the
        // schema is read-only; `doc` and `element` are borrowed for the call; `col` outlives
        // the validation that reports into it.
        unsafe {
            let vctxt = b::xmlSchemaNewValidCtxt(self.ptr);
            if vctxt.is_null() {
                return (vec![], 0);
            }
            xmlSchemaSetValidStructuredErrors(
                vctxt,
                Some(collect),
                &mut col as *mut Collector as *mut c_void,
            );
            let is_root = doc.root().map(|r| r.ptr == element.ptr).unwrap_or(false);
            if is_root {
                b::xmlSchemaValidateDoc(vctxt, doc.raw());
            } else {
                b::xmlSchemaValidateOneElement(vctxt, element.ptr);
            }
            b::xmlSchemaFreeValidCtxt(vctxt);
        }
        (col.errors, col.dropped)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: the Schema owns its non-null compiled schema; no validation borrows it now.
        // Its edited root document, if any, is dropped after it.
        unsafe { b::xmlSchemaFree(self.ptr) }
        drop(self.doc.take());
    }
}

/// An XPath 1.0 evaluation context on one document with the CDA namespaces bound.
pub struct XPath<'d> {
    ctx: b::xmlXPathContextPtr,
    _doc: std::marker::PhantomData<&'d Doc>,
}

/// Prefixes every banc XPath may use.
pub const NAMESPACES: &[(&str, &str)] = &[
    ("cda", "urn:hl7-org:v3"),
    ("sdtc", "urn:hl7-org:sdtc"),
    ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
    ("lab", "urn:oid:1.3.6.1.4.1.19376.1.3.2"),
    ("pharm", "urn:ihe:pharm"),
    ("xsl", "http://www.w3.org/1999/XSL/Transform"),
    ("data", "urn:asip-sante:ci-sis"),
];

impl<'d> XPath<'d> {
    pub fn new(doc: &'d Doc) -> XPath<'d> {
        quiet_thread();
        // SAFETY: doc is a live document borrowed for 'd, which the context cannot outlive;
        // prefix and URI strings are copied by xmlXPathRegisterNs.
        unsafe {
            let ctx = b::xmlXPathNewContext(doc.raw());
            for (p, u) in NAMESPACES {
                let p = CString::new(*p).unwrap_or_default();
                let u = CString::new(*u).unwrap_or_default();
                b::xmlXPathRegisterNs(ctx, p.as_ptr() as *const u8, u.as_ptr() as *const u8);
            }
            XPath {
                ctx,
                _doc: std::marker::PhantomData,
            }
        }
    }

    fn eval(&self, expr: &str, node: Node<'d>) -> Option<b::xmlXPathObjectPtr> {
        let e = CString::new(expr).ok()?;
        // SAFETY: self.ctx is live; node belongs to the context's document (both borrow 'd).
        unsafe {
            (*self.ctx).node = node.ptr;
            let obj = b::xmlXPathEvalExpression(e.as_ptr() as *const u8, self.ctx);
            (!obj.is_null()).then_some(obj)
        }
    }

    /// Nodes selected by `expr` from `node`. Non-element nodes (attributes) are returned too.
    /// An expression that does not compile yields `Err` with the expression.
    pub fn select(&self, expr: &str, node: Node<'d>) -> Result<Vec<Node<'d>>, String> {
        let obj = self.eval(expr, node).ok_or_else(|| expr.to_string())?;
        let mut out = Vec::new();
        // SAFETY: obj is a fresh, non-null result owned here and freed once; its nodes are
        // nodes of the document borrowed for 'd.
        unsafe {
            let set = (*obj).nodesetval;
            if !set.is_null() && !(*set).nodeTab.is_null() {
                for i in 0..(*set).nodeNr.max(0) as usize {
                    out.push(Node::from_raw(*(*set).nodeTab.add(i)));
                }
            }
            b::xmlXPathFreeObject(obj);
        }
        Ok(out)
    }

    /// Effective boolean value of `expr` evaluated from `node`.
    pub fn boolean(&self, expr: &str, node: Node<'d>) -> Result<bool, String> {
        let obj = self.eval(expr, node).ok_or_else(|| expr.to_string())?;
        // SAFETY: obj is a fresh, non-null result owned here and freed once.
        unsafe {
            let v = b::xmlXPathCastToBoolean(obj) != 0;
            b::xmlXPathFreeObject(obj);
            Ok(v)
        }
    }

    /// String value of `expr` evaluated from `node`.
    pub fn string(&self, expr: &str, node: Node<'d>) -> Result<String, String> {
        let obj = self.eval(expr, node).ok_or_else(|| expr.to_string())?;
        // SAFETY: obj is a fresh, non-null result owned here and freed once; the cast returns
        // a fresh string, freed once copied.
        unsafe {
            let v = b::xmlXPathCastToString(obj);
            let s = cstr(v as *const c_char);
            libxml_free(v as *mut c_void);
            b::xmlXPathFreeObject(obj);
            Ok(s)
        }
    }
}

impl Drop for XPath<'_> {
    fn drop(&mut self) {
        // SAFETY: the context is owned by self and freed once; results it produced were freed.
        unsafe { b::xmlXPathFreeContext(self.ctx) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_2_9_series_is_accepted() {
        assert_eq!(check_version("20914"), Ok(20914));
        assert_eq!(check_version("20904-GITv2.9.4"), Ok(20904));
        let newer = check_version("21207").unwrap_err();
        assert!(newer.contains("2.12.7"), "{newer}");
        assert!(check_version("20814").is_err());
        assert!(check_version("").is_err());
        assert!(check_version("abc").is_err());
    }

    #[test]
    fn the_library_found_at_run_time_is_checked_once_and_accepted() {
        assert_eq!(init(), Ok(()));
        assert_eq!(init(), Ok(()));
    }
}
