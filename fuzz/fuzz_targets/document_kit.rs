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
        Validator::new(Some(kit), Options::default()).expect("validator with the kit")
    })
}

fuzz_target!(|data: &[u8]| {
    let v = validator();
    let report = v.validate_bytes("fuzz.xml", data);
    banc_fuzz::render_all(&v.run_report(vec![report]));
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    banc_fuzz::mutate_xml(data, size, max_size, seed)
});
