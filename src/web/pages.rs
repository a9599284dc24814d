//! The pages of `banc serve` that are not the report: the upload form, the links of a result
//! (placed at the top of its report), errors. No script; one constant sheet, pinned by hash in
//! the Content-Security-Policy header; every text escaped by maud.

use super::store::Found;
use crate::report::html::visible;
use crate::report::style::SERVE as CSS;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The Content-Security-Policy of these pages: their sheet, forms posted here only.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src '{}'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        crate::report::html::csp_hash(CSS)
    )
}

/// The Content-Security-Policy of a result page: the report's sheet and script, by hash.
pub fn report_csp() -> String {
    let [style, script] = crate::report::html::report_hashes();
    format!(
        "default-src 'none'; style-src '{style}'; script-src '{script}'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// What the form page says about the service.
pub struct About<'a> {
    pub banc: &'a str,
    /// Kit path and fingerprint, if any.
    pub kit: Option<(String, String)>,
    pub retention: std::time::Duration,
    pub max_upload: usize,
    pub uploads_per_minute: u32,
    /// Where a client reaches the service (`--public-url`, else the listening address).
    pub base_url: &'a str,
}

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// A duration as people say it: `30 jours`, `12 heures`, `90 secondes`.
pub fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, one, many) = if s >= 86_400 && s.is_multiple_of(86_400) {
        (s / 86_400, "jour", "jours")
    } else if s >= 3_600 && s.is_multiple_of(3_600) {
        (s / 3_600, "heure", "heures")
    } else if s >= 60 && s.is_multiple_of(60) {
        (s / 60, "minute", "minutes")
    } else {
        (s, "seconde", "secondes")
    };
    format!("{n} {}", if n > 1 { many } else { one })
}

/// Bytes as `64 Mio`, `512 Kio`, `100 octets`.
pub fn size_text(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} Mio", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} Kio", n / 1024)
    } else {
        format!("{n} octets")
    }
}

/// `GET /`: the upload form.
pub fn form(about: &About) -> String {
    let curl = format!(
        "curl -sS -D - -F file=@document.xml {}/api/validations",
        about.base_url
    );
    page(
        "banc — valider des documents",
        html! {
            header {
                h1 { "banc — valider des documents CI-SIS" }
                p.aide {
                    "Les mêmes contrôles que " code { "banc validate" } " (banc " (about.banc) ") : "
                    @match &about.kit {
                        Some((path, fp)) => {
                            "kit " code { (visible(path)) } " (empreinte " code { (fp) } ")."
                        }
                        None => {
                            "sans kit, règles intégrées de banc seulement (le schéma CDA et les schématrons officiels ne sont pas vérifiés)."
                        }
                    }
                }
            }
            main {
                form.depot method="post" action="/validations" enctype="multipart/form-data" {
                    label for="file" { "Documents à valider" }
                    input #file type="file" name="file" multiple required
                        accept=".xml,.zip,.eml,application/xml,text/xml,application/zip,message/rfc822";
                    p.aide {
                        "CDA (" code { ".xml" } "), paquets IHE_XDM (" code { ".zip" } "), messages MSSanté ("
                        code { ".eml" } ") ; plusieurs fichiers à la fois, "
                        (size_text(about.max_upload)) " au plus en tout."
                    }
                    button type="submit" { "Valider" }
                }
                h2 { "Confidentialité" }
                ul.faits {
                    li { "Pas de compte : chaque résultat a un lien secret, seul moyen de le relire. Les résultats ne sont jamais listés ; gardez le lien, il ne peut pas être retrouvé." }
                    li { "Le serveur garde les fichiers déposés et les rapports " (duration_text(about.retention)) ", puis les efface. Il ne garde qu'une empreinte du secret, pas le lien." }
                    li { "Les pages de résultat n'envoient pas leur adresse aux sites liés (" code { "Referrer-Policy: no-referrer" } ") et ne chargent rien d'extérieur." }
                    @if about.uploads_per_minute > 0 {
                        li { (about.uploads_per_minute) " dépôts par minute au plus par adresse." }
                    }
                }
                h2 { "API" }
                p {
                    code { "POST /api/validations" } " (champ " code { "file" } ", répétable, ou le fichier en corps brut avec "
                    code { "?name=document.xml" } ") répond " code { "201 Created" } ", le lien dans "
                    code { "Location" } " et le JSON " code { "banc.validate/1" } " de " code { "banc validate --format json" } ". "
                    "Description OpenAPI : " a href="/api/openapi.json" { code { "/api/openapi.json" } } "."
                }
                pre { code { (curl) } }
            }
        },
    )
}

/// The links of a result, placed at the top of its report page.
pub fn banner(found: &Found, secret: &str, base_url: &str) -> Markup {
    let base = format!("/v/{}/{}", found.id, secret);
    let expires = crate::clock::Utc::from_unix(
        (found.meta.expires_ms / 1000) as i64,
        (found.meta.expires_ms % 1000) as u32,
    );
    html! {
        nav.liens aria-label="Lien et téléchargements" {
            p {
                strong { "Lien de ce résultat" } " (secret : qui l'a peut le lire ; il ne peut pas être retrouvé) : "
                a href=(base) { code { (base_url) (base) } }
            }
            p.muted { "Conservé jusqu'au " (expires.rfc3339()) ", puis effacé." }
            ul {
                li { a href={ (base) "/report.json" } download { "JSON (banc.validate/1)" } }
                @if found.meta.junit {
                    li { a href={ (base) "/report.xml" } download { "JUnit" } }
                }
                li { a href={ (base) "/report.html" } download { "HTML" } }
                @for (i, name) in found.meta.svrl.iter().enumerate() {
                    li { a href={ (base) "/svrl/" (i) } download { "SVRL " code { (visible(name)) } } }
                }
                @for (i, name) in found.meta.files.iter().enumerate() {
                    li { a href={ (base) "/files/" (i) } download { "original " code { (visible(name)) } } }
                }
                li { a href="/" { "Nouvelle validation" } }
            }
        }
    }
}

/// An error page: what happened, and the way back.
pub fn error(title: &str, message: &str) -> String {
    page(
        &format!("banc — {title}"),
        html! {
            h1 { (title) }
            p { (message) }
            p { a href="/" { "Valider des documents" } }
        },
    )
}
