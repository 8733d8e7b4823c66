//! LZX codec against wimlib: our decoder must read every chunk of wimlib-written (and Microsoft
//! sample) LZX WIMs to the SHA-1 the blob table promises, and wimlib must verify and extract WIMs
//! whose resources were re-encoded by our compressor.

use mediaprep_core::codec::lzx::{decompress, decompress_window, LzxEncoder};
use mediaprep_core::hash::sha1;
use mediaprep_core::wim::format::{resflags, BlobEntry, Header, ResHdr, BLOB_ENTRY_SIZE};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{wimlib_capture, wimlib_extract, wimlib_verify};

fn have_wimlib() -> bool {
    Command::new("wimlib-imagex")
        .arg("--version")
        .output()
        .is_ok()
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn text(n: usize) -> Vec<u8> {
    let words = [
        "the",
        "windows",
        "image",
        "chunk",
        "offset",
        "servicing",
        "update",
        "driver",
        "boot",
        "a",
        "registry",
        "\n",
        "of",
        "compression",
        "LZX",
        "HUFFMAN",
        "table",
        "=",
        "0x1F",
        "recovery",
    ];
    let r = noise(7, n);
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(words[(r[i % r.len()] as usize) % words.len()].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(n);
    out
}

/// x86 binaries from the system (E8-rich), capped in size.
fn system_binary(cap: usize) -> Vec<u8> {
    for p in [
        "/usr/bin/wimlib-imagex",
        "/usr/lib/x86_64-linux-gnu/libwim.so.15",
        "/usr/bin/bash",
        "/usr/bin/ls",
    ] {
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
        if let Ok(b) = std::fs::read(&p) {
            if b.len() > 20000 {
                let mut b = b;
                b.truncate(cap);
                return b;
            }
        }
    }
    noise(99, cap)
}

/// The varied corpus: name → bytes.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut half = text(20000);
    half.extend(noise(3, 20000));
    let mut e8s = vec![0u8; 40000];
    for (i, b) in e8s.iter_mut().enumerate() {
        if i % 7 == 0 {
            *b = 0xE8;
        } else {
            *b = (i * 31 % 251) as u8;
        }
    }
    vec![
        ("text.txt", text(100_000)),
        ("bin.exe", system_binary(300_000)),
        ("random.bin", noise(1, 70_000)),
        ("zeros.bin", vec![0; 100_000]),
        ("one.bin", vec![0x41]),
        (
            "ten.bin",
            b"\xE8\x01\x02\x03\x04\xE8\x00\x00\x00\x00".to_vec(),
        ),
        (
            "eleven.bin",
            b"\xE8\x01\x02\x03\x04\xE8\x00\x00\x00\x00\xE8".to_vec(),
        ),
        ("odd.txt", text(32769)),
        ("exact.txt", text(65536)),
        ("mixed.bin", half),
        ("e8s.bin", e8s),
        ("small.txt", text(333)),
    ]
}

fn write_corpus(dir: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, data) in files {
        std::fs::write(dir.join(name), data).unwrap();
    }
}

fn capture(dir: &Path, wim: &Path, compress: &str) {
    capture_with(dir, wim, compress, &[]);
}

fn capture_with(dir: &Path, wim: &Path, compress: &str, extra: &[&str]) {
    let compress = format!("--compress={compress}");
    wimlib_capture(
        dir,
        wim,
        &[&[compress.as_str(), "--no-acls"], extra].concat(),
    );
}

fn blob_table(wim: &[u8]) -> (Header, Vec<BlobEntry>) {
    let h = Header::parse(wim, wim.len() as u64).unwrap();
    let t = &h.blob_table;
    let start = t.offset as usize;
    let n = t.uncompressed_size as usize / BLOB_ENTRY_SIZE;
    let entries = (0..n)
        .map(|i| {
            BlobEntry::parse(&wim[start + i * BLOB_ENTRY_SIZE..start + (i + 1) * BLOB_ENTRY_SIZE])
        })
        .collect();
    (h, entries)
}

/// Compressed chunks of a non-solid resource: (compressed bytes, uncompressed size).
fn chunks<'a>(wim: &'a [u8], res: &ResHdr, chunk_size: usize) -> Vec<(&'a [u8], usize)> {
    let usize_ = res.uncompressed_size as usize;
    let n = usize_.div_ceil(chunk_size);
    let ent = if usize_ > u32::MAX as usize { 8 } else { 4 };
    let base = res.offset as usize;
    let table_len = (n - 1) * ent;
    let mut starts = vec![0usize];
    for k in 0..n - 1 {
        let p = base + k * ent;
        let v = if ent == 4 {
            u32::from_le_bytes(wim[p..p + 4].try_into().unwrap()) as usize
        } else {
            u64::from_le_bytes(wim[p..p + 8].try_into().unwrap()) as usize
        };
        starts.push(v);
    }
    starts.push(res.size_in_wim as usize - table_len);
    let data = base + table_len;
    (0..n)
        .map(|k| {
            let u = if k + 1 == n {
                usize_ - k * chunk_size
            } else {
                chunk_size
            };
            (&wim[data + starts[k]..data + starts[k + 1]], u)
        })
        .collect()
}

/// Decode every non-solid compressed resource with our decoder and check its SHA-1.
/// Returns (blobs checked, chunks really compressed).
fn check_wim(wim: &[u8]) -> (usize, usize) {
    let (h, entries) = blob_table(wim);
    let cs = h.chunk_size as usize;
    let (mut blobs, mut coded) = (0, 0);
    for e in entries {
        if e.res.flags & resflags::COMPRESSED == 0 || e.res.flags & resflags::SOLID != 0 {
            continue;
        }
        let mut all = Vec::new();
        for (c, u) in chunks(wim, &e.res, cs) {
            let mut out = vec![0u8; u];
            if c.len() == u {
                out.copy_from_slice(c);
            } else {
                decompress_window(c, &mut out, cs)
                    .unwrap_or_else(|err| panic!("blob {:02x?}: {err}", &e.hash[..4]));
                coded += 1;
            }
            all.extend_from_slice(&out);
        }
        assert_eq!(sha1(&all), e.hash, "blob of {} bytes", all.len());
        blobs += 1;
    }
    (blobs, coded)
}

#[test]
fn decodes_wimlib_captures() {
    if !have_wimlib() {
        eprintln!("wimlib-imagex missing; skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write_corpus(&src, &corpus());
    for level in ["LZX", "LZX:100", "LZX:20", "LZX:1"] {
        let wim = tmp.path().join("out.wim");
        capture(&src, &wim, level);
        let data = std::fs::read(&wim).unwrap();
        let (blobs, coded) = check_wim(&data);
        assert!(
            blobs >= 8 && coded >= 10,
            "{level}: {blobs} blobs {coded} chunks"
        );
        std::fs::remove_file(&wim).unwrap();
    }
}

#[test]
fn decodes_larger_wimlib_windows() {
    if !have_wimlib() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("t.txt"), text(400_000)).unwrap();
    std::fs::write(src.join("b.exe"), system_binary(400_000)).unwrap();
    for cs in ["65536", "131072", "1048576"] {
        let wim = tmp.path().join(format!("c{cs}.wim"));
        capture_with(&src, &wim, "LZX", &["--chunk-size", cs]);
        let data = std::fs::read(&wim).unwrap();
        let (blobs, coded) = check_wim(&data);
        assert!(blobs >= 2 && coded >= 2, "chunk size {cs}");
    }
}

#[test]
fn decodes_shared_samples() {
    for name in ["LZX.wim", "BootLZX.wim"] {
        let p =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/wim/").to_string() + name;
        let Ok(data) = std::fs::read(&p) else {
            eprintln!("{p} missing; skipped");
            continue;
        };
        let (blobs, coded) = check_wim(&data);
        assert!(blobs > 0 && coded > 0, "{name}");
    }
}

#[test]
fn malformed_chunks_fail_cleanly() {
    if !have_wimlib() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("t.txt"), text(90_000)).unwrap();
    std::fs::write(src.join("b.exe"), system_binary(90_000)).unwrap();
    let wim = tmp.path().join("out.wim");
    capture(&src, &wim, "LZX");
    let data = std::fs::read(&wim).unwrap();
    let (h, entries) = blob_table(&data);
    let mut errors = 0;
    let mut total = 0;
    for e in entries
        .iter()
        .filter(|e| e.res.flags & resflags::COMPRESSED != 0)
    {
        for (c, u) in chunks(&data, &e.res, h.chunk_size as usize) {
            if c.len() == u {
                continue;
            }
            let mut out = vec![0u8; u];
            // Truncation must be detected.
            for cut in [0, 1, 2, c.len() / 2, c.len() - 2] {
                total += 1;
                if decompress(&c[..cut], &mut out).is_err() {
                    errors += 1;
                }
            }
            // Bit flips must never panic; most must be detected or change the output.
            let mut good = vec![0u8; u];
            decompress(c, &mut good).unwrap();
            for k in 0..200 {
                let mut bad = c.to_vec();
                let bit = (k * 7919) % (bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                let _ = decompress(&bad, &mut out);
            }
            // Wrong output sizes must not panic either.
            let _ = decompress(c, &mut vec![0u8; u / 2]);
            let _ = decompress(c, &mut vec![0u8; u + 100]);
        }
    }
    assert!(total > 0);
    assert_eq!(errors, total, "every truncated chunk must be rejected");
}

/// Our chunked resource for `data`: chunk table + chunks (raw where compression does not help).
fn encode_resource(data: &[u8], optimal: bool) -> (Vec<u8>, usize) {
    let mut enc = LzxEncoder::new();
    enc.set_optimal(optimal);
    let mut body = Vec::new();
    let mut starts = Vec::new();
    let mut coded = 0;
    let mut buf = Vec::new();
    for chunk in data.chunks(32768) {
        starts.push(body.len() as u32);
        buf.clear();
        if enc.compress(chunk, &mut buf) {
            assert!(buf.len() < chunk.len());
            body.extend_from_slice(&buf);
            coded += 1;
        } else {
            body.extend_from_slice(chunk);
        }
    }
    let mut res = Vec::new();
    for s in &starts[1..] {
        res.extend_from_slice(&s.to_le_bytes());
    }
    res.extend_from_slice(&body);
    (res, coded)
}

#[test]
fn our_chunks_round_trip_through_our_decoder() {
    for ((name, data), optimal) in corpus()
        .into_iter()
        .flat_map(|c| [(c.clone(), false), (c, true)])
    {
        let mut enc = LzxEncoder::new();
        enc.set_optimal(optimal);
        let mut out = Vec::new();
        for (k, chunk) in data.chunks(32768).enumerate() {
            out.clear();
            if enc.compress(chunk, &mut out) {
                let mut back = vec![0u8; chunk.len()];
                decompress(&out, &mut back).unwrap_or_else(|e| panic!("{name} chunk {k}: {e}"));
                assert!(back == chunk, "{name} chunk {k} differs");
            }
        }
    }
}

#[test]
fn wimlib_reads_our_chunks() {
    if !have_wimlib() {
        eprintln!("wimlib-imagex missing; skipped");
        return;
    }
    let mut zeros_bin = vec![0u8; 200_000];
    zeros_bin[100_000] = 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text.txt", text(150_000)),
        ("bin.exe", system_binary(400_000)),
        ("random.bin", noise(5, 80_000)),
        ("zeros.bin", zeros_bin),
        ("odd.txt", text(32768 * 2 + 77)),
    ];
    for (name, data) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join(name), &data).unwrap();
        let wim_path = tmp.path().join("a.wim");
        capture(&src, &wim_path, "LZX");
        let mut wim = std::fs::read(&wim_path).unwrap();
        let (h, entries) = blob_table(&wim);
        let want = sha1(&data);
        let idx = entries
            .iter()
            .position(|e| e.hash == want)
            .expect("file blob in table");
        // Both parsers must produce chunks wimlib accepts; alternate them across the cases.
        let (res, coded) = encode_resource(&data, name.len() % 2 == 0);
        if name != "random.bin" {
            assert!(coded > 0, "{name}: nothing compressed");
        }
        let mut e = entries[idx];
        e.res.offset = wim.len() as u64;
        e.res.size_in_wim = res.len() as u64;
        e.res.flags |= resflags::COMPRESSED;
        wim.extend_from_slice(&res);
        let at = h.blob_table.offset as usize + idx * BLOB_ENTRY_SIZE;
        wim[at..at + BLOB_ENTRY_SIZE].copy_from_slice(&e.to_bytes());
        let ours = tmp.path().join("ours.wim");
        std::fs::write(&ours, &wim).unwrap();
        wimlib_verify(&ours);
        let back = wimlib_extract(&ours, 1, &format!("/{name}"));
        assert!(back == data, "{name}: wimlib extracted different bytes");
        // Our decoder agrees on the patched WIM too.
        assert!(check_wim(&wim).0 >= 1);
    }
}
