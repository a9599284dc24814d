//! banc — banc d'essai: conformance test harness for French health documents exchanged over
//! MSSanté (CI-SIS CDA R2, CR-BIO first).
//!
//! The pipeline is a library used by every door (command line, mail server, scenario runner):
//! `xml` (safe reading) → `xsd` → `banc` rules → findings → verdict → `report`.

#![deny(clippy::undocumented_unsafe_blocks)]
// The library judges hostile text: `&s[a..b]` panics off a char boundary; use `get`,
// `split_at_checked`, `split_once`, `strip_prefix` or bytes instead.
#![deny(clippy::string_slice)]

/// mimalloc for Rust's allocations too (libxml2's are set in `xml::ffi::init`): the per-document
/// work allocates many small, short-lived blocks on every thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod banc;
pub mod bench;
pub mod cache;
pub mod cda;
pub mod choice;
pub mod clock;
pub mod event;
pub mod files;
pub mod finding;
pub mod gate;
pub mod indicators;
pub mod input;
pub mod kit;
pub mod kits;
pub mod lines;
pub mod mail;
pub mod pipeline;
pub mod profile;
pub mod project;
pub mod report;
pub mod rules;
pub mod scenario;
pub mod schematron;
pub mod simulate;
pub mod terminology;
pub mod transport;
pub mod web;
pub mod xdm;
pub mod xml;
pub mod xmlw;
pub mod xsd;
