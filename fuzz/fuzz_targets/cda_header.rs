//! The CDA header reader and what banc builds from it: the XDS metadata of `xdm pack`, the
//! message of `mail compose/send` (subject, PDF copy). What banc packs or composes from any
//! readable document must itself be a package and a message banc can read back.
#![no_main]

use banc::mail::compose::{self, ComposeOptions};
use banc::xdm::{Limits, PackOptions};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = banc::cda::header::read("fuzz.xml", data) else {
        return;
    };
    let _ = h.patient.ins_qualified();
    let _ = h.patient.birth_date_fr();
    let _ = h.id.as_ref().map(|i| i.xds());
    let docs = vec![("fuzz.xml".to_string(), data.to_vec())];
    let opts = PackOptions {
        submission_time: Some("20261201120000".into()),
        allow_faults: true,
        ..PackOptions::default()
    };
    if let Ok(zip) = banc::xdm::pack(&docs, &opts) {
        let p = banc::xdm::inspect(&zip, &Limits::default());
        let _ = p;
    }
    let c = ComposeOptions {
        to: vec!["secretariat@hopital-nord.mssante.fr".into()],
        date: Some(1_796_000_000),
        message_id: Some("fuzz@labo-exemple.mssante.fr".into()),
        package: opts,
        ..ComposeOptions::default()
    };
    let _ = compose::pdf_from_cda(data);
    if let Ok(eml) = compose::compose(&docs, &c) {
        let _ = banc::mail::judge_message(&eml, &banc::mail::Policy::default());
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    banc_fuzz::mutate_xml(data, size, max_size, seed)
});
