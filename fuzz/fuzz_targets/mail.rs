//! A received message: MIME parsing, the message judge (headers, MSSanté conventions), the XDM
//! attachment and its documents, as `banc validate x.eml` and the mail server judge it.
#![no_main]

use banc::mail::Policy;
use libfuzzer_sys::fuzz_target;

use banc_fuzz::validator;

fuzz_target!(
    // Built before the first input, so that setting up is not counted against it.
    init: {
        validator();
    },
    |data: &[u8]| {
    let v = validator();
    let policy = Policy::default();
    let reports = banc::mail::analyse("fuzz.eml", data, v, &policy);
    let _ = banc::mail::message_id(data);
    let _ = banc::mail::disposition_notification_to(data);
    let _ = banc::mail::header_text(data, "Subject");
    banc_fuzz::render_all(&v.run_report(reports));
    }
);
