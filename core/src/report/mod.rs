//! Reports: JSON, HTML/Markdown and ZIP bundles of inspection, verdicts and verification.
