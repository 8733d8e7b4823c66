//! Does a serviced WinRE fit the recovery partition?
//!
//! Microsoft's WinRE updates of January 2024 (KB5034441 and siblings) failed with 0x80070643 on
//! devices whose recovery partition lacked 250 MB of free space, and KB5028997 tells users to grow the
//! partition by hand. Patching winre.wim offline avoids that step only if the new image still leaves
//! that headroom, so the tool checks before the user copies it onto a device.

use serde::{Deserialize, Serialize};

/// Free space Microsoft asks for in the recovery partition so later WinRE servicing can succeed.
pub const FREE_SPACE_GUIDANCE: u64 = 250 * 1024 * 1024;

/// How the new WinRE relates to the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Fits and leaves at least [`FREE_SPACE_GUIDANCE`] free.
    Fits,
    /// Fits, but leaves less than 250 MB free: future WinRE updates on the device may fail.
    FitsBelowGuidance,
    /// Does not fit at all.
    DoesNotFit,
    /// The numbers contradict each other (more free space than the partition holds).
    InvalidInput,
}

/// The verdict with the numbers and an explanation in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitVerdict {
    /// The category.
    pub fit: Fit,
    /// Bytes that stay free after the new winre.wim is in place (0 when it does not fit).
    pub free_after: u64,
    /// Bytes missing to reach the 250 MB guidance (0 when met).
    pub shortfall_to_guidance: u64,
    /// What this means and what to do.
    pub explanation: String,
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Check a serviced WinRE against the recovery partition.
///
/// * `winre_size`: size in bytes of the new (serviced, exported) winre.wim;
/// * `partition_size`: size of the recovery partition;
/// * `free`: bytes free in the partition **not counting the Winre.wim being replaced** (free space
///   reported by the OS plus the size of the current Winre.wim).
pub fn partition_fit(winre_size: u64, partition_size: u64, free: u64) -> FitVerdict {
    if free > partition_size {
        return FitVerdict {
            fit: Fit::InvalidInput,
            free_after: 0,
            shortfall_to_guidance: 0,
            explanation: format!(
                "The partition is {} but {} is said to be free; check the numbers (free space must \
                 not count more than the partition holds).",
                mib(partition_size),
                mib(free)
            ),
        };
    }
    let Some(free_after) = free.checked_sub(winre_size) else {
        let missing = winre_size.saturating_sub(free);
        return FitVerdict {
            fit: Fit::DoesNotFit,
            free_after: 0,
            shortfall_to_guidance: missing.saturating_add(FREE_SPACE_GUIDANCE),
            explanation: format!(
                "The new winre.wim ({}) is larger than the space available for it ({}); {} more is \
                 needed, plus 250 MB of headroom that Microsoft asks for (KB5028997 explains how to \
                 grow the recovery partition).",
                mib(winre_size),
                mib(free),
                mib(missing)
            ),
        };
    };
    if free_after >= FREE_SPACE_GUIDANCE {
        FitVerdict {
            fit: Fit::Fits,
            free_after,
            shortfall_to_guidance: 0,
            explanation: format!(
                "The new winre.wim ({}) fits and leaves {} free, more than the 250 MB Microsoft asks \
                 for so later WinRE updates can install.",
                mib(winre_size),
                mib(free_after)
            ),
        }
    } else {
        let short = FREE_SPACE_GUIDANCE - free_after;
        FitVerdict {
            fit: Fit::FitsBelowGuidance,
            free_after,
            shortfall_to_guidance: short,
            explanation: format!(
                "The new winre.wim ({}) fits but leaves only {} free. Microsoft's WinRE updates need \
                 250 MB free in the recovery partition (they failed with 0x80070643 otherwise); the \
                 partition needs {} more to meet that (see KB5028997).",
                mib(winre_size),
                mib(free_after),
                mib(short)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MB: u64 = 1024 * 1024;

    #[test]
    fn categories() {
        assert_eq!(partition_fit(500 * MB, 1024 * MB, 900 * MB).fit, Fit::Fits);
        let v = partition_fit(700 * MB, 1024 * MB, 800 * MB);
        assert_eq!(v.fit, Fit::FitsBelowGuidance);
        assert_eq!(v.free_after, 100 * MB);
        assert_eq!(v.shortfall_to_guidance, 150 * MB);
        assert_eq!(
            partition_fit(900 * MB, 1024 * MB, 800 * MB).fit,
            Fit::DoesNotFit
        );
        assert_eq!(partition_fit(1, 10, 11).fit, Fit::InvalidInput);
        // Exactly 250 MB left meets the guidance.
        assert_eq!(partition_fit(50 * MB, 1024 * MB, 300 * MB).fit, Fit::Fits);
        assert_eq!(partition_fit(u64::MAX, u64::MAX, 0).fit, Fit::DoesNotFit);
    }
}
