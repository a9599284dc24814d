//! `banc validate --html FILE`, run like a user runs it: hostile documents must come out escaped,
//! the page must be self-contained, and a real browser must render it without a console error.
//!
//! The browser tests use `/usr/bin/chromium` when it exists; without it they are skipped with a
//! note, unless `BANC_REQUIRE_BROWSER=1` (CI), where a missing browser fails them.

mod common;

use common::browser::{TempDir, assert_script_ran, chromium, console_messages, run_chromium};
use std::path::Path;
use std::process::Command;

const TITLE: &str = "banc — rapport de validation";

/// A CR-BIO-looking document whose comment, CDATA text and attribute values carry markup, with
/// non-ASCII text; it lacks `<realmCode code="FR"/>` (and more), so banc reports errors on it,
/// some of them quoting the hostile attribute values.
const HOSTILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><!-- <script>alert(1)</script> "><img src=x onerror=alert(1)> é ü 中 -->
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.250.1.213.1.1.1.55" extension='"&gt;&lt;img src=x onerror=alert(1)&gt;'/>
  <id root="1.2.250.1.213.1.1.1.55.2024.6.1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="&lt;script&gt;alert(1)&lt;/script&gt; é ü 中"/>
  <title><![CDATA[<script>alert(1)</script> "><img src=x onerror=alert(1)> é ü 中]]></title>
  <effectiveTime value="&lt;script&gt;alert(1)&lt;/script&gt;"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
</ClinicalDocument>
"#;

/// File name with spaces, accents, CJK and markup: it is shown in the page too.
const HOSTILE_NAME: &str = "cr bio é ü 中 <i>x.xml";

/// `banc validate --html report.html <name>` in `dir` (document path given relative, as a user
/// would); returns the exit code and the page.
fn validate_to_html(dir: &Path, name: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_banc"))
        .current_dir(dir)
        .env_remove("BANC_KIT")
        .args(["validate", "--no-kit", "--html", "report.html", name])
        .output()
        .expect("run banc");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap_or_else(|e| {
        panic!(
            "no HTML report ({e}); banc stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), page)
}

fn hostile_report(tmp: &TempDir) -> String {
    std::fs::write(tmp.path().join(HOSTILE_NAME), HOSTILE).expect("write document");
    let (code, page) = validate_to_html(tmp.path(), HOSTILE_NAME);
    assert_eq!(code, Some(1), "error findings make exit code 1");
    page
}

/// Values of every `name="..."` attribute in the page (maud always double-quotes attributes, and
/// escapes `"` in values, so text that merely looks like an attribute never matches).
fn attribute_values<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    let pat = format!(" {name}=\"");
    page.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &page[i + pat.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn hostile_document_comes_out_escaped() {
    let tmp = TempDir::new("hostile");
    let page = hostile_report(&tmp);

    // Nothing from the document is live markup.
    assert!(
        !page.contains("<script>alert"),
        "unescaped script from the document"
    );
    assert!(
        !page.contains("<img src=x"),
        "unescaped img from the document"
    );
    assert!(!page.contains("<img"), "no images at all");
    assert!(
        !page.contains("<i>x.xml"),
        "unescaped markup from the file name"
    );
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );
    // ... it is there, escaped.
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        page.contains("cr bio é ü 中 &lt;i&gt;x.xml"),
        "file name, escaped, UTF-8 kept"
    );

    // The rule id, linkable, and the French messages (one quoting a hostile attribute value).
    assert!(page.contains("banc.header.realm-code"));
    assert!(page.contains(r##"id="d1-banc.header.realm-code-1""##));
    assert!(page.contains(r##"href="#d1-banc.header.realm-code-1""##));
    assert!(
        page.contains("L'élément realmCode doit être présent avec l'attribut code=&quot;FR&quot;.")
    );
    assert!(page.contains("(trouvé : « &lt;script&gt;alert(1)&lt;/script&gt; »)"));
    assert!(page.contains("Version « &quot;&gt;&lt;img src=x onerror=alert(1)&gt; » du modèle"));
    // English hint, spec, layer group title.
    assert!(page.contains("Add &lt;realmCode code=&quot;FR&quot;/&gt; as the first child"));
    assert!(page.contains("CI-SIS Volet Structuration minimale"));
    assert!(page.contains("Règles banc (modèle de document)"));

    // The source line excerpt: line 2, the element at column 1 marked, the rest escaped.
    assert!(page.contains("Extrait du document, ligne 2, colonne 1"));
    assert!(page.contains(">&lt;ClinicalDocument</mark>"));
    assert!(page.contains(
        " xmlns=&quot;urn:hl7-org:v3&quot;&gt;&lt;!-- &lt;script&gt;alert(1)&lt;/script&gt; \
         &quot;&gt;&lt;img src=x onerror=alert(1)&gt; é ü 中 --&gt;"
    ));

    // Self-contained: no network resource, anchors and data: only.
    for name in [
        "src",
        "href",
        "action",
        "srcset",
        "poster",
        "data",
        "formaction",
    ] {
        for v in attribute_values(&page, name) {
            assert!(
                v.starts_with('#') || v.starts_with("data:"),
                "{name}=\"{v}\" is not an in-page reference"
            );
        }
    }
    assert!(!page.contains("url("), "no url() in CSS");
    assert!(!page.contains("@import"));
    assert!(page.contains(r#"<html lang="fr">"#));
    assert!(page.contains("Content-Security-Policy"));
    assert!(page.contains("default-src 'none'"));
}

#[test]
fn long_lines_are_cut_around_the_column() {
    // A base64-like run and multibyte characters before the root element on its line, and a
    // 20 000-character line after it: the excerpt shows a window around the element.
    let before = "QUJD".repeat(1000);
    let blob = "QUJD".repeat(5000);
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- {before} é中ü --><ClinicalDocument xmlns=\"urn:hl7-org:v3\"><!-- {blob} -->\n<!-- {blob} -->\n</ClinicalDocument>\n"
    );
    let tmp = TempDir::new("long");
    std::fs::write(tmp.path().join("long line.xml"), doc).expect("write document");
    let (code, page) = validate_to_html(tmp.path(), "long line.xml");
    assert_eq!(code, Some(1));
    // Column in characters: `<!-- ` (5) + 4 000 + ` é中ü -->` (8), then the `<` at 4 014
    // (in bytes it would be 4 018).
    assert!(
        page.contains("ligne 2, colonne 4014"),
        "column counted in characters"
    );
    assert!(
        page.contains(" é中ü --&gt;<mark"),
        "multibyte text just before the mark kept whole"
    );
    assert!(
        page.contains(">&lt;ClinicalDocument</mark>"),
        "the element is marked"
    );
    assert!(page.contains("…"), "cut lines show an ellipsis");
    assert!(
        !page.contains(&"QUJD".repeat(60)),
        "no excerpt line longer than the window"
    );
}

#[test]
fn chromium_renders_the_report_without_console_errors() {
    let Some(browser) = chromium() else { return };
    let tmp = TempDir::new("browser");
    let _ = hostile_report(&tmp);
    let out = run_chromium(browser, &tmp.path().join("report.html"), &["--dump-dom"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}\n{stderr}",
        out.status
    );
    assert!(
        dom.contains(TITLE),
        "title missing from the rendered DOM:\n{dom}"
    );
    let console = console_messages(&stderr);
    assert!(
        console.is_empty(),
        "console messages from the page:\n{}",
        console.join("\n")
    );
    // Document content stayed text in the live DOM.
    assert!(!dom.contains("<img"), "an element was injected");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_script_ran(&dom);
}

/// Proves that [`console_messages`] catches a page error with this chromium: otherwise the test
/// above could pass because the log format changed, not because the page is clean.
#[test]
fn console_error_detector_catches_page_errors() {
    let Some(browser) = chromium() else { return };
    let tmp = TempDir::new("detector");
    let bad = tmp.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>t</title></head>\
         <body><p>x</p><script>undefinedFunction();</script></body></html>",
    )
    .expect("write page");
    let out = run_chromium(browser, &bad, &["--dump-dom"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = console_messages(&stderr);
    assert!(
        console.iter().any(|l| l.contains("undefinedFunction")),
        "the detector missed a deliberate error; chromium stderr:\n{stderr}"
    );
}
