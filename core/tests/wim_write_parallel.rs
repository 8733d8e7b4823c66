//! Parallel chunk compression in the WIM writer: the bytes are identical for every thread count,
//! and wimlib verifies and applies the parallel output.

use std::collections::VecDeque;
use std::path::Path;

mod common;
use common::{wimlib_apply, wimlib_verify, Rng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mediaprep_core::codec::parallel::{Backend, ChunkBackend, ChunkOut};
use mediaprep_core::codec::{Compression, Effort, Encoder};
use mediaprep_core::hash::sha1;
use mediaprep_core::io::{NoProgress, SliceSource};
use mediaprep_core::wim::model::{attr, Dentry, ImageTree};
use mediaprep_core::wim::write::{write_wim_file, WriteOptions};
use mediaprep_core::wim::xml_write::ImageXml;

fn u(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = Rng(seed | 1);
    move || rng.next()
}

/// Word salad: compresses well, with long and short matches.
fn text(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "setup",
        "windows",
        "driver",
        "update",
        "servicing",
        "stack",
        "image",
        "boot",
        "the ",
        "of ",
        "\r\n",
        "0x",
        "{",
        "}",
        "<file name=\"",
        "\"/>",
    ];
    let mut r = xorshift(seed);
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(WORDS[(r() % WORDS.len() as u64) as usize].as_bytes());
    }
    v.truncate(n);
    v
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut r = xorshift(seed);
    (0..n).map(|_| r() as u8).collect()
}

/// Structured binary: x86-like bytes with E8 calls (LZX translates them) and repeated tables.
fn binary(n: usize, seed: u64) -> Vec<u8> {
    let mut r = xorshift(seed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        match r() % 4 {
            0 => v.extend_from_slice(&[0xE8, r() as u8, r() as u8, 0, 0]),
            1 => v.extend_from_slice(&(v.len() as u32 & !0xFFF).to_le_bytes()),
            2 => v.extend_from_slice(&[0x48, 0x8B, 0x45, (r() % 16) as u8]),
            _ => v.push(r() as u8),
        }
    }
    v.truncate(n);
    v
}

/// Files of varied content and sizes: single chunks, exact chunk multiples, several batches,
/// and an incompressible blob that falls back to stored.
fn files() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        ("tiny.txt".into(), b"hello".to_vec()),
        ("one-chunk.txt".into(), text(32768, 1)),
        ("two-chunks.bin".into(), binary(65536, 2)),
        ("big-text.txt".into(), text(3 * 1024 * 1024 + 12345, 3)),
        ("big-binary.bin".into(), binary(2 * 1024 * 1024 + 7, 4)),
        ("noise.bin".into(), noise(600_000, 5)),
    ];
    // Half noise, half text: some chunks compressed and some stored within one resource.
    let mut mixed = noise(300_000, 6);
    mixed.extend(text(300_000, 7));
    v.push(("mixed.bin".into(), mixed));
    v
}

/// How the blobs reach the writer.
#[derive(Clone, Copy)]
enum Entry {
    /// `add_blob` and `add_blob_from`, alternating.
    OneByOne,
    /// One `add_blobs` call (with a duplicate and an empty blob thrown in).
    Batched,
}

fn write(path: &Path, files: &[(String, Vec<u8>)], compression: Compression, threads: usize) {
    write_via(path, files, compression, threads, Entry::OneByOne)
}

/// A stand-in for the browser's worker pool: `helpers` threads with their own encoders take
/// chunks from the back of each run while the calling thread takes them from the front
/// (through `local`), so who compresses which chunk varies from run to run.
struct Helpers {
    helpers: usize,
    runs: AtomicUsize,
    by_helpers: AtomicUsize,
}

impl ChunkBackend for Helpers {
    fn helpers(&self) -> usize {
        self.helpers
    }
    fn compress(
        &self,
        kind: Compression,
        effort: Effort,
        chunks: &[&[u8]],
        outs: &mut [ChunkOut],
        local: &mut dyn FnMut(&[u8], &mut ChunkOut),
    ) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let work = Mutex::new(chunks.iter().zip(outs.iter_mut()).collect::<VecDeque<_>>());
        let next = |back: bool| {
            let mut w = work.lock().unwrap();
            if back {
                w.pop_back()
            } else {
                w.pop_front()
            }
        };
        std::thread::scope(|s| {
            for _ in 0..self.helpers {
                s.spawn(|| {
                    let mut enc = Encoder::with_effort(kind, effort);
                    while let Some((input, out)) = next(true) {
                        out.compressed = enc.compress(input, &mut out.data);
                        self.by_helpers.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            while let Some((input, out)) = next(false) {
                local(input, out);
            }
        });
    }
}

fn write_via(
    path: &Path,
    files: &[(String, Vec<u8>)],
    compression: Compression,
    threads: usize,
    entry: Entry,
) {
    let opts = WriteOptions {
        threads,
        ..WriteOptions::new(compression)
    };
    write_with(path, files, opts, entry)
}

fn write_with(path: &Path, files: &[(String, Vec<u8>)], opts: WriteOptions, entry: Entry) {
    let mut tree = ImageTree::with_root();
    for (name, data) in files {
        tree.add_child(
            0,
            Dentry {
                name: u(name),
                attributes: attr::NORMAL,
                security_id: -1,
                data: Some(sha1(data)),
                ..Default::default()
            },
        );
    }
    write_wim_file(path, opts, |w| {
        if let Entry::Batched = entry {
            let mut all: Vec<&[u8]> = files.iter().map(|(_, d)| d.as_slice()).collect();
            all.insert(2, &files[1].1);
            all.insert(0, &[]);
            let hashes = w.add_blobs(&all)?;
            assert_eq!(hashes.len(), all.len());
            assert_eq!(hashes[0], [0u8; 20], "the empty blob is the zero hash");
            for (h, d) in hashes.iter().zip(&all).skip(1) {
                assert_eq!(*h, sha1(d));
            }
            return w.add_image(&tree, ImageXml::new("Parallel", None));
        }
        for (i, (_, data)) in files.iter().enumerate() {
            // Both entry points: in-memory and streamed blobs.
            if i % 2 == 0 {
                w.add_blob(data)?;
            } else {
                let src = SliceSource::new(data.clone());
                w.add_blob_from(&src, Some(sha1(data)), &NoProgress)?;
            }
        }
        w.add_image(&tree, ImageXml::new("Parallel", None))
    })
    .unwrap();
}

/// Each compression (LZX, XPRESS), its name and the bytes of [`files`] written with one thread.
type References = Vec<(Compression, &'static str, Vec<u8>)>;

/// A temporary directory, [`files`], and the one-thread output for each compression: the reference
/// every other way of writing them must give.
fn references() -> (tempfile::TempDir, Vec<(String, Vec<u8>)>, References) {
    let tmp = tempfile::tempdir().unwrap();
    let files = files();
    let refs = [Compression::Lzx, Compression::Xpress]
        .into_iter()
        .map(|compression| {
            let name = compression.name();
            let one = tmp.path().join(format!("{name}-1.wim"));
            write(&one, &files, compression, 1);
            (compression, name, std::fs::read(&one).unwrap())
        })
        .collect();
    (tmp, files, refs)
}

#[test]
fn thread_count_does_not_change_the_bytes_and_wimlib_verifies() {
    let (tmp, files, refs) = references();
    for (compression, name, one_bytes) in refs {
        for threads in [2, 3, 4] {
            let many = tmp.path().join(format!("{name}-{threads}.wim"));
            write(&many, &files, compression, threads);
            assert!(
                std::fs::read(&many).unwrap() == one_bytes,
                "{name}: threads={threads} output differs from threads=1"
            );
        }
        // Many blobs in one parallel run: the same bytes as adding them one at a time.
        for threads in [1, 3] {
            let batched = tmp.path().join(format!("{name}-batched-{threads}.wim"));
            write_via(&batched, &files, compression, threads, Entry::Batched);
            assert!(
                std::fs::read(&batched).unwrap() == one_bytes,
                "{name}: add_blobs (threads={threads}) output differs from add_blob"
            );
        }
        // Independent check of the parallel output (identical bytes, but verify it directly).
        let p = tmp.path().join(format!("{name}-4.wim"));
        wimlib_verify(&p);
        let x = tmp.path().join(format!("x-{name}"));
        wimlib_apply(&p, 1, &x, &[]);
        for (rel, data) in &files {
            assert!(
                std::fs::read(x.join(rel)).unwrap() == *data,
                "{name}: {rel} applied differently"
            );
        }
    }
}

#[test]
fn a_chunk_backend_writes_the_same_bytes_as_one_thread() {
    let (tmp, files, refs) = references();
    for (compression, name, one_bytes) in refs {
        for (helpers, entry) in [
            (1, Entry::OneByOne),
            (3, Entry::OneByOne),
            (2, Entry::Batched),
        ] {
            let b = Arc::new(Helpers {
                helpers,
                runs: AtomicUsize::new(0),
                by_helpers: AtomicUsize::new(0),
            });
            let opts = WriteOptions {
                // Ignored when a backend is set.
                threads: 7,
                backend: Some(Backend(b.clone())),
                ..WriteOptions::new(compression)
            };
            let out = tmp.path().join(format!("{name}-backend-{helpers}.wim"));
            write_with(&out, &files, opts, entry);
            assert!(
                b.runs.load(Ordering::Relaxed) > 0,
                "{name}: backend not used"
            );
            assert!(
                b.by_helpers.load(Ordering::Relaxed) > 0,
                "{name}: helpers compressed nothing"
            );
            assert!(
                std::fs::read(&out).unwrap() == one_bytes,
                "{name}: backend with {helpers} helpers differs from threads=1"
            );
        }
    }
}
