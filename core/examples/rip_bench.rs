//! Throughput of the x64 RIP-relative transform of PE-typed deltas (flag 0x200): MB/s of code
//! walked (the `.pdata` functions' bytes) on a large PE32+ DLL, with an RVA map that moves every
//! section after the code. The transform alone is timed: the same call without 0x200 (parse and
//! copy of the image) is measured in the same run and subtracted.
//!
//! `cargo run --release -p mediaprep-core --example rip_bench [-- DLL]`
//! (default: libwine's `mshtml.dll` in the `scripts/fixtures` cache).

use mediaprep_core::delta::{self, RipVariant};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Best time of one run of `f`, over at least 3 runs and 3 s.
fn best(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let (mut best, mut runs) = (f64::MAX, 0);
    while runs < 3 || start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// (RVA after the code section, bytes of the `.pdata` functions) of a PE32+ image.
fn layout(b: &[u8]) -> (u32, u64) {
    let pe = u32_at(b, 0x3c) as usize;
    let n = u16::from_le_bytes([b[pe + 6], b[pe + 7]]) as usize;
    let opt = pe + 24;
    let sec = opt + u16::from_le_bytes([b[pe + 20], b[pe + 21]]) as usize;
    let sections: Vec<(u32, u32, u32, u32)> = (0..n)
        .map(|i| {
            let s = sec + 40 * i;
            let (size, va, ptr, ch) = (
                u32_at(b, s + 8),
                u32_at(b, s + 12),
                u32_at(b, s + 20),
                u32_at(b, s + 36),
            );
            (va, size, ptr, ch)
        })
        .collect();
    let code = sections
        .iter()
        .find(|s| s.3 & 0x2000_0000 != 0)
        .expect("a code section");
    let after = sections
        .iter()
        .map(|s| s.0)
        .filter(|&va| va > code.0)
        .min()
        .expect("a later section");
    let (rva, size) = (u32_at(b, opt + 112 + 24), u32_at(b, opt + 112 + 28));
    let s = sections
        .iter()
        .find(|s| rva >= s.0 && rva < s.0 + s.1)
        .expect(".pdata in a section");
    let off = (s.2 + rva - s.0) as usize;
    let walked = (0..size as usize / 12)
        .map(|i| u64::from(u32_at(b, off + 12 * i + 4).saturating_sub(u32_at(b, off + 12 * i))))
        .sum();
    (after, walked)
}

fn main() {
    let dll = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/mediaprep-fixtures/libwine/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/mshtml.dll")
    });
    let image = std::fs::read(&dll).unwrap_or_else(|e| panic!("{}: {e}", dll.display()));
    let (at, walked) = layout(&image);
    let map = [(at + 0x3000, at)];
    let run = |flags: u64| {
        best(|| {
            let out = delta::pe_address_transforms(8, flags, &image, &map, RipVariant::V1)
                .expect("transforms run");
            assert_eq!(out.len(), image.len());
        })
    };
    let with = run(0x200);
    let without = run(0);
    let secs = (with - without).max(1e-9);
    println!(
        "{}: {} bytes, {walked} bytes in .pdata functions; with 0x200 {:.2} ms, without {:.2} ms; \
         RIP-relative transform {:.1} MB/s of code walked",
        dll.display(),
        image.len(),
        with * 1e3,
        without * 1e3,
        walked as f64 / secs / 1e6
    );
}
