//! Document loading (encoding, DTD refusal, limits, libxml2) and the pipeline without the kit
//! (banc's rules, terminology with the built-in value sets, header checks).
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};

use banc_fuzz::validator;

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
