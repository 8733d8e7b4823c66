//! Pass 1: everything the write needs, checked before anything is written.
//!
//! Every payload is decoded once and its SHA-256 (SHA-1 for old manifests) compared with its
//! manifest; its SHA-1 (the WIM blob id) and size are kept so the new image tree is complete before
//! the first byte of output. Manifests, `update.mum` and `update.cat` are small and kept in memory
//! (their total is bounded by [`crate::package::MAX_MANIFESTS_TOTAL`] and [`crate::package::MAX_MUM`]).

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::rebuild::{rebuild, reverse, RtmFinder, MAX_REBUILT};
use super::select::{Selected, Selection};
use crate::cbs::{PackageKind, Version4};
use crate::hash::hex;
use crate::io::Progress;
use crate::package::manifest::{expand_runtime_path, MAX_MANIFEST};
use crate::package::{AssemblyIdentity, Package, PayloadForm, MAX_MUM};
use crate::wim::model::Hash;
use crate::{Error, Result};

/// One file of a component, ready to be placed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreparedFile {
    /// Name in the component folder (may hold `\` for subfolders).
    pub name: String,
    /// Expanded destination folder relative to the image root (`Windows\System32`), or `None`
    /// when the file stays in WinSxS only.
    pub dest_dir: Option<String>,
    /// CAB member index holding the bytes.
    #[serde(skip)]
    pub member: usize,
    /// SHA-1 of the bytes (the WIM blob id).
    #[serde(serialize_with = "ser_hex")]
    pub sha1: Hash,
    /// Size in bytes.
    pub size: u64,
    /// What the package member holds (the file, or a delta it was rebuilt from).
    pub form: PayloadForm,
    /// The `r\` delta written next to the file: files rebuilt from `f\`, and full files whose
    /// component has an RTM base in the image.
    pub reverse: Option<ReverseDelta>,
}

/// An `r\<file>` delta the write puts in the component folder: from the new file back to RTM.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ReverseDelta {
    /// SHA-1 of the delta (the WIM blob id).
    #[serde(serialize_with = "ser_hex")]
    pub sha1: Hash,
    /// Size in bytes.
    pub size: u64,
}

fn ser_hex<S: serde::Serializer>(h: &Hash, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(h))
}

/// One component, ready to be placed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreparedComponent {
    /// Its identity.
    pub identity: AssemblyIdentity,
    /// WinSxS folder name (the manifest member name without `.manifest`).
    pub folder: String,
    /// The manifest bytes, stored as `WinSxS\Manifests\<folder>.manifest`.
    #[serde(skip)]
    pub manifest: Vec<u8>,
    /// Its files.
    pub files: Vec<PreparedFile>,
}

/// One package, ready to be serviced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PreparedPackage<'a> {
    /// The package.
    #[serde(skip)]
    pub package: &'a Package,
    /// Display name.
    pub label: String,
    /// What it is.
    pub kind: PackageKind,
    /// The package identity from `update.mum`.
    pub identity: AssemblyIdentity,
    /// KB.
    pub kb: Option<String>,
    /// Record name without extension: `name~token~arch~lang~version`.
    pub record: String,
    /// `update.mum`.
    #[serde(skip)]
    pub mum: Vec<u8>,
    /// `update.cat`, when the package has one.
    #[serde(skip)]
    pub cat: Option<Vec<u8>>,
    /// Newest member time of the package's CAB (FILETIME).
    pub time: Option<u64>,
    /// Components in manifest order.
    pub components: Vec<PreparedComponent>,
    /// Payload bytes kept from the digest pass, by CAB member, within [`PAYLOAD_CACHE`]: the
    /// write takes them from here instead of decoding the CAB a second time. Members not here
    /// are streamed again.
    #[serde(skip)]
    pub payloads: BTreeMap<usize, Vec<u8>>,
    /// Files rebuilt from `f\`/`n\` deltas, by CAB member, within [`PAYLOAD_CACHE`]; the write
    /// rebuilds the others again ([`rebuild_member`]).
    #[serde(skip)]
    pub rebuilt: BTreeMap<usize, Vec<u8>>,
    /// Their `r\` deltas, by CAB member, within the same budget.
    #[serde(skip)]
    pub reverses: BTreeMap<usize, Vec<u8>>,
}

/// Decoded payload bytes kept between the digest pass and the write, over all packages of one
/// [`prepare`]. Bounded so a large package costs a second decode, not unbounded memory. The same
/// on every target: which payloads are cached decides their order in the output, and the browser
/// and the CLI must write the same bytes.
pub const PAYLOAD_CACHE: u64 = 128 << 20;

/// Everything pass 1 found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prepared<'a> {
    /// Packages in servicing order.
    pub packages: Vec<PreparedPackage<'a>>,
    /// Remarks from the selection.
    pub notes: Vec<String>,
    /// The images (1-based) whose component stores gave the RTM bases of `f\` deltas and `r\`
    /// deltas (empty: none was looked in).
    pub base_images: Vec<u32>,
}

impl Prepared<'_> {
    /// The Safe OS DU's identity, the last one if several (as servicing takes it).
    pub fn safeos_du(&self) -> Option<&AssemblyIdentity> {
        self.packages
            .iter()
            .rev()
            .find(|p| p.kind == PackageKind::SafeOsDu)
            .map(|p| &p.identity)
    }

    /// The Safe OS DU's version (`26100.8037.1.0`), the last one if several.
    pub fn safeos_version(&self) -> Option<Version4> {
        self.safeos_du().and_then(|id| id.version_parts())
    }

    /// The newest package time.
    pub fn time(&self) -> Option<u64> {
        self.packages.iter().filter_map(|p| p.time).max()
    }
}

/// Pass 1 over a selection: refuse if anything was refused ([`Error::Refused`], with the DISM
/// hand-off script), then read manifests and records and
/// check every payload digest.
pub fn prepare<'a>(sel: &Selection<'a>, progress: &dyn Progress) -> Result<Prepared<'a>> {
    prepare_in(sel, None, progress)
}

/// [`prepare`] for packages whose payloads may be deltas: `f\` deltas are rebuilt on the RTM
/// base found in `image`'s component store. A delta that cannot be rebuilt, or whose result does
/// not match the manifest's digest, refuses its package ([`Error::Refused`], with the hand-off).
pub fn prepare_in<'a>(
    sel: &Selection<'a>,
    image: Option<&RtmFinder>,
    progress: &dyn Progress,
) -> Result<Prepared<'a>> {
    if !sel.refused.is_empty() {
        return Err(Error::Refused(Box::new(sel.refusal())));
    }
    if sel.serviced.is_empty() {
        return Err(Error::invalid("patch request", "no package to service"));
    }
    let mut packages = Vec::new();
    let mut budget = PAYLOAD_CACHE;
    for s in &sel.serviced {
        match prepare_package(s, &mut budget, image, progress) {
            Ok(p) => packages.push(p),
            Err(Error::Refused(r)) if r.packages.is_empty() => {
                let why = r.notes.join("; ");
                return Err(Error::Refused(Box::new(sel.refusal_with(s.package, why))));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Prepared {
        packages,
        notes: sel.notes.clone(),
        base_images: image.map(RtmFinder::indices).unwrap_or_default(),
    })
}

fn prepare_package<'a>(
    s: &Selected<'a>,
    budget: &mut u64,
    image: Option<&RtmFinder>,
    progress: &dyn Progress,
) -> Result<PreparedPackage<'a>> {
    let p = s.package;
    let label = s.label();
    let identity = p
        .identity
        .clone()
        .ok_or_else(|| Error::invalid("patch request", format!("{label}: no package identity")))?;
    if identity.name.is_empty() || identity.name.contains(['\\', '/', '~']) {
        return Err(Error::invalid(
            "patch request",
            format!(
                "{label}: package name {:?} cannot name a record file",
                identity.name
            ),
        ));
    }
    let mum = p.read_member("update.mum", MAX_MUM)?;
    let cat = match p.archive().find("update.cat") {
        Some(i) => Some(p.archive().read(i, MAX_MUM)?),
        None => None,
    };
    let time = p.archive().newest_time();

    let mut components = Vec::new();
    for c in &p.components {
        let folder = c
            .manifest_name
            .get(..c.manifest_name.len().saturating_sub(".manifest".len()))
            .filter(|_| c.manifest_name.to_ascii_lowercase().ends_with(".manifest"))
            .ok_or_else(|| {
                Error::invalid(
                    "patch request",
                    format!(
                        "{label}: manifest {:?} has no .manifest suffix",
                        c.manifest_name
                    ),
                )
            })?
            .to_string();
        let manifest = p.read_member(&c.manifest_name, MAX_MANIFEST)?;
        let mut files = Vec::new();
        for f in &c.files {
            let loc = p.payload_for(c, f)?;
            let dest_dir = if f.destination_path.is_empty() {
                None
            } else {
                Some(expand_runtime_path(&f.destination_path)?)
            };
            files.push(PreparedFile {
                name: f.name.clone(),
                dest_dir,
                member: loc.index,
                sha1: [0; 20],
                size: loc.size,
                form: loc.form,
                reverse: None,
            });
        }
        components.push(PreparedComponent {
            identity: c.identity.clone(),
            folder,
            manifest,
            files,
        });
    }

    // Hash every payload member once (one pass per CAB folder).
    let wanted: Vec<usize> = {
        let mut v: Vec<usize> = components
            .iter()
            .flat_map(|c| c.files.iter())
            .filter(|f| f.form == PayloadForm::Full)
            .map(|f| f.member)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let total: u64 = wanted
        .iter()
        .filter_map(|&i| p.members.get(i))
        .map(|m| m.size)
        .sum();
    let mut hashers: BTreeMap<usize, (Sha256, Sha1, u64)> = wanted
        .iter()
        .map(|&i| (i, (Sha256::new(), Sha1::new(), 0u64)))
        .collect();
    // Which members to keep: in member order while the budget lasts (sizes from the CAB header;
    // a member that turns out longer than announced is dropped from the cache, not trusted).
    let mut payloads: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for &i in &wanted {
        let size = p.members.get(i).map_or(u64::MAX, |m| m.size);
        if size <= *budget {
            *budget -= size;
            payloads.insert(i, Vec::with_capacity(size as usize));
        }
    }
    let mut done = 0u64;
    p.archive().stream_members(&wanted, &mut |i, piece| {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(h) = hashers.get_mut(&i) {
            for part in piece.chunks(crate::hash::FEED_PIECE) {
                h.0.update(part);
                h.1.update(part);
            }
            h.2 += piece.len() as u64;
        }
        if let Some(buf) = payloads.get_mut(&i) {
            let announced = p.members.get(i).map_or(0, |m| m.size);
            if (buf.len() + piece.len()) as u64 <= announced {
                buf.extend_from_slice(piece);
            } else {
                payloads.remove(&i);
            }
        }
        done += piece.len() as u64;
        progress.update("checking payloads", done, total);
        Ok(())
    })?;
    let digests: BTreeMap<usize, ([u8; 32], Hash, u64)> = hashers
        .into_iter()
        .map(|(i, (a, b, n))| (i, (a.finalize().into(), b.finalize().into(), n)))
        .collect();

    let mut rebuilt = BTreeMap::new();
    let mut reverses = BTreeMap::new();
    for (c, pc) in p.components.iter().zip(components.iter_mut()) {
        for (f, pf) in c.files.iter().zip(pc.files.iter_mut()) {
            if pf.form != PayloadForm::Full {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let (new, rev) =
                    rebuild_member(p, c, f, pf.form, pf.member, image).map_err(|e| match e {
                        Error::Cancelled => e,
                        e => refusal(&label, e),
                    })?;
                pf.sha1 = if new.is_empty() {
                    crate::wim::model::ZERO_HASH
                } else {
                    crate::hash::sha1(&new)
                };
                pf.size = new.len() as u64;
                pf.reverse = rev.as_ref().map(|r| ReverseDelta {
                    sha1: crate::hash::sha1(r),
                    size: r.len() as u64,
                });
                let cost = new.len() as u64 + rev.as_ref().map_or(0, |r| r.len() as u64);
                if cost <= *budget {
                    *budget -= cost;
                    rebuilt.insert(pf.member, new);
                    if let Some(r) = rev {
                        reverses.insert(pf.member, r);
                    }
                }
                continue;
            }
            let (sha256, sha1, size) = digests.get(&pf.member).copied().ok_or_else(|| {
                Error::not_found("payload", format!("{label}: payload {}", f.name))
            })?;
            let what = || format!("{label}: {} of {}", f.name, c.manifest_name);
            if let Some(want) = f.sha256 {
                if want != sha256 {
                    return Err(Error::DigestMismatch {
                        what: format!("{} (SHA-256 in the manifest)", what()),
                        expected: hex(&want),
                        actual: hex(&sha256),
                    });
                }
            } else if let Some(want) = f.sha1 {
                if want != sha1 {
                    return Err(Error::DigestMismatch {
                        what: format!("{} (SHA-1 in the manifest)", what()),
                        expected: hex(&want),
                        actual: hex(&sha1),
                    });
                }
            } else {
                return Err(Error::unsupported(
                    "servicing",
                    format!("{}: the manifest gives no digest", what()),
                ));
            }
            // The WIM names an empty stream by the zero hash, not by SHA-1("").
            pf.sha1 = if size == 0 {
                crate::wim::model::ZERO_HASH
            } else {
                sha1
            };
            pf.size = size;
            // A full file whose component has an RTM base in the image gets its r\ too.
            let Some(img) = image else { continue };
            let rev = full_reverse(p, c, f, pf.member, payloads.get(&pf.member), img).map_err(
                |e| match e {
                    Error::Cancelled => e,
                    e => refusal(&label, e),
                },
            )?;
            if let Some(r) = rev {
                pf.reverse = Some(ReverseDelta {
                    sha1: crate::hash::sha1(&r),
                    size: r.len() as u64,
                });
                if r.len() as u64 <= *budget {
                    *budget -= r.len() as u64;
                    reverses.insert(pf.member, r);
                }
            }
        }
    }
    Ok(PreparedPackage {
        package: p,
        label,
        kind: s.kind,
        record: identity.package_name(),
        identity,
        kb: p.kb.clone(),
        mum,
        cat,
        time,
        components,
        payloads,
        rebuilt,
        reverses,
    })
}

/// A refusal of one package for `e` (the caller adds it to the selection's, with the hand-off).
fn refusal(label: &str, e: Error) -> Error {
    Error::Refused(Box::new(crate::error::Refusal {
        packages: Vec::new(),
        notes: vec![format!("{label}: {e}")],
        script: String::new(),
    }))
}

/// The `r\` delta for the full-file payload `f` (CAB member `member`; its bytes in `cached` when
/// pass 1 kept them) when its component family has an RTM base in `image`: made by our encoder
/// and applied back. `None` when there is no base (a new component or file, or a family the
/// image holds neither at RTM nor with an `r\`), or when the component is itself the RTM version.
/// An `r\` in the image that does not apply to its file is an error (the store is inconsistent).
pub fn full_reverse(
    p: &Package,
    c: &crate::package::Component,
    f: &crate::package::ManifestFile,
    member: usize,
    cached: Option<&Vec<u8>>,
    image: &RtmFinder,
) -> Result<Option<Vec<u8>>> {
    if super::rebuild::is_rtm(&c.identity.version) {
        return Ok(None);
    }
    let what = format!("{} of {}", f.name, c.manifest_name);
    let rtm = match image.rtm(&c.identity.key(), &f.name) {
        Ok(r) => r,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(Error::invalid(
                "patch request",
                format!("{what}: its RTM base: {e}"),
            ))
        }
    };
    let read;
    let new = match cached {
        Some(b) => b.as_slice(),
        None => {
            read = p.archive().read(member, MAX_REBUILT).map_err(|e| {
                Error::invalid(
                    "patch request",
                    format!("{what}: the full file for its r\\ delta: {e}"),
                )
            })?;
            read.as_slice()
        }
    };
    reverse(new, &rtm).map(Some).map_err(|e| {
        Error::invalid(
            "patch request",
            format!("{what}: the r\\ delta to RTM: {e}"),
        )
    })
}

/// Rebuild the file `f` of component `c` from its delta member (`form`, CAB member `member`) and
/// check it against the manifest's digest; for `f\` also make its `r\` delta back to the RTM
/// base. The error says which file and why (no base, bad CRC32, truncated or invalid delta, an
/// unsupported delta type, a digest mismatch).
pub fn rebuild_member(
    p: &Package,
    c: &crate::package::Component,
    f: &crate::package::ManifestFile,
    form: PayloadForm,
    member: usize,
    image: Option<&RtmFinder>,
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let what = format!("{} of {}", f.name, c.manifest_name);
    let name = p.members.get(member).map_or("?", |m| m.name.as_str());
    let delta = p.archive().read(member, MAX_REBUILT)?;
    let rtm = match form {
        PayloadForm::Forward => Some(
            image
                .ok_or_else(|| {
                    Error::not_found(
                        "f\\ delta base",
                        format!("{what}: no image to find the f\\ delta's base in"),
                    )
                })?
                .rtm(&c.identity.key(), &f.name)
                .map_err(|e| Error::not_found("f\\ delta base", format!("{what} ({name}): {e}")))?,
        ),
        _ => None,
    };
    let new = rebuild(form, delta, rtm.as_deref()).map_err(|e| {
        Error::invalid(
            "patch request",
            format!("{what}: {name} does not rebuild the file: {e}"),
        )
    })?;
    let mismatch = |alg: &str, want: &[u8], got: &[u8]| {
        (want != got).then(|| Error::DigestMismatch {
            what: format!("{what} rebuilt from {name} ({alg} in the manifest)"),
            expected: hex(want),
            actual: hex(got),
        })
    };
    let wrong = if let Some(want) = f.sha256 {
        mismatch("SHA-256", &want, &crate::hash::sha256(&new))
    } else if let Some(want) = f.sha1 {
        mismatch("SHA-1", &want, &crate::hash::sha1(&new))
    } else {
        Some(Error::unsupported(
            "servicing",
            format!("{what}: the manifest gives no digest"),
        ))
    };
    if let Some(e) = wrong {
        return Err(e);
    }
    let rev = match &rtm {
        Some(r) => Some(reverse(&new, r).map_err(|e| {
            Error::invalid(
                "patch request",
                format!("{what}: the r\\ delta to RTM: {e}"),
            )
        })?),
        None => None,
    };
    Ok((new, rev))
}
