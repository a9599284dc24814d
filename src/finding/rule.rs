//! The one way banc declares a rule: a [`Rule`] made by the [`rule!`](crate::rule) macro, which
//! records where it is written so that `banc rules` goes from an id to its code in one step.

use super::report::RuleRun;
use super::{Finding, Layer, Severity};

/// A rule banc can report: one declaration per id, in the module that owns the id's prefix.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub layer: Layer,
    /// Severity of its findings (a few rules vary it by context; this is the usual one).
    pub severity: Severity,
    /// French title: the text its findings start with, completed by their details.
    pub message: &'static str,
    /// English hint on the fix ("" when the findings carry their own or none).
    pub hint: &'static str,
    /// Where the requirement comes from ("" when banc itself is the source).
    pub spec: &'static str,
    /// Source file of the declaration (`src/…`), from `file!()`.
    pub file: &'static str,
    /// Line of the declaration, from `line!()`.
    pub line: u32,
}

/// Declare a [`Rule`]: the fields of the struct but `file` and `line`, which are those of the
/// macro call. Usable in `const` and `static` items (`pub const X: &Rule = &rule! {...};`).
#[macro_export]
macro_rules! rule {
    ($($field:ident : $value:expr),+ $(,)?) => {
        $crate::finding::Rule {
            $($field: $value,)+
            file: file!(),
            line: line!(),
        }
    };
}

impl Rule {
    /// A finding of this rule; `detail` (may be empty) follows the rule's message.
    pub fn finding(&self, detail: impl AsRef<str>) -> Finding {
        let detail = detail.as_ref();
        let message = if detail.is_empty() {
            self.message.to_string()
        } else {
            format!("{} {detail}", self.message)
        };
        Finding::new(self.id, self.severity, self.layer, message)
            .hint(self.hint)
            .spec(self.spec)
    }

    /// This rule as a rule that ran (a JUnit test case, with or without findings).
    pub fn ran(&self) -> RuleRun {
        RuleRun {
            rule: self.id.to_string(),
            layer: self.layer,
            title: self.message.to_string(),
        }
    }

    /// `src/…/file.rs:LINE` of the declaration.
    pub fn source(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}
