//! The C callbacks libxml2 calls while evaluating a plan: variable look-up and the XPath
//! extension functions (XSLT/XPath 2.0 names and the `banc:` targets of the translation), with
//! the helpers that read their arguments and push their results. Semantics of the XPath 2.0
//! functions themselves live in `xpath2` (pure Rust); the run loop lives in `run`.

use super::run::State;
use super::xpath2;
use crate::xml::ffi::owned;
use libxml::bindings as b;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;

// Argument and result helpers. Their contract, stated once: an object pointer is null or a
// live XPath object the caller owns or borrows for the call; node pointers are nodes of live
// documents (the validated one, the engine's value sets, or the run's scratch document);
// `ctxt` is the live parser context of the extension function being called.

/// String value of an XPath object; node-sets join every node's string value with `sep`.
///
/// # Safety
/// `obj` must be a live, non-null XPath object (see the contract above).
pub(super) unsafe fn object_string(obj: b::xmlXPathObjectPtr, sep: &str) -> String {
    // SAFETY: obj is live and non-null, its node-set holds nodeNr live nodes; the cast returns
    // a fresh string that `owned` frees.
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

/// XPath string value of a node.
///
/// # Safety
/// `n` must be a live node.
pub(super) unsafe fn node_string(n: b::xmlNodePtr) -> String {
    // SAFETY: n is live; the cast returns a fresh string that `owned` frees.
    unsafe { owned(b::xmlXPathCastNodeToString(n)) }
}

/// The item strings of an argument: each node's string value, or the one value.
///
/// # Safety
/// `o` must be null or a live XPath object.
unsafe fn arg_items(o: b::xmlXPathObjectPtr) -> Vec<String> {
    // SAFETY: o is null or live (caller's contract), and so are the nodes of its node-set.
    unsafe {
        if is_nodeset(o) {
            arg_nodes(o).into_iter().map(|n| node_string(n)).collect()
        } else {
            vec![arg_string(o)]
        }
    }
}

/// The run state of the evaluation `ctxt` belongs to.
///
/// # Safety
/// `ctxt` must be the parser context of an evaluation started by `run`, whose context's
/// `userData` points to its `State`, alive for `'a`.
pub(super) unsafe fn state<'a>(ctxt: b::xmlXPathParserContextPtr) -> &'a State<'a> {
    // SAFETY: caller's contract; only shared references to the State exist during a run.
    unsafe { &*((*(*ctxt).context).userData as *const State<'a>) }
}

/// Variable look-up callback: `data` is the running `State` (registered by `run`).
///
/// # Safety
/// `data` is null or the `State` registered with the context; `name` is null or NUL-terminated.
pub(super) unsafe extern "C" fn var_lookup(
    data: *mut c_void,
    name: *const u8,
    _ns: *const u8,
) -> b::xmlXPathObjectPtr {
    if data.is_null() || name.is_null() {
        return ptr::null_mut();
    }
    // A panic must not unwind into libxml2: the variable is then unknown (an XPath error).
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: data is the State registered by `run`, alive for the whole evaluation.
        let st = unsafe { &*(data as *const State) };
        // SAFETY: name is non-null and NUL-terminated (libxml2's parsed variable name).
        let name = unsafe { CStr::from_ptr(name as *const c_char) }.to_string_lossy();
        st.lookup(&name)
    }))
    .unwrap_or(ptr::null_mut())
}

// --- extension functions ---------------------------------------------------------------------
//
// Each `f_*` below is the body of one extension function, an `unsafe fn` whose contract is: `ctxt`
// is the live parser context of an evaluation started by `run` (libxml2 calls the C entry point
// of the same name in `entry`, which catches panics, with exactly that).

/// Pop `n` arguments (in call order), owned by the caller from then on.
///
/// # Safety
/// `ctxt` must be a live parser context.
unsafe fn pop_args(ctxt: b::xmlXPathParserContextPtr, n: c_int) -> Vec<b::xmlXPathObjectPtr> {
    // SAFETY: ctxt is live; valuePop returns null when the stack is empty.
    let mut v: Vec<_> = (0..n).map(|_| unsafe { b::valuePop(ctxt) }).collect();
    v.reverse();
    v
}

/// # Safety
/// Each pointer must be null or an XPath object owned by the caller, not used after.
unsafe fn free_args(args: Vec<b::xmlXPathObjectPtr>) {
    for a in args {
        if !a.is_null() {
            // SAFETY: an object the caller owns, freed once.
            unsafe { b::xmlXPathFreeObject(a) };
        }
    }
}

/// XPath 2.0 atomization for a string argument: the first node's string value, or the value.
///
/// # Safety
/// `o` must be null or a live XPath object.
unsafe fn arg_string(o: b::xmlXPathObjectPtr) -> String {
    if o.is_null() {
        return String::new();
    }
    // SAFETY: o is live and non-null; a non-empty node-set's first node is live.
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
///
/// # Safety
/// `o` must be null or a live XPath object.
pub(super) unsafe fn arg_nodes(o: b::xmlXPathObjectPtr) -> Vec<b::xmlNodePtr> {
    let mut out = Vec::new();
    // SAFETY: o is null (checked) or live; its node table holds nodeNr entries.
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

/// Whether `o` is a node-set.
///
/// # Safety
/// `o` must be null or a live XPath object.
pub(super) unsafe fn is_nodeset(o: b::xmlXPathObjectPtr) -> bool {
    !o.is_null()
        // SAFETY: o is non-null and live (caller's contract).
        && unsafe {
            matches!(
                (*o).type_,
                b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE
            )
        }
}

/// A node-set object of `nodes`, in the given order (no document-order sort: nodes of the
/// scratch document and of the document must not be compared).
///
/// # Safety
/// Every node must be live for as long as the returned object is used.
unsafe fn nodeset(nodes: &[b::xmlNodePtr]) -> b::xmlXPathObjectPtr {
    // SAFETY: a fresh set, filled with live nodes (caller's contract) and wrapped; the caller
    // owns the object.
    unsafe {
        let set = b::xmlXPathNodeSetCreate(ptr::null_mut());
        for n in nodes {
            b::xmlXPathNodeSetAdd(set, *n);
        }
        b::xmlXPathWrapNodeSet(set)
    }
}

/// # Safety
/// `ctxt` must be a live parser context.
unsafe fn push_string(ctxt: b::xmlXPathParserContextPtr, s: &str) {
    let c = CString::new(s.replace('\0', "")).unwrap_or_default();
    // SAFETY: ctxt is live; the string is copied into a fresh object the stack takes over.
    unsafe { b::valuePush(ctxt, b::xmlXPathNewString(c.as_ptr() as *const u8)) };
}

/// # Safety
/// `ctxt` must be a live parser context.
unsafe fn push_bool(ctxt: b::xmlXPathParserContextPtr, v: bool) {
    // SAFETY: ctxt is live; the stack takes over the fresh object.
    unsafe { b::valuePush(ctxt, b::xmlXPathNewBoolean(v as c_int)) };
}

/// Raise XPath error `code` on the evaluation (libxml2 stops it and reports the error).
///
/// # Safety
/// `ctxt` must be a live parser context.
pub(super) unsafe fn fail(ctxt: b::xmlXPathParserContextPtr, code: u32) {
    // SAFETY: ctxt is live (caller's contract).
    unsafe { b::xmlXPathErr(ctxt, code as c_int) };
}

const XPATH_INVALID_ARITY: u32 = b::xmlXPathError_XPATH_INVALID_ARITY;
const XPATH_INVALID_OPERAND: u32 = b::xmlXPathError_XPATH_INVALID_OPERAND;

/// Wrong argument count: raise the arity error and return. Used in the (unsafe) extension
/// function bodies, whose `ctxt` is live.
macro_rules! arity {
    ($ctxt:expr, $n:expr, $lo:expr, $hi:expr) => {
        if !($lo..=$hi).contains(&$n) {
            // SAFETY: $ctxt is the live parser context of the function being called.
            unsafe { fail($ctxt, XPATH_INVALID_ARITY) };
            return;
        }
    };
}

/// The C entry points of the extension functions: each calls its body, a Rust `unsafe fn` of
/// the same name, and turns a panic into an XPath error instead of unwinding into libxml2
/// (which, through an `extern "C"` function, would abort the process). Arguments a panicking
/// body had popped are leaked; the evaluation stops with the error.
mod entry {
    use super::*;

    macro_rules! entry_points {
        ($($f:ident),* $(,)?) => {$(
            pub(super) unsafe extern "C" fn $f(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
                // SAFETY: libxml2 calls extension functions with the live parser context of an
                // evaluation started by `run`, as the bodies require.
                let r = catch_unwind(AssertUnwindSafe(|| unsafe { super::$f(ctxt, n) }));
                if r.is_err() {
                    // SAFETY: as above.
                    unsafe { fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR) };
                }
            }
        )*};
    }

    entry_points!(
        f_document,
        f_doc_available,
        f_exists,
        f_empty,
        f_matches,
        f_replace,
        f_tokenize,
        f_seq,
        f_string_join,
        f_distinct_values,
        f_resolve_qname,
        f_castable,
        f_if,
        f_lower,
        f_upper,
        f_ends_with,
        f_current_datetime,
        f_current_date,
        f_number,
        f_except,
        f_intersect,
        f_iri_to_uri,
        f_compare_datetime,
        f_map,
        f_keyed,
        f_has_key,
        f_elements,
        f_elements_local,
        f_in,
    );
}

/// `document(uri)`, `doc(uri)`: node-set of the document node(s); unreadable → error, as the
/// reference (FODC0002 aborts the schematron).
unsafe fn f_document(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let uris = arg_items(args[0]);
        free_args(args);
        let mut nodes = Vec::new();
        for u in uris {
            match st.plan.docs.get(
                &st.plan.base_dir.join(&u),
                &st.plan.kit_root,
                &st.plan.base_dir,
            ) {
                Some(d) => nodes.push(d as b::xmlNodePtr),
                None => {
                    fail(ctxt, b::xmlXPathError_XPATH_INVALID_OPERAND);
                    return;
                }
            }
        }
        b::valuePush(ctxt, nodeset(&nodes));
    }
}

unsafe fn f_doc_available(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let u = arg_string(args[0]);
        free_args(args);
        let ok = !u.is_empty()
            && st.plan.docs.available(
                &st.plan.base_dir.join(&u),
                &st.plan.kit_root,
                &st.plan.base_dir,
            );
        push_bool(ctxt, ok);
    }
}

unsafe fn f_exists(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let v = b::xmlXPathCastToBoolean(args[0]) != 0 || !is_nodeset(args[0]);
        free_args(args);
        push_bool(ctxt, v);
    }
}

unsafe fn f_empty(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let v = is_nodeset(args[0]) && arg_nodes(args[0]).is_empty();
        free_args(args);
        push_bool(ctxt, v);
    }
}

/// The compiled regex of (pattern, flags), compiled once per thread. Shared, not cloned: a
/// cloned `Regex` starts with empty search caches, which cost more than the search itself.
pub(super) fn regex_cached(pattern: &str, flags: &str) -> Rc<Result<regex::Regex, String>> {
    type Cache = HashMap<String, Vec<(String, Rc<Result<regex::Regex, String>>)>>;
    thread_local! {
        static RX: RefCell<Cache> = RefCell::new(HashMap::new());
    }
    RX.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(hit) = m
            .get(pattern)
            .and_then(|l| l.iter().find(|(f, _)| f == flags))
        {
            return hit.1.clone();
        }
        let rx = Rc::new(xpath2::compile_regex(pattern, flags));
        m.entry(pattern.to_string())
            .or_default()
            .push((flags.to_string(), rx.clone()));
        rx
    })
}

unsafe fn f_matches(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 3);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let s: Vec<String> = args.iter().map(|a| arg_string(*a)).collect();
        free_args(args);
        let flags = s.get(2).map(String::as_str).unwrap_or("");
        match &*regex_cached(&s[1], flags) {
            Ok(rx) => push_bool(ctxt, xpath2::matches(&s[0], rx)),
            Err(_) => fail(ctxt, XPATH_INVALID_OPERAND),
        }
    }
}

unsafe fn f_replace(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 4);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let s: Vec<String> = args.iter().map(|a| arg_string(*a)).collect();
        free_args(args);
        let flags = s.get(3).map(String::as_str).unwrap_or("");
        let rx = regex_cached(&s[1], flags);
        match rx
            .as_ref()
            .as_ref()
            .map_err(String::clone)
            .and_then(|rx| xpath2::replace(&s[0], rx, &s[2]))
        {
            Ok(out) => push_string(ctxt, &out),
            Err(_) => fail(ctxt, XPATH_INVALID_OPERAND),
        }
    }
}

unsafe fn f_tokenize(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 3);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let s: Vec<String> = args.iter().map(|a| arg_string(*a)).collect();
        free_args(args);
        let toks: Vec<String> = if n == 1 {
            s[0].split_ascii_whitespace().map(str::to_string).collect()
        } else {
            let flags = s.get(2).map(String::as_str).unwrap_or("");
            let rx = regex_cached(&s[1], flags);
            match rx
                .as_ref()
                .as_ref()
                .map_err(String::clone)
                .and_then(|rx| xpath2::tokenize(&s[0], rx))
            {
                Ok(t) => t,
                Err(_) => {
                    fail(ctxt, XPATH_INVALID_OPERAND);
                    return;
                }
            }
        };
        let nodes: Vec<_> = toks.iter().map(|t| st.text_node(t)).collect();
        b::valuePush(ctxt, nodeset(&nodes));
    }
}

/// `banc:seq(a, b, ...)`: the sequence constructor; atomics become scratch text nodes.
unsafe fn f_seq(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let mut nodes = Vec::new();
        for a in &args {
            if is_nodeset(*a) {
                nodes.extend(arg_nodes(*a));
            } else if !a.is_null() {
                let s = object_string(*a, " ");
                nodes.push(st.text_node(&s));
            }
        }
        free_args(args);
        b::valuePush(ctxt, nodeset(&nodes));
    }
}

unsafe fn f_string_join(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let sep = if n == 2 {
            arg_string(args[1])
        } else {
            String::new()
        };
        let s = if is_nodeset(args[0]) {
            object_string(args[0], &sep)
        } else {
            arg_string(args[0])
        };
        free_args(args);
        push_string(ctxt, &s);
    }
}

unsafe fn f_distinct_values(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let values = arg_items(args[0]);
        free_args(args);
        let mut seen = std::collections::HashSet::new();
        let nodes: Vec<_> = values
            .into_iter()
            .filter(|v| seen.insert(v.clone()))
            .map(|v| st.text_node(&v))
            .collect();
        b::valuePush(ctxt, nodeset(&nodes));
    }
}

/// `banc:resolve-qname(value, element)` → `{uri}local` (empty value → empty sequence).
unsafe fn f_resolve_qname(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let empty = is_nodeset(args[0]) && arg_nodes(args[0]).is_empty();
        let value = arg_string(args[0]);
        let elem = arg_nodes(args[1]).first().copied();
        free_args(args);
        if empty {
            b::valuePush(ctxt, nodeset(&[]));
            return;
        }
        let value = value.trim();
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let Some(elem) = elem else {
            push_string(ctxt, "");
            return;
        };
        let uri = {
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
            (Some(_), None) => push_string(ctxt, ""),
            (_, uri) => push_string(ctxt, &format!("{{{}}}{local}", uri.unwrap_or_default())),
        }
    }
}

unsafe fn f_castable(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let items = if is_nodeset(args[0]) {
            arg_nodes(args[0]).len()
        } else {
            1
        };
        let v = arg_string(args[0]);
        let ty = arg_string(args[1]);
        free_args(args);
        match castable(items, &v, &ty) {
            Ok(ok) => push_bool(ctxt, ok),
            Err(_) => fail(ctxt, XPATH_INVALID_OPERAND),
        }
    }
}

/// `v castable as ty` for a value of `items` items whose (first) string is `v`: an empty
/// sequence only to an optional type (`ty?`), several items never (shared with banc's
/// evaluator).
pub(super) fn castable(items: usize, v: &str, ty: &str) -> Result<bool, String> {
    match items {
        1 => xpath2::castable(v, ty.trim_start_matches("xs:").trim_end_matches('?')),
        n => Ok(n == 0 && ty.ends_with('?')),
    }
}

/// `banc:if(c, a, b)` (arguments already evaluated).
unsafe fn f_if(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 3);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let mut args = pop_args(ctxt, n);
        let c = b::xmlXPathCastToBoolean(args[0]) != 0;
        let keep = if c { 1 } else { 2 };
        let v = std::mem::replace(&mut args[keep], ptr::null_mut());
        free_args(args);
        b::valuePush(ctxt, v);
    }
}

/// A one-argument string function: pop the argument, push `f` of it.
///
/// # Safety
/// As the extension function bodies: `ctxt` is the live parser context of the call.
unsafe fn map_string(ctxt: b::xmlXPathParserContextPtr, n: c_int, f: fn(&str) -> String) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context of the calling extension function (caller's
    // contract); the popped arguments are owned here and freed once.
    unsafe {
        let args = pop_args(ctxt, n);
        let s = f(&arg_string(args[0]));
        free_args(args);
        push_string(ctxt, &s);
    }
}

unsafe fn f_lower(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe { map_string(ctxt, n, str::to_lowercase) }
}

unsafe fn f_upper(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe { map_string(ctxt, n, str::to_uppercase) }
}

unsafe fn f_ends_with(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let (a, s) = (arg_string(args[0]), arg_string(args[1]));
        free_args(args);
        push_bool(ctxt, a.ends_with(&s));
    }
}

unsafe fn f_current_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        push_string(ctxt, &now_iso(false));
    }
}

unsafe fn f_current_date(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        push_string(ctxt, &now_iso(true));
    }
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
unsafe fn f_number(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let v = if !is_nodeset(args[0]) && (*args[0]).type_ == b::xmlXPathObjectType_XPATH_NUMBER {
            (*args[0]).floatval
        } else {
            xpath2::xs_double(&arg_string(args[0]))
        };
        free_args(args);
        b::valuePush(ctxt, b::xmlXPathNewFloat(v));
    }
}

///
/// # Safety
/// As the extension function bodies: `ctxt` is the live parser context of the call.
unsafe fn set_op(ctxt: b::xmlXPathParserContextPtr, n: c_int, keep_common: bool) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context of the calling extension function (caller's
    // contract); the popped arguments are owned here and freed once.
    unsafe {
        let args = pop_args(ctxt, n);
        let other: std::collections::HashSet<usize> =
            arg_nodes(args[1]).into_iter().map(|p| p as usize).collect();
        let kept: Vec<_> = arg_nodes(args[0])
            .into_iter()
            .filter(|p| other.contains(&(*p as usize)) == keep_common)
            .collect();
        free_args(args);
        b::valuePush(ctxt, nodeset(&kept));
    }
}

unsafe fn f_except(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe { set_op(ctxt, n, false) }
}

unsafe fn f_intersect(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe { set_op(ctxt, n, true) }
}

unsafe fn f_iri_to_uri(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe { map_string(ctxt, n, xpath2::iri_to_uri) }
}

unsafe fn f_compare_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let (a, c) = (arg_string(args[0]), arg_string(args[1]));
        free_args(args);
        // Values without a timezone: the reference ran in France; banc takes UTC, a documented gap.
        let v = match xpath2::compare_datetime(&a, &c, 0) {
            Some(std::cmp::Ordering::Less) => -1.0,
            Some(std::cmp::Ordering::Equal) => 0.0,
            Some(std::cmp::Ordering::Greater) => 1.0,
            None => f64::NAN,
        };
        b::valuePush(ctxt, b::xmlXPathNewFloat(v));
    }
}

/// `banc:map(s, 'xpath')`: `for $v in s return e` / `s/f(...)`: the expression evaluated from
/// each node of `s`; nodes kept, other results as text nodes.
unsafe fn f_map(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let nodes = arg_nodes(args[0]);
        let expr = arg_string(args[1]);
        free_args(args);
        let comp = MAP_EXPRS.with(|m| {
            *m.borrow_mut().entry(expr.clone()).or_insert_with(|| {
                let c = CString::new(expr.as_str()).unwrap_or_default();
                b::xmlXPathCompile(c.as_ptr() as *const u8)
            })
        });
        if comp.is_null() {
            fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR);
            return;
        }
        let mut out = Vec::new();
        let size = nodes.len() as c_int;
        for (k, node) in nodes.into_iter().enumerate() {
            let obj = {
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
                fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR);
                return;
            }
            if is_nodeset(obj) {
                out.extend(arg_nodes(obj));
            } else {
                let s = object_string(obj, " ");
                out.push(st.text_node(&s));
            }
            b::xmlXPathFreeObject(obj);
        }
        b::valuePush(ctxt, nodeset(&out));
    }
}

thread_local! {
    /// Expressions given to `banc:map` as strings, compiled once per thread (kept for the
    /// process: they come from the plans, a bounded set).
    static MAP_EXPRS: RefCell<HashMap<String, b::xmlXPathCompExprPtr>> =
        RefCell::new(HashMap::new());
}

/// `banc:keyed(docs, 'q:name', key, value)`: the elements `q:name` of `docs` whose attribute
/// `key` (or a text child, key `#text`) equals `value` with XPath `=` semantics.
unsafe fn f_keyed(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 4, 4);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let args = pop_args(ctxt, n);
        let docs = arg_nodes(args[0]);
        let Some((ns, local, key, wanted)) = keyed_args(ctxt, &args) else {
            free_args(args);
            fail(ctxt, b::xmlXPathError_XPATH_UNDEF_PREFIX_ERROR);
            return;
        };
        let mut found: Vec<usize> = Vec::new();
        for d in docs {
            if (*d).type_ != b::xmlElementType_XML_DOCUMENT_NODE {
                continue;
            }
            let idx = state(ctxt)
                .plan
                .docs
                .keyed(d as b::xmlDocPtr, &ns, &local, &key);
            for l in wanted.hits(|k| idx.get(k), idx.iter()) {
                found.extend(l);
            }
        }
        free_args(args);
        found.sort_unstable();
        found.dedup();
        let nodes: Vec<b::xmlNodePtr> = found.into_iter().map(|a| a as b::xmlNodePtr).collect();
        let obj = nodeset(&nodes);
        // Nodes of value-set files only: document order is safe to establish.
        b::xmlXPathNodeSetSort((*obj).nodesetval);
        b::valuePush(ctxt, obj);
    }
}

/// The keys V of `banc:keyed` and `banc:has-key` asks for, compared as XPath's `=` compares a
/// node's string with V.
enum Wanted {
    /// V's strings (a string, or a node-set's nodes).
    Keys(Vec<String>),
    Number(f64),
    /// `node = true()` holds for every element that has the key at all.
    Any(bool),
}

/// The name (namespace, local name), the key and what V asks for of the four arguments of
/// `banc:keyed` and `banc:has-key`; `None` when the name's prefix is not declared.
///
/// # Safety
/// `ctxt` must be a live parser context and `args` its four popped, live arguments.
unsafe fn keyed_args(
    ctxt: b::xmlXPathParserContextPtr,
    args: &[b::xmlXPathObjectPtr],
) -> Option<(String, String, String, Wanted)> {
    // SAFETY: caller's contract.
    unsafe {
        let qname = arg_string(args[1]);
        let (ns, local) = expanded_name(ctxt, &qname)?;
        Some((ns, local.to_string(), arg_string(args[2]), wanted(args[3])))
    }
}

/// # Safety
/// `value` must be a live XPath object.
unsafe fn wanted(value: b::xmlXPathObjectPtr) -> Wanted {
    // SAFETY: caller's contract.
    unsafe {
        let t = (*value).type_;
        if is_nodeset(value) {
            Wanted::Keys(
                arg_nodes(value)
                    .into_iter()
                    .map(|v| node_string(v))
                    .collect(),
            )
        } else if t == b::xmlXPathObjectType_XPATH_NUMBER {
            Wanted::Number((*value).floatval)
        } else if t == b::xmlXPathObjectType_XPATH_BOOLEAN {
            Wanted::Any((*value).boolval != 0)
        } else {
            Wanted::Keys(vec![arg_string(value)])
        }
    }
}

impl Wanted {
    /// The entries of an index (`get` by key, or `all`) whose keys are asked for.
    fn hits<'a, T: 'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a T>,
        all: impl Iterator<Item = (&'a String, &'a T)>,
    ) -> Vec<&'a T> {
        match self {
            Wanted::Keys(k) => k.iter().filter_map(|k| get(k)).collect(),
            Wanted::Number(want) => all
                .filter(|(k, _)| xpath_number(k) == *want)
                .map(|(_, v)| v)
                .collect(),
            Wanted::Any(true) => all.map(|(_, v)| v).collect(),
            Wanted::Any(false) => Vec::new(),
        }
    }
}

/// `banc:has-key(uri, 'q:name', key, V)`: `boolean(banc:keyed(doc(uri), 'q:name', key, V))`
/// (see `rewrite::has_key_rewrite`) without keeping the document's tree, only its keys; the
/// same error as `doc(uri)` when the document cannot be read.
unsafe fn f_has_key(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 4, 4);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State` (see `run`); arguments popped from its stack are owned
    // here and freed once, pushed objects are handed over to libxml2.
    unsafe {
        let st = state(ctxt);
        let args = pop_args(ctxt, n);
        let uri = arg_string(args[0]);
        let Some((ns, local, key, wanted)) = keyed_args(ctxt, &args) else {
            free_args(args);
            fail(ctxt, b::xmlXPathError_XPATH_UNDEF_PREFIX_ERROR);
            return;
        };
        let Some(keys) = st.plan.docs.key_set(
            &st.plan.base_dir.join(&uri),
            &st.plan.kit_root,
            &st.plan.base_dir,
            (&ns, &local),
            &key,
        ) else {
            free_args(args);
            fail(ctxt, b::xmlXPathError_XPATH_INVALID_OPERAND);
            return;
        };
        let found = !wanted
            .hits(|k| keys.get(k), keys.iter().map(|k| (k, k)))
            .is_empty();
        free_args(args);
        push_bool(ctxt, found);
    }
}

/// The namespace URI and local name of `qname` in the evaluation's namespaces (no prefix: no
/// namespace); None when its prefix is not declared.
///
/// # Safety
/// `ctxt` must be a live parser context.
unsafe fn expanded_name(ctxt: b::xmlXPathParserContextPtr, qname: &str) -> Option<(String, &str)> {
    let Some((prefix, local)) = qname.split_once(':') else {
        return Some((String::new(), qname));
    };
    let pc = CString::new(prefix).unwrap_or_default();
    // SAFETY: ctxt is live (caller's contract); the URI returned is the context's, copied.
    unsafe {
        let u = b::xmlXPathNsLookup((*ctxt).context, pc.as_ptr() as *const u8);
        if u.is_null() {
            return None;
        }
        Some((
            CStr::from_ptr(u as *const c_char)
                .to_string_lossy()
                .into_owned(),
            local,
        ))
    }
}

/// The document of the evaluation's context node.
///
/// # Safety
/// `ctxt` must be a live parser context whose context node is null or live.
unsafe fn context_doc(ctxt: b::xmlXPathParserContextPtr) -> b::xmlDocPtr {
    // SAFETY: caller's contract. A namespace node is an `xmlNs`, whose `context` is its
    // document; every other node struct has `doc` at the same place.
    unsafe {
        let node = (*(*ctxt).context).node;
        if node.is_null() {
            (*(*ctxt).context).doc
        } else if (*node).type_ == b::xmlElementType_XML_NAMESPACE_DECL {
            (*(node as b::xmlNsPtr)).context
        } else {
            (*node).doc
        }
    }
}

/// A node-set object of `nodes`, distinct and in document order already: no duplicate check
/// (libxml2's is quadratic), no sort.
///
/// # Safety
/// Every node must be live for as long as the returned object is used.
unsafe fn ordered_nodeset(nodes: impl IntoIterator<Item = b::xmlNodePtr>) -> b::xmlXPathObjectPtr {
    // SAFETY: a fresh set, filled with live nodes (caller's contract) and wrapped; the caller
    // owns the object.
    unsafe {
        let set = b::xmlXPathNodeSetCreate(ptr::null_mut());
        for n in nodes {
            b::xmlXPathNodeSetAddUnique(set, n);
        }
        b::xmlXPathWrapNodeSet(set)
    }
}

/// Push the elements of the context node's document that `wanted` (namespace URI, local name)
/// accepts, in document order: `indexed`'s answer when that document is the checked one (the
/// run's name index), else a walk of it.
///
/// # Safety
/// `ctxt` must be the live parser context of a call, whose context's userData is the running
/// `State`.
unsafe fn push_elements(
    ctxt: b::xmlXPathParserContextPtr,
    indexed: impl FnOnce(&super::run::DocIndex<'_>, b::xmlDocPtr) -> Option<Vec<b::xmlNodePtr>>,
    wanted: impl Fn(&str, &str) -> bool,
) {
    // SAFETY: caller's contract; the nodes pushed are of the context node's document, alive
    // for the evaluation.
    unsafe {
        let doc = context_doc(ctxt);
        let nodes = indexed(state(ctxt).index, doc).unwrap_or_else(|| {
            crate::xml::ffi::element_walk(doc)
                .into_iter()
                .filter(|e| {
                    let (ns, local) = super::run::element_name(*e);
                    wanted(ns, local)
                })
                .collect()
        });
        b::valuePush(ctxt, ordered_nodeset(nodes));
    }
}

/// `banc:elements('q:name')`: `//q:name` from the context node, i.e. the elements of that name
/// in its document, in document order (see `rewrite::descendant_rewrite`).
unsafe fn f_elements(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State`; the argument is owned here and freed once.
    unsafe {
        let args = pop_args(ctxt, n);
        let qname = arg_string(args[0]);
        free_args(args);
        let Some((uri, name)) = expanded_name(ctxt, &qname) else {
            fail(ctxt, b::xmlXPathError_XPATH_UNDEF_PREFIX_ERROR);
            return;
        };
        push_elements(
            ctxt,
            |index, doc| index.named(doc, &uri, name).map(<[_]>::to_vec),
            |ns, local| ns == uri && local == name,
        );
    }
}

/// `banc:elements-local('l')`: `//*[local-name() = 'l']` from the context node, as
/// [`f_elements`].
unsafe fn f_elements_local(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    // SAFETY: as f_elements.
    unsafe {
        let args = pop_args(ctxt, n);
        let name = arg_string(args[0]);
        free_args(args);
        push_elements(
            ctxt,
            |index, doc| index.named_local(doc, &name),
            |_, local| local == name,
        );
    }
}

/// `banc:in(A, k)`: XPath 1.0 `A = C` where C is the plan's expression `k`, a node-set read
/// from documents only (see `rewrite::constant_memberships`); C's string values are hashed once
/// per plan instead of compared pair by pair at every evaluation.
unsafe fn f_in(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    // SAFETY: ctxt is the live parser context libxml2 passed to this call, whose context's
    // userData is the running `State`; arguments are owned here and freed once.
    unsafe {
        let args = pop_args(ctxt, n);
        let k = (*args[1]).floatval;
        let st = state(ctxt);
        let set = if k >= 0.0 && k.fract() == 0.0 {
            st.constant_set(k as usize)
        } else {
            Err(format!("banc:in : expression {k}"))
        };
        let Ok(set) = set else {
            free_args(args);
            fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR);
            return;
        };
        let a = args[0];
        let found = if is_nodeset(a) {
            arg_nodes(a)
                .into_iter()
                .any(|n| set.strings.contains(&node_string(n)))
        } else if (*a).type_ == b::xmlXPathObjectType_XPATH_NUMBER {
            let want = (*a).floatval;
            set.strings.iter().any(|s| xpath_number(s) == want)
        } else if (*a).type_ == b::xmlXPathObjectType_XPATH_BOOLEAN {
            // boolean(C) is whether C has a node.
            ((*a).boolval != 0) != set.strings.is_empty()
        } else {
            set.strings.contains(&arg_string(a))
        };
        free_args(args);
        push_bool(ctxt, found);
    }
}

/// XPath 1.0 `number()` of a string.
fn xpath_number(s: &str) -> f64 {
    let c = CString::new(s).unwrap_or_default();
    // SAFETY: a NUL-terminated string, only read.
    unsafe { b::xmlXPathCastStringToNumber(c.as_ptr() as *const u8) }
}

type XFn = unsafe extern "C" fn(b::xmlXPathParserContextPtr, c_int);

/// Functions under their plain names (XSLT/XPath 2.0 names the rules call directly) and under
/// the banc namespace (targets of the XPath 2.0 translation).
pub(super) const PLAIN: &[(&str, XFn)] = &[
    ("document", entry::f_document),
    ("doc", entry::f_document),
    ("doc-available", entry::f_doc_available),
    ("exists", entry::f_exists),
    ("empty", entry::f_empty),
    ("replace", entry::f_replace),
    ("matches", entry::f_matches),
];

pub(super) const BANC: &[(&str, XFn)] = &[
    ("keyed", entry::f_keyed),
    ("has-key", entry::f_has_key),
    ("elements", entry::f_elements),
    ("elements-local", entry::f_elements_local),
    ("in", entry::f_in),
    ("doc", entry::f_document),
    ("doc-available", entry::f_doc_available),
    ("exists", entry::f_exists),
    ("empty", entry::f_empty),
    ("seq", entry::f_seq),
    ("matches", entry::f_matches),
    ("replace", entry::f_replace),
    ("tokenize", entry::f_tokenize),
    ("string-join", entry::f_string_join),
    ("distinct-values", entry::f_distinct_values),
    ("resolve-qname", entry::f_resolve_qname),
    ("castable", entry::f_castable),
    ("if", entry::f_if),
    ("lower-case", entry::f_lower),
    ("upper-case", entry::f_upper),
    ("ends-with", entry::f_ends_with),
    ("current-date", entry::f_current_date),
    ("current-dateTime", entry::f_current_datetime),
    ("number", entry::f_number),
    ("except", entry::f_except),
    ("intersect", entry::f_intersect),
    ("iri-to-uri", entry::f_iri_to_uri),
    ("compare-dateTime", entry::f_compare_datetime),
    ("map", entry::f_map),
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
