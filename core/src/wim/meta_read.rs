//! Decoding an image's metadata resource (security data + dentry tree) into an [`ImageTree`].
//!
//! The input is the whole uncompressed resource, already SHA-1-checked by the caller. Every offset
//! and length in it is untrusted: directory lists are followed with an explicit stack (no recursion),
//! each list offset is visited once (so cycles end), and depth and node counts are bounded, so a
//! hostile file costs at most a bounded amount of time and memory.

use crate::io::Le;
use crate::wim::model::{attr, Dentry, Hash, ImageTree, NamedStream, ZERO_HASH};
use crate::{Error, Result};
use std::collections::HashSet;

/// Deepest directory nesting accepted (Windows images stay far below this).
pub const MAX_DEPTH: usize = 1024;
/// Most dentries accepted in one image.
pub const MAX_NODES: usize = 10_000_000;
/// Most security descriptors accepted in one image.
pub const MAX_SECURITY: u64 = 1_000_000;

const STRUCT: &str = "WIM metadata resource";
const DENTRY_FIXED: u64 = 0x66;
const STREAM_FIXED: u64 = 0x26;

fn align8(v: u64) -> Option<u64> {
    v.checked_add(7).map(|x| x & !7)
}

fn slice<'a>(buf: &'a [u8], off: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    let end = off
        .checked_add(len)
        .filter(|&e| e <= buf.len() as u64)
        .ok_or_else(|| {
            Error::malformed(
                STRUCT,
                off,
                format!(
                    "{what} ({len} bytes) runs past the end of the resource ({} bytes)",
                    buf.len()
                ),
            )
        })?;
    Ok(&buf[off as usize..end as usize])
}

fn utf16(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Parse the security data at the start of the resource; returns the descriptors and the offset
/// where the root dentry starts.
fn parse_security(buf: &[u8]) -> Result<(Vec<Vec<u8>>, u64)> {
    let head = Le::new(slice(buf, 0, 8, "security data header")?, STRUCT);
    let total = head.u32(0)? as u64;
    let count = head.u32(4)? as u64;
    // A zero length means "no security data"; the header itself still occupies 8 bytes.
    let total = total.max(8);
    if total > buf.len() as u64 {
        return Err(Error::malformed(
            STRUCT,
            0,
            format!(
                "security data claims {total} bytes but the resource has {}",
                buf.len()
            ),
        ));
    }
    if count > MAX_SECURITY || 8 + count * 8 > total {
        return Err(Error::malformed(
            STRUCT,
            4,
            format!("{count} security descriptors do not fit in {total} bytes"),
        ));
    }
    let sizes = slice(buf, 8, count * 8, "security descriptor sizes")?;
    let mut off = 8 + count * 8;
    let mut out = Vec::with_capacity(count as usize);
    for (i, s) in sizes.chunks_exact(8).enumerate() {
        let len = Le::at(s, STRUCT, 8 + i as u64 * 8).u64(0)?;
        let end = off.checked_add(len).filter(|&e| e <= total).ok_or_else(|| {
            Error::malformed(
                STRUCT,
                8 + i as u64 * 8,
                format!("security descriptor {i} ({len} bytes) runs past the security data ({total} bytes)"),
            )
        })?;
        out.push(buf[off as usize..end as usize].to_vec());
        off = end;
    }
    let root = align8(total).unwrap_or(u64::MAX);
    Ok((out, root))
}

/// One dentry as stored, before it is linked into the tree.
struct RawDentry {
    d: Dentry,
    subdir_offset: u64,
    /// Offset of the next sibling.
    next: u64,
}

/// Read the dentry at `off`; `None` for an end-of-directory marker.
fn read_dentry(buf: &[u8], off: u64, n_security: usize) -> Result<Option<RawDentry>> {
    let length = Le::at(slice(buf, off, 8, "dentry length")?, STRUCT, off).u64(0)?;
    if length <= 8 {
        return Ok(None);
    }
    if length < DENTRY_FIXED {
        return Err(Error::malformed(
            STRUCT,
            off,
            format!("dentry length {length} is shorter than the fixed part ({DENTRY_FIXED})"),
        ));
    }
    let body = slice(buf, off, length, "dentry")?;
    let f = Le::at(&body[..DENTRY_FIXED as usize], STRUCT, off);
    let attributes = f.u32(0x08)?;
    let security_id = f.u32(0x0C)? as i32;
    if security_id < -1 || (security_id >= 0 && security_id as usize >= n_security) {
        return Err(Error::malformed(
            STRUCT,
            off + 0x0C,
            format!("security id {security_id} but the image has {n_security} descriptors"),
        ));
    }
    let subdir_offset = f.u64(0x10)?;
    let main_hash: Hash = f.array(0x40)?;
    let unknown_0x54 = f.u32(0x54)?;
    let reparse_point = attributes & attr::REPARSE_POINT != 0;
    let num_streams = f.u16(0x60)? as u64;
    let short_nbytes = f.u16(0x62)? as u64;
    let name_nbytes = f.u16(0x64)? as u64;
    if name_nbytes % 2 != 0 || short_nbytes % 2 != 0 {
        return Err(Error::malformed(
            STRUCT,
            off + 0x62,
            format!("odd UTF-16 name length ({name_nbytes} / {short_nbytes} bytes)"),
        ));
    }
    let mut p = DENTRY_FIXED;
    let name = if name_nbytes > 0 {
        let n = utf16(slice(body, p, name_nbytes, "dentry name")?);
        p += name_nbytes + 2;
        n
    } else {
        Vec::new()
    };
    let short_name = if short_nbytes > 0 {
        let n = utf16(slice(body, p, short_nbytes, "dentry short name")?);
        p += short_nbytes + 2;
        n
    } else {
        Vec::new()
    };
    if p > length {
        return Err(Error::malformed(
            STRUCT,
            off,
            format!("dentry names end at {p}, past the dentry length {length}"),
        ));
    }
    let tag_start = align8(p).unwrap_or(u64::MAX);
    let tagged_items = if tag_start < length {
        body[tag_start as usize..length as usize].to_vec()
    } else {
        Vec::new()
    };

    // Stream entries follow the dentry, each 8-aligned.
    let mut sp =
        align8(off + length).ok_or_else(|| Error::malformed(STRUCT, off, "offset overflow"))?;
    let mut unnamed: Vec<Hash> = Vec::new();
    let mut named_streams = Vec::new();
    for i in 0..num_streams {
        let se_off = sp;
        let head = Le::at(
            slice(buf, se_off, STREAM_FIXED, "stream entry")?,
            STRUCT,
            se_off,
        );
        let se_len = head.u64(0)?;
        let nb = head.u16(0x24)? as u64;
        if nb % 2 != 0 || se_len < STREAM_FIXED || se_len < STREAM_FIXED + nb {
            return Err(Error::malformed(
                STRUCT,
                se_off,
                format!("stream entry {i}: length {se_len}, name {nb} bytes"),
            ));
        }
        slice(buf, se_off, se_len, "stream entry")?;
        let h: Hash = head.array(0x10)?;
        if nb == 0 {
            unnamed.push(h);
        } else {
            let name = utf16(slice(buf, se_off + STREAM_FIXED, nb, "stream name")?);
            named_streams.push(NamedStream { name, hash: h });
        }
        sp = align8(se_off + se_len)
            .ok_or_else(|| Error::malformed(STRUCT, se_off, "offset overflow"))?;
    }

    // DISM layout: a zero main hash with unnamed entries means the entries carry the unnamed
    // streams (reparse data first); otherwise the main hash is the first unnamed stream.
    let mut unnamed_iter: Vec<Hash> = Vec::new();
    if main_hash != ZERO_HASH || unnamed.is_empty() {
        unnamed_iter.push(main_hash);
    }
    unnamed_iter.extend(unnamed);
    let mut it = unnamed_iter.into_iter();
    let reparse = if reparse_point {
        Some(it.next().unwrap_or(ZERO_HASH))
    } else {
        None
    };
    let is_dir = attributes & attr::DIRECTORY != 0;
    let data = if is_dir {
        None
    } else {
        Some(it.next().unwrap_or(ZERO_HASH))
    };

    let (hard_link_group, reparse_tag, rp_reserved, rp_flags) = if reparse_point {
        (0, f.u32(0x58)?, f.u16(0x5C)?, f.u16(0x5E)?)
    } else {
        (f.u64(0x58)?, 0, 0, 0)
    };

    let d = Dentry {
        name,
        short_name,
        attributes,
        security_id,
        creation_time: f.u64(0x28)?,
        last_access_time: f.u64(0x30)?,
        last_write_time: f.u64(0x38)?,
        unknown_0x54,
        hard_link_group,
        reparse_tag,
        rp_reserved,
        rp_flags,
        reparse,
        data,
        named_streams,
        tagged_items,
        children: Vec::new(),
        parent: 0,
    };
    Ok(Some(RawDentry {
        d,
        subdir_offset,
        next: sp,
    }))
}

fn bad_name(name: &[u16]) -> Option<&'static str> {
    const DOT: u16 = b'.' as u16;
    if name.is_empty() {
        Some("an empty name")
    } else if name == [DOT] || name == [DOT, DOT] {
        Some("the name '.' or '..'")
    } else if name
        .iter()
        .any(|&c| c == 0 || c == b'/' as u16 || c == b'\\' as u16)
    {
        Some("a NUL or path separator in its name")
    } else {
        None
    }
}

/// Decode a whole metadata resource (uncompressed bytes) into an [`ImageTree`].
pub fn parse_metadata(buf: &[u8]) -> Result<ImageTree> {
    let (security, root_off) = parse_security(buf)?;
    let n_sec = security.len();
    let root = read_dentry(buf, root_off, n_sec)?
        .ok_or_else(|| Error::malformed(STRUCT, root_off, "the image has no root dentry"))?;
    if !root.d.is_dir() {
        return Err(Error::malformed(
            STRUCT,
            root_off,
            "the root dentry is not a directory",
        ));
    }
    // Every real dentry occupies at least its fixed part, so this bounds honest images exactly.
    let max_nodes = MAX_NODES.min(buf.len() / DENTRY_FIXED as usize + 1);
    let mut nodes = vec![root.d];
    let mut visited: HashSet<u64> = HashSet::new();
    // (node index, its children list offset, depth)
    let mut stack: Vec<(usize, u64, usize)> = Vec::new();
    if root.subdir_offset != 0 {
        stack.push((0, root.subdir_offset, 1));
    }
    while let Some((parent, list_off, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::limit(
                depth,
                MAX_DEPTH,
                format!("{STRUCT}: directories nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        if !visited.insert(list_off) {
            return Err(Error::malformed(
                STRUCT,
                list_off,
                "a directory list is referenced twice (cycle or shared subtree)",
            ));
        }
        let mut off = list_off;
        let mut names: HashSet<Vec<u16>> = HashSet::new();
        while let Some(raw) = read_dentry(buf, off, n_sec)? {
            if nodes.len() >= max_nodes {
                return Err(Error::limit(
                    nodes.len() + 1,
                    max_nodes,
                    format!(
                        "{STRUCT}: more than {max_nodes} dentries in {} bytes",
                        buf.len()
                    ),
                ));
            }
            if let Some(why) = bad_name(&raw.d.name) {
                return Err(Error::malformed(STRUCT, off, format!("dentry with {why}")));
            }
            if !names.insert(raw.d.name.clone()) {
                return Err(Error::malformed(
                    STRUCT,
                    off,
                    format!(
                        "duplicate name '{}' in directory {}",
                        String::from_utf16_lossy(&raw.d.name),
                        parent
                    ),
                ));
            }
            let idx = nodes.len();
            let mut d = raw.d;
            d.parent = parent;
            let is_dir = d.is_dir();
            nodes.push(d);
            nodes[parent].children.push(idx);
            if is_dir && raw.subdir_offset != 0 {
                stack.push((idx, raw.subdir_offset, depth + 1));
            }
            if raw.next <= off {
                return Err(Error::malformed(
                    STRUCT,
                    off,
                    "dentry list does not advance",
                ));
            }
            off = raw.next;
        }
    }
    Ok(ImageTree { security, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dentry(name: &str, attrs: u32, subdir: u64, hash: Hash) -> Vec<u8> {
        let n: Vec<u8> = name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut d = vec![0u8; DENTRY_FIXED as usize];
        d[0x08..0x0C].copy_from_slice(&attrs.to_le_bytes());
        d[0x0C..0x10].copy_from_slice(&(-1i32).to_le_bytes());
        d[0x10..0x18].copy_from_slice(&subdir.to_le_bytes());
        d[0x40..0x54].copy_from_slice(&hash);
        d[0x64..0x66].copy_from_slice(&(n.len() as u16).to_le_bytes());
        with_name(d, &n)
    }

    /// `fixed` with the UTF-16 `name` (and its terminator) appended, padded to 8 bytes, and its
    /// length in the first 8 bytes, as dentries and stream entries are laid out.
    fn with_name(mut fixed: Vec<u8>, name: &[u8]) -> Vec<u8> {
        fixed.extend_from_slice(name);
        if !name.is_empty() {
            fixed.extend_from_slice(&[0, 0]);
        }
        while fixed.len() % 8 != 0 {
            fixed.push(0);
        }
        let len = fixed.len() as u64;
        fixed[0..8].copy_from_slice(&len.to_le_bytes());
        fixed
    }

    #[test]
    fn small_tree_and_cycle() {
        // security: empty (8 bytes), root at 8
        let mut buf = vec![8, 0, 0, 0, 0, 0, 0, 0];
        let root = dentry("", attr::DIRECTORY, 0, ZERO_HASH);
        let root_len = root.len() as u64;
        let list = 8 + root_len + 8; // root, end marker of nothing, then list
        buf.extend(dentry("", attr::DIRECTORY, list, ZERO_HASH));
        buf.extend([0u8; 8]);
        buf.extend(dentry("a.txt", attr::ARCHIVE, 0, [1; 20]));
        let sub_at = buf.len() as u64;
        let sub = dentry("sub", attr::DIRECTORY, 0, ZERO_HASH);
        let sub_list = sub_at + sub.len() as u64 + 8;
        buf.extend(dentry("sub", attr::DIRECTORY, sub_list, ZERO_HASH));
        buf.extend([0u8; 8]);
        buf.extend(dentry("b", 0, 0, ZERO_HASH));
        buf.extend([0u8; 8]);
        let t = parse_metadata(&buf).unwrap();
        assert_eq!(t.nodes.len(), 4);
        assert_eq!(t.path_of(t.lookup("/sub/b").unwrap()), "/sub/b");
        assert_eq!(t.nodes[t.lookup("/a.txt").unwrap()].data, Some([1; 20]));
        assert_eq!(t.nodes[t.lookup("/sub").unwrap()].data, None);

        // Point "sub" back at the root's list: a cycle must be an error, not a hang.
        let mut cyc = buf.clone();
        let at = sub_at as usize + 0x10;
        cyc[at..at + 8].copy_from_slice(&list.to_le_bytes());
        assert!(parse_metadata(&cyc).is_err());

        // Every truncation fails cleanly.
        for cut in 0..buf.len() {
            let _ = parse_metadata(&buf[..cut]);
        }
    }

    fn stream_entry(name: &str, hash: Hash) -> Vec<u8> {
        let n: Vec<u8> = name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut e = vec![0u8; STREAM_FIXED as usize];
        e[0x10..0x24].copy_from_slice(&hash);
        e[0x24..0x26].copy_from_slice(&(n.len() as u16).to_le_bytes());
        with_name(e, &n)
    }

    /// One file in the root with the given main hash, attributes and stream entries.
    fn one_file(attrs: u32, main: Hash, streams: &[(&str, Hash)]) -> Dentry {
        let mut buf = vec![8, 0, 0, 0, 0, 0, 0, 0];
        let root_len = dentry("", attr::DIRECTORY, 0, ZERO_HASH).len() as u64;
        buf.extend(dentry("", attr::DIRECTORY, 8 + root_len, ZERO_HASH));
        let mut f = dentry("f", attrs, 0, main);
        f[0x60..0x62].copy_from_slice(&(streams.len() as u16).to_le_bytes());
        buf.extend(f);
        for (n, h) in streams {
            buf.extend(stream_entry(n, *h));
        }
        buf.extend([0u8; 8]);
        let t = parse_metadata(&buf).unwrap();
        t.nodes[1].clone()
    }

    #[test]
    fn dism_stream_rules() {
        let rp = attr::REPARSE_POINT | attr::ARCHIVE;
        // New layout: zero main hash, reparse then data in unnamed entries, plus an ADS.
        let d = one_file(
            rp,
            ZERO_HASH,
            &[("", [1; 20]), ("", [2; 20]), ("ads", [3; 20])],
        );
        assert_eq!(d.reparse, Some([1; 20]));
        assert_eq!(d.data, Some([2; 20]));
        assert_eq!(d.named_streams.len(), 1);
        assert_eq!(d.named_streams[0].hash, [3; 20]);
        // Old layout: reparse data in the main hash, data in an unnamed entry.
        let d = one_file(rp, [4; 20], &[("", [5; 20])]);
        assert_eq!((d.reparse, d.data), (Some([4; 20]), Some([5; 20])));
        // Plain file with only an ADS: the main hash is the unnamed stream.
        let d = one_file(attr::ARCHIVE, [6; 20], &[("x", [7; 20])]);
        assert_eq!((d.reparse, d.data), (None, Some([6; 20])));
        // Zero main hash and no unnamed entry: empty unnamed stream.
        let d = one_file(attr::ARCHIVE, ZERO_HASH, &[("x", [7; 20])]);
        assert_eq!(d.data, Some(ZERO_HASH));
    }
}
