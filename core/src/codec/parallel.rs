//! Compressing many independent chunks at once.
//!
//! WIM chunks share nothing (each is compressed from scratch), so a run of chunks can be split
//! among threads — or, in the browser, among workers — and the results put back in order. The
//! output of each chunk depends only on its input, never on which encoder or thread handled it,
//! so the bytes are the same whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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

/// Compresses runs of independent chunks with up to `threads` threads, one [`Encoder`] each
/// (kept between calls so their tables are allocated once).
pub struct ChunkCompressor {
    encoders: Vec<Encoder>,
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
        }
    }

    /// The number of threads (and encoders) used.
    pub fn threads(&self) -> usize {
        self.encoders.len()
    }

    /// Compress every chunk of `chunks` into the matching entry of `outs` (resized to
    /// `chunks.len()`, buffers reused). Threads take the next unclaimed chunk until none is left,
    /// so one descheduled thread does not hold up the others; with one thread or one chunk
    /// nothing is spawned.
    pub fn compress(&mut self, chunks: &[&[u8]], outs: &mut Vec<ChunkOut>) {
        outs.resize_with(chunks.len(), ChunkOut::default);
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
