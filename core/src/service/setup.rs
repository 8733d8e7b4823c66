//! The Setup Dynamic Update expanded into the files of the media's `sources\` folder (issue #5,
//! output 4c).
//!
//! A Setup DU is a plain CAB of Setup files with no `update.mum` (domain.md §1 "Media", §2): Microsoft's
//! procedure is `expand.exe Setup_DU.cab -F:* <media>\sources`. Here the members go either into a
//! ZIP ([`expand_to_zip`], then re-read and checked) or to any [`SetupSink`] (the CLI writes a
//! directory; the browser can write OPFS). Nothing is produced unless the package verifies first:
//! its file digests against the caller's catalog entry and Update Catalog file name, and every
//! payload against its manifest digest where the package has manifests. Each member name is
//! checked again here (no `..`, no absolute or drive paths, no stream syntax, no two members that
//! are the same path on Windows), and each file's SHA-256 is computed as it is written.
//!
//! Not checked: the CAB's CFDATA checksums (the CAB reader does not verify them) and its
//! Authenticode signature (no trust store in the browser); the whole-file digests cover both.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};

use sha2::{Digest, Sha256};

use crate::cbs::PackageKind;
use crate::io::Progress;
use crate::package::{names, Expected, Package, Verification};
use crate::{Error, Result};

/// Most members accepted (real Setup DUs have a few hundred).
pub const MAX_FILES: usize = 100_000;

/// One file written for `sources\`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetupFile {
    /// Path relative to `sources\`, with `/` separators (as in the ZIP).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the bytes written.
    pub sha256: String,
}

/// What [`expand`] and [`expand_to_zip`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetupExpansion {
    /// Files in the order they were written (the package's storage order).
    pub files: Vec<SetupFile>,
    /// The package check that had to pass first.
    pub verification: Verification,
}

/// Where the files go: called once per file, `begin`, then `write` with its bytes in order, then `end`.
pub trait SetupSink {
    /// Start file `path` (relative to `sources\`, `/`-separated, already checked) of `size` bytes.
    fn begin(&mut self, path: &str, size: u64) -> Result<()>;
    /// Append bytes to the current file.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// The current file is complete; `sha256` is the hex digest of what was written.
    fn end(&mut self, sha256: &str) -> Result<()>;
}

/// Options of [`expand_to_zip`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZipOptions {
    /// Modification time stored for every entry (FILETIME); `None` is 1980-01-01 00:00:00, the
    /// ZIP epoch. Clamped to the ZIP range 1980–2107. Fixed, so the same package gives the same ZIP.
    pub modification_time: Option<u64>,
}

/// Check that `pkg` is a Setup DU that verifies, and list the members to write with their paths.
fn plan(
    pkg: &Package,
    expect: &Expected,
    progress: &dyn Progress,
) -> Result<(Vec<(usize, String)>, Verification)> {
    if pkg.kind != PackageKind::SetupDu {
        return Err(Error::invalid(
            "patch request",
            format!(
                "{} is not a Setup Dynamic Update (it is {:?}{}); only a plain CAB of Setup files \
             without update.mum is expanded into sources\\",
                pkg.file_name,
                pkg.kind,
                pkg.identity
                    .as_ref()
                    .map(|i| format!(", {}", i.name))
                    .unwrap_or_default()
            ),
        ));
    }
    let files = &pkg.archive().files;
    if files.len() > MAX_FILES {
        return Err(Error::limit(
            files.len(),
            MAX_FILES,
            format!("{} members; at most {MAX_FILES}", files.len()),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        names::check_relative_path(&f.name, "Setup DU member")?;
        let parts: Vec<&str> = f
            .name
            .split(['\\', '/'])
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.is_empty() {
            return Err(Error::invalid(
                "patch request",
                format!("Setup DU member {:?}: not a file name", f.name),
            ));
        }
        let path = parts.join("/");
        if !seen.insert(names::fold(&path)) {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "Setup DU member {:?}: another member has the same path on Windows",
                    f.name
                ),
            ));
        }
        out.push((i, path));
    }
    // A file and a folder of the same name cannot both exist in sources\.
    for (_, p) in &out {
        let mut prefix = String::new();
        for comp in p.split('/').take(p.split('/').count() - 1) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(comp);
            if seen.contains(&names::fold(&prefix)) {
                return Err(Error::invalid(
                    "patch request",
                    format!("Setup DU member {p:?}: {prefix:?} is both a file and a folder"),
                ));
            }
        }
    }
    let verification = pkg.verify_with_progress(expect, progress)?;
    if !verification.ok {
        return Err(Error::invalid(
            "patch request",
            format!(
                "{} failed verification: {}",
                pkg.file_name,
                verification.problems.join("; ")
            ),
        ));
    }
    Ok((out, verification))
}

/// Expand the Setup DU `pkg` into `sink` after verifying it (see the module docs). Members are
/// decoded in storage order, each CAB folder once; memory stays at one block plus the decoder.
pub fn expand(
    pkg: &Package,
    expect: &Expected,
    sink: &mut dyn SetupSink,
    progress: &dyn Progress,
) -> Result<SetupExpansion> {
    let (members, verification) = plan(pkg, expect, progress)?;
    let files = &pkg.archive().files;
    let total: u64 = members.iter().map(|(i, _)| files[*i].size).sum();
    let path_of: std::collections::HashMap<usize, &str> =
        members.iter().map(|(i, p)| (*i, p.as_str())).collect();
    let wanted: Vec<usize> = members.iter().map(|(i, _)| *i).collect();

    struct Current {
        index: usize,
        written: u64,
        sha: Sha256,
    }
    let mut cur: Option<Current> = None;
    let mut done_set = HashSet::new();
    let mut out = Vec::with_capacity(members.len());
    let mut done = 0u64;

    fn close(
        c: Current,
        files: &[crate::package::cab_reader::CabFile],
        path: &str,
        sink: &mut dyn SetupSink,
        out: &mut Vec<SetupFile>,
    ) -> Result<()> {
        let f = &files[c.index];
        if c.written != f.size {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "Setup DU member {:?}: {} bytes decoded, {} listed",
                    f.name, c.written, f.size
                ),
            ));
        }
        let sha256 = crate::hash::hex(&c.sha.finalize());
        sink.end(&sha256)?;
        out.push(SetupFile {
            path: path.to_string(),
            size: f.size,
            sha256,
        });
        Ok(())
    }

    pkg.archive().stream_members(&wanted, &mut |i, piece| {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if cur.as_ref().map(|c| c.index) != Some(i) {
            if let Some(c) = cur.take() {
                let p = path_of[&c.index];
                close(c, files, p, sink, &mut out)?;
            }
            if !done_set.insert(i) {
                return Err(Error::invalid(
                    "patch request",
                    format!("Setup DU member {:?} delivered twice", files[i].name),
                ));
            }
            let path = path_of.get(&i).ok_or_else(|| {
                Error::invalid(
                    "patch request",
                    format!("CAB reader delivered unrequested member {i}"),
                )
            })?;
            sink.begin(path, files[i].size)?;
            cur = Some(Current {
                index: i,
                written: 0,
                sha: Sha256::new(),
            });
        }
        let c = cur.as_mut().expect("set above");
        c.written += piece.len() as u64;
        if c.written > files[i].size {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "Setup DU member {:?}: more bytes than its listed {}",
                    files[i].name, files[i].size
                ),
            ));
        }
        c.sha.update(piece);
        sink.write(piece)?;
        done += piece.len() as u64;
        progress.update("expand", done, total);
        Ok(())
    })?;
    if let Some(c) = cur.take() {
        let p = path_of[&c.index];
        close(c, files, p, sink, &mut out)?;
    }
    let (decoded, total) = (out.len(), members.len());
    if decoded != total {
        let why = format!("{decoded} of {total} Setup DU members were decoded");
        return Err(Error::invalid("Setup DU output", why));
    }
    Ok(SetupExpansion {
        files: out,
        verification,
    })
}

fn zip_err(e: zip::result::ZipError) -> Error {
    Error::zip("Setup DU ZIP", e)
}

struct ZipSink<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
    time: zip::DateTime,
}

impl<W: Write + Seek> SetupSink for ZipSink<W> {
    fn begin(&mut self, path: &str, size: u64) -> Result<()> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(self.time)
            .unix_permissions(0o644)
            .large_file(size >= 0xFFFF_FFFF);
        self.zip.start_file(path, opts).map_err(zip_err)
    }
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.zip.write_all(data)?;
        Ok(())
    }
    fn end(&mut self, _sha256: &str) -> Result<()> {
        Ok(())
    }
}

/// Expand the Setup DU into a ZIP written to `out` (entries named `path` relative to `sources\`,
/// deflated, in storage order, every entry with the same fixed time), then read the ZIP back and
/// check every entry's name, size and SHA-256. Returns the list and the sink, positioned anywhere.
pub fn expand_to_zip<W: Read + Write + Seek>(
    pkg: &Package,
    expect: &Expected,
    out: W,
    opts: &ZipOptions,
    progress: &dyn Progress,
) -> Result<(SetupExpansion, W)> {
    let mut sink = ZipSink {
        zip: zip::ZipWriter::new(out),
        time: zip_time(opts.modification_time.unwrap_or(0)),
    };
    let exp = expand(pkg, expect, &mut sink, progress)?;
    let mut out = sink.zip.finish().map_err(zip_err)?;
    out.flush()?;
    check_zip(&mut out, &exp.files, progress)?;
    Ok((exp, out))
}

/// Re-read a ZIP written by [`expand_to_zip`] and compare it with `files`: same entries in the same
/// order, same sizes and SHA-256s.
pub fn check_zip<R: Read + Seek>(
    r: &mut R,
    files: &[SetupFile],
    progress: &dyn Progress,
) -> Result<()> {
    let mut z = zip::ZipArchive::new(r).map_err(zip_err)?;
    let (entries, written) = (z.len(), files.len());
    if entries != written {
        let why = format!("the written ZIP has {entries} entries, {written} were written");
        return Err(Error::invalid("Setup DU output", why));
    }
    let mut buf = vec![0u8; 1 << 16];
    for (k, want) in files.iter().enumerate() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let mut e = z.by_index(k).map_err(zip_err)?;
        let name = e.name().map_err(zip_err)?.into_owned();
        if name != want.path || e.size() != want.size {
            return Err(Error::invalid(
                "patch request",
                format!(
                    "ZIP entry {k} is {name:?} ({} bytes), expected {:?} ({} bytes)",
                    e.size(),
                    want.path,
                    want.size
                ),
            ));
        }
        let mut h = Sha256::new();
        loop {
            let n = e.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let got = crate::hash::hex(&h.finalize());
        if got != want.sha256 {
            return Err(Error::DigestMismatch {
                what: format!("ZIP entry {name}"),
                expected: want.sha256.clone(),
                actual: got,
            });
        }
    }
    Ok(())
}

/// FILETIME → ZIP (DOS) time, clamped to 1980-01-01..=2107-12-31.
fn zip_time(filetime: u64) -> zip::DateTime {
    const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;
    let secs = (filetime.saturating_sub(FILETIME_UNIX_EPOCH) / 10_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::civil::civil_from_days(days);
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let fallback = zip::DateTime::default();
    if y < 1980 {
        return fallback;
    }
    if y > 2107 {
        return zip::DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58).unwrap_or(fallback);
    }
    zip::DateTime::from_date_and_time(y as u16, m as u8, d as u8, h as u8, mi as u8, s as u8)
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::civil_from_days;

    #[test]
    fn zip_times() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_522), (2026, 3, 10));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(zip_time(0), zip::DateTime::default());
        // 2026-03-10 12:34:56 UTC
        let ft = (1_773_146_096u64) * 10_000_000 + 116_444_736_000_000_000;
        let t = zip_time(ft);
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2026, 3, 10, 12, 34, 56)
        );
        assert_eq!(zip_time(u64::MAX).year(), 2107);
    }
}
