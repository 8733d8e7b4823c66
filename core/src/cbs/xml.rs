//! The text of CBS XML documents (`update.mum`, component manifests): their encodings and the
//! parser limits suited to them.

use crate::{Error, Result};

/// Decode XML bytes to text: UTF-8 (BOM optional) or UTF-16LE/BE when a BOM says so.
pub fn decode_xml_text(bytes: &[u8], what: &str) -> Result<String> {
    let bad = |why: &str| Error::malformed("XML text", 0, format!("{what}: {why}"));
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| bad("invalid UTF-8"));
    }
    let utf16 = |rest: &[u8], le: bool| -> Result<String> {
        if rest.len() % 2 != 0 {
            return Err(bad("odd length UTF-16"));
        }
        let units = rest.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<std::result::Result<String, _>>()
            .map_err(|_| bad("invalid UTF-16"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| bad("invalid UTF-8 (and no BOM)"))
}

/// Parse an XML document with limits suited to manifests.
pub fn parse_xml<'a>(text: &'a str, what: &str) -> Result<roxmltree::Document<'a>> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 4_000_000,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| Error::malformed("XML", 0, format!("{what}: {e}")))
}
