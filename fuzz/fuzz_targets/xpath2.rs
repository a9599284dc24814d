//! The XPath 2 → XPath 1 translator of banc's schematron engine, on every entry point, with
//! `let` variables in scope. The input is an expression (UTF-8).
#![no_main]

use banc::schematron::xpath2::{self, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    let _ = xpath2::to_xpath1(expr);
    let _ = xpath2::pattern_to_xpath1(expr);
    let _ = xpath2::test_to_xpath1(expr);
    let _ = xpath2::value_of_to_xpath1(expr);
    let mut t = Scope::new();
    t.add_let("codes", "('2345-7', '2951-2')");
    t.add_let(
        "doc",
        "doc('../jeuxDeValeurs/JDV_HL7_ObservationInterpretation.xml')",
    );
    let _ = t.test_to_xpath1(expr);
    let _ = t.pattern_to_xpath1(expr);
});
