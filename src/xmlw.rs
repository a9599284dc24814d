//! XML that banc writes (SVRL, METADATA.XML, INDEX.HTM): one way, quick-xml's writer.
//!
//! Attribute values go through quick-xml's [`escape`] (`&`, `<`, `>`, `'`, `"`), as text does:
//! line breaks in a value are written as they are, like the hand-written writers before, so a
//! reader normalises them as it did.

use quick_xml::Writer;
use quick_xml::escape::escape;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use std::borrow::Cow;

/// `s` with the characters XML 1.0 cannot hold, even as references (C0 controls but tab, line
/// feed and carriage return; U+FFFE, U+FFFF), replaced by U+FFFD: text that came from a
/// submitted document or a user's schematron never makes banc's XML ill-formed.
pub fn clean(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// An attribute `key="value"`, the value cleaned and escaped.
pub fn attr<'a>(key: &'a str, value: &'a str) -> Attribute<'a> {
    let value = match clean(value) {
        Cow::Borrowed(v) => escape(v),
        Cow::Owned(v) => Cow::Owned(escape(&v).into_owned()),
    };
    Attribute {
        key: QName(key),
        value,
    }
}

/// An XML writer into memory; `indent` spaces per level (0: no indentation).
pub struct Xml(Writer<Vec<u8>>);

impl Xml {
    /// A document started with `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn new(indent: usize) -> Xml {
        let mut w = if indent == 0 {
            Writer::new(Vec::new())
        } else {
            Writer::new_with_indent(Vec::new(), b' ', indent)
        };
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect("writing to memory");
        Xml(w)
    }

    fn event(&mut self, e: Event<'_>) -> &mut Xml {
        // Writing to a Vec cannot fail.
        self.0.write_event(e).expect("writing to memory");
        self
    }

    /// `<name attrs…>`.
    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Xml {
        let e = BytesStart::new(name).with_attributes(attrs.iter().map(|(k, v)| attr(k, v)));
        self.event(Event::Start(e))
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Xml {
        let e = BytesStart::new(name).with_attributes(attrs.iter().map(|(k, v)| attr(k, v)));
        self.event(Event::Empty(e))
    }

    /// `</name>`.
    pub fn end(&mut self, name: &str) -> &mut Xml {
        self.event(Event::End(BytesEnd::new(name)))
    }

    /// Text, cleaned and escaped.
    pub fn text(&mut self, text: &str) -> &mut Xml {
        let text = clean(text);
        self.event(Event::Text(BytesText::new(&text)))
    }

    /// `<name attrs…>text</name>` on one line.
    pub fn element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Xml {
        self.start(name, attrs).text(text).end(name)
    }

    /// `<!DOCTYPE content>`.
    pub fn doctype(&mut self, content: &str) -> &mut Xml {
        self.event(Event::DocType(BytesText::from_escaped(content)))
    }

    /// A line break, where an unindented document puts one between elements.
    pub fn newline(&mut self) -> &mut Xml {
        self.0.get_mut().push(b'\n');
        self
    }

    /// The document, ended by a line break.
    pub fn finish(self) -> String {
        let mut bytes = self.0.into_inner();
        bytes.push(b'\n');
        // Only `&str` went in.
        String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
    }
}
