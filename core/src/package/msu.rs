//! MSU containers: a CAB of CABs (LCU, SSU, DesktopDeployment, WSUSSCAN) plus `*-pkgProperties.txt`.
//!
//! Two generations exist (domain.md §2): the package payload as `Windows11.0-KB…-x64.cab` + `.psf`,
//! and since late 2024 as `Windows11.0-KB…-x64.wim` + `.psf`. This module classifies members and
//! reads the properties file; opening inner CABs is done by [`crate::package::open_package`]. The
//! 24H2+ `.msu` is itself a WIM (`MSWIM`) holding the same kinds of members
//! ([`crate::package::msu_wim`]); the same classes apply to its members.

use std::collections::BTreeMap;

use crate::cbs::PackageKind;
use crate::{Error, Result};

/// Largest `pkgProperties.txt` accepted.
pub const MAX_PROPERTIES: u64 = 1 << 20;

/// What a member of an MSU is, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MsuMember {
    /// The main package CAB (`Windows…-KB…-arch.cab`).
    PackageCab,
    /// The main package as a WIM (24H2+ format).
    PackageWim,
    /// The express payload (`.psf`).
    Psf,
    /// Servicing stack CAB (`SSU-<build>-<arch>.cab`).
    SsuCab,
    /// `WSUSSCAN.cab` (applicability metadata).
    WsusScan,
    /// `DesktopDeployment*.cab`.
    DesktopDeployment,
    /// `*-pkgProperties.txt`.
    Properties,
    /// `*.AggregatedMetadata.cab` (applicability metadata of a WIM-format MSU).
    AggregatedMetadata,
    /// Another CAB (e.g. `*-NDP481.cab`).
    OtherCab,
    /// Anything else.
    Other,
}

/// Classify an MSU member name (case-insensitive).
pub fn classify(name: &str) -> MsuMember {
    let n = name.to_ascii_lowercase();
    if n.ends_with("pkgproperties.txt") {
        MsuMember::Properties
    } else if n.ends_with(".psf") {
        MsuMember::Psf
    } else if n == "wsusscan.cab" {
        MsuMember::WsusScan
    } else if n.starts_with("desktopdeployment") && n.ends_with(".cab") {
        MsuMember::DesktopDeployment
    } else if n.ends_with(".aggregatedmetadata.cab") {
        MsuMember::AggregatedMetadata
    } else if n.starts_with("ssu-") && n.ends_with(".cab") {
        MsuMember::SsuCab
    } else if n.starts_with("windows") && n.contains("-kb") && n.ends_with(".cab") {
        MsuMember::PackageCab
    } else if n.starts_with("windows") && n.contains("-kb") && n.ends_with(".wim") {
        MsuMember::PackageWim
    } else if n.ends_with(".cab") {
        MsuMember::OtherCab
    } else {
        MsuMember::Other
    }
}

/// The kind an inner member is expected to be, before its `update.mum` is read.
pub fn expected_kind(m: MsuMember) -> PackageKind {
    match m {
        MsuMember::SsuCab => PackageKind::Ssu,
        MsuMember::PackageCab | MsuMember::PackageWim => PackageKind::Lcu,
        _ => PackageKind::Other,
    }
}

/// True when a member list looks like an MSU (an inner package CAB/WIM, a PSF, or a properties file
/// next to other CABs).
pub fn looks_like_msu<'a>(names: impl Iterator<Item = &'a str>) -> bool {
    let kinds: Vec<MsuMember> = names.map(classify).collect();
    let has = |k| kinds.contains(&k);
    has(MsuMember::Properties)
        || has(MsuMember::WsusScan)
        || ((has(MsuMember::PackageCab) || has(MsuMember::PackageWim)) && has(MsuMember::Psf))
        || has(MsuMember::SsuCab)
}

/// Parse `pkgProperties.txt`: UTF-16LE (BOM optional; UTF-8 accepted too), `Key="Value"` per line.
pub fn parse_properties(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16le(rest)?
    } else if bytes.len() >= 2 && bytes[1] == 0 {
        utf16le(bytes)?
    } else {
        let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
        String::from_utf8(b.to_vec())
            .map_err(|_| Error::malformed("pkgProperties", 0, "neither UTF-16LE nor UTF-8"))?
    };
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::malformed(
                "pkgProperties",
                i as u64,
                format!("line {} has no '=': {line:?}", i + 1),
            ));
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        out.insert(k.trim().to_string(), v.to_string());
    }
    Ok(out)
}

fn utf16le(b: &[u8]) -> Result<String> {
    if b.len() % 2 != 0 {
        return Err(Error::malformed("pkgProperties", 0, "odd length UTF-16"));
    }
    char::decode_utf16(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
        .collect::<std::result::Result<String, _>>()
        .map_err(|_| Error::malformed("pkgProperties", 0, "invalid UTF-16"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_and_classes() {
        let mut b = vec![0xFF, 0xFE];
        for u in
            "ApplicabilityInfo=\"Windows 11.0 Client SKUs\"\r\nKB Article Number=\"5079473\"\r\n"
                .encode_utf16()
        {
            b.extend_from_slice(&u.to_le_bytes());
        }
        let p = parse_properties(&b).unwrap();
        assert_eq!(p["KB Article Number"], "5079473");
        assert_eq!(classify("SSU-26100.8037-x64.cab"), MsuMember::SsuCab);
        assert_eq!(
            classify("Windows11.0-KB5079473-x64.AggregatedMetadata.cab"),
            MsuMember::AggregatedMetadata
        );
        assert_eq!(
            classify("DesktopDeployment_x86.cab"),
            MsuMember::DesktopDeployment
        );
        assert_eq!(classify("Windows11.0-KB5079473-x64.psf"), MsuMember::Psf);
        assert_eq!(
            classify("Windows11.0-KB5079473-x64.wim"),
            MsuMember::PackageWim
        );
        assert!(looks_like_msu(
            [
                "Windows11.0-KB5079473-x64.cab",
                "Windows11.0-KB5079473-x64.psf"
            ]
            .into_iter()
        ));
        assert!(!looks_like_msu(["update.mum", "x.manifest"].into_iter()));
    }
}
