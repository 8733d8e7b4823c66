//! Any resource of a PE file by integer type id and name id: the resource directory tree
//! (type → name → language) walked with every offset checked, the data RVA mapped through the
//! section table.
//!
//! Why: Windows keeps the base that DCM-compressed component manifests are deltas against inside the
//! servicing stack's `wcp.dll`, as resource type 614, id 1 (see `docs/formats/wcp-base.md`). The tree
//! layout is the Microsoft PE/COFF specification's "The .rsrc Section" (Resource Directory Table,
//! Resource Directory Entries, Resource Data Entry). Lookups read only the headers, the directory
//! tables on the path and the data itself, so a `wcp.dll` inside a WIM image is never read whole.

use super::{headers, Layout};
use crate::io::{read_vec, Le, ReadAt};
use crate::{Error, Result};

/// `IMAGE_RESOURCE_DIRECTORY`: 16 bytes, the two entry counts at offsets 12 and 14.
const DIR_HEADER: u32 = 16;
/// `IMAGE_RESOURCE_DIRECTORY_ENTRY`: 8 bytes (name or id, offset to data or subdirectory).
const DIR_ENTRY: u32 = 8;
/// `IMAGE_RESOURCE_DATA_ENTRY`: 16 bytes (data RVA, size, code page, reserved).
const DATA_ENTRY: u32 = 16;
/// High bit of both entry words: "name string" in the first, "subdirectory" in the second.
const HIGH: u32 = 0x8000_0000;

/// Where one resource's data lies in its PE file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLocation {
    /// Resource type id (e.g. 16 for `RT_VERSION`, 614 for the DCM base manifest).
    pub type_id: u16,
    /// Resource name id.
    pub name_id: u16,
    /// Language id of the leaf that was chosen.
    pub language: u16,
    /// RVA of the data (`IMAGE_RESOURCE_DATA_ENTRY.OffsetToData`).
    pub rva: u32,
    /// File offset of the data (the RVA mapped through the section table).
    pub offset: u64,
    /// Size of the data in bytes.
    pub size: u32,
    /// The data entry's code page field.
    pub code_page: u32,
}

/// Find resource `type_id`/`name_id` and say where its data lies.
///
/// `language` picks that language's leaf; `None` takes the first leaf in file order (the only one
/// when the resource has one language). `Ok(None)`: a well-formed PE that has no such
/// resource (or no resources at all). Errors: not a PE, headers or section table out of the file, a
/// directory, entry or data entry outside the resource table, a data RVA outside every section's file
/// data, a tree whose levels are not directory → directory → data. Each error names the structure and
/// its file offset.
pub fn locate_resource(
    src: &dyn ReadAt,
    type_id: u16,
    name_id: u16,
    language: Option<u16>,
) -> Result<Option<ResourceLocation>> {
    let h = headers(src)?;
    let Some((base, size)) = h.resources else {
        return Ok(None);
    };
    let tree = Tree {
        l: &h.layout,
        base,
        size,
    };
    let Some(types) = tree.find(0, h.resources_at, Some(type_id))? else {
        return Ok(None);
    };
    let Some(names) = tree.find(tree.subdir(types)?, types.at, Some(name_id))? else {
        return Ok(None);
    };
    let Some(leaf) = tree.find(tree.subdir(names)?, names.at, language)? else {
        return Ok(None);
    };
    let entry = tree.data_entry(leaf)?;
    Ok(Some(ResourceLocation {
        type_id,
        name_id,
        ..entry
    }))
}

/// Read resource `type_id`/`name_id` (see [`locate_resource`]), refusing data larger than `limit`.
pub fn read_resource(
    src: &dyn ReadAt,
    type_id: u16,
    name_id: u16,
    language: Option<u16>,
    limit: u64,
) -> Result<Option<Vec<u8>>> {
    let Some(loc) = locate_resource(src, type_id, name_id, language)? else {
        return Ok(None);
    };
    read_vec(
        src,
        "PE resource data",
        loc.offset,
        u64::from(loc.size),
        limit,
    )
    .map(Some)
}

/// The bytes of resource `type_id`/`name_id` (first language) inside a PE image held in memory.
///
/// Borrowed from `image`, so nothing is copied or allocated for the data. Same errors as
/// [`locate_resource`].
pub fn find_resource(image: &[u8], type_id: u16, name_id: u16) -> Result<Option<&[u8]>> {
    find_resource_lang(image, type_id, name_id, None)
}

/// [`find_resource`] for one language (`None`: the first).
pub fn find_resource_lang(
    image: &[u8],
    type_id: u16,
    name_id: u16,
    language: Option<u16>,
) -> Result<Option<&[u8]>> {
    let Some(loc) = locate_resource(&Borrowed(image), type_id, name_id, language)? else {
        return Ok(None);
    };
    // locate_resource checked offset..offset+size against the image; `get` keeps that explicit.
    let start = usize::try_from(loc.offset).ok();
    let end = start.and_then(|s| s.checked_add(loc.size as usize));
    match (start, end) {
        (Some(s), Some(e)) => image.get(s..e).map(Some).ok_or(Error::Truncated {
            structure: "PE resource data",
            offset: loc.offset,
            end: loc.offset + u64::from(loc.size),
            size: image.len() as u64,
        }),
        _ => Err(Error::limit(
            loc.offset,
            usize::MAX,
            format!(
                "PE resource data at offset {} does not fit in memory",
                loc.offset
            ),
        )),
    }
}

/// A borrowed byte slice as a [`ReadAt`] (the crate's `SliceSource` owns its bytes).
struct Borrowed<'a>(&'a [u8]);

impl ReadAt for Borrowed<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = crate::io::check_range("read", offset, buf.len() as u64, self.size())?;
        buf.copy_from_slice(&self.0[offset as usize..end as usize]);
        Ok(())
    }
}

/// A section-mapping error located at the file offset of the field that held the bad RVA (the
/// section table reports the RVA itself, which is no file offset).
fn pointed_from(e: Error, from: u64) -> Error {
    match e {
        Error::Malformed {
            structure, reason, ..
        } => Error::Malformed {
            structure,
            offset: from,
            reason,
        },
        other => other,
    }
}

/// One directory entry: its two words and its file offset (for errors).
#[derive(Clone, Copy)]
struct Entry {
    name: u32,
    target: u32,
    at: u64,
}

/// The resource table: its RVA and size from data directory 2, read through the section table.
struct Tree<'a, 'b> {
    l: &'a Layout<'b>,
    base: u32,
    size: u32,
}

impl Tree<'_, '_> {
    /// File offset of `len` bytes at `rel` (relative to the table), which must lie inside the table
    /// and inside one section's file data. `from` is the file offset of the field that pointed here:
    /// errors carry it, since a bad pointer has no file offset of its own.
    fn at(&self, rel: u32, len: u32, what: &'static str, from: u64) -> Result<u64> {
        if u64::from(rel) + u64::from(len) > u64::from(self.size) {
            return Err(Error::malformed(
                what,
                from,
                format!(
                    "{len} bytes at {rel:#x} into the resource table run past its {} bytes",
                    self.size
                ),
            ));
        }
        let rva = self.base.checked_add(rel).ok_or_else(|| {
            Error::malformed(
                what,
                from,
                format!("resource table RVA {:#x} + {rel:#x} overflows", self.base),
            )
        })?;
        self.l
            .offset(rva, len, what)
            .map_err(|e| pointed_from(e, from))
    }

    /// In the directory at `dir` (relative to the table), the entry whose integer id is `want`,
    /// or the first entry when `want` is `None`.
    fn find(&self, dir: u32, from: u64, want: Option<u16>) -> Result<Option<Entry>> {
        const S: &str = "PE resource directory";
        let off = self.at(dir, DIR_HEADER, S, from)?;
        let hdr = read_vec(self.l.src, S, off, u64::from(DIR_HEADER), 16)?;
        let h = Le::at(&hdr, S, off);
        let named = u32::from(h.u16(12)?);
        let ids = u32::from(h.u16(14)?);
        // Two u16 counts: at most 131070 entries (1 MiB), and `at` bounds them by the table.
        let count = named + ids;
        // `at` above proved dir + 16 <= size, a u32: no overflow.
        let first = dir + DIR_HEADER;
        const E: &str = "PE resource directory entries";
        let entries_off = self.at(first, count * DIR_ENTRY, E, off)?;
        let entries = read_vec(
            self.l.src,
            E,
            entries_off,
            u64::from(count * DIR_ENTRY),
            u64::from(u16::MAX) * 2 * u64::from(DIR_ENTRY),
        )?;
        for (i, e) in entries.chunks_exact(DIR_ENTRY as usize).enumerate() {
            let e = Le::new(e, S);
            let (name, target) = (e.u32(0)?, e.u32(4)?);
            let hit = match want {
                None => true,
                // An integer id has the high bit clear; a set bit points to a name string instead.
                Some(id) => name & HIGH == 0 && name == u32::from(id),
            };
            if hit {
                return Ok(Some(Entry {
                    name,
                    target,
                    at: entries_off + i as u64 * u64::from(DIR_ENTRY),
                }));
            }
        }
        Ok(None)
    }

    /// The offset of a subdirectory, or an error when the entry points at data instead.
    fn subdir(&self, e: Entry) -> Result<u32> {
        if e.target & HIGH == 0 {
            return Err(Error::malformed(
                "PE resource directory entry",
                e.at,
                "points at a data entry where a type or name subdirectory belongs",
            ));
        }
        Ok(e.target & !HIGH)
    }

    /// The language-level leaf: an `IMAGE_RESOURCE_DATA_ENTRY` and where its data lies.
    fn data_entry(&self, leaf: Entry) -> Result<ResourceLocation> {
        const S: &str = "PE resource data entry";
        if leaf.target & HIGH != 0 {
            return Err(Error::malformed(
                "PE resource directory entry",
                leaf.at,
                "points at a fourth directory level where the language's data entry belongs",
            ));
        }
        let off = self.at(leaf.target, DATA_ENTRY, S, leaf.at)?;
        let e = read_vec(self.l.src, S, off, u64::from(DATA_ENTRY), 16)?;
        let e = Le::at(&e, S, off);
        let (rva, size, code_page) = (e.u32(0)?, e.u32(4)?, e.u32(8)?);
        let data = self
            .l
            .offset(rva, size, "PE resource data")
            .map_err(|e| pointed_from(e, off))?;
        Ok(ResourceLocation {
            type_id: 0,
            name_id: 0,
            // Language ids are 16-bit; a named language leaf (high bit set) has none.
            language: if leaf.name & HIGH == 0 {
                leaf.name as u16
            } else {
                0
            },
            rva,
            offset: data,
            size,
            code_page,
        })
    }
}
