//! The whole pipeline with the ANS kit (`BANC_KIT`, else ../shared/ans-kit): XSD, the kit's
//! schematrons through banc's engine, value sets, banc's rules, every report format.
#![no_main]

use banc::kit::Kit;
use banc::pipeline::{Options, Validator};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let kit = Kit::open(&banc_fuzz::kit_root()).expect("the ANS kit (set BANC_KIT)");
        let v = Validator::new(Some(kit), Options::default()).expect("validator with the kit");
        // Compile the CR-BIO schematrons now: their first use is not a slow input.
        let _ = v.validate_bytes(
            "warm-up.xml",
            include_bytes!("../../fixtures/cr-bio/valid/tsh.xml"),
        );
        v
    })
}

fuzz_target!(
    // Built before the first input, so that setting up is not counted against it.
    init: {
        validator();
    },
    |data: &[u8]| {
    let v = validator();
    let report = v.validate_bytes("fuzz.xml", data);
    banc_fuzz::render_all(&v.run_report(vec![report]));
    }
);

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    banc_fuzz::mutate_xml(data, size, max_size, seed)
});
