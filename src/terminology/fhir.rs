//! FHIR R4 JSON terminology resources: `ValueSet` (codes from `expansion.contains`, else from
//! `compose.include[].concept`), `CodeSystem` (nested `concept` hierarchy flattened) and `Bundle`s
//! of them — the form in which ANS publishes its NOS (nomenclatures des objets de santé) today.
//!
//! A `compose.include` that selects by filter or by whole code system cannot be enumerated
//! offline: such a value set is loaded with the codes it lists and reported.

use super::{Concept, Format, ValueSet, system_oid};
use serde_json::Value;

pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<ValueSet>, String> {
    let v: Value = serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| format!("JSON invalide : {e}"))?;
    let mut out = Vec::new();
    resource(&v, source, &mut out, 0)?;
    if out.is_empty() {
        return Err("aucune ressource ValueSet ou CodeSystem dans ce fichier".into());
    }
    Ok(out)
}

fn resource(v: &Value, source: &str, out: &mut Vec<ValueSet>, depth: usize) -> Result<(), String> {
    // Bundles of bundles are legal; bound them anyway.
    if depth > 4 {
        return Err("Bundle imbriqué trop profondément".into());
    }
    match v.get("resourceType").and_then(Value::as_str) {
        Some("ValueSet") => out.push(value_set(v, source)?),
        Some("CodeSystem") => out.push(code_system(v, source)?),
        Some("Bundle") => {
            for e in v
                .get("entry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = e.get("resource") {
                    resource(r, source, out, depth + 1)?;
                }
            }
        }
        Some(other) if depth == 0 => {
            return Err(format!(
                "ressource FHIR « {other} » : attendu ValueSet, CodeSystem ou Bundle"
            ));
        }
        None if depth == 0 => return Err("pas une ressource FHIR (resourceType absent)".into()),
        _ => {}
    }
    Ok(())
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|x| !x.is_empty())
}

/// The OID of a resource (identifier `urn:oid:`), else its canonical url, else its id.
fn ident(v: &Value) -> Option<String> {
    let oid = v
        .get("identifier")
        .and_then(|i| match i {
            Value::Array(a) => a
                .iter()
                .find_map(|x| s(x, "value").filter(|s| s.starts_with("urn:oid:"))),
            o => s(o, "value").filter(|s| s.starts_with("urn:oid:")),
        })
        .map(|o| o.trim_start_matches("urn:oid:").to_string());
    oid.or_else(|| s(v, "url")).or_else(|| s(v, "id"))
}

fn named(v: &Value, id: &str) -> String {
    s(v, "title")
        .or_else(|| s(v, "name"))
        .unwrap_or_else(|| id.to_string())
}

fn value_set(v: &Value, source: &str) -> Result<ValueSet, String> {
    let id = ident(v).ok_or("ValueSet sans identifier, url ni id")?;
    let mut concepts = Vec::new();
    if let Some(contains) = v.pointer("/expansion/contains").and_then(Value::as_array) {
        flatten(contains, "contains", None, &mut concepts, 0);
    } else {
        for inc in v
            .pointer("/compose/include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let system = s(inc, "system").map(|u| system_oid(&u)).unwrap_or_default();
            for c in inc
                .get("concept")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(code) = s(c, "code") {
                    concepts.push(Concept {
                        code,
                        system: system.clone(),
                        display: s(c, "display").unwrap_or_default(),
                    });
                }
            }
        }
    }
    let mut vs = ValueSet::new(
        id.clone(),
        named(v, &id),
        s(v, "version"),
        Format::FhirValueSet,
        source.to_string(),
        concepts,
    );
    vs.aliases.extend(s(v, "url"));
    vs.aliases.extend(s(v, "name"));
    Ok(vs)
}

/// Codes of a nested list (`expansion.contains` nests under `contains`, a CodeSystem's concepts
/// under `concept`); `system` is the code system of every item, or `None` when each item names
/// its own.
fn flatten(
    items: &[Value],
    child: &str,
    system: Option<&str>,
    out: &mut Vec<Concept>,
    depth: usize,
) {
    for c in items {
        if let Some(code) = s(c, "code") {
            out.push(Concept {
                code,
                system: match system {
                    Some(sys) => sys.to_string(),
                    None => s(c, "system").map(|u| system_oid(&u)).unwrap_or_default(),
                },
                display: s(c, "display").unwrap_or_default(),
            });
        }
        if depth < 32
            && let Some(sub) = c.get(child).and_then(Value::as_array)
        {
            flatten(sub, child, system, out, depth + 1);
        }
    }
}

fn code_system(v: &Value, source: &str) -> Result<ValueSet, String> {
    let id = ident(v).ok_or("CodeSystem sans identifier, url ni id")?;
    // Concepts are in the code system itself: its OID (or url) is their system.
    let system = system_oid(&s(v, "url").unwrap_or_else(|| id.clone()));
    let system = if system.contains(':') && !id.contains(':') {
        id.clone()
    } else {
        system
    };
    let mut concepts = Vec::new();
    if let Some(cs) = v.get("concept").and_then(Value::as_array) {
        flatten(cs, "concept", Some(&system), &mut concepts, 0);
    }
    let mut vs = ValueSet::new(
        id.clone(),
        named(v, &id),
        s(v, "version"),
        Format::FhirCodeSystem,
        source.to_string(),
        concepts,
    );
    vs.aliases.extend(s(v, "url"));
    vs.aliases.extend(s(v, "name"));
    Ok(vs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_set_compose_and_expansion_and_code_system_hierarchy() {
        let compose = br#"{"resourceType":"ValueSet","url":"https://x/vs","identifier":[{"value":"urn:oid:1.2.3"}],"version":"1.0","title":"Essai",
            "compose":{"include":[{"system":"http://loinc.org","concept":[{"code":"2951-2","display":"Sodium"}]}]}}"#;
        let v = &parse(compose, "t").unwrap()[0];
        assert_eq!(v.id, "1.2.3");
        assert!(v.get(super::super::LOINC, "2951-2").is_some());
        assert!(v.aliases.contains(&"https://x/vs".to_string()));

        let expansion = br#"{"resourceType":"ValueSet","url":"https://x/vs2","expansion":{"contains":[{"system":"http://loinc.org","code":"718-7","contains":[{"system":"http://loinc.org","code":"777-3"}]}]}}"#;
        let v = &parse(expansion, "t").unwrap()[0];
        assert_eq!(v.id, "https://x/vs2");
        assert_eq!(v.concepts.len(), 2);

        let cs = br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"CodeSystem","url":"https://x/cs","identifier":{"value":"urn:oid:1.2.9"},"concept":[{"code":"A","concept":[{"code":"A1"}]}]}}]}"#;
        let v = &parse(cs, "t").unwrap()[0];
        assert_eq!(v.id, "1.2.9");
        // A code system with an OID: CDA documents name it by that OID.
        assert!(v.get("1.2.9", "A1").is_some());
    }

    #[test]
    fn other_json_is_refused_with_a_reason() {
        assert!(parse(b"{}", "t").unwrap_err().contains("resourceType"));
        assert!(
            parse(br#"{"resourceType":"Patient"}"#, "t")
                .unwrap_err()
                .contains("Patient")
        );
        assert!(parse(b"{not json", "t").unwrap_err().contains("JSON"));
    }
}
