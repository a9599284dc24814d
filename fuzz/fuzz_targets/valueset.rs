//! Value-set loaders: IHE SVS (the kit's jeuxDeValeurs), FHIR ValueSet/CodeSystem JSON, and the
//! "circuit de la biologie" as CSV and XLSX. The first byte picks the format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let _ = banc::terminology::svs::parse(body, "fuzz.xml");
        }
        1 => {
            let _ = banc::terminology::fhir::parse(body, "fuzz.json");
        }
        n => {
            let name = if n == 2 {
                "circuit.csv"
            } else {
                "circuit.xlsx"
            };
            let path = banc_fuzz::scratch().join(name);
            std::fs::write(&path, body).expect("write circuit");
            if let Ok(c) = banc::terminology::circuit::read(&path) {
                let _ = c.suggestions("glucose");
            }
        }
    }
});
