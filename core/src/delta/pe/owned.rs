//! Which bytes of the reference a transform has claimed. The table transforms (imports,
//! exports, resources, relocations) claim every field they rewrite and MarkNonExe claims every
//! byte outside executable sections; the x86 instruction transforms then leave any candidate
//! alone whose bytes or branch target are claimed, so an operand is never rewritten twice
//! (jlevere/msdelta's description of the native per-file-offset marker).

/// One flag per byte of the reference image.
pub(crate) struct Owned(Vec<bool>);

impl Owned {
    pub(crate) fn new(len: usize) -> Owned {
        Owned(vec![false; len])
    }

    /// Claim `len` bytes at `at` (clipped to the image).
    pub(crate) fn claim(&mut self, at: usize, len: usize) {
        let end = at.saturating_add(len).min(self.0.len());
        if at < end {
            self.0[at..end].fill(true);
        }
    }

    /// Release `len` bytes at `at` (clipped to the image).
    pub(crate) fn release(&mut self, at: usize, len: usize) {
        let end = at.saturating_add(len).min(self.0.len());
        if at < end {
            self.0[at..end].fill(false);
        }
    }

    /// Whether byte `at` is claimed; bytes past the image are not.
    pub(crate) fn is(&self, at: usize) -> bool {
        self.0.get(at).copied().unwrap_or(false)
    }

    /// Whether any of `len` bytes at `at` is claimed.
    pub(crate) fn any(&self, at: usize, len: usize) -> bool {
        (at..at.saturating_add(len)).any(|i| self.is(i))
    }
}
