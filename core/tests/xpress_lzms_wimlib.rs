//! XPRESS and LZMS decoders checked against wimlib: temp corpora are captured with
//! `wimlib-imagex capture` (XPRESS, non-solid LZMS, solid LZMS, solid XPRESS), every resource is
//! decoded with our codecs and every blob's SHA-1 must match the blob table that wimlib wrote.
//! Public sample WIMs from `shared/testdata` are checked the same way. Corrupted chunks
//! (truncated, bit-flipped) must fail cleanly or decode to different bytes, never panic.
//! The XPRESS encoder is checked by round trip through wimlib (`verify` + `extract`).

use mediaprep_core::codec::{lzms::LzmsDecoder, xpress, Compression, Decoder};
use mediaprep_core::hash::sha1;
use mediaprep_core::io::le::{u32_at, u64_at};
use mediaprep_core::wim::format::{
    resflags, BlobEntry, Header, BLOB_ENTRY_SIZE, HEADER_SIZE, SOLID_RESOURCE_MARKER,
};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{wimlib_apply, wimlib_capture, wimlib_verify, Rng};

// ---------------------------------------------------------------- corpus + oracle helpers

fn have_wimlib() -> bool {
    Command::new("wimlib-imagex")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Text, x86 code from /usr/bin (E8/E9-rich), random, zeros, tiny and odd-sized files.
fn build_corpus(dir: &Path, bin_budget: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let words = [
        "windows",
        "recovery",
        "image",
        "servicing",
        "update",
        "package",
        "driver",
        "the",
        "of",
        "mediaprep",
        "boot",
        "chunk",
        "resource",
        "\n",
        "0x1F",
        "compression",
        "LZMS",
        "XPRESS",
    ];
    let mut text = String::new();
    while text.len() < 300_000 {
        text.push_str(words[rng.below(words.len())]);
        text.push(' ');
    }
    std::fs::write(dir.join("text.txt"), &text).unwrap();
    let random: Vec<u8> = (0..200_003).map(|_| rng.next() as u8).collect();
    std::fs::write(dir.join("random.bin"), &random).unwrap();
    std::fs::write(dir.join("zeros.bin"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(dir.join("one.bin"), b"x").unwrap();
    std::fs::write(dir.join("two.bin"), b"xy").unwrap();
    for (i, size) in [
        17usize, 255, 32767, 32768, 32769, 65535, 65537, 131073, 100_001,
    ]
    .iter()
    .enumerate()
    {
        let data: Vec<u8> = (0..*size)
            .map(|j| {
                if j % 7 == 0 {
                    rng.next() as u8
                } else {
                    text.as_bytes()[j % text.len()]
                }
            })
            .collect();
        std::fs::write(dir.join(format!("odd{i}.dat")), data).unwrap();
    }
    // Delta-friendly data (LZMS delta matches): a table of increasing 16/32-bit integers.
    let mut table = Vec::new();
    for i in 0u32..60_000 {
        table.extend_from_slice(&(i * 3).to_le_bytes());
        table.extend_from_slice(&((i * 7) as u16).to_le_bytes());
    }
    std::fs::write(dir.join("table.bin"), table).unwrap();
    // Real x86-64 machine code.
    let bindir = dir.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    let mut entries: Vec<PathBuf> = std::fs::read_dir("/usr/bin")
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    let mut used = 0usize;
    for p in entries {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.is_file() || meta.len() < 20_000 || meta.len() > 2_000_000 {
            continue;
        }
        if used + meta.len() as usize > bin_budget {
            continue;
        }
        if let Ok(data) = std::fs::read(&p) {
            used += data.len();
            std::fs::write(bindir.join(p.file_name().unwrap()), data).unwrap();
        }
    }
}

fn capture(src: &Path, wim: &Path, args: &[&str]) {
    wimlib_capture(src, wim, &[args, &["--threads=1"]].concat());
}

// ---------------------------------------------------------------- minimal WIM walker

struct Wim {
    data: Vec<u8>,
    header: Header,
    blobs: Vec<BlobEntry>,
}

fn open_wim(path: &Path) -> Wim {
    let data = std::fs::read(path).unwrap();
    let header = Header::parse(&data[..HEADER_SIZE], data.len() as u64).unwrap();
    let t = header.blob_table;
    let table = &data[t.offset as usize..(t.offset + t.size_in_wim) as usize];
    let blobs = table
        .chunks_exact(BLOB_ENTRY_SIZE)
        .map(BlobEntry::parse)
        .collect();
    Wim {
        data,
        header,
        blobs,
    }
}

/// A compressed chunk as found in a WIM.
#[derive(Clone)]
struct Chunk {
    kind: Compression,
    compressed: Vec<u8>,
    usize: usize,
}

/// Decode the chunks of one resource with a fresh decoder per codec.
fn decode_chunks(chunks: &[Chunk], decoders: &mut Decoders) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        let start = out.len();
        out.resize(start + c.usize, 0);
        if c.compressed.len() == c.usize {
            out[start..].copy_from_slice(&c.compressed);
        } else {
            decoders
                .get(c.kind)
                .decompress(&c.compressed, &mut out[start..])
                .unwrap_or_else(|e| panic!("{} chunk of {} bytes: {e}", c.kind.name(), c.usize));
        }
    }
    out
}

struct Decoders(Vec<(Compression, Decoder)>);
impl Decoders {
    fn get(&mut self, kind: Compression) -> &mut Decoder {
        let i = match self.0.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                self.0.push((kind, Decoder::new(kind)));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

/// Chunks of a non-solid compressed resource.
fn plain_chunks(wim: &Wim, b: &BlobEntry) -> Vec<Chunk> {
    let kind = wim.header.compression().unwrap();
    let cs = wim.header.chunk_size as u64;
    let usize_ = b.res.uncompressed_size;
    let n = usize_.div_ceil(cs);
    let entry = if usize_ > 0xFFFF_FFFF { 8 } else { 4 };
    let res = &wim.data[b.res.offset as usize..(b.res.offset + b.res.size_in_wim) as usize];
    let table_len = ((n - 1) * entry) as usize;
    let mut starts = vec![0u64];
    for k in 0..(n - 1) as usize {
        let e = &res[k * entry as usize..];
        starts.push(if entry == 8 {
            u64_at(e, 0).unwrap()
        } else {
            u64::from(u32_at(e, 0).unwrap())
        });
    }
    let body = &res[table_len..];
    starts.push(body.len() as u64);
    (0..n as usize)
        .map(|k| Chunk {
            kind,
            compressed: body[starts[k] as usize..starts[k + 1] as usize].to_vec(),
            usize: (usize_ - k as u64 * cs).min(cs) as usize,
        })
        .collect()
}

/// Chunks of a solid resource (header: u64 size, u32 chunk size, u32 type, u32 sizes[n]).
fn solid_chunks(wim: &Wim, r: &BlobEntry) -> Vec<Chunk> {
    let res = &wim.data[r.res.offset as usize..(r.res.offset + r.res.size_in_wim) as usize];
    let total = u64_at(res, 0).unwrap();
    let cs = u64::from(u32_at(res, 8).unwrap());
    let kind = Compression::from_solid_id(u32_at(res, 12).unwrap()).unwrap();
    let n = total.div_ceil(cs) as usize;
    let mut pos = 16 + 4 * n;
    (0..n)
        .map(|k| {
            let clen = u32_at(res, 16 + 4 * k).unwrap() as usize;
            let c = Chunk {
                kind,
                compressed: res[pos..pos + clen].to_vec(),
                usize: (total - k as u64 * cs).min(cs) as usize,
            };
            pos += clen;
            c
        })
        .collect()
}

/// A blob inside a resource: (offset, size, sha1).
type BlobSpan = (usize, usize, [u8; 20]);

/// Every resource of the WIM as (chunks, blobs it holds).
fn resources(wim: &Wim) -> Vec<(Vec<Chunk>, Vec<BlobSpan>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < wim.blobs.len() {
        let b = wim.blobs[i];
        if b.res.flags & resflags::SOLID == 0 {
            if b.res.uncompressed_size != 0 && b.hash != [0; 20] {
                let chunks = if b.res.flags & resflags::COMPRESSED != 0 {
                    plain_chunks(wim, &b)
                } else {
                    let o = b.res.offset as usize;
                    vec![Chunk {
                        kind: Compression::None,
                        compressed: wim.data[o..o + b.res.size_in_wim as usize].to_vec(),
                        usize: b.res.size_in_wim as usize,
                    }]
                };
                out.push((chunks, vec![(0, b.res.uncompressed_size as usize, b.hash)]));
            }
            i += 1;
            continue;
        }
        // A solid run: resources (size marker) and the blobs inside their concatenation.
        let mut chunks = Vec::new();
        let mut blobs = Vec::new();
        while i < wim.blobs.len() && wim.blobs[i].res.flags & resflags::SOLID != 0 {
            let e = wim.blobs[i];
            if e.res.uncompressed_size == SOLID_RESOURCE_MARKER {
                chunks.extend(solid_chunks(wim, &e));
            } else {
                blobs.push((e.res.offset as usize, e.res.size_in_wim as usize, e.hash));
            }
            i += 1;
        }
        out.push((chunks, blobs));
    }
    out
}

/// Decode every resource and check every blob's SHA-1; returns (blobs checked, bytes decoded,
/// the compressed chunks seen).
fn verify_wim(path: &Path) -> (usize, usize, Vec<Chunk>) {
    let wim = open_wim(path);
    let mut decoders = Decoders(Vec::new());
    let mut checked = 0;
    let mut bytes = 0;
    let mut all_chunks = Vec::new();
    for (chunks, blobs) in resources(&wim) {
        let data = decode_chunks(&chunks, &mut decoders);
        bytes += data.len();
        for (off, size, hash) in blobs {
            assert_eq!(
                sha1(&data[off..off + size]),
                hash,
                "{}: blob at {off}+{size}",
                path.display()
            );
            checked += 1;
        }
        all_chunks.extend(
            chunks
                .into_iter()
                .filter(|c| c.kind != Compression::None && c.compressed.len() != c.usize),
        );
    }
    (checked, bytes, all_chunks)
}

// ---------------------------------------------------------------- mutations

/// Truncate and bit-flip chunks: the decoder must return (never panic), and a successful
/// decode of damaged input must not reproduce the original bytes unless the damage only hit
/// bits the decoder never reads. Truncation by a quarter or more must always be an error.
fn mutate_chunks(chunks: &[Chunk], rounds: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut decoders = Decoders(Vec::new());
    let mut detected = 0;
    let mut tried = 0;
    // Prefer small chunks so hundreds of rounds stay fast in debug builds.
    let mut pool: Vec<&Chunk> = chunks.iter().filter(|c| c.usize <= 1 << 20).collect();
    if pool.is_empty() {
        pool = chunks.iter().collect();
    }
    assert!(!pool.is_empty());
    for round in 0..rounds {
        let c = pool[rng.below(pool.len())];
        let mut data = c.compressed.clone();
        let mut out = vec![0u8; c.usize];
        let truncated = round % 3 == 0;
        if truncated {
            let keep = rng.below(data.len() * 3 / 4 + 1);
            data.truncate(keep);
        } else {
            for _ in 0..1 + rng.below(4) {
                let bit = rng.below(data.len() * 8);
                data[bit / 8] ^= 1 << (bit % 8);
            }
        }
        let r = decoders.get(c.kind).decompress(&data, &mut out);
        tried += 1;
        if let Err(e) = r {
            detected += 1;
            let msg = e.to_string();
            assert!(msg.contains(c.kind.name()), "error names the codec: {msg}");
        } else {
            assert!(
                !truncated,
                "{} chunk truncated to {} bytes decoded",
                c.kind.name(),
                data.len()
            );
        }
    }
    assert!(
        detected * 2 > tried,
        "only {detected}/{tried} corruptions detected"
    );
    // The decoders must still work after all that.
    let c = pool[0];
    let mut out = vec![0u8; c.usize];
    decoders
        .get(c.kind)
        .decompress(&c.compressed, &mut out)
        .unwrap();
}

// ---------------------------------------------------------------- tests

fn corpus_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    build_corpus(d.path(), 3_000_000);
    d
}

#[test]
fn xpress_wimlib_capture_decodes_and_hashes() {
    if !have_wimlib() {
        eprintln!("wimlib-imagex missing: skipped");
        return;
    }
    let src = corpus_dir();
    let out = tempfile::tempdir().unwrap();
    let wim = out.path().join("x.wim");
    capture(src.path(), &wim, &["--compress=XPRESS"]);
    let (n, bytes, chunks) = verify_wim(&wim);
    assert!(n > 20 && bytes > 3_000_000, "{n} blobs, {bytes} bytes");
    assert!(chunks.len() > 50);
    assert!(chunks.iter().all(|c| c.kind == Compression::Xpress));
    mutate_chunks(&chunks, 400, 1);
}

#[test]
fn lzms_wimlib_capture_non_solid_and_solid() {
    if !have_wimlib() {
        eprintln!("wimlib-imagex missing: skipped");
        return;
    }
    let src = corpus_dir();
    let out = tempfile::tempdir().unwrap();
    let plain = out.path().join("lzms.wim");
    capture(src.path(), &plain, &["--compress=LZMS"]);
    let (n, _, chunks) = verify_wim(&plain);
    assert!(n > 20);
    assert!(chunks.iter().any(|c| c.kind == Compression::Lzms));
    mutate_chunks(&chunks, 300, 2);

    let solid = out.path().join("solid.esd");
    capture(src.path(), &solid, &["--solid"]);
    assert_eq!(open_wim(&solid).header.version, 0xE00);
    let (n, bytes, chunks) = verify_wim(&solid);
    assert!(n > 20 && bytes > 3_000_000);
    assert!(chunks
        .iter()
        .any(|c| c.kind == Compression::Lzms && c.usize > 3_000_000));

    // Solid resources with smaller LZMS chunks and with XPRESS chunks.
    let small = out.path().join("solid-small.esd");
    capture(src.path(), &small, &["--solid", "--solid-chunk-size=65536"]);
    let (_, _, chunks) = verify_wim(&small);
    assert!(chunks.len() > 20);
    mutate_chunks(&chunks, 300, 3);
    let sx = out.path().join("solid-xpress.wim");
    capture(
        src.path(),
        &sx,
        &[
            "--solid",
            "--solid-compress=XPRESS",
            "--solid-chunk-size=32768",
        ],
    );
    verify_wim(&sx);
}

fn testdata(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/wim"
    ))
    .join(name)
}

#[test]
fn public_samples_decode() {
    for (name, kind) in [
        ("LZMS.wim", Compression::Lzms),
        ("BootXPRESS.wim", Compression::Xpress),
        ("XPRESS.wim", Compression::Xpress),
    ] {
        let p = testdata(name);
        if !p.exists() {
            eprintln!("{name} missing: skipped");
            continue;
        }
        let (n, _, chunks) = verify_wim(&p);
        assert!(n > 0, "{name}");
        assert!(
            chunks.iter().any(|c| c.kind == kind),
            "{name} has {kind:?} chunks"
        );
    }
}

#[test]
fn api_edge_cases() {
    let mut out = [0u8; 10];
    assert!(xpress::decompress(&[], &mut out).is_err());
    assert!(xpress::decompress(&[0u8; 300], &mut out).is_err());
    let mut d = LzmsDecoder::new();
    assert!(d.decompress(&[], &mut out).is_err());
    assert!(d.decompress(&[1, 2, 3], &mut out).is_err());
    // Empty output is trivially decoded.
    assert!(xpress::decompress(&[0u8; 300], &mut []).is_ok());
}

/// Re-encode every compressed resource of a wimlib XPRESS WIM with our encoder, append the new
/// resources at the end of the file and point the (uncompressed) blob table entries at them;
/// wimlib must then verify the WIM and extract files identical to the source tree.
#[test]
fn xpress_encoder_output_accepted_by_wimlib() {
    if !have_wimlib() {
        eprintln!("wimlib-imagex missing: skipped");
        return;
    }
    let src = corpus_dir();
    let out = tempfile::tempdir().unwrap();
    let wim_path = out.path().join("x.wim");
    capture(src.path(), &wim_path, &["--compress=XPRESS"]);
    let wim = open_wim(&wim_path);
    assert_eq!(wim.header.chunk_size, 32768);
    let mut file = wim.data.clone();
    let table_off = wim.header.blob_table.offset as usize;
    let mut enc = xpress::XpressEncoder::new();
    let (mut reencoded, mut compressed_chunks) = (0, 0);
    let (mut old_size, mut new_size) = (0u64, 0u64);
    let mut decoders = Decoders(Vec::new());
    for (idx, b) in wim.blobs.iter().enumerate() {
        if b.res.flags & resflags::COMPRESSED == 0 || b.res.flags & resflags::SOLID != 0 {
            continue;
        }
        let original = decode_chunks(&plain_chunks(&wim, b), &mut decoders);
        let mut table = Vec::new();
        let mut body = Vec::new();
        let mut buf = Vec::new();
        for (k, chunk) in original.chunks(32768).enumerate() {
            if k > 0 {
                table.extend_from_slice(&(body.len() as u32).to_le_bytes());
            }
            if enc.compress(chunk, &mut buf) {
                assert!(buf.len() < chunk.len());
                body.extend_from_slice(&buf);
                compressed_chunks += 1;
            } else {
                body.extend_from_slice(chunk);
            }
        }
        let mut entry = *b;
        old_size += b.res.size_in_wim;
        new_size += (table.len() + body.len()) as u64;
        entry.res.offset = file.len() as u64;
        entry.res.size_in_wim = (table.len() + body.len()) as u64;
        file.extend_from_slice(&table);
        file.extend_from_slice(&body);
        let at = table_off + idx * BLOB_ENTRY_SIZE;
        file[at..at + BLOB_ENTRY_SIZE].copy_from_slice(&entry.to_bytes());
        reencoded += 1;
    }
    assert!(
        reencoded > 20 && compressed_chunks > 50,
        "{reencoded} resources"
    );
    eprintln!("XPRESS resources: wimlib {old_size} bytes, ours {new_size} bytes");
    assert!(
        new_size < old_size * 13 / 10,
        "our XPRESS output is far larger than wimlib's"
    );
    std::fs::write(&wim_path, &file).unwrap();
    // Our own reader sees the new resources too.
    verify_wim(&wim_path);

    wimlib_verify(&wim_path);
    let dest = out.path().join("applied");
    wimlib_apply(&wim_path, 1, &dest, &[]);
    let mut compared = 0;
    let mut stack = vec![src.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(src.path()).unwrap();
            assert_eq!(
                std::fs::read(&p).unwrap(),
                std::fs::read(dest.join(rel)).unwrap(),
                "{}",
                rel.display()
            );
            compared += 1;
        }
    }
    assert!(compared > 20);
}

/// Arbitrary bytes (and plausible-looking XPRESS tables) of arbitrary sizes: the decoders must
/// return, never panic, whatever the output size.
#[test]
fn garbage_input_never_panics() {
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    let mut lzms = LzmsDecoder::new();
    let mut lzms_ok = 0;
    for round in 0..3000 {
        let in_len = rng.below(if round % 10 == 0 { 70_000 } else { 600 });
        let mut input: Vec<u8> = (0..in_len).map(|_| rng.next() as u8).collect();
        if round % 2 == 0 && input.len() >= 256 {
            // A valid-looking table: all 512 symbols at 9 bits.
            input[..256].fill(0x99);
        }
        let out_len = 1 + rng.below(if round % 10 == 0 { 200_000 } else { 3000 });
        let mut out = vec![0u8; out_len];
        let _ = xpress::decompress(&input, &mut out);
        if lzms.decompress(&input, &mut out).is_ok() {
            lzms_ok += 1;
        }
    }
    // Random data is almost never a consistent LZMS stream of the requested size.
    assert!(lzms_ok < 300, "{lzms_ok} garbage LZMS inputs accepted");
    let mut out = vec![0u8; 100_000];
    assert!(xpress::decompress(&[0x99; 300], &mut out).is_err());
}
