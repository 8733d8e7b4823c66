//! Editing and serializing the WIM XML data.
//!
//! A rewritten WIM must keep everything Windows Setup and DISM read from an `<IMAGE>` element
//! (WINDOWS/VERSION/BRANCH, SERVICINGDATA, LANGUAGES, …), including elements we do not know, so the
//! source element is parsed into a small ordered tree ([`XmlElement`]) and only the fields a rewrite
//! changes are replaced. roxmltree is used for parsing; it has no writer, and the output form is
//! fixed by the format (UTF-16LE with a BOM, no declaration, no indentation), so the serializer here
//! is our own and tiny.

use crate::wim::meta_write::ImageStats;
use crate::{Error, Result};

/// Largest XML text accepted for one `<IMAGE>` element or a whole WIM XML document.
pub const MAX_XML_CHARS: usize = 64 << 20;

/// A node of an XML element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlNode {
    /// A child element.
    Element(XmlElement),
    /// Character data (unescaped).
    Text(String),
}

/// An XML element with its attributes and content, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlElement {
    /// Tag name.
    pub name: String,
    /// Attributes in document order (unescaped values).
    pub attrs: Vec<(String, String)>,
    /// Content in document order.
    pub children: Vec<XmlNode>,
}

impl XmlElement {
    /// An empty element.
    pub fn new(name: &str) -> Self {
        XmlElement {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Parse an XML document and return its root element (comments and processing instructions dropped).
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_XML_CHARS {
            return Err(Error::limit(
                text.len(),
                MAX_XML_CHARS,
                format!("WIM XML of {} bytes (limit {MAX_XML_CHARS})", text.len()),
            ));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| Error::malformed("WIM XML", 0, format!("not well-formed XML: {e}")))?;
        Ok(Self::from_node(doc.root_element()))
    }

    fn from_node(node: roxmltree::Node<'_, '_>) -> Self {
        // roxmltree nests no deeper than its own limit, so recursion depth is bounded.
        let mut el = XmlElement::new(node.tag_name().name());
        el.attrs = node
            .attributes()
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect();
        for c in node.children() {
            if c.is_element() {
                el.children.push(XmlNode::Element(Self::from_node(c)));
            } else if c.is_text() {
                el.children
                    .push(XmlNode::Text(c.text().unwrap_or_default().to_string()));
            }
        }
        el
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find_map(|c| match c {
            XmlNode::Element(e) if e.name == name => Some(e),
            _ => None,
        })
    }

    /// The first child element named `name`, mutable.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut XmlElement> {
        self.children.iter_mut().find_map(|c| match c {
            XmlNode::Element(e) if e.name == name => Some(e),
            _ => None,
        })
    }

    /// The first child named `name`, appended if missing.
    pub fn child_or_insert(&mut self, name: &str) -> &mut XmlElement {
        let idx = self
            .children
            .iter()
            .position(|c| matches!(c, XmlNode::Element(e) if e.name == name));
        let idx = match idx {
            Some(i) => i,
            None => {
                self.children.push(XmlNode::Element(XmlElement::new(name)));
                self.children.len() - 1
            }
        };
        match &mut self.children[idx] {
            XmlNode::Element(e) => e,
            XmlNode::Text(_) => unreachable!("index points at an element"),
        }
    }

    /// Concatenated text content of this element (direct text children only).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Replace the content with `text`.
    pub fn set_text(&mut self, text: &str) {
        self.children = vec![XmlNode::Text(text.to_string())];
    }

    /// Set an attribute (replacing an existing one of that name).
    pub fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(a) => a.1 = value.to_string(),
            None => self.attrs.push((name.to_string(), value.to_string())),
        }
    }

    /// The element at a `/`-separated path below this one (e.g. `WINDOWS/VERSION/BUILD`).
    pub fn get_path(&self, path: &str) -> Option<&XmlElement> {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = cur.child(part)?;
        }
        Some(cur)
    }

    /// Set the text at a `/`-separated path, creating missing elements at the end of their parent.
    pub fn set_path(&mut self, path: &str, value: &str) {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = cur.child_or_insert(part);
        }
        cur.set_text(value);
    }

    /// Set a FILETIME element in the `<HIGHPART>0x…</HIGHPART><LOWPART>0x…</LOWPART>` form.
    pub fn set_filetime(&mut self, name: &str, filetime: u64) {
        let el = self.child_or_insert(name);
        el.children.clear();
        let mut hi = XmlElement::new("HIGHPART");
        hi.set_text(&format!("0x{:08X}", filetime >> 32));
        let mut lo = XmlElement::new("LOWPART");
        lo.set_text(&format!("0x{:08X}", filetime & 0xFFFF_FFFF));
        el.children.push(XmlNode::Element(hi));
        el.children.push(XmlNode::Element(lo));
    }

    /// Serialize (no declaration, no added whitespace).
    pub fn write_to(&self, out: &mut String) {
        // An explicit stack keeps deep documents from recursing.
        enum Step<'a> {
            Open(&'a XmlElement),
            Close(&'a str),
            Text(&'a str),
        }
        let mut stack = vec![Step::Open(self)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Text(t) => escape_into(t, out),
                Step::Close(name) => {
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
                Step::Open(el) => {
                    out.push('<');
                    out.push_str(&el.name);
                    for (k, v) in &el.attrs {
                        out.push(' ');
                        out.push_str(k);
                        out.push_str("=\"");
                        escape_into(v, out);
                        out.push('"');
                    }
                    out.push('>');
                    stack.push(Step::Close(&el.name));
                    for c in el.children.iter().rev() {
                        stack.push(match c {
                            XmlNode::Element(e) => Step::Open(e),
                            XmlNode::Text(t) => Step::Text(t),
                        });
                    }
                }
            }
        }
    }

    /// Serialize to a new string.
    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }
}

fn escape_into(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// The `<IMAGE>` element to write for one image: either kept from the source WIM (unknown elements
/// preserved, counts rewritten) or a fresh one with a name. Counts, sizes and the INDEX attribute
/// are always filled in by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageXml {
    element: XmlElement,
}

impl ImageXml {
    /// A fresh `<IMAGE>` with a NAME and an optional DESCRIPTION.
    pub fn new(name: &str, description: Option<&str>) -> Self {
        let mut element = XmlElement::new("IMAGE");
        element.set_path("NAME", name);
        if let Some(d) = description {
            element.set_path("DESCRIPTION", d);
        }
        ImageXml { element }
    }

    /// Keep a source `<IMAGE …>…</IMAGE>` element (its XML text, as from [`image_elements`]).
    pub fn from_source(image_xml: &str) -> Result<Self> {
        let element = XmlElement::parse(image_xml)?;
        if element.name != "IMAGE" {
            return Err(Error::malformed(
                "WIM XML",
                0,
                format!("expected an <IMAGE> element, found <{}>", element.name),
            ));
        }
        Ok(ImageXml { element })
    }

    /// Keep an already-parsed `<IMAGE>` element.
    pub fn from_element(element: XmlElement) -> Self {
        ImageXml { element }
    }

    /// Override the text at a path below `<IMAGE>`, e.g. `("WINDOWS/VERSION/SPBUILD", "8246")`.
    pub fn set(&mut self, path: &str, value: &str) -> &mut Self {
        self.element.set_path(path, value);
        self
    }

    /// Set LASTMODIFICATIONTIME (a FILETIME chosen by the caller; the writer never reads the clock).
    pub fn set_last_modification_time(&mut self, filetime: u64) -> &mut Self {
        self.element.set_filetime("LASTMODIFICATIONTIME", filetime);
        self
    }

    /// Set CREATIONTIME.
    pub fn set_creation_time(&mut self, filetime: u64) -> &mut Self {
        self.element.set_filetime("CREATIONTIME", filetime);
        self
    }

    /// The element as it stands.
    pub fn element(&self) -> &XmlElement {
        &self.element
    }

    /// Fill the counts computed from the image's tree and set INDEX.
    pub fn apply_stats(&mut self, index: usize, stats: &ImageStats) {
        self.element.set_attr("INDEX", &index.to_string());
        self.element
            .set_path("DIRCOUNT", &stats.dir_count.to_string());
        self.element
            .set_path("FILECOUNT", &stats.file_count.to_string());
        self.element
            .set_path("TOTALBYTES", &stats.total_bytes.to_string());
        self.element
            .set_path("HARDLINKBYTES", &stats.hard_link_bytes.to_string());
    }
}

/// Each `<IMAGE>` element of a WIM XML document, serialized, ordered by their INDEX attribute
/// (document order where INDEX is missing or not a number).
pub fn image_elements(wim_xml: &str) -> Result<Vec<String>> {
    let root = XmlElement::parse(wim_xml)?;
    if root.name != "WIM" {
        return Err(Error::malformed(
            "WIM XML",
            0,
            format!("root element is <{}>, expected <WIM>", root.name),
        ));
    }
    let mut imgs: Vec<(u64, usize, String)> = root
        .children
        .iter()
        .filter_map(|c| match c {
            XmlNode::Element(e) if e.name == "IMAGE" => Some(e),
            _ => None,
        })
        .enumerate()
        .map(|(pos, e)| {
            let idx = e
                .attrs
                .iter()
                .find(|(k, _)| k == "INDEX")
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            (idx, pos, e.to_xml())
        })
        .collect();
    imgs.sort_by_key(|&(idx, pos, _)| (idx, pos));
    Ok(imgs.into_iter().map(|(_, _, s)| s).collect())
}

/// Decode the XML resource bytes (UTF-16LE, BOM optional) into a string.
pub fn decode_xml_bytes(b: &[u8]) -> Result<String> {
    if b.len() % 2 != 0 {
        return Err(Error::malformed("WIM XML", 0, "odd length for UTF-16 text"));
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let units = units.strip_prefix(&[0xFEFF]).unwrap_or(&units);
    String::from_utf16(units)
        .map_err(|_| Error::malformed("WIM XML", 0, "invalid UTF-16 (unpaired surrogate)"))
}

/// The whole `<WIM>` document: TOTALBYTES (the file offset of the XML resource, as wimlib writes it)
/// then the images with INDEX 1..n, encoded as UTF-16LE with a BOM.
pub fn wim_xml_bytes(images: &[ImageXml], xml_offset: u64) -> Vec<u8> {
    let mut s = String::from("<WIM><TOTALBYTES>");
    s.push_str(&xml_offset.to_string());
    s.push_str("</TOTALBYTES>");
    for (i, img) in images.iter().enumerate() {
        let mut el = img.element.clone();
        el.set_attr("INDEX", &(i + 1).to_string());
        el.write_to(&mut s);
    }
    s.push_str("</WIM>");
    let mut out = Vec::with_capacity(2 + s.len() * 2);
    out.extend_from_slice(&[0xFF, 0xFE]);
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_keeps_unknown_elements_and_order() {
        let src = "<IMAGE INDEX=\"3\"><DIRCOUNT>1</DIRCOUNT><ZZZ a=\"x&amp;y\">k&lt;</ZZZ>\
                   <WINDOWS><VERSION><BUILD>26100</BUILD><SPBUILD>1</SPBUILD></VERSION></WINDOWS>\
                   <NAME>Microsoft Windows Recovery Environment (x64)</NAME></IMAGE>";
        let mut img = ImageXml::from_source(src).unwrap();
        img.set("WINDOWS/VERSION/SPBUILD", "8246");
        img.set_last_modification_time(0x01DD_7B2C_9924_859A);
        img.apply_stats(
            1,
            &ImageStats {
                dir_count: 7,
                file_count: 9,
                total_bytes: 100,
                hard_link_bytes: 5,
            },
        );
        let out = img.element().to_xml();
        assert_eq!(
            out,
            "<IMAGE INDEX=\"1\"><DIRCOUNT>7</DIRCOUNT><ZZZ a=\"x&amp;y\">k&lt;</ZZZ>\
             <WINDOWS><VERSION><BUILD>26100</BUILD><SPBUILD>8246</SPBUILD></VERSION></WINDOWS>\
             <NAME>Microsoft Windows Recovery Environment (x64)</NAME>\
             <LASTMODIFICATIONTIME><HIGHPART>0x01DD7B2C</HIGHPART><LOWPART>0x9924859A</LOWPART>\
             </LASTMODIFICATIONTIME><FILECOUNT>9</FILECOUNT><TOTALBYTES>100</TOTALBYTES>\
             <HARDLINKBYTES>5</HARDLINKBYTES></IMAGE>"
        );
        let bytes = wim_xml_bytes(&[img.clone()], 4096);
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let text = decode_xml_bytes(&bytes).unwrap();
        assert!(text.starts_with("<WIM><TOTALBYTES>4096</TOTALBYTES><IMAGE INDEX=\"1\">"));
        let els = image_elements(&text).unwrap();
        assert_eq!(els.len(), 1);
        assert_eq!(ImageXml::from_source(&els[0]).unwrap(), img);
    }

    #[test]
    fn image_elements_by_index_and_errors() {
        let x = "<WIM><IMAGE INDEX=\"2\"><NAME>b</NAME></IMAGE><IMAGE INDEX=\"1\"><NAME>a</NAME></IMAGE></WIM>";
        let v = image_elements(x).unwrap();
        assert!(v[0].contains(">a<") && v[1].contains(">b<"));
        assert!(image_elements("<WIM><IMAGE>").is_err());
        assert!(image_elements("<X/>").is_err());
        assert!(ImageXml::from_source("<WIM/>").is_err());
        assert!(decode_xml_bytes(&[0xFF]).is_err());
    }
}
