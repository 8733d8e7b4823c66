//! Compressing many independent chunks at once.
//!
//! WIM chunks share nothing (each is compressed from scratch), so a run of chunks can be split
//! among threads — or, in the browser, among workers — and the results put back in order. The
//! output of each chunk depends only on its input, never on which encoder or thread handled it,
//! so the bytes are the same whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Compression, Effort, Encoder};

/// One compressed chunk, as produced by [`ChunkCompressor::compress`].
#[derive(Debug, Default, Clone)]
pub struct ChunkOut {
    /// The compressed bytes; meaningful only when `compressed` is true.
    pub data: Vec<u8>,
    /// True when `data` is strictly smaller than the input chunk; false means store the chunk raw.
    pub compressed: bool,
}

impl ChunkOut {
    /// The bytes to write for this chunk: the compressed form, or `input` itself when stored raw.
    pub fn bytes<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        if self.compressed {
            &self.data
        } else {
            input
        }
    }
}

/// Upper bound on compression threads: each holds an encoder and a share of the batch in memory.
pub const MAX_THREADS: usize = 64;

/// The thread count to use when the caller does not choose one: every core natively, one on
/// wasm32 (threads there need a worker-based runtime; the browser farms chunks to workers itself).
pub fn default_threads() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Somewhere besides the calling thread that compresses chunks: in the browser, a pool of
/// compression workers sharing memory with the worker that runs the job (wasm32 has no threads).
///
/// A [`ChunkCompressor`] built with a backend hands it every run of chunks. The backend must leave
/// in `outs[k]` exactly what an [`Encoder`] of `kind` at `effort` makes of `chunks[k]` (so the
/// output bytes never depend on who compressed what), and give any chunk it cannot do to `local`,
/// which compresses it on the calling thread with the compressor's own encoder; the calling
/// thread should take chunks itself while its helpers work. Before the call every `outs[k]` is
/// reset to "stored raw", so a chunk a faulty backend leaves untouched is written uncompressed
/// (still a valid WIM), never with another chunk's bytes.
pub trait ChunkBackend: Send + Sync {
    /// Compressors working besides the calling thread right now; 0 means none is available
    /// (the compressor then works alone, as without a backend).
    fn helpers(&self) -> usize;

    /// Compress every chunk of `chunks` into the matching entry of `outs` (same length). See
    /// the trait docs for the contract.
    fn compress(
        &self,
        kind: Compression,
        effort: Effort,
        chunks: &[&[u8]],
        outs: &mut [ChunkOut],
        local: &mut dyn FnMut(&[u8], &mut ChunkOut),
    );
}

/// A shared [`ChunkBackend`], as [`crate::wim::write::WriteOptions`] carries it. Two handles
/// are equal when they point at the same backend.
#[derive(Clone)]
pub struct Backend(pub Arc<dyn ChunkBackend>);

impl Backend {
    /// Wrap a backend.
    pub fn new(backend: impl ChunkBackend + 'static) -> Self {
        Backend(Arc::new(backend))
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({} helpers)", self.0.helpers())
    }
}

impl PartialEq for Backend {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Backend {}

/// Compresses runs of independent chunks with up to `threads` threads, one [`Encoder`] each
/// (kept between calls so their tables are allocated once), or with one encoder on the calling
/// thread plus a [`ChunkBackend`]'s helpers.
pub struct ChunkCompressor {
    encoders: Vec<Encoder>,
    kind: Compression,
    effort: Effort,
    backend: Option<Backend>,
}

impl ChunkCompressor {
    /// A compressor for `kind` using up to `threads` threads (clamped to 1..=[`MAX_THREADS`];
    /// always 1 on wasm32, where `std::thread::spawn` is unavailable).
    pub fn new(kind: Compression, threads: usize) -> Self {
        Self::with_effort(kind, threads, Effort::Best)
    }

    /// [`ChunkCompressor::new`] with the encoders working at `effort`.
    pub fn with_effort(kind: Compression, threads: usize, effort: Effort) -> Self {
        let threads = if cfg!(target_arch = "wasm32") {
            1
        } else {
            threads.clamp(1, MAX_THREADS)
        };
        ChunkCompressor {
            encoders: (0..threads)
                .map(|_| Encoder::with_effort(kind, effort))
                .collect(),
            kind,
            effort,
            backend: None,
        }
    }

    /// A compressor for `kind` at `effort` that compresses on the calling thread together with
    /// `backend`'s helpers (see [`ChunkBackend`]); alone, like one thread, while it has none.
    pub fn with_backend(kind: Compression, effort: Effort, backend: Backend) -> Self {
        ChunkCompressor {
            backend: Some(backend),
            ..Self::with_effort(kind, 1, effort)
        }
    }

    /// The number of compressors at work: threads, or the calling thread plus the backend's
    /// helpers (batch sizes follow it).
    pub fn threads(&self) -> usize {
        match &self.backend {
            Some(b) => 1 + b.0.helpers(),
            None => self.encoders.len(),
        }
    }

    /// Compress every chunk of `chunks` into the matching entry of `outs` (resized to
    /// `chunks.len()`, buffers reused). Threads take the next unclaimed chunk until none is left,
    /// so one descheduled thread does not hold up the others; with one thread or one chunk
    /// nothing is spawned.
    pub fn compress(&mut self, chunks: &[&[u8]], outs: &mut Vec<ChunkOut>) {
        outs.resize_with(chunks.len(), ChunkOut::default);
        let has_encoder = matches!(self.kind, Compression::Lzx | Compression::Xpress);
        if let (Some(b), true) = (&self.backend, has_encoder && chunks.len() > 1) {
            if b.0.helpers() > 0 {
                for o in outs.iter_mut() {
                    o.data.clear();
                    o.compressed = false;
                }
                if let Some(enc) = self.encoders.first_mut() {
                    let mut local =
                        |input: &[u8], out: &mut ChunkOut| compress_one(enc, input, out);
                    b.0.compress(self.kind, self.effort, chunks, outs, &mut local);
                }
                // What the writer relies on: a chunk counts as compressed only when smaller.
                for (input, o) in chunks.iter().zip(outs.iter_mut()) {
                    o.compressed &= o.data.len() < input.len();
                }
                return;
            }
        }
        let threads = self.encoders.len().min(chunks.len());
        if threads <= 1 {
            if let Some(enc) = self.encoders.first_mut() {
                for (input, out) in chunks.iter().zip(outs.iter_mut()) {
                    compress_one(enc, input, out);
                }
            }
            return;
        }
        // Each slot is locked by exactly one thread (the one that claimed its index), so the
        // locks never contend; they only hand out the disjoint `&mut`s safely.
        let slots: Vec<Mutex<&mut ChunkOut>> = outs.iter_mut().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        let work = |enc: &mut Encoder| loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let (Some(input), Some(slot)) = (chunks.get(k), slots.get(k)) else {
                break;
            };
            let mut out = slot.lock().unwrap_or_else(|e| e.into_inner());
            compress_one(enc, input, &mut out);
        };
        std::thread::scope(|s| {
            let (first, rest) = self.encoders[..threads].split_at_mut(1);
            for enc in rest {
                s.spawn(|| work(enc));
            }
            // The calling thread works too instead of idling.
            work(&mut first[0]);
        });
    }
}

fn compress_one(enc: &mut Encoder, input: &[u8], out: &mut ChunkOut) {
    out.compressed = enc.compress(input, &mut out.data) && out.data.len() < input.len();
}

/// Compress independent chunks of one compression type with up to `threads` threads; one
/// [`ChunkOut`] per chunk, in order. For repeated calls keep a [`ChunkCompressor`] instead.
pub fn compress_chunks(kind: Compression, chunks: &[&[u8]], threads: usize) -> Vec<ChunkOut> {
    let mut outs = Vec::new();
    ChunkCompressor::new(kind, threads).compress(chunks, &mut outs);
    outs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // Mostly repetitive text with some noise, so chunks do compress.
                if x % 7 == 0 {
                    x as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    #[test]
    fn same_output_for_every_thread_count() {
        let data: Vec<Vec<u8>> = (0..7).map(|k| sample(32768 - k * 1000, k as u32)).collect();
        let mut chunks: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        let raw = [0u8; 0];
        chunks.push(&raw);
        for kind in [Compression::Lzx, Compression::Xpress, Compression::None] {
            let one = compress_chunks(kind, &chunks, 1);
            for t in [2, 3, 8] {
                let many = compress_chunks(kind, &chunks, t);
                assert_eq!(one.len(), many.len());
                for (k, (a, b)) in one.iter().zip(&many).enumerate() {
                    assert_eq!(
                        a.bytes(chunks[k]),
                        b.bytes(chunks[k]),
                        "{kind:?} t={t} k={k}"
                    );
                }
            }
            if kind != Compression::None {
                assert!(one[0].compressed, "{kind:?} compresses repetitive data");
            }
        }
    }

    /// A backend whose helpers are scoped threads with their own encoders; the calling thread
    /// takes every `stride`-th chunk through `local`. `calls` counts the runs it was given.
    struct ThreadHelpers {
        helpers: usize,
        stride: usize,
        calls: AtomicUsize,
    }

    impl ChunkBackend for ThreadHelpers {
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
            self.calls.fetch_add(1, Ordering::Relaxed);
            let (mine, theirs): (Vec<_>, Vec<_>) = chunks
                .iter()
                .zip(outs.iter_mut())
                .enumerate()
                .partition(|(k, _)| k % self.stride == 0);
            let theirs = Mutex::new(theirs);
            std::thread::scope(|s| {
                for _ in 0..self.helpers {
                    s.spawn(|| {
                        let mut enc = Encoder::with_effort(kind, effort);
                        while let Some((_, (input, out))) =
                            theirs.lock().unwrap_or_else(|e| e.into_inner()).pop()
                        {
                            compress_one(&mut enc, input, out);
                        }
                    });
                }
                for (_, (input, out)) in mine {
                    local(input, out);
                }
            });
        }
    }

    fn helpers(helpers: usize, stride: usize) -> Arc<ThreadHelpers> {
        Arc::new(ThreadHelpers {
            helpers,
            stride,
            calls: AtomicUsize::new(0),
        })
    }

    #[test]
    fn a_backend_gives_the_same_bytes_as_one_thread() {
        let data: Vec<Vec<u8>> = (0..9).map(|k| sample(32768 - k * 777, k as u32)).collect();
        let chunks: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        for kind in [Compression::Lzx, Compression::Xpress] {
            for effort in [Effort::Best, Effort::Fast] {
                let mut outs = Vec::new();
                ChunkCompressor::with_effort(kind, 1, effort).compress(&chunks, &mut outs);
                for (h, stride) in [(1, 2), (3, 4), (2, 100)] {
                    let b = helpers(h, stride);
                    let mut c = ChunkCompressor::with_backend(kind, effort, Backend(b.clone()));
                    assert_eq!(c.threads(), 1 + h);
                    let mut got = Vec::new();
                    c.compress(&chunks, &mut got);
                    assert_eq!(b.calls.load(Ordering::Relaxed), 1, "backend used");
                    for (k, (a, g)) in outs.iter().zip(&got).enumerate() {
                        assert!(g.compressed, "{kind:?} {effort:?} chunk {k} compressed");
                        assert_eq!(
                            a.bytes(chunks[k]),
                            g.bytes(chunks[k]),
                            "{kind:?} h={h} k={k}"
                        );
                    }
                }
            }
        }
    }

    /// Does nothing, or claims chunks compressed with bytes that are not smaller.
    struct Faulty {
        lie: bool,
    }

    impl ChunkBackend for Faulty {
        fn helpers(&self) -> usize {
            1
        }
        fn compress(
            &self,
            _: Compression,
            _: Effort,
            chunks: &[&[u8]],
            outs: &mut [ChunkOut],
            _: &mut dyn FnMut(&[u8], &mut ChunkOut),
        ) {
            if self.lie {
                for (input, out) in chunks.iter().zip(outs) {
                    out.data = input.to_vec();
                    out.compressed = true;
                }
            }
        }
    }

    #[test]
    fn a_faulty_backend_leaves_chunks_raw_never_stale() {
        let data: Vec<Vec<u8>> = (0..3).map(|k| sample(32768, k)).collect();
        let chunks: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        for lie in [false, true] {
            // Buffers from an earlier run hold compressed bytes of other chunks.
            let mut outs = compress_chunks(Compression::Lzx, &chunks[1..], 1);
            outs.reverse();
            assert!(outs.iter().all(|o| o.compressed));
            let mut c = ChunkCompressor::with_backend(
                Compression::Lzx,
                Effort::Best,
                Backend::new(Faulty { lie }),
            );
            c.compress(&chunks, &mut outs);
            assert_eq!(outs.len(), 3);
            for (k, o) in outs.iter().enumerate() {
                assert!(!o.compressed, "lie={lie} chunk {k} must be stored raw");
                assert_eq!(o.bytes(chunks[k]), chunks[k]);
            }
        }
    }

    #[test]
    fn a_backend_without_helpers_is_not_asked() {
        let b = helpers(0, 1);
        let mut c =
            ChunkCompressor::with_backend(Compression::Xpress, Effort::Best, Backend(b.clone()));
        assert_eq!(c.threads(), 1);
        let data = sample(20000, 3);
        let mut outs = Vec::new();
        c.compress(&[&data, &data], &mut outs);
        assert_eq!(b.calls.load(Ordering::Relaxed), 0);
        assert!(outs.iter().all(|o| o.compressed));
        let a = Backend(b);
        assert_eq!(a.clone(), a);
        assert_ne!(a, Backend(helpers(0, 1)));
    }

    #[test]
    fn zero_threads_and_no_chunks() {
        assert_eq!(
            ChunkCompressor::new(Compression::Lzx, usize::MAX).threads(),
            MAX_THREADS
        );
        let mut c = ChunkCompressor::new(Compression::Lzx, 0);
        assert_eq!(c.threads(), 1);
        let mut outs = vec![ChunkOut::default(); 3];
        c.compress(&[], &mut outs);
        assert!(outs.is_empty());
    }
}
