//! CBS component manifests (`*.manifest`): identity, files and their digests.
//!
//! A component manifest says which files a component installs, where (`destinationPath`, with
//! `$(runtime.*)` variables), and the SHA-256 (old ones: SHA-1) of each file. That digest is what lets
//! mediaprep check every payload in a package before it goes near an image. Manifests are plain XML
//! (UTF-8 with or without BOM, or UTF-16 with a BOM) or DCM-compressed (`DCM\x01` etc.: a delta
//! against a base manifest shipped inside the user's `wcp.dll`) — those are detected and reported,
//! not decoded (domain.md §3).

use base64::Engine;

use crate::cbs::xml::{decode_xml_text, parse_xml};
use crate::cbs::{IdentityKey, Version4};
use crate::package::names;
use crate::{Error, Result};

/// Largest manifest accepted (real ones are at most a few hundred KiB).
pub const MAX_MANIFEST: u64 = 16 << 20;
/// Most `<file>` entries accepted per manifest.
pub const MAX_FILES: usize = 100_000;

/// The identity of an assembly (component or package).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AssemblyIdentity {
    /// `name`, e.g. `Microsoft-Windows-Foo` or `Package_for_SafeOSDU`.
    pub name: String,
    /// `version`, e.g. `10.0.26100.8037`.
    pub version: String,
    /// `processorArchitecture` (amd64, x86, wow64, msil, arm64).
    pub processor_architecture: String,
    /// `language` (neutral, `*`, or a culture).
    pub language: String,
    /// `publicKeyToken` (hex).
    pub public_key_token: String,
    /// `buildType` (release, ...).
    pub build_type: String,
    /// `versionScope` (nonSxS, ...).
    pub version_scope: String,
}

impl AssemblyIdentity {
    /// Read the identity attributes of an `<assemblyIdentity>` element.
    pub fn from_node(n: roxmltree::Node) -> AssemblyIdentity {
        let a = |k: &str| n.attribute(k).unwrap_or_default().to_string();
        AssemblyIdentity {
            name: a("name"),
            version: a("version"),
            processor_architecture: a("processorArchitecture"),
            language: a("language"),
            public_key_token: a("publicKeyToken"),
            build_type: a("buildType"),
            version_scope: a("versionScope"),
        }
    }

    /// Version-independent key (name, architecture, culture, token), case-folded.
    pub fn key(&self) -> IdentityKey {
        IdentityKey::new(
            &self.name,
            &self.processor_architecture,
            &self.language,
            &self.public_key_token,
        )
    }

    /// Version as four numbers, if it is a dotted quad (or shorter).
    pub fn version_parts(&self) -> Option<Version4> {
        Version4::parse_partial(&self.version)
    }

    /// The CBS package name form `name~token~arch~lang~version` (as in `servicing\Packages`).
    pub fn package_name(&self) -> String {
        let lang = if self.language.eq_ignore_ascii_case("neutral") {
            ""
        } else {
            &self.language
        };
        format!(
            "{}~{}~{}~{}~{}",
            self.name, self.public_key_token, self.processor_architecture, lang, self.version
        )
    }
}

/// How a manifest's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ManifestEncoding {
    /// Plain XML (UTF-8 or UTF-16).
    Xml,
    /// Compressed/delta manifest with the given 3-letter signature (`DCM`, `DCN`, `DCS`, `DCD`, `DCH`, `DCX`).
    Compressed([u8; 3]),
}

/// Detect a DCM-family header (`DC?\x01`).
pub fn compressed_signature(bytes: &[u8]) -> Option<[u8; 3]> {
    match bytes.get(..4)? {
        [b'D', b'C', k @ (b'M' | b'N' | b'S' | b'D' | b'H' | b'X'), 1] => Some([b'D', b'C', *k]),
        _ => None,
    }
}

/// A `<file>` of a component manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// `name` (may contain `\` for files in subfolders of the component).
    pub name: String,
    /// `destinationPath`, with `$(runtime.*)` variables unexpanded.
    pub destination_path: String,
    /// `sourceName` (empty when absent).
    pub source_name: String,
    /// `sourcePath` (empty when absent).
    pub source_path: String,
    /// SHA-256 from `<dsig:DigestValue>` when the method is sha256.
    #[serde(skip)]
    pub sha256: Option<[u8; 32]>,
    /// SHA-1 when the method is sha1 (old manifests).
    #[serde(skip)]
    pub sha1: Option<[u8; 20]>,
}

/// A parsed component manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Component {
    /// Member name of the manifest in the package, e.g. `amd64_…_none_0123456789abcdef.manifest`.
    pub manifest_name: String,
    /// The component identity (empty for compressed manifests).
    pub identity: AssemblyIdentity,
    /// Plain XML or a DCM-family compressed manifest (then `files` is empty).
    pub encoding: ManifestEncoding,
    /// True when the manifest is DCM-family compressed: as shipped, it is a delta against the
    /// servicing stack's base; `identity` and `files` are empty until
    /// [`crate::package::Package::decode_manifests`] decodes it (`decoded` then says with which base).
    pub dcm_compressed: bool,
    /// Files the component installs.
    pub files: Vec<ManifestFile>,
    /// The base a DCM manifest was decoded with.
    pub decoded: Option<DecodedWith>,
    /// Why a DCM manifest could not be decoded (the component cannot be serviced).
    pub decode_error: Option<String>,
    /// The shipped bytes of a DCM manifest (kept to decode it once the base is known).
    #[serde(skip)]
    pub shipped: Vec<u8>,
}

/// Which base manifest decoded a DCM component manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodedWith {
    /// Where the base came from (the image's newest servicing stack, or an SSU of this run).
    pub origin: String,
    /// Version of the servicing stack whose `wcp.dll` carried it, when known.
    pub stack_version: Option<String>,
    /// SHA-256 of the base (hex).
    pub base_sha256: String,
}

/// A file digest as found in a manifest: SHA-256 or (old manifests) SHA-1.
type FileDigests = (Option<[u8; 32]>, Option<[u8; 20]>);

fn decode_digest(method: &str, value: &str, what: &str) -> Result<FileDigests> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| Error::malformed("manifest digest", 0, format!("{what}: bad base64: {e}")))?;
    let m = method.to_ascii_lowercase();
    if m.ends_with("sha256") {
        let d: [u8; 32] = raw.try_into().map_err(|_| {
            Error::malformed(
                "manifest digest",
                0,
                format!("{what}: SHA-256 digest is not 32 bytes"),
            )
        })?;
        Ok((Some(d), None))
    } else if m.ends_with("sha1") {
        let d: [u8; 20] = raw.try_into().map_err(|_| {
            Error::malformed(
                "manifest digest",
                0,
                format!("{what}: SHA-1 digest is not 20 bytes"),
            )
        })?;
        Ok((None, Some(d)))
    } else {
        Err(Error::unsupported(
            "component manifest",
            format!("{what}: digest method {method:?}"),
        ))
    }
}

/// Parse a component manifest from its bytes. DCM-family manifests yield a [`Component`] with
/// `dcm_compressed` set and no identity/files; malformed XML or unsafe paths are errors.
pub fn parse_component(manifest_name: &str, bytes: &[u8]) -> Result<Component> {
    if let Some(sig) = compressed_signature(bytes) {
        return Ok(Component {
            manifest_name: manifest_name.into(),
            identity: AssemblyIdentity::default(),
            encoding: ManifestEncoding::Compressed(sig),
            dcm_compressed: true,
            files: Vec::new(),
            decoded: None,
            decode_error: None,
            shipped: bytes.to_vec(),
        });
    }
    let text = decode_xml_text(bytes, manifest_name)?;
    let doc = parse_xml(&text, manifest_name)?;
    let root = doc.root_element();
    if root.tag_name().name() != "assembly" {
        return Err(Error::malformed(
            "component manifest",
            0,
            format!(
                "{manifest_name}: root element is <{}>, not <assembly>",
                root.tag_name().name()
            ),
        ));
    }
    let identity = root
        .children()
        .find(|n| n.has_tag_name("assemblyIdentity") || n.tag_name().name() == "assemblyIdentity")
        .map(AssemblyIdentity::from_node)
        .ok_or_else(|| {
            Error::malformed(
                "component manifest",
                0,
                format!("{manifest_name}: no <assemblyIdentity>"),
            )
        })?;
    let mut files = Vec::new();
    for f in root.children().filter(|n| n.tag_name().name() == "file") {
        if files.len() >= MAX_FILES {
            return Err(Error::limit(
                files.len() + 1,
                MAX_FILES,
                format!("{manifest_name}: more than {MAX_FILES} <file> entries"),
            ));
        }
        let attr = |k: &str| f.attribute(k).unwrap_or_default().to_string();
        let name = attr("name");
        let what = format!("{manifest_name}: file");
        names::check_relative_path(&name, &what)?;
        let destination_path = attr("destinationPath");
        if !destination_path.is_empty() {
            names::check_manifest_path(
                &destination_path,
                &format!("{manifest_name}: destinationPath of {name:?}"),
            )?;
        }
        let source_name = attr("sourceName");
        if !source_name.is_empty() {
            names::check_relative_path(
                &source_name,
                &format!("{manifest_name}: sourceName of {name:?}"),
            )?;
        }
        let source_path = attr("sourcePath");
        if !source_path.is_empty() {
            names::check_manifest_path(
                &source_path,
                &format!("{manifest_name}: sourcePath of {name:?}"),
            )?;
        }
        let mut sha256 = None;
        let mut sha1 = None;
        if let Some(hash) = f.children().find(|n| n.tag_name().name() == "hash") {
            let method = hash
                .descendants()
                .find(|n| n.tag_name().name() == "DigestMethod")
                .and_then(|n| n.attribute("Algorithm"))
                .unwrap_or_default();
            let value = hash
                .descendants()
                .find(|n| n.tag_name().name() == "DigestValue")
                .and_then(|n| n.text())
                .unwrap_or_default();
            if !value.trim().is_empty() {
                (sha256, sha1) = decode_digest(method, value, &format!("{manifest_name}: {name}"))?;
            }
        }
        files.push(ManifestFile {
            name,
            destination_path,
            source_name,
            source_path,
            sha256,
            sha1,
        });
    }
    Ok(Component {
        manifest_name: manifest_name.into(),
        identity,
        encoding: ManifestEncoding::Xml,
        dcm_compressed: false,
        files,
        decoded: None,
        decode_error: None,
        shipped: Vec::new(),
    })
}

/// Expand a `$(runtime.*)` destination to a Windows path relative to the target volume root
/// (`Windows\System32\...`). Unknown variables are an [`Error::Unsupported`].
pub fn expand_runtime_path(dest: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = dest;
    while let Some(after) = rest.strip_prefix("$(") {
        let end = after.find(')').ok_or_else(|| {
            Error::invalid(
                "package manifest",
                format!("destinationPath {dest:?}: unterminated $("),
            )
        })?;
        let var = after[..end].to_ascii_lowercase();
        let var = var.strip_prefix("runtime.").unwrap_or(&var);
        let exp = match var {
            "system32" => "Windows\\System32",
            "drivers" => "Windows\\System32\\Drivers",
            "windows" | "windir" | "systemroot" => "Windows",
            "wbem" => "Windows\\System32\\wbem",
            "inf" => "Windows\\INF",
            "fonts" => "Windows\\Fonts",
            "help" => "Windows\\Help",
            "system" => "Windows\\System",
            "bootdrive" | "systemdrive" => "",
            "programfiles" => "Program Files",
            "programfilesx86" => "Program Files (x86)",
            "commonfiles" => "Program Files\\Common Files",
            "programdata" => "ProgramData",
            "public" => "Users\\Public",
            other => {
                return Err(Error::unsupported(
                    "component manifest",
                    format!("destinationPath {dest:?}: unknown variable $({other})"),
                ))
            }
        };
        if !out.is_empty() && !exp.is_empty() {
            out.push('\\');
        }
        out.push_str(exp);
        rest = &after[end + 1..];
    }
    let rest = rest.trim_matches(['\\', '/']);
    if !rest.is_empty() {
        if !out.is_empty() {
            out.push('\\');
        }
        out.push_str(&rest.replace('/', "\\"));
    }
    names::check_relative_path(if out.is_empty() { "." } else { &out }, "destinationPath")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="Microsoft-Windows-Foo" version="10.0.26100.8037" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS" />
  <file name="foo.dll" destinationPath="$(runtime.system32)\" sourceName="foo.dll" sourcePath=".\" importPath="$(build.nttree)\">
    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL" />
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">
      <dsig:Transforms><dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity" /></dsig:Transforms>
      <dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha256" />
      <dsig:DigestValue>ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=</dsig:DigestValue>
    </asmv2:hash>
  </file>
</assembly>"#;

    #[test]
    fn parses_identity_and_digest() {
        let c = parse_component("x.manifest", MANIFEST.as_bytes()).unwrap();
        assert_eq!(c.identity.name, "Microsoft-Windows-Foo");
        assert_eq!(
            c.identity.version_parts(),
            Some(Version4([10, 0, 26100, 8037]))
        );
        assert_eq!(c.files.len(), 1);
        // SHA-256("abc")
        assert_eq!(
            crate::hash::hex(&c.files[0].sha256.unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            expand_runtime_path(&c.files[0].destination_path).unwrap(),
            "Windows\\System32"
        );
        // UTF-16LE with BOM parses the same.
        let mut u16 = vec![0xFF, 0xFE];
        for u in MANIFEST.replace("utf-8", "utf-16").encode_utf16() {
            u16.extend_from_slice(&u.to_le_bytes());
        }
        let c2 = parse_component("x.manifest", &u16).unwrap();
        assert_eq!(c2.files, c.files);
    }

    #[test]
    fn rejects_traversal_and_detects_dcm() {
        let evil = MANIFEST.replace(
            r#"destinationPath="$(runtime.system32)\""#,
            r#"destinationPath="$(runtime.system32)\..\..\evil""#,
        );
        assert!(matches!(
            parse_component("x.manifest", evil.as_bytes()),
            Err(Error::Invalid { .. })
        ));
        let c = parse_component("y.manifest", b"DCM\x01\x00\x01garbage").unwrap();
        assert!(c.dcm_compressed);
        assert_eq!(c.encoding, ManifestEncoding::Compressed(*b"DCM"));
    }
}
