//! Package records: `Windows\servicing\Packages\<identity>.mum` (and `.cat`), named
//! `name~publickeytoken~arch~language~version` from the package's `update.mum`, as Windows names
//! them. Servicing writes them (`service::records`); `wim::servicing` reads them back to say which
//! Safe OS DU, servicing stack and cumulative update an image has.

use super::xml::{decode_xml_text, parse_xml};
use super::{PackageKind, Version4};
use crate::{Error, Result};

/// Folder of the package records, relative to the image root (image paths accept `\` and `/`).
pub const PACKAGES_DIR: &str = "Windows\\servicing\\Packages";

/// Largest `.mum` we are willing to parse (real ones are a few KiB to a few hundred KiB).
pub const MAX_MUM_BYTES: usize = 4 << 20;

/// The identity of one CBS package, as encoded in its record file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// Package name, e.g. `Package_for_SafeOSDU`.
    pub name: String,
    /// Public key token (16 lowercase hex digits), e.g. `31bf3856ad364e35`.
    pub public_key_token: String,
    /// Processor architecture, e.g. `amd64`, `arm64`, `wow64`, `x86`.
    pub arch: String,
    /// Language, empty for neutral packages.
    pub language: String,
    /// Package version, e.g. `26100.8037.1.0`.
    pub version: Version4,
    /// What kind of package this is.
    pub kind: PackageKind,
}

const STRUCT: &str = "CBS package record name";

/// Parse `name~publickeytoken~arch~language~version[.mum]`.
///
/// Errors name the problem; the offset is the byte position in the name where it was found.
pub fn parse_record_name(file_name: &str) -> Result<PackageRecord> {
    let stem = strip_suffix_ci(file_name, ".mum").unwrap_or(file_name);
    let fields: Vec<&str> = stem.split('~').collect();
    if fields.len() != 5 {
        return Err(Error::malformed(
            STRUCT,
            0,
            format!(
                "'{file_name}' has {} '~'-separated fields, expected 5",
                fields.len()
            ),
        ));
    }
    let (name, token, arch, language, version) =
        (fields[0], fields[1], fields[2], fields[3], fields[4]);
    let offset_of = |field: usize| -> u64 {
        fields
            .iter()
            .take(field)
            .map(|f| f.len() as u64 + 1)
            .sum::<u64>()
    };
    if name.is_empty() {
        return Err(Error::malformed(STRUCT, 0, "empty package name"));
    }
    if token.len() != 16 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::malformed(
            STRUCT,
            offset_of(1),
            format!("public key token '{token}' is not 16 hex digits"),
        ));
    }
    if arch.is_empty() {
        return Err(Error::malformed(
            STRUCT,
            offset_of(2),
            "empty processor architecture",
        ));
    }
    let version = Version4::parse(version).ok_or_else(|| {
        Error::malformed(
            STRUCT,
            offset_of(4),
            format!("version '{version}' is not a.b.c.d"),
        )
    })?;
    Ok(PackageRecord {
        name: name.to_string(),
        public_key_token: token.to_ascii_lowercase(),
        arch: arch.to_string(),
        language: language.to_string(),
        version,
        kind: PackageKind::from_identity_name(name),
    })
}

pub(crate) fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// The tracked-kind package identities (`assemblyIdentity` elements) inside a `.mum`.
pub fn identities_in_mum(bytes: &[u8], file: &str) -> Result<Vec<PackageRecord>> {
    if bytes.len() > MAX_MUM_BYTES {
        return Err(Error::limit(
            bytes.len(),
            MAX_MUM_BYTES,
            format!(
                "{file}: {} bytes exceeds the {MAX_MUM_BYTES}-byte .mum limit",
                bytes.len()
            ),
        ));
    }
    let text = decode_xml_text(bytes, file)?;
    let doc = parse_xml(&text, file)?;
    let mut out = Vec::new();
    for n in doc
        .descendants()
        .filter(|n| n.has_tag_name("assemblyIdentity"))
    {
        let Some(name) = n.attribute("name") else {
            continue;
        };
        let kind = PackageKind::from_identity_name(name);
        if kind == PackageKind::Other {
            continue;
        }
        let Some(version) = n.attribute("version").and_then(Version4::parse) else {
            continue;
        };
        out.push(PackageRecord {
            name: name.to_string(),
            public_key_token: n
                .attribute("publicKeyToken")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            arch: n
                .attribute("processorArchitecture")
                .unwrap_or_default()
                .to_string(),
            language: match n.attribute("language") {
                Some("neutral") | None => String::new(),
                Some(l) => l.to_string(),
            },
            version,
            kind,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "31bf3856ad364e35";

    #[test]
    fn parses_record_names() {
        let r = parse_record_name(&format!(
            "Package_for_SafeOSDU~{T}~amd64~~26100.8037.1.0.mum"
        ))
        .unwrap();
        assert_eq!(r.name, "Package_for_SafeOSDU");
        assert_eq!(r.kind, PackageKind::SafeOsDu);
        assert_eq!(r.arch, "amd64");
        assert_eq!(r.language, "");
        assert_eq!(r.version, Version4([26100, 8037, 1, 0]));
        assert_eq!(r.version.to_string(), "26100.8037.1.0");
        let r = parse_record_name(&format!(
            "Microsoft-Windows-WinPE-LanguagePack-Package~{T}~amd64~en-US~10.0.26100.1.MUM"
        ))
        .unwrap();
        assert_eq!(r.language, "en-US");
        assert_eq!(r.kind, PackageKind::Other);
        assert_eq!(
            parse_record_name(&format!(
                "Package_for_ServicingStack_3624~{T}~arm64~~26100.3624.1.1"
            ))
            .unwrap()
            .kind,
            PackageKind::Ssu
        );
        assert_eq!(
            PackageKind::from_identity_name("package_for_rollupfix"),
            PackageKind::Lcu
        );
    }

    #[test]
    fn rejects_bad_record_names() {
        for bad in [
            "Package_for_SafeOSDU.mum",
            &format!("Package_for_SafeOSDU~{T}~amd64~26100.1.1.0.mum"),
            &format!("~{T}~amd64~~26100.1.1.0.mum"),
            "Package_for_SafeOSDU~31bf3856ad364e3~amd64~~26100.1.1.0.mum",
            "Package_for_SafeOSDU~31bf3856ad364e3z~amd64~~26100.1.1.0.mum",
            &format!("Package_for_SafeOSDU~{T}~~~26100.1.1.0.mum"),
            &format!("Package_for_SafeOSDU~{T}~amd64~~26100.1.1.mum"),
            &format!("Package_for_SafeOSDU~{T}~amd64~~26100.1.1.0.0.mum"),
            &format!("Package_for_SafeOSDU~{T}~amd64~~26100.99999999999.1.0.mum"),
            &format!("Package_for_SafeOSDU~{T}~amd64~~26100.-1.1.0.mum"),
            &format!("Package_for_SafeOSDU~{T}~amd64~~26100..1.0.mum"),
            "",
            "~~~~",
        ] {
            let e = parse_record_name(bad).unwrap_err();
            assert!(matches!(e, Error::Malformed { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_mum_contents_are_errors() {
        assert!(matches!(
            identities_in_mum(b"<assembly", "x.mum"),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            identities_in_mum(&[0xC3, 0x28], "x.mum"),
            Err(Error::Malformed { .. })
        ));
        let big = vec![b' '; MAX_MUM_BYTES + 1];
        assert!(matches!(
            identities_in_mum(&big, "x.mum"),
            Err(Error::Limit { value, limit, .. })
                if value == big.len() as u64 && limit == MAX_MUM_BYTES as u64
        ));
        // UTF-16LE with BOM is accepted.
        let mut u16 = vec![0xFF, 0xFE];
        for c in "<a><assemblyIdentity name=\"Package_for_RollupFix\" version=\"26100.1.2.3\"/></a>"
            .encode_utf16()
        {
            u16.extend_from_slice(&c.to_le_bytes());
        }
        let ids = identities_in_mum(&u16, "x.mum").unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].kind, PackageKind::Lcu);
    }
}
