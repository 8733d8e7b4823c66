//! CBS package records (`Windows\servicing\Packages\*.mum`) of an image: which Safe OS Dynamic
//! Update, servicing stack and cumulative update (RollupFix) an image says it has.
//!
//! Why: a WinRE image's registry UBR stays at `.1` after servicing and its WIM XML may be stale, so
//! the package records are one of the independent signals for "what version is this image really".
//! Record file names carry the identity (`name~publickeytoken~arch~language~version.mum`), so most
//! answers need no file contents; a `.mum` is read only when a caller supplies a reader and the name
//! alone does not say what the package is (e.g. `Package_for_KB5079500~…`, whose manifest names the
//! `Package_for_SafeOSDU` it carries).

use crate::cbs::record::strip_suffix_ci;
use crate::cbs::{identities_in_mum, parse_record_name, PackageKind, PackageRecord, PACKAGES_DIR};
use crate::wim::model::{Hash, ImageTree};
use crate::{Error, Result};
use std::cmp::Ordering;

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
            PackageKind::Ssu => Some(&mut self.servicing_stack),
            PackageKind::Lcu => Some(&mut self.rollup_fix),
            PackageKind::SetupDu | PackageKind::Other => None,
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
/// refuse blobs larger than [`crate::cbs::MAX_MUM_BYTES`].
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
        Err(Error::NotFound { .. }) => return Ok(st),
        Err(e) => return Err(e),
    };
    let node = tree
        .nodes
        .get(dir)
        .ok_or_else(|| Error::invalid("WIM image", format!("node {dir} out of range")))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbs::Version4;
    use crate::wim::model::{attr, Dentry};
    use std::collections::HashMap;

    fn add(t: &mut ImageTree, parent: usize, name: &str, data: Option<Hash>) -> usize {
        let attributes = match data {
            None => attr::DIRECTORY,
            Some(_) => attr::NORMAL,
        };
        t.add_child(
            parent,
            Dentry {
                name: name.encode_utf16().collect(),
                attributes,
                data,
                ..Default::default()
            },
        )
    }

    fn tree_with(files: &[(&str, Hash)]) -> ImageTree {
        let mut t = ImageTree::with_root();
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
        let mut t = ImageTree::with_root();
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
                .ok_or_else(|| Error::not_found("blob", "in the test map"))
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
}
