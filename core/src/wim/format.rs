//! Fixed on-disk structures of a WIM file: the 208-byte header, 24-byte resource headers and 50-byte
//! blob-table entries (all little-endian; see docs/formats.md §2.2 in the shared notes).

use crate::codec::Compression;
use crate::io::le::{array_at, u16_at, u32_at, u64_at};
use crate::io::Le;
use crate::{Error, Result};

/// Size of the WIM header.
pub const HEADER_SIZE: usize = 208;
/// Magic of a normal WIM.
pub const MAGIC: &[u8; 8] = b"MSWIM\0\0\0";
/// Magic of a wimlib pipable WIM.
pub const PIPABLE_MAGIC: &[u8; 8] = b"WLPWM\0\0\0";
/// Version of classic WIMs.
pub const VERSION_DEFAULT: u32 = 0x10D00;
/// Version of solid-capable WIMs (ESD).
pub const VERSION_SOLID: u32 = 0xE00;
/// Size of a blob-table entry.
pub const BLOB_ENTRY_SIZE: usize = 50;

/// Header flag bits.
pub mod flags {
    /// Resources may be compressed.
    pub const COMPRESSION: u32 = 0x2;
    /// Read-only.
    pub const READONLY: u32 = 0x4;
    /// Part of a split set.
    pub const SPANNED: u32 = 0x8;
    /// Resources only, no metadata.
    pub const RESOURCE_ONLY: u32 = 0x10;
    /// Metadata only.
    pub const METADATA_ONLY: u32 = 0x20;
    /// A writer has not finished: the file is incomplete.
    pub const WRITE_IN_PROGRESS: u32 = 0x40;
    /// Reparse-point fixups applied.
    pub const RP_FIX: u32 = 0x80;
    /// XPRESS compression.
    pub const XPRESS: u32 = 0x20000;
    /// LZX compression.
    pub const LZX: u32 = 0x40000;
    /// LZMS compression.
    pub const LZMS: u32 = 0x80000;
    /// Newer XPRESS variant (unknown layout).
    pub const XPRESS2: u32 = 0x200000;
}

/// Resource header flag bits.
pub mod resflags {
    /// Free (unused) space.
    pub const FREE: u8 = 0x01;
    /// Image metadata resource.
    pub const METADATA: u8 = 0x02;
    /// Compressed in chunks.
    pub const COMPRESSED: u8 = 0x04;
    /// Spanned across parts.
    pub const SPANNED: u8 = 0x08;
    /// Part of a solid resource.
    pub const SOLID: u8 = 0x10;
}

/// Uncompressed-size marker of a solid resource entry in the blob table.
pub const SOLID_RESOURCE_MARKER: u64 = 0x1_0000_0000;

/// A 24-byte resource header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResHdr {
    /// Bytes occupied in the file (56 bits).
    pub size_in_wim: u64,
    /// [`resflags`] bits.
    pub flags: u8,
    /// Offset in the file.
    pub offset: u64,
    /// Size after decompression.
    pub uncompressed_size: u64,
}

impl ResHdr {
    /// Parse 24 bytes.
    pub fn parse(b: &[u8; 24]) -> Self {
        // The reads are inside the 24-byte array, so none of them misses.
        ResHdr {
            size_in_wim: u64_at(b, 0).unwrap_or(0) & 0x00FF_FFFF_FFFF_FFFF,
            flags: b[7],
            offset: u64_at(b, 8).unwrap_or(0),
            uncompressed_size: u64_at(b, 16).unwrap_or(0),
        }
    }
    /// Serialize to 24 bytes.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..7].copy_from_slice(&self.size_in_wim.to_le_bytes()[..7]);
        b[7] = self.flags;
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.uncompressed_size.to_le_bytes());
        b
    }
    /// True when the resource is stored in chunks (or solid).
    pub fn is_compressed(&self) -> bool {
        self.flags & (resflags::COMPRESSED | resflags::SOLID) != 0
    }
    /// True when the header is all zeros (absent).
    pub fn is_empty(&self) -> bool {
        *self == ResHdr::default()
    }
}

/// The 208-byte WIM header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`] or [`PIPABLE_MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION_DEFAULT`] or [`VERSION_SOLID`].
    pub version: u32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Chunk size of non-solid compressed resources.
    pub chunk_size: u32,
    /// WIM GUID (shared by the parts of a split set).
    pub guid: [u8; 16],
    /// 1-based part number.
    pub part_number: u16,
    /// Number of parts.
    pub total_parts: u16,
    /// Number of images.
    pub image_count: u32,
    /// Blob table.
    pub blob_table: ResHdr,
    /// XML data.
    pub xml: ResHdr,
    /// Boot image metadata (copy) or zero.
    pub boot_metadata: ResHdr,
    /// 1-based boot index, 0 = none.
    pub boot_index: u32,
    /// Integrity table or zero.
    pub integrity: ResHdr,
}

impl Header {
    /// Parse and validate the fixed fields. `file_size` bounds every resource.
    pub fn parse(b: &[u8], file_size: u64) -> Result<Self> {
        if b.len() < HEADER_SIZE {
            return Err(Error::Truncated {
                structure: "WIM header",
                offset: 0,
                end: HEADER_SIZE as u64,
                size: b.len() as u64,
            });
        }
        let r = Le::new(b, "WIM header");
        let magic: [u8; 8] = r.array(0)?;
        if &magic != MAGIC && &magic != PIPABLE_MAGIC {
            return Err(Error::malformed(
                "WIM header",
                0,
                "not a WIM file (bad magic)",
            ));
        }
        if &magic == PIPABLE_MAGIC {
            return Err(Error::unsupported(
                "WIM",
                "pipable WIM (wimlib --pipable); convert it with `wimlib-imagex optimize`",
            ));
        }
        let hsize = r.u32(8)?;
        if hsize as usize != HEADER_SIZE {
            return Err(Error::malformed(
                "WIM header",
                8,
                format!("header size {hsize}, expected {HEADER_SIZE}"),
            ));
        }
        let rh = |o: usize| r.array::<24>(o).map(|a| ResHdr::parse(&a));
        let h = Header {
            magic,
            version: r.u32(0x0C)?,
            flags: r.u32(0x10)?,
            chunk_size: r.u32(0x14)?,
            guid: r.array(0x18)?,
            part_number: r.u16(0x28)?,
            total_parts: r.u16(0x2A)?,
            image_count: r.u32(0x2C)?,
            blob_table: rh(0x30)?,
            xml: rh(0x48)?,
            boot_metadata: rh(0x60)?,
            boot_index: r.u32(0x78)?,
            integrity: rh(0x7C)?,
        };
        if h.version != VERSION_DEFAULT && h.version != VERSION_SOLID {
            return Err(Error::unsupported(
                "WIM",
                format!("WIM version {:#x} (known: 0x10d00, 0xe00)", h.version),
            ));
        }
        if h.flags & flags::WRITE_IN_PROGRESS != 0 {
            return Err(Error::malformed(
                "WIM header",
                0x10,
                "the WRITE_IN_PROGRESS flag is set: a writer did not finish this file",
            ));
        }
        if h.part_number == 0 || h.total_parts == 0 || h.part_number > h.total_parts {
            return Err(Error::malformed(
                "WIM header",
                0x28,
                format!("part {} of {}", h.part_number, h.total_parts),
            ));
        }
        if h.image_count > 100_000 {
            return Err(Error::limit(
                h.image_count,
                100_000,
                format!("{} images in one WIM", h.image_count),
            ));
        }
        if h.flags & flags::COMPRESSION != 0 {
            let cs = h.chunk_size;
            if !(cs.is_power_of_two() && (4096..=(1 << 26)).contains(&cs)) {
                return Err(Error::malformed(
                    "WIM header",
                    0x14,
                    format!("chunk size {cs} is not a power of two between 4 KiB and 64 MiB"),
                ));
            }
        }
        if h.boot_index > h.image_count {
            return Err(Error::malformed(
                "WIM header",
                0x78,
                format!(
                    "boot index {} > image count {}",
                    h.boot_index, h.image_count
                ),
            ));
        }
        for (name, r) in [
            ("blob table", &h.blob_table),
            ("XML data", &h.xml),
            ("integrity table", &h.integrity),
        ] {
            if !r.is_empty()
                && r.offset
                    .checked_add(r.size_in_wim)
                    .is_none_or(|e| e > file_size)
            {
                return Err(Error::malformed(
                    "WIM header",
                    0x30,
                    format!(
                        "{name} at {}+{} lies beyond the end of the file ({file_size} bytes)",
                        r.offset, r.size_in_wim
                    ),
                ));
            }
        }
        Ok(h)
    }

    /// The compression of non-solid resources, from the flags.
    pub fn compression(&self) -> Result<Compression> {
        if self.flags & flags::COMPRESSION == 0 {
            return Ok(Compression::None);
        }
        let f = self.flags;
        Ok(if f & flags::LZX != 0 {
            Compression::Lzx
        } else if f & flags::XPRESS != 0 {
            Compression::Xpress
        } else if f & flags::LZMS != 0 {
            Compression::Lzms
        } else if f & flags::XPRESS2 != 0 {
            return Err(Error::unsupported("WIM", "XPRESS_2 compression flag"));
        } else {
            return Err(Error::malformed(
                "WIM header",
                0x10,
                "COMPRESSION flag set without a compression type",
            ));
        })
    }

    /// Serialize to 208 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[..8].copy_from_slice(&self.magic);
        b[8..12].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        b[0x0C..0x10].copy_from_slice(&self.version.to_le_bytes());
        b[0x10..0x14].copy_from_slice(&self.flags.to_le_bytes());
        b[0x14..0x18].copy_from_slice(&self.chunk_size.to_le_bytes());
        b[0x18..0x28].copy_from_slice(&self.guid);
        b[0x28..0x2A].copy_from_slice(&self.part_number.to_le_bytes());
        b[0x2A..0x2C].copy_from_slice(&self.total_parts.to_le_bytes());
        b[0x2C..0x30].copy_from_slice(&self.image_count.to_le_bytes());
        b[0x30..0x48].copy_from_slice(&self.blob_table.to_bytes());
        b[0x48..0x60].copy_from_slice(&self.xml.to_bytes());
        b[0x60..0x78].copy_from_slice(&self.boot_metadata.to_bytes());
        b[0x78..0x7C].copy_from_slice(&self.boot_index.to_le_bytes());
        b[0x7C..0x94].copy_from_slice(&self.integrity.to_bytes());
        b
    }
}

/// One 50-byte blob-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    /// Where the blob's resource is.
    pub res: ResHdr,
    /// Part number of a split set.
    pub part_number: u16,
    /// Reference count.
    pub refcnt: u32,
    /// SHA-1 of the uncompressed data.
    pub hash: [u8; 20],
}

impl BlobEntry {
    /// Parse 50 bytes ([`BLOB_ENTRY_SIZE`]); fields past the end of a shorter slice read as 0.
    pub fn parse(b: &[u8]) -> Self {
        BlobEntry {
            res: ResHdr::parse(&array_at(b, 0).unwrap_or_default()),
            part_number: u16_at(b, 24).unwrap_or(0),
            refcnt: u32_at(b, 26).unwrap_or(0),
            hash: array_at(b, 30).unwrap_or_default(),
        }
    }
    /// Serialize to 50 bytes.
    pub fn to_bytes(&self) -> [u8; BLOB_ENTRY_SIZE] {
        let mut b = [0u8; BLOB_ENTRY_SIZE];
        b[..24].copy_from_slice(&self.res.to_bytes());
        b[24..26].copy_from_slice(&self.part_number.to_le_bytes());
        b[26..30].copy_from_slice(&self.refcnt.to_le_bytes());
        b[30..50].copy_from_slice(&self.hash);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshdr_roundtrip() {
        let r = ResHdr {
            size_in_wim: 0x00AB_CDEF_0123_4567,
            flags: 0x14,
            offset: 0x1_0000_0000,
            uncompressed_size: 77,
        };
        assert_eq!(ResHdr::parse(&r.to_bytes()), r);
    }

    #[test]
    fn header_roundtrip_and_rejects() {
        let h = Header {
            magic: *MAGIC,
            version: VERSION_DEFAULT,
            flags: flags::COMPRESSION | flags::LZX,
            chunk_size: 32768,
            guid: [7; 16],
            part_number: 1,
            total_parts: 1,
            image_count: 2,
            blob_table: ResHdr {
                size_in_wim: 100,
                flags: resflags::METADATA,
                offset: 208,
                uncompressed_size: 100,
            },
            xml: ResHdr::default(),
            boot_metadata: ResHdr::default(),
            boot_index: 2,
            integrity: ResHdr::default(),
        };
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b, 1000).unwrap(), h);
        assert_eq!(h.compression().unwrap(), Compression::Lzx);
        assert!(Header::parse(&b, 300).is_err(), "blob table past EOF");
        let mut bad = b;
        bad[0] = b'X';
        assert!(Header::parse(&bad, 1000).is_err());
        let mut wip = h.clone();
        wip.flags |= flags::WRITE_IN_PROGRESS;
        assert!(Header::parse(&wip.to_bytes(), 1000).is_err());
        assert!(Header::parse(&b[..100], 1000).is_err());
    }
}
