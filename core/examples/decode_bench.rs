//! Decode throughput of our XPRESS / LZMS / LZX decoders against `wimlib-imagex apply`.
//!
//! Usage: `cargo run --release -p mediaprep-core --example decode_bench -- [WIM...]`.
//! Without arguments, a corpus (text + x86 binaries from /usr/bin, ~24 MB) is captured with
//! wimlib as XPRESS, LZMS (non-solid) and solid LZMS, and each WIM is measured.
//!
//! For every WIM it prints our pure decode rate, our decode + SHA-1 rate (what an extractor must
//! do at least), and wimlib's `apply` rate (decode + SHA-1 + writing files to /tmp), all in MB
//! of uncompressed data per second, and the ratio ours/wimlib. For XPRESS WIMs it also
//! re-compresses every chunk with our encoder and prints its rate and output size vs wimlib's.

use mediaprep_core::codec::{xpress::XpressEncoder, Compression, Decoder};
use mediaprep_core::hash::sha1;
use mediaprep_core::io::le::{u32_at, u64_at};
use mediaprep_core::wim::format::{
    resflags, BlobEntry, Header, BLOB_ENTRY_SIZE, HEADER_SIZE, SOLID_RESOURCE_MARKER,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Chunk {
    kind: Compression,
    start: usize,
    len: usize,
    usize: usize,
}

/// Resources as (chunks, blobs (offset, size, sha1) inside the decoded resource).
type Resource = (Vec<Chunk>, Vec<(usize, usize, [u8; 20])>);

fn slice(data: &[u8], off: u64, len: u64) -> Res<&[u8]> {
    let end = off.checked_add(len).ok_or("overflow")?;
    data.get(off as usize..end as usize)
        .ok_or_else(|| "resource outside the file".into())
}

fn resources(data: &[u8]) -> Res<(Header, Vec<Resource>)> {
    let header = Header::parse(
        data.get(..HEADER_SIZE).ok_or("short file")?,
        data.len() as u64,
    )?;
    let t = header.blob_table;
    let table = slice(data, t.offset, t.size_in_wim)?;
    let blobs: Vec<BlobEntry> = table
        .chunks_exact(BLOB_ENTRY_SIZE)
        .map(BlobEntry::parse)
        .collect();
    let kind = header.compression()?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < blobs.len() {
        let b = blobs[i];
        if b.res.flags & resflags::SOLID == 0 {
            i += 1;
            if b.res.uncompressed_size == 0 || b.hash == [0; 20] {
                continue;
            }
            let mut chunks = Vec::new();
            if b.res.flags & resflags::COMPRESSED == 0 {
                chunks.push(Chunk {
                    kind: Compression::None,
                    start: b.res.offset as usize,
                    len: b.res.size_in_wim as usize,
                    usize: b.res.size_in_wim as usize,
                });
            } else {
                let cs = u64::from(header.chunk_size);
                let us = b.res.uncompressed_size;
                let n = us.div_ceil(cs);
                let w = if us > u64::from(u32::MAX) { 8 } else { 4 };
                let res = slice(data, b.res.offset, b.res.size_in_wim)?;
                let tl = ((n - 1) * w) as usize;
                let mut starts = vec![0u64];
                for k in 0..(n - 1) as usize {
                    let e = &res[k * w as usize..];
                    starts.push(if w == 8 {
                        u64_at(e, 0).ok_or("short resource")?
                    } else {
                        u64::from(u32_at(e, 0).ok_or("short resource")?)
                    });
                }
                starts.push((res.len() - tl) as u64);
                for k in 0..n as usize {
                    chunks.push(Chunk {
                        kind,
                        start: b.res.offset as usize + tl + starts[k] as usize,
                        len: (starts[k + 1] - starts[k]) as usize,
                        usize: (us - k as u64 * cs).min(cs) as usize,
                    });
                }
            }
            out.push((chunks, vec![(0, b.res.uncompressed_size as usize, b.hash)]));
            continue;
        }
        let mut chunks = Vec::new();
        let mut members = Vec::new();
        while i < blobs.len() && blobs[i].res.flags & resflags::SOLID != 0 {
            let e = blobs[i];
            i += 1;
            if e.res.uncompressed_size != SOLID_RESOURCE_MARKER {
                members.push((e.res.offset as usize, e.res.size_in_wim as usize, e.hash));
                continue;
            }
            let res = slice(data, e.res.offset, e.res.size_in_wim)?;
            let total = u64_at(res, 0).ok_or("short resource")?;
            let cs = u64::from(u32_at(res, 8).ok_or("short resource")?);
            let k = Compression::from_solid_id(u32_at(res, 12).ok_or("short resource")?)
                .ok_or("solid type")?;
            let n = total.div_ceil(cs) as usize;
            let mut pos = 16 + 4 * n;
            for c in 0..n {
                let clen = u32_at(res, 16 + 4 * c).ok_or("short resource")? as usize;
                chunks.push(Chunk {
                    kind: k,
                    start: e.res.offset as usize + pos,
                    len: clen,
                    usize: (total - c as u64 * cs).min(cs) as usize,
                });
                pos += clen;
            }
        }
        out.push((chunks, members));
    }
    Ok((header, out))
}

/// Decode everything; returns (uncompressed bytes, decode time, decode+hash time).
fn measure(data: &[u8], res: &[Resource]) -> Res<(usize, Duration, Duration)> {
    let mut decoders: Vec<(Compression, Decoder)> = Vec::new();
    let mut total = 0;
    let mut t_decode = Duration::ZERO;
    let mut t_hash = Duration::ZERO;
    let mut buf = Vec::new();
    for (chunks, blobs) in res {
        buf.clear();
        let t0 = Instant::now();
        for c in chunks {
            let start = buf.len();
            buf.resize(start + c.usize, 0);
            let input = &data[c.start..c.start + c.len];
            if c.len == c.usize {
                buf[start..].copy_from_slice(input);
                continue;
            }
            let i = match decoders.iter().position(|(k, _)| *k == c.kind) {
                Some(i) => i,
                None => {
                    decoders.push((c.kind, Decoder::new(c.kind)));
                    decoders.len() - 1
                }
            };
            decoders[i].1.decompress(input, &mut buf[start..])?;
        }
        t_decode += t0.elapsed();
        let t1 = Instant::now();
        for (off, size, hash) in blobs {
            if sha1(&buf[*off..off + size]) != *hash {
                return Err(format!("SHA-1 mismatch for blob at {off}").into());
            }
            total += size;
        }
        t_hash += t1.elapsed();
    }
    Ok((total, t_decode, t_decode + t_hash))
}

/// Re-encode every XPRESS chunk: (MB in, seconds, our bytes, wimlib's bytes).
fn encode_xpress(data: &[u8], res: &[Resource]) -> Res<(f64, f64, usize, usize)> {
    let mut dec = Decoder::new(Compression::Xpress);
    let mut enc = XpressEncoder::new();
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    let (mut bytes, mut ours, mut theirs) = (0usize, 0usize, 0usize);
    let mut t = Duration::ZERO;
    for (chunks, _) in res {
        for c in chunks.iter().filter(|c| c.kind == Compression::Xpress) {
            plain.resize(c.usize, 0);
            let input = &data[c.start..c.start + c.len];
            if c.len == c.usize {
                plain.copy_from_slice(input);
            } else {
                dec.decompress(input, &mut plain)?;
            }
            let t0 = Instant::now();
            let smaller = enc.compress(&plain, &mut out);
            t += t0.elapsed();
            bytes += c.usize;
            ours += if smaller { out.len() } else { c.usize };
            theirs += c.len;
        }
    }
    Ok((bytes as f64 / 1e6, t.as_secs_f64().max(1e-9), ours, theirs))
}

fn wimlib_apply(wim: &Path) -> Res<Duration> {
    let dir = tempfile::tempdir_in("/tmp")?;
    let t0 = Instant::now();
    let st = Command::new("wimlib-imagex")
        .arg("apply")
        .arg(wim)
        .arg("1")
        .arg(dir.path())
        .output()?;
    let t = t0.elapsed();
    if !st.status.success() {
        return Err(String::from_utf8_lossy(&st.stderr).into_owned().into());
    }
    Ok(t)
}

fn make_corpus(dir: &Path) -> Res<Vec<PathBuf>> {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("bin"))?;
    let mut used = 0u64;
    let mut entries: Vec<PathBuf> = std::fs::read_dir("/usr/bin")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_file() && m.len() > 10_000 && used + m.len() < 20_000_000 {
            if let Ok(d) = std::fs::read(&p) {
                used += d.len() as u64;
                std::fs::write(src.join("bin").join(p.file_name().ok_or("name")?), d)?;
            }
        }
    }
    let mut text = String::new();
    let mut x = 12345u64;
    while text.len() < 4_000_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(
            ["lorem ", "ipsum ", "windows ", "image\n", "update "][(x >> 60) as usize % 5],
        );
    }
    std::fs::write(src.join("text.txt"), text)?;
    let mut out = Vec::new();
    for (name, args) in [
        ("xpress.wim", &["--compress=XPRESS"][..]),
        ("lzms.wim", &["--compress=LZMS"][..]),
        ("solid.esd", &["--solid"][..]),
    ] {
        let wim = dir.join(name);
        eprintln!("capturing {name} ...");
        let st = Command::new("wimlib-imagex")
            .arg("capture")
            .arg(&src)
            .arg(&wim)
            .args(args)
            .output()?;
        if !st.status.success() {
            return Err(String::from_utf8_lossy(&st.stderr).into_owned().into());
        }
        out.push(wim);
    }
    Ok(out)
}

fn main() -> Res<()> {
    let tmp = tempfile::tempdir_in("/tmp")?;
    let mut wims: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if wims.is_empty() {
        wims = make_corpus(tmp.path())?;
    }
    println!(
        "{:<28} {:>8} {:>9} {:>10} {:>10} {:>12} {:>8}",
        "wim", "codec", "MB", "decode", "dec+sha1", "wimlib apply", "ratio"
    );
    let mut xpress_wims = Vec::new();
    for wim in wims {
        let data = std::fs::read(&wim)?;
        let (header, res) = resources(&data)?;
        // Warm-up pass, then the measured one.
        measure(&data, &res)?;
        let (bytes, t_dec, t_all) = measure(&data, &res)?;
        let t_wimlib = wimlib_apply(&wim)?;
        let mb = bytes as f64 / 1e6;
        let rate = |t: Duration| mb / t.as_secs_f64().max(1e-9);
        let solid = res
            .iter()
            .any(|(c, b)| b.len() > 1 || c.iter().any(|c| c.usize > 1 << 20));
        let codec = if solid {
            "LZMS*".to_string()
        } else {
            header.compression()?.name().to_string()
        };
        println!(
            "{:<28} {:>8} {:>9.1} {:>7.0} MB/s {:>5.0} MB/s {:>7.0} MB/s {:>7.2}x",
            wim.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            codec,
            mb,
            rate(t_dec),
            rate(t_all),
            rate(t_wimlib),
            rate(t_all) / rate(t_wimlib),
        );
        if codec == "XPRESS" {
            let name = wim.display().to_string();
            xpress_wims.push((name, data, res));
        }
    }
    for (wim, data, res) in &xpress_wims {
        let (mb, secs, ours, theirs) = encode_xpress(data, res)?;
        println!(
            "{}: our XPRESS encoder {:.0} MB/s, {} bytes vs wimlib's {} ({:+.1}%)",
            wim,
            mb / secs,
            ours,
            theirs,
            (ours as f64 / theirs as f64 - 1.0) * 100.0
        );
    }
    println!("(ratio = our decode+SHA-1 rate / wimlib apply rate; LZMS* = solid resources)");
    Ok(())
}
