//! Acknowledgements: MDN and DSN parsing and judging against an original message, and the MDN
//! banc writes in reply to a message. The input is `ack` or `ack \0\0\0\0 original`.
#![no_main]

use banc::mail::mdn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (raw, original) = match data.windows(4).position(|w| w == b"\0\0\0\0") {
        Some(i) => (&data[..i], Some(&data[i + 4..])),
        None => (data, None),
    };
    let (_kind, findings, _ran) = mdn::judge_ack(raw, original);
    for f in &findings {
        let _ = f.message.len();
    }
    let _ = mdn::parse_mdn(raw);
    let _ = mdn::parse_dsn(raw);
    if let Some(o) = original {
        let _ = mdn::make_mdn(o, "recepteur@hopital.mssante.fr", mdn::Outcome::Processed);
    }
});
