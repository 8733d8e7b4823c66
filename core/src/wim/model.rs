//! The in-memory form of one WIM image's metadata: security descriptors and the directory tree.
//!
//! The reader decodes a metadata resource into an [`ImageTree`]; servicing edits it; the writer
//! serializes it back. Names are kept as raw UTF-16 so unpaired surrogates survive a round trip.

use crate::{Error, Result};

/// A SHA-1 blob identity; all zeros means "empty stream".
pub type Hash = [u8; 20];

/// The all-zero hash of an empty stream.
pub const ZERO_HASH: Hash = [0u8; 20];

/// FILE_ATTRIBUTE_* bits used by the core.
pub mod attr {
    /// Read-only.
    pub const READONLY: u32 = 0x1;
    /// Hidden.
    pub const HIDDEN: u32 = 0x2;
    /// System.
    pub const SYSTEM: u32 = 0x4;
    /// Directory.
    pub const DIRECTORY: u32 = 0x10;
    /// Archive.
    pub const ARCHIVE: u32 = 0x20;
    /// Normal (no other bits).
    pub const NORMAL: u32 = 0x80;
    /// Sparse.
    pub const SPARSE_FILE: u32 = 0x200;
    /// Reparse point.
    pub const REPARSE_POINT: u32 = 0x400;
    /// Compressed.
    pub const COMPRESSED: u32 = 0x800;
    /// Encrypted.
    pub const ENCRYPTED: u32 = 0x4000;
}

/// An alternate data stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedStream {
    /// Stream name (UTF-16, no NUL).
    pub name: Vec<u16>,
    /// Blob hash.
    pub hash: Hash,
}

/// One directory entry (one name of an inode; hard links are several dentries sharing a group id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dentry {
    /// Long name (UTF-16, no NUL). Empty for the root.
    pub name: Vec<u16>,
    /// DOS 8.3 name, often empty.
    pub short_name: Vec<u16>,
    /// FILE_ATTRIBUTE_* bits.
    pub attributes: u32,
    /// Index into [`ImageTree::security`], or -1.
    pub security_id: i32,
    /// FILETIME.
    pub creation_time: u64,
    /// FILETIME.
    pub last_access_time: u64,
    /// FILETIME.
    pub last_write_time: u64,
    /// Unknown field at dentry offset 0x54, preserved.
    pub unknown_0x54: u32,
    /// Hard-link group id (0 = not linked). Unused for reparse points.
    pub hard_link_group: u64,
    /// Reparse tag (reparse points only).
    pub reparse_tag: u32,
    /// Reparse reserved field (reparse points only).
    pub rp_reserved: u16,
    /// Reparse flags (reparse points only; bit 0 = not fixed).
    pub rp_flags: u16,
    /// Hash of the reparse data (REPARSE_DATA_BUFFER without its 8-byte header).
    pub reparse: Option<Hash>,
    /// Hash of the unnamed data stream (`None` for directories).
    pub data: Option<Hash>,
    /// Alternate data streams.
    pub named_streams: Vec<NamedStream>,
    /// Raw tagged items after the names (object ids, xattrs), preserved as read.
    pub tagged_items: Vec<u8>,
    /// Child indexes in [`ImageTree::nodes`] (directories only).
    pub children: Vec<usize>,
    /// Parent index (the root is its own parent).
    pub parent: usize,
}

impl Dentry {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.attributes & attr::DIRECTORY != 0
    }
    /// True for reparse points.
    pub fn is_reparse(&self) -> bool {
        self.attributes & attr::REPARSE_POINT != 0
    }
    /// The long name as a String (lossy only for unpaired surrogates).
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name)
    }
}

/// Security descriptors plus the dentry tree of one image; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageTree {
    /// Self-relative SECURITY_DESCRIPTORs, indexed by [`Dentry::security_id`].
    pub security: Vec<Vec<u8>>,
    /// Arena of dentries; index 0 is the root directory.
    pub nodes: Vec<Dentry>,
}

/// Case-insensitive comparison of two UTF-16 names the way Windows paths compare.
pub fn names_equal_ci(a: &[u16], b: &[u16]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || fold_u16(x) == fold_u16(y))
}

fn fold_u16(c: u16) -> u16 {
    match char::from_u32(c as u32) {
        Some(ch) => {
            let mut up = ch.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if (u as u32) <= 0xFFFF => u as u32 as u16,
                _ => c,
            }
        }
        None => c,
    }
}

impl ImageTree {
    /// A tree of only its root directory (no security descriptor), to be filled node by node with
    /// [`ImageTree::add_child`].
    pub fn with_root() -> Self {
        ImageTree {
            security: Vec::new(),
            nodes: vec![Dentry {
                attributes: attr::DIRECTORY,
                security_id: -1,
                ..Default::default()
            }],
        }
    }

    /// Add `d` as the last child of directory `parent` (its `parent` field is set); its index.
    pub fn add_child(&mut self, parent: usize, mut d: Dentry) -> usize {
        let idx = self.nodes.len();
        d.parent = parent;
        self.nodes.push(d);
        self.nodes[parent].children.push(idx);
        idx
    }

    /// The root dentry.
    pub fn root(&self) -> &Dentry {
        &self.nodes[0]
    }

    /// Find a child of `dir` by name, case-insensitively (exact match preferred).
    pub fn child(&self, dir: usize, name: &[u16]) -> Option<usize> {
        let d = self.nodes.get(dir)?;
        d.children
            .iter()
            .copied()
            .find(|&c| self.nodes[c].name == name)
            .or_else(|| {
                d.children
                    .iter()
                    .copied()
                    .find(|&c| names_equal_ci(&self.nodes[c].name, name))
            })
    }

    /// Resolve a path like `/Windows/System32/Recovery/Winre.wim` or `Windows\System32`
    /// case-insensitively. The empty path and `/` are the root.
    pub fn lookup(&self, path: &str) -> Result<usize> {
        let mut cur = 0usize;
        for comp in path.split(['/', '\\']).filter(|c| !c.is_empty()) {
            if comp == "." {
                continue;
            }
            if comp == ".." {
                return Err(Error::invalid(
                    "WIM image",
                    format!("'..' in image path {path}"),
                ));
            }
            let name: Vec<u16> = comp.encode_utf16().collect();
            cur = self
                .child(cur, &name)
                .ok_or_else(|| Error::not_found("image path", format!("{path} (no '{comp}')")))?;
        }
        Ok(cur)
    }

    /// The path of node `idx` with `/` separators, starting with `/`.
    pub fn path_of(&self, idx: usize) -> String {
        let mut parts = Vec::new();
        let mut cur = idx;
        let mut guard = 0;
        while cur != 0 && guard < self.nodes.len() {
            parts.push(self.nodes[cur].name_string());
            cur = self.nodes[cur].parent;
            guard += 1;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Visit every node depth-first (parents before children), root included.
    pub fn walk(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            out.push(i);
            for &c in self.nodes[i].children.iter().rev() {
                stack.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn lookup_case_insensitive() {
        let mut t = ImageTree::default();
        t.nodes.push(Dentry {
            attributes: attr::DIRECTORY,
            children: vec![1],
            ..Default::default()
        });
        t.nodes.push(Dentry {
            name: u("Windows"),
            attributes: attr::DIRECTORY,
            children: vec![2],
            parent: 0,
            ..Default::default()
        });
        t.nodes.push(Dentry {
            name: u("Ärger.txt"),
            parent: 1,
            data: Some(ZERO_HASH),
            ..Default::default()
        });
        assert_eq!(t.lookup("/WINDOWS/ärger.TXT").unwrap(), 2);
        assert_eq!(t.lookup("windows\\Ärger.txt").unwrap(), 2);
        assert!(t.lookup("/Windows/missing").is_err());
        assert!(t.lookup("/Windows/../x").is_err());
        assert_eq!(t.path_of(2), "/Windows/Ärger.txt");
        assert_eq!(t.walk(), vec![0, 1, 2]);
    }
}
