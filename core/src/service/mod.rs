//! Servicing: applying a package to an image tree and writing the new image.
//!
//! This is the file-level part of CBS (domain.md §3): each component's payloads go into
//! `Windows\WinSxS\<component folder>\`, its manifest into `Windows\WinSxS\Manifests\`, and every
//! `<file>` is projected to its expanded `destinationPath` as a hard link of the WinSxS copy. An
//! older version of the same component leaves WinSxS (as `/ResetBase` would leave it), and the
//! package's `update.mum`/`update.cat` become its record in `Windows\servicing\Packages`.
//!
//! The steps, each in its own module:
//! * [`select`]: which packages (or MSU inner packages) are serviced, in Microsoft's order (SSU
//!   before the Safe OS DU), and which are refused with a reason (DCM manifests, PSF/delta payloads,
//!   cumulative updates) — decided before anything is read or written;
//! * [`manifests`]: DCM manifests decoded with the base of the stack that services them (the
//!   image's, or an SSU's of the same run);
//! * [`rebuild`]: `f\`/`n\` delta payloads rebuilt on the image's RTM files, `r\` deltas made;
//! * [`plan`]: every payload hashed, its SHA-256 checked against the manifest (pass 1, nothing
//!   written yet), and its SHA-1 noted for the WIM;
//! * [`apply`]: the edits of an [`crate::wim::model::ImageTree`] and the [`ChangeLog`];
//! * [`records`]: the package records;
//! * [`winre`]: the patched WIM written through a [`crate::wim::write::WimWriter`] (unchanged blobs
//!   raw-copied, payloads streamed from the package a second time and checked again);
//! * [`handoff`]: the DISM script for what was refused;
//! * [`job`]: the whole patch job ([`run_patch`]) that the CLI and the browser worker both run:
//!   locate, select, plan, write through an [`crate::io::OutputStore`], verify, commit;
//!
//! No `std::fs` here: sources are [`crate::io::ReadAt`]s and the sink a [`crate::io::WriteAt`], so
//! the browser worker runs the same code.

pub mod apply;
pub mod handoff;
pub mod install;
pub mod job;
pub mod manifests;
pub mod media_out;
pub mod plan;
pub mod rebuild;
pub mod records;
pub mod select;
pub mod setup;
pub mod winre;

pub use apply::ChangeLog;
pub use job::{
    run_patch, winre_stages, PatchReport, PatchRequest, PatchTarget, StagedWinre, WinreGroupReport,
    Written,
};
pub use media_out::{
    plan_folder, run_patch_to_folder, FolderContent, FolderItem, FolderPlan, FolderSummary,
};
pub use plan::{prepare, prepare_in, Prepared};
pub use select::{select_packages, Selection};
pub use winre::{
    outcome, patch_wim, plan_patch, verify_output, verify_written, write_patch, ImagePatch,
    PatchOptions, PatchOutcome, PatchPlan,
};
