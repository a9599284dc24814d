//! What the fuzz targets share: a scratch folder for the doors that read files, a runtime for the
//! SMTP session, the kit's path, and a structure-aware mutator for CDA documents (plain byte
//! mutations rarely get past the XML and XSD layers to the schematrons and banc's rules).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A folder of this process for inputs the doors read from disk (RAM-backed when possible).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("banc-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// The ANS kit: `BANC_KIT`, else `../shared/ans-kit` beside the checkout.
pub fn kit_root() -> PathBuf {
    if let Ok(k) = std::env::var("BANC_KIT") {
        return PathBuf::from(k);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../../shared/ans-kit")
}

/// The pipeline without the kit, built once per process (documents, messages, packages).
pub fn validator() -> &'static banc::pipeline::Validator {
    static V: OnceLock<banc::pipeline::Validator> = OnceLock::new();
    V.get_or_init(|| {
        banc::pipeline::Validator::new(None, banc::pipeline::Options::default())
            .expect("validator without kit")
    })
}

/// A small deterministic generator for the mutator's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Spans of the elements of an XML text, with their parent (by index).
struct Tree {
    /// (start, end, parent) byte ranges of whole elements, start tag to end tag.
    elements: Vec<(usize, usize, Option<usize>)>,
    /// Byte ranges of attribute values (inside the quotes).
    values: Vec<(usize, usize)>,
}

fn scan(text: &[u8]) -> Option<Tree> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(text);
    reader.config_mut().check_end_names = false;
    let mut elements: Vec<(usize, usize, Option<usize>)> = Vec::new();
    let mut values = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event_into(&mut buf).ok()?;
        let after = reader.buffer_position() as usize;
        match ev {
            Event::Start(_) | Event::Empty(_) => {
                // Attribute values: quoted runs inside the tag.
                let tag = &text[before..after];
                let mut i = 0;
                while i < tag.len() {
                    if tag[i] == b'=' {
                        let mut j = i + 1;
                        while j < tag.len() && tag[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        if j < tag.len() && (tag[j] == b'"' || tag[j] == b'\'') {
                            let q = tag[j];
                            if let Some(k) = tag[j + 1..].iter().position(|&c| c == q) {
                                values.push((before + j + 1, before + j + 1 + k));
                                i = j + 1 + k;
                            }
                        }
                    }
                    i += 1;
                }
                let parent = stack.last().copied();
                elements.push((before, after, parent));
                if matches!(ev, Event::Start(_)) {
                    stack.push(elements.len() - 1);
                }
            }
            Event::End(_) => {
                let i = stack.pop()?;
                elements[i].1 = after;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Some(Tree { elements, values })
}

/// Values worth trying in a CDA attribute: empty, multi-byte, out-of-range dates, codes and OIDs
/// of the wrong shape, numbers at the edges, markup.
const VALUES: &[&[u8]] = &[
    b"",
    b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    b"20261301",
    b"2026",
    b"20260230120000+0100",
    b"99999999999999999999",
    b"-1",
    b"NaN",
    b"1e309",
    b"2345-7",
    b"2345-8",
    b"1.2.250.1.213.1.1.1",
    b"1.2.250.1.71.4.2.1",
    b"2.16.840.1.113883.6.1",
    b"urn:oid:",
    b"&amp;&lt;",
    b"&#0;",
    b"PQ",
    b"CD",
    b"mmol/L",
    b"{",
    b"'\"",
];

/// Mutate a CDA document at the level of its structure: change an attribute value, swap two
/// sibling elements, repeat or drop one; otherwise fall back to libFuzzer's byte mutations.
pub fn mutate_xml(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut rng = Rng(u64::from(seed) | 1 << 40);
    let choice = rng.below(5);
    if choice < 4
        && let Some(tree) = scan(&data[..size])
        && let Some(out) = structural(&data[..size], &tree, choice, &mut rng)
        && out.len() <= max_size
    {
        data[..out.len()].copy_from_slice(&out);
        return out.len();
    }
    libfuzzer_sys::fuzzer_mutate(data, size, max_size)
}

fn structural(text: &[u8], t: &Tree, choice: usize, rng: &mut Rng) -> Option<Vec<u8>> {
    let splice = |a: usize, b: usize, with: &[u8]| {
        let mut out = Vec::with_capacity(text.len() + with.len());
        out.extend_from_slice(&text[..a]);
        out.extend_from_slice(with);
        out.extend_from_slice(&text[b..]);
        out
    };
    match choice {
        0 => {
            let &(a, b) = t.values.get(rng.below(t.values.len()))?;
            let v = VALUES[rng.below(VALUES.len())];
            Some(splice(a, b, v))
        }
        1 => {
            // Two siblings: same parent, the first ending before the second starts.
            let i = rng.below(t.elements.len());
            let (a0, a1, p) = *t.elements.get(i)?;
            let later: Vec<_> = t.elements[i + 1..]
                .iter()
                .filter(|e| e.2 == p && e.0 >= a1)
                .collect();
            let &&(b0, b1, _) = later.get(rng.below(later.len()))?;
            let mut out = Vec::with_capacity(text.len());
            out.extend_from_slice(&text[..a0]);
            out.extend_from_slice(&text[b0..b1]);
            out.extend_from_slice(&text[a1..b0]);
            out.extend_from_slice(&text[a0..a1]);
            out.extend_from_slice(&text[b1..]);
            Some(out)
        }
        2 => {
            let (a, b, _) = *t.elements.get(rng.below(t.elements.len()))?;
            let times = 1 + rng.below(3);
            let mut copy = Vec::new();
            for _ in 0..times {
                copy.extend_from_slice(&text[a..b]);
            }
            Some(splice(b, b, &copy))
        }
        _ => {
            let (a, b, _) = *t.elements.get(rng.below(t.elements.len()))?;
            Some(splice(a, b, b""))
        }
    }
}

/// Render a report in every format; the JUnit file must stay well-formed XML whatever the input
/// put in the findings (control characters, `]]>`), and JSON must parse.
pub fn render_all(report: &banc::finding::report::RunReport) {
    let junit = banc::report::junit::render(report).expect("junit renders");
    assert_well_formed(&junit);
    let json = banc::report::json::render(report);
    serde_json_check(&json);
    let _ = banc::report::html::render(report);
    let _ = banc::report::table::render(report, 100);
}

/// Panics when `xml` is not well-formed (or holds characters XML forbids).
pub fn assert_well_formed(xml: &[u8]) {
    let text = std::str::from_utf8(xml).expect("output is UTF-8");
    if let Some(c) = text.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    }) {
        panic!("character U+{:04X} is not allowed in XML output", c as u32);
    }
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("output is not well-formed XML: {e}"),
        }
    }
}

fn serde_json_check(json: &str) {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(json) {
        panic!("JSON report does not parse: {e}");
    }
}
