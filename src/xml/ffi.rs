//! Thin safe wrappers over libxml2 (through the `libxml` crate's pre-generated bindings).
//!
//! The crate's own `Document`/`SchemaValidationContext` do not fit: they recompile the schema for
//! every validation context and parse with fixed options. banc needs one compiled schema shared by
//! all threads, hardened parse options and every structured error with its node.

use libxml::bindings as b;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Once;

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

unsafe extern "C" fn collect(ctx: *mut c_void, err: *mut b::_xmlError) {
    if ctx.is_null() || err.is_null() {
        return;
    }
    // SAFETY: ctx is the &mut Collector we registered for the duration of the call that reports.
    let col = unsafe { &mut *(ctx as *mut Collector) };
    if col.errors.len() >= MAX_ERRORS {
        col.dropped += 1;
        return;
    }
    let e = unsafe { &*err };
    let message = if e.message.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .trim()
            .to_string()
    };
    // For parser errors, int2 carries the column.
    let column = if e.domain == b::xmlErrorDomain_XML_FROM_PARSER as i32 {
        e.int2.max(0) as u32
    } else {
        0
    };
    col.errors.push(RawError {
        domain: e.domain,
        code: e.code,
        level: e.level,
        message,
        line: e.line.max(0) as u32,
        column,
        node: e.node as usize,
    });
}

unsafe extern "C" fn discard(_ctx: *mut c_void, _err: *mut b::_xmlError) {}

unsafe extern "C" fn discard_generic(_ctx: *mut c_void, _msg: *const c_char) {}

static INIT: Once = Once::new();

/// libxml2 must be initialised once, from one thread, before any concurrent use.
pub fn init() {
    INIT.call_once(|| unsafe { b::xmlInitParser() });
    quiet_thread();
}

/// libxml2's error handler is per thread: nothing of libxml2's may reach stderr, every error
/// is collected where it happens.
pub(crate) fn quiet_thread() {
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

pub fn parse(bytes: &[u8], url: &str) -> Parsed {
    init();
    let mut col = Collector::default();
    let url_c = CString::new(url.replace('\0', "")).unwrap_or_default();
    let Ok(len) = c_int::try_from(bytes.len()) else {
        return Parsed {
            doc: None,
            errors: vec![RawError {
                domain: 0,
                code: -1,
                level: 3,
                message: "document larger than libxml2 can address".into(),
                line: 0,
                column: 0,
                node: 0,
            }],
            dropped: 0,
        };
    };
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
        unsafe { b::xmlFreeDoc(self.ptr) }
    }
}

/// A borrowed element node of a [`Doc`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Node<'d> {
    ptr: b::xmlNodePtr,
    _doc: std::marker::PhantomData<&'d Doc>,
}

impl Doc {
    pub fn root(&self) -> Option<Node<'_>> {
        let r = unsafe { b::xmlDocGetRootElement(self.ptr) };
        (!r.is_null()).then(|| Node::wrap(r))
    }

    /// Elements in document order, the order in which the pre-scan indexed them.
    pub fn elements(&self) -> Vec<Node<'_>> {
        unsafe { element_walk(self.ptr) }
            .into_iter()
            .map(Node::wrap)
            .collect()
    }

    pub(crate) fn raw(&self) -> b::xmlDocPtr {
        self.ptr
    }

    /// Give the document up for the rest of the process (value sets shared by every thread).
    pub(crate) fn into_raw(self) -> b::xmlDocPtr {
        let p = self.ptr;
        std::mem::forget(self);
        p
    }
}

/// Element nodes of `doc` in document order.
///
/// # Safety
/// `doc` must be a valid libxml2 document, not modified during the call.
pub(crate) unsafe fn element_walk(doc: b::xmlDocPtr) -> Vec<b::xmlNodePtr> {
    let mut out = Vec::new();
    let root = unsafe { b::xmlDocGetRootElement(doc) };
    let mut stack = if root.is_null() { vec![] } else { vec![root] };
    while let Some(n) = stack.pop() {
        out.push(n);
        // Push children in reverse so the first child is visited first.
        let mut kids = Vec::new();
        let mut c = unsafe { (*n).children };
        while !c.is_null() {
            if unsafe { (*c).type_ } == b::xmlElementType_XML_ELEMENT_NODE {
                kids.push(c);
            }
            c = unsafe { (*c).next };
        }
        stack.extend(kids.into_iter().rev());
    }
    out
}

impl<'d> Node<'d> {
    fn wrap(ptr: b::xmlNodePtr) -> Node<'d> {
        Node {
            ptr,
            _doc: std::marker::PhantomData,
        }
    }

    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    pub fn is_element(&self) -> bool {
        unsafe { (*self.ptr).type_ == b::xmlElementType_XML_ELEMENT_NODE }
    }

    pub fn local_name(&self) -> String {
        unsafe { cstr((*self.ptr).name as *const c_char) }
    }

    pub fn namespace(&self) -> Option<String> {
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
        unsafe { b::xmlGetLineNo(self.ptr).max(0) as u32 }
    }

    pub fn parent(&self) -> Option<Node<'d>> {
        let p = unsafe { (*self.ptr).parent };
        if p.is_null() || unsafe { (*p).type_ } != b::xmlElementType_XML_ELEMENT_NODE {
            None
        } else {
            Some(Node::wrap(p))
        }
    }

    pub fn attr(&self, name: &str) -> Option<String> {
        let n = CString::new(name).ok()?;
        unsafe {
            let v = b::xmlGetNoNsProp(self.ptr, n.as_ptr() as *const u8);
            (!v.is_null()).then(|| owned(v))
        }
    }

    /// Attribute `name` in namespace `ns` (e.g. `xsi:type`).
    pub fn attr_ns(&self, name: &str, ns: &str) -> Option<String> {
        let n = CString::new(name).ok()?;
        let u = CString::new(ns).ok()?;
        unsafe {
            let v = b::xmlGetNsProp(self.ptr, n.as_ptr() as *const u8, u.as_ptr() as *const u8);
            (!v.is_null()).then(|| owned(v))
        }
    }

    /// Concatenated text content of the node and its descendants.
    pub fn text(&self) -> String {
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

    pub(crate) fn from_raw(ptr: b::xmlNodePtr) -> Node<'d> {
        Node::wrap(ptr)
    }
}

pub(crate) unsafe fn libxml_free(p: *mut c_void) {
    unsafe {
        if !p.is_null()
            && let Some(f) = b::xmlFree
        {
            f(p)
        }
    }
}

/// A string libxml2 allocated for the caller, copied and freed.
pub(crate) unsafe fn owned(p: *mut u8) -> String {
    let s = unsafe { cstr(p as *const c_char) };
    unsafe { libxml_free(p as *mut c_void) };
    s
}

pub(crate) unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// A compiled XML schema, shared read-only by every validating thread.
pub struct Schema {
    ptr: b::xmlSchemaPtr,
}

// SAFETY: a compiled xmlSchema is not modified by validation; each validation uses its own
// xmlSchemaValidCtxt (libxml2's documented way to validate from several threads).
unsafe impl Send for Schema {}
unsafe impl Sync for Schema {}

impl Schema {
    /// Compile the schema at `path` (its `xs:include`/`xs:import` resolved from its folder).
    pub fn compile(path: &std::path::Path) -> Result<Schema, Vec<RawError>> {
        init();
        let p = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| vec![])?;
        let mut col = Collector::default();
        unsafe {
            let pctxt = b::xmlSchemaNewParserCtxt(p.as_ptr());
            if pctxt.is_null() {
                return Err(col.errors);
            }
            xmlSchemaSetParserStructuredErrors(
                pctxt,
                Some(collect),
                &mut col as *mut Collector as *mut c_void,
            );
            // Schema parsing may read included files; the thread handler catches parser errors.
            xmlSetStructuredErrorFunc(&mut col as *mut Collector as *mut c_void, Some(collect));
            let schema = b::xmlSchemaParse(pctxt);
            quiet_thread();
            b::xmlSchemaFreeParserCtxt(pctxt);
            if schema.is_null() {
                Err(col.errors)
            } else {
                Ok(Schema { ptr: schema })
            }
        }
    }

    /// Validate `element` (the document root, or a CDA embedded in an auto-presentable stylesheet).
    pub fn validate(&self, doc: &Doc, element: Node<'_>) -> (Vec<RawError>, usize) {
        init();
        let mut col = Collector::default();
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
        unsafe { b::xmlSchemaFree(self.ptr) }
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
        unsafe {
            let set = (*obj).nodesetval;
            if !set.is_null() && !(*set).nodeTab.is_null() {
                for i in 0..(*set).nodeNr.max(0) as usize {
                    out.push(Node::wrap(*(*set).nodeTab.add(i)));
                }
            }
            b::xmlXPathFreeObject(obj);
        }
        Ok(out)
    }

    /// Effective boolean value of `expr` evaluated from `node`.
    pub fn boolean(&self, expr: &str, node: Node<'d>) -> Result<bool, String> {
        let obj = self.eval(expr, node).ok_or_else(|| expr.to_string())?;
        unsafe {
            let v = b::xmlXPathCastToBoolean(obj) != 0;
            b::xmlXPathFreeObject(obj);
            Ok(v)
        }
    }

    /// String value of `expr` evaluated from `node`.
    pub fn string(&self, expr: &str, node: Node<'d>) -> Result<String, String> {
        let obj = self.eval(expr, node).ok_or_else(|| expr.to_string())?;
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
        unsafe { b::xmlXPathFreeContext(self.ctx) }
    }
}
