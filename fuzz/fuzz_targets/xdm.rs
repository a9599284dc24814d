//! An IHE_XDM.zip package: the zip reader (central directory, bombs, traversal), METADATA.XML,
//! the package checks and the documents inside, as `banc validate x.zip` judges it.
#![no_main]

use banc::xdm::Limits;
use libfuzzer_sys::fuzz_target;

use banc_fuzz::validator;

fuzz_target!(
    // Built before the first input, so that setting up is not counted against it.
    init: {
        validator();
    },
    |data: &[u8]| {
    let v = validator();
    let reports = banc::xdm::check("fuzz.zip", data, v, &Limits::default());
    let _ = banc::mail::package_headers(data);
    banc_fuzz::render_all(&v.run_report(reports));
    }
);
