//! The AMD64 RIP-relative transform of a PE-typed delta (flag 0x200, native `DisasmX64`).
//!
//! Described publicly (docs/formats/pa30-pe.md): it disassembles the functions located through
//! `.pdata`, maps "RIP-relative disp32" operands, runs after relocations (0x20) and before the
//! `.pdata` transform (0x400, which rewrites the entries this one reads). Everything else here
//! is our reading, and an output made with it is accepted only when the delta's target hash
//! confirms it (decision 30): each RUNTIME_FUNCTION's `[BeginAddress, EndAddress)` is decoded
//! linearly; an instruction with a 32-bit relative operand reaching `target = RVA(next
//! instruction) + disp` gets `M(target) − M(next)`, unless one of its displacement bytes is owned
//! or the target is unreachable; which operands are rewritten is the [`RipVariant`], tried in
//! order against the hash.

use super::image::{self, Image, DIR_EXCEPTION};
use super::owned::Owned;
use super::riftmap::Map;
use super::tables;
use super::x64dec::{self, RelKind};
use super::x86;

/// The transform's name in `delta info` and in errors.
pub(crate) const NAME: &str = "x64 RIP-relative disassembly";

/// Which 32-bit relative operands the transform rewrites. Not public: each is a reading, tried
/// in [`RipVariant::ORDER`] and kept only when the target hash matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RipVariant {
    /// RIP-relative memory operands (ModRM `mod = 00`, `r/m = 101`) and `rel32` branches
    /// (`E8` call, `E9` jump, `0F 80`–`8F` conditional jumps).
    V1,
    /// RIP-relative memory operands only.
    V2,
    /// As V1, and a near jump whose new displacement fits a signed byte takes the short form
    /// (`EB d8`, or `7x d8` over the `0F 8x`), as the I386 jump transform does.
    V3,
}

impl RipVariant {
    /// The order the variants are tried in.
    pub const ORDER: [RipVariant; 3] = [RipVariant::V1, RipVariant::V2, RipVariant::V3];

    /// "V1", "V2" or "V3".
    pub fn name(self) -> &'static str {
        match self {
            RipVariant::V1 => "V1",
            RipVariant::V2 => "V2",
            RipVariant::V3 => "V3",
        }
    }

    /// What the variant rewrites, in words.
    pub fn describe(self) -> &'static str {
        match self {
            RipVariant::V1 => "RIP-relative operands and rel32 branches",
            RipVariant::V2 => "RIP-relative operands only",
            RipVariant::V3 => {
                "RIP-relative operands and rel32 branches, near jumps collapsed to short form"
            }
        }
    }

    fn takes(self, k: RelKind) -> bool {
        self != RipVariant::V2 || k == RelKind::Memory
    }
}

/// Rewrite the 32-bit relative operands of the functions the reference's `.pdata` lists.
/// Returns how many bytes of code were decoded (the tests check each function is walked once).
pub(crate) fn rip_relative(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    v: RipVariant,
) -> usize {
    let Some((rva, size)) = img.dir(DIR_EXCEPTION) else {
        return 0;
    };
    let Some(start) = img.offset(rva, 12) else {
        return 0;
    };
    let n = (size as usize / 12)
        .min(tables::MAX_TABLE)
        .min((out.len() - start) / 12);
    // Bytes already decoded: a function listed twice, or one starting inside another, is not
    // walked again, so the total work stays within the image's length.
    let mut walked = Owned::new(out.len());
    let mut decoded = 0;
    for i in 0..n {
        let e = start + 12 * i;
        let (Some(begin), Some(end)) = (image::u32_at(out, e), image::u32_at(out, e + 4)) else {
            break;
        };
        let Some(len) = end.checked_sub(begin).filter(|&l| l > 0) else {
            continue;
        };
        let Some(at) = img.offset(begin, len) else {
            continue;
        };
        if walked.is(at) {
            continue;
        }
        decoded += walk(
            img,
            out,
            owned,
            &mut walked,
            map,
            v,
            (at, at + len as usize, begin),
        );
    }
    decoded
}

/// Decode one function, file range `[at, end)` starting at RVA `begin`, until its end, an
/// undecodable instruction or a byte already walked.
fn walk(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    walked: &mut Owned,
    map: &Map,
    v: RipVariant,
    (at, end, begin): (usize, usize, u32),
) -> usize {
    let mut p = at;
    while p < end && !walked.is(p) {
        let Some(insn) = x64dec::decode(&out[p..end]) else {
            break;
        };
        let len = insn.len;
        if len == 0 || p + len > end {
            break;
        }
        walked.claim(p, len);
        if let Some((off, kind)) = insn.rel32.filter(|&(o, k)| o + 4 <= len && v.takes(k)) {
            let next = begin.wrapping_add((p + len - at) as u32);
            rewrite(img, out, owned, map, v, (p, off, kind), next);
        }
        p += len;
    }
    p - at
}

/// Map the operand at `p + off` of the instruction ending at RVA `next`, and claim its bytes.
fn rewrite(
    img: &Image,
    out: &mut [u8],
    owned: &mut Owned,
    map: &Map,
    v: RipVariant,
    (p, off, kind): (usize, usize, RelKind),
    next: u32,
) {
    let d = p + off;
    if owned.any(d, 4) {
        return;
    }
    let disp = x86::disp_at(out, d);
    let target = i64::from(next) + i64::from(disp);
    if !u32::try_from(target).is_ok_and(|t| x86::reachable(img, t)) {
        return;
    }
    let nd = map.apply(target) - map.apply(i64::from(next));
    let Ok(nd) = i32::try_from(nd) else {
        return;
    };
    owned.claim(d, 4);
    // The opcode bytes a short form is written over: `E9` just before the displacement, or the
    // `0F 8x` pair.
    let op = match kind {
        RelKind::Jump => Some(d - 1),
        RelKind::CondJump => Some(d - 2),
        _ => None,
    };
    if let Some(o) = op.filter(|&o| {
        v == RipVariant::V3
            && o >= p
            && !(-128..=127).contains(&disp)
            && (-128..=127).contains(&nd)
            && !owned.any(o, d - o)
    }) {
        if kind == RelKind::Jump {
            out[o] = 0xeb;
            out[o + 1] = nd as u8;
        } else {
            out[o] = 0x70 | (out[o + 1] & 0x0f);
            out[o + 1] = nd as u8;
        }
    } else if nd != disp {
        out[d..d + 4].copy_from_slice(&nd.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    //! Hash-judged readings end to end: a tiny PE32+ reference whose `.text2` and `.pdata` sit
    //! 0x1000 higher than in the target, deltas whose target hash is one reading's output.
    use super::super::testpe::{dir, image, put32, OPT};
    use super::*;
    use crate::delta::testutil::{craft_with_preprocess, rift_table, BitWriter, Craft};
    use crate::delta::{
        self, encode, header, Applied, ApplyOptions, PdataVariant, PeReading, CALG_SHA_256,
    };
    use crate::Error;

    const BASE: u64 = 0x1_8000_0000;
    const STAMP: u32 = 0x1234_5678;

    /// Headers, `.text` (RVA 0x1000, 0x1000 long, file 0x400), `.text2` (0x3000, file 0x600),
    /// `.pdata` (0x4000, file 0x800). A function at 0x1000: `lea rax, [rip → 0x3100]`,
    /// `call 0x3000`, `ret`, then a near jump that no `.pdata` entry covers; one at 0x3000: a near
    /// jump back to 0x1fa0, whose displacement fits a byte once 0x3000 maps to 0x2000.
    fn reference() -> Vec<u8> {
        let mut b = image(
            0xa00,
            0x8664,
            STAMP,
            BASE,
            0x5000,
            &[
                (b".text", 0x1000, 0x400, 0x6000_0020),
                (b".tex2", 0x3000, 0x600, 0x6000_0020),
                (b".pdat", 0x4000, 0x800, 0x4000_0040),
            ],
        );
        put32(&mut b, OPT + 0xf0 + 8, 0x1000);
        put32(&mut b, dir(true, 3), 0x4000);
        put32(&mut b, dir(true, 3) + 4, 24);
        b[0x400..0x403].copy_from_slice(&[0x48, 0x8d, 0x05]);
        put32(&mut b, 0x403, 0x3100 - 0x1007);
        b[0x407] = 0xe8;
        put32(&mut b, 0x408, 0x3000 - 0x100c);
        b[0x40c] = 0xc3;
        b[0x410] = 0xe9; // outside every function
        put32(&mut b, 0x411, 0x3100 - 0x1015);
        b[0x600] = 0xe9;
        put32(&mut b, 0x601, 0x1fa0u32.wrapping_sub(0x3005));
        for (k, v) in [0x1000u32, 0x100d, 0x4100, 0x3000, 0x3005, 0x4100]
            .iter()
            .enumerate()
        {
            put32(&mut b, 0x800 + 4 * k, *v);
        }
        b
    }

    /// The preprocess buffer: the reference's base and timestamp, the target's layout (its
    /// sections at 0x1000/0x2000/0x3000, files as the reference's), the RVA map 0x3000 → 0x2000.
    fn preprocess() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(BASE, 64);
        w.put(0, 32);
        w.put(u64::from(STAMP), 32);
        rift_table(
            &mut w,
            &[(0, 0), (0x1000, 0x400), (0x2000, 0x600), (0x3000, 0x800)],
        );
        w.put(0, 1);
        rift_table(&mut w, &[(0x3000, 0x2000)]);
        w.put(0, 1);
        w.finish()
    }

    fn pe_delta(target: &[u8], alg: u32, hash: &[u8], patch: &[u8]) -> Vec<u8> {
        craft_with_preprocess(
            &Craft {
                pa31: false,
                file_type: 8,
                flags: 0xe63e,
                target_size: target.len() as u64,
                alg: u64::from(alg),
                hash,
                patch,
            },
            &preprocess(),
        )
    }

    /// The reference as reading `v` prepares it.
    fn prepared(v: RipVariant) -> Vec<u8> {
        let d = pe_delta(&[], 0, &[], &[]);
        let p = header::parse(&d).unwrap();
        let pp = super::super::preprocess(&p.header, p.preprocess, p.preprocess_offset).unwrap();
        let prep = super::super::prepare(&p.header, &reference(), &pp, v.into()).unwrap();
        assert_eq!(prep.rip, Some(v));
        assert!(!prep.complete);
        prep.reference
    }

    /// A delta whose target is `target`, its patch made by our encoder against `base` (the
    /// composed copy rift is the identity here: only RVAs move, file offsets do not).
    fn delta_for(base: &[u8], target: &[u8], hash: Option<&[u8]>) -> Vec<u8> {
        let raw = encode::create(base, target, &encode::CreateOptions::default()).unwrap();
        let patch = header::parse(&raw).unwrap().patch.to_vec();
        let own;
        let hash = match hash {
            Some(h) => h,
            None => {
                own = delta::digest(CALG_SHA_256, target).unwrap();
                &own
            }
        };
        pe_delta(target, CALG_SHA_256, hash, &patch)
    }

    fn disp(b: &[u8], at: usize) -> i32 {
        i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn readings_rewrite_what_they_say() {
        let (v1, v2, v3) = (
            prepared(RipVariant::V1),
            prepared(RipVariant::V2),
            prepared(RipVariant::V3),
        );
        let r = reference();
        // lea: 0x3100 from 0x1007 becomes 0x2100 from 0x1007 in every reading.
        for b in [&v1, &v2, &v3] {
            assert_eq!(disp(b, 0x403), 0x2100 - 0x1007);
            // The jump outside every .pdata function is left alone.
            assert_eq!(b[0x410..0x415], r[0x410..0x415]);
        }
        // call: mapped by V1 and V3, not by V2.
        assert_eq!(disp(&v1, 0x408), 0x2000 - 0x100c);
        assert_eq!(disp(&v2, 0x408), 0x3000 - 0x100c);
        assert_eq!(disp(&v3, 0x408), 0x2000 - 0x100c);
        // The jump back from .text2: V1 maps it, V2 leaves it, V3 takes the short form.
        assert_eq!(disp(&v1, 0x601), 0x1fa0 - 0x2005);
        assert_eq!(v2[0x600..0x605], r[0x600..0x605]);
        assert_eq!(v3[0x600..0x602], [0xeb, (0x1fa0 - 0x2005) as u8]);
        assert_eq!(v3[0x602..0x605], r[0x602..0x605]);
        // .pdata was read before it was mapped: its entries now hold target RVAs.
        assert_eq!(
            u32::from_le_bytes(v1[0x808..0x80c].try_into().unwrap()),
            0x3100
        );
    }

    #[test]
    fn the_first_reading_the_target_hash_confirms_is_the_output() {
        let opts = ApplyOptions::default();
        for (want, accepted) in [
            (RipVariant::V1, RipVariant::V1),
            (RipVariant::V2, RipVariant::V2),
            (RipVariant::V3, RipVariant::V3),
        ] {
            let t = prepared(want);
            let d = delta_for(&t, &t, None);
            let Applied {
                target,
                rip_variant,
                ..
            } = delta::apply_detailed(&reference(), &d, &opts).unwrap();
            assert!(target == t, "{want:?}");
            assert_eq!(rip_variant, Some(accepted));
        }
    }

    #[test]
    fn every_reading_missing_the_hash_is_unsupported_and_no_hash_is_refused() {
        let t = prepared(RipVariant::V2);
        let d = delta_for(&t, &t, Some(&[0x55; 32]));
        let e = delta::apply(&reference(), &d, &ApplyOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        let m = e.to_string();
        assert!(
            m.contains(
                "x64 RIP-relative disassembly (variants V1, V2, V3 tried: target hash mismatch)"
            ),
            "{m}"
        );
        // Without a hash, or with checking off, the RIP-relative reading cannot be judged.
        let raw = encode::create(&t, &t, &encode::CreateOptions::default()).unwrap();
        let patch = header::parse(&raw).unwrap().patch.to_vec();
        let lax = ApplyOptions {
            verify_hash: false,
            ..ApplyOptions::default()
        };
        for (d, o) in [
            (pe_delta(&t, 0, &[], &patch), ApplyOptions::default()),
            (delta_for(&t, &t, None), lax),
        ] {
            let e = delta::apply(&reference(), &d, &o).unwrap_err();
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            assert!(
                e.to_string().contains("x64 RIP-relative disassembly"),
                "{e}"
            );
        }
    }

    /// The reference with unwind information for both functions: the first's (RVA 0x4100, file
    /// 0x900) has `UNW_FLAG_EHANDLER`, one unwind code (padded to two) and its handler at RVA
    /// 0x3100; the second's (0x4180, file 0x980) has `UNW_FLAG_CHAININFO`, no codes, and the
    /// chained `RUNTIME_FUNCTION` (0x3010, 0x3015, 0x4100; each value unique in the file, so
    /// pefile's reading of it can only come from those bytes).
    fn reference_with_unwind() -> Vec<u8> {
        let mut b = reference();
        put32(&mut b, 0x800 + 20, 0x4180);
        b[0x900..0x904].copy_from_slice(&[1 << 3 | 1, 4, 1, 0]);
        b[0x904..0x906].copy_from_slice(&[0x04, 0x42]);
        put32(&mut b, 0x908, 0x3100);
        b[0x980..0x984].copy_from_slice(&[4 << 3 | 1, 0, 0, 0]);
        for (k, v) in [0x3010u32, 0x3015, 0x4100].iter().enumerate() {
            put32(&mut b, 0x984 + 4 * k, *v);
        }
        b
    }

    fn prepared_pdata(v: PdataVariant) -> Vec<u8> {
        let d = pe_delta(&[], 0, &[], &[]);
        let p = header::parse(&d).unwrap();
        let pp = super::super::preprocess(&p.header, p.preprocess, p.preprocess_offset).unwrap();
        let reading = PeReading {
            pdata: v,
            ..PeReading::default()
        };
        let prep =
            super::super::prepare(&p.header, &reference_with_unwind(), &pp, reading).unwrap();
        assert!(prep.varied.pdata);
        prep.reference
    }

    #[test]
    fn unwind_information_readings_move_what_they_say() {
        let u = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let first = prepared_pdata(PdataVariant::FirstSlot);
        let records = prepared_pdata(PdataVariant::Entries);
        let chained = prepared_pdata(PdataVariant::Chained);
        // Handler RVA 0x3100 → 0x2100, except when only the records move.
        assert_eq!(u(&first, 0x908), 0x2100);
        assert_eq!(u(&records, 0x908), 0x3100);
        assert_eq!(u(&chained, 0x908), 0x2100);
        // The chained RUNTIME_FUNCTION: its begin only, none, or all three.
        let chain = |b: &[u8]| (u(b, 0x984), u(b, 0x988), u(b, 0x98c));
        assert_eq!(chain(&first), (0x2010, 0x3015, 0x4100));
        assert_eq!(chain(&records), (0x3010, 0x3015, 0x4100));
        assert_eq!(chain(&chained), (0x2010, 0x2015, 0x3100));
        // The unwind codes themselves never change; the records move in every reading.
        for b in [&first, &records, &chained] {
            assert_eq!(b[0x900..0x906], reference_with_unwind()[0x900..0x906]);
            assert_eq!(u(b, 0x80c), 0x2000);
            assert_eq!(u(b, 0x814), 0x3180);
        }
        // Python pefile, an independent parser, reads the reference's unwind information: the
        // handler and the chained entry are where the readings above moved them (the slot after
        // the codes, padded to an even count).
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("unwind.dll");
        std::fs::write(&f, reference_with_unwind()).unwrap();
        let py = "import pefile,sys\n\
                  pe=pefile.PE(sys.argv[1])\n\
                  for e in pe.DIRECTORY_ENTRY_EXCEPTION:\n\
                  \x20u=e.unwindinfo\n\
                  \x20n=u._opt_field_name\n\
                  \x20print(n, hex(getattr(u,n)))\n";
        match std::process::Command::new("python3")
            .args(["-c", py])
            .arg(&f)
            .output()
        {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                assert_eq!(
                    text, "ExceptionHandler 0x3100\nFunctionEntry 0x3010\n",
                    "{text}"
                );
            }
            other => {
                let why = format!("python3 pefile not usable here: {other:?}");
                assert!(std::env::var_os("CI").is_none(), "{why}");
                eprintln!("skipped: {why}");
            }
        }
    }

    #[test]
    fn the_unwind_reading_the_target_hash_confirms_is_the_output() {
        let opts = ApplyOptions::default();
        for (i, want) in PdataVariant::ORDER.into_iter().enumerate() {
            let t = prepared_pdata(want);
            let a =
                delta::apply_detailed(&reference_with_unwind(), &delta_for(&t, &t, None), &opts)
                    .unwrap();
            assert!(a.target == t, "{want:?}");
            let pe = a.pe.unwrap();
            assert_eq!(pe.pdata_variant, Some(want));
            assert_eq!(pe.reading.rip, RipVariant::V1);
            assert_eq!(pe.decodes, 1 + 3 * i, "{want:?}");
        }
        let t = prepared_pdata(PdataVariant::Chained);
        let e = delta::apply(
            &reference_with_unwind(),
            &delta_for(&t, &t, Some(&[1; 32])),
            &opts,
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains(
                "x64 .pdata (unwind information RVAs) (readings first slot, records only, chained \
                 tried: target hash mismatch)"
            ),
            "{m}"
        );
    }

    #[test]
    fn overlapping_and_repeated_functions_are_walked_once() {
        // The function listed three times, once starting inside itself: the call is rewritten
        // once (a second rewrite would map it again from the already mapped value).
        let mut r = reference();
        put32(&mut r, dir(true, 3) + 4, 12 * 3);
        for (k, v) in [0x1000u32, 0x100d, 0x4100, 0x1007, 0x100d, 0x4100]
            .iter()
            .enumerate()
        {
            put32(&mut r, 0x80c + 4 * k, *v);
        }
        let img = Image::parse(&r).unwrap();
        let mut out = r.clone();
        let mut owned = Owned::new(out.len());
        let map = Map::new(vec![(0x3000, 0x2000)]);
        let walked = rip_relative(&img, &mut out, &mut owned, &map, RipVariant::V1);
        assert_eq!(walked, 13);
        assert_eq!(disp(&out, 0x408), 0x2000 - 0x100c);
        // Damaged ranges (end before begin, past the section, huge) are skipped, never read.
        for (b, e) in [(0x1008u32, 0x1000u32), (0x1000, 0x9000), (0, u32::MAX)] {
            put32(&mut r, 0x800, b);
            put32(&mut r, 0x804, e);
            let img = Image::parse(&r).unwrap();
            let mut out = r.clone();
            rip_relative(
                &img,
                &mut out,
                &mut Owned::new(r.len()),
                &map,
                RipVariant::V1,
            );
        }
    }
}
