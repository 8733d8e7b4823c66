//! Reports: JSON, HTML/Markdown and ZIP bundles of inspection, verdicts and verification.
//!
//! * [`export`]: the [`Report`] model, JSON and Markdown;
//! * [`html`]: a self-contained HTML page (inline CSS, no external loads, everything escaped);
//! * [`dism_script`]: the PowerShell/DISM hand-off script in Microsoft's documented order;
//! * [`bundle`]: the ZIP with all of the above and a `SHA256SUMS` for `sha256sum -c`.

pub mod bundle;
pub mod dism_script;
pub mod export;
pub mod html;

pub use dism_script::{dism_script, ScriptPaths};
pub use export::Report;
