//! A small owned XML tree for rule files (schematrons): elements with resolved namespaces,
//! attributes and mixed content. Rule files are read once per run, so simplicity wins here.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

#[derive(Debug, Clone)]
pub enum Content {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Content>,
    /// 1-based line of the start tag in its file.
    pub line: u32,
    /// Kit-relative file of an element brought in by an `include` (`None`: the file read), so
    /// that `banc rules --kit` points at the line where an assert is written.
    pub file: Option<std::sync::Arc<str>>,
}

impl Element {
    /// Mark this element and its descendants as written in `file`.
    pub fn set_file(&mut self, file: &std::sync::Arc<str>) {
        self.file = Some(file.clone());
        for c in &mut self.children {
            if let Content::Element(e) = c {
                e.set_file(file);
            }
        }
    }
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Content::Element(e) => Some(e),
            Content::Text(_) => None,
        })
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }
}

/// Parse a rule file. DOCTYPEs are refused as for documents.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let lines = crate::lines::Lines::new(text.as_bytes());
    let line_of = |pos: usize| lines.line(pos);
    loop {
        let pos = reader.buffer_position() as usize;
        let (res, ev) = reader
            .read_resolved_event()
            .map_err(|e| format!("XML mal formé (ligne {}) : {e}", line_of(pos)))?;
        let ns = match res {
            ResolveResult::Bound(n) => Some(n.as_ref().to_string()),
            _ => None,
        };
        match ev {
            Event::DocType(_) => return Err("DOCTYPE refusé dans un fichier de règles".into()),
            Event::Start(e) => stack.push(element(&e, ns, line_of(pos))?),
            Event::Empty(e) => {
                let el = element(&e, ns, line_of(pos))?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    close(&mut stack, &mut root, el);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.children
                        .push(Content::Text(t.xml10_content().into_owned()));
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.children
                        .push(Content::Text(t.into_inner().into_owned()));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let name: String = r.as_ref().to_string();
                    let text = resolve_ref(&name).ok_or_else(|| {
                        format!("entité inconnue &{name}; (ligne {})", line_of(pos))
                    })?;
                    top.children.push(Content::Text(text));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| "fichier de règles vide (aucun élément racine)".to_string())
}

fn element(
    e: &quick_xml::events::BytesStart<'_>,
    ns: Option<String>,
    line: u32,
) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("attribut invalide (ligne {line}) : {err}"))?;
        let key = a.key.as_ref().to_string();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("attribut invalide (ligne {line}) : {err}"))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        ns,
        name: e.local_name().as_ref().to_string(),
        attrs,
        children: Vec::new(),
        line,
        file: None,
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Content::Element(el)),
        None => *root = Some(el),
    }
}

fn resolve_ref(name: &str) -> Option<String> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix('x') {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some(c.to_string())
}
