//! LZX benchmark: our encoder/decoder on every file under a directory (32 KiB chunks, one
//! thread) versus `wimlib-imagex capture --compress=LZX:20` and `--compress=LZX`.
//!
//! `cargo run --release -p mediaprep-core --example lzx_bench -- DIR`

use mediaprep_core::codec::lzx::{LzxDecoder, LzxEncoder};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;
use common::walk;

fn wimlib(dir: &Path, level: &str) -> Option<(u64, f64)> {
    let wim = std::env::temp_dir().join(format!("lzx_bench_{}.wim", std::process::id()));
    let _ = std::fs::remove_file(&wim);
    let t = Instant::now();
    let st = Command::new("wimlib-imagex")
        .arg("capture")
        .arg(dir)
        .arg(&wim)
        .arg(format!("--compress={level}"))
        .arg("--threads=1")
        .arg("--no-acls")
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !st.status.success() {
        eprintln!(
            "wimlib {level} failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        return None;
    }
    let size = std::fs::metadata(&wim).ok()?.len();
    let _ = std::fs::remove_file(&wim);
    Some((size, secs))
}

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: lzx_bench DIR");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let mut enc = LzxEncoder::new();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    enc.set_effort(
        env("LZX_DEPTH", 16) as u32,
        env("LZX_NICE", 32),
        env("LZX_LAZY", 32),
    );
    enc.set_optimal(env("LZX_OPTIMAL", 1) != 0);
    let mut dec = LzxDecoder::new();
    let (mut total_in, mut total_out) = (0u64, 0u64);
    let (mut enc_secs, mut dec_secs) = (0f64, 0f64);
    let mut buf = Vec::new();
    let mut back = vec![0u8; 32768];
    for f in &files {
        let Ok(data) = std::fs::read(f) else { continue };
        // Chunk table entries, so our total is comparable with a WIM's resources.
        total_out += 4 * (data.len().div_ceil(32768).saturating_sub(1)) as u64;
        for chunk in data.chunks(32768) {
            buf.clear();
            let t = Instant::now();
            let ok = enc.compress(chunk, &mut buf);
            enc_secs += t.elapsed().as_secs_f64();
            total_in += chunk.len() as u64;
            if ok {
                total_out += buf.len() as u64;
                let out = &mut back[..chunk.len()];
                let t = Instant::now();
                dec.decompress(&buf, out).expect("our own chunk decodes");
                dec_secs += t.elapsed().as_secs_f64();
                assert!(out == chunk, "round trip mismatch in {}", f.display());
            } else {
                total_out += chunk.len() as u64;
            }
        }
    }
    let mb = total_in as f64 / 1e6;
    println!("files: {}  input: {:.1} MB", files.len(), mb);
    println!(
        "ours:  {} bytes ({:.2} %)  compress {:.1} MB/s  decompress {:.1} MB/s",
        total_out,
        100.0 * total_out as f64 / total_in.max(1) as f64,
        mb / enc_secs,
        mb / dec_secs
    );
    if std::env::var("LZX_SKIP_WIMLIB").is_ok() {
        return;
    }
    for level in ["LZX:20", "LZX"] {
        if let Some((size, secs)) = wimlib(&dir, level) {
            println!(
                "wimlib {level:7} {} bytes WIM ({:.2} %)  {:.1} MB/s   ours/wimlib size {:.4}  speed {:.2}x",
                size,
                100.0 * size as f64 / total_in.max(1) as f64,
                mb / secs,
                total_out as f64 / size as f64,
                (mb / enc_secs) / (mb / secs)
            );
        }
    }
}
