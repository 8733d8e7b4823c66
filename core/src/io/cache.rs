//! A small block cache in front of a slow reader (a browser `File`, a decompressing WIM stream).
//!
//! Parsers read headers and directory records in many tiny pieces; the cache turns them into a few
//! block reads. Memory is bounded: `blocks × block_size`.

use crate::io::{check_range, ReadAt};
use crate::Result;
use std::sync::Mutex;

/// Caches up to `capacity` aligned blocks of `block_size` bytes, evicting the least recently used.
pub struct CachedReader<R> {
    inner: R,
    block_size: u64,
    capacity: usize,
    state: Mutex<CacheState>,
}

struct CacheState {
    tick: u64,
    blocks: Vec<(u64, u64, Vec<u8>)>, // (block index, last use, data)
}

impl<R: ReadAt> CachedReader<R> {
    /// Cache `inner` with `capacity` blocks of `block_size` bytes (both at least 1).
    pub fn new(inner: R, block_size: u64, capacity: usize) -> Self {
        CachedReader {
            inner,
            block_size: block_size.max(512),
            capacity: capacity.max(1),
            state: Mutex::new(CacheState {
                tick: 0,
                blocks: Vec::new(),
            }),
        }
    }

    fn with_block<T>(&self, index: u64, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.tick += 1;
        let tick = st.tick;
        if let Some(entry) = st.blocks.iter_mut().find(|b| b.0 == index) {
            entry.1 = tick;
            return Ok(f(&entry.2));
        }
        let start = index * self.block_size;
        let len = self.block_size.min(self.inner.size() - start);
        let mut data = vec![0u8; len as usize];
        self.inner.read_at(start, &mut data)?;
        let out = f(&data);
        if st.blocks.len() >= self.capacity {
            if let Some(pos) = st
                .blocks
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.1)
                .map(|(i, _)| i)
            {
                st.blocks.swap_remove(pos);
            }
        }
        st.blocks.push((index, tick, data));
        Ok(out)
    }
}

impl<R: ReadAt> ReadAt for CachedReader<R> {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("cached read", offset, buf.len() as u64, self.size())?;
        // Large reads bypass the cache so one big copy does not flush every small block.
        if buf.len() as u64 >= self.block_size * 2 {
            return self.inner.read_at(offset, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let index = pos / self.block_size;
            let within = (pos % self.block_size) as usize;
            let n = self.with_block(index, |block| {
                let n = (block.len() - within).min(buf.len() - done);
                buf[done..done + n].copy_from_slice(&block[within..within + n]);
                n
            })?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SliceSource;

    #[test]
    fn cache_matches_source() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let s = SliceSource::new(data.clone());
        let c = CachedReader::new(&s, 512, 3);
        for (off, len) in [
            (0u64, 10usize),
            (500, 30),
            (511, 2),
            (9990, 10),
            (1000, 2000),
            (3, 1),
        ] {
            let mut b = vec![0u8; len];
            c.read_at(off, &mut b).unwrap();
            assert_eq!(&b[..], &data[off as usize..off as usize + len]);
        }
        let mut b = [0u8; 2];
        assert!(c.read_at(9999, &mut b).is_err());
    }
}
