//! CAB (MS-CAB) archives over [`ReadAt`]: our own directory parser, the `cab` crate for decoding.
//!
//! Why both: the `cab` crate (MIT) decodes MSZIP and LZX correctly, but trusts the directory it reads.
//! A file entry whose range lies past the end of its folder makes the crate index past its block
//! table (a panic), and its names are decoded lossily. So this module walks the header, folders,
//! file entries and every CFDATA block header itself, bounded and checked, and only hands the crate
//! member reads that the directory proved to be in range. The crate never sees a request it could
//! turn into a panic, and every rejection here names the structure and offset.
//!
//! Two read paths: [`CabArchive::read`]/[`CabArchive::stream`] fetch one member through the crate
//! (it restarts decoding at the folder's first block for each member, fine for a few reads), and
//! [`CabArchive::stream_members`] decodes each folder once, in order, with `lzxd` and `flate2`
//! directly, for reading many members (all manifests at open, all payloads in verification) in
//! linear time. Tests check both paths against `cabextract` and each other.
//!
//! Layout facts: formats.md §4.1. Quantum folders are listed but reading them is
//! [`Error::Unsupported`]; spanned cabinet sets (files continued from/into another cabinet) too.

use std::io::{Read, Seek, SeekFrom};

use crate::io::{check_range, Le, ReadAt, SharedReader};
use crate::package::names;
use crate::{Error, Result};

/// Size of the fixed CFHEADER.
const HEADER_LEN: u64 = 36;
/// Flag: a previous cabinet exists (strings follow the header).
const FLAG_PREV: u16 = 1;
/// Flag: a next cabinet exists.
const FLAG_NEXT: u16 = 2;
/// Flag: reserve fields are present.
const FLAG_RESERVE: u16 = 4;
/// Most bytes a CFDATA block may expand to (MS-CAB).
const MAX_BLOCK_UNCOMPRESSED: u16 = 32768;
/// Attribute bit: the name is UTF-8.
const ATTR_NAME_UTF8: u16 = 0x80;
/// Most CFDATA blocks kept in the directory (≈ 128 GiB of data at 32 KiB per block).
const MAX_TOTAL_BLOCKS: u64 = 4 << 20;
/// Piece size for streaming member reads.
const STREAM_PIECE: usize = 64 * 1024;

/// How a folder's data is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FolderCompression {
    /// Stored.
    None,
    /// MSZIP (deflate blocks with a carried dictionary).
    MsZip,
    /// Quantum (legacy; listed, not decoded).
    Quantum {
        /// Level (1–7).
        level: u8,
        /// Window bits (10–21).
        window_bits: u8,
    },
    /// LZX with a 2^`window_bits` window.
    Lzx {
        /// Window bits (15–21).
        window_bits: u8,
    },
}

impl FolderCompression {
    fn parse(raw: u16, offset: u64) -> Result<Self> {
        let bits = ((raw >> 8) & 0x1f) as u8;
        match raw & 0x0f {
            0 => Ok(FolderCompression::None),
            1 => Ok(FolderCompression::MsZip),
            2 => Ok(FolderCompression::Quantum {
                level: ((raw >> 4) & 0x0f) as u8,
                window_bits: bits,
            }),
            3 if (15..=21).contains(&bits) => Ok(FolderCompression::Lzx { window_bits: bits }),
            3 => Err(Error::malformed(
                "CAB folder",
                offset,
                format!("LZX window of {bits} bits is outside 15..=21"),
            )),
            other => Err(Error::malformed(
                "CAB folder",
                offset,
                format!("unknown compression type {other} (0x{raw:04x})"),
            )),
        }
    }

    /// Short display name ("MSZIP", "LZX:21", ...).
    pub fn label(&self) -> String {
        match self {
            FolderCompression::None => "none".into(),
            FolderCompression::MsZip => "MSZIP".into(),
            FolderCompression::Quantum { level, window_bits } => {
                format!("Quantum:{level}:{window_bits}")
            }
            FolderCompression::Lzx { window_bits } => format!("LZX:{window_bits}"),
        }
    }
}

/// One CFDATA block, as found by walking the folder.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Offset of the block's payload in the cabinet.
    data_offset: u64,
    /// Bytes of payload (compressed).
    compressed_len: u16,
    /// Uncompressed offset of the block's first byte within the folder.
    start: u64,
    /// Uncompressed length.
    len: u32,
}

/// One folder (compression unit).
#[derive(Debug, Clone)]
pub struct CabFolder {
    /// Compression of the folder's blocks.
    pub compression: FolderCompression,
    /// Number of CFDATA blocks.
    pub blocks: u16,
    /// Total uncompressed bytes of all blocks.
    pub uncompressed_size: u64,
    /// Block table (stored folders are read in place through it; compressed ones decoded in order).
    blocks_table: Vec<Block>,
}

/// One file entry (member).
#[derive(Debug, Clone)]
pub struct CabFile {
    /// Decoded name (UTF-8 when flagged, else UTF-8 if valid, else Latin-1).
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// Offset inside the folder's uncompressed stream.
    pub offset_in_folder: u64,
    /// Index of the folder.
    pub folder: u16,
    /// Raw attribute bits.
    pub attributes: u16,
    /// DOS date and time (MS-CAB stores local time; taken as UTC).
    pub dos_time: (u16, u16),
    /// Name as the `cab` crate sees it (lossy UTF-8), used to address the crate.
    crate_name: String,
}

/// A parsed cabinet: directory in memory, data read on demand from the source.
pub struct CabArchive {
    src: SharedReader,
    /// Folders, in order.
    pub folders: Vec<CabFolder>,
    /// Files, in directory order.
    pub files: Vec<CabFile>,
    /// Set id (spanned sets).
    pub set_id: u16,
    /// Index within the set.
    pub set_index: u16,
    /// Non-fatal findings (e.g. a size field that disagrees with the file).
    pub notes: Vec<String>,
}

impl Default for CabArchive {
    /// An archive with no members over no bytes: what a [`crate::package::Package`] read back
    /// from its JSON report holds (the report lists members; their bytes stay in the file).
    fn default() -> Self {
        CabArchive {
            src: std::sync::Arc::new(crate::io::SliceSource::new(Vec::new())),
            folders: Vec::new(),
            files: Vec::new(),
            set_id: 0,
            set_index: 0,
            notes: Vec::new(),
        }
    }
}

/// Read a NUL-terminated string of at most 255 bytes at `offset`; returns bytes and the offset after NUL.
fn read_cstr(src: &dyn ReadAt, structure: &'static str, offset: u64) -> Result<(Vec<u8>, u64)> {
    let avail = src.size().saturating_sub(offset).min(256);
    if avail == 0 {
        return Err(Error::Truncated {
            structure,
            offset,
            end: offset.saturating_add(1),
            size: src.size(),
        });
    }
    let mut buf = vec![0u8; avail as usize];
    src.read_at(offset, &mut buf)?;
    match buf.iter().position(|&b| b == 0) {
        Some(n) => {
            buf.truncate(n);
            Ok((buf, offset + n as u64 + 1))
        }
        None if avail < 256 => Err(Error::Truncated {
            structure,
            offset,
            end: offset + avail + 1,
            size: src.size(),
        }),
        None => Err(Error::malformed(
            structure,
            offset,
            "string longer than 255 bytes",
        )),
    }
}

fn decode_name(raw: &[u8], utf8_flag: bool) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) if utf8_flag => String::from_utf8_lossy(raw).into_owned(),
        // Names without the UTF-8 flag are in the packager's code page; Latin-1 is the lossless choice.
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    }
}

impl CabArchive {
    /// A directory with no folders and no files over `src`: what a package that is not a CAB (a
    /// WIM-format `.msu`) holds, so that [`CabArchive::source`] still names its bytes.
    pub(crate) fn without_members(src: SharedReader) -> CabArchive {
        CabArchive {
            src,
            folders: Vec::new(),
            files: Vec::new(),
            set_id: 0,
            set_index: 0,
            notes: Vec::new(),
        }
    }

    /// Parse the cabinet's directory and walk every folder's block headers.
    pub fn open(src: SharedReader) -> Result<CabArchive> {
        let size = src.size();
        let mut hdr = [0u8; HEADER_LEN as usize];
        check_range("CAB header", 0, HEADER_LEN, size)?;
        src.read_at(0, &mut hdr)?;
        if &hdr[0..4] != b"MSCF" {
            return Err(Error::malformed("CAB header", 0, "signature is not MSCF"));
        }
        let mut notes = Vec::new();
        let h = Le::new(&hdr, "CAB header");
        let cb_cabinet = h.u32(8)? as u64;
        let coff_files = h.u32(16)? as u64;
        let (minor, major) = (hdr[24], hdr[25]);
        let n_folders = h.u16(26)?;
        let n_files = h.u16(28)?;
        let flags = h.u16(30)?;
        let set_id = h.u16(32)?;
        let set_index = h.u16(34)?;
        if major != 1 {
            return Err(Error::malformed(
                "CAB header",
                24,
                format!("version {major}.{minor}: not a CAB 1.x header"),
            ));
        }
        if minor > 3 {
            return Err(Error::unsupported(
                "CAB",
                format!("CAB version {major}.{minor} (only 1.x up to 1.3 exists)"),
            ));
        }
        if cb_cabinet != size {
            notes.push(format!(
                "CAB header says {cb_cabinet} bytes, the file has {size}"
            ));
        }
        if n_folders == 0 {
            return Err(Error::malformed("CAB header", 26, "no folders"));
        }
        if n_files == 0 {
            return Err(Error::malformed("CAB header", 28, "no files"));
        }
        let mut pos = HEADER_LEN;
        let (mut folder_reserve, mut data_reserve) = (0u64, 0u64);
        if flags & FLAG_RESERVE != 0 {
            let mut r = [0u8; 4];
            check_range("CAB reserve header", pos, 4, size)?;
            src.read_at(pos, &mut r)?;
            let header_reserve = Le::at(&r, "CAB reserve header", pos).u16(0)? as u64;
            if header_reserve > 60_000 {
                return Err(Error::malformed(
                    "CAB reserve header",
                    pos,
                    format!("header reserve of {header_reserve} bytes exceeds 60000"),
                ));
            }
            folder_reserve = r[2] as u64;
            data_reserve = r[3] as u64;
            pos += 4;
            check_range("CAB header reserve", pos, header_reserve, size)?;
            pos += header_reserve;
        }
        for (flag, what) in [(FLAG_PREV, "previous"), (FLAG_NEXT, "next")] {
            if flags & flag != 0 {
                let (cab_name, after) = read_cstr(&*src, "CAB spanning name", pos)?;
                let (_disk, after) = read_cstr(&*src, "CAB spanning disk", after)?;
                notes.push(format!(
                    "part of a spanned set; {what} cabinet is {:?}",
                    String::from_utf8_lossy(&cab_name)
                ));
                pos = after;
            }
        }

        let folder_len = 8 + folder_reserve;
        let table_len = folder_len * n_folders as u64;
        let table = crate::io::read_vec(&*src, "CAB folder table", pos, table_len, 1 << 24)?;
        let mut folders: Vec<CabFolder> = Vec::with_capacity(n_folders as usize);
        let mut total_blocks = 0u64;
        for i in 0..n_folders as usize {
            let at = i * folder_len as usize;
            let f_off = pos + at as u64;
            let t = Le::at(&table, "CAB folder table", pos);
            let first_data = t.u32(at)? as u64;
            let blocks = t.u16(at + 4)?;
            let compression = FolderCompression::parse(t.u16(at + 6)?, f_off)?;
            let walked = walk_blocks(
                &*src,
                first_data,
                blocks,
                data_reserve,
                compression == FolderCompression::None,
            );
            let (uncompressed_size, blocks_table) = match walked {
                // The first folder of a continuation cabinet starts mid-block.
                Err(Error::Malformed { reason, .. }) if i == 0 && flags & FLAG_PREV != 0 => {
                    return Err(Error::unsupported("CAB", format!(
                        "the first folder continues from the previous cabinet of a spanned set ({reason})"
                    )))
                }
                other => other?,
            };
            total_blocks += blocks_table.len() as u64;
            if total_blocks > MAX_TOTAL_BLOCKS {
                return Err(Error::limit(
                    total_blocks,
                    MAX_TOTAL_BLOCKS,
                    format!("CAB has more than {MAX_TOTAL_BLOCKS} data blocks"),
                ));
            }
            folders.push(CabFolder {
                compression,
                blocks,
                uncompressed_size,
                blocks_table,
            });
        }

        // Some readers take the file table from coffFiles, others read on after the folder table; a
        // cabinet where the two differ shows different members to different tools ("hidden files").
        let folders_end = pos + table_len;
        if coff_files != folders_end {
            return Err(Error::malformed(
                "CAB header",
                16,
                format!(
                    "file table offset {coff_files} is not where the folder table ends ({folders_end})"
                ),
            ));
        }
        let mut files = Vec::with_capacity(n_files as usize);
        let mut at = coff_files;
        for _ in 0..n_files {
            let mut fixed = [0u8; 16];
            check_range("CAB file entry", at, 16, size)?;
            src.read_at(at, &mut fixed)?;
            let entry_off = at;
            let e = Le::at(&fixed, "CAB file entry", at);
            let size_field = e.u32(0)? as u64;
            let offset_in_folder = e.u32(4)? as u64;
            let folder = e.u16(8)?;
            let attributes = e.u16(14)?;
            let dos_time = (e.u16(10)?, e.u16(12)?);
            let (raw, after) = read_cstr(&*src, "CAB file name", at + 16)?;
            at = after;
            let name = decode_name(&raw, attributes & ATTR_NAME_UTF8 != 0);
            if folder >= 0xFFFD {
                return Err(Error::unsupported("CAB", format!(
                    "CAB member {name:?} at offset {entry_off} continues across cabinets (spanned sets are not supported)"
                )));
            }
            let Some(f) = folders.get(folder as usize) else {
                return Err(Error::malformed(
                    "CAB file entry",
                    entry_off,
                    format!("member {name:?} names folder {folder} of {n_folders}"),
                ));
            };
            let end = offset_in_folder.saturating_add(size_field);
            if end > f.uncompressed_size {
                return Err(Error::malformed(
                    "CAB file entry",
                    entry_off,
                    format!(
                        "member {name:?} spans bytes {offset_in_folder}..{end} of folder {folder}, which holds only {}",
                        f.uncompressed_size
                    ),
                ));
            }
            names::check_relative_path(&name, "CAB member")?;
            files.push(CabFile {
                name,
                size: size_field,
                offset_in_folder,
                folder,
                attributes,
                dos_time,
                crate_name: String::from_utf8_lossy(&raw).into_owned(),
            });
        }
        Ok(CabArchive {
            src,
            folders,
            files,
            set_id,
            set_index,
            notes,
        })
    }

    /// The newest member time as a FILETIME (`None` when no member has a valid DOS date): the
    /// package's own time, used instead of the clock so that output is reproducible.
    pub fn newest_time(&self) -> Option<u64> {
        self.files
            .iter()
            .filter_map(|f| super::dostime::dos_to_filetime(f.dos_time.0, f.dos_time.1))
            .max()
    }

    /// The source the archive reads from.
    pub fn source(&self) -> &SharedReader {
        &self.src
    }

    /// Index of a member by name: exact match first, then a unique case-insensitive match with
    /// either separator.
    pub fn find(&self, name: &str) -> Option<usize> {
        names::find(self.files.iter().map(|f| f.name.as_str()), name)
    }

    /// Read a whole member into memory, refusing members larger than `limit`.
    pub fn read(&self, index: usize, limit: u64) -> Result<Vec<u8>> {
        let file = self.file(index)?;
        if file.size > limit {
            return Err(Error::limit(
                file.size,
                limit,
                format!(
                    "CAB member {:?} is {} bytes; the limit here is {limit}",
                    file.name, file.size
                ),
            ));
        }
        let mut out = Vec::with_capacity(file.size as usize);
        self.stream(index, &mut |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })?;
        Ok(out)
    }

    /// Feed a member's bytes to `sink` in pieces of at most 64 KiB; memory stays bounded.
    pub fn stream(&self, index: usize, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let file = self.file(index)?.clone();
        let folder = self
            .folders
            .get(file.folder as usize)
            .ok_or_else(|| Error::not_found("CAB folder", format!("folder {}", file.folder)))?;
        if file.size == 0 {
            return Ok(());
        }
        match folder.compression {
            FolderCompression::Quantum { .. } => Err(Error::unsupported("CAB", format!(
                "CAB member {:?} is in a Quantum-compressed folder; Quantum is a legacy codec mediaprep does not decode",
                file.name
            ))),
            FolderCompression::None => self.stream_stored(folder, &file, sink),
            _ => self.stream_decoded(index, &file, sink),
        }
    }

    /// A reader over a member of a stored (uncompressed) folder, without copying it: this is how an
    /// MSU's inner CABs are opened in place. `None` if the member's folder is compressed.
    pub fn member_reader(&self, index: usize) -> Option<SharedReader> {
        let file = self.files.get(index)?;
        let folder = self.folders.get(file.folder as usize)?;
        if folder.compression != FolderCompression::None {
            return None;
        }
        Some(std::sync::Arc::new(StoredMember {
            src: self.src.clone(),
            blocks: folder.blocks_table.clone(),
            start: file.offset_in_folder,
            len: file.size,
        }))
    }

    fn file(&self, index: usize) -> Result<&CabFile> {
        self.files
            .get(index)
            .ok_or_else(|| Error::not_found("CAB member", format!("CAB member #{index}")))
    }

    fn stream_stored(
        &self,
        folder: &CabFolder,
        file: &CabFile,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let member = StoredMember {
            src: self.src.clone(),
            blocks: folder.blocks_table.clone(),
            start: file.offset_in_folder,
            len: file.size,
        };
        let mut buf = vec![0u8; STREAM_PIECE.min(file.size as usize)];
        let mut off = 0u64;
        while off < file.size {
            let n = (file.size - off).min(buf.len() as u64) as usize;
            member.read_at(off, &mut buf[..n])?;
            sink(&buf[..n])?;
            off += n as u64;
        }
        Ok(())
    }

    fn stream_decoded(
        &self,
        index: usize,
        file: &CabFile,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        // The crate addresses members by (lossy) name and takes the first match; make sure that is ours.
        let first = self
            .files
            .iter()
            .position(|f| f.crate_name == file.crate_name);
        if first != Some(index) {
            return Err(Error::unsupported("CAB", format!(
                "CAB member {:?} shares its name with an earlier member; only the first can be decoded",
                file.name
            )));
        }
        let io_err = |e: std::io::Error| {
            let msg = e.to_string();
            if msg.contains("Quantum") {
                Error::unsupported("CAB", format!("CAB member {:?}: {msg}", file.name))
            } else {
                Error::codec("CAB", format!("member {:?}: {msg}", file.name))
            }
        };
        let cursor = Cursor::new(self.src.clone());
        let mut cab = cab::Cabinet::new(cursor).map_err(io_err)?;
        let mut reader = cab.read_file(&file.crate_name).map_err(io_err)?;
        let mut buf = vec![0u8; STREAM_PIECE.min(file.size as usize)];
        let mut done = 0u64;
        while done < file.size {
            let want = (file.size - done).min(buf.len() as u64) as usize;
            let n = reader.read(&mut buf[..want]).map_err(io_err)?;
            if n == 0 {
                return Err(Error::codec(
                    "CAB",
                    format!(
                        "member {:?} ended after {done} of {} bytes",
                        file.name, file.size
                    ),
                ));
            }
            sink(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Decodes one folder's blocks in order: one decoder state per folder, so a whole folder costs one
/// pass. (The `cab` crate restarts its decoder from the folder's first block for every member, which
/// makes reading all members of a big folder quadratic; verification reads them all.)
struct FolderDecoder {
    kind: DecoderKind,
}

enum DecoderKind {
    Stored,
    MsZip {
        inflate: flate2::Decompress,
        dictionary: Vec<u8>,
    },
    Lzx(Box<lzxd::Lzxd>),
}

/// MSZIP's preset dictionary is the previous block's last 32 KiB.
const MSZIP_DICT: usize = 32768;

impl FolderDecoder {
    fn new(compression: FolderCompression, name: &str) -> Result<Self> {
        let kind = match compression {
            FolderCompression::None => DecoderKind::Stored,
            FolderCompression::MsZip => DecoderKind::MsZip {
                inflate: flate2::Decompress::new(false),
                dictionary: Vec::new(),
            },
            FolderCompression::Lzx { window_bits } => {
                use lzxd::WindowSize as W;
                let w = match window_bits {
                    15 => W::KB32,
                    16 => W::KB64,
                    17 => W::KB128,
                    18 => W::KB256,
                    19 => W::KB512,
                    20 => W::MB1,
                    _ => W::MB2,
                };
                DecoderKind::Lzx(Box::new(lzxd::Lzxd::new(w)))
            }
            FolderCompression::Quantum { .. } => {
                return Err(Error::unsupported("CAB", format!(
                    "CAB member {name:?} is in a Quantum-compressed folder; Quantum is a legacy codec mediaprep does not decode"
                )))
            }
        };
        Ok(FolderDecoder { kind })
    }

    /// Decode one block (`input` = its payload) into exactly `len` bytes appended to `out`.
    fn block(&mut self, input: &[u8], len: usize, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        match &mut self.kind {
            DecoderKind::Stored => out.extend_from_slice(input),
            DecoderKind::MsZip {
                inflate,
                dictionary,
            } => {
                let body = input
                    .strip_prefix(b"CK")
                    .ok_or_else(|| Error::codec("MSZIP", "block does not start with 'CK'"))?;
                inflate.reset(false);
                if !dictionary.is_empty() {
                    // Prime the window with the dictionary as a non-final stored deflate block.
                    let n = dictionary.len() as u16;
                    let mut primer = Vec::with_capacity(dictionary.len() + 5);
                    primer.push(0);
                    primer.extend_from_slice(&n.to_le_bytes());
                    primer.extend_from_slice(&(!n).to_le_bytes());
                    primer.extend_from_slice(dictionary);
                    let mut sink = Vec::with_capacity(dictionary.len());
                    inflate
                        .decompress_vec(&primer, &mut sink, flate2::FlushDecompress::Sync)
                        .map_err(|e| Error::codec("MSZIP", e))?;
                }
                out.reserve_exact(len);
                inflate
                    .decompress_vec(body, out, flate2::FlushDecompress::Finish)
                    .map_err(|e| Error::codec("MSZIP", e))?;
                if out.len() > MSZIP_DICT {
                    dictionary.clear();
                    dictionary.extend_from_slice(&out[out.len() - MSZIP_DICT..]);
                } else {
                    let keep = (dictionary.len() + out.len()).saturating_sub(MSZIP_DICT);
                    dictionary.drain(..keep.min(dictionary.len()));
                    dictionary.extend_from_slice(out);
                }
            }
            DecoderKind::Lzx(d) => {
                let got = d
                    .decompress_next(input, len)
                    .map_err(|e| Error::codec("LZX", e))?;
                out.extend_from_slice(got);
            }
        }
        if out.len() != len {
            return Err(Error::codec(
                "CAB",
                format!(
                    "block decoded to {} bytes, its header says {len}",
                    out.len()
                ),
            ));
        }
        Ok(())
    }
}

impl CabArchive {
    /// Stream several members at once, decoding each folder at most once and stopping a folder after
    /// its last wanted member. `sink(file_index, piece)` receives each member's bytes in order; a
    /// member of size 0 gets one empty piece. Memory: one block plus the decoder window.
    pub fn stream_members(
        &self,
        wanted: &[usize],
        sink: &mut dyn FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut by_folder: std::collections::BTreeMap<u16, Vec<usize>> = Default::default();
        for &i in wanted {
            let f = self.file(i)?;
            by_folder.entry(f.folder).or_default().push(i);
        }
        for (folder_index, mut files) in by_folder {
            let folder = self
                .folders
                .get(folder_index as usize)
                .ok_or_else(|| Error::not_found("CAB folder", format!("folder {folder_index}")))?;
            files.sort_by_key(|&i| (self.files[i].offset_in_folder, i));
            files.dedup();
            for &i in &files {
                if self.files[i].size == 0 {
                    sink(i, &[])?;
                }
            }
            files.retain(|&i| self.files[i].size > 0);
            let Some(&last) = files
                .iter()
                .max_by_key(|&&i| self.files[i].offset_in_folder + self.files[i].size)
            else {
                continue;
            };
            let stop = self.files[last].offset_in_folder + self.files[last].size;
            let mut decoder = FolderDecoder::new(folder.compression, &self.files[files[0]].name)?;
            let mut next = 0usize;
            let mut active: Vec<usize> = Vec::new();
            let mut input = Vec::new();
            let mut out = Vec::new();
            for b in &folder.blocks_table {
                if b.start >= stop {
                    break;
                }
                input.resize(b.compressed_len as usize, 0);
                self.src.read_at(b.data_offset, &mut input)?;
                decoder
                    .block(&input, b.len as usize, &mut out)
                    .map_err(|e| match e {
                        Error::Codec { codec, reason } => Error::Codec {
                            codec,
                            reason: format!(
                                "folder {folder_index}, block at offset {}: {reason}",
                                b.data_offset
                            ),
                        },
                        other => other,
                    })?;
                let (lo, hi) = (b.start, b.start + b.len as u64);
                while let Some(&i) = files.get(next) {
                    if self.files[i].offset_in_folder >= hi {
                        break;
                    }
                    active.push(i);
                    next += 1;
                }
                for &i in &active {
                    let f = &self.files[i];
                    let s = f.offset_in_folder.max(lo);
                    let e = (f.offset_in_folder + f.size).min(hi);
                    if s < e {
                        sink(i, &out[(s - lo) as usize..(e - lo) as usize])?;
                    }
                }
                active.retain(|&i| self.files[i].offset_in_folder + self.files[i].size > hi);
            }
        }
        Ok(())
    }
}

/// Walk a folder's CFDATA headers: total uncompressed size and the block table.
fn walk_blocks(
    src: &dyn ReadAt,
    first: u64,
    count: u16,
    reserve: u64,
    stored: bool,
) -> Result<(u64, Vec<Block>)> {
    let size = src.size();
    let mut at = first;
    let mut total = 0u64;
    let mut kept = Vec::new();
    for i in 0..count {
        let mut h = [0u8; 8];
        check_range("CAB data block", at, 8, size)?;
        src.read_at(at, &mut h)?;
        let b = Le::at(&h, "CAB data block", at);
        let cb_data = b.u16(4)? as u64;
        let cb_uncomp = b.u16(6)?;
        let data_offset = at + 8 + reserve;
        let end = check_range("CAB data block", data_offset, cb_data, size)?;
        if cb_uncomp == 0 {
            return Err(Error::unsupported("CAB", format!(
                "CAB data block {i} at offset {at} continues in the next cabinet (spanned sets are not supported)"
            )));
        }
        if cb_uncomp > MAX_BLOCK_UNCOMPRESSED {
            return Err(Error::malformed(
                "CAB data block",
                at,
                format!("expands to {cb_uncomp} bytes; the maximum is 32768"),
            ));
        }
        if stored && cb_data != cb_uncomp as u64 {
            return Err(Error::malformed(
                "CAB data block",
                at,
                format!("stored block holds {cb_data} bytes but claims {cb_uncomp}"),
            ));
        }
        kept.push(Block {
            data_offset,
            compressed_len: cb_data as u16,
            start: total,
            len: cb_uncomp as u32,
        });
        total += cb_uncomp as u64;
        at = end;
    }
    Ok((total, kept))
}

/// A member of a stored folder, read in place through the block table.
struct StoredMember {
    src: SharedReader,
    blocks: Vec<Block>,
    start: u64,
    len: u64,
}

impl ReadAt for StoredMember {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("CAB member", offset, buf.len() as u64, self.len)?;
        let mut pos = self.start + offset;
        let mut filled = 0usize;
        // First block whose end is past `pos`.
        let mut bi = self
            .blocks
            .partition_point(|b| b.start + b.len as u64 <= pos);
        while filled < buf.len() {
            let b = self.blocks.get(bi).ok_or_else(|| {
                Error::malformed("CAB folder", pos, "read past the last data block")
            })?;
            let within = pos - b.start;
            let n = ((b.len as u64 - within) as usize).min(buf.len() - filled);
            self.src
                .read_at(b.data_offset + within, &mut buf[filled..filled + n])?;
            filled += n;
            pos += n as u64;
            bi += 1;
        }
        Ok(())
    }
}

/// `Read + Seek` over a [`ReadAt`], for the `cab` crate.
pub struct Cursor {
    src: SharedReader,
    pos: u64,
}

impl Cursor {
    /// A cursor at offset 0.
    pub fn new(src: SharedReader) -> Self {
        Cursor { src, pos: 0 }
    }
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.src.size().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src
            .read_at(self.pos, &mut buf[..n])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.src.size().checked_add_signed(d),
        };
        match base {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before start",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SliceSource;
    use std::sync::Arc;

    #[test]
    fn rejects_garbage() {
        let src: SharedReader = Arc::new(SliceSource::new(b"MSCX".repeat(20)));
        assert!(matches!(
            CabArchive::open(src),
            Err(Error::Malformed { .. })
        ));
        let src: SharedReader = Arc::new(SliceSource::new(b"MSCF".to_vec()));
        assert!(matches!(
            CabArchive::open(src),
            Err(Error::Truncated { .. })
        ));
    }
}
