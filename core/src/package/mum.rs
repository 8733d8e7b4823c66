//! `update.mum`: the package manifest at the root of a CBS package CAB.
//!
//! It names the package (`Package_for_SafeOSDU`, `Package_for_RollupFix`, ...), its KB, release type,
//! the parent packages it applies to (applicability), the components/sub-packages it updates, and
//! for LCUs a `customInformation PackageFormat="PSFX"` flag (domain.md §3).

use crate::cbs::xml::{decode_xml_text, parse_xml};
use crate::package::manifest::AssemblyIdentity;
use crate::{Error, Result};

/// What an `<update>` element of the package installs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpdateItem {
    /// A component (`<update><component><assemblyIdentity/>`).
    Component(AssemblyIdentity),
    /// A sub-package (`<update><package><assemblyIdentity/>`).
    Package(AssemblyIdentity),
}

/// The parsed package manifest.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PackageManifest {
    /// The package identity.
    pub identity: AssemblyIdentity,
    /// `<package identifier>`, e.g. `KB5079471`.
    pub kb: Option<String>,
    /// `releaseType` (Update, Security Update, ...).
    pub release_type: Option<String>,
    /// `restart` (possible, required, never).
    pub restart: Option<String>,
    /// Parent packages (applicability: one of them at ≥ that version must be present).
    pub parents: Vec<AssemblyIdentity>,
    /// Components and sub-packages updated.
    pub updates: Vec<UpdateItem>,
    /// `customInformation PackageFormat="PSFX"`.
    pub psfx: bool,
    /// The `customInformation` attributes that describe the package format, when present.
    pub format: Option<PackageFormat>,
    /// `<assembly description>`.
    pub description: Option<String>,
}

/// `<customInformation PackageFormat=… PSFXVersion=… PSFXDeltaFormat=…>` of `update.mum`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageFormat {
    /// `PackageFormat` (`PSFX`).
    pub package_format: Option<String>,
    /// `PSFXVersion` (`2`, `3`).
    pub psfx_version: Option<String>,
    /// `PSFXDeltaFormat` (`ForwardOnly`, ...).
    pub psfx_delta_format: Option<String>,
}

/// Most `<update>`/`<parent>` entries accepted.
const MAX_ITEMS: usize = 200_000;

/// Parse `update.mum` bytes.
pub fn parse_mum(bytes: &[u8]) -> Result<PackageManifest> {
    let text = decode_xml_text(bytes, "update.mum")?;
    let doc = parse_xml(&text, "update.mum")?;
    let root = doc.root_element();
    if root.tag_name().name() != "assembly" {
        return Err(Error::malformed(
            "update.mum",
            0,
            format!(
                "root element is <{}>, not <assembly>",
                root.tag_name().name()
            ),
        ));
    }
    let identity = root
        .children()
        .find(|n| n.tag_name().name() == "assemblyIdentity")
        .map(AssemblyIdentity::from_node)
        .ok_or_else(|| Error::malformed("update.mum", 0, "no <assemblyIdentity>"))?;
    let mut m = PackageManifest {
        identity,
        description: root.attribute("description").map(str::to_string),
        ..Default::default()
    };
    let Some(pkg) = root.children().find(|n| n.tag_name().name() == "package") else {
        return Err(Error::malformed("update.mum", 0, "no <package> element"));
    };
    m.kb = pkg.attribute("identifier").map(str::to_string);
    m.release_type = pkg.attribute("releaseType").map(str::to_string);
    m.restart = pkg.attribute("restart").map(str::to_string);
    let mut count = 0usize;
    for n in pkg.children().filter(|n| n.is_element()) {
        count += 1;
        if count > MAX_ITEMS {
            return Err(Error::limit(
                count,
                MAX_ITEMS,
                format!("update.mum has more than {MAX_ITEMS} entries"),
            ));
        }
        match n.tag_name().name() {
            "customInformation" => {
                let a = |k: &str| n.attribute(k).map(str::to_string);
                let f = PackageFormat {
                    package_format: a("PackageFormat"),
                    psfx_version: a("PSFXVersion"),
                    psfx_delta_format: a("PSFXDeltaFormat"),
                };
                if f.package_format
                    .as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case("PSFX"))
                {
                    m.psfx = true;
                }
                if f != PackageFormat::default() {
                    m.format = Some(f);
                }
            }
            "parent" => m.parents.extend(
                n.children()
                    .filter(|c| c.tag_name().name() == "assemblyIdentity")
                    .map(AssemblyIdentity::from_node),
            ),
            "update" => {
                for inner in n.children().filter(|c| c.is_element()) {
                    let id = inner
                        .children()
                        .find(|c| c.tag_name().name() == "assemblyIdentity")
                        .map(AssemblyIdentity::from_node);
                    match (inner.tag_name().name(), id) {
                        ("component", Some(id)) => m.updates.push(UpdateItem::Component(id)),
                        ("package", Some(id)) => m.updates.push(UpdateItem::Package(id)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_safe_os_du_mum() {
        let x = br#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" description="Fix for KB5079471">
  <assemblyIdentity name="Package_for_SafeOSDU" version="26100.8037.1.0" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/>
  <package identifier="KB5079471" releaseType="Update" restart="possible">
    <mum2:customInformation xmlns:mum2="urn:schemas-microsoft-com:asm.v3" PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly"/>
    <parent revisionCompare="GE" integrate="standalone" disposition="detect">
      <assemblyIdentity name="WinPE-Package" version="10.0.26100.1" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/>
    </parent>
    <update name="abc"><component><assemblyIdentity name="Microsoft-Windows-Foo" version="10.0.26100.8037" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS"/></component></update>
  </package>
</assembly>"#;
        let m = parse_mum(x).unwrap();
        assert_eq!(m.identity.name, "Package_for_SafeOSDU");
        assert_eq!(m.kb.as_deref(), Some("KB5079471"));
        assert_eq!(m.parents[0].name, "WinPE-Package");
        assert!(m.psfx);
        let f = m.format.unwrap();
        assert_eq!(f.package_format.as_deref(), Some("PSFX"));
        assert_eq!(f.psfx_version.as_deref(), Some("2"));
        assert_eq!(f.psfx_delta_format.as_deref(), Some("ForwardOnly"));
        assert_eq!(m.updates.len(), 1);
        let x2 = String::from_utf8_lossy(x).replace(
            r#"PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly"/>"#,
            r#"PackageFormat="PSFX"/>"#,
        );
        let m2 = parse_mum(x2.as_bytes()).unwrap();
        assert!(m2.psfx);
        let f = m2.format.unwrap();
        assert_eq!(f.package_format.as_deref(), Some("PSFX"));
        assert_eq!(f.psfx_version, None);
        assert_eq!(f.psfx_delta_format, None);
        assert!(parse_mum(b"<assembly/>").is_err());
        assert!(parse_mum(b"not xml").is_err());
    }
}
