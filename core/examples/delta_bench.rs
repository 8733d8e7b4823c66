//! Delta apply throughput (MB/s of output) on the largest genuine vectors, beside our LZX decoder's
//! throughput on the same output bytes (compressed by our LZX encoder in 32 KiB WIM chunks), in the
//! same run.
//!
//! `cargo run --release -p mediaprep-core --example delta_bench [-- VECTOR_DIR]`
//! (default `../shared/testdata/msdelta` next to the repository). Two PE rows rebase the
//! reference first (with our relocation transform, which the tests check against pefile), so the
//! delta's rebase runs; the real-size one uses libwine's shell32.dll from `scripts/fixtures`' cache
//! (skipped when absent) and a PE-typed delta made by our encoder.

use mediaprep_core::codec::{Compression, Decoder, Encoder};
use mediaprep_core::delta::encode::{create_pe, CreateOptions};
use mediaprep_core::delta::{self, dcm, ApplyOptions, RipVariant};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Run `f` repeatedly for at least `min` (and 3 runs); return the best time of one run.
fn best(min: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::MAX;
    let mut runs = 0;
    while runs < 3 || start.elapsed() < min {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// MB/s of our LZX decoder producing `data` (compressed first, chunk by chunk).
fn lzx_mbps(data: &[u8]) -> f64 {
    const CHUNK: usize = 32 * 1024;
    let mut enc = Encoder::new(Compression::Lzx);
    let chunks: Vec<(Vec<u8>, usize, bool)> = data
        .chunks(CHUNK)
        .map(|c| {
            let mut out = Vec::new();
            let ok = enc.compress(c, &mut out);
            if ok {
                (out, c.len(), true)
            } else {
                (c.to_vec(), c.len(), false)
            }
        })
        .collect();
    let mut dec = Decoder::new(Compression::Lzx);
    let mut out = vec![0u8; CHUNK];
    let secs = best(Duration::from_secs(2), || {
        for (c, n, compressed) in &chunks {
            if *compressed {
                dec.decompress(c, &mut out[..*n])
                    .expect("our own LZX decodes");
            } else {
                out[..*n].copy_from_slice(c);
            }
        }
    });
    data.len() as f64 / secs / 1e6
}

/// One benchmark case: produces the target.
type Apply<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;

/// `image` rebased by `by` (relocations and the `ImageBase` field), for file type 2 or 8.
fn rebased(image: &[u8], file_type: u64, by: u64) -> Vec<u8> {
    let pe = u32::from_le_bytes(image[0x3c..0x40].try_into().unwrap()) as usize;
    let (at, width) = if file_type == 8 {
        (pe + 24 + 24, 8)
    } else {
        (pe + 24 + 28, 4)
    };
    let mut b = [0u8; 8];
    b[..width].copy_from_slice(&image[at..at + width]);
    let new_base = u64::from_le_bytes(b) + by;
    let mut out =
        delta::pe_address_transforms_rebased(file_type, 0x20, image, &[], RipVariant::V1, new_base)
            .expect("a PE image");
    out[at..at + width].copy_from_slice(&new_base.to_le_bytes()[..width]);
    out
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/msdelta")
        });
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let base = read("dcm/base_manifest.bin");
    let cmd = read("raw/cmd.exe");
    let manifest = std::fs::read_dir(dir.join("dcm"))
        .expect("dcm/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("euapcommonproxystub"))
        .expect("the largest DCM manifest");
    let manifest = std::fs::read(manifest).unwrap();
    let notepad = read("raw/cmd__to__notepad__raw.pa30");
    let where_ = read("raw/cmd__to__where__raw.pa30");
    let pe = |d: &str| {
        (
            read(&format!("pe/{d}/base.bin")),
            read(&format!("pe/{d}/delta.pa30")),
        )
    };
    let (mscordbi_ref, mscordbi) = pe("x86_mscordbi");
    let (kbdwol_ref, kbdwol) = pe("amd64_kbdwol");
    let cmd_pe = read("pe/cmd__to__cmd_patched__pe_amd64_genuine.pa30");
    let mscordbi_moved = rebased(&mscordbi_ref, 2, 0x1340_0000);
    // Real size: shell32.dll (libwine, ~15 MB) rebased as the reference; the target is the
    // original with one byte in every 64 KiB changed; the delta is ours (`create_pe`).
    let shell32 = std::env::var_os("MEDIAPREP_FIXTURE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mediaprep-fixtures"))
        })
        .map(|c| c.join("libwine/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/shell32.dll"))
        .and_then(|p| std::fs::read(p).ok())
        .map(|t| {
            let r = rebased(&t, 8, 0x1000_0000);
            let mut target = t;
            for i in (0x2000..target.len()).step_by(1 << 16) {
                target[i] ^= 0x5a;
            }
            let d = create_pe(&r, &target, &CreateOptions::default()).expect("create_pe");
            (r, d)
        });
    let opts = ApplyOptions::default();
    let mut cases: Vec<(&str, Apply)> = vec![
        (
            "DCM wow64 proxystub manifest (3.26 MB XML)",
            Box::new(|| dcm::decode(&base, &manifest, &opts).unwrap()),
        ),
        (
            "raw cmd.exe -> notepad.exe (360 KB)",
            Box::new(|| delta::apply(&cmd, &notepad, &opts).unwrap()),
        ),
        (
            "raw cmd.exe -> where.exe (64 KB)",
            Box::new(|| delta::apply(&cmd, &where_, &opts).unwrap()),
        ),
        (
            "PE I386 x86_mscordbi (transforms + SHA-256)",
            Box::new(|| delta::apply(&mscordbi_ref, &mscordbi, &opts).unwrap()),
        ),
        (
            "PE AMD64 amd64_kbdwol (transforms + SHA-256)",
            Box::new(|| delta::apply(&kbdwol_ref, &kbdwol, &opts).unwrap()),
        ),
        (
            "PE AMD64 cmd.exe -> cmd_patched.exe",
            Box::new(|| delta::apply(&cmd, &cmd_pe, &opts).unwrap()),
        ),
        (
            "PE I386 x86_mscordbi, reference rebased (rebase + transforms + SHA-256)",
            Box::new(|| delta::apply(&mscordbi_moved, &mscordbi, &opts).unwrap()),
        ),
    ];
    if let Some((r, d)) = &shell32 {
        let opts = &opts;
        cases.push((
            "PE AMD64 shell32.dll, rebased reference, our --pe delta (rebase + SHA-256)",
            Box::new(move || delta::apply(r, d, opts).unwrap()),
        ));
    } else {
        eprintln!("shell32.dll row skipped: run scripts/fixtures first (libwine cache)");
    }
    println!(
        "| vector | output bytes | delta apply MB/s | our LZX decode MB/s (same bytes) | ratio |"
    );
    println!("|---|---|---|---|---|");
    for (name, f) in cases {
        let out = f();
        let secs = best(Duration::from_secs(2), || {
            std::hint::black_box(f());
        });
        let mbps = out.len() as f64 / secs / 1e6;
        let lzx = lzx_mbps(&out);
        println!(
            "| {name} | {} | {mbps:.1} | {lzx:.1} | {:.2} |",
            out.len(),
            mbps / lzx
        );
    }
}
