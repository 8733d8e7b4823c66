//! Opening what a user brings (ISO, WIM, ESD, a .swm set) as a stack of layers, and describing it.
//!
//! A layer path descends one container at a time: an ISO path (`/sources/install.wim`) or an
//! image path inside a WIM (`1:/Windows/System32/Recovery/Winre.wim`). Files inside layers are
//! themselves [`ReadAt`]s, so a nested Winre.wim is opened in place, never extracted.

mod facts;
mod inspect;
mod role;
mod version;

pub use facts::image_facts;
pub use inspect::{
    inspect, inspect_wim, ImageReport, Inspection, IsoLayout, IsoReport, WimReport, WinreReport,
};
pub use role::PeContent;
pub use version::{version_signals, VersionReport};

use crate::io::{ReadAt, SharedReader};
use crate::iso::{looks_like_iso, IsoImage};
use crate::wim::format::{MAGIC, PIPABLE_MAGIC};
use crate::wim::Wim;
use crate::{Error, Result};
use std::sync::Arc;

/// One opened container, or a plain file at the end of a layer path.
pub enum Node {
    /// An ISO image.
    Iso(Arc<IsoImage>),
    /// A WIM, ESD or split set.
    Wim(Arc<Wim>),
    /// A file that is neither (or the target of `extract`).
    File(SharedReader),
}

/// One row of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Name.
    pub name: String,
    /// True for directories (and WIM images at the top of a WIM).
    pub is_dir: bool,
    /// Size in bytes.
    pub size: u64,
}

/// True when `src` starts with a WIM magic.
pub fn looks_like_wim(src: &dyn ReadAt) -> bool {
    let mut m = [0u8; 8];
    src.size() >= 8 && src.read_at(0, &mut m).is_ok() && (&m == MAGIC || &m == PIPABLE_MAGIC)
}

/// Open one reader as whatever container it is.
pub fn open_node(src: SharedReader, name: &str) -> Result<Node> {
    if looks_like_wim(&*src) {
        return Ok(Node::Wim(Arc::new(Wim::open(src)?)));
    }
    if looks_like_iso(&*src) {
        return Ok(Node::Iso(Arc::new(IsoImage::open(src)?)));
    }
    Err(Error::invalid(
        "media",
        format!(
            "{name}: not an ISO, WIM, ESD or SWM file (no ISO 9660/UDF volume and no WIM header)"
        ),
    ))
}

/// Open the user's files: one container, or all parts of a split WIM.
pub fn open_files(files: Vec<(String, SharedReader)>) -> Result<(String, Node)> {
    match files.len() {
        0 => Err(Error::invalid("media", "no file given")),
        1 => {
            let (name, src) = files.into_iter().next().expect("one file");
            let node = open_node(src, &name)?;
            Ok((name, node))
        }
        _ => {
            if let Some((n, _)) = files.iter().find(|(_, s)| !looks_like_wim(&**s)) {
                return Err(Error::invalid(
                    "media",
                    format!(
                    "{n}: several files were given, so they must be the parts of one split WIM, \
                     but this one is not a WIM"
                ),
                ));
            }
            let name = files[0].0.clone();
            let wim = Wim::open_split(files.into_iter().map(|(_, s)| s).collect())?;
            Ok((name, Node::Wim(Arc::new(wim))))
        }
    }
}

/// Split an image layer `N:/path` into the 1-based index and the path.
pub fn parse_image_layer(layer: &str) -> Option<(u32, &str)> {
    let (n, rest) = layer.split_once(':')?;
    let idx: u32 = n.parse().ok()?;
    Some((idx, rest))
}

/// What a layer path ends on.
pub enum Target {
    /// A container (listable).
    Node(Node),
    /// A directory listing.
    Dir(Vec<Entry>),
    /// A file: its bytes, and (for WIM files) its SHA-1 to check while copying.
    File(SharedReader, Option<[u8; 20]>),
}

/// Follow `layers` from `start`.
pub fn descend(start: Node, layers: &[String]) -> Result<Target> {
    let mut node = start;
    for (i, layer) in layers.iter().enumerate() {
        let last = i + 1 == layers.len();
        let (reader, hash) = match &node {
            Node::Iso(iso) => {
                let st = iso.stat(layer)?;
                if st.is_dir {
                    if !last {
                        return Err(Error::invalid(
                            "media",
                            format!("{layer} is a directory, not a container"),
                        ));
                    }
                    let list = iso.list(layer)?;
                    return Ok(Target::Dir(
                        list.into_iter()
                            .map(|e| Entry {
                                name: e.name,
                                is_dir: e.is_dir,
                                size: e.size,
                            })
                            .collect(),
                    ));
                }
                (iso.open_file(layer)?, None)
            }
            Node::Wim(wim) => {
                let (idx, path) = parse_image_layer(layer).ok_or_else(|| {
                    Error::invalid(
                        "media",
                        format!(
                        "'{layer}': inside a WIM, a layer is IMAGE:PATH, e.g. 1:/Windows/System32"
                    ),
                    )
                })?;
                let tree = wim.image_tree(idx)?;
                let n = tree.lookup(path)?;
                let d = &tree.nodes[n];
                if d.is_dir() {
                    if !last {
                        return Err(Error::invalid(
                            "media",
                            format!("{layer} is a directory, not a container"),
                        ));
                    }
                    return Ok(Target::Dir(
                        d.children
                            .iter()
                            .map(|&c| {
                                let cd = &tree.nodes[c];
                                Entry {
                                    name: cd.name_string(),
                                    is_dir: cd.is_dir(),
                                    size: cd
                                        .data
                                        .and_then(|h| wim.blob(&h).map(|b| b.size))
                                        .unwrap_or(0),
                                }
                            })
                            .collect(),
                    ));
                }
                let r: SharedReader = Arc::new(wim.open_data(d)?);
                (r, d.data.filter(|h| *h != crate::wim::model::ZERO_HASH))
            }
            Node::File(_) => {
                return Err(Error::invalid(
                    "media",
                    format!("cannot descend into '{layer}': the previous layer is a plain file"),
                ))
            }
        };
        if last {
            return Ok(Target::File(reader, hash));
        }
        node = open_node(reader, layer)?;
    }
    Ok(Target::Node(node))
}

/// List what a node holds at its top: an ISO's root, or a WIM's images.
pub fn list_node(node: &Node) -> Result<Vec<Entry>> {
    Ok(match node {
        Node::Iso(iso) => iso
            .list("/")?
            .into_iter()
            .map(|e| Entry {
                name: e.name,
                is_dir: e.is_dir,
                size: e.size,
            })
            .collect(),
        Node::Wim(wim) => wim
            .images()
            .iter()
            .map(|i| Entry {
                name: format!("{}: {}", i.index, i.name.clone().unwrap_or_default()),
                is_dir: true,
                size: i.total_bytes.unwrap_or(0),
            })
            .collect(),
        Node::File(r) => vec![Entry {
            name: "(file)".into(),
            is_dir: false,
            size: r.size(),
        }],
    })
}

/// Copy a target file into `out`, checking the WIM blob SHA-1 when there is one.
pub fn copy_target(
    reader: &dyn ReadAt,
    expected_sha1: Option<[u8; 20]>,
    out: &mut dyn std::io::Write,
    progress: &dyn crate::io::Progress,
) -> Result<u64> {
    use sha1::{Digest, Sha1};
    let total = reader.size();
    let mut buf = vec![0u8; (256u64 << 10).min(total.max(1)) as usize];
    let mut h = Sha1::new();
    let mut off = 0u64;
    while off < total {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let n = (buf.len() as u64).min(total - off) as usize;
        reader.read_at(off, &mut buf[..n])?;
        for piece in buf[..n].chunks(crate::hash::FEED_PIECE) {
            h.update(piece);
        }
        out.write_all(&buf[..n])?;
        off += n as u64;
        progress.update("extract", off, total);
    }
    if let Some(want) = expected_sha1 {
        let got: [u8; 20] = h.finalize().into();
        if got != want {
            return Err(Error::DigestMismatch {
                what: "extracted file".into(),
                expected: crate::hash::hex(&want),
                actual: crate::hash::hex(&got),
            });
        }
    }
    Ok(total)
}
