//! A user's schematron (`--schematron FILE`): loading (includes, phases, lets, abstract
//! patterns), the rewrite and XPath 2 translation into a plan, and its run on a valid CR-BIO.
#![no_main]

use banc::schematron::engine::{Engine, Settings};
use banc::xml::{self, Input, Limits, Load, Loaded};
use libfuzzer_sys::fuzz_target;

const CDA: &[u8] = include_bytes!("../../fixtures/cr-bio/valid/tsh.xml");

thread_local! {
    static DOC: Box<Loaded> = {
        let mut out = Vec::new();
        match xml::load(Input { name: "tsh.xml", bytes: CDA }, &Limits::default(), &mut out) {
            Load::Ready(l) => l,
            _ => panic!("fixture does not load: {out:?}"),
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let root = banc_fuzz::scratch().join("kit");
    let _ = std::fs::create_dir_all(&root);
    let sch = root.join("fuzz.sch");
    std::fs::write(&sch, data).expect("write schematron");
    let _ = banc::schematron::load(&root, &sch);
    let engine = Engine::new(&root, Settings::default());
    DOC.with(|doc| {
        if let Ok((plan, out)) = engine.outcome(&sch, doc) {
            let svrl = banc::schematron::engine::svrl(&plan, &out, doc);
            banc_fuzz::assert_well_formed(svrl.as_bytes());
        }
    });
});
