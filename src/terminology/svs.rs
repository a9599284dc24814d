//! IHE SVS `RetrieveValueSetResponse` (and `RetrieveMultipleValueSetsResponse`) files: the form of
//! the kit's `jeuxDeValeurs/` and of the NOS value sets published as SVS.
//!
//! A streaming read (quick-xml): the kit's 523 files are read in parallel well under a second.
//! DOCTYPEs are refused, as for documents.

use super::{Concept, Format, ValueSet};
use quick_xml::events::{BytesStart, Event};

pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<ValueSet>, String> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| format!("fichier non UTF-8 : {e}"))?;
    if text.trim().is_empty() {
        return Err("fichier vide".into());
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut current: Option<(String, String, Option<String>, Vec<Concept>)> = None;
    let mut root_seen = false;
    loop {
        let ev = reader.read_event().map_err(|e| {
            let pos = reader.buffer_position() as usize;
            let line = crate::lines::Lines::new(text.as_bytes()).line(pos);
            format!("XML mal formé (ligne {line}) : {e}")
        })?;
        match ev {
            Event::DocType(_) => return Err("DOCTYPE refusé dans un jeu de valeurs".into()),
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                let name: &str = name.as_ref();
                if !root_seen {
                    root_seen = true;
                    if name != "RetrieveValueSetResponse"
                        && name != "RetrieveMultipleValueSetsResponse"
                        && name != "ValueSet"
                        && name != "DescribedValueSet"
                    {
                        return Err(format!(
                            "pas un jeu de valeurs IHE SVS (racine <{}>, attendu <RetrieveValueSetResponse>)",
                            name
                        ));
                    }
                }
                match name {
                    "ValueSet" | "DescribedValueSet" => {
                        let a = attrs(&e)?;
                        let id = get(&a, "id").unwrap_or_default();
                        if id.is_empty() {
                            return Err("ValueSet sans attribut id (OID)".into());
                        }
                        let name = get(&a, "displayName").unwrap_or_else(|| id.clone());
                        let version = get(&a, "version")
                            .filter(|v| !v.is_empty())
                            .or_else(|| get(&a, "revisionDate").filter(|v| !v.is_empty()))
                            .or_else(|| get(&a, "effectiveDate").filter(|v| !v.is_empty()));
                        current = Some((id, name, version, Vec::new()));
                    }
                    "Concept" => {
                        let a = attrs(&e)?;
                        if let (Some(cur), Some(code)) = (current.as_mut(), get(&a, "code")) {
                            cur.3.push(Concept {
                                code,
                                system: get(&a, "codeSystem").unwrap_or_default(),
                                display: get(&a, "displayName").unwrap_or_default(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => {
                let n = e.local_name();
                let n: &str = n.as_ref();
                if matches!(n, "ValueSet" | "DescribedValueSet")
                    && let Some((id, name, version, concepts)) = current.take()
                {
                    out.push(ValueSet::new(
                        id,
                        name,
                        version,
                        Format::Svs,
                        source.to_string(),
                        concepts,
                    ));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if out.is_empty() {
        return Err("aucun ValueSet dans ce fichier".into());
    }
    Ok(out)
}

fn attrs(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("attribut invalide : {err}"))?;
        let key: String = a.key.local_name().as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("attribut invalide : {err}"))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

fn get(a: &[(String, String)], k: &str) -> Option<String> {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_concepts_and_refuses_doctype_and_other_roots() {
        let ok = br#"<?xml version="1.0"?><RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.3" displayName="JDV_X" version="2"><ConceptList><Concept code="A&amp;B" codeSystem="9.9" displayName="Un &lt;deux&gt;"/><Concept code="C" codeSystem="9.9" displayName="Trois"/></ConceptList></ValueSet></RetrieveValueSetResponse>"#;
        let sets = parse(ok, "t").unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].version.as_deref(), Some("2"));
        assert_eq!(sets[0].get("9.9", "A&B").unwrap().display, "Un <deux>");
        assert!(sets[0].get("9.8", "C").is_none());
        let dtd = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><RetrieveValueSetResponse/>"#;
        assert!(parse(dtd, "t").unwrap_err().contains("DOCTYPE"));
        assert!(parse(b"<html/>", "t").unwrap_err().contains("SVS"));
        assert!(parse(b"<RetrieveValueSetResponse><ValueSet id='1'>", "t").is_err());
    }
}
