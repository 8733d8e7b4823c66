//! CBS package records (`Windows\servicing\Packages\*.mum`) of an image: which Safe OS Dynamic
//! Update, servicing stack and cumulative update (RollupFix) an image says it has.
//!
//! Why: a WinRE image's registry UBR stays at `.1` after servicing and its WIM XML may be stale, so
//! the package records are one of the independent signals for "what version is this image really".
//! Record file names carry the identity (`name~publickeytoken~arch~language~version.mum`), so most
//! answers need no file contents; a `.mum` is read only when a caller supplies a reader and the name
//! alone does not say what the package is (e.g. `Package_for_KB5079500~…`, whose manifest names the
//! `Package_for_SafeOSDU` it carries).

use crate::wim::model::{Hash, ImageTree};
use crate::{Error, Result};
use std::cmp::Ordering;
use std::fmt;

/// Folder holding the package records, relative to the image root.
pub const PACKAGES_DIR: &str = "Windows/servicing/Packages";

/// Largest `.mum` we are willing to parse (real ones are a few KiB to a few hundred KiB).
pub const MAX_MUM_BYTES: usize = 4 << 20;

/// A four-part version `a.b.c.d`, ordered numerically part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version4(pub [u32; 4]);

impl Version4 {
    /// Parse `a.b.c.d` (exactly four decimal parts, each fitting in u32).
    pub fn parse(s: &str) -> Option<Version4> {
        let mut out = [0u32; 4];
        let mut parts = s.split('.');
        for slot in out.iter_mut() {
            let p = parts.next()?;
            if p.is_empty() || p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = p.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Version4(out))
    }
}

impl fmt::Display for Version4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// What a package record is, as far as media servicing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// `Package_for_SafeOSDU`: the Safe OS Dynamic Update (services WinRE).
    SafeOsDu,
    /// `Package_for_ServicingStack_<n>`: a servicing stack update.
    ServicingStack,
    /// `Package_for_RollupFix`: the latest cumulative update.
    RollupFix,
    /// Anything else (feature packages, language packs, KB packages).
    Other,
}

impl PackageKind {
    /// Classify a package name (case-insensitively, as CBS compares names).
    pub fn of(name: &str) -> PackageKind {
        let lower = name.to_ascii_lowercase();
        if lower == "package_for_safeosdu" {
            PackageKind::SafeOsDu
        } else if lower.starts_with("package_for_servicingstack") {
            PackageKind::ServicingStack
        } else if lower == "package_for_rollupfix" {
            PackageKind::RollupFix
        } else {
            PackageKind::Other
        }
    }
}

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
        kind: PackageKind::of(name),
    })
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Where a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The record's file name.
    FileName,
    /// An `assemblyIdentity` inside another package's `.mum`.
    ManifestContents,
}

/// The highest version found for one package kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The package identity (for [`Evidence::ManifestContents`], token/arch/language come from
    /// the `assemblyIdentity` element).
    pub record: PackageRecord,
    /// The record file (`.mum`) this came from.
    pub file: String,
    /// How it was found.
    pub evidence: Evidence,
}

/// What the package records of one image say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServicingState {
    /// True when `Windows\servicing\Packages` exists at all.
    pub has_packages_dir: bool,
    /// Every record whose name parsed, in directory order.
    pub records: Vec<PackageRecord>,
    /// `.mum` names that did not parse, with the reason (kept, not fatal: images hold odd files).
    pub unparsed: Vec<(String, String)>,
    /// Highest `Package_for_SafeOSDU`.
    pub safe_os_du: Option<Finding>,
    /// Highest `Package_for_ServicingStack_*`.
    pub servicing_stack: Option<Finding>,
    /// Highest `Package_for_RollupFix`.
    pub rollup_fix: Option<Finding>,
}

impl ServicingState {
    fn slot(&mut self, kind: PackageKind) -> Option<&mut Option<Finding>> {
        match kind {
            PackageKind::SafeOsDu => Some(&mut self.safe_os_du),
            PackageKind::ServicingStack => Some(&mut self.servicing_stack),
            PackageKind::RollupFix => Some(&mut self.rollup_fix),
            PackageKind::Other => None,
        }
    }

    fn offer(&mut self, f: Finding) {
        if let Some(slot) = self.slot(f.record.kind) {
            let better = match slot {
                None => true,
                Some(cur) => match f.record.version.cmp(&cur.record.version) {
                    Ordering::Greater => true,
                    // On a tie the file name is the stronger evidence.
                    Ordering::Equal => {
                        cur.evidence == Evidence::ManifestContents
                            && f.evidence == Evidence::FileName
                    }
                    Ordering::Less => false,
                },
            };
            if better {
                *slot = Some(f);
            }
        }
    }
}

/// Reads a blob's bytes by hash (e.g. from the WIM the tree came from). Implementations should
/// refuse blobs larger than [`MAX_MUM_BYTES`].
pub type BlobFetch<'a> = &'a dyn Fn(&Hash) -> Result<Vec<u8>>;

/// Read the package records of `tree`.
///
/// Every `*.mum` under [`PACKAGES_DIR`] is parsed by name. When `fetch` is given, the `.mum` of each
/// record whose name is of kind [`PackageKind::Other`] and starts with `Package_` (KB packages) is
/// read, and any `assemblyIdentity` in it naming a Safe OS DU / servicing stack / RollupFix package
/// counts too. A missing packages folder is not an error (`has_packages_dir` is false).
pub fn servicing_state(tree: &ImageTree, fetch: Option<BlobFetch<'_>>) -> Result<ServicingState> {
    let mut st = ServicingState::default();
    let dir = match tree.lookup(PACKAGES_DIR) {
        Ok(d) => d,
        Err(Error::NotFound(_)) => return Ok(st),
        Err(e) => return Err(e),
    };
    let node = tree
        .nodes
        .get(dir)
        .ok_or_else(|| Error::Invalid(format!("node {dir} out of range")))?;
    if !node.is_dir() {
        return Ok(st);
    }
    st.has_packages_dir = true;
    for &c in &node.children {
        let Some(child) = tree.nodes.get(c) else {
            continue;
        };
        if child.is_dir() {
            continue;
        }
        let file = child.name_string();
        if strip_suffix_ci(&file, ".mum").is_none() {
            continue;
        }
        let rec = match parse_record_name(&file) {
            Ok(r) => r,
            Err(e) => {
                st.unparsed.push((file, e.to_string()));
                continue;
            }
        };
        if let (Some(fetch), PackageKind::Other, Some(hash)) = (fetch, rec.kind, child.data) {
            if rec.name.to_ascii_lowercase().starts_with("package_") {
                let bytes = fetch(&hash)?;
                for inner in identities_in_mum(&bytes, &file)? {
                    st.offer(Finding {
                        record: inner,
                        file: file.clone(),
                        evidence: Evidence::ManifestContents,
                    });
                }
            }
        }
        st.offer(Finding {
            record: rec.clone(),
            file,
            evidence: Evidence::FileName,
        });
        st.records.push(rec);
    }
    Ok(st)
}

/// The tracked-kind package identities (`assemblyIdentity` elements) inside a `.mum`.
pub fn identities_in_mum(bytes: &[u8], file: &str) -> Result<Vec<PackageRecord>> {
    const S: &str = "CBS package manifest (.mum)";
    if bytes.len() > MAX_MUM_BYTES {
        return Err(Error::Limit(format!(
            "{file}: {} bytes exceeds the {MAX_MUM_BYTES}-byte .mum limit",
            bytes.len()
        )));
    }
    let text = decode_text(bytes)
        .ok_or_else(|| Error::malformed(S, 0, format!("{file}: not UTF-8/UTF-16 text")))?;
    let doc = roxmltree::Document::parse(&text)
        .map_err(|e| Error::malformed(S, 0, format!("{file}: {e}")))?;
    let mut out = Vec::new();
    for n in doc
        .descendants()
        .filter(|n| n.has_tag_name("assemblyIdentity"))
    {
        let Some(name) = n.attribute("name") else {
            continue;
        };
        let kind = PackageKind::of(name);
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

/// `.mum` files are UTF-8 (often with a BOM); accept UTF-16LE with a BOM too.
fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).ok();
    }
    let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    std::str::from_utf8(b).ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wim::model::{attr, Dentry};
    use std::collections::HashMap;

    fn add(t: &mut ImageTree, parent: usize, name: &str, data: Option<Hash>) -> usize {
        let idx = t.nodes.len();
        t.nodes.push(Dentry {
            name: name.encode_utf16().collect(),
            attributes: if data.is_none() {
                attr::DIRECTORY
            } else {
                attr::NORMAL
            },
            data,
            parent,
            ..Default::default()
        });
        t.nodes[parent].children.push(idx);
        idx
    }

    fn tree_with(files: &[(&str, Hash)]) -> ImageTree {
        let mut t = ImageTree::default();
        t.nodes.push(Dentry {
            attributes: attr::DIRECTORY,
            ..Default::default()
        });
        let w = add(&mut t, 0, "Windows", None);
        let s = add(&mut t, w, "servicing", None);
        let p = add(&mut t, s, "Packages", None);
        for (name, h) in files {
            add(&mut t, p, name, Some(*h));
        }
        t
    }

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
            PackageKind::ServicingStack
        );
        assert_eq!(
            PackageKind::of("package_for_rollupfix"),
            PackageKind::RollupFix
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
    fn highest_of_each_kind_wins() {
        let h = [1u8; 20];
        let t = tree_with(&[
            (
                &format!("Package_for_SafeOSDU~{T}~amd64~~26100.1000.1.0.mum"),
                h,
            ),
            (
                &format!("Package_for_SafeOSDU~{T}~amd64~~26100.1000.1.0.cat"),
                h,
            ),
            (
                &format!("Package_for_SafeOSDU~{T}~amd64~~26100.8037.1.0.mum"),
                h,
            ),
            (
                &format!("Package_for_SafeOSDU~{T}~amd64~~26100.999.1.0.mum"),
                h,
            ),
            (
                &format!("Package_for_ServicingStack_1000~{T}~amd64~~26100.1000.1.0.mum"),
                h,
            ),
            (
                &format!("Package_for_ServicingStack_8037~{T}~amd64~~26100.8037.1.1.mum"),
                h,
            ),
            (
                &format!("Package_for_RollupFix~{T}~amd64~~26100.863.1.0.mum"),
                h,
            ),
            (
                &format!("Microsoft-Windows-WinPE-Package~{T}~amd64~~10.0.26100.1.mum"),
                h,
            ),
            ("junk.mum", h),
        ]);
        let st = servicing_state(&t, None).unwrap();
        assert!(st.has_packages_dir);
        assert_eq!(st.records.len(), 7);
        assert_eq!(st.unparsed.len(), 1);
        let safe = st.safe_os_du.unwrap();
        assert_eq!(safe.record.version, Version4([26100, 8037, 1, 0]));
        assert_eq!(safe.evidence, Evidence::FileName);
        assert!(safe.file.contains("26100.8037"));
        assert_eq!(
            st.servicing_stack.unwrap().record.version,
            Version4([26100, 8037, 1, 1])
        );
        assert_eq!(
            st.rollup_fix.unwrap().record.version,
            Version4([26100, 863, 1, 0])
        );
    }

    #[test]
    fn no_packages_dir_is_empty_state() {
        let mut t = ImageTree::default();
        t.nodes.push(Dentry {
            attributes: attr::DIRECTORY,
            ..Default::default()
        });
        add(&mut t, 0, "Windows", None);
        let st = servicing_state(&t, None).unwrap();
        assert!(!st.has_packages_dir);
        assert!(st.safe_os_du.is_none() && st.records.is_empty());
        // Case-insensitive folder lookup, like Windows.
        let t = tree_with(&[]);
        let mut t2 = t.clone();
        t2.nodes[3].name = "PACKAGES".encode_utf16().collect();
        assert!(servicing_state(&t2, None).unwrap().has_packages_dir);
    }

    #[test]
    fn kb_package_contents_name_the_safe_os_du() {
        let kb_hash = [7u8; 20];
        let other_hash = [8u8; 20];
        let t = tree_with(&[
            (
                &format!("Package_for_SafeOSDU~{T}~amd64~~26100.1000.1.0.mum"),
                [1; 20],
            ),
            (
                &format!("Package_for_KB5079500~{T}~amd64~~26100.8037.1.0.mum"),
                kb_hash,
            ),
            (
                &format!("Microsoft-Windows-WinPE-Package~{T}~amd64~~10.0.26100.1.mum"),
                other_hash,
            ),
        ]);
        let mum = format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\
             <assemblyIdentity name=\"Package_for_KB5079500\" version=\"26100.8037.1.0\" \
               processorArchitecture=\"amd64\" language=\"neutral\" publicKeyToken=\"{T}\"/>\
             <package identifier=\"KB5079500\" releaseType=\"Update\"><update name=\"x\">\
             <package integrate=\"hidden\"><assemblyIdentity name=\"Package_for_SafeOSDU\" \
               version=\"26100.8037.1.0\" processorArchitecture=\"amd64\" language=\"neutral\" \
               publicKeyToken=\"{T}\"/></package></update></package></assembly>"
        );
        let blobs: HashMap<Hash, Vec<u8>> = [(kb_hash, mum.into_bytes())].into_iter().collect();
        let fetched = std::cell::Cell::new(0);
        let fetch = |h: &Hash| -> Result<Vec<u8>> {
            fetched.set(fetched.get() + 1);
            blobs
                .get(h)
                .cloned()
                .ok_or_else(|| Error::NotFound("blob".into()))
        };
        let st = servicing_state(&t, Some(&fetch)).unwrap();
        // Only the KB package needed reading; WinPE feature packages are not "Package_*".
        assert_eq!(fetched.get(), 1);
        let safe = st.safe_os_du.unwrap();
        assert_eq!(safe.record.version, Version4([26100, 8037, 1, 0]));
        assert_eq!(safe.evidence, Evidence::ManifestContents);
        assert!(safe.file.starts_with("Package_for_KB5079500"));

        // Without a reader the name is all there is.
        let st = servicing_state(&t, None).unwrap();
        assert_eq!(
            st.safe_os_du.unwrap().record.version,
            Version4([26100, 1000, 1, 0])
        );
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
            Err(Error::Limit(_))
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
        assert_eq!(ids[0].kind, PackageKind::RollupFix);
    }
}
