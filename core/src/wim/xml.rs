//! The WIM XML data: decoding its UTF-16LE text and pulling per-image facts out of it.
//!
//! The XML is the only place a WIM records image names, editions, architecture and Windows version,
//! which the inspection report and the Dynamic Update matcher key on. Parsing uses `roxmltree`
//! (read-only DOM, no entity expansion beyond the predefined ones, no external fetches); the writer
//! edits the decoded text itself, so nothing here needs to round-trip.

use crate::cbs::Version4;
use crate::{Error, Result};
use serde::Serialize;

/// Largest XML resource accepted (real install.wim XML is a few hundred KiB).
pub const MAX_XML_BYTES: u64 = 64 << 20;

/// Processor architecture from `WINDOWS/ARCH` (PROCESSOR_ARCHITECTURE codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// 0: 32-bit x86.
    X86,
    /// 9: x64 / AMD64.
    X64,
    /// 5: 32-bit ARM.
    Arm,
    /// 12: ARM64.
    Arm64,
    /// 6: Itanium.
    Ia64,
}

impl Arch {
    /// From a PROCESSOR_ARCHITECTURE code; `None` for codes that never name a Windows image.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Arch::X86,
            5 => Arch::Arm,
            6 => Arch::Ia64,
            9 => Arch::X64,
            12 => Arch::Arm64,
            _ => return None,
        })
    }

    /// The PROCESSOR_ARCHITECTURE code.
    pub fn code(self) -> u32 {
        match self {
            Arch::X86 => 0,
            Arch::Arm => 5,
            Arch::Ia64 => 6,
            Arch::X64 => 9,
            Arch::Arm64 => 12,
        }
    }

    /// Lower-case name as serialized ("x86", "x64", "arm", "arm64", "ia64").
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::X64 => "x64",
            Arch::Arm => "arm",
            Arch::Arm64 => "arm64",
            Arch::Ia64 => "ia64",
        }
    }
}

/// What the XML says about one image. Every field is `None` when the element is absent or unparsable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// 1-based image index (the `INDEX` attribute).
    pub index: u32,
    /// `NAME`.
    pub name: Option<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// `DISPLAYNAME`.
    pub display_name: Option<String>,
    /// `WINDOWS/EDITIONID`, or `FLAGS` when there is no EDITIONID.
    pub edition: Option<String>,
    /// `FLAGS`.
    pub flags: Option<String>,
    /// `WINDOWS/ARCH`.
    pub arch: Option<Arch>,
    /// `WINDOWS/VERSION/MAJOR`.
    pub major: Option<u32>,
    /// `WINDOWS/VERSION/MINOR`.
    pub minor: Option<u32>,
    /// `WINDOWS/VERSION/BUILD`.
    pub build: Option<u32>,
    /// `WINDOWS/VERSION/SPBUILD`.
    pub spbuild: Option<u32>,
    /// `WINDOWS/VERSION/SPLEVEL`.
    pub splevel: Option<u32>,
    /// `WINDOWS/VERSION/BRANCH`, e.g. `ge_release`.
    pub branch: Option<String>,
    /// `WINDOWS/LANGUAGES/LANGUAGE` values in document order.
    pub languages: Vec<String>,
    /// `WINDOWS/LANGUAGES/DEFAULT`.
    pub default_language: Option<String>,
    /// `WINDOWS/INSTALLATIONTYPE` (Client, Server, WindowsPE...).
    pub installation_type: Option<String>,
    /// `WINDOWS/PRODUCTNAME`.
    pub product_name: Option<String>,
    /// `WINDOWS/PRODUCTTYPE` (WinNT, ServerNT).
    pub product_type: Option<String>,
    /// `DIRCOUNT`.
    pub dir_count: Option<u64>,
    /// `FILECOUNT`.
    pub file_count: Option<u64>,
    /// `TOTALBYTES`.
    pub total_bytes: Option<u64>,
    /// `HARDLINKBYTES`.
    pub hardlink_bytes: Option<u64>,
    /// `CREATIONTIME` as a FILETIME.
    pub creation_time: Option<u64>,
    /// `LASTMODIFICATIONTIME` as a FILETIME.
    pub last_modification_time: Option<u64>,
    /// `WIMBOOT` (true when non-zero).
    pub wimboot: Option<bool>,
}

impl ImageInfo {
    /// `MAJOR.MINOR.BUILD.SPBUILD` (SPBUILD 0 when absent), or `None` without major/minor/build.
    pub fn version_string(&self) -> Option<String> {
        Some(
            Version4([
                self.major?,
                self.minor?,
                self.build?,
                self.spbuild.unwrap_or(0),
            ])
            .to_string(),
        )
    }
}

/// Decode the raw XML resource: UTF-16LE, with or without the FF FE byte-order mark.
pub fn decode_utf16le(bytes: &[u8]) -> Result<String> {
    if bytes.len() % 2 != 0 {
        return Err(Error::malformed(
            "WIM XML data",
            0,
            format!("odd length {} for UTF-16 text", bytes.len()),
        ));
    }
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut out = String::with_capacity(bytes.len() / 2);
    for (i, r) in char::decode_utf16(units).enumerate() {
        match r {
            Ok('\u{feff}') if i == 0 => {}
            Ok(c) => out.push(c),
            Err(e) => {
                return Err(Error::malformed(
                    "WIM XML data",
                    (i as u64) * 2,
                    format!("unpaired UTF-16 surrogate {:#06x}", e.unpaired_surrogate()),
                ))
            }
        }
    }
    // Some writers end the text with NUL units; they are not XML.
    let trimmed = out.trim_end_matches('\0').len();
    out.truncate(trimmed);
    Ok(out)
}

/// Parse every `<IMAGE>` of the `<WIM>` document, sorted by index. Indexes must be unique.
pub fn parse_images(xml: &str) -> Result<Vec<ImageInfo>> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| Error::malformed("WIM XML data", 0, format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if !root.has_tag_name("WIM") {
        return Err(Error::malformed(
            "WIM XML data",
            0,
            format!(
                "root element is <{}>, expected <WIM>",
                root.tag_name().name()
            ),
        ));
    }
    let mut images = Vec::new();
    for (pos, img) in root
        .children()
        .filter(|n| n.has_tag_name("IMAGE"))
        .enumerate()
    {
        let index = match img.attribute("INDEX") {
            Some(s) => s.trim().parse::<u32>().map_err(|_| {
                Error::malformed(
                    "WIM XML data",
                    0,
                    format!("IMAGE #{} has INDEX=\"{s}\", not a number", pos + 1),
                )
            })?,
            // wimlib accepts a missing INDEX as "the next one".
            None => (pos + 1) as u32,
        };
        images.push(parse_image(img, index));
    }
    images.sort_by_key(|i| i.index);
    for w in images.windows(2) {
        if w[0].index == w[1].index {
            return Err(Error::malformed(
                "WIM XML data",
                0,
                format!("two IMAGE elements with INDEX={}", w[0].index),
            ));
        }
    }
    Ok(images)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn text_of(n: Option<roxmltree::Node>) -> Option<String> {
    let n = n?;
    let s: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    Some(s)
}

fn num_of<T: std::str::FromStr>(n: Option<roxmltree::Node>) -> Option<T> {
    text_of(n)?.trim().parse().ok()
}

fn hex_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u32::from_str_radix(digits, 16).ok()
}

fn filetime(n: Option<roxmltree::Node>) -> Option<u64> {
    let n = n?;
    let high = hex_u32(&text_of(child(n, "HIGHPART"))?)?;
    let low = hex_u32(&text_of(child(n, "LOWPART"))?)?;
    Some(((high as u64) << 32) | low as u64)
}

fn parse_image(img: roxmltree::Node, index: u32) -> ImageInfo {
    let win = child(img, "WINDOWS");
    let ver = win.and_then(|w| child(w, "VERSION"));
    let langs = win.and_then(|w| child(w, "LANGUAGES"));
    let wtext = |name: &str| win.and_then(|w| text_of(child(w, name)));
    let vnum = |name: &str| ver.and_then(|v| num_of::<u32>(child(v, name)));
    let flags = text_of(child(img, "FLAGS"));
    ImageInfo {
        index,
        name: text_of(child(img, "NAME")),
        description: text_of(child(img, "DESCRIPTION")),
        display_name: text_of(child(img, "DISPLAYNAME")),
        edition: wtext("EDITIONID").or_else(|| flags.clone()),
        flags,
        arch: win
            .and_then(|w| num_of::<u32>(child(w, "ARCH")))
            .and_then(Arch::from_code),
        major: vnum("MAJOR"),
        minor: vnum("MINOR"),
        build: vnum("BUILD"),
        spbuild: vnum("SPBUILD"),
        splevel: vnum("SPLEVEL"),
        branch: ver.and_then(|v| text_of(child(v, "BRANCH"))),
        languages: langs
            .map(|l| {
                l.children()
                    .filter(|c| c.has_tag_name("LANGUAGE"))
                    .filter_map(|c| text_of(Some(c)))
                    .map(|s| s.trim().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        default_language: langs.and_then(|l| text_of(child(l, "DEFAULT"))),
        installation_type: wtext("INSTALLATIONTYPE"),
        product_name: wtext("PRODUCTNAME"),
        product_type: wtext("PRODUCTTYPE"),
        dir_count: num_of(child(img, "DIRCOUNT")),
        file_count: num_of(child(img, "FILECOUNT")),
        total_bytes: num_of(child(img, "TOTALBYTES")),
        hardlink_bytes: num_of(child(img, "HARDLINKBYTES")),
        creation_time: filetime(child(img, "CREATIONTIME")),
        last_modification_time: filetime(child(img, "LASTMODIFICATIONTIME")),
        wimboot: num_of::<u32>(child(img, "WIMBOOT")).map(|v| v != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str, bom: bool) -> Vec<u8> {
        let mut v = Vec::new();
        if bom {
            v.extend_from_slice(&[0xFF, 0xFE]);
        }
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    const SAMPLE: &str = r#"<WIM><TOTALBYTES>1234</TOTALBYTES>
<IMAGE INDEX="2"><NAME>Second</NAME></IMAGE>
<IMAGE INDEX="1"><DIRCOUNT>5</DIRCOUNT><FILECOUNT>10</FILECOUNT><TOTALBYTES>13</TOTALBYTES>
<CREATIONTIME><HIGHPART>0x01D39857</HIGHPART><LOWPART>0x5A6B7C8D</LOWPART></CREATIONTIME>
<WINDOWS><ARCH>9</ARCH><EDITIONID>WindowsPE</EDITIONID><INSTALLATIONTYPE>WindowsPE</INSTALLATIONTYPE>
<LANGUAGES><LANGUAGE>en-US</LANGUAGE><LANGUAGE>de-DE</LANGUAGE><DEFAULT>en-US</DEFAULT></LANGUAGES>
<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>26100</BUILD><SPBUILD>1742</SPBUILD><SPLEVEL>0</SPLEVEL><BRANCH>ge_release</BRANCH></VERSION>
</WINDOWS><FLAGS>Pro</FLAGS><NAME>First &amp; best</NAME><WIMBOOT>0</WIMBOOT></IMAGE></WIM>"#;

    #[test]
    fn parses_fields() {
        let text = decode_utf16le(&utf16(SAMPLE, true)).unwrap();
        assert_eq!(text, SAMPLE);
        let imgs = parse_images(&text).unwrap();
        assert_eq!(imgs.len(), 2);
        let a = &imgs[0];
        assert_eq!(a.index, 1);
        assert_eq!(a.name.as_deref(), Some("First & best"));
        assert_eq!(a.arch, Some(Arch::X64));
        assert_eq!(a.edition.as_deref(), Some("WindowsPE"));
        assert_eq!(a.flags.as_deref(), Some("Pro"));
        assert_eq!(a.languages, vec!["en-US", "de-DE"]);
        assert_eq!(a.default_language.as_deref(), Some("en-US"));
        assert_eq!(a.version_string().as_deref(), Some("10.0.26100.1742"));
        assert_eq!(a.branch.as_deref(), Some("ge_release"));
        assert_eq!(a.creation_time, Some(0x01D3_9857_5A6B_7C8D));
        assert_eq!(a.dir_count, Some(5));
        assert_eq!(a.wimboot, Some(false));
        assert_eq!(imgs[1].name.as_deref(), Some("Second"));
        assert_eq!(imgs[1].version_string(), None);
        let json = serde_json::to_string(&a.arch).unwrap();
        assert_eq!(json, "\"x64\"");
    }

    #[test]
    fn rejects_bad_text() {
        assert!(decode_utf16le(&[0x41]).is_err());
        assert!(decode_utf16le(&[0x00, 0xD8, 0x41, 0x00]).is_err());
        assert_eq!(decode_utf16le(&utf16("<WIM/>", false)).unwrap(), "<WIM/>");
        assert!(parse_images("<WIM><IMAGE INDEX='1'></WIM>").is_err());
        assert!(parse_images("<NOTWIM/>").is_err());
        assert!(parse_images("<WIM><IMAGE INDEX='1'/><IMAGE INDEX='1'/></WIM>").is_err());
        assert!(parse_images("<WIM><IMAGE INDEX='x'/></WIM>").is_err());
    }
}
