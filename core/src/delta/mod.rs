//! Microsoft's delta formats (PA30, PA31): header parsing and the apply engine.
//!
//! A delta file is an optional little-endian CRC32 (zlib's CRC-32 of the rest of the file), the
//! signature `PA30`/`PA31`, the target FILETIME, then a bitstream holding the header fields, a
//! preprocess buffer (file-type transforms) and the patch buffer (the codec stream). Applying a
//! delta decodes the patch against the reference and checks the target hash when there is one.
//! See docs/formats/pa30.md for the format as implemented and where each fact comes from.
//!
//! File type RAW is handled here; PE file types I386 and AMD64 transform the reference first
//! (module `pe`, docs/formats/pa30-pe.md). Other file types and transforms that are not
//! implemented are an [`Error::Unsupported`] naming them, never wrong bytes.

mod bits;
mod capi;
pub mod dcm;
pub mod e8;
pub mod encode;
mod header;
mod huffman;
mod pe;
mod plzx;
mod rift;

pub use header::{
    file_type_name, flag_names, DeltaHeader, DeltaVersion, Pa31Extra, CALG_MD5, CALG_SHA1,
    CALG_SHA_256, CALG_SHA_384, CALG_SHA_512, FILE_TYPE_RAW,
};

pub use pe::{LockVariant, PdataVariant, PeReading, ResourceVariant, RipVariant};

use crate::{Error, Result};
use std::borrow::Cow;

/// `DELTA_FLAG_E8`: the x86 E8 (relative call) filter on the target.
pub const FLAG_E8: u64 = 0x1;
/// `DELTA_FLAG_I386_CALLS`. Issue 13 expected it to select BsDiff on RAW deltas; the genuine vector
/// `cmd__to__notepad__raw_bsdiff_flag0x100.pa30` shows it does not: its patch buffer is byte for
/// byte the PseudoLzx stream of the flags-0 delta, so RAW deltas ignore it.
pub const FLAG_I386_CALLS: u64 = 0x100;

/// What the LZMS patch path is called in errors: it is read from descriptions only, so its
/// output stands only when the target hash confirms it.
const LZMS_PATH: &str = "LZMS patch buffer (Compression-API container, read from descriptions)";

/// Options for [`apply`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Largest target accepted; checked against the header before anything is allocated.
    pub max_target_size: u64,
    /// Check the target hash when the header carries one (default true).
    pub verify_hash: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            max_target_size: 1 << 30,
            verify_hash: true,
        }
    }
}

/// Names of the PE transforms a delta's flags select (empty for RAW), for `delta info`.
pub fn transform_names(file_type: u64, flags: u64) -> Vec<&'static str> {
    if file_type == FILE_TYPE_RAW {
        return Vec::new();
    }
    pe::transform::selected(flags)
}

/// The address transforms of a PE-typed delta alone (imports, exports, resources, relocations,
/// `.pdata`, x86 jumps and calls, x64 RIP-relative operands, as `flags` select them for
/// `file_type` 2 or 8; the read rules in `reading`, e.g. a [`RipVariant`]), applied to
/// `reference` with the RVA map given as sorted (reference RVA, target RVA) breakpoints (slope
/// one, identity below the first). For tests and tools that check the transforms against an
/// independent PE parser; [`apply`] runs them as part of a delta, trying the readings against
/// the target hash.
pub fn pe_address_transforms(
    file_type: u64,
    flags: u64,
    reference: &[u8],
    rva_map: &[(u32, u32)],
    reading: impl Into<PeReading>,
) -> Result<Vec<u8>> {
    pe::transform::address_only(file_type, flags, reference, rva_map, reading.into(), None)
}

/// As [`pe_address_transforms`], with the target's image base: the relocation transform rebases
/// every stored address onto `target_base` (with an identity map, a plain PE rebase). The
/// header's `ImageBase` field is left to the caller (a delta sets it before the transforms).
pub fn pe_address_transforms_rebased(
    file_type: u64,
    flags: u64,
    reference: &[u8],
    rva_map: &[(u32, u32)],
    reading: impl Into<PeReading>,
    target_base: u64,
) -> Result<Vec<u8>> {
    pe::transform::address_only(
        file_type,
        flags,
        reference,
        rva_map,
        reading.into(),
        Some(target_base),
    )
}

/// What a PE-typed delta's preprocess buffer records about its target (docs/formats/pa30-pe.md),
/// for `delta info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PePreprocessInfo {
    /// The target's `ImageBase`.
    pub image_base: u64,
    /// The target's `CheckSum` as recorded (0 in every genuine vector).
    pub checksum: u32,
    /// The target's link timestamp.
    pub timestamp: u32,
    /// Target RVA → target file offset breakpoints.
    pub layout: Vec<(u64, u64)>,
    /// Reference RVA → target RVA breakpoints (empty: no table, the identity).
    pub rva_map: Vec<(u64, u64)>,
}

/// The preprocess buffer of a PE-typed delta, parsed (`None` for RAW deltas). File types other than
/// I386/AMD64 are `Unsupported`, as in [`apply`].
pub fn pe_preprocess_info(delta: &[u8]) -> Result<Option<PePreprocessInfo>> {
    let p = header::parse(delta)?;
    if p.header.file_type == FILE_TYPE_RAW {
        return Ok(None);
    }
    let pp = pe::preprocess(&p.header, p.preprocess, p.preprocess_offset)?;
    let pairs = |r: &Option<Vec<rift::Rift>>| {
        r.as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|e| (e.target, e.source))
            .collect::<Vec<_>>()
    };
    Ok(Some(PePreprocessInfo {
        image_base: pp.image_base,
        checksum: pp.checksum,
        timestamp: pp.timestamp,
        layout: pairs(&pp.layout_rift),
        rva_map: pairs(&pp.rva_rift),
    }))
}

/// One x86-64 instruction at the start of `code`, as the AMD64 RIP-relative transform's
/// decoder reads it: its length and, when it has a 32-bit relative operand, that operand's offset
/// in the instruction and kind (`"call"`, `"jump"`, `"jcc"`, `"rip"`); `None` when the bytes are
/// no valid instruction or run past `code`. For tests that check the decoder against objdump.
pub fn x64_instruction(code: &[u8]) -> Option<(usize, Option<(usize, &'static str)>)> {
    use pe::x64dec::RelKind;
    pe::x64dec::decode(code).map(|d| {
        let rel = d.rel32.map(|(at, k)| {
            let kind = match k {
                RelKind::Call => "call",
                RelKind::Jump => "jump",
                RelKind::CondJump => "jcc",
                RelKind::Memory => "rip",
            };
            (at, kind)
        });
        (d.len, rel)
    })
}

/// Parse the header of a delta (with or without its CRC32 prefix, which is checked).
pub fn parse_header(bytes: &[u8]) -> Result<DeltaHeader> {
    Ok(header::parse(bytes)?.header)
}

/// Apply `delta` to `reference` and return the target, verified against the header's hash.
pub fn apply(reference: &[u8], delta: &[u8], opts: &ApplyOptions) -> Result<Vec<u8>> {
    Ok(apply_detailed(reference, delta, opts)?.target)
}

/// What the E8 path is called in errors: its rule is read from descriptions only.
const E8_PATH: &str = "x86 E8 filter on a RAW delta";

/// A delta's target and how it was reached.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The target, verified against the header's hash when there is one and checking is on.
    pub target: Vec<u8>,
    /// For a RAW delta with the E8 flag: the reading of the filter whose output matched the
    /// target hash (docs/formats/pa30.md section 5.3).
    pub e8_variant: Option<e8::Variant>,
    /// For an AMD64 delta whose RVAs move: the reading of the x64 RIP-relative transform (flag
    /// 0x200) whose output the target hash confirmed.
    pub rip_variant: Option<RipVariant>,
    /// For a PE-typed delta: the readings of the transforms whose rules are not public, with
    /// which of them mattered on this reference (`None` for RAW deltas).
    pub pe: Option<PeApplied>,
}

/// How a PE-typed delta was applied: the readings tried against the target hash and the one
/// accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeApplied {
    /// The reading whose output the target hash confirmed (or the default one, when no hash
    /// was needed).
    pub reading: PeReading,
    /// The I386 lock-prefix reading, when the reference lists lock prefixes it changes.
    pub lock_variant: Option<LockVariant>,
    /// The resource data-entry rule, when the two rules differ on this reference.
    pub resource_variant: Option<ResourceVariant>,
    /// What the `.pdata` transform moved in the unwind information, when the readings differ
    /// on this reference.
    pub pdata_variant: Option<PdataVariant>,
    /// The image base change (reference, target) when the delta rebases the image.
    pub rebased: Option<(u64, u64)>,
    /// How many readings were decoded.
    pub decodes: usize,
}

/// As [`apply`], also saying which reading of a hash-judged transform was accepted.
pub fn apply_detailed(reference: &[u8], delta: &[u8], opts: &ApplyOptions) -> Result<Applied> {
    let p = header::parse(delta)?;
    let h = &p.header;
    let target_size = target_len("delta target", h.target_size, opts.max_target_size)?;
    // Fail on an unknown hash algorithm before doing the work.
    if h.hash_alg_id != 0 || !h.target_hash.is_empty() {
        digest(h.hash_alg_id, &[])?;
    }
    if h.file_type != FILE_TYPE_RAW {
        return apply_pe(reference, &p, target_size, opts);
    }
    let reference = prepare_reference(h, reference, p.preprocess, opts)?;
    let lzms = p.patch.starts_with(&capi::MAGIC);
    let mut out = if lzms {
        lzms_patch(h, &p, target_size, opts)?
    } else {
        plzx::decode(&reference, p.patch, p.patch_offset, target_size)?
    };
    check_len(&p, &out, target_size)?;
    if h.flags & FLAG_E8 != 0 {
        // `prepare_reference` let this through only with a target hash and checking on, and the
        // algorithm was checked above, so `digest` cannot fail here.
        let found = e8::select(&mut out, |b| {
            digest(h.hash_alg_id, b).is_ok_and(|got| got == h.target_hash)
        });
        return match found {
            Some(v) => Ok(Applied {
                target: out,
                e8_variant: Some(v),
                rip_variant: None,
                pe: None,
            }),
            None => Err(Error::unsupported(
                "delta",
                format!(
                    "{E8_PATH} (variants W1–W3 tried: target hash mismatch){}; the output is \
                     not used",
                    if lzms {
                        format!(" after the {LZMS_PATH}")
                    } else {
                        String::new()
                    }
                ),
            )),
        };
    }
    if opts.verify_hash && has_hash(h) {
        let got = digest(h.hash_alg_id, &out)?;
        if got != h.target_hash {
            if lzms {
                return Err(Error::unsupported(
                    "delta",
                    format!(
                        "delta target hash mismatch after the {LZMS_PATH}; the output is not used"
                    ),
                ));
            }
            return Err(mismatch(h, &got));
        }
    }
    Ok(Applied {
        target: out,
        e8_variant: None,
        rip_variant: None,
        pe: None,
    })
}

fn has_hash(h: &DeltaHeader) -> bool {
    h.hash_alg_id != 0 || !h.target_hash.is_empty()
}

fn check_len(p: &header::Parsed<'_>, out: &[u8], target_size: usize) -> Result<()> {
    if out.len() != target_size {
        return Err(Error::malformed(
            "PA30 patch",
            p.patch_offset,
            format!("decoded {} bytes, header says {}", out.len(), target_size),
        ));
    }
    Ok(())
}

fn mismatch(h: &DeltaHeader, got: &[u8]) -> Error {
    Error::DigestMismatch {
        what: "delta target".into(),
        expected: hex(&h.target_hash),
        actual: hex(got),
    }
}

/// A PE-typed delta (issue 14): transform the reference, decode with the composed copy rift,
/// check the hash. The reference is prepared with the default [`PeReading`] first; when the hash
/// rejects it and a transform whose rule is read rather than described changed bytes of this
/// reference (RIP-relative operands, lock prefixes, resource data entries, unwind information),
/// each other reading along those dimensions is a full prepare and decode, and the first output
/// the target hash confirms is kept. No hash where one is needed, or a mismatch of every reading, is an error.
fn apply_pe(
    reference: &[u8],
    p: &header::Parsed<'_>,
    target_size: usize,
    opts: &ApplyOptions,
) -> Result<Applied> {
    let h = &p.header;
    let pp = pe::preprocess(h, p.preprocess, p.preprocess_offset)?;
    if p.patch.starts_with(&capi::MAGIC) {
        // Refused for PE file types, with the message naming the LZMS path.
        lzms_patch(h, p, target_size, opts)?;
    }
    let checked = opts.verify_hash && has_hash(h);
    let first = pe::prepare(h, reference, &pp, PeReading::default())?;
    if !(first.complete || checked) {
        return Err(pe_unsupported(
            h,
            ", without a target hash to check against: transforms not implemented",
            &first.missing,
            &[],
        ));
    }
    let varied = first.varied;
    let candidates = PeReading::candidates(varied);
    let mut first = Some(first);
    let mut tried: Vec<PeReading> = Vec::new();
    let mut last_missing = Vec::new();
    let mut last_got = Vec::new();
    for reading in candidates {
        let prep = match first.take() {
            Some(p) => p,
            None => pe::prepare(h, reference, &pp, reading)?,
        };
        let out = plzx::decode_with_rift(
            &prep.reference,
            p.patch,
            p.patch_offset,
            target_size,
            Some(&prep.rift),
        )?;
        check_len(p, &out, target_size)?;
        tried.push(reading);
        // Unchecked output is only reached when every selected transform is implemented.
        let got = if checked {
            Some(digest(h.hash_alg_id, &out)?)
        } else {
            None
        };
        if got.as_deref().is_none_or(|g| g == h.target_hash) {
            return Ok(Applied {
                target: out,
                e8_variant: None,
                rip_variant: prep.rip,
                pe: Some(PeApplied {
                    reading,
                    lock_variant: varied.lock.then_some(reading.lock),
                    resource_variant: varied.resources.then_some(reading.resources),
                    pdata_variant: varied.pdata.then_some(reading.pdata),
                    rebased: prep.rebased,
                    decodes: tried.len(),
                }),
            });
        }
        last_missing = prep.missing;
        last_got = got.unwrap_or_default();
    }
    if last_missing.is_empty() && !varied.resources && !varied.pdata {
        return Err(mismatch(h, &last_got));
    }
    if varied.resources {
        last_missing.push(RSRC_READ.into());
    }
    if varied.pdata {
        last_missing.push(PDATA_READ.into());
    }
    Err(pe_unsupported(
        h,
        ": target hash mismatch (as a reference other than the delta's own would also give); \
         transforms not implemented or read without a public rule",
        &last_missing,
        &tried,
    ))
}

/// The name one dimension of a [`PeReading`] takes.
type ReadingName = fn(&PeReading) -> &'static str;

/// The resource transform's data-entry rule in errors (two readings).
const RSRC_READ: &str = "resources (data entries' OffsetToData)";
/// The `.pdata` transform's unwind-information rule in errors (three readings).
const PDATA_READ: &str = "x64 .pdata (unwind information RVAs)";

/// `Unsupported` for a PE-typed delta: `what` happened (with its leading punctuation), the
/// transforms still `missing`; the read ones, when listed, carry the readings `tried` in
/// parentheses.
fn pe_unsupported(h: &DeltaHeader, what: &str, missing: &[String], tried: &[PeReading]) -> Error {
    // The distinct names one dimension took over the readings tried, in order.
    let distinct = |f: ReadingName| {
        let mut v: Vec<&str> = Vec::new();
        for r in tried {
            if !v.contains(&f(r)) {
                v.push(f(r));
            }
        }
        v.join(", ")
    };
    // Read transforms: (name in `missing`, noun for the alternatives, why only a hash can judge
    // it, the alternative's name in a reading).
    let read: [(&str, &str, &str, ReadingName); 4] = [
        (
            pe::x64::NAME,
            "variants",
            "our reading of its description",
            |r| r.rip.name(),
        ),
        (
            pe::transform::LOCK_NAME,
            "readings",
            "only its name is public",
            |r| r.lock.name(),
        ),
        (RSRC_READ, "readings", "two rules", |r| r.resources.name()),
        (PDATA_READ, "readings", "three rules", |r| r.pdata.name()),
    ];
    let names: Vec<String> = missing
        .iter()
        .map(|m| match read.iter().find(|d| d.0 == m) {
            Some((_, _, why, _)) if tried.is_empty() => {
                format!("{m} ({why}: only a target hash can confirm it)")
            }
            Some((_, noun, _, f)) => {
                format!("{m} ({noun} {} tried: target hash mismatch)", distinct(*f))
            }
            None => m.clone(),
        })
        .collect();
    Error::unsupported(
        "PE-typed delta",
        format!(
            "PE-typed delta, file type {} ({}), flags {:#x}{what}: {}",
            h.file_type,
            file_type_name(h.file_type),
            h.flags,
            names.join(", ")
        ),
    )
}

/// Decode a patch buffer that is a Compression-API LZMS container. The container holds the
/// whole target (the reference is not used); one of another size would be a BsDiff stream inside
/// LZMS, whose framing is not described. Refused unless a target hash will judge the output.
fn lzms_patch(
    h: &DeltaHeader,
    p: &header::Parsed<'_>,
    target_size: usize,
    opts: &ApplyOptions,
) -> Result<Vec<u8>> {
    if h.file_type != FILE_TYPE_RAW {
        return Err(Error::unsupported(
            "delta",
            format!(
                "{LZMS_PATH} in a delta of file type {} ({})",
                h.file_type,
                file_type_name(h.file_type)
            ),
        ));
    }
    if !(opts.verify_hash && (h.hash_alg_id != 0 || !h.target_hash.is_empty())) {
        return Err(Error::unsupported(
            "delta",
            format!("{LZMS_PATH} without a target hash to check the output against"),
        ));
    }
    let total = capi::total_size(p.patch, p.patch_offset)?;
    if total != h.target_size {
        return Err(Error::unsupported(
            "delta",
            format!(
            "{LZMS_PATH} holding {total} bytes for a target of {} bytes: a BsDiff stream inside \
             LZMS, which is not described publicly",
            h.target_size
        ),
        ));
    }
    capi::decode(p.patch, p.patch_offset, target_size)
}

/// Name of the codec a delta's patch buffer uses ("PseudoLzx" or "LZMS container"), for
/// `delta info`. Only the start of the patch buffer is looked at.
pub fn patch_codec(bytes: &[u8]) -> Result<&'static str> {
    let p = header::parse(bytes)?;
    Ok(if p.patch.starts_with(&capi::MAGIC) {
        "LZMS container (Compression API)"
    } else {
        "PseudoLzx"
    })
}

/// `size` as an allocation length, refused before anything is allocated when it exceeds `max`
/// (the caller's cap) or this platform's address space; `what` names it in the message.
fn target_len(what: &str, size: u64, max: u64) -> Result<usize> {
    if size > max {
        return Err(Error::limit(
            size,
            max,
            format!("{what} of {size} bytes exceeds the limit of {max} bytes"),
        ));
    }
    usize::try_from(size)
        .map_err(|_| Error::limit(size, usize::MAX, format!("{what} of {size} bytes")))
}

/// Decode a Compression-API LZMS container (a PA31 express delta's patch buffer) of exactly
/// `target_size` bytes, without a delta around it: for fuzzing and tools. [`apply`] uses the
/// same decoder and also requires the delta's target hash to confirm the output.
pub fn decode_lzms_container(
    buf: &[u8],
    target_size: u64,
    max_target_size: u64,
) -> Result<Vec<u8>> {
    let n = target_len("LZMS container target", target_size, max_target_size)?;
    capi::decode(buf, 0, n)
}

/// The reference the codec copies from for RAW deltas (PE file types go through `apply_pe`). A
/// RAW delta with the E8 flag is let through only when a target hash will choose among the
/// readings of the filter (module [`e8`]).
fn prepare_reference<'a>(
    h: &DeltaHeader,
    reference: &'a [u8],
    preprocess: &[u8],
    opts: &ApplyOptions,
) -> Result<Cow<'a, [u8]>> {
    if h.file_type != FILE_TYPE_RAW {
        return Err(Error::unsupported("PE-typed delta", format!(
            "delta file type {} ({}) with transform flags {:#x}: PE-typed deltas are not implemented",
            h.file_type,
            file_type_name(h.file_type),
            h.flags
        )));
    }
    if !preprocess.is_empty() {
        return Err(Error::unsupported(
            "delta",
            format!(
                "RAW delta with a {}-byte preprocess buffer",
                preprocess.len()
            ),
        ));
    }
    if h.flags & FLAG_E8 != 0 && !(has_hash(h) && opts.verify_hash) {
        return Err(Error::unsupported(
            "delta",
            format!(
                "{E8_PATH} (flag 0x1) without a target hash to check its readings against \
                 (its exact rule is not public)"
            ),
        ));
    }
    Ok(Cow::Borrowed(reference))
}

/// Hash `data` with a Windows `ALG_ID`; unknown algorithms are an error, never skipped.
fn digest(alg: u32, data: &[u8]) -> Result<Vec<u8>> {
    use sha2::Digest;
    Ok(match alg {
        CALG_MD5 => md5::Md5::digest(data).to_vec(),
        CALG_SHA1 => sha1::Sha1::digest(data).to_vec(),
        CALG_SHA_256 => sha2::Sha256::digest(data).to_vec(),
        CALG_SHA_384 => sha2::Sha384::digest(data).to_vec(),
        CALG_SHA_512 => sha2::Sha512::digest(data).to_vec(),
        _ => {
            return Err(Error::unsupported(
                "delta",
                format!("delta target hash algorithm {alg:#x}"),
            ))
        }
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A bit writer for crafting deltas in tests (the engine itself only reads).

    /// LSB-first bit writer producing a PA30 bitstream (3-bit padding count first): the
    /// encoder's writer, taking fields of up to 64 bits.
    pub struct BitWriter(pub(crate) crate::delta::encode::bitwrite::BitWriter);

    impl BitWriter {
        pub fn new() -> Self {
            BitWriter(crate::delta::encode::bitwrite::BitWriter::stream())
        }
        pub fn put(&mut self, v: u64, n: u32) {
            if n > 32 {
                self.0.put(v & 0xffff_ffff, 32);
                self.0.put(v >> 32, n - 32);
            } else {
                self.0.put(v, n);
            }
        }
        /// Nibble-counted integer.
        pub fn number(&mut self, v: u64) {
            self.0.number(v);
        }
        pub fn buffer(&mut self, b: &[u8]) {
            self.0.buffer(b);
        }
        pub fn finish(self) -> Vec<u8> {
            self.0.finish_stream()
        }
    }

    /// Header fields of a crafted delta.
    pub struct Craft<'a> {
        pub pa31: bool,
        pub file_type: u64,
        pub flags: u64,
        pub target_size: u64,
        pub alg: u64,
        pub hash: &'a [u8],
        pub patch: &'a [u8],
    }

    /// Assemble a delta around a patch buffer.
    pub fn craft(c: &Craft<'_>) -> Vec<u8> {
        craft_with_preprocess(c, &[])
    }

    /// Assemble a delta around a preprocess buffer and a patch buffer.
    pub fn craft_with_preprocess(c: &Craft<'_>, preprocess: &[u8]) -> Vec<u8> {
        let fields = |w: &mut BitWriter| {
            w.number(1);
            w.number(c.file_type);
            w.number(c.flags);
            w.number(c.target_size);
            w.number(c.alg);
            w.buffer(c.hash);
        };
        let mut w = BitWriter::new();
        if c.pa31 {
            let mut inner = BitWriter::new();
            fields(&mut inner);
            inner.number(0x88);
            inner.number(1);
            inner.number(0);
            inner.buffer(&[0xaa; 16]);
            w.buffer(&inner.finish());
        } else {
            fields(&mut w);
        }
        w.buffer(preprocess);
        w.buffer(c.patch);
        let mut out = if c.pa31 {
            b"PA31".to_vec()
        } else {
            b"PA30".to_vec()
        };
        out.extend_from_slice(&0x01d0_0000_0000_0000u64.to_le_bytes());
        out.extend_from_slice(&w.finish());
        out
    }

    /// A rift table of `(key, other)` entries. Both integer codes give symbols 0..248 an 8-bit
    /// codeword equal to the symbol (as `rift_tests` spells them); values up to 2^32.
    pub fn rift_table(w: &mut BitWriter, entries: &[(i64, i64)]) {
        crate::delta::encode::pe::rift_table(&mut w.0, entries);
    }

    /// A PseudoLzx stream that spells `text` in literals with the default tables.
    pub fn literal_patch(text: &[u8]) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(0, 1); // empty rift table
        w.put(1, 1); // default code tables
                     // Default main code: symbols 424..599 have 10 bits (values 0..175), 0..423 have 9 bits
                     // (values 88..511); the codeword's most significant bit goes first.
        for &b in text {
            let code = 88 + u64::from(b);
            for i in (0..9).rev() {
                w.put(code >> i & 1, 1);
            }
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn md5(b: &[u8]) -> Vec<u8> {
        use md5::Digest;
        md5::Md5::digest(b).to_vec()
    }

    fn literal_delta(text: &[u8], alg: u64, hash: &[u8], pa31: bool) -> Vec<u8> {
        let patch = literal_patch(text);
        craft(&Craft {
            pa31,
            file_type: 1,
            flags: 0,
            target_size: text.len() as u64,
            alg,
            hash,
            patch: &patch,
        })
    }

    #[test]
    fn literal_stream_with_md5_applies() {
        let d = literal_delta(b"hello, delta", 0x8003, &md5(b"hello, delta"), false);
        let h = parse_header(&d).unwrap();
        assert_eq!(h.version, DeltaVersion::Pa30);
        assert_eq!((h.file_type, h.target_size, h.hash_alg_id), (1, 12, 0x8003));
        assert_eq!(
            apply(b"", &d, &ApplyOptions::default()).unwrap(),
            b"hello, delta"
        );
    }

    #[test]
    fn wrong_hash_is_a_digest_mismatch() {
        let d = literal_delta(b"hello", 0x8003, &[0u8; 16], false);
        let e = apply(b"", &d, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "digest-mismatch", "{e}");
        let lax = ApplyOptions {
            verify_hash: false,
            ..ApplyOptions::default()
        };
        assert_eq!(apply(b"", &d, &lax).unwrap(), b"hello");
    }

    #[test]
    fn sha1_and_sha256_hashes_are_checked() {
        use sha2::Digest;
        let t = b"some target bytes";
        let s1 = sha1::Sha1::digest(t).to_vec();
        let s256 = sha2::Sha256::digest(t).to_vec();
        for (alg, h) in [(0x8004u64, &s1), (0x800c, &s256)] {
            let d = literal_delta(t, alg, h, false);
            assert_eq!(apply(b"", &d, &ApplyOptions::default()).unwrap(), t);
            let mut bad = h.clone();
            bad[0] ^= 1;
            let d = literal_delta(t, alg, &bad, false);
            assert!(matches!(
                apply(b"", &d, &ApplyOptions::default()),
                Err(Error::DigestMismatch { .. })
            ));
        }
    }

    #[test]
    fn unknown_hash_algorithm_is_typed() {
        let d = literal_delta(b"abc", 0x8099, &[1, 2, 3], false);
        let e = apply(b"", &d, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "unsupported", "{e}");
        assert!(e.to_string().contains("0x8099"));
    }

    #[test]
    fn pa31_header_fields() {
        let d = literal_delta(b"pa31!", 0x8003, &md5(b"pa31!"), true);
        let h = parse_header(&d).unwrap();
        assert_eq!(h.version, DeltaVersion::Pa31);
        let x = h.pa31.as_ref().unwrap();
        assert_eq!(
            (x.header_info_size, x.is_pa31, x.delta_client_min_version),
            (0x88, 1, 0)
        );
        assert_eq!(x.additional_hash, vec![0xaa; 16]);
        assert_eq!(apply(b"", &d, &ApplyOptions::default()).unwrap(), b"pa31!");
    }

    #[test]
    fn crc32_prefix_is_checked() {
        // wumb0's delta_patch.py: a little-endian zlib CRC-32 of the rest of the file.
        let d = literal_delta(b"crc", 0, &[], false);
        let mut with = crc32fast::hash(&d).to_le_bytes().to_vec();
        with.extend_from_slice(&d);
        let h = parse_header(&with).unwrap();
        assert_eq!(h.crc32, Some(crc32fast::hash(&d)));
        assert_eq!(apply(b"", &with, &ApplyOptions::default()).unwrap(), b"crc");
        with[0] ^= 0x40;
        let e = apply(b"", &with, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "digest-mismatch", "{e}");
    }

    #[test]
    fn target_cap_is_checked_before_decoding() {
        let patch = literal_patch(b"x");
        let d = craft(&Craft {
            pa31: false,
            file_type: 1,
            flags: 0,
            target_size: u64::MAX / 2,
            alg: 0,
            hash: &[],
            patch: &patch,
        });
        let e = apply(b"", &d, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "limit", "{e}");
        let small = ApplyOptions {
            max_target_size: 3,
            ..ApplyOptions::default()
        };
        let d = literal_delta(b"four", 0, &[], false);
        assert_eq!(apply(b"", &d, &small).unwrap_err().kind(), "limit");
    }

    #[test]
    fn unimplemented_file_types_are_unsupported_by_name() {
        let patch = literal_patch(b"x");
        for (ty, name) in [
            (512, "ARM64"),
            (256, "ARM"),
            (4, "IA64"),
            (32, "CLI4_AMD64"),
        ] {
            let d = craft(&Craft {
                pa31: false,
                file_type: ty,
                flags: 0xe63e,
                target_size: 1,
                alg: 0,
                hash: &[],
                patch: &patch,
            });
            let e = apply(b"", &d, &ApplyOptions::default()).unwrap_err();
            assert_eq!(e.kind(), "unsupported", "{e}");
            assert!(
                e.to_string().contains(name) && e.to_string().contains("0xe63e"),
                "{e}"
            );
        }
    }

    #[test]
    fn transform_names_follow_the_flags() {
        assert!(transform_names(1, 0xe63e).is_empty());
        let n = transform_names(8, 0xe63e);
        assert!(
            n.contains(&"relocations") && n.contains(&"x64 .pdata"),
            "{n:?}"
        );
        assert!(!n.contains(&"x86 relative calls"));
        let n = transform_names(2, 0xe1fe);
        assert!(n.contains(&"x86 relative calls") && n.contains(&"x86 relative jumps"));
    }

    #[test]
    fn dcm_wrappers() {
        let d = literal_delta(b"<xml/>", 0, &[], false);
        let mut m = b"DCM\x01".to_vec();
        m.extend_from_slice(&d);
        assert!(dcm::is_dcm(&m));
        assert_eq!(
            dcm::decode(b"base", &m, &ApplyOptions::default()).unwrap(),
            b"<xml/>"
        );
        m[2] = b'S';
        assert!(!dcm::is_dcm(&m));
        let e = dcm::decode(b"base", &m, &ApplyOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "unsupported");
        assert_eq!(
            dcm::decode(b"", b"<?xml", &ApplyOptions::default())
                .unwrap_err()
                .kind(),
            "malformed"
        );
    }

    /// A Compression-API LZMS container header, by hand from the described layout.
    fn lzms_head(total: u64) -> Vec<u8> {
        let mut b = vec![0x0a, 0x51, 0xe5, 0xc0, 0x18, 0x00, 0x00, 0x05];
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&0x20000u64.to_le_bytes());
        b
    }

    fn lzms_delta(file_type: u64, target_size: u64, alg: u64, hash: &[u8]) -> Vec<u8> {
        craft(&Craft {
            pa31: true,
            file_type,
            flags: 0,
            target_size,
            alg,
            hash,
            patch: &lzms_head(target_size),
        })
    }

    #[test]
    fn lzms_patch_buffers_are_hash_guarded() {
        use sha2::Digest;
        let empty = sha2::Sha256::digest(b"").to_vec();
        let d = lzms_delta(1, 0, 0x800c, &empty);
        assert_eq!(patch_codec(&d).unwrap(), "LZMS container (Compression API)");
        assert_eq!(apply(b"ref", &d, &ApplyOptions::default()).unwrap(), b"");
        // No hash, or hash checking off: refused, the path is read from descriptions only.
        let lax = ApplyOptions {
            verify_hash: false,
            ..ApplyOptions::default()
        };
        for (d, o) in [
            (lzms_delta(1, 0, 0, &[]), ApplyOptions::default()),
            (d.clone(), lax),
        ] {
            let e = apply(b"", &d, &o).unwrap_err();
            assert_eq!(e.kind(), "unsupported", "{e}");
            assert!(e.to_string().contains("LZMS"), "{e}");
        }
        // A hash that does not match: an error naming the LZMS path, no output.
        let e = apply(
            b"",
            &lzms_delta(1, 0, 0x800c, &[0; 32]),
            &ApplyOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("LZMS") && e.to_string().contains("mismatch"),
            "{e}"
        );
        // PE file type (here without a preprocess buffer), and a container smaller than the
        // target (BsDiff inside LZMS): refused.
        assert!(apply(
            b"",
            &lzms_delta(8, 0, 0x800c, &empty),
            &ApplyOptions::default()
        )
        .is_err());
        let mut short = craft(&Craft {
            pa31: false,
            file_type: 1,
            flags: 0,
            target_size: 5,
            alg: 0x800c,
            hash: &empty,
            patch: &lzms_head(3),
        });
        let e = apply(b"", &short, &ApplyOptions::default()).unwrap_err();
        assert!(e.to_string().contains("BsDiff"), "{e}");
        short.truncate(short.len() - 1);
        assert!(apply(b"", &short, &ApplyOptions::default()).is_err());
    }

    #[test]
    fn flags_are_named_as_the_sdk_names_them() {
        assert_eq!(flag_names(0), Vec::<String>::new());
        assert_eq!(flag_names(0x20000), ["IGNORE_FILE_SIZE_LIMIT"]);
        let n = flag_names(0xe1fe);
        assert_eq!(n[0], "MARK");
        assert!(n.contains(&"I386_SMASHLOCK".to_string()) && n.contains(&"UNBIND".to_string()));
        assert_eq!(flag_names(0x1a06_0000 | 1)[0], "E8");
        assert!(flag_names(0x0200_0000).contains(&"0x2000000".to_string()));
    }

    #[test]
    fn truncations_of_a_crafted_delta_fail_cleanly() {
        let d = literal_delta(
            b"truncate me please",
            0x8003,
            &md5(b"truncate me please"),
            false,
        );
        for n in 0..d.len() {
            assert!(
                apply(b"", &d[..n], &ApplyOptions::default()).is_err(),
                "{n}"
            );
        }
    }
}

#[cfg(test)]
mod rift_tests {
    use super::testutil::*;
    use super::*;

    /// Main-code codeword of `sym` in the default tables (9 bits for symbols below 424).
    fn put_main(w: &mut BitWriter, sym: u64) {
        let code = 88 + sym;
        for i in (0..9).rev() {
            w.put(code >> i & 1, 1);
        }
    }

    #[test]
    fn coded_rift_table_moves_source_copies() {
        // Mechanics only (no genuine vector has a coded table in its patch stream): one entry,
        // target 2 -> source 1. Each integer code: no explicit lengths, 248 fill symbols of 8 bits
        // and the last 4 of 7 bits, so symbols 0..248 have 8-bit codewords equal to the symbol.
        let mut w = BitWriter::new();
        w.put(1, 1);
        for _ in 0..2 {
            w.put(0, 8); // explicit non-negative lengths
            w.put(0, 8); // explicit negative lengths
            w.put(248, 8); // symbols taking the fill length
            w.put(7, 4); // fill length 8, stored minus one
        }
        w.number(1);
        let put8 = |w: &mut BitWriter, v: u64| {
            for i in (0..8).rev() {
                w.put(v >> i & 1, 1);
            }
        };
        put8(&mut w, 2); // left: +2
        put8(&mut w, 126); // right: negative magnitude 0 = -1
        w.put(1, 1); // default code tables
        put_main(&mut w, u64::from(b'x'));
        put_main(&mut w, u64::from(b'y'));
        put_main(&mut w, 256 + (3 << 3) + 1); // slot 3 (predicted source), length 2
        let patch = w.finish();
        let d = craft(&Craft {
            pa31: false,
            file_type: 1,
            flags: 0,
            target_size: 4,
            alg: 0,
            hash: &[],
            patch: &patch,
        });
        assert_eq!(
            apply(b"ABCDEFGH", &d, &ApplyOptions::default()).unwrap(),
            b"xyBC"
        );
    }
}
