//! Benchmark drivers for `scripts/bench-patch` (the `mediaprep patch --target install` CLI is not
//! there yet, so the library is timed directly; every output is still read back and verified).
//!
//! `patch_bench install IN.wim NEW_WINRE.wim OUT.wim [INDEX…]`: replace the WinRE of the selected
//! editions (all by default) with the library's install.wim path, including the read-back check,
//! and print `seconds raw_copied_bytes out_bytes`. `PATCH_RECOMPRESS=1` compresses the new WinRE
//! blob instead of storing it.
//!
//! `patch_bench lzx DIR`: compress every distinct regular file under DIR (duplicates by SHA-1 counted
//! once, as a WIM stores them) with our LZX encoder in 32 KiB chunks on one thread, the encoder the
//! writer uses (`LZX_OPTIMAL=0` for the lazy parse), and print `seconds input_bytes output_bytes`
//! (output = chunks, stored fallback for chunks that do not shrink, and chunk tables).

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mediaprep_core::codec::lzx::LzxEncoder;
use mediaprep_core::io::{FileSource, NoProgress};
use mediaprep_core::service::install::{InstallOptions, NewWinre, WinreReplacement};
use mediaprep_core::wim::read::Wim;
use mediaprep_core::wim::write::write_wim_file_checked;

mod common;
use common::walk;

fn install(args: &[String]) -> mediaprep_core::Result<()> {
    let [input, new, out, rest @ ..] = args else {
        eprintln!("usage: patch_bench install IN.wim NEW_WINRE.wim OUT.wim [INDEX…]");
        std::process::exit(2);
    };
    let t = Instant::now();
    let wim = Wim::open(Arc::new(FileSource::open(input)?))?;
    let reader = FileSource::open(new)?;
    let digest = mediaprep_core::hash::hash_reader(&reader, 1 << 20, &NoProgress)?;
    let sha1: [u8; 20] = digest.sha1;
    let opts = InstallOptions {
        indices: rest.iter().map(|s| s.parse().expect("index")).collect(),
        modification_time: Some(0x01DC_B000_0000_0000),
        write: None,
        recompress_winre: std::env::var_os("PATCH_RECOMPRESS").is_some(),
    };
    let winre = NewWinre {
        src: &reader,
        size: mediaprep_core::io::ReadAt::size(&reader),
        sha1,
    };
    let job = WinreReplacement::new(&wim, winre, &opts)?;
    let images = RefCell::new(Vec::new());
    let summary = write_wim_file_checked(
        Path::new(out),
        job.write_options().clone(),
        |w| {
            *images.borrow_mut() = job.build(w, &NoProgress)?;
            Ok(())
        },
        |tmp, _| {
            let back = Wim::open(Arc::new(FileSource::open(tmp)?))?;
            job.verify(&back, &images.borrow(), &NoProgress).map(|_| ())
        },
    )?;
    println!(
        "{:.4} {} {}",
        t.elapsed().as_secs_f64(),
        summary.raw_copied_bytes,
        summary.file_size
    );
    Ok(())
}

fn lzx(args: &[String]) {
    let Some(dir) = args.first() else {
        eprintln!("usage: patch_bench lzx DIR");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    walk(Path::new(dir), &mut files);
    files.sort();
    let mut enc = LzxEncoder::new();
    enc.set_optimal(std::env::var("LZX_OPTIMAL").map_or(true, |v| v != "0"));
    let mut seen = HashSet::new();
    let (mut total_in, mut total_out, mut secs) = (0u64, 0u64, 0f64);
    let mut buf = Vec::new();
    for f in &files {
        let Ok(data) = std::fs::read(f) else { continue };
        if data.is_empty() || !seen.insert(mediaprep_core::hash::sha1(&data)) {
            continue;
        }
        let t = Instant::now();
        let mut size = 4 * (data.len().div_ceil(32768) as u64 - 1);
        for chunk in data.chunks(32768) {
            buf.clear();
            size += if enc.compress(chunk, &mut buf) {
                buf.len() as u64
            } else {
                chunk.len() as u64
            };
        }
        secs += t.elapsed().as_secs_f64();
        total_in += data.len() as u64;
        // A resource that does not shrink is stored, as the writer does.
        total_out += size.min(data.len() as u64);
    }
    println!("{secs:.4} {total_in} {total_out}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("install") => {
            if let Err(e) = install(&args[1..]) {
                eprintln!("patch_bench install: {e}");
                std::process::exit(1);
            }
        }
        Some("lzx") => lzx(&args[1..]),
        _ => {
            eprintln!("usage: patch_bench install IN NEW OUT [INDEX…] | patch_bench lzx DIR");
            std::process::exit(2);
        }
    }
}
