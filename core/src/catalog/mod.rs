//! The Dynamic Update catalog and the applicability engine.
//!
//! * [`model`]: the data types of `core/data/catalog.json` (one entry per KB);
//! * [`load`]: the embedded catalog, [`Catalog::from_json`] for a newer file, and its checks;
//! * [`applicability`]: [`evaluate`] gives a verdict per (image, update) with reasons;
//! * [`plan`]: Microsoft's procedure order for the recommended packages;
//! * [`partition`]: whether a serviced WinRE fits the recovery partition.
//!
//! The catalog is researched data (see `docs/catalog.md`): anything that could not be sourced is
//! `null` and shown as unknown, never guessed.

pub mod applicability;
pub mod load;
pub mod model;
pub mod partition;
pub mod plan;

pub use applicability::{
    cbs_family, evaluate, Evaluation, Finding, ImageFacts, ImageRole, Recommendation, Verdict,
};
pub use model::{Catalog, Confidence, ProductSide, Target, Update, UpdateFile, UpdateKind};
pub use partition::{partition_fit, Fit, FitVerdict};
pub use plan::ProcedureStep;
