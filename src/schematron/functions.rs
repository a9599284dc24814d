//! The C callbacks libxml2 calls while evaluating a plan: variable look-up and the XPath
//! extension functions (XSLT/XPath 2.0 names and the `banc:` targets of the translation), with
//! the helpers that read their arguments and push their results. Semantics of the XPath 2.0
//! functions themselves live in `xpath2` (pure Rust); the run loop lives in `run`.

use super::docs::{keyed_index, shared_doc};
use super::run::State;
use super::xpath2;
use crate::xml::ffi::owned;
use libxml::bindings as b;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;

/// String value of an XPath object; node-sets join every node's string value with `sep`.
pub(super) unsafe fn object_string(obj: b::xmlXPathObjectPtr, sep: &str) -> String {
    unsafe {
        match (*obj).type_ {
            b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE => {
                let set = (*obj).nodesetval;
                let mut parts = Vec::new();
                if !set.is_null() && !(*set).nodeTab.is_null() {
                    for i in 0..(*set).nodeNr.max(0) as usize {
                        parts.push(node_string(*(*set).nodeTab.add(i)));
                    }
                }
                parts.join(sep)
            }
            b::xmlXPathObjectType_XPATH_NUMBER => xpath2::double_to_string((*obj).floatval),
            _ => owned(b::xmlXPathCastToString(obj)),
        }
    }
}

pub(super) unsafe fn node_string(n: b::xmlNodePtr) -> String {
    unsafe { owned(b::xmlXPathCastNodeToString(n)) }
}

/// The item strings of an argument: each node's string value, or the one value.
unsafe fn arg_items(o: b::xmlXPathObjectPtr) -> Vec<String> {
    if is_nodeset(o) {
        unsafe { arg_nodes(o) }
            .into_iter()
            .map(|n| unsafe { node_string(n) })
            .collect()
    } else {
        vec![unsafe { arg_string(o) }]
    }
}

pub(super) unsafe fn state<'a>(ctxt: b::xmlXPathParserContextPtr) -> &'a State<'a> {
    unsafe { &*((*(*ctxt).context).userData as *const State<'a>) }
}

pub(super) unsafe extern "C" fn var_lookup(
    data: *mut c_void,
    name: *const u8,
    _ns: *const u8,
) -> b::xmlXPathObjectPtr {
    if data.is_null() || name.is_null() {
        return ptr::null_mut();
    }
    let st = unsafe { &*(data as *const State) };
    let name = unsafe { CStr::from_ptr(name as *const c_char) }.to_string_lossy();
    st.lookup(&name)
}

// --- extension functions ---------------------------------------------------------------------

/// Pop `n` arguments (in call order).
unsafe fn pop_args(ctxt: b::xmlXPathParserContextPtr, n: c_int) -> Vec<b::xmlXPathObjectPtr> {
    let mut v: Vec<_> = (0..n).map(|_| unsafe { b::valuePop(ctxt) }).collect();
    v.reverse();
    v
}

unsafe fn free_args(args: Vec<b::xmlXPathObjectPtr>) {
    for a in args {
        if !a.is_null() {
            unsafe { b::xmlXPathFreeObject(a) };
        }
    }
}

/// XPath 2.0 atomization for a string argument: the first node's string value, or the value.
unsafe fn arg_string(o: b::xmlXPathObjectPtr) -> String {
    if o.is_null() {
        return String::new();
    }
    unsafe {
        match (*o).type_ {
            b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE => {
                let set = (*o).nodesetval;
                if set.is_null() || (*set).nodeNr == 0 {
                    String::new()
                } else {
                    node_string(*(*set).nodeTab)
                }
            }
            _ => object_string(o, " "),
        }
    }
}

/// Nodes of a node-set argument (empty for other types).
pub(super) unsafe fn arg_nodes(o: b::xmlXPathObjectPtr) -> Vec<b::xmlNodePtr> {
    let mut out = Vec::new();
    unsafe {
        if o.is_null()
            || !matches!(
                (*o).type_,
                b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE
            )
        {
            return out;
        }
        let set = (*o).nodesetval;
        if !set.is_null() && !(*set).nodeTab.is_null() {
            for i in 0..(*set).nodeNr.max(0) as usize {
                out.push(*(*set).nodeTab.add(i));
            }
        }
    }
    out
}

fn is_nodeset(o: b::xmlXPathObjectPtr) -> bool {
    !o.is_null()
        && unsafe {
            matches!(
                (*o).type_,
                b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE
            )
        }
}

/// A node-set object of `nodes`, in the given order (no document-order sort: nodes of the
/// scratch document and of the document must not be compared).
unsafe fn nodeset(nodes: &[b::xmlNodePtr]) -> b::xmlXPathObjectPtr {
    unsafe {
        let set = b::xmlXPathNodeSetCreate(ptr::null_mut());
        for n in nodes {
            b::xmlXPathNodeSetAdd(set, *n);
        }
        b::xmlXPathWrapNodeSet(set)
    }
}

unsafe fn push_string(ctxt: b::xmlXPathParserContextPtr, s: &str) {
    let c = CString::new(s.replace('\0', "")).unwrap_or_default();
    unsafe { b::valuePush(ctxt, b::xmlXPathNewString(c.as_ptr() as *const u8)) };
}

unsafe fn push_bool(ctxt: b::xmlXPathParserContextPtr, v: bool) {
    unsafe { b::valuePush(ctxt, b::xmlXPathNewBoolean(v as c_int)) };
}

pub(super) unsafe fn fail(ctxt: b::xmlXPathParserContextPtr, code: u32) {
    unsafe { b::xmlXPathErr(ctxt, code as c_int) };
}

const XPATH_INVALID_ARITY: u32 = b::xmlXPathError_XPATH_INVALID_ARITY;
const XPATH_INVALID_OPERAND: u32 = b::xmlXPathError_XPATH_INVALID_OPERAND;

macro_rules! arity {
    ($ctxt:expr, $n:expr, $lo:expr, $hi:expr) => {
        if !($lo..=$hi).contains(&$n) {
            unsafe { fail($ctxt, XPATH_INVALID_ARITY) };
            return;
        }
    };
}

/// `document(uri)`, `doc(uri)`: node-set of the document node(s); unreadable → error, as the
/// reference (FODC0002 aborts the schematron).
unsafe extern "C" fn f_document(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let uris = unsafe { arg_items(args[0]) };
    unsafe { free_args(args) };
    let mut nodes = Vec::new();
    for u in uris {
        match shared_doc(&st.plan.base_dir.join(&u), &st.plan.kit_root) {
            Some(d) => nodes.push(d as b::xmlNodePtr),
            None => {
                unsafe { fail(ctxt, b::xmlXPathError_XPATH_INVALID_OPERAND) };
                return;
            }
        }
    }
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

unsafe extern "C" fn f_doc_available(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let u = unsafe { arg_string(args[0]) };
    unsafe { free_args(args) };
    let ok = !u.is_empty() && shared_doc(&st.plan.base_dir.join(&u), &st.plan.kit_root).is_some();
    unsafe { push_bool(ctxt, ok) };
}

unsafe extern "C" fn f_exists(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = unsafe { b::xmlXPathCastToBoolean(args[0]) != 0 } || !is_nodeset(args[0]);
    unsafe {
        free_args(args);
        push_bool(ctxt, v)
    };
}

unsafe extern "C" fn f_empty(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    unsafe {
        free_args(args);
        push_bool(ctxt, v)
    };
}

fn regex_cached(pattern: &str, flags: &str) -> Result<regex::Regex, String> {
    thread_local! {
        static RX: RefCell<HashMap<(String, String), Result<regex::Regex, String>>> =
            RefCell::new(HashMap::new());
    }
    RX.with(|m| {
        m.borrow_mut()
            .entry((pattern.to_string(), flags.to_string()))
            .or_insert_with(|| xpath2::compile_regex(pattern, flags))
            .clone()
    })
}

unsafe extern "C" fn f_matches(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 3);
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let flags = s.get(2).map(String::as_str).unwrap_or("");
    match regex_cached(&s[1], flags) {
        Ok(rx) => unsafe { push_bool(ctxt, xpath2::matches(&s[0], &rx)) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

unsafe extern "C" fn f_replace(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 4);
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let flags = s.get(3).map(String::as_str).unwrap_or("");
    match regex_cached(&s[1], flags).and_then(|rx| xpath2::replace(&s[0], &rx, &s[2])) {
        Ok(out) => unsafe { push_string(ctxt, &out) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

unsafe extern "C" fn f_tokenize(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 3);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let toks: Vec<String> = if n == 1 {
        s[0].split_ascii_whitespace().map(str::to_string).collect()
    } else {
        let flags = s.get(2).map(String::as_str).unwrap_or("");
        match regex_cached(&s[1], flags).and_then(|rx| xpath2::tokenize(&s[0], &rx)) {
            Ok(t) => t,
            Err(_) => {
                unsafe { fail(ctxt, XPATH_INVALID_OPERAND) };
                return;
            }
        }
    };
    let nodes: Vec<_> = toks.iter().map(|t| st.text_node(t)).collect();
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

/// `banc:seq(a, b, ...)`: the sequence constructor; atomics become scratch text nodes.
unsafe extern "C" fn f_seq(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let mut nodes = Vec::new();
    for a in &args {
        if is_nodeset(*a) {
            nodes.extend(unsafe { arg_nodes(*a) });
        } else if !a.is_null() {
            let s = unsafe { object_string(*a, " ") };
            nodes.push(st.text_node(&s));
        }
    }
    unsafe {
        free_args(args);
        b::valuePush(ctxt, nodeset(&nodes))
    };
}

unsafe extern "C" fn f_string_join(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let sep = if n == 2 {
        unsafe { arg_string(args[1]) }
    } else {
        String::new()
    };
    let s = if is_nodeset(args[0]) {
        unsafe { object_string(args[0], &sep) }
    } else {
        unsafe { arg_string(args[0]) }
    };
    unsafe {
        free_args(args);
        push_string(ctxt, &s)
    };
}

unsafe extern "C" fn f_distinct_values(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let values = unsafe { arg_items(args[0]) };
    unsafe { free_args(args) };
    let mut seen = std::collections::HashSet::new();
    let nodes: Vec<_> = values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .map(|v| st.text_node(&v))
        .collect();
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

/// `banc:resolve-qname(value, element)` → `{uri}local` (empty value → empty sequence).
unsafe extern "C" fn f_resolve_qname(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let empty = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    let value = unsafe { arg_string(args[0]) };
    let elem = unsafe { arg_nodes(args[1]) }.first().copied();
    unsafe { free_args(args) };
    if empty {
        unsafe { b::valuePush(ctxt, nodeset(&[])) };
        return;
    }
    let value = value.trim();
    let (prefix, local) = match value.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, value),
    };
    let Some(elem) = elem else {
        unsafe { push_string(ctxt, "") };
        return;
    };
    let uri = unsafe {
        let p = prefix.map(|p| CString::new(p).unwrap_or_default());
        let ns = b::xmlSearchNs(
            (*elem).doc,
            elem,
            p.as_ref()
                .map(|p| p.as_ptr() as *const u8)
                .unwrap_or(ptr::null()),
        );
        if ns.is_null() {
            None
        } else {
            Some(
                CStr::from_ptr((*ns).href as *const c_char)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    match (prefix, uri) {
        // An undeclared prefix is an error in XPath 2.0 (FONS0004): never equal to a QName.
        (Some(_), None) => unsafe { push_string(ctxt, "") },
        (_, uri) => unsafe {
            push_string(ctxt, &format!("{{{}}}{local}", uri.unwrap_or_default()))
        },
    }
}

unsafe extern "C" fn f_castable(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let empty = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    let many = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.len() > 1;
    let v = unsafe { arg_string(args[0]) };
    let ty = unsafe { arg_string(args[1]) };
    unsafe { free_args(args) };
    let optional = ty.ends_with('?');
    if empty || many {
        unsafe { push_bool(ctxt, empty && optional) };
        return;
    }
    match xpath2::castable(&v, ty.trim_start_matches("xs:").trim_end_matches('?')) {
        Ok(ok) => unsafe { push_bool(ctxt, ok) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

/// `banc:if(c, a, b)` (arguments already evaluated).
unsafe extern "C" fn f_if(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 3);
    let mut args = unsafe { pop_args(ctxt, n) };
    let c = unsafe { b::xmlXPathCastToBoolean(args[0]) != 0 };
    let keep = if c { 1 } else { 2 };
    let v = std::mem::replace(&mut args[keep], ptr::null_mut());
    unsafe {
        free_args(args);
        b::valuePush(ctxt, v)
    };
}

/// A one-argument string function: pop the argument, push `f` of it.
unsafe fn map_string(ctxt: b::xmlXPathParserContextPtr, n: c_int, f: fn(&str) -> String) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let s = f(&unsafe { arg_string(args[0]) });
    unsafe {
        free_args(args);
        push_string(ctxt, &s)
    };
}

unsafe extern "C" fn f_lower(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, str::to_lowercase) }
}

unsafe extern "C" fn f_upper(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, str::to_uppercase) }
}

unsafe extern "C" fn f_ends_with(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let (a, s) = unsafe { (arg_string(args[0]), arg_string(args[1])) };
    unsafe {
        free_args(args);
        push_bool(ctxt, a.ends_with(&s))
    };
}

unsafe extern "C" fn f_current_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    unsafe { push_string(ctxt, &now_iso(false)) };
}

unsafe extern "C" fn f_current_date(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    unsafe { push_string(ctxt, &now_iso(true)) };
}

/// UTC now as `xs:dateTime` / `xs:date` lexical form.
fn now_iso(date_only: bool) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if date_only {
        format!("{y:04}-{m:02}-{d:02}Z")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// `banc:number(x)`: XPath 2.0 fn:number.
unsafe extern "C" fn f_number(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = if !is_nodeset(args[0])
        && unsafe { (*args[0]).type_ } == b::xmlXPathObjectType_XPATH_NUMBER
    {
        unsafe { (*args[0]).floatval }
    } else {
        xpath2::xs_double(&unsafe { arg_string(args[0]) })
    };
    unsafe {
        free_args(args);
        b::valuePush(ctxt, b::xmlXPathNewFloat(v))
    };
}

unsafe fn set_op(ctxt: b::xmlXPathParserContextPtr, n: c_int, keep_common: bool) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let other: std::collections::HashSet<usize> = unsafe { arg_nodes(args[1]) }
        .into_iter()
        .map(|p| p as usize)
        .collect();
    let kept: Vec<_> = unsafe { arg_nodes(args[0]) }
        .into_iter()
        .filter(|p| other.contains(&(*p as usize)) == keep_common)
        .collect();
    unsafe {
        free_args(args);
        b::valuePush(ctxt, nodeset(&kept))
    };
}

unsafe extern "C" fn f_except(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { set_op(ctxt, n, false) }
}

unsafe extern "C" fn f_intersect(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { set_op(ctxt, n, true) }
}

unsafe extern "C" fn f_iri_to_uri(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, xpath2::iri_to_uri) }
}

unsafe extern "C" fn f_compare_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let (a, c) = unsafe { (arg_string(args[0]), arg_string(args[1])) };
    unsafe { free_args(args) };
    // Values without a timezone: the reference ran in France; banc takes UTC, a documented gap.
    let v = match xpath2::compare_datetime(&a, &c, 0) {
        Some(std::cmp::Ordering::Less) => -1.0,
        Some(std::cmp::Ordering::Equal) => 0.0,
        Some(std::cmp::Ordering::Greater) => 1.0,
        None => f64::NAN,
    };
    unsafe { b::valuePush(ctxt, b::xmlXPathNewFloat(v)) };
}

/// `banc:map(s, 'xpath')`: `for $v in s return e` / `s/f(...)`: the expression evaluated from
/// each node of `s`; nodes kept, other results as text nodes.
unsafe extern "C" fn f_map(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let nodes = unsafe { arg_nodes(args[0]) };
    let expr = unsafe { arg_string(args[1]) };
    unsafe { free_args(args) };
    let comp = MAP_EXPRS.with(|m| {
        *m.borrow_mut().entry(expr.clone()).or_insert_with(|| {
            let c = CString::new(expr.as_str()).unwrap_or_default();
            unsafe { b::xmlXPathCompile(c.as_ptr() as *const u8) }
        })
    });
    if comp.is_null() {
        unsafe { fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR) };
        return;
    }
    let mut out = Vec::new();
    let size = nodes.len() as c_int;
    for (k, node) in nodes.into_iter().enumerate() {
        let obj = unsafe {
            let c = st.ctx;
            let saved = ((*c).node, (*c).contextSize, (*c).proximityPosition);
            (*c).node = node;
            (*c).contextSize = size;
            (*c).proximityPosition = k as c_int + 1;
            let o = b::xmlXPathCompiledEval(comp, c);
            ((*c).node, (*c).contextSize, (*c).proximityPosition) = saved;
            o
        };
        if obj.is_null() {
            unsafe { fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR) };
            return;
        }
        if is_nodeset(obj) {
            out.extend(unsafe { arg_nodes(obj) });
        } else {
            let s = unsafe { object_string(obj, " ") };
            out.push(st.text_node(&s));
        }
        unsafe { b::xmlXPathFreeObject(obj) };
    }
    unsafe { b::valuePush(ctxt, nodeset(&out)) };
}

thread_local! {
    /// Expressions given to `banc:map` as strings, compiled once per thread (kept for the
    /// process: they come from the plans, a bounded set).
    static MAP_EXPRS: RefCell<HashMap<String, b::xmlXPathCompExprPtr>> =
        RefCell::new(HashMap::new());
}

/// `banc:keyed(docs, 'q:name', key, value)`: the elements `q:name` of `docs` whose attribute
/// `key` (or a text child, key `#text`) equals `value` with XPath `=` semantics.
unsafe extern "C" fn f_keyed(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 4, 4);
    let args = unsafe { pop_args(ctxt, n) };
    let docs = unsafe { arg_nodes(args[0]) };
    let qname = unsafe { arg_string(args[1]) };
    let key = unsafe { arg_string(args[2]) };
    let value = args[3];
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname.as_str()),
    };
    let ns = match prefix {
        None => String::new(),
        Some(p) => unsafe {
            let pc = CString::new(p).unwrap_or_default();
            let u = b::xmlXPathNsLookup((*ctxt).context, pc.as_ptr() as *const u8);
            if u.is_null() {
                free_args(args);
                fail(ctxt, b::xmlXPathError_XPATH_UNDEF_PREFIX_ERROR);
                return;
            }
            CStr::from_ptr(u as *const c_char)
                .to_string_lossy()
                .into_owned()
        },
    };
    let mut found: Vec<usize> = Vec::new();
    for d in docs {
        if unsafe { (*d).type_ } != b::xmlElementType_XML_DOCUMENT_NODE {
            continue;
        }
        let idx = keyed_index(d as b::xmlDocPtr, &ns, local, &key);
        let t = unsafe { (*value).type_ };
        if is_nodeset(value) {
            for v in unsafe { arg_nodes(value) } {
                if let Some(l) = idx.get(&unsafe { node_string(v) }) {
                    found.extend(l);
                }
            }
        } else if t == b::xmlXPathObjectType_XPATH_NUMBER {
            let want = unsafe { (*value).floatval };
            for (k, l) in idx.iter() {
                if xpath_number(k) == want {
                    found.extend(l);
                }
            }
        } else if t == b::xmlXPathObjectType_XPATH_BOOLEAN {
            // `node = true()` holds for every element that has the key at all.
            if unsafe { (*value).boolval } != 0 {
                found.extend(idx.values().flatten());
            }
        } else if let Some(l) = idx.get(&unsafe { arg_string(value) }) {
            found.extend(l);
        }
    }
    unsafe { free_args(args) };
    found.sort_unstable();
    found.dedup();
    let nodes: Vec<b::xmlNodePtr> = found.into_iter().map(|a| a as b::xmlNodePtr).collect();
    unsafe {
        let obj = nodeset(&nodes);
        // Nodes of value-set files only: document order is safe to establish.
        b::xmlXPathNodeSetSort((*obj).nodesetval);
        b::valuePush(ctxt, obj)
    };
}

/// XPath 1.0 `number()` of a string.
fn xpath_number(s: &str) -> f64 {
    let c = CString::new(s).unwrap_or_default();
    unsafe { b::xmlXPathCastStringToNumber(c.as_ptr() as *const u8) }
}

type XFn = unsafe extern "C" fn(b::xmlXPathParserContextPtr, c_int);

/// Functions under their plain names (XSLT/XPath 2.0 names the rules call directly) and under
/// the banc namespace (targets of the XPath 2.0 translation).
pub(super) const PLAIN: &[(&str, XFn)] = &[
    ("document", f_document),
    ("doc", f_document),
    ("doc-available", f_doc_available),
    ("exists", f_exists),
    ("empty", f_empty),
    ("replace", f_replace),
    ("matches", f_matches),
];

pub(super) const BANC: &[(&str, XFn)] = &[
    ("keyed", f_keyed),
    ("doc", f_document),
    ("doc-available", f_doc_available),
    ("exists", f_exists),
    ("empty", f_empty),
    ("seq", f_seq),
    ("matches", f_matches),
    ("replace", f_replace),
    ("tokenize", f_tokenize),
    ("string-join", f_string_join),
    ("distinct-values", f_distinct_values),
    ("resolve-qname", f_resolve_qname),
    ("castable", f_castable),
    ("if", f_if),
    ("lower-case", f_lower),
    ("upper-case", f_upper),
    ("ends-with", f_ends_with),
    ("current-date", f_current_date),
    ("current-dateTime", f_current_datetime),
    ("number", f_number),
    ("except", f_except),
    ("intersect", f_intersect),
    ("iri-to-uri", f_iri_to_uri),
    ("compare-dateTime", f_compare_datetime),
    ("map", f_map),
];

/// Names of the extension functions registered in every context (checked against the list the
/// translator may emit, in tests).
pub fn registered_functions() -> Vec<String> {
    PLAIN
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(BANC.iter().map(|(n, _)| format!("banc:{n}")))
        .collect()
}
