//! Which bytes of the reference a transform has claimed. The table transforms (imports,
//! exports, resources, relocations) claim every field they rewrite and MarkNonExe claims every
//! byte outside executable sections; the x86 instruction transforms then leave any candidate
//! alone whose bytes or branch target are claimed, so an operand is never rewritten twice
//! (jlevere/msdelta's description of the native per-file-offset marker).

/// One bit per byte of the reference image (an eighth of its size in memory).
pub(crate) struct Owned {
    bits: Vec<u64>,
    len: usize,
}

impl Owned {
    pub(crate) fn new(len: usize) -> Owned {
        Owned {
            bits: vec![0; len.div_ceil(64)],
            len,
        }
    }

    fn set(&mut self, at: usize, len: usize, on: bool) {
        let end = at.saturating_add(len).min(self.len);
        for i in at..end {
            let (w, b) = (i / 64, 1u64 << (i % 64));
            if on {
                self.bits[w] |= b;
            } else {
                self.bits[w] &= !b;
            }
        }
    }

    /// Claim `len` bytes at `at` (clipped to the image).
    pub(crate) fn claim(&mut self, at: usize, len: usize) {
        self.set(at, len, true);
    }

    /// Release `len` bytes at `at` (clipped to the image).
    pub(crate) fn release(&mut self, at: usize, len: usize) {
        self.set(at, len, false);
    }

    /// Whether byte `at` is claimed; bytes past the image are not.
    pub(crate) fn is(&self, at: usize) -> bool {
        at < self.len && self.bits[at / 64] & (1 << (at % 64)) != 0
    }

    /// Whether any of `len` bytes at `at` is claimed.
    pub(crate) fn any(&self, at: usize, len: usize) -> bool {
        (at..at.saturating_add(len)).any(|i| self.is(i))
    }
}
