//! The back half of the schematron engine: a loaded [`Schema`] compiled into a [`Plan`], and the
//! plan run on a document.
//!
//! Why libxml2's XPath: the reference runs the rules as XSLT 2.0 (Saxon), but the volet, IHE and
//! "modèles" sets only use XPath 1.0 + `document()`, and libxml2 evaluates 1.0 natively, fast and
//! in-process on the tree banc already parsed. The XPath 2.0 of structuration minimale is
//! translated to 1.0 plus a few extension functions ([`super::xpath2`]); the alternative, a Rust
//! XPath 3.1 engine (xee-xpath 0.1.5), was measured 4× slower than warm Saxon, with no custom
//! functions and three wrong results on the kit (see the issue-3 note).
//!
//! Semantics reproduced from the ISO skeleton for XSLT 2.0 as the reference runs it:
//! - each pattern is a mode; within a pattern a node is fired by the *first* rule whose context
//!   matches it (rules get decreasing priorities); a context is a match pattern, i.e. the nodes
//!   selected by `//context` (absolute alternatives as written);
//! - lets are XSLT variables: schema, phase and pattern lets are global (context = the document
//!   node), rule lets are evaluated from the rule's node; all are lazy, so an unused failing let
//!   does not fail anything;
//! - `value-of` joins a sequence with spaces (XSLT 2.0), `name` is the node's qualified name;
//! - `document()`/`doc()` paths resolve from the folder of the `.sch` (the kit compiles the XSLT
//!   next to it), parsed once per engine and shared by its threads.
//!
//! The work is split by job: `plan` compiles, `run` runs, `functions` holds the C callbacks,
//! `docs` the documents the rules read, `rewrite` the index-friendly rewrites, `native` banc's
//! own evaluator for the plain XPath 1.0 it can decide before libxml2 is asked (all siblings of
//! this module). This module is the public face of all of them.

pub use super::docs::{Docs, Repair, artdecor_fallback};
pub use super::functions::registered_functions;
pub use super::plan::{BANC_NS, CheckPlan, PatternPlan, Plan, RulePlan, warm};
pub use super::run::{
    DocIndex, Fired, Hit, NativeComparison, Outcome, PatternRun, RunError, compare_native, run,
    run_until,
};
