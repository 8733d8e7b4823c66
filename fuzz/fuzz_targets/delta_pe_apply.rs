//! Any bytes as a PE-typed delta against a small synthetic PE reference (I386 and AMD64), and the
//! same with the reference's headers and tables damaged by the input's tail: apply must return a
//! target of the header's size or a typed error, never panic, hang or allocate without bound.
//! The address transforms (imports, exports, resources, .pdata, relocations, x86 jumps/calls,
//! x64 RIP-relative operands of the `.pdata` functions in readings V1 and V3; the resource data
//! entries read as RVAs with a rebase onto an input-derived image base) also run directly with
//! an RVA map taken from the input's first bytes, on the intact and the damaged reference: same
//! length out, or a typed error. The I386 reference lists lock prefixes in its load
//! configuration, so the lock-prefix readings run in every I386 apply that reaches them, and the
//! `.pdata` functions' unwind information has a handler slot for the unwind readings.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaprep_core::delta::{self, ApplyOptions};

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A 4 KiB PE image: headers, .text (E8/E9 calls), .data (pointers into the image, a debug
/// directory with a REPRO entry, an export and an import directory), .reloc (HIGHLOW or DIR64
/// fixups on those pointers, a resource tree, .pdata).
fn reference(amd64: bool) -> Vec<u8> {
    let mut b = vec![0u8; 0x1000];
    b[0..2].copy_from_slice(b"MZ");
    put32(&mut b, 0x3c, 0x80);
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    let coff = 0x84;
    put16(&mut b, coff, if amd64 { 0x8664 } else { 0x014c });
    put16(&mut b, coff + 2, 3);
    put32(&mut b, coff + 4, 0x1234_5678);
    let opt_size: u16 = if amd64 { 0xf0 } else { 0xe0 };
    put16(&mut b, coff + 16, opt_size);
    let opt = coff + 20;
    put16(&mut b, opt, if amd64 { 0x20b } else { 0x10b });
    let base: u64 = if amd64 { 0x1_8000_0000 } else { 0x1000_0000 };
    if amd64 {
        b[opt + 24..opt + 32].copy_from_slice(&base.to_le_bytes());
    } else {
        put32(&mut b, opt + 28, base as u32);
    }
    put32(&mut b, opt + 56, 0x4000); // SizeOfImage
    put32(&mut b, opt + 64, 0xabcd); // CheckSum
    let (ndirs_at, dirs_at) = if amd64 { (108, 112) } else { (92, 96) };
    put32(&mut b, opt + ndirs_at, 16);
    let dir = |i: usize| opt + dirs_at + 8 * i;
    put32(&mut b, dir(5), 0x3000);
    put32(&mut b, dir(5) + 4, 0x14);
    put32(&mut b, dir(6), 0x2100);
    put32(&mut b, dir(6) + 4, 28);
    for (i, rva, size) in [
        (0, 0x2280, 40),
        (1, 0x2300, 40),
        (2, 0x3100, 0x40),
        (3, 0x3200, 24),
    ] {
        put32(&mut b, dir(i), rva);
        put32(&mut b, dir(i) + 4, size);
    }
    let sec = opt + opt_size as usize;
    for (i, (name, va, raw, ch)) in [
        (b".text", 0x1000u32, 0x400u32, 0x6000_0020u32),
        (b".data", 0x2000, 0x800, 0xc000_0040),
        (b".relo", 0x3000, 0xc00, 0x4200_0040),
    ]
    .iter()
    .enumerate()
    {
        let s = sec + 40 * i;
        b[s..s + 5].copy_from_slice(*name);
        put32(&mut b, s + 8, 0x400);
        put32(&mut b, s + 12, *va);
        put32(&mut b, s + 16, 0x400);
        put32(&mut b, s + 20, *raw);
        put32(&mut b, s + 36, *ch);
    }
    // Exports at RVA 0x2280 (file 0xa80): two functions, one name.
    for (at, v) in [
        (0xa8c, 0x2380),
        (0xa94, 2),
        (0xa98, 1),
        (0xa9c, 0x22b0),
        (0xaa0, 0x22b8),
        (0xaa4, 0x22bc),
    ] {
        put32(&mut b, at, v);
    }
    put32(&mut b, 0xab0, 0x1010);
    put32(&mut b, 0xab4, 0x1020);
    put32(&mut b, 0xab8, 0x2390);
    // Imports at RVA 0x2300 (file 0xb00): one descriptor, lookup and address tables of one name.
    let w = if amd64 { 8 } else { 4 };
    put32(&mut b, 0xb00, 0x2340);
    put32(&mut b, 0xb0c, 0x2380);
    put32(&mut b, 0xb10, 0x2360);
    put32(&mut b, 0xb40, 0x2390);
    put32(&mut b, 0xb60, 0x2390);
    put32(&mut b, 0xb40 + w, 0);
    b[0xb80..0xb88].copy_from_slice(b"x.dll\0\0\0");
    b[0xb92..0xb96].copy_from_slice(b"f\0\0\0");
    // Resources at RVA 0x3100 (file 0xd00): type 16 → id 1 → data entry → RVA 0x3180.
    put16(&mut b, 0xd0e, 1);
    put32(&mut b, 0xd10, 16);
    put32(&mut b, 0xd14, 0x8000_0018);
    put16(&mut b, 0xd26, 1);
    put32(&mut b, 0xd28, 1);
    put32(&mut b, 0xd2c, 0x30);
    put32(&mut b, 0xd30, 0x3180);
    put32(&mut b, 0xd34, 4);
    // Their unwind information at RVA 0x3280 (file 0xe80): UNW_FLAG_EHANDLER, one unwind code,
    // the handler's RVA after the padded code array (moved by the .pdata readings).
    b[0xe80..0xe84].copy_from_slice(&[1 << 3 | 1, 4, 1, 0]);
    put32(&mut b, 0xe88, 0x1010);
    // .pdata at RVA 0x3200 (file 0xe00): two RUNTIME_FUNCTIONs.
    for (k, v) in [0x1000u32, 0x1010, 0x3280, 0x1010, 0x1020, 0x3280]
        .iter()
        .enumerate()
    {
        put32(&mut b, 0xe00 + 4 * k, *v);
    }
    for k in 0..64 {
        let at = 0x400 + 8 * k;
        b[at] = if k % 2 == 0 { 0xe8 } else { 0xe9 };
        put32(
            &mut b,
            at + 1,
            (k as u32).wrapping_mul(0x40).wrapping_sub(0x100),
        );
    }
    if amd64 {
        // Two .pdata functions for the x64 RIP-relative transform. 0x1000..0x1010: lea rax,
        // [rip+d]; call rel32; nop × 3; ret. 0x1010..0x1030: mov [rip+d], ecx; jz rel32 (0F 84);
        // jmp rel32 (E9); ret.
        let f1: [u8; 16] = [
            0x48, 0x8d, 0x05, 0x00, 0x10, 0, 0, 0xe8, 0xf4, 0x0f, 0, 0, 0x90, 0x90, 0x90, 0xc3,
        ];
        let f2: [u8; 18] = [
            0x89, 0x0d, 0xf0, 0x1f, 0, 0, 0x0f, 0x84, 0x00, 0x20, 0, 0, 0xe9, 0x80, 0, 0, 0, 0xc3,
        ];
        b[0x400..0x410].copy_from_slice(&f1);
        b[0x410..0x422].copy_from_slice(&f2);
        put32(&mut b, 0xe10, 0x1030);
    }
    // Load configuration at RVA 0x23c0 (file 0xbc0; directory 10): its LockPrefixTable lists a
    // LOCK prefix and a NOP in .text (file 0x700, 0x701).
    put32(&mut b, dir(10), 0x23c0);
    put32(&mut b, dir(10) + 4, 0x24);
    put32(&mut b, 0xbc0, 0x24);
    put32(&mut b, 0xbe0, (base + 0x23f0) as u32);
    put32(&mut b, 0xbf0, (base + 0x1300) as u32);
    put32(&mut b, 0xbf4, (base + 0x1301) as u32);
    b[0x700] = 0xf0;
    b[0x701] = 0x90;
    put32(&mut b, 0x800, (base + 0x1010) as u32);
    put32(&mut b, 0x808, (base + 0x2020) as u32);
    // Debug entry (REPRO, type 16) whose data ends with the timestamp.
    let d = 0x900;
    put32(&mut b, d + 4, 0x1234_5678);
    put32(&mut b, d + 12, 16);
    put32(&mut b, d + 16, 8);
    put32(&mut b, d + 20, 0x2200);
    put32(&mut b, d + 24, 0xa00);
    put32(&mut b, 0xa04, 0x1234_5678);
    // One relocation block for page 0x2000: two fixups.
    let ty: u16 = if amd64 { 10 } else { 3 };
    put32(&mut b, 0xc00, 0x2000);
    put32(&mut b, 0xc04, 0x14);
    put16(&mut b, 0xc08, ty << 12);
    put16(&mut b, 0xc0a, ty << 12 | 8);
    b
}

fuzz_target!(|data: &[u8]| {
    let opts = ApplyOptions {
        max_target_size: 1 << 20,
        ..ApplyOptions::default()
    };
    // An RVA map from the first 12 input bytes: three (reference RVA, target RVA) breakpoints.
    let map: Vec<(u32, u32)> = data
        .chunks_exact(4)
        .take(3)
        .map(|c| {
            let r = u32::from(u16::from_le_bytes([c[0], c[1]])) & 0x7fff;
            let t = u32::from(u16::from_le_bytes([c[2], c[3]])) & 0x7fff;
            (r, t)
        })
        .collect();
    // A target image base from the next 8 bytes.
    let new_base = data
        .get(12..20)
        .map_or(0x2000_0000, |b| u64::from_le_bytes(b.try_into().unwrap()));
    let rva_reading = delta::PeReading {
        resources: delta::ResourceVariant::Rva,
        ..delta::PeReading::default()
    };
    for amd64 in [false, true] {
        let mut r = reference(amd64);
        let (file_type, flags) = if amd64 { (8, 0xe63e) } else { (2, 0xe1fe) };
        let check = |r: &[u8]| {
            if let Ok(out) = delta::apply(r, data, &opts) {
                let h = delta::parse_header(data).expect("applied delta has a header");
                assert_eq!(out.len() as u64, h.target_size);
            }
            if let Ok(out) =
                delta::pe_address_transforms(file_type, flags, r, &map, delta::RipVariant::V1)
            {
                assert_eq!(out.len(), r.len());
            }
            if let Ok(out) = delta::pe_address_transforms_rebased(
                file_type,
                flags,
                r,
                &map,
                rva_reading,
                new_base,
            ) {
                assert_eq!(out.len(), r.len());
            }
            if amd64 {
                // The reading that also collapses near jumps (V1 ran above).
                let v3 = delta::RipVariant::V3;
                if let Ok(out) = delta::pe_address_transforms(file_type, flags, r, &map, v3) {
                    assert_eq!(out.len(), r.len());
                }
            }
        };
        check(&r);
        // Damage the reference with the input's last bytes (position, value triples).
        let tail = &data[data.len().saturating_sub(24)..];
        for t in tail.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([t[0], t[1]])) % r.len();
            r[at] = t[2];
        }
        check(&r);
    }
});
