//! `banc.internal.*`: banc's own failures, reported on the input that met them. A panic while
//! judging one document, message or package becomes a finding on that input and the rest of the
//! batch, the server or the run goes on (issue: one hostile input must not cost the others).

use crate::finding::{Finding, Layer, Rule, Severity, quote};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

pub const PANIC: &Rule = &crate::rule! {
    id: "banc.internal.panic",
    layer: Layer::Banc,
    severity: Severity::Error,
    message: "Erreur interne de banc en jugeant cette entrée ; le reste du lot a été jugé.",
    hint: "A defect of banc, not of the input: report the input to banc's developers.",
    spec: "",
};

/// A check of banc's document model whose XPath does not compile.
pub const XPATH: &Rule = &crate::rule! {
    id: "banc.internal.xpath",
    layer: Layer::Banc,
    severity: Severity::Error,
    message: "Règle : expression XPath invalide (défaut de banc, merci de le signaler).",
    hint: "",
    spec: "banc",
};

pub const RULES: &[&Rule] = &[PANIC, XPATH];

thread_local! {
    /// Guards active on this thread: the hook records instead of printing while > 0.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the last panic under a guard said, and where in banc's code.
    static CAUGHT: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Chain a hook once: under a guard the panic is recorded for the finding (not printed),
/// elsewhere the previous hook runs as before.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
                return;
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panique sans message".into());
            let place = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            CAUGHT.with(|c| *c.borrow_mut() = Some((message, place)));
        }));
    });
}

/// Run `f`; a panic inside becomes the `banc.internal.panic` finding (its message and the place
/// in banc's code) instead of unwinding further.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, Box<Finding>> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map_err(|_| {
        let (message, place) = CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| ("panique".into(), String::new()));
        Box::new(PANIC.finding(format!(
            "Panique « {} » ({place}) : signalez cette entrée aux développeurs de banc.",
            quote(&message)
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_finding_with_its_place() {
        let f = guard(|| -> u32 { panic!("index hors limites") }).unwrap_err();
        assert_eq!(f.rule, "banc.internal.panic");
        assert!(f.message.contains("index hors limites"), "{}", f.message);
        assert!(f.message.contains("src/banc/internal.rs:"), "{}", f.message);
        assert_eq!(guard(|| 7).unwrap(), 7);
    }
}
