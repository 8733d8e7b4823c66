//! The x86 E8 filter on RAW deltas (flag 0x1), read three ways and accepted only through the
//! target hash (docs/formats/pa30.md section 5.3). No genuine E8-flagged RAW delta exists here,
//! so these deltas are crafted: a target T of real x86 code goes through one variant's forward
//! translation (T'), our encoder makes a PseudoLzx stream reference → T', and the header gets
//! flag 0x1 and SHA-256(T). Applying must give T byte for byte through that variant, and a hash
//! no variant meets must be refused. That shows the plumbing and that the variants are told
//! apart; it cannot show that msdelta filters this way.
//!
//! The rule the variants share is checked against an independent decoder: libmspack (through
//! `cabextract`) undoes the same LZX E8 translation on CAB LZX folders, per 32 KiB frame with
//! positions counted over the whole folder and the translation size from the stream header. A
//! CAB holding one uncompressed LZX block with E8 translation on is written here from the CAB and
//! LZX layouts, and its extracted bytes must equal our W2 (and W1 where the two coincide).

mod common;

use common::{msdelta_vectors, read, run_cmd, Rng};
use mediaprep_core::delta::e8::{self, Variant};
use mediaprep_core::delta::{self, encode, ApplyOptions, CALG_SHA_256};
use std::process::Command;

/// x86 code from the system: the first ELF over 400 KB in /usr/bin (by name), capped at `cap`.
/// (x86-64 code uses the same `E8 rel32` calls as i386.)
fn system_code(cap: usize) -> Vec<u8> {
    let code = std::fs::read_dir("/usr/bin")
        .expect("read /usr/bin")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.len() > 400_000)
                .unwrap_or(false)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .find(|d| d.starts_with(b"\x7fELF"))
        .expect("an x86 ELF in /usr/bin");
    code[..code.len().min(cap)].to_vec()
}

/// An `E8 rel32` with a small forward target `FRAME - 8` bytes into each 32 KiB frame, so that
/// W1 (which translates frame tails) and W2 (which leaves them) give different bytes.
fn plant_frame_tail_calls(t: &mut [u8]) {
    let n = t.len();
    for f in (32768..=n).step_by(32768) {
        // NOPs before it, so that no earlier call's operand swallows it.
        t[f - 24..f - 8].fill(0x90);
        t[f - 8] = 0xe8;
        t[f - 7..f - 3].copy_from_slice(&100i32.to_le_bytes());
    }
}

/// A PE32 for i386 around `code`: `.text` (executable) holding `code`, then `.rdata` (not
/// executable) holding it again, so that a translation outside executable sections shows.
fn i386_pe(code: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
    b[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
    b[0x94..0x96].copy_from_slice(&224u16.to_le_bytes());
    b[0x98..0x9a].copy_from_slice(&0x10bu16.to_le_bytes());
    let len = code.len() as u32;
    for (i, (name, ptr, ch)) in [
        (b".text\0\0\0", 0x400u32, 0x6000_0020u32),
        (b".rdata\0\0", 0x400 + len, 0x4000_0040),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 0x98 + 224 + 40 * i;
        b[at..at + 8].copy_from_slice(name);
        b[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
        b[at + 12..at + 16].copy_from_slice(&(0x1000 + ptr).to_le_bytes());
        b[at + 16..at + 20].copy_from_slice(&len.to_le_bytes());
        b[at + 20..at + 24].copy_from_slice(&ptr.to_le_bytes());
        b[at + 36..at + 40].copy_from_slice(&ch.to_le_bytes());
    }
    b.extend_from_slice(code);
    b.extend_from_slice(code);
    b
}

/// A RAW delta reference → T with flag 0x1 whose stream encodes `filtered` (T after a variant's
/// forward translation) and whose header carries SHA-256 of `hashed`.
fn e8_delta(reference: &[u8], filtered: &[u8], hashed: &[u8]) -> Vec<u8> {
    let opts = encode::CreateOptions {
        flags: delta::FLAG_E8,
        hash_alg_id: CALG_SHA_256,
        ..encode::CreateOptions::default()
    };
    let patch = encode::create_patch(reference, filtered, &opts).unwrap();
    encode::wrap_patch(hashed, &patch, &opts).unwrap()
}

/// T through variant `v`, encoded, flagged and applied: the output must be T, accepted through
/// the first variant whose reading gives T back (`v` itself unless an earlier reading happens to
/// coincide on these bytes), which is returned.
fn check_variant(name: &str, reference: &[u8], t: &[u8], v: Variant) -> Variant {
    let mut filtered = t.to_vec();
    assert!(e8::forward(v, &mut filtered), "{name}: {v:?} applies");
    assert!(filtered != t, "{name}: {v:?} translated nothing");
    let first = Variant::ALL
        .into_iter()
        .find(|&w| {
            let mut back = filtered.clone();
            e8::inverse(w, &mut back) && back == t
        })
        .expect("v undoes itself");
    let d = e8_delta(reference, &filtered, t);
    let h = delta::parse_header(&d).unwrap();
    assert_eq!(h.flags, delta::FLAG_E8);
    let got = delta::apply_detailed(reference, &d, &ApplyOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.e8_variant, Some(first), "{name}");
    assert!(got.target == t, "{name}: output is not the target");
    first
}

#[test]
fn w1_whole_output_on_x86_code() {
    let t = system_code(300_000);
    // Reference: the same code with every 1000th byte changed, so the stream has copies and
    // literals (and the filtered target is not the reference).
    let mut reference = t.clone();
    for i in (0..reference.len()).step_by(1000) {
        reference[i] ^= 0x55;
    }
    let w1 = Variant::WholeOutput;
    assert_eq!(check_variant("x86 code", &reference, &t, w1), w1);
    assert_eq!(
        check_variant("x86 code, no reference", &[], &t[..40_000], w1),
        w1
    );
}

#[test]
fn w2_frames_on_x86_code() {
    let mut t = system_code(200_000);
    plant_frame_tail_calls(&mut t);
    let w2 = Variant::Frames32K;
    assert_eq!(check_variant("x86 code", &t[..150_000], &t, w2), w2);
}

#[test]
fn w3_i386_sections_on_a_synthetic_pe() {
    let code = system_code(120_000);
    let t = i386_pe(&code);
    let w3 = Variant::I386Sections;
    assert_eq!(check_variant("synthetic i386 PE", &t[..60_000], &t, w3), w3);
}

#[test]
fn w3_i386_sections_on_a_genuine_i386_pe() {
    // Read from ../shared at test time, never copied: an i386 (0x14c) DLL with a .text section.
    let Some(dir) = msdelta_vectors() else {
        return;
    };
    let d = dir.join("pe/x86_mscordbi");
    let (base, target) = (read(&d.join("base.bin")), read(&d.join("target.bin")));
    // Its only E8 bytes outside .text carry values no reading translates, and none sits in a
    // tail, so W1 reads this file as W3 does and is the one accepted: what the test shows is
    // that a genuine i386 DLL filtered by W3 comes back byte for byte.
    let got = check_variant("x86_mscordbi target", &base, &target, Variant::I386Sections);
    assert_eq!(got, Variant::WholeOutput);
}

#[test]
fn a_hash_no_variant_meets_is_refused() {
    let t = system_code(80_000);
    let mut filtered = t.clone();
    e8::forward(Variant::WholeOutput, &mut filtered);
    let mut wrong = t.clone();
    wrong[1234] ^= 1;
    let d = e8_delta(&[], &filtered, &wrong);
    let e = delta::apply(&[], &d, &ApplyOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "unsupported", "{e}");
    assert!(
        e.to_string()
            .contains("x86 E8 filter on a RAW delta (variants W1–W3 tried: target hash mismatch)"),
        "{e}"
    );
    // Without a hash, or with checking off, nothing can judge the readings: refused before
    // decoding.
    let opts = encode::CreateOptions {
        flags: delta::FLAG_E8,
        hash_alg_id: 0,
        ..encode::CreateOptions::default()
    };
    let patch = encode::create_patch(&[], &filtered, &opts).unwrap();
    let no_hash = encode::wrap_patch(&t, &patch, &opts).unwrap();
    let lax = ApplyOptions {
        verify_hash: false,
        ..ApplyOptions::default()
    };
    let good = e8_delta(&[], &filtered, &t);
    for (d, o) in [(&no_hash, ApplyOptions::default()), (&good, lax)] {
        let e = delta::apply(&[], d, &o).unwrap_err();
        assert_eq!(e.kind(), "unsupported", "{e}");
        assert!(e.to_string().contains("without a target hash"), "{e}");
    }
    // The same stream without the flag is an ordinary RAW delta: it gives the filtered bytes,
    // which the hash of T refuses.
    let plain = encode::CreateOptions::default();
    let d = encode::wrap_patch(&t, &patch, &plain).unwrap();
    let e = delta::apply(&[], &d, &ApplyOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "digest-mismatch", "{e}");
}

#[test]
fn damaged_e8_deltas_fail_cleanly() {
    let t = system_code(20_000);
    let mut filtered = t.clone();
    e8::forward(Variant::WholeOutput, &mut filtered);
    let d = e8_delta(&t[..5000], &filtered, &t);
    let mut rng = Rng(0xe8e8_1234_5678_9abc);
    let mut tried = 0;
    for _ in 0..300 {
        let mut m = d.clone();
        let i = 12 + rng.below(m.len() - 12);
        m[i] ^= 1 << rng.below(8);
        common::check_mutated_delta(&t[..5000], &m, Some(&t), "E8 delta bit flip");
        tried += 1;
    }
    assert_eq!(tried, 300);
}

// --- the shared rule against libmspack (cabextract) ---

/// LZX bits: 16-bit little-endian words, each filled from its most significant bit.
struct LzxBits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl LzxBits {
    fn put(&mut self, v: u32, bits: u32) {
        for k in (0..bits).rev() {
            self.acc = self.acc << 1 | (v >> k & 1);
            self.n += 1;
            if self.n == 16 {
                self.out.extend_from_slice(&(self.acc as u16).to_le_bytes());
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    /// Pad the current word with zeros (the uncompressed block's alignment).
    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 16 - self.n);
        }
    }
}

/// A CAB with one LZX folder holding `data` as one uncompressed LZX block, E8 translation on
/// with `e8_size`, one CFDATA per 32 KiB frame. CAB layout: MS-CAB (CFHEADER, CFFOLDER, CFFILE,
/// CFDATA); LZX stream header (E8 bit + 32-bit size), block header (3-bit type 3, 24-bit size),
/// alignment to 16 bits, R0–R2 as three u32, the bytes.
fn lzx_stored_cab(data: &[u8], e8_size: u32) -> Vec<u8> {
    assert!(data.len() % 2 == 0 && !data.is_empty());
    let mut bits = LzxBits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    bits.put(1, 1);
    bits.put(e8_size >> 16, 16);
    bits.put(e8_size & 0xffff, 16);
    bits.put(3, 3);
    bits.put(data.len() as u32 >> 8, 16);
    bits.put(data.len() as u32 & 0xff, 8);
    bits.align();
    let mut stream = bits.out;
    for _ in 0..3 {
        stream.extend_from_slice(&1u32.to_le_bytes());
    }
    let head = stream.len();
    stream.extend_from_slice(data);
    // CFDATA k carries frame k's bytes (the first also the stream and block headers).
    let mut blocks: Vec<(&[u8], u16)> = Vec::new();
    let mut at = 0;
    for (k, frame) in data.chunks(32768).enumerate() {
        let end = head + k * 32768 + frame.len();
        blocks.push((&stream[at..end], frame.len() as u16));
        at = end;
    }
    let name = b"t.bin\0";
    let files_at = 36 + 8;
    let data_at = files_at + 16 + name.len();
    let total = data_at + blocks.iter().map(|(b, _)| 8 + b.len()).sum::<usize>();
    let mut c = Vec::new();
    c.extend_from_slice(b"MSCF");
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&(total as u32).to_le_bytes());
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&(files_at as u32).to_le_bytes());
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&[3, 1]); // version 1.3
    c.extend_from_slice(&1u16.to_le_bytes()); // folders
    c.extend_from_slice(&1u16.to_le_bytes()); // files
    c.extend_from_slice(&[0; 6]); // flags, set id, cabinet index
    c.extend_from_slice(&(data_at as u32).to_le_bytes());
    c.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    c.extend_from_slice(&(3u16 | 21 << 8).to_le_bytes()); // LZX, 2 MiB window
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(&0u32.to_le_bytes()); // offset in folder
    c.extend_from_slice(&0u16.to_le_bytes()); // folder 0
    c.extend_from_slice(&[0x21, 0x5b, 0, 0, 0x20, 0]); // date, time, attributes
    c.extend_from_slice(name);
    for (b, n) in blocks {
        c.extend_from_slice(&0u32.to_le_bytes()); // no checksum
        c.extend_from_slice(&(b.len() as u16).to_le_bytes());
        c.extend_from_slice(&n.to_le_bytes());
        c.extend_from_slice(b);
    }
    assert_eq!(c.len(), total);
    c
}

/// What libmspack makes of `data` stored in an LZX folder with E8 translation size `e8_size`.
fn cabextract(data: &[u8], e8_size: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let cab = dir.path().join("e8.cab");
    std::fs::write(&cab, lzx_stored_cab(data, e8_size)).unwrap();
    let o = run_cmd(Command::new("cabextract").arg("-p").arg(&cab));
    assert!(
        o.status.success(),
        "cabextract: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn w2_equals_libmspack_lzx_e8_decoding() {
    let code = system_code(300_000);
    for (len, what) in [
        (200_000usize, "x86 code, 7 frames"),
        (32_768, "one full frame"),
        (1000, "a short frame"),
    ] {
        let mut stored = code[50_000..50_000 + len].to_vec();
        plant_frame_tail_calls(&mut stored);
        // And one call early on with a target inside even the shortest piece.
        stored[80..100].fill(0x90);
        stored[100..105].copy_from_slice(&[0xe8, 5, 0, 0, 0]);
        let mut ours = stored.clone();
        assert!(e8::inverse(Variant::Frames32K, &mut ours));
        assert!(ours != stored, "{what}: nothing translated");
        let theirs = cabextract(&stored, len as u32);
        assert!(theirs == ours, "{what}: W2 differs from libmspack");
    }
}

#[test]
fn w1_equals_libmspack_where_no_call_sits_in_a_frame_tail() {
    // W1 differs from the frame rule only in the last 10 bytes of each frame: without E8 bytes
    // there the two must agree, which checks W1's whole-output positions independently.
    let mut stored = system_code(250_000)[50_000..].to_vec();
    let n = stored.len();
    for f in (32768..=n).step_by(32768) {
        for b in &mut stored[f - 14..f] {
            if *b == 0xe8 {
                *b = 0x90;
            }
        }
    }
    let mut ours = stored.clone();
    assert!(e8::inverse(Variant::WholeOutput, &mut ours));
    assert!(ours != stored);
    assert!(cabextract(&stored, stored.len() as u32) == ours);
    // And with a call in a frame tail they differ, as W1 and W2 should.
    plant_frame_tail_calls(&mut stored);
    let mut ours = stored.clone();
    e8::inverse(Variant::WholeOutput, &mut ours);
    assert!(cabextract(&stored, stored.len() as u32) != ours);
}
