//! The base manifest that DCM-compressed component manifests are deltas against, and where it
//! comes from.
//!
//! Why: a real update package stores each component manifest as `DCM\x01` followed by a PA30 delta
//! against one base manifest, which Windows keeps inside the servicing stack's `wcp.dll` as PE
//! resource type 614, id 1 (`docs/formats/wcp-base.md`). mediaprep never ships that base (it is
//! Microsoft's): it takes it from the image being serviced, from the highest-version
//! `<arch>_microsoft-windows-servicingstack_<token>_<version>_none_<hash>` folder in `Windows\WinSxS`
//! that holds a `wcp.dll`, or from a file the user gives (a raw base, or a `wcp.dll`). Every
//! [`BaseManifest`] says where its bytes came from, so a decoded manifest can be traced to them.

use crate::cbs::{SxsName, Version4, WINSXS};
use crate::io::{read_vec, ReadAt, SharedReader};
use crate::iso::looks_like_iso;
use crate::media::{self, Node, Target};
use crate::package::manifest::compressed_signature;
use crate::pe;
use crate::wim::model::ImageTree;
use crate::wim::Wim;
use crate::{Error, Result};
use serde::Serialize;

/// PE resource type under which `wcp.dll` keeps the DCM base manifest.
pub const BASE_RESOURCE_TYPE: u16 = 614;
/// PE resource name id of the DCM base manifest.
pub const BASE_RESOURCE_ID: u16 = 1;
/// Largest base accepted, in bytes (the genuine one is about 9 KiB).
pub const MAX_BASE_BYTES: u64 = 16 << 20;
/// Component name of the servicing stack whose folder holds `wcp.dll`.
pub const STACK_COMPONENT: &str = "microsoft-windows-servicingstack";
/// Microsoft's public key token on the servicing stack component.
pub const STACK_TOKEN: &str = "31bf3856ad364e35";
/// The servicing stack file that carries the base.
pub const WCP_DLL: &str = "wcp.dll";

/// A base manifest and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseManifest {
    /// The base's bytes, as the DCM decoder takes them.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub source: BaseSource,
}

/// Where a base manifest came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BaseSource {
    /// Resource 614/1 of the newest servicing stack's `wcp.dll` inside an image.
    Image {
        /// The `wcp.dll` that was read.
        wcp: WcpInfo,
        /// The servicing stack it belongs to.
        stack: ServicingStack,
        /// Every servicing stack folder found, newest first (the chosen one included).
        stacks: Vec<ServicingStack>,
    },
    /// Resource 614/1 of a `wcp.dll` given as a file.
    WcpFile {
        /// The `wcp.dll` that was read.
        wcp: WcpInfo,
    },
    /// A file holding the base itself.
    RawFile {
        /// The file's name as the caller gave it.
        path: String,
    },
}

/// What was read from one `wcp.dll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WcpInfo {
    /// Path: inside the image (`/Windows/WinSxS/<folder>/wcp.dll`) or as the caller gave it.
    pub path: String,
    /// Size of `wcp.dll` in bytes.
    pub size: u64,
    /// `VS_FIXEDFILEINFO` file version of `wcp.dll`, when it has a readable version resource.
    pub file_version: Option<String>,
    /// Language id of the 614/1 leaf that was read.
    pub resource_language: u16,
    /// File offset of the base inside `wcp.dll`.
    pub resource_offset: u64,
}

/// One servicing stack folder of `Windows\WinSxS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicingStack {
    /// Folder name, e.g. `amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.1000_none_…`.
    pub folder: String,
    /// Processor architecture from the folder name.
    pub arch: String,
    /// Version from the folder name.
    pub version: String,
    /// True when the folder holds a `wcp.dll` file.
    pub has_wcp: bool,
    /// Arena index of that `wcp.dll` in the image tree.
    #[serde(skip)]
    pub wcp_node: Option<usize>,
    #[serde(skip)]
    order: (Version4, u8),
}

impl BaseManifest {
    /// Lower-case hex SHA-256 of the base.
    pub fn sha256_hex(&self) -> String {
        crate::hash::hex(&crate::hash::sha256(&self.bytes))
    }

    /// The base of image `index` of `wim` (1-based): see [`BaseManifest::from_tree`].
    pub fn from_image(wim: &Wim, index: u32) -> Result<BaseManifest> {
        let tree = wim.image_tree(index)?;
        BaseManifest::from_tree(wim, &tree)
    }

    /// The base of an image whose tree is already decoded: resource 614/1 of the `wcp.dll` in the
    /// highest-version servicing stack folder that holds one ([`newest_stack`]).
    ///
    /// Errors: [`Error::NotFound`] when the image has no servicing stack with a `wcp.dll` or that
    /// `wcp.dll` has no resource 614/1 (an older stack is never used instead: its base need not be
    /// the one the image's manifests were made against); the PE reader's errors, with the path.
    pub fn from_tree(wim: &Wim, tree: &ImageTree) -> Result<BaseManifest> {
        let stacks = servicing_stacks(tree)?;
        let stack = newest_stack(&stacks)?.clone();
        // newest_stack only returns a stack whose wcp_node was found in this tree.
        let (node, path) = match stack.wcp_node.and_then(|n| Some((tree.nodes.get(n)?, n))) {
            Some((d, n)) => (d, tree.path_of(n)),
            None => {
                return Err(Error::invalid(
                    "component manifest",
                    format!("{}: its wcp.dll is not in this image tree", stack.folder),
                ))
            }
        };
        let reader = wim.open_data(node)?;
        let (bytes, wcp) = read_wcp(&reader, &path)
            .map_err(|e| in_file(e, &path))?
            .ok_or_else(|| no_resource(&path, Some(&stack.version)))?;
        Ok(BaseManifest {
            bytes,
            source: BaseSource::Image { wcp, stack, stacks },
        })
    }

    /// The base from a file: a `wcp.dll` (it starts with `MZ`; its resource 614/1 is taken) or the
    /// raw base itself. `path` names the file in the result and in errors.
    ///
    /// A raw base is refused when it is empty, larger than [`MAX_BASE_BYTES`], or a DCM-compressed
    /// manifest (a common mix-up: the base is the reference, not a delta).
    pub fn from_reader(src: &dyn ReadAt, path: &str) -> Result<BaseManifest> {
        let mut magic = [0u8; 4];
        let head = src.size().min(4) as usize;
        src.read_at(0, &mut magic[..head])?;
        if magic[..head].starts_with(b"MZ") {
            let (bytes, wcp) = read_wcp(src, path)
                .map_err(|e| in_file(e, path))?
                .ok_or_else(|| no_resource(path, None))?;
            return Ok(BaseManifest {
                bytes,
                source: BaseSource::WcpFile { wcp },
            });
        }
        if src.size() == 0 {
            return Err(Error::invalid(
                "component manifest",
                format!("{path}: empty file, not a base manifest"),
            ));
        }
        if let Some(sig) = compressed_signature(&magic[..head]) {
            return Err(Error::invalid("component manifest", format!(
                "{path}: a {}-compressed manifest, not a base manifest (give the raw base or a wcp.dll)",
                String::from_utf8_lossy(&sig)
            )));
        }
        let bytes = read_vec(src, "base manifest", 0, src.size(), MAX_BASE_BYTES)?;
        Ok(BaseManifest {
            bytes,
            source: BaseSource::RawFile {
                path: path.to_string(),
            },
        })
    }
}

/// The base for a file the user gave and the layers after it (as `mediaprep ls` takes them): an ISO
/// or WIM is opened and descended ([`base_from_target`]); any other file, given without layers, is a
/// `wcp.dll` or a raw base ([`BaseManifest::from_reader`]). `index` is the 1-based image of the WIM
/// the layers end on. This is what `mediaprep base-manifest` runs, and what a manifest decoder calls
/// to get "this image's own base".
pub fn base_from_media(
    src: SharedReader,
    name: &str,
    layers: &[String],
    index: u32,
) -> Result<BaseManifest> {
    let container = media::looks_like_wim(&*src) || looks_like_iso(&*src);
    if !container && layers.is_empty() {
        return BaseManifest::from_reader(&*src, name);
    }
    let node = media::open_node(src, name)?;
    let label = layers.last().map(String::as_str).unwrap_or(name);
    base_from_target(media::descend(node, layers)?, index, label)
}

/// The base for whatever a layer path ended on ([`crate::media::descend`]): image `index` of a WIM
/// (a WIM file at the end of the path is opened as one), or a plain file read by
/// [`BaseManifest::from_reader`]. An ISO is refused: the path must go on to a WIM inside it.
pub fn base_from_target(target: Target, index: u32, label: &str) -> Result<BaseManifest> {
    let node = match target {
        Target::Node(n) => n,
        Target::Dir(_) => {
            return Err(Error::invalid("component manifest", format!(
                "{label}: the path ends on a directory; give a WIM (and its image), a wcp.dll or a base file"
            )))
        }
        Target::File(r, _) => match media::looks_like_wim(&*r) {
            true => media::open_node(r, label)?,
            false => Node::File(r),
        },
    };
    match node {
        Node::Wim(w) => BaseManifest::from_image(&w, index),
        Node::File(r) => BaseManifest::from_reader(&*r, label),
        Node::Iso(_) => Err(Error::invalid("component manifest", format!(
            "{label}: an ISO holds no servicing stack itself; add layers to the WIM whose base to use, \
             e.g. /sources/install.wim 1:/Windows/System32/Recovery/Winre.wim"
        ))),
    }
}

/// Resource 614/1 of a `wcp.dll` and what was read; `Ok(None)` when the PE has no such resource.
fn read_wcp(src: &dyn ReadAt, path: &str) -> Result<Option<(Vec<u8>, WcpInfo)>> {
    let Some(loc) = pe::locate_resource(src, BASE_RESOURCE_TYPE, BASE_RESOURCE_ID, None)? else {
        return Ok(None);
    };
    if u64::from(loc.size) > MAX_BASE_BYTES {
        return Err(Error::limit(loc.size, MAX_BASE_BYTES, format!(
            "{path}: resource {BASE_RESOURCE_TYPE}/{BASE_RESOURCE_ID} claims {} bytes; the limit is {MAX_BASE_BYTES}",
            loc.size
        )));
    }
    if loc.size == 0 {
        return Err(Error::invalid(
            "component manifest",
            format!("{path}: resource {BASE_RESOURCE_TYPE}/{BASE_RESOURCE_ID} is empty"),
        ));
    }
    let bytes = read_vec(
        src,
        "PE resource data",
        loc.offset,
        u64::from(loc.size),
        MAX_BASE_BYTES,
    )?;
    // The version is reported, not relied on: a wcp.dll with a damaged version resource still
    // yields its base.
    let file_version = pe::file_version(src)
        .ok()
        .flatten()
        .map(|v| v.file_version.to_string());
    Ok(Some((
        bytes,
        WcpInfo {
            path: path.to_string(),
            size: src.size(),
            file_version,
            resource_language: loc.language,
            resource_offset: loc.offset,
        },
    )))
}

fn no_resource(path: &str, stack_version: Option<&str>) -> Error {
    let stack = stack_version
        .map(|v| format!(" (servicing stack {v})"))
        .unwrap_or_default();
    Error::not_found(
        "DCM base manifest",
        format!(
            "{path}{stack} has no resource type {BASE_RESOURCE_TYPE}, id {BASE_RESOURCE_ID}: \
         no DCM base manifest in it"
        ),
    )
}

/// Name the file in a structural error from the PE reader.
fn in_file(e: Error, path: &str) -> Error {
    match e {
        Error::Malformed {
            structure,
            offset,
            reason,
        } => Error::Malformed {
            structure,
            offset,
            reason: format!("{reason} (in {path})"),
        },
        other => other.reword_limit(|m| format!("{m} (in {path})")),
    }
}

/// Native architectures rank above the 32-bit ones when two stacks have the same version.
fn arch_rank(arch: &str) -> u8 {
    match arch.to_ascii_lowercase().as_str() {
        "amd64" | "arm64" | "ia64" => 2,
        "x86" | "arm" => 1,
        _ => 0, // wow64, msil and anything unexpected
    }
}

/// Every `<arch>_microsoft-windows-servicingstack_31bf3856ad364e35_<a.b.c.d>_none_<hash>` folder of
/// `Windows\WinSxS`, newest first: by four-part version compared number by number, then by
/// architecture (native before 32-bit), then by name. A folder whose name does not parse as that
/// (another component, such as `…-servicingstack-onecore`, another token or culture, a version that
/// is not four numbers) is not a servicing stack and is left out. An image without `WinSxS` has
/// none.
pub fn servicing_stacks(tree: &ImageTree) -> Result<Vec<ServicingStack>> {
    let sxs = match tree.lookup(WINSXS) {
        Ok(n) => n,
        Err(Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let Some(sxs_node) = tree.nodes.get(sxs).filter(|d| d.is_dir()) else {
        return Ok(Vec::new());
    };
    let wcp: Vec<u16> = WCP_DLL.encode_utf16().collect();
    let mut out = Vec::new();
    for &c in &sxs_node.children {
        let Some(d) = tree.nodes.get(c).filter(|d| d.is_dir()) else {
            continue;
        };
        let folder = d.name_string();
        let Some(n) = SxsName::parse(&folder) else {
            continue;
        };
        let Some(version) = Version4::parse(&n.version) else {
            continue;
        };
        if !n.name.eq_ignore_ascii_case(STACK_COMPONENT)
            || !n.token.eq_ignore_ascii_case(STACK_TOKEN)
            || !n.culture.eq_ignore_ascii_case("none")
        {
            continue;
        }
        let wcp_node = tree
            .child(c, &wcp)
            .filter(|&w| tree.nodes.get(w).is_some_and(|f| !f.is_dir()));
        out.push(ServicingStack {
            folder,
            order: (version, arch_rank(&n.arch)),
            arch: n.arch,
            version: version.to_string(),
            has_wcp: wcp_node.is_some(),
            wcp_node,
        });
    }
    out.sort_by(|a, b| b.order.cmp(&a.order).then_with(|| a.folder.cmp(&b.folder)));
    Ok(out)
}

/// The first (newest) stack of [`servicing_stacks`]'s list that holds a `wcp.dll`.
///
/// [`Error::NotFound`] when there is none, naming the folders that were found without one.
pub fn newest_stack(stacks: &[ServicingStack]) -> Result<&ServicingStack> {
    stacks.iter().find(|s| s.has_wcp).ok_or_else(|| {
        let found = if stacks.is_empty() {
            String::new()
        } else {
            format!(
                " (found without one: {})",
                stacks
                    .iter()
                    .map(|s| s.folder.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Error::not_found("servicing stack", format!(
            "no servicing stack in the image: no Windows\\WinSxS\\<arch>_{STACK_COMPONENT}_{STACK_TOKEN}_<version>_none_<hash> \
             folder holds {WCP_DLL}{found}; give the base manifest or a wcp.dll instead"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wim::model::{attr, Dentry};

    fn node(name: &str, parent: usize, is_dir: bool) -> Dentry {
        Dentry {
            name: name.encode_utf16().collect(),
            attributes: if is_dir {
                attr::DIRECTORY
            } else {
                attr::ARCHIVE
            },
            parent,
            data: (!is_dir).then_some([1; 20]),
            ..Default::default()
        }
    }

    /// An image whose WinSxS holds `folders`, each `(name, holds wcp.dll)`.
    fn tree(folders: &[(&str, bool)]) -> ImageTree {
        let mut t = ImageTree {
            security: vec![],
            nodes: vec![node("", 0, true)],
        };
        let add = |t: &mut ImageTree, d: Dentry| {
            let i = t.nodes.len();
            let p = d.parent;
            t.nodes.push(d);
            t.nodes[p].children.push(i);
            i
        };
        let win = add(&mut t, node("Windows", 0, true));
        let sxs = add(&mut t, node("WinSxS", win, true));
        for &(f, wcp) in folders {
            let d = add(&mut t, node(f, sxs, true));
            add(&mut t, node("CbsCore.dll", d, false));
            if wcp {
                add(&mut t, node("WCP.DLL", d, false));
            }
        }
        t
    }

    fn stack(arch: &str, name: &str, token: &str, ver: &str, culture: &str) -> String {
        format!("{arch}_{name}_{token}_{ver}_{culture}_0123456789abcdef")
    }

    #[test]
    fn newest_is_by_number_not_by_text() {
        let old = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.863",
            "none",
        );
        let new = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.1000",
            "none",
        );
        let t = tree(&[(&old, true), (&new, true)]);
        let s = servicing_stacks(&t).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(newest_stack(&s).unwrap().folder, new);
        assert_eq!(s[1].folder, old);
        // Text order would have picked 863.
        assert!(old > new);
    }

    #[test]
    fn other_components_tokens_cultures_are_not_stacks() {
        let good = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.1",
            "none",
        );
        let folders = [
            stack(
                "amd64",
                "microsoft-windows-servicingstack-onecore",
                STACK_TOKEN,
                "10.0.26100.9999",
                "none",
            ),
            stack(
                "amd64",
                "microsoft-windows-s..ngstack-inetsrv",
                STACK_TOKEN,
                "10.0.26100.9999",
                "none",
            ),
            stack(
                "amd64",
                STACK_COMPONENT,
                "0000000000000000",
                "10.0.26100.9999",
                "none",
            ),
            stack(
                "amd64",
                STACK_COMPONENT,
                STACK_TOKEN,
                "10.0.26100.9999",
                "en-us",
            ),
            stack("amd64", STACK_COMPONENT, STACK_TOKEN, "10.0.26100", "none"),
            "amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.9999_none_nothex"
                .into(),
            good.clone(),
        ];
        let refs: Vec<(&str, bool)> = folders.iter().map(|f| (f.as_str(), true)).collect();
        let s = servicing_stacks(&tree(&refs)).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].folder, good);
        // Case of the component name and token does not matter (CBS compares them folded).
        let upper = stack(
            "amd64",
            "Microsoft-Windows-ServicingStack",
            "31BF3856AD364E35",
            "10.0.26100.2",
            "none",
        );
        let s = servicing_stacks(&tree(&[(&upper, true), (&good, true)])).unwrap();
        assert_eq!(newest_stack(&s).unwrap().folder, upper);
    }

    #[test]
    fn highest_folder_without_wcp_is_skipped_not_fatal() {
        let old = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.1",
            "none",
        );
        let new = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.2",
            "none",
        );
        let t = tree(&[(&old, true), (&new, false)]);
        let s = servicing_stacks(&t).unwrap();
        assert_eq!(s.len(), 2);
        assert!(!s[0].has_wcp);
        assert_eq!(newest_stack(&s).unwrap().folder, old);
    }

    #[test]
    fn no_stack_is_a_not_found_naming_what_was_seen() {
        let e = newest_stack(&servicing_stacks(&tree(&[])).unwrap()).unwrap_err();
        assert!(
            matches!(&e, Error::NotFound { name: m, .. } if m.contains("no servicing stack")),
            "{e}"
        );
        let only = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.2",
            "none",
        );
        let e = newest_stack(&servicing_stacks(&tree(&[(&only, false)])).unwrap()).unwrap_err();
        assert!(e.to_string().contains(&only), "{e}");
        // No WinSxS at all.
        let bare = ImageTree {
            security: vec![],
            nodes: vec![node("", 0, true)],
        };
        assert!(servicing_stacks(&bare).unwrap().is_empty());
    }

    #[test]
    fn same_version_prefers_the_native_arch() {
        let x86 = stack("x86", STACK_COMPONENT, STACK_TOKEN, "10.0.26100.5", "none");
        let amd = stack(
            "amd64",
            STACK_COMPONENT,
            STACK_TOKEN,
            "10.0.26100.5",
            "none",
        );
        let s = servicing_stacks(&tree(&[(&x86, true), (&amd, true)])).unwrap();
        assert_eq!(newest_stack(&s).unwrap().folder, amd);
    }

    #[test]
    fn raw_base_files() {
        use crate::io::SliceSource;
        let b = BaseManifest::from_reader(&SliceSource::new(b"<?xml base?>".to_vec()), "b.bin")
            .unwrap();
        assert_eq!(b.bytes, b"<?xml base?>");
        assert_eq!(
            b.source,
            BaseSource::RawFile {
                path: "b.bin".into()
            }
        );
        for (bad, what) in [
            (&b""[..], "empty"),
            (b"DCM\x01PA30xxxxxxxx", "DCM-compressed"),
        ] {
            let e = BaseManifest::from_reader(&SliceSource::new(bad.to_vec()), "x").unwrap_err();
            assert!(
                matches!(&e, Error::Invalid { reason: m, .. } if m.contains(what)),
                "{e}"
            );
        }
        // "MZ" promises a PE: a broken one is a PE error, not a raw base.
        let e =
            BaseManifest::from_reader(&SliceSource::new(b"MZ\0\0".to_vec()), "w.dll").unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "{e}");
    }
}
