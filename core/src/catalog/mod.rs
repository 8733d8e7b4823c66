//! The Dynamic Update catalog and the applicability engine.
//!
//! * [`model`]: the data types of `core/data/catalog.json` (one entry per KB);
//! * [`load`]: the embedded catalog and [`Catalog::load`] for a newer file (bytes in, typed catalog
//!   or [`CatalogError`] out), checked against [`schema`] (`docs/schema/catalog.schema.json`);
//! * [`age`]: the catalog's date and source, its age against a caller-given "today" and whether its
//!   "already current" verdicts only hold as of its date ([`CatalogAge`]);
//! * [`stored`]: whether a catalog file kept between sessions (OPFS in the page) is still used;
//! * [`check`]: the maintenance checks `scripts/catalog-check` runs ([`check_catalog`]);
//! * [`applicability`]: [`evaluate`] gives a verdict per (image, update) with reasons;
//! * [`plan`]: Microsoft's procedure order for the recommended packages;
//! * [`partition`]: whether a serviced WinRE fits the recovery partition.
//!
//! The catalog is researched data (see `docs/catalog.md`): anything that could not be sourced is
//! `null` and shown as unknown, never guessed.

pub mod age;
pub mod applicability;
pub mod check;
pub mod load;
pub mod model;
pub mod partition;
pub mod plan;
pub mod schema;
pub mod stored;

pub use age::{CatalogAge, CatalogSource, Date};
pub use applicability::{
    cbs_family, evaluate, Evaluation, Finding, ImageFacts, ImageRole, Recommendation, Verdict,
};
pub use check::check_catalog;
pub use load::CatalogError;
pub use model::{Catalog, Confidence, ProductSide, Target, Update, UpdateFile, UpdateKind};
pub use partition::{partition_fit, Fit, FitVerdict};
pub use plan::ProcedureStep;
pub use schema::CatalogProblem;
pub use stored::{kept_catalog, should_keep, KeptCatalog, KeptCatalogInfo};
