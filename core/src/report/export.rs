//! The report model and its JSON and Markdown forms.
//!
//! A report is what the user keeps after a session: what was inspected (as the inspection produced it),
//! what the catalog said about each image, what a package verification found, and free notes. JSON is
//! the lossless form; Markdown and HTML are for people.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{CatalogAge, Evaluation, Verdict};
use crate::{Error, Result};

/// Everything one session produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// mediaprep version that produced the report.
    pub tool_version: String,
    /// When it was produced, as the caller words it (the core has no clock in WebAssembly).
    pub generated: String,
    /// The inspection result (media, images, versions), as JSON.
    pub inputs: Value,
    /// The catalog the verdicts rest on: its date, source and age on the day of the report
    /// (absent in reports written before mediaprep recorded it).
    #[serde(default)]
    pub catalog: Option<CatalogAge>,
    /// The applicability evaluation, if one was run.
    pub evaluation: Option<Evaluation>,
    /// A package verification result, if one was run.
    pub package: Option<Value>,
    /// Free notes (warnings, user remarks).
    pub notes: Vec<String>,
}

impl Report {
    /// A report with this crate's version and nothing evaluated yet.
    pub fn new(generated: impl Into<String>, inputs: Value) -> Self {
        Report {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            generated: generated.into(),
            inputs,
            catalog: None,
            evaluation: None,
            package: None,
            notes: Vec::new(),
        }
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("report", format!("report JSON: {e}")))
    }

    /// Parse a report written by [`Report::to_json`].
    pub fn from_json(json: &str) -> Result<Report> {
        serde_json::from_str(json)
            .map_err(|e| Error::invalid("report", format!("report JSON: {e}")))
    }

    /// A Markdown rendering: summary, recommendations, procedure, verdicts, notes, then the raw inputs.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("# mediaprep report\n\n");
        md.push_str(&format!(
            "- Tool version: {}\n- Generated: {}\n",
            md_inline(&self.tool_version),
            md_inline(&self.generated)
        ));
        if let Some(age) = &self.catalog {
            md.push_str(&format!(
                "- Catalog: {} ({}, {} updates)\n\n**{}**\n",
                md_inline(&age.version),
                md_inline(&age.source.describe()),
                age.updates,
                md_inline(&age.notice)
            ));
        }
        if let Some(ev) = &self.evaluation {
            if self.catalog.is_none() {
                md.push_str(&format!(
                    "- Catalog version: {}\n",
                    md_inline(&ev.catalog_version)
                ));
            }
            md.push_str("\n## Recommended updates\n\n");
            if ev.recommendations.is_empty() {
                md.push_str(&format!(
                    "{}\n",
                    md_inline(&no_update_words(self.catalog.as_ref()))
                ));
            } else {
                md.push_str(
                    "| Image | Target | KB | Kind | Released | Why |\n|---|---|---|---|---|---|\n",
                );
                for r in &ev.recommendations {
                    md.push_str(&format!(
                        "| {} | {} | {} | {} | {} | {} |\n",
                        md_cell(&r.image_label),
                        md_cell(r.target.label()),
                        md_cell(&r.kb),
                        md_cell(r.kind.label()),
                        md_cell(r.release_date.as_deref().unwrap_or("unknown")),
                        md_cell(&r.reason)
                    ));
                }
            }
            if !ev.procedure.is_empty() {
                md.push_str("\n## Procedure (Microsoft's order)\n\n");
                md.push_str("| Step | Target | Action | KBs | Note |\n|---|---|---|---|---|\n");
                for s in &ev.procedure {
                    md.push_str(&format!(
                        "| {} | {} | {} | {} | {} |\n",
                        s.order,
                        md_cell(s.target.label()),
                        md_cell(&s.action),
                        md_cell(&s.kbs.join(", ")),
                        md_cell(s.note.as_deref().unwrap_or(""))
                    ));
                }
            }
            md.push_str("\n## Verdicts\n\n");
            md.push_str("| Image | KB | Kind | Verdict | Reason |\n|---|---|---|---|---|\n");
            for f in ev
                .findings
                .iter()
                .filter(|f| f.verdict != Verdict::NotApplicable)
            {
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    md_cell(&f.image_label),
                    md_cell(&f.kb),
                    md_cell(f.kind.label()),
                    md_cell(&f.verdict.words(self.catalog.as_ref())),
                    md_cell(&f.reasons.join("; "))
                ));
            }
            let na = ev
                .findings
                .iter()
                .filter(|f| f.verdict == Verdict::NotApplicable)
                .count();
            md.push_str(&format!(
                "\n{na} further pairs are not applicable (other build family, architecture, product or \
                 target); the JSON report lists them with reasons.\n"
            ));
            if !ev.notes.is_empty() {
                md.push_str("\n### Evaluation notes\n\n");
                for n in &ev.notes {
                    md.push_str(&format!("- {}\n", md_inline(n)));
                }
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for n in &self.notes {
                md.push_str(&format!("- {}\n", md_inline(n)));
            }
        }
        if let Some(p) = &self.package {
            md.push_str("\n## Package verification\n\n");
            md.push_str(&fenced_json(p));
        }
        md.push_str("\n## Inputs\n\n");
        md.push_str(&fenced_json(&self.inputs));
        md
    }
}

/// What to say when nothing is recommended: with a stale catalog, only as of its date.
pub(crate) fn no_update_words(age: Option<&CatalogAge>) -> String {
    match age {
        Some(a) if a.stale => format!(
            "No update in the catalog of {} applies; updates released since are unknown to it \
             (see the verdicts below).",
            a.date
        ),
        _ => "No update applies (see the verdicts below).".to_string(),
    }
}

/// Text safe for one Markdown line (no line breaks, no raw HTML).
fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside a Markdown table cell.
fn md_cell(s: &str) -> String {
    md_inline(s).replace('|', "\\|")
}

/// A JSON value in a code fence longer than any backtick run inside it.
fn fenced_json(v: &Value) -> String {
    let body = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    let mut longest = 0usize;
    let mut run = 0usize;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}json\n{body}\n{fence}\n")
}
