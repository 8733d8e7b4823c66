//! PE-typed deltas (file types I386 and AMD64) from our encoder: the header, flags and preprocess
//! buffer Microsoft's servicing deltas carry (file type set 0xf, flags 0xe1fe / 0xe63e), an RVA
//! map at section granularity, and a PseudoLzx stream coded against the reference *as the
//! decoder transforms it* (checksum zeroed, link timestamps set, rebased when the image bases
//! differ, every address moved through the map), with source copies predicted through the copy
//! rift the decoder composes from the two files' section layouts and the map. The map pairs the
//! two images' sections by position (a rebuilt binary keeps its section order): reference
//! section start → target section start, when both lists have the same length and
//! characteristics and the starts rise in both; otherwise the identity. Finer maps (inside a
//! section whose code grew) are not inferred: the delta stays exact, only larger.

use super::bitwrite::BitWriter;
use super::{create_patch_with_rift, wrap, CreateOptions};
use crate::delta::pe::image::Image;
use crate::delta::pe::transform::{FILE_TYPE_AMD64, FILE_TYPE_I386};
use crate::delta::{header, pe, PeReading};
use crate::{Error, Result};

/// File type set Microsoft's PE-typed deltas declare (RAW, I386, IA64, AMD64).
const FILE_TYPE_SET: u64 = 0xf;
/// Flags of Microsoft's I386 servicing deltas (`wow64_kbdmaori`, `x86_mscordbi`).
pub const I386_FLAGS: u64 = 0xe1fe;
/// Flags of Microsoft's AMD64 servicing deltas (`amd64_kbdwol`, the cmd vector).
pub const AMD64_FLAGS: u64 = 0xe63e;

/// A PE-typed delta that turns the PE image `reference` into the PE image `target` (same machine,
/// I386 or AMD64). It needs a target hash (`opts.hash_alg_id` ≠ 0): the decoder accepts I386
/// deltas, and rebases, only through it. As with [`super::create`], the result is not applied
/// back here: `mediaprep delta create` applies every delta back before it writes it.
pub fn create_pe(reference: &[u8], target: &[u8], opts: &CreateOptions) -> Result<Vec<u8>> {
    let img_r = Image::parse(reference)?;
    let img_t = Image::parse(target).map_err(|e| match e {
        Error::Malformed { offset, reason, .. } => {
            Error::malformed("PE target image", offset, reason)
        }
        e => e,
    })?;
    let (file_type, flags) = match (img_r.machine, img_t.machine) {
        (0x014c, 0x014c) => (FILE_TYPE_I386, I386_FLAGS),
        (0x8664, 0x8664) => (FILE_TYPE_AMD64, AMD64_FLAGS),
        (r, t) => {
            return Err(Error::unsupported(
                "PE-typed delta",
                format!(
                    "PE-typed delta between machines {r:#x} and {t:#x}: only I386 → I386 and \
                     AMD64 → AMD64 are made"
                ),
            ))
        }
    };
    if opts.hash_alg_id == 0 {
        return Err(Error::invalid(
            "delta",
            "a PE-typed delta needs a target hash (its readings and rebase are judged by it)",
        ));
    }
    let timestamp = crate::pe::headers::u32_at(target, img_t.timestamp_at).unwrap_or(0);
    let preprocess = preprocess(
        img_t.image_base,
        timestamp,
        img_t.layout().points(),
        &section_map(&img_r, &img_t),
    );
    let opts = CreateOptions {
        flags,
        ..opts.clone()
    };
    // The decoder's view of the reference: parse a header with an empty patch and prepare.
    let probe = wrap(target, &[], &opts, FILE_TYPE_SET, file_type, &preprocess)?;
    let p = header::parse(&probe)?;
    let pp = pe::preprocess(&p.header, p.preprocess, p.preprocess_offset)?;
    let prep = pe::prepare(&p.header, reference, &pp, PeReading::default())?;
    let patch = create_patch_with_rift(&prep.reference, target, &opts, &prep.rift)?;
    wrap(target, &patch, &opts, FILE_TYPE_SET, file_type, &preprocess)
}

/// Reference section start → target section start for sections paired by position (module
/// doc); empty (the identity) when the images' section lists do not pair up or nothing moved.
fn section_map(r: &Image, t: &Image) -> Vec<(i64, i64)> {
    let pairs = r.sections.len() == t.sections.len()
        && r.sections
            .iter()
            .zip(&t.sections)
            .all(|(a, b)| a.characteristics == b.characteristics);
    let map: Vec<(i64, i64)> = r
        .sections
        .iter()
        .zip(&t.sections)
        .map(|(a, b)| (i64::from(a.va), i64::from(b.va)))
        .collect();
    let rising = map.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
    if !pairs || !rising || map.iter().all(|(a, b)| a == b) {
        return Vec::new();
    }
    map
}

/// The native preprocess buffer (layout: `delta::pe::preprocess`): target image base, checksum 0
/// (the patch writes the target's), timestamp, the layout rift, no CLI metadata, the RVA rift
/// (`rva_map`; absent when empty: the identity), no CLI map.
fn preprocess(
    image_base: u64,
    timestamp: u32,
    layout: &[(i64, i64)],
    rva_map: &[(i64, i64)],
) -> Vec<u8> {
    let mut w = BitWriter::stream();
    w.put(image_base & 0xffff_ffff, 32);
    w.put(image_base >> 32, 32);
    w.put(0, 32);
    w.put(u64::from(timestamp), 32);
    rift_table(&mut w, layout);
    w.put(0, 1);
    if rva_map.is_empty() {
        w.put(0, 1);
    } else {
        rift_table(&mut w, rva_map);
    }
    w.put(0, 1);
    w.finish_stream()
}

/// A rift table of (key, other) entries (layout: `delta::rift`): both integer codes give the 248
/// symbols of magnitudes up to 2^62 an 8-bit codeword equal to the symbol (counts 0/0/248, fill
/// length 8: the four remaining symbols take 7 bits, which completes the code); each entry is
/// coded as the change of `key` and of `other − key` from the previous entry.
pub(crate) fn rift_table(w: &mut BitWriter, entries: &[(i64, i64)]) {
    w.put(1, 1);
    for _ in 0..2 {
        w.put(0, 8);
        w.put(0, 8);
        w.put(248, 8);
        w.put(7, 4);
    }
    w.number(entries.len() as u64);
    let (mut key, mut val) = (0i64, 0i64);
    for &(k, other) in entries {
        int(w, k - key);
        int(w, other - k - val);
        key = k;
        val = other - k;
    }
}

/// One value of the rift integer code above.
fn int(w: &mut BitWriter, v: i64) {
    let (mag, base) = if v < 0 {
        (!v as u64, 126)
    } else {
        (v as u64, 0)
    };
    let (m, extra) = if mag <= 3 {
        (mag, None)
    } else {
        let e = 63 - mag.leading_zeros() - 1;
        (2 * (u64::from(e) + 1) + ((mag >> e) & 1), Some(e))
    };
    let sym = base + m;
    for i in (0..8).rev() {
        w.put(sym >> i & 1, 1);
    }
    if let Some(e) = extra {
        let low = mag & ((1u64 << e) - 1);
        if e > 32 {
            w.put(low & 0xffff_ffff, 32);
            w.put(low >> 32, e - 32);
        } else {
            w.put(low, e);
        }
    }
}
