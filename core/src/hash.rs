//! SHA-1 (WIM blob identity) and SHA-256 (CBS manifest digests, output cards), fed in bounded pieces.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::io::{Progress, ReadAt};
use crate::{Error, Result};

/// Hashers are fed at most this many bytes per call: in wasm a single huge update runs in V8's
/// baseline tier (no on-stack replacement), so 1 MiB pieces keep cold runs fast.
pub const FEED_PIECE: usize = 1 << 20;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parse hex (either case) into bytes; `None` if not valid hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    for piece in data.chunks(FEED_PIECE) {
        h.update(piece);
    }
    h.finalize().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for piece in data.chunks(FEED_PIECE) {
        h.update(piece);
    }
    h.finalize().into()
}

/// SHA-1 and SHA-256 computed together in one pass.
#[derive(Default, Clone)]
pub struct MultiHasher {
    sha1: Sha1,
    sha256: Sha256,
    len: u64,
}

/// Digests of one stream, as bytes (hex in JSON and when printed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    /// Bytes hashed.
    pub size: u64,
    /// SHA-1.
    #[serde(with = "hex_serde")]
    pub sha1: [u8; 20],
    /// SHA-256.
    #[serde(with = "hex_serde")]
    pub sha256: [u8; 32],
}

/// Serde for fixed-size digests as lower-case hex strings (`#[serde(with = "hex_serde")]`).
pub mod hex_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write `bytes` as hex.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(bytes))
    }

    /// Read `N` bytes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        super::unhex(&s)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| D::Error::custom(format!("expected {N} bytes of hex, got {s:?}")))
    }
}

impl MultiHasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        for piece in data.chunks(FEED_PIECE) {
            self.sha1.update(piece);
            self.sha256.update(piece);
        }
        self.len += data.len() as u64;
    }
    /// Finish and return the digests.
    pub fn finish(self) -> Digests {
        Digests {
            size: self.len,
            sha1: self.sha1.finalize().into(),
            sha256: self.sha256.finalize().into(),
        }
    }
}

/// Read a whole reader in `slice`-byte reads, handing each to `feed`, reporting progress ("hash")
/// and honouring cancellation; the reader's size.
fn read_slices(
    src: &dyn ReadAt,
    slice: usize,
    progress: &dyn Progress,
    feed: &mut dyn FnMut(&[u8]),
) -> Result<u64> {
    let total = src.size();
    let slice = slice.clamp(4096, 64 << 20) as u64;
    let mut buf = vec![0u8; slice.min(total) as usize];
    let mut off = 0u64;
    while off < total {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let n = slice.min(total - off) as usize;
        src.read_at(off, &mut buf[..n])?;
        feed(&buf[..n]);
        off += n as u64;
        progress.update("hash", off, total);
    }
    Ok(total)
}

/// Hash a whole reader in `slice`-byte reads, reporting progress and honouring cancellation.
pub fn hash_reader(src: &dyn ReadAt, slice: usize, progress: &dyn Progress) -> Result<Digests> {
    let mut h = MultiHasher::new();
    read_slices(src, slice, progress, &mut |b| h.update(b))?;
    Ok(h.finish())
}

/// SHA-256 of a whole reader, and its SHA-1 only when asked for (a patch's output needs the SHA-1
/// only where it becomes a WIM blob: hashing 450 MB for nothing costs seconds in wasm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigests {
    /// Bytes hashed.
    pub size: u64,
    /// SHA-256.
    pub sha256: [u8; 32],
    /// SHA-1, when requested.
    pub sha1: Option<[u8; 20]>,
}

/// [`hash_reader`] with the SHA-1 optional.
pub fn digest_reader(
    src: &dyn ReadAt,
    slice: usize,
    with_sha1: bool,
    progress: &dyn Progress,
) -> Result<FileDigests> {
    if with_sha1 {
        let d = hash_reader(src, slice, progress)?;
        return Ok(FileDigests {
            size: d.size,
            sha256: d.sha256,
            sha1: Some(d.sha1),
        });
    }
    let mut h = Sha256::new();
    let total = read_slices(src, slice, progress, &mut |b| {
        for piece in b.chunks(FEED_PIECE) {
            h.update(piece);
        }
    })?;
    Ok(FileDigests {
        size: total,
        sha256: h.finalize().into(),
        sha1: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{NoProgress, SliceSource};

    #[test]
    fn known_digests() {
        let d = hash_reader(&SliceSource::new(b"abc".to_vec()), 4096, &NoProgress).unwrap();
        assert_eq!(hex(&d.sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&d.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(unhex("0aFf"), Some(vec![10, 255]));
        let src = SliceSource::new(b"abc".to_vec());
        let only = digest_reader(&src, 4096, false, &NoProgress).unwrap();
        assert_eq!((only.size, only.sha256, only.sha1), (3, d.sha256, None));
        let both = digest_reader(&src, 4096, true, &NoProgress).unwrap();
        assert_eq!(both.sha1, Some(d.sha1));
        assert_eq!(unhex("0g"), None);
    }
}
