//! Readings of the PE transforms whose exact rules are not public (decision 36): the x64
//! RIP-relative transform (0x200, [`RipVariant`]), the I386 lock-prefix transform (0x40,
//! [`LockVariant`]), the rule for a resource data entry's `OffsetToData` (0x10,
//! [`ResourceVariant`]) and what the AMD64 `.pdata` transform moves in the unwind information
//! (0x400, [`PdataVariant`]). A delta is decoded with the default reading first; the other readings
//! are tried only along the dimensions that change a byte of this reference, and only when the
//! target hash rejected the earlier ones. The first output the hash confirms is kept.

use super::x64::RipVariant;

/// What the I386 lock-prefix transform (flag 0x40, `DELTA_FLAG_I386_SMASHLOCK`, "smash lock
/// prefixes of source PE" in `msdelta.h`) does at each address the load configuration's
/// `LockPrefixTable` lists. Only the flag's name is public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockVariant {
    /// Nothing: the bytes stay as they are (what both genuine I386 vectors need; their
    /// `LockPrefixTable` is absent or empty).
    Keep,
    /// A `LOCK` prefix (`F0`) listed in the table becomes `NOP` (`90`), as a single-processor
    /// loader would patch it (PE/COFF specification, load configuration `LockPrefixTable`).
    Smash,
    /// A listed byte that is `NOP` (`90`) becomes `LOCK` (`F0`) again: a source patched on disk
    /// is brought back to the linker's bytes.
    Restore,
}

impl LockVariant {
    /// The order the variants are tried in.
    pub const ORDER: [LockVariant; 3] =
        [LockVariant::Keep, LockVariant::Smash, LockVariant::Restore];

    /// "keep", "smash" or "restore".
    pub fn name(self) -> &'static str {
        match self {
            LockVariant::Keep => "keep",
            LockVariant::Smash => "smash",
            LockVariant::Restore => "restore",
        }
    }

    /// What the variant does, in words.
    pub fn describe(self) -> &'static str {
        match self {
            LockVariant::Keep => "listed lock prefixes left as they are",
            LockVariant::Smash => "listed LOCK prefixes (F0) replaced by NOP (90)",
            LockVariant::Restore => "listed NOPs (90) turned back into LOCK prefixes (F0)",
        }
    }
}

/// How the resource transform (flag 0x10) moves a data entry's `OffsetToData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceVariant {
    /// As jlevere/msdelta describes the native code: relative to the resource tree's start `b`,
    /// like the tree's other offsets: `M(b + off) − M(b)`.
    TreeRelative,
    /// As the PE/COFF specification defines the field, an RVA: `M(off)`.
    Rva,
}

impl ResourceVariant {
    /// The order the variants are tried in.
    pub const ORDER: [ResourceVariant; 2] = [ResourceVariant::TreeRelative, ResourceVariant::Rva];

    /// "tree-relative" or "RVA".
    pub fn name(self) -> &'static str {
        match self {
            ResourceVariant::TreeRelative => "tree-relative",
            ResourceVariant::Rva => "RVA",
        }
    }
}

/// Which RVAs in the unwind information (`.xdata`) the AMD64 `.pdata` transform (flag 0x400)
/// moves besides the `RUNTIME_FUNCTION` records themselves. jlevere/msdelta describes the
/// native transform as also mapping "the first flagged unwind-info handler slot": the first
/// 4-byte RVA after the unwind-code array of an `UNWIND_INFO` outside `.pdata` whose flags are
/// not zero; its feature list still names "xdata handler slot and chained unwind" as open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdataVariant {
    /// As described: the first slot after the codes (the handler's RVA, or a chained
    /// `RUNTIME_FUNCTION`'s `BeginAddress`).
    FirstSlot,
    /// The records only.
    Entries,
    /// The handler's RVA, or all three RVAs of a chained `RUNTIME_FUNCTION`.
    Chained,
}

impl PdataVariant {
    /// The order the variants are tried in.
    pub const ORDER: [PdataVariant; 3] = [
        PdataVariant::FirstSlot,
        PdataVariant::Entries,
        PdataVariant::Chained,
    ];

    /// "first slot", "records only" or "chained".
    pub fn name(self) -> &'static str {
        match self {
            PdataVariant::FirstSlot => "first slot",
            PdataVariant::Entries => "records only",
            PdataVariant::Chained => "chained",
        }
    }
}

/// One reading of every hash-judged PE transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeReading {
    /// The x64 RIP-relative transform's reading.
    pub rip: RipVariant,
    /// The I386 lock-prefix transform's reading.
    pub lock: LockVariant,
    /// The resource data entries' rule.
    pub resources: ResourceVariant,
    /// What the `.pdata` transform moves in the unwind information.
    pub pdata: PdataVariant,
}

impl Default for PeReading {
    fn default() -> Self {
        PeReading {
            rip: RipVariant::V1,
            lock: LockVariant::Keep,
            resources: ResourceVariant::TreeRelative,
            pdata: PdataVariant::FirstSlot,
        }
    }
}

impl From<RipVariant> for PeReading {
    fn from(rip: RipVariant) -> Self {
        PeReading {
            rip,
            ..PeReading::default()
        }
    }
}

/// Which reading dimensions change a byte of a given reference (the others need no retry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Varied {
    pub rip: bool,
    pub lock: bool,
    pub resources: bool,
    pub pdata: bool,
}

impl PeReading {
    /// Every reading worth a decode on a reference whose dimensions `v` vary, default first:
    /// the resource rule outermost (jlevere's description is the better source), then the
    /// unwind-information variants, the lock-prefix ones, then the RIP-relative ones. At most
    /// 2 × 3 × 3 × 3 readings (lock prefixes are I386 only, the others AMD64 only: 18 at most
    /// for one delta).
    pub(crate) fn candidates(v: Varied) -> Vec<PeReading> {
        let d = PeReading::default();
        let rsrc: &[ResourceVariant] = if v.resources {
            &ResourceVariant::ORDER
        } else {
            &[d.resources]
        };
        let lock: &[LockVariant] = if v.lock {
            &LockVariant::ORDER
        } else {
            &[d.lock]
        };
        let rip: &[RipVariant] = if v.rip { &RipVariant::ORDER } else { &[d.rip] };
        let pdata: &[PdataVariant] = if v.pdata {
            &PdataVariant::ORDER
        } else {
            &[d.pdata]
        };
        let mut out = Vec::new();
        for &resources in rsrc {
            for &pdata in pdata {
                for &lock in lock {
                    for &rip in rip {
                        out.push(PeReading {
                            rip,
                            lock,
                            resources,
                            pdata,
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_vary_only_what_changes_bytes_default_first() {
        let none = PeReading::candidates(Varied::default());
        assert_eq!(none, vec![PeReading::default()]);
        let all = PeReading::candidates(Varied {
            rip: true,
            lock: true,
            resources: true,
            pdata: true,
        });
        assert_eq!(all.len(), 54);
        assert_eq!(all[0], PeReading::default());
        let mut seen = all.clone();
        seen.sort_by_key(|r| format!("{r:?}"));
        seen.dedup();
        assert_eq!(seen.len(), 54);
        let lock_only = PeReading::candidates(Varied {
            lock: true,
            ..Varied::default()
        });
        let locks: Vec<_> = lock_only.iter().map(|r| r.lock).collect();
        assert_eq!(locks, LockVariant::ORDER);
        assert!(lock_only.iter().all(|r| r.rip == RipVariant::V1));
    }
}
