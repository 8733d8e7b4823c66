//! The ZIP bundle a user downloads: the report in three forms, the DISM hand-off script, any extra
//! files (e.g. the patched winre.wim's manifest), and a `SHA256SUMS` that `sha256sum -c` accepts.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::dism_script::{dism_script, ScriptPaths};
use super::export::Report;
use crate::hash::{hex, sha256};
use crate::{Error, Result};

/// Names the bundle always contains.
pub const FIXED_NAMES: [&str; 5] = [
    "report.json",
    "report.html",
    "report.md",
    "handoff-dism.ps1",
    "SHA256SUMS",
];

/// Largest number of extra files accepted.
const MAX_EXTRA: usize = 1000;

fn zip_err(e: zip::result::ZipError) -> Error {
    Error::zip("writing report ZIP", e)
}

/// An extra file name must be a plain relative path without surprises for unzip or `sha256sum -c`.
fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains(':')
        || name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || name.chars().any(|c| c.is_control())
        || FIXED_NAMES.contains(&name);
    if bad {
        return Err(Error::invalid(
            "report",
            format!("extra file name {name:?} is not allowed in the report bundle"),
        ));
    }
    Ok(())
}

impl Report {
    /// Build the bundle. `extra` files are added under their given names (relative, `/`-separated).
    /// The DISM script uses the default placeholder folders (see [`ScriptPaths`]).
    pub fn to_zip(&self, extra: &[(&str, &[u8])]) -> Result<Vec<u8>> {
        self.to_zip_with(extra, &ScriptPaths::default())
    }

    /// [`Report::to_zip`] with the folders the DISM script should use.
    pub fn to_zip_with(&self, extra: &[(&str, &[u8])], paths: &ScriptPaths) -> Result<Vec<u8>> {
        if extra.len() > MAX_EXTRA {
            return Err(Error::limit(
                extra.len(),
                MAX_EXTRA,
                format!("{} extra files; at most {MAX_EXTRA}", extra.len()),
            ));
        }
        for (i, (name, _)) in extra.iter().enumerate() {
            check_name(name)?;
            if extra.iter().take(i).any(|(n, _)| n == name) {
                return Err(Error::invalid(
                    "report",
                    format!("extra file {name:?} given twice"),
                ));
            }
        }
        let script = match &self.evaluation {
            Some(ev) => dism_script(ev, paths),
            None => "# mediaprep: no applicability evaluation in this report, nothing to apply.\n"
                .to_string(),
        };
        let json = self.to_json()?;
        let html = self.to_html();
        let md = self.to_markdown();
        let mut files: Vec<(&str, &[u8])> = vec![
            ("report.json", json.as_bytes()),
            ("report.html", html.as_bytes()),
            ("report.md", md.as_bytes()),
            ("handoff-dism.ps1", script.as_bytes()),
        ];
        files.extend(extra.iter().copied());

        let mut sums = String::new();
        for (name, data) in &files {
            // Two spaces: text mode in GNU coreutils' format.
            sums.push_str(&format!("{}  {}\n", hex(&sha256(data)), name));
        }

        let mut zw = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(
                files
                    .iter()
                    .any(|(_, d)| d.len() as u64 >= u64::from(u32::MAX)),
            );
        for (name, data) in files
            .iter()
            .copied()
            .chain(std::iter::once(("SHA256SUMS", sums.as_bytes())))
        {
            zw.start_file(name, opts).map_err(zip_err)?;
            zw.write_all(data)
                .map_err(|e| Error::zip(format!("writing {name} into report ZIP"), e.into()))?;
        }
        Ok(zw.finish().map_err(zip_err)?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_names() {
        for n in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a\\b",
            "C:x",
            "report.json",
            "SHA256SUMS",
            "a//b",
            "x\ny",
        ] {
            assert!(check_name(n).is_err(), "{n:?}");
        }
        assert!(check_name("winre/manifest.json").is_ok());
    }
}
