//! LZMS patch buffers (Compression-API containers, PA31 express deltas) with LZMS bytes made by an
//! independent compressor: wimlib. No genuine delta of this kind is available, so the LZMS chunks
//! come from a non-solid LZMS WIM that `wimlib-imagex capture` writes, and the container and the
//! delta around them are built from the described layout (docs/formats/pa30.md section 5.1). Each
//! delta must apply (empty reference) to the file's bytes — which checks our LZMS decoding of
//! wimlib's bytes, the container framing as read, and the dispatch — and damaged ones must fail
//! with a typed error. What it cannot show: that msdelta's containers are framed the same way.

use mediaprep_core::delta::{self, encode, ApplyOptions, CALG_SHA_256};
use mediaprep_core::hash::sha1;
use mediaprep_core::io::le::u32_at;
use mediaprep_core::wim::format::{resflags, BlobEntry, Header, BLOB_ENTRY_SIZE, HEADER_SIZE};
use std::path::Path;

mod common;
use common::Rng;

const CHUNK: u64 = 1 << 16;

/// Compressible files of several sizes: text, x86-64 code (E8-rich, exercises the x86 filter),
/// and a sub-chunk file.
fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5eed_1a2b_3c4d_5e6f);
    let words = ["delta", "servicing", "LZMS", "manifest", "amd64", " ", "\n"];
    let mut text = Vec::new();
    while text.len() < 200_003 {
        text.extend_from_slice(words[rng.below(words.len())].as_bytes());
    }
    let mut files = vec![text.clone(), text[..1234].to_vec()];
    let code = std::fs::read_dir("/usr/bin")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.len() > 150_000)
                .unwrap_or(false)
        })
        .filter_map(|p| std::fs::read(p).ok())
        .find(|d| d.starts_with(b"\x7fELF"));
    if let Some(c) = code {
        files.push(c[..c.len().min(400_000)].to_vec());
    }
    for (i, f) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("f{i}.bin")), f).unwrap();
    }
    files
}

/// (sha1, uncompressed size, compressed chunks) of every compressed non-solid resource.
fn lzms_resources(wim: &Path) -> Vec<([u8; 20], u64, Vec<Vec<u8>>)> {
    let data = std::fs::read(wim).unwrap();
    let header = Header::parse(&data[..HEADER_SIZE], data.len() as u64).unwrap();
    assert_eq!(header.chunk_size as u64, CHUNK);
    let t = header.blob_table;
    let table = &data[t.offset as usize..(t.offset + t.size_in_wim) as usize];
    let mut out = Vec::new();
    for b in table.chunks_exact(BLOB_ENTRY_SIZE).map(BlobEntry::parse) {
        let r = b.res;
        if r.flags & resflags::COMPRESSED == 0 || r.flags & resflags::SOLID != 0 {
            continue;
        }
        let res = &data[r.offset as usize..(r.offset + r.size_in_wim) as usize];
        // Chunk table: u32 starts of chunks 1.. relative to the end of the table.
        let n = r.uncompressed_size.div_ceil(CHUNK) as usize;
        let body = &res[4 * (n - 1)..];
        let mut starts: Vec<usize> = (0..n - 1)
            .map(|k| u32_at(res, 4 * k).unwrap() as usize)
            .collect();
        starts.insert(0, 0);
        starts.push(body.len());
        let chunks = (0..n)
            .map(|k| body[starts[k]..starts[k + 1]].to_vec())
            .collect();
        out.push((b.hash, r.uncompressed_size, chunks));
    }
    out
}

#[test]
fn wimlib_lzms_chunks_in_a_container_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = corpus(&src);
    let wim = tmp.path().join("lzms.wim");
    // wimlib-imagex is one of the project's oracle tools (scripts/setup installs it).
    common::run(
        "wimlib-imagex",
        &[
            "capture",
            src.to_str().unwrap(),
            wim.to_str().unwrap(),
            "--compress=LZMS",
            "--chunk-size=65536",
            "--threads=1",
        ],
    );

    let resources = lzms_resources(&wim);
    let opts = encode::CreateOptions {
        hash_alg_id: CALG_SHA_256,
        ..encode::CreateOptions::default()
    };
    let mut applied = 0;
    let mut chunks_seen = 0;
    for f in &files {
        let h = sha1(f);
        let (_, size, chunks) = resources
            .iter()
            .find(|r| r.0 == h)
            .unwrap_or_else(|| panic!("file of {} bytes not stored compressed", f.len()));
        assert_eq!(*size, f.len() as u64);
        // A chunk wimlib stored uncompressed has no described container framing: the corpus is
        // compressible so that none is.
        for (k, c) in chunks.iter().enumerate() {
            assert!(c.len() < (f.len() - k * CHUNK as usize).min(CHUNK as usize));
        }
        chunks_seen += chunks.len();
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let container = encode::lzms_container(*size, CHUNK, &refs).unwrap();
        let d = encode::wrap_patch(f, &container, &opts).unwrap();
        assert_eq!(
            delta::patch_codec(&d).unwrap(),
            "LZMS container (Compression API)"
        );
        let got = delta::apply(b"any reference", &d, &ApplyOptions::default()).unwrap();
        assert!(got == *f, "file of {} bytes decodes differently", f.len());
        applied += 1;

        // Damage: a flipped byte in the first chunk, a truncated container, a wrong hash.
        let mut bad = container.clone();
        bad[24 + 4 + chunks[0].len() / 2] ^= 0x10;
        let d = encode::wrap_patch(f, &bad, &opts).unwrap();
        let e = delta::apply(b"", &d, &ApplyOptions::default()).unwrap_err();
        assert!(
            ["malformed", "unsupported"].contains(&e.kind()),
            "flipped chunk byte: {e}"
        );
        let d = encode::wrap_patch(f, &container[..container.len() - 3], &opts).unwrap();
        assert!(delta::apply(b"", &d, &ApplyOptions::default()).is_err());
        let d = encode::wrap_patch(b"not the target", &container, &opts).unwrap();
        assert!(delta::apply(b"", &d, &ApplyOptions::default()).is_err());
    }
    assert_eq!(applied, files.len());
    assert!(
        chunks_seen > files.len(),
        "no multi-chunk container was tried"
    );
}
