//! The CDA header reader used by `xdm pack`, `mail compose/send` and a received message's
//! subject check, with everything derived from it.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = banc::cda::header::read("fuzz.xml", data) {
        let _ = h.xds();
        let _ = h.ins_qualified();
        let _ = h.birth_date_fr();
        let _ = h.has_template("1.2.250.1.213.1.1.1.4");
        let _ = format!("{h:?}");
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    banc_fuzz::mutate_xml(data, size, max_size, seed)
});
