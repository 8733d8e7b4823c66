//! Creating PA30 deltas (file type RAW, PseudoLzx codec), PE-typed ones ([`create_pe`]: I386 and
//! AMD64, an RVA map at section granularity) and DCM-compressed manifests.
//!
//! The output is meant for this project's decoder and for msdelta's reading of the format; it
//! does not try to match Microsoft's bytes. Choices (documented in docs/formats/pa30-encoder.md):
//! an empty rift table (so "source" copies are relative to the output position itself), hash-chain
//! matching over reference + target with one step of lazy evaluation, coded blocks of up to
//! [`CreateOptions::block_tokens`] tokens with length-limited Huffman codes, and msdelta's default
//! tables instead when the target fits one block and they come out smaller.

pub(crate) mod bitwrite;
mod huffcode;
mod matcher;
pub(crate) mod pe;
mod stream;
mod tokens;

pub use pe::{create_pe, AMD64_FLAGS, I386_FLAGS};

use super::dcm::DCM_SIGNATURE;
use super::{digest, FILE_TYPE_RAW, FLAG_E8};
use crate::{Error, Result};
use bitwrite::BitWriter;

/// FILETIME Microsoft's DCM manifests carry (1970-01-01 00:00:01 UTC), used by [`create_dcm`].
pub const DCM_FILE_TIME: u64 = 116_444_736_010_000_000;
/// Flags Microsoft's DCM manifests carry.
pub const DCM_FLAGS: u64 = 0x20000;

/// Options for [`create`].
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Target FILETIME written into the header.
    pub target_file_time: u64,
    /// Header flags. Only flags that do not change the RAW decoding are accepted (not `FLAG_E8`).
    pub flags: u64,
    /// Target hash algorithm (`CALG_*`), or 0 for none.
    pub hash_alg_id: u32,
    /// Largest target accepted (the decoder's default cap, 1 GiB).
    pub max_target_size: u64,
    /// Hash-chain candidates examined per position.
    pub max_chain: u32,
    /// A match this long ends the search at a position.
    pub nice_len: usize,
    /// Tokens per coded block (each block has its own Huffman tables).
    pub block_tokens: usize,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            target_file_time: 0,
            flags: 0,
            hash_alg_id: super::CALG_SHA_256,
            max_target_size: 1 << 30,
            max_chain: 24,
            nice_len: 258,
            block_tokens: 1 << 15,
        }
    }
}

/// Create a PA30 delta that turns `reference` into `target`.
pub fn create(reference: &[u8], target: &[u8], opts: &CreateOptions) -> Result<Vec<u8>> {
    if opts.flags & FLAG_E8 != 0 {
        return Err(Error::unsupported(
            "delta",
            "creating a delta with the x86 E8 filter flag (0x1)",
        ));
    }
    let patch = create_patch(reference, target, opts)?;
    wrap_patch(target, &patch, opts)
}

/// The PseudoLzx patch buffer alone that turns `reference` into `target` (the effort and size
/// options of `opts` apply; its header fields do not). [`create`] wraps it with
/// [`wrap_patch`]; tests wrap it themselves where the header describes a post-processed target,
/// as for the E8 filter (the stream encodes the filtered bytes, the hash is of the target).
pub fn create_patch(reference: &[u8], target: &[u8], opts: &CreateOptions) -> Result<Vec<u8>> {
    create_patch_with_rift(reference, target, opts, &[])
}

/// As [`create_patch`], with source copies predicted through `rift` (a PE-typed delta's copy
/// rift; empty for RAW).
fn create_patch_with_rift(
    reference: &[u8],
    target: &[u8],
    opts: &CreateOptions,
    rift: &[super::rift::Rift],
) -> Result<Vec<u8>> {
    if target.len() as u64 > opts.max_target_size {
        return Err(Error::limit(
            target.len(),
            opts.max_target_size,
            format!(
                "delta target of {} bytes exceeds the limit of {} bytes",
                target.len(),
                opts.max_target_size
            ),
        ));
    }
    // Positions in reference + target are u32 in the matcher, and back distances must stay below
    // 2^32 (slot 70's range).
    let total = reference.len() as u64 + target.len() as u64;
    if total >= u64::from(u32::MAX) {
        return Err(Error::limit(
            total,
            u32::MAX - 1,
            format!("reference + target of {total} bytes: the encoder handles less than 4 GiB"),
        ));
    }
    let mut sw = stream::StreamWriter::new(reference.len() as u64, opts.block_tokens);
    let effort = matcher::Effort {
        max_chain: opts.max_chain.max(1),
        nice_len: opts.nice_len.clamp(8, 1 << 20),
    };
    matcher::parse(reference, target, effort, rift, |t| sw.push(t));
    Ok(sw.finish())
}

/// A PA30 delta (file type RAW) around an already-made patch buffer for `target`: the header
/// fields from `opts` (flags, FILETIME, hash of `target`), an empty preprocess buffer, `patch`.
/// [`create`] uses it for its PseudoLzx stream; tests use it for LZMS containers made elsewhere.
pub fn wrap_patch(target: &[u8], patch: &[u8], opts: &CreateOptions) -> Result<Vec<u8>> {
    // File type set: RAW only, as Microsoft's RAW deltas say; RAW has no preprocess buffer.
    wrap(target, patch, opts, 1, FILE_TYPE_RAW, &[])
}

/// A PA30 delta around `patch`: header fields from `opts`, the file type set and type given, the
/// preprocess buffer.
fn wrap(
    target: &[u8],
    patch: &[u8],
    opts: &CreateOptions,
    file_type_set: u64,
    file_type: u64,
    preprocess: &[u8],
) -> Result<Vec<u8>> {
    let hash = if opts.hash_alg_id == 0 {
        Vec::new()
    } else {
        digest(opts.hash_alg_id, target)?
    };
    let mut w = BitWriter::stream();
    w.number(file_type_set);
    w.number(file_type);
    w.number(opts.flags);
    w.number(target.len() as u64);
    w.number(u64::from(opts.hash_alg_id));
    w.buffer(&hash);
    w.buffer(preprocess);
    w.buffer(patch);
    let mut out = Vec::with_capacity(12 + patch.len() + 64);
    out.extend_from_slice(b"PA30");
    out.extend_from_slice(&opts.target_file_time.to_le_bytes());
    out.extend_from_slice(&w.finish_stream());
    Ok(out)
}

/// A Compression-API LZMS container (the layout of docs/formats/pa30.md section 5.1) around
/// LZMS chunks compressed elsewhere: `total` output bytes in chunks of `chunk_size` (the last
/// one shorter), each given as its compressed bytes. The check byte is written as described
/// (low byte of the CRC-32 of the other 23 header bytes); the decoder does not rely on it.
pub fn lzms_container(total: u64, chunk_size: u64, chunks: &[&[u8]]) -> Result<Vec<u8>> {
    if chunk_size == 0 || total.div_ceil(chunk_size) != chunks.len() as u64 {
        return Err(Error::invalid(
            "delta encoder",
            format!(
                "{} chunks do not cover {total} bytes in chunks of {chunk_size}",
                chunks.len()
            ),
        ));
    }
    let mut out = vec![0x0a, 0x51, 0xe5, 0xc0, 0x18, 0x00, 0x00, 0x05];
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&chunk_size.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out[..6]);
    h.update(&out[7..]);
    out[6] = h.finalize() as u8;
    for c in chunks {
        let len = u32::try_from(c.len()).map_err(|_| {
            Error::invalid("delta encoder", format!("LZMS chunk of {} bytes", c.len()))
        })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(c);
    }
    Ok(out)
}

/// A `DCM\x01` manifest: `xml` as a PA30 delta against `base`, with the header Microsoft's DCM
/// manifests have (flags 0x20000, no hash, FILETIME 1970-01-01 00:00:01).
pub fn create_dcm(base: &[u8], xml: &[u8]) -> Result<Vec<u8>> {
    let opts = CreateOptions {
        target_file_time: DCM_FILE_TIME,
        flags: DCM_FLAGS,
        hash_alg_id: 0,
        ..CreateOptions::default()
    };
    let mut out = DCM_SIGNATURE.to_vec();
    out.extend_from_slice(&create(base, xml, &opts)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{apply, dcm, parse_header, ApplyOptions, CALG_MD5};
    use super::*;

    /// xorshift64*, so the random cases are the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn bytes(&mut self, n: usize, alphabet: u8) -> Vec<u8> {
            (0..n)
                .map(|_| (self.next() % u64::from(alphabet)) as u8)
                .collect()
        }
    }

    fn round_trip(r: &[u8], t: &[u8], opts: &CreateOptions) -> Vec<u8> {
        let d = create(r, t, opts).unwrap();
        let got = apply(r, &d, &ApplyOptions::default())
            .unwrap_or_else(|e| panic!("ref {} target {}: {e}", r.len(), t.len()));
        assert!(
            got == t,
            "ref {} target {}: output differs",
            r.len(),
            t.len()
        );
        d
    }

    /// A target made from edits of the reference: copies, insertions, deletions, moves.
    fn edited(rng: &mut Rng, r: &[u8], n: usize) -> Vec<u8> {
        let mut t = Vec::with_capacity(n);
        while t.len() < n {
            match rng.below(4) {
                0 if !r.is_empty() => {
                    let s = rng.below(r.len());
                    let l = rng.below(2000).min(r.len() - s);
                    t.extend_from_slice(&r[s..s + l]);
                }
                1 => {
                    let l = rng.below(40);
                    t.extend(rng.bytes(l, 255));
                }
                2 if !t.is_empty() => {
                    let s = rng.below(t.len());
                    let l = rng.below(300).min(t.len() - s);
                    t.extend_from_within(s..s + l);
                }
                _ => {
                    let l = rng.below(50);
                    t.extend(rng.bytes(l, 4));
                }
            }
        }
        t.truncate(n);
        t
    }

    #[test]
    fn random_pairs_round_trip() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let sizes = [
            0usize, 1, 2, 3, 7, 8, 9, 255, 256, 263, 264, 265, 4095, 4096, 65_537,
        ];
        let small_blocks = CreateOptions {
            block_tokens: 7,
            ..CreateOptions::default()
        };
        for &rn in &sizes {
            for &tn in &sizes {
                let r = rng.bytes(rn, if rn % 2 == 0 { 255 } else { 3 });
                let t = edited(&mut rng, &r, tn);
                round_trip(&r, &t, &CreateOptions::default());
                if tn < 5000 {
                    round_trip(&r, &t, &small_blocks);
                }
            }
        }
        for i in 0..60 {
            let rn = rng.below(20_000);
            let tn = rng.below(20_000);
            let r = rng.bytes(rn, [2u8, 16, 255][i % 3]);
            let t = if i % 2 == 0 {
                edited(&mut rng, &r, tn)
            } else {
                rng.bytes(tn, 255)
            };
            let opts = CreateOptions {
                block_tokens: 1 + rng.below(3000),
                max_chain: 1 + rng.below(64) as u32,
                ..CreateOptions::default()
            };
            round_trip(&r, &t, &opts);
        }
    }

    #[test]
    fn long_matches_and_far_distances() {
        // Runs longer than 263 (the long-length field) and distances needing the slot escape.
        let mut rng = Rng(99);
        let r = rng.bytes(1 << 20, 255);
        let mut t = r[..300_000].to_vec();
        t.extend(vec![0u8; 70_000]);
        t.extend_from_slice(&r[900_000..1_000_000]);
        t.extend_from_slice(&r[10..20]);
        let d = round_trip(&r, &t, &CreateOptions::default());
        assert!(d.len() < 1000, "{}", d.len());
        // Identical files: a single copy.
        let d = round_trip(&r, &r, &CreateOptions::default());
        assert!(d.len() < 200, "{}", d.len());
        // Empty reference: the target compresses against itself.
        let t: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let d = round_trip(&[], &t, &CreateOptions::default());
        assert!(d.len() < 500, "{}", d.len());
    }

    #[test]
    fn edits_of_a_long_reference_are_found_far_back() {
        // Small edits all over a 4 MiB random reference shift every later offset: only the sparse
        // block index finds those copies (hash chains see the most recent positions first).
        let mut rng = Rng(7);
        let r = rng.bytes(4 << 20, 16);
        let mut t = r.clone();
        for _ in 0..300 {
            let at = rng.below(t.len() - 20);
            let n = rng.below(20);
            let ins = rng.bytes(n, 255);
            let cut = rng.below(10);
            t.splice(at..at + cut, ins);
        }
        let d = round_trip(&r, &t, &CreateOptions::default());
        assert!(d.len() < t.len() / 200, "{} bytes", d.len());
        // Incompressible, unrelated data barely grows.
        let u = rng.bytes(1 << 20, 255);
        let d = round_trip(&r, &u, &CreateOptions::default());
        assert!(d.len() < u.len() + u.len() / 100, "{} bytes", d.len());
    }

    #[test]
    fn header_fields_and_hashes() {
        let opts = CreateOptions {
            target_file_time: 0x01d0_1234_5678_9abc,
            hash_alg_id: CALG_MD5,
            ..CreateOptions::default()
        };
        let d = round_trip(b"reference", b"the target", &opts);
        let h = parse_header(&d).unwrap();
        assert_eq!(
            (
                h.file_type_set,
                h.file_type,
                h.flags,
                h.target_size,
                h.hash_alg_id
            ),
            (1, 1, 0, 10, CALG_MD5)
        );
        assert_eq!(h.target_file_time, 0x01d0_1234_5678_9abc);
        assert_eq!(h.target_hash.len(), 16);
        let d = round_trip(b"", b"x", &CreateOptions::default());
        assert_eq!(parse_header(&d).unwrap().target_hash.len(), 32);
        let bad = CreateOptions {
            hash_alg_id: 0x8099,
            ..CreateOptions::default()
        };
        assert_eq!(create(b"", b"x", &bad).unwrap_err().kind(), "unsupported");
        let e8 = CreateOptions {
            flags: FLAG_E8,
            ..CreateOptions::default()
        };
        assert!(create(b"", b"x", &e8).is_err());
        let cap = CreateOptions {
            max_target_size: 3,
            ..CreateOptions::default()
        };
        assert_eq!(create(b"", b"four", &cap).unwrap_err().kind(), "limit");
    }

    #[test]
    fn dcm_round_trip_and_header() {
        let base = b"<?xml version=\"1.0\"?><assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"></assembly>";
        let xml = b"<?xml version=\"1.0\"?><assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\"><assemblyIdentity name=\"x\"/></assembly>";
        let m = create_dcm(base, xml).unwrap();
        assert!(dcm::is_dcm(&m));
        let h = parse_header(&m[4..]).unwrap();
        assert_eq!(
            (h.flags, h.hash_alg_id, h.target_file_time),
            (0x20000, 0, DCM_FILE_TIME)
        );
        assert_eq!(
            dcm::decode(base, &m, &ApplyOptions::default()).unwrap(),
            xml
        );
    }
}
