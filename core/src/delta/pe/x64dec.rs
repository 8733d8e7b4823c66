// TEMPORARY signature copy of the lead's x64dec API (branch x64dec); deleted before the merge.
#![allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelKind {
    Call,
    Jump,
    CondJump,
    Memory,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub len: usize,
    pub rel32: Option<(usize, RelKind)>,
}
pub(crate) fn decode(_code: &[u8]) -> Option<Insn> {
    None
}
