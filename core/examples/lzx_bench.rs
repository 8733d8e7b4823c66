//! LZX benchmark: our encoder/decoder on every file under a directory (32 KiB chunks, one
//! thread) versus `wimlib-imagex capture --compress=LZX:20` and `--compress=LZX`.
//!
//! `cargo run --release -p mediaprep-core --example lzx_bench -- DIR`

use mediaprep_core::codec::lzx::{LzxDecoder, LzxEncoder};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;
use common::walk;

/// CPU seconds (user + system) used so far by this process's waited-for children, from
/// `/proc/self/stat` (clock ticks of 1/100 s on Linux; 0 elsewhere).
fn children_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// Sum of the compressed sizes of a WIM's file blobs (metadata resources left out), from
/// `wimlib-imagex info --blobs`: the part of the WIM that compares with our chunk output.
fn wim_data_bytes(wim: &Path) -> Option<u64> {
    let out = Command::new("wimlib-imagex")
        .arg("info")
        .arg(wim)
        .arg("--blobs")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut total, mut size) = (0u64, 0u64);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Compressed size") {
            size = v
                .trim_start_matches([' ', '='])
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
        } else if line.starts_with("Flags") && !line.contains("METADATA") {
            total += size;
        }
    }
    Some(total)
}

/// wimlib's capture of `dir` at `level`: (WIM size, file blobs' compressed size, wall seconds,
/// CPU seconds).
fn wimlib(dir: &Path, level: &str) -> Option<(u64, u64, f64, f64)> {
    let wim = std::env::temp_dir().join(format!("lzx_bench_{}.wim", std::process::id()));
    let _ = std::fs::remove_file(&wim);
    let cpu0 = children_cpu_secs();
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
    let cpu = children_cpu_secs() - cpu0;
    if !st.status.success() {
        eprintln!(
            "wimlib {level} failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        return None;
    }
    let size = std::fs::metadata(&wim).ok()?.len();
    let data = wim_data_bytes(&wim)?;
    let _ = std::fs::remove_file(&wim);
    Some((size, data, secs, cpu))
}

/// CPU time of this thread (Linux `schedstat`; 0 elsewhere): less disturbed by other load than
/// wall-clock time on a shared machine.
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
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
    // Read everything first so the timed loop is compression alone.
    // Identical files once, as a WIM stores them (one blob per distinct content).
    let mut seen = std::collections::HashSet::new();
    let inputs: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok().map(|d| (f.clone(), d)))
        .filter(|(_, d)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            d.hash(&mut h);
            seen.insert((d.len(), h.finish()))
        })
        .collect();
    let (mut total_in, mut total_out) = (0u64, 0u64);
    let mut outs: Vec<Option<Vec<u8>>> = Vec::new();
    let cpu0 = thread_cpu_secs();
    let t = Instant::now();
    for (_, data) in &inputs {
        // Chunk table entries, so our total is comparable with a WIM's resources.
        total_out += 4 * (data.len().div_ceil(32768).saturating_sub(1)) as u64;
        for chunk in data.chunks(32768) {
            let mut buf = Vec::with_capacity(chunk.len());
            let ok = enc.compress(chunk, &mut buf);
            total_in += chunk.len() as u64;
            if ok {
                total_out += buf.len() as u64;
                outs.push(Some(buf));
            } else {
                total_out += chunk.len() as u64;
                outs.push(None);
            }
        }
    }
    let enc_secs = t.elapsed().as_secs_f64();
    let enc_cpu = thread_cpu_secs() - cpu0;
    let mut back = vec![0u8; 32768];
    let mut k = 0;
    let t = Instant::now();
    for (f, data) in &inputs {
        for chunk in data.chunks(32768) {
            if let Some(buf) = &outs[k] {
                let out = &mut back[..chunk.len()];
                dec.decompress(buf, out).expect("our own chunk decodes");
                assert!(out == chunk, "round trip mismatch in {}", f.display());
            }
            k += 1;
        }
    }
    let dec_secs = t.elapsed().as_secs_f64();
    let mb = total_in as f64 / 1e6;
    // `scripts/bench-all` reads fields 2 and 4 of this line: keep its shape.
    println!(
        "files: {}  input: {:.1} MB  ({} files, identical ones counted once)",
        inputs.len(),
        mb,
        files.len()
    );
    println!(
        "ours:  {} bytes ({:.2} %)  compress {:.1} MB/s  decompress {:.1} MB/s  (compress CPU {:.1} MB/s)",
        total_out,
        100.0 * total_out as f64 / total_in.max(1) as f64,
        mb / enc_secs,
        mb / dec_secs,
        mb / enc_cpu
    );
    if std::env::var("LZX_SKIP_WIMLIB").is_ok() {
        return;
    }
    for level in ["LZX:20", "LZX"] {
        if let Some((size, data, secs, cpu)) = wimlib(&dir, level) {
            println!(
                // One "MB/s" token (the wall-clock one): `scripts/bench-all` reads the field before it.
                "wimlib {level:7} {} bytes WIM ({} in file blobs)  {:.1} MB/s  (CPU-time speed {:.1})   ours/wimlib size {:.4} (file blobs {:.4})  speed {:.2}x  (CPU {:.2}x)",
                size,
                data,
                mb / secs,
                mb / cpu,
                total_out as f64 / size as f64,
                total_out as f64 / data as f64,
                secs / enc_secs,
                cpu / enc_cpu
            );
        }
    }
}
