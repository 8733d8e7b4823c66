//! Package verification: the file's own digests, the digest in its Update Catalog name, an expected
//! digest/KB from the catalog, and every payload against the SHA-256 in its component manifest.
//!
//! Nothing from a package is used before this passes: a tampered payload, a package renamed to the
//! wrong KB, or a download that does not match the catalog all show up as `ok == false` with the
//! reason in `problems`.

use crate::hash::{hash_reader, hex, unhex, MultiHasher};
use crate::io::{NoProgress, Progress};
use crate::package::manifest::{Component, ManifestEncoding, ManifestFile};
use crate::package::{Package, PayloadLayout};
use crate::{Error, Result};

/// What the caller expects (usually from the Update Catalog entry); every field optional.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Expected {
    /// Hex SHA-256 of the whole file.
    pub sha256: Option<String>,
    /// Hex SHA-1 of the whole file.
    pub sha1: Option<String>,
    /// KB number (`KB5079471` or `5079471`).
    pub kb: Option<String>,
}

/// Outcome of checking one payload file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PayloadStatus {
    /// The digest matches the manifest.
    Match,
    /// The digest differs from the manifest.
    Mismatch,
    /// No member holds the file.
    Missing,
    /// The member is a delta (PSFX `f\`/`r\`/`n\`) or the manifest has no digest: not checkable here.
    NotVerifiable(String),
    /// The member exists but could not be decoded.
    Unreadable(String),
}

/// One payload check.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PayloadCheck {
    /// Manifest name of the component.
    pub component: String,
    /// File name from the manifest.
    pub file: String,
    /// CAB member holding the bytes, if found.
    pub member: Option<String>,
    /// Expected hex digest (SHA-256, or SHA-1 for old manifests).
    pub expected: Option<String>,
    /// Computed hex digest.
    pub actual: Option<String>,
    /// Outcome.
    pub status: PayloadStatus,
    /// True for [`PayloadStatus::Match`].
    pub ok: bool,
}

/// The result of [`Package::verify`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    /// Hex SHA-256 of the whole package file.
    pub file_sha256: String,
    /// Hex SHA-1 of the whole package file.
    pub file_sha1: String,
    /// The 40-hex SHA-1 embedded in an Update Catalog file name, and whether it matches.
    pub name_digest: Option<(String, bool)>,
    /// Whether the expected catalog digest(s) matched (None when none was given).
    pub catalog_match: Option<bool>,
    /// Payload checks, one per manifest file.
    pub payloads: Vec<PayloadCheck>,
    /// Everything that makes the package unacceptable, in words.
    pub problems: Vec<String>,
    /// Non-fatal remarks (unverifiable delta payloads, compressed manifests).
    pub notes: Vec<String>,
    /// True when there are no problems.
    pub ok: bool,
}

/// The `_<40 hex>` SHA-1 that Update Catalog file names end with, e.g.
/// `windows11.0-kb5079471-x64_0123…cdef.cab` → `0123…cdef` (lower-case).
pub fn name_sha1(file_name: &str) -> Option<String> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let lower = base.to_ascii_lowercase();
    let stem = lower
        .strip_suffix(".cab")
        .or_else(|| lower.strip_suffix(".msu"))?;
    let (_, digest) = stem.rsplit_once('_')?;
    (digest.len() == 40 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_string())
}

/// Normalise a KB string to `KB1234567` (upper-case prefix, digits).
pub fn normalize_kb(kb: &str) -> Option<String> {
    let t = kb.trim();
    let digits = t
        .strip_prefix("KB")
        .or_else(|| t.strip_prefix("kb"))
        .or_else(|| t.strip_prefix("Kb"))
        .unwrap_or(t);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("KB{digits}"))
}

fn same_hex(a: &str, b: &str) -> bool {
    match (unhex(a.trim()), unhex(b.trim())) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn skeleton(component: &Component, file: &ManifestFile) -> PayloadCheck {
    PayloadCheck {
        component: component.manifest_name.clone(),
        file: file.name.clone(),
        member: None,
        expected: file
            .sha256
            .map(|d| hex(&d))
            .or_else(|| file.sha1.map(|d| hex(&d))),
        actual: None,
        status: PayloadStatus::Missing,
        ok: false,
    }
}

/// Check every payload file of `pkg`'s plain-XML components against its manifest digest.
///
/// Members are hashed in one pass per CAB folder ([`crate::package::CabArchive::stream_members`]),
/// each member once even when several manifest entries point at it.
pub fn check_payloads(pkg: &Package, progress: &dyn Progress) -> Result<Vec<PayloadCheck>> {
    let mut checks = Vec::new();
    // (check index, member index, uses sha256)
    let mut pending: Vec<(usize, usize, bool)> = Vec::new();
    for c in pkg.components.iter().filter(|c| !c.dcm_compressed) {
        for f in &c.files {
            let mut chk = skeleton(c, f);
            match pkg.payload_for(c, f) {
                Err(_) => {}
                Ok(loc) => {
                    chk.member = Some(loc.member.clone());
                    if loc.layout == PayloadLayout::Delta {
                        chk.status =
                            PayloadStatus::NotVerifiable("delta-compressed (PSFX) payload".into());
                    } else if chk.expected.is_none() {
                        chk.status =
                            PayloadStatus::NotVerifiable("the manifest gives no digest".into());
                    } else {
                        pending.push((checks.len(), loc.index, f.sha256.is_some()));
                    }
                }
            }
            checks.push(chk);
        }
    }
    let mut hashers: std::collections::BTreeMap<usize, MultiHasher> = pending
        .iter()
        .map(|&(_, m, _)| (m, MultiHasher::new()))
        .collect();
    let wanted: Vec<usize> = hashers.keys().copied().collect();
    let total: u64 = wanted
        .iter()
        .filter_map(|&i| pkg.members.get(i))
        .map(|m| m.size)
        .sum();
    let mut done = 0u64;
    let streamed = pkg.archive().stream_members(&wanted, &mut |i, piece| {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(h) = hashers.get_mut(&i) {
            h.update(piece);
        }
        done += piece.len() as u64;
        progress.update("payloads", done, total);
        Ok(())
    });
    match streamed {
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        Err(e) => {
            for &(ci, _, _) in &pending {
                checks[ci].status = PayloadStatus::Unreadable(e.to_string());
            }
            return Ok(checks);
        }
        Ok(()) => {}
    }
    let digests: std::collections::BTreeMap<usize, crate::hash::Digests> =
        hashers.into_iter().map(|(k, h)| (k, h.finish())).collect();
    for (ci, m, is256) in pending {
        let d = &digests[&m];
        let actual = if is256 { hex(&d.sha256) } else { hex(&d.sha1) };
        let chk = &mut checks[ci];
        chk.ok = chk.expected.as_deref() == Some(actual.as_str());
        chk.status = if chk.ok {
            PayloadStatus::Match
        } else {
            PayloadStatus::Mismatch
        };
        chk.actual = Some(actual);
    }
    Ok(checks)
}

/// Verify `pkg` (see [`Package::verify`]), reporting hashing progress.
pub fn verify(pkg: &Package, expect: &Expected, progress: &dyn Progress) -> Result<Verification> {
    let d = hash_reader(&**pkg.source(), 1 << 20, progress)?;
    let (sha1, sha256) = (hex(&d.sha1), hex(&d.sha256));
    let mut problems = Vec::new();
    let mut notes = Vec::new();

    let name_digest = name_sha1(&pkg.file_name).map(|n| {
        let ok = n == sha1;
        if !ok {
            problems.push(format!(
                "file name says SHA-1 {n}, the file's SHA-1 is {sha1}"
            ));
        }
        (n, ok)
    });

    let mut catalog_match = None;
    for (what, want, got) in [
        ("SHA-256", &expect.sha256, &sha256),
        ("SHA-1", &expect.sha1, &sha1),
    ] {
        if let Some(want) = want {
            let ok = same_hex(want, got);
            catalog_match = Some(catalog_match.unwrap_or(true) && ok);
            if !ok {
                problems.push(format!("expected {what} {want}, the file's is {got}"));
            }
        }
    }

    if let Some(want) = &expect.kb {
        let want_n = normalize_kb(want)
            .ok_or_else(|| Error::invalid("package", format!("expected KB {want:?}")))?;
        match pkg.kb.as_deref().and_then(normalize_kb) {
            Some(have) if have.eq_ignore_ascii_case(&want_n) => {}
            Some(have) => problems.push(format!("package is {have}, expected {want_n}")),
            None => problems.push(format!("package names no KB, expected {want_n}")),
        }
    }

    let mut payloads = Vec::new();
    let mut packages: Vec<&Package> = vec![pkg];
    for inner in &pkg.inner_packages {
        if let Some(p) = &inner.package {
            packages.push(p);
        }
        if let Some(e) = &inner.error {
            problems.push(format!("inner package {}: {e}", inner.name));
        }
    }
    for p in packages {
        for c in p.components.iter().filter(|c| c.dcm_compressed) {
            let sig = match c.encoding {
                ManifestEncoding::Compressed(s) => String::from_utf8_lossy(&s).into_owned(),
                ManifestEncoding::Xml => String::new(),
            };
            notes.push(format!(
                "{}: compressed manifest ({sig}), its files cannot be checked",
                c.manifest_name
            ));
        }
        for chk in check_payloads(p, progress)? {
            match &chk.status {
                PayloadStatus::Match => {}
                PayloadStatus::Mismatch => problems.push(format!(
                    "{} in {}: digest {} does not match the manifest's {}",
                    chk.file,
                    chk.component,
                    chk.actual.as_deref().unwrap_or("?"),
                    chk.expected.as_deref().unwrap_or("?")
                )),
                PayloadStatus::Missing if p.psfx || p.delta_payloads => notes.push(format!(
                    "{} in {}: not in the CAB as a full file (delta/PSFX package)",
                    chk.file, chk.component
                )),
                PayloadStatus::Missing => problems.push(format!(
                    "{} in {}: no member of the package holds it",
                    chk.file, chk.component
                )),
                PayloadStatus::Unreadable(why) => problems.push(format!(
                    "{} in {}: cannot be read: {why}",
                    chk.file, chk.component
                )),
                PayloadStatus::NotVerifiable(why) => {
                    notes.push(format!("{} in {}: {why}", chk.file, chk.component))
                }
            }
            payloads.push(chk);
        }
    }
    let ok = problems.is_empty();
    Ok(Verification {
        file_sha256: sha256,
        file_sha1: sha1,
        name_digest,
        catalog_match,
        payloads,
        problems,
        notes,
        ok,
    })
}

/// [`verify`] without progress reporting.
pub fn verify_quiet(pkg: &Package, expect: &Expected) -> Result<Verification> {
    verify(pkg, expect, &NoProgress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_and_kbs() {
        let d = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            name_sha1(&format!("windows11.0-kb5079471-x64_{d}.cab")).as_deref(),
            Some(d)
        );
        assert_eq!(name_sha1("windows11.0-kb5079471-x64.cab"), None);
        assert_eq!(name_sha1(&format!("x_{d}.txt")), None);
        assert_eq!(normalize_kb("kb5079471").as_deref(), Some("KB5079471"));
        assert_eq!(normalize_kb("5079471").as_deref(), Some("KB5079471"));
        assert_eq!(normalize_kb("KBx"), None);
    }
}
