//! METADATA.XML alone (the XDS submission set and document entries) and its checks.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = banc::xdm::metadata::parse(data) {
        let mut out = Vec::new();
        let store = banc::terminology::Store::builtin();
        banc::xdm::checks::metadata(&md, &[], Some(&store), &mut out);
        for f in &out {
            let _ = f.message.len();
        }
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    banc_fuzz::mutate_xml(data, size, max_size, seed)
});
