//! Serializes an [`ImageTree`] into the uncompressed bytes of a WIM metadata resource, and computes
//! the per-image numbers the XML carries (DIRCOUNT, FILECOUNT, TOTALBYTES, HARDLINKBYTES) and the
//! blob reference counts the blob table needs.
//!
//! Layout (shared notes, formats.md §2.2): security data padded to 8, the root dentry followed by an
//! end-of-directory marker, then one children list per directory (every directory gets one, even an
//! empty one: just the 8-byte terminator). Children-list offsets are assigned in a first pass so the
//! second pass can write every dentry with its final `subdir_offset`. Streams follow the
//! DISM-compatible rule that wimlib ≥ 1.13 also writes: a lone unnamed stream goes into the dentry's
//! main hash; anything else (reparse points, alternate data streams) is listed as stream entries,
//! reparse stream first, then the unnamed data stream, then the named streams.

use std::collections::HashMap;

use crate::wim::model::{Hash, ImageTree, ZERO_HASH};
use crate::{Error, Result};

/// Fixed part of an on-disk dentry.
const DENTRY_FIXED: usize = 0x66;
/// Fixed part of an on-disk stream entry.
const STREAM_FIXED: usize = 0x26;
/// A name's byte count must fit the u16 `name_nbytes` field.
const MAX_NAME_UNITS: usize = (u16::MAX as usize) / 2;
/// `num_extra_streams` is a u16.
const MAX_STREAMS: usize = u16::MAX as usize;

fn round8(n: usize) -> usize {
    (n + 7) & !7
}

/// Counts for one image's `<IMAGE>` element, computed the way wimlib does (each hard-link name counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageStats {
    /// Directories, root included.
    pub dir_count: u64,
    /// Non-directories, counted once per hard-link name.
    pub file_count: u64,
    /// Σ over inodes of (sizes of all streams) × link count.
    pub total_bytes: u64,
    /// Σ over inodes of (sizes of all streams) × (link count − 1).
    pub hard_link_bytes: u64,
}

/// One stream of a dentry as it will be stored.
struct Stream<'a> {
    name: &'a [u16],
    hash: Hash,
}

/// The stored streams of node `i`: reparse stream, unnamed data stream, named streams.
fn streams_of(tree: &ImageTree, i: usize) -> Vec<Stream<'_>> {
    let d = &tree.nodes[i];
    let mut s = Vec::with_capacity(2 + d.named_streams.len());
    if d.is_reparse() {
        s.push(Stream {
            name: &[],
            hash: d.reparse.unwrap_or(ZERO_HASH),
        });
    }
    if !d.is_dir() {
        s.push(Stream {
            name: &[],
            hash: d.data.unwrap_or(ZERO_HASH),
        });
    }
    for ns in &d.named_streams {
        s.push(Stream {
            name: &ns.name,
            hash: ns.hash,
        });
    }
    s
}

/// True when the streams fit in the dentry's main hash alone (no stream entries).
fn main_hash_only(streams: &[Stream<'_>]) -> bool {
    streams.len() == 1 && streams[0].name.is_empty()
}

fn stream_entry_len(name: &[u16]) -> usize {
    let names = if name.is_empty() {
        0
    } else {
        name.len() * 2 + 2
    };
    round8(STREAM_FIXED + names)
}

/// Length of the dentry proper (the value of its `length` field).
fn dentry_len(tree: &ImageTree, i: usize) -> usize {
    let d = &tree.nodes[i];
    let mut n = DENTRY_FIXED;
    if !d.name.is_empty() {
        n += d.name.len() * 2 + 2;
    }
    if !d.short_name.is_empty() {
        n += d.short_name.len() * 2 + 2;
    }
    if d.tagged_items.is_empty() {
        round8(n)
    } else {
        round8(round8(n) + d.tagged_items.len())
    }
}

/// Bytes the dentry occupies including its stream entries.
fn dentry_total_len(tree: &ImageTree, i: usize) -> usize {
    let streams = streams_of(tree, i);
    let mut n = dentry_len(tree, i);
    if !main_hash_only(&streams) {
        n += streams
            .iter()
            .map(|s| stream_entry_len(s.name))
            .sum::<usize>();
    }
    n
}

/// A path for error messages that tolerates broken parent links (the writer never uses them).
fn describe(tree: &ImageTree, i: usize) -> String {
    let mut parts = Vec::new();
    let mut cur = i;
    while cur != 0 && parts.len() <= tree.nodes.len() {
        let Some(d) = tree.nodes.get(cur) else {
            parts.push("?".to_string());
            break;
        };
        parts.push(d.name_string());
        cur = d.parent;
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

/// Check the tree's shape: root is a directory, child indexes valid, each node reached once,
/// names and counts fit their on-disk fields, security ids valid.
pub fn validate_tree(tree: &ImageTree) -> Result<()> {
    let bad = |why: String| Err(Error::invalid("WIM image", format!("image tree: {why}")));
    let Some(root) = tree.nodes.first() else {
        return bad("no root node".into());
    };
    if !root.is_dir() {
        return bad("the root is not a directory".into());
    }
    if !root.name.is_empty() {
        return bad("the root has a name".into());
    }
    let mut seen = vec![false; tree.nodes.len()];
    seen[0] = true;
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        let d = &tree.nodes[i];
        if !d.children.is_empty() && !d.is_dir() {
            return bad(format!(
                "{} has children but is not a directory",
                describe(tree, i)
            ));
        }
        for &c in &d.children {
            match seen.get_mut(c) {
                None => return bad(format!("child index {c} out of range")),
                Some(true) => return bad(format!("node {c} is reachable twice")),
                Some(s) => *s = true,
            }
            stack.push(c);
        }
        if i != 0 && d.name.is_empty() {
            return bad(format!(
                "node {i} under {} has no name",
                describe(tree, d.parent)
            ));
        }
        if d.name.len() > MAX_NAME_UNITS || d.short_name.len() > MAX_NAME_UNITS {
            return bad(format!("name of node {i} is too long"));
        }
        if d.named_streams.len() + 2 > MAX_STREAMS {
            return bad(format!("{} has too many streams", describe(tree, i)));
        }
        for ns in &d.named_streams {
            if ns.name.is_empty() || ns.name.len() > MAX_NAME_UNITS {
                return bad(format!(
                    "{} has a stream with a bad name",
                    describe(tree, i)
                ));
            }
        }
        if d.security_id < -1
            || (d.security_id >= 0 && d.security_id as usize >= tree.security.len())
        {
            return bad(format!(
                "{} has security id {} but only {} descriptors exist",
                describe(tree, i),
                d.security_id,
                tree.security.len()
            ));
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return bad(format!("node {i} is not reachable from the root"));
    }
    Ok(())
}

/// Serialize the tree into the uncompressed metadata resource.
pub fn serialize_metadata(tree: &ImageTree) -> Result<Vec<u8>> {
    validate_tree(tree)?;
    let n = tree.nodes.len();

    // Security data.
    let sd_raw_len =
        8 + 8 * tree.security.len() + tree.security.iter().map(Vec::len).sum::<usize>();
    let sd_len = round8(sd_raw_len);
    if sd_len > u32::MAX as usize {
        return Err(Error::limit(
            sd_len,
            u32::MAX,
            "security data larger than 4 GiB",
        ));
    }

    // Pass 1: place the root, its terminator, then one children list per directory (pre-order).
    let mut subdir = vec![0u64; n];
    let mut pos = sd_len + dentry_total_len(tree, 0) + 8;
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        subdir[i] = pos as u64;
        let d = &tree.nodes[i];
        for &c in &d.children {
            pos += dentry_total_len(tree, c);
        }
        pos += 8;
        for &c in d.children.iter().rev() {
            if tree.nodes[c].is_dir() {
                stack.push(c);
            }
        }
    }
    let total = pos;

    // Pass 2: write.
    let mut out = vec![0u8; total];
    out[0..4].copy_from_slice(&(sd_len as u32).to_le_bytes());
    out[4..8].copy_from_slice(&(tree.security.len() as u32).to_le_bytes());
    let mut p = 8;
    for sd in &tree.security {
        out[p..p + 8].copy_from_slice(&(sd.len() as u64).to_le_bytes());
        p += 8;
    }
    for sd in &tree.security {
        out[p..p + sd.len()].copy_from_slice(sd);
        p += sd.len();
    }
    write_dentry(tree, 0, subdir[0], &mut out, sd_len);
    for i in 0..n {
        if !tree.nodes[i].is_dir() {
            continue;
        }
        let mut p = subdir[i] as usize;
        for &c in &tree.nodes[i].children {
            let sub = if tree.nodes[c].is_dir() { subdir[c] } else { 0 };
            p = write_dentry(tree, c, sub, &mut out, p);
        }
        // The 8-byte end-of-directory marker is already zero.
    }
    Ok(out)
}

/// Write node `i` (dentry plus stream entries) at `p`; returns the offset after it.
fn write_dentry(tree: &ImageTree, i: usize, subdir_offset: u64, out: &mut [u8], p: usize) -> usize {
    let d = &tree.nodes[i];
    let len = dentry_len(tree, i);
    let streams = streams_of(tree, i);
    let only_main = main_hash_only(&streams);
    let b = &mut out[p..p + len];
    b[0..8].copy_from_slice(&(len as u64).to_le_bytes());
    b[0x08..0x0C].copy_from_slice(&d.attributes.to_le_bytes());
    b[0x0C..0x10].copy_from_slice(&d.security_id.to_le_bytes());
    b[0x10..0x18].copy_from_slice(&subdir_offset.to_le_bytes());
    b[0x28..0x30].copy_from_slice(&d.creation_time.to_le_bytes());
    b[0x30..0x38].copy_from_slice(&d.last_access_time.to_le_bytes());
    b[0x38..0x40].copy_from_slice(&d.last_write_time.to_le_bytes());
    if only_main {
        b[0x40..0x54].copy_from_slice(&streams[0].hash);
    }
    b[0x54..0x58].copy_from_slice(&d.unknown_0x54.to_le_bytes());
    if d.is_reparse() {
        b[0x58..0x5C].copy_from_slice(&d.reparse_tag.to_le_bytes());
        b[0x5C..0x5E].copy_from_slice(&d.rp_reserved.to_le_bytes());
        b[0x5E..0x60].copy_from_slice(&d.rp_flags.to_le_bytes());
    } else {
        b[0x58..0x60].copy_from_slice(&d.hard_link_group.to_le_bytes());
    }
    let entries = if only_main { 0 } else { streams.len() };
    b[0x60..0x62].copy_from_slice(&(entries as u16).to_le_bytes());
    b[0x62..0x64].copy_from_slice(&((d.short_name.len() * 2) as u16).to_le_bytes());
    b[0x64..0x66].copy_from_slice(&((d.name.len() * 2) as u16).to_le_bytes());
    let mut q = DENTRY_FIXED;
    for name in [&d.name, &d.short_name] {
        if !name.is_empty() {
            for &u in name.iter() {
                b[q..q + 2].copy_from_slice(&u.to_le_bytes());
                q += 2;
            }
            q += 2; // NUL terminator (already zero)
        }
    }
    if !d.tagged_items.is_empty() {
        q = round8(q);
        b[q..q + d.tagged_items.len()].copy_from_slice(&d.tagged_items);
    }
    let mut p = p + len;
    if !only_main {
        for s in &streams {
            let el = stream_entry_len(s.name);
            let e = &mut out[p..p + el];
            e[0..8].copy_from_slice(&(el as u64).to_le_bytes());
            e[0x10..0x24].copy_from_slice(&s.hash);
            e[0x24..0x26].copy_from_slice(&((s.name.len() * 2) as u16).to_le_bytes());
            let mut q = STREAM_FIXED;
            for &u in s.name {
                e[q..q + 2].copy_from_slice(&u.to_le_bytes());
                q += 2;
            }
            p += el;
        }
    }
    p
}

/// Visit every stored stream hash of every dentry (one visit per hard-link name), skipping empty streams.
pub fn for_each_stream_ref(tree: &ImageTree, mut f: impl FnMut(&Hash)) {
    for i in 0..tree.nodes.len() {
        for s in streams_of(tree, i) {
            if s.hash != ZERO_HASH {
                f(&s.hash);
            }
        }
    }
}

/// Compute the XML counts of an image; `size_of` gives a blob's uncompressed size (unknown = 0).
///
/// Dentries with the same non-zero hard-link group id and the same data hash are one inode, as
/// readers group them; wimlib counts each name of an inode in DIRCOUNT/FILECOUNT.
pub fn image_stats(tree: &ImageTree, size_of: &dyn Fn(&Hash) -> u64) -> ImageStats {
    let mut st = ImageStats::default();
    let mut groups: HashMap<(u64, Hash), (u64, u64)> = HashMap::new(); // -> (nlink, bytes)
    for i in 0..tree.nodes.len() {
        let d = &tree.nodes[i];
        let bytes: u64 = streams_of(tree, i)
            .iter()
            .filter(|s| s.hash != ZERO_HASH)
            .map(|s| size_of(&s.hash))
            .fold(0u64, u64::saturating_add);
        if d.is_dir() {
            st.dir_count += 1;
        } else {
            st.file_count += 1;
        }
        if d.hard_link_group != 0 && !d.is_dir() && !d.is_reparse() {
            let e = groups
                .entry((d.hard_link_group, d.data.unwrap_or(ZERO_HASH)))
                .or_insert((0, bytes));
            e.0 += 1;
        } else {
            st.total_bytes = st.total_bytes.saturating_add(bytes);
        }
    }
    for (nlink, bytes) in groups.into_values() {
        st.total_bytes = st.total_bytes.saturating_add(bytes.saturating_mul(nlink));
        st.hard_link_bytes = st
            .hard_link_bytes
            .saturating_add(bytes.saturating_mul(nlink - 1));
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wim::model::{attr, Dentry, NamedStream};

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn tree() -> ImageTree {
        let mut t = ImageTree::default();
        t.nodes.push(Dentry {
            attributes: attr::DIRECTORY,
            security_id: -1,
            children: vec![1, 2],
            ..Default::default()
        });
        t.nodes.push(Dentry {
            name: u("a.txt"),
            attributes: attr::NORMAL,
            security_id: -1,
            data: Some([1; 20]),
            ..Default::default()
        });
        t.nodes.push(Dentry {
            name: u("d"),
            attributes: attr::DIRECTORY,
            security_id: -1,
            named_streams: vec![NamedStream {
                name: u("ads"),
                hash: [2; 20],
            }],
            ..Default::default()
        });
        t
    }

    #[test]
    fn layout_offsets() {
        let t = tree();
        let m = serialize_metadata(&t).unwrap();
        // Empty security data is just its 8-byte header.
        assert_eq!(&m[0..8], &[8, 0, 0, 0, 0, 0, 0, 0]);
        // Root: 104 bytes, then the terminator, then its children list.
        assert_eq!(u64::from_le_bytes(m[8..16].try_into().unwrap()), 104);
        assert_eq!(
            u64::from_le_bytes(m[24..32].try_into().unwrap()),
            8 + 104 + 8
        );
        // a.txt: main hash set, no stream entries.
        let a = 120;
        assert_eq!(&m[a + 0x40..a + 0x54], &[1; 20]);
        assert_eq!(&m[a + 0x60..a + 0x62], &[0, 0]);
        // d: one named stream entry, main hash zero.
        let d = a + 120;
        assert_eq!(&m[d + 0x40..d + 0x54], &[0; 20]);
        assert_eq!(&m[d + 0x60..d + 0x62], &[1, 0]);
        let st = image_stats(&t, &|_| 10);
        assert_eq!(st.dir_count, 2);
        assert_eq!(st.file_count, 1);
        assert_eq!(st.total_bytes, 20);
    }

    #[test]
    fn rejects_bad_trees() {
        let mut t = tree();
        t.nodes[0].children.push(1);
        assert!(serialize_metadata(&t).is_err());
        let mut t = tree();
        t.nodes[0].children.push(9);
        assert!(serialize_metadata(&t).is_err());
        let mut t = tree();
        t.nodes[1].security_id = 3;
        assert!(serialize_metadata(&t).is_err());
        assert!(serialize_metadata(&ImageTree::default()).is_err());
    }
}
