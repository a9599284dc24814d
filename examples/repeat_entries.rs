//! Write a CR-BIO grown to N result entries (see `banc::bench::repeat_entries`):
//! `cargo run --release --example repeat_entries -- FIXTURE N OUT`.

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fixture, n, out] = args.as_slice() else {
        return Err("usage: repeat_entries FIXTURE N OUT".into());
    };
    let doc = std::fs::read_to_string(fixture).map_err(|e| format!("{fixture}: {e}"))?;
    let n: usize = n.parse().map_err(|e| format!("N: {e}"))?;
    let grown = banc::bench::repeat_entries(&doc, n)?;
    std::fs::write(out, grown).map_err(|e| format!("{out}: {e}"))
}
