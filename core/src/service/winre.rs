//! Writing the patched WIM (a standalone WinRE.wim, or any WIM whose images are serviced).
//!
//! [`plan_patch`] computes every new image tree, its XML and the output layout without writing;
//! [`write_patch`] fills a [`WimWriter`]: blobs the source already has are raw-copied (whole
//! resources when compression and chunk size match), package payloads are streamed from the CAB a
//! second time (their SHA-1 checked against pass 1), then the images. [`patch_wim`] does both into
//! any sink; [`verify_output`] re-reads a finished file and checks every blob's SHA-1.
//!
//! Output is a function of the inputs and options only: times come from the options or the
//! package's CAB, and the GUID is derived from the source GUID and what was serviced.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::apply::{apply_packages, ChangeLog};
use super::plan::{full_reverse, rebuild_member, Prepared, PreparedPackage};
use super::rebuild::RtmFinder;
use crate::catalog::applicability::normalize_arch;
use crate::codec::Compression;
use crate::io::{Progress, SharedReader, WriteAt};
use crate::package::{AssemblyIdentity, Package, PayloadForm};
use crate::wim::meta_write::for_each_stream_ref;
use crate::wim::model::{Hash, ImageTree};
use crate::wim::read::VerifyReport;
use crate::wim::write::{WimWriter, WriteOptions, WriteSummary};
use crate::wim::xml::Arch;
use crate::wim::xml_write::{image_elements, ImageXml};
use crate::wim::Wim;
use crate::{Error, Result};

/// Largest single payload held in memory while it is added to the WIM.
pub const MAX_PAYLOAD: u64 = 512 << 20;

/// Choices for the patched WIM.
#[derive(Debug, Clone, Default)]
pub struct PatchOptions {
    /// Keep the input's compression and chunk size (default: LZX, 32 KiB chunks, as WinRE ships).
    pub keep_compression: bool,
    /// 1-based images to service; empty = all. Other images are copied unchanged.
    pub indices: Vec<u32>,
    /// FILETIME for LASTMODIFICATIONTIME and new entries; default: the newest package CAB time.
    pub time: Option<u64>,
    /// Append an integrity table.
    pub integrity: bool,
    /// Compress new data with the near-optimal LZX parse: the smallest output (about 0.5 % smaller
    /// than the default lazy parse on WinRE content, 1 % on mixed data) at several times the
    /// compression time. Default off: the lazy parse is within wimlib's default size + 2 % and
    /// keeps `patch` faster than the wimlib route (docs/decisions.md).
    pub best: bool,
}

/// What happened to one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImagePatch {
    /// 1-based index.
    pub index: u32,
    /// XML version before (`10.0.26100.1000`).
    pub version_before: Option<String>,
    /// XML version after.
    pub version_after: Option<String>,
    /// Files added, replaced, removed.
    pub changes: ChangeLog,
}

/// Everything decided before writing.
#[derive(Debug, Clone)]
pub struct PatchPlan {
    /// Output layout.
    pub write_options: WriteOptions,
    /// Time used (FILETIME).
    pub time: u64,
    /// One tree and XML per image of the output, in source order.
    images: Vec<(ImageTree, ImageXml)>,
    /// Per serviced image.
    pub patched: Vec<ImagePatch>,
}

/// The result of a patch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PatchOutcome {
    /// Per serviced image.
    pub images: Vec<ImagePatch>,
    /// Output GUID (hex).
    pub guid: String,
    /// Time used (FILETIME).
    pub time: u64,
    /// Output compression.
    pub compression: String,
    /// Output size in bytes (0 for a dry run).
    pub size: u64,
    /// Blobs copied from the input without recompression.
    pub raw_copied_blobs: u64,
    /// Bytes copied without recompression.
    pub raw_copied_bytes: u64,
    /// Packages serviced, in order.
    pub packages: Vec<String>,
    /// Remarks (e.g. the LCU body not applied to WinRE).
    pub notes: Vec<String>,
}

fn version_of(x: &ImageXml) -> Option<String> {
    let e = x.element();
    let g = |p: &str| e.get_path(p).map(|v| v.text().trim().to_string());
    Some(format!(
        "{}.{}.{}.{}",
        g("WINDOWS/VERSION/MAJOR")?,
        g("WINDOWS/VERSION/MINOR")?,
        g("WINDOWS/VERSION/BUILD")?,
        g("WINDOWS/VERSION/SPBUILD").unwrap_or_else(|| "0".into())
    ))
}

/// Compute the new trees, XML and output layout (nothing is written).
pub fn plan_patch(src: &Wim, prepared: &Prepared, opts: &PatchOptions) -> Result<PatchPlan> {
    let count = src.images().len() as u32;
    for &i in &opts.indices {
        if i == 0 || i > count {
            return Err(Error::invalid(
                "patch request",
                format!("image {i} does not exist; the WIM has {count} image(s)"),
            ));
        }
    }
    let time = opts.time.or_else(|| prepared.time()).ok_or_else(|| {
        Error::invalid(
            "patch request",
            "no time for the new image: the package has none, give one",
        )
    })?;
    let mut write_options = WriteOptions::like_source(src.header())?;
    if !opts.keep_compression {
        write_options.compression = Compression::Lzx;
        write_options.chunk_size = 32768;
    }
    write_options.integrity = opts.integrity;
    write_options.effort = if opts.best {
        crate::codec::Effort::Best
    } else {
        crate::codec::Effort::Fast
    };
    write_options.version_solid = false;

    let elements = image_elements(src.xml_text())?;
    if elements.len() != count as usize {
        return Err(Error::invalid(
            "patch request",
            format!(
                "the WIM XML describes {} images, the header {count}",
                elements.len()
            ),
        ));
    }
    let safeos = prepared.safeos_version().map(|v| v.0);
    let safeos_id = prepared.safeos_du();
    let mut images = Vec::new();
    let mut patched = Vec::new();
    for (i, el) in elements.iter().enumerate() {
        let index = i as u32 + 1;
        let mut tree = src.image_tree(index)?;
        let mut xml = ImageXml::from_source(el)?;
        if opts.indices.is_empty() || opts.indices.contains(&index) {
            let before = version_of(&xml);
            if let Some(id) = safeos_id {
                let build = xml
                    .element()
                    .get_path("WINDOWS/VERSION/BUILD")
                    .and_then(|b| b.text().trim().parse::<u32>().ok());
                let arch = src.images().get(i).and_then(|m| m.arch);
                if let Some(why) = safeos_mismatch(id, index, build, arch) {
                    return Err(Error::unsupported("servicing", why));
                }
            }
            let changes = apply_packages(&mut tree, &prepared.packages, time)?;
            if let Some(v) = safeos {
                // Microsoft: after the update the WinRE version "should be 10.0.<build>.<rev>".
                xml.set("WINDOWS/VERSION/SPBUILD", &v[1].to_string());
            }
            xml.set_last_modification_time(time);
            patched.push(ImagePatch {
                index,
                version_before: before,
                version_after: version_of(&xml),
                changes,
            });
        }
        images.push((tree, xml));
    }
    write_options.guid = derive_guid(src, prepared, opts, &write_options, time);
    Ok(PatchPlan {
        write_options,
        time,
        images,
        patched,
    })
}

fn derive_guid(
    src: &Wim,
    prepared: &Prepared,
    opts: &PatchOptions,
    w: &WriteOptions,
    time: u64,
) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"mediaprep patch v1\0");
    h.update(src.header().guid);
    for p in &prepared.packages {
        h.update(p.record.as_bytes());
        h.update([0]);
        h.update(crate::hash::sha1(&p.mum));
        for c in &p.components {
            h.update(c.folder.as_bytes());
            h.update(crate::hash::sha1(&c.manifest));
            for f in &c.files {
                h.update(f.sha1);
            }
        }
    }
    for i in &opts.indices {
        h.update(i.to_le_bytes());
    }
    h.update(time.to_le_bytes());
    h.update(w.compression.name().as_bytes());
    h.update(w.chunk_size.to_le_bytes());
    h.update([u8::from(w.integrity)]);
    let d = h.finalize();
    let mut g = [0u8; 16];
    g.copy_from_slice(&d[..16]);
    // An RFC 4122 name-based shape (version 5 bits), so tools that parse it see a valid GUID.
    g[6] = (g[6] & 0x0F) | 0x50;
    g[8] = (g[8] & 0x3F) | 0x80;
    g
}

/// Put every blob of the plan and then every image into `w`.
pub fn write_patch<W: WriteAt>(
    src: &Wim,
    prepared: &Prepared,
    plan: &PatchPlan,
    w: &mut WimWriter<W>,
    progress: &dyn Progress,
) -> Result<()> {
    // Source blobs first, in first-reference order (raw copies where the layout allows).
    let mut order: Vec<Hash> = Vec::new();
    let mut seen = HashSet::new();
    for (tree, _) in &plan.images {
        for_each_stream_ref(tree, |h| {
            if seen.insert(*h) {
                order.push(*h);
            }
        });
    }
    let from_src: Vec<Hash> = order
        .iter()
        .copied()
        .filter(|h| src.blob(h).is_some())
        .collect();
    let n = from_src.len() as u64;
    w.copy_blobs_from_wim(src, &from_src, progress, &mut |k| {
        progress.update("copying unchanged data", k as u64 + 1, n)
    })?;

    // Package payloads: kept from pass 1 where the cache allowed (added in batches, so their
    // chunks compress on every thread), otherwise streamed once more; each checked against pass
    // 1's SHA-1.
    for p in &prepared.packages {
        let mut want: std::collections::BTreeMap<usize, Hash> = Default::default();
        add_rebuilt(src, prepared, p, &seen, w, progress)?;
        for c in &p.components {
            for f in c.files.iter().filter(|f| f.form == PayloadForm::Full) {
                if seen.contains(&f.sha1) && !w.has_blob(&f.sha1) {
                    if f.size > MAX_PAYLOAD {
                        return Err(Error::limit(
                            f.size,
                            MAX_PAYLOAD,
                            format!(
                            "{} is {} bytes; payloads over {MAX_PAYLOAD} bytes are not supported",
                            f.name, f.size
                        ),
                        ));
                    }
                    want.insert(f.member, f.sha1);
                }
            }
        }
        let changed = |i: usize, got: &Hash| Error::DigestMismatch {
            what: format!(
                "{}: member {} changed since it was checked",
                p.label, p.package.members[i].name
            ),
            expected: crate::hash::hex(&want[&i]),
            actual: crate::hash::hex(got),
        };
        let cached: Vec<usize> = want
            .keys()
            .copied()
            .filter(|i| p.payloads.contains_key(i))
            .collect();
        let total: u64 = want
            .keys()
            .filter_map(|&i| p.package.members.get(i))
            .map(|m| m.size)
            .sum();
        let mut done = 0u64;
        for batch in batches(&cached, |i| p.payloads[&i].len() as u64) {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let data: Vec<&[u8]> = batch.iter().map(|i| p.payloads[i].as_slice()).collect();
            let got = w.add_blobs(&data)?;
            for (i, h) in batch.iter().zip(&got) {
                if *h != want[i] {
                    return Err(changed(*i, h));
                }
            }
            done += data.iter().map(|d| d.len() as u64).sum::<u64>();
            progress.update("adding package payloads", done, total);
        }
        let members: Vec<usize> = want
            .keys()
            .copied()
            .filter(|i| !p.payloads.contains_key(i))
            .collect();
        let mut cur: Option<(usize, Vec<u8>)> = None;
        let flush = |cur: &mut Option<(usize, Vec<u8>)>, w: &mut WimWriter<W>| -> Result<()> {
            if let Some((i, data)) = cur.take() {
                let got = w.add_blob(&data)?;
                if got != want[&i] {
                    return Err(changed(i, &got));
                }
            }
            Ok(())
        };
        if !members.is_empty() {
            p.package
                .archive()
                .stream_members(&members, &mut |i, piece| {
                    if progress.cancelled() {
                        return Err(Error::Cancelled);
                    }
                    if cur.as_ref().map(|c| c.0) != Some(i) {
                        flush(&mut cur, w)?;
                        cur = Some((i, Vec::new()));
                    }
                    let buf = &mut cur.as_mut().expect("set above").1;
                    if buf.len() as u64 + piece.len() as u64 > MAX_PAYLOAD {
                        return Err(Error::limit(
                            buf.len() as u64 + piece.len() as u64,
                            MAX_PAYLOAD,
                            format!("payload larger than {MAX_PAYLOAD} bytes"),
                        ));
                    }
                    buf.extend_from_slice(piece);
                    done += piece.len() as u64;
                    progress.update("adding package payloads", done, total);
                    Ok(())
                })?;
        }
        flush(&mut cur, w)?;
        // Only what a tree references (a component skipped for a newer one in the image is not).
        let small = p
            .components
            .iter()
            .map(|c| c.manifest.as_slice())
            .chain(std::iter::once(p.mum.as_slice()))
            .chain(p.cat.as_deref());
        for bytes in small {
            if seen.contains(&crate::hash::sha1(bytes)) {
                w.add_blob(bytes)?;
            }
        }
    }
    for (tree, xml) in &plan.images {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        w.add_image(tree, xml.clone())?;
    }
    Ok(())
}

/// The files of `p` rebuilt from deltas, and their `r\` deltas: from pass 1's cache, or rebuilt
/// once more (same bytes, their SHA-1 checked against pass 1's) when the cache could not hold them.
fn add_rebuilt<W: WriteAt>(
    src: &Wim,
    prepared: &Prepared,
    p: &PreparedPackage,
    seen: &HashSet<Hash>,
    w: &mut WimWriter<W>,
    progress: &dyn Progress,
) -> Result<()> {
    let mut finder: Option<RtmFinder> = None;
    fn finder_for<'w>(
        finder: &mut Option<RtmFinder<'w>>,
        src: &'w Wim,
        base_images: &[u32],
    ) -> Result<()> {
        if finder.is_none() && !base_images.is_empty() {
            *finder = Some(RtmFinder::over(src, base_images)?);
        }
        Ok(())
    }
    for (c, pc) in p.package.components.iter().zip(&p.components) {
        for (f, pf) in c.files.iter().zip(&pc.files) {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let rev = pf
                .reverse
                .filter(|r| seen.contains(&r.sha1) && !w.has_blob(&r.sha1));
            if pf.form == PayloadForm::Full {
                // The file itself goes with the payloads; here only its r\ (see full_reverse).
                let Some(want) = rev else { continue };
                let again;
                let bytes = match p.reverses.get(&pf.member) {
                    Some(r) => r.as_slice(),
                    None => {
                        finder_for(&mut finder, src, &prepared.base_images)?;
                        let img = finder.as_ref().ok_or_else(|| {
                            Error::invalid(
                                "patch request",
                                format!("{}: no image for the r\\ of {}", p.label, f.name),
                            )
                        })?;
                        again = full_reverse(
                            p.package,
                            c,
                            f,
                            pf.member,
                            p.payloads.get(&pf.member),
                            img,
                        )?
                        .ok_or_else(|| {
                            Error::invalid(
                                "patch request",
                                format!(
                                    "{}: the RTM base of {} is gone since pass 1",
                                    p.label, f.name
                                ),
                            )
                        })?;
                        again.as_slice()
                    }
                };
                let got = w.add_blob(bytes)?;
                if got != want.sha1 {
                    return Err(Error::DigestMismatch {
                        what: format!(
                            "{}: the r\\ delta of {} differs from pass 1",
                            p.label, f.name
                        ),
                        expected: crate::hash::hex(&want.sha1),
                        actual: crate::hash::hex(&got),
                    });
                }
                continue;
            }
            let new_wanted = pf.size > 0 && seen.contains(&pf.sha1) && !w.has_blob(&pf.sha1);
            if !new_wanted && rev.is_none() {
                continue;
            }
            let again;
            let (new, r) = match (p.rebuilt.get(&pf.member), p.reverses.get(&pf.member)) {
                (Some(n), r) if rev.is_none() || r.is_some() => {
                    (n.as_slice(), r.map(Vec::as_slice))
                }
                _ => {
                    finder_for(&mut finder, src, &prepared.base_images)?;
                    again = rebuild_member(p.package, c, f, pf.form, pf.member, finder.as_ref())?;
                    (again.0.as_slice(), again.1.as_deref())
                }
            };
            let check = |got: Hash, want: Hash, what: &str| {
                if got == want {
                    Ok(())
                } else {
                    Err(Error::DigestMismatch {
                        what: format!("{}: {what} of {} differs from pass 1", p.label, f.name),
                        expected: crate::hash::hex(&want),
                        actual: crate::hash::hex(&got),
                    })
                }
            };
            if new_wanted {
                check(w.add_blob(new)?, pf.sha1, "the rebuilt file")?;
            }
            if let (Some(want), Some(bytes)) = (rev, r) {
                check(w.add_blob(bytes)?, want.sha1, "the r\\ delta")?;
            }
        }
    }
    Ok(())
}

/// Uncompressed bytes per [`WimWriter::add_blobs`] call: enough chunks to keep every thread busy,
/// little enough that the batch's compressed copy stays small.
const PAYLOAD_BATCH: u64 = 8 << 20;

/// Split `items` into runs of about [`PAYLOAD_BATCH`] bytes (a larger item is a run of its own).
fn batches(items: &[usize], size: impl Fn(usize) -> u64) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (k, &i) in items.iter().enumerate() {
        if k > start && bytes + size(i) > PAYLOAD_BATCH {
            out.push(&items[start..k]);
            (start, bytes) = (k, 0);
        }
        bytes += size(i);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// Why the Safe OS DU `id` does not apply to image `index` of a WinRE whose XML says `build` and
/// `arch`: another build, or another architecture; `None` when it applies or the XML (or the
/// package identity) does not say.
fn safeos_mismatch(
    id: &AssemblyIdentity,
    index: u32,
    build: Option<u32>,
    arch: Option<Arch>,
) -> Option<String> {
    if let (Some(v), Some(build)) = (id.version_parts(), build) {
        if v.0[0] != build {
            return Some(format!(
                "the Safe OS Dynamic Update is for build {} but image {index} is build {build}",
                v.0[0]
            ));
        }
    }
    let want = normalize_arch(&id.processor_architecture)?;
    let have = normalize_arch(&arch?.code().to_string())?;
    (want != have)
        .then(|| format!("the Safe OS Dynamic Update is for {want} but image {index} is {have}"))
}

/// Refuse, before anything is read or written, when the Safe OS DU among `packages` (the last,
/// as servicing takes it) is for another build or architecture than an image of `winre`
/// ([`Error::Unsupported`], the words [`plan_patch`] would give). Packages without an identity
/// are left to selection.
pub fn check_safeos_applies(winre: &Wim, packages: &[Package]) -> Result<()> {
    let selection = super::select_packages(packages);
    let Some(id) = selection
        .serviced
        .iter()
        .rev()
        .find(|s| s.kind == crate::cbs::PackageKind::SafeOsDu)
        .and_then(|s| s.package.identity.as_ref())
    else {
        return Ok(());
    };
    for img in winre.images() {
        if let Some(why) = safeos_mismatch(id, img.index, img.build, img.arch) {
            return Err(Error::unsupported("servicing", why));
        }
    }
    Ok(())
}

/// The outcome record for a plan (and the summary of its write, when there was one).
pub fn outcome(
    prepared: &Prepared,
    plan: &PatchPlan,
    summary: Option<&WriteSummary>,
) -> PatchOutcome {
    PatchOutcome {
        images: plan.patched.clone(),
        guid: crate::hash::hex(&plan.write_options.guid),
        time: plan.time,
        compression: plan.write_options.compression.name().to_string(),
        size: summary.map_or(0, |s| s.file_size),
        raw_copied_blobs: summary.map_or(0, |s| s.raw_copied_blobs),
        raw_copied_bytes: summary.map_or(0, |s| s.raw_copied_bytes),
        packages: prepared.packages.iter().map(|p| p.label.clone()).collect(),
        notes: prepared.notes.clone(),
    }
}

/// Plan and write a patched WIM into `sink`; returns the outcome and the sink. The caller verifies
/// the result with [`verify_output`] before calling it done.
pub fn patch_wim<W: WriteAt>(
    src: &Wim,
    prepared: &Prepared,
    opts: &PatchOptions,
    sink: W,
    progress: &dyn Progress,
) -> Result<(PatchOutcome, W)> {
    let plan = plan_patch(src, prepared, opts)?;
    let mut w = WimWriter::new(sink, plan.write_options.clone())?;
    write_patch(src, prepared, &plan, &mut w, progress)?;
    let (summary, sink) = w.finish_into_sink()?;
    Ok((outcome(prepared, &plan, Some(&summary)), sink))
}

/// Re-open a written WIM and check every blob's SHA-1; any failure is an error.
pub fn verify_output(out: SharedReader, progress: &dyn Progress) -> Result<VerifyReport> {
    verify_written(out, &Default::default(), progress)
}

/// [`verify_output`] for a WIM whose writer raw-copied the resources in `copied`
/// ([`WriteSummary::copied`]): those are checked against the bytes read from the source
/// (CRC-32, sizes, flags), every other blob by its SHA-1 (docs/decisions.md 22).
pub fn verify_written(
    out: SharedReader,
    copied: &std::collections::HashMap<Hash, crate::wim::CopiedResource>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let wim = Wim::open(out)?;
    let rep =
        wim.verify_blobs_copied(crate::codec::parallel::default_threads(), copied, progress)?;
    if let Some((h, why)) = rep.failures.first() {
        return Err(Error::DigestMismatch {
            what: format!(
                "written WIM: blob {h} ({} of {} failed)",
                rep.failures.len(),
                rep.failures.len() as u64 + rep.ok
            ),
            expected: "every blob matches its SHA-1".into(),
            actual: why.clone(),
        });
    }
    for i in 1..=wim.images().len() as u32 {
        wim.image_tree(i)?;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn du(version: &str, arch: &str) -> AssemblyIdentity {
        AssemblyIdentity {
            name: "Package_for_SafeOSDU".into(),
            version: version.into(),
            processor_architecture: arch.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_safeos_du_fits_only_its_build_and_architecture() {
        let id = du("26100.8037.1.0", "amd64");
        assert_eq!(safeos_mismatch(&id, 1, Some(26100), Some(Arch::X64)), None);
        let build = safeos_mismatch(&id, 2, Some(22621), Some(Arch::X64)).unwrap();
        assert!(
            build.contains("build 26100 but image 2 is build 22621"),
            "{build}"
        );
        let arch = safeos_mismatch(&id, 1, Some(26100), Some(Arch::Arm64)).unwrap();
        assert!(arch.contains("for x64 but image 1 is arm64"), "{arch}");
        // What the XML or the identity does not say is not held against the package.
        assert_eq!(safeos_mismatch(&id, 1, None, None), None);
        assert_eq!(
            safeos_mismatch(&du("26100.8037.1.0", "neutral"), 1, None, Some(Arch::Arm64)),
            None
        );
        assert_eq!(safeos_mismatch(&id, 1, None, Some(Arch::Ia64)), None);
    }
}
