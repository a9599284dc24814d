//! Renderings of a run (table, JSON, JUnit, HTML). The data they render is the
//! report model of `crate::finding::report`, re-exported here for readers of a run.

pub mod codequality;
pub mod diff;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;
pub mod sarif;
pub mod style;
pub mod table;

pub use crate::finding::report::*;
