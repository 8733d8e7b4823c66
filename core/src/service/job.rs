//! The patch job, whole: the one place that turns "these media files, these packages, this
//! target" into a verified output. The CLI (`mediaprep patch`) and the browser worker both call
//! [`run_patch`]; they only parse their arguments, supply an [`OutputStore`] and show the
//! [`PatchReport`], so one input gives the same bytes in both.
//!
//! The steps: locate the WIM to service in the opened media (ISO → `/sources/install.wim` → image
//! 1's WinRE, each container opened once), open and select the packages (a refusal is
//! [`Error::Refused`] with the DISM hand-off script, before anything is written), plan, write
//! through the store under a temporary name, re-read (SHA-256 of the file, then every blob's SHA-1),
//! commit.

use std::sync::Arc;

use super::install::{
    winre_groups, InstallOptions, NewWinre, WinreGroup, WinreReplacement, WINRE_PATH,
};
use super::manifests::{decode_for_image, forget_decoded};
use super::rebuild::RtmFinder;
use super::setup::{expand_to_zip, SetupExpansion, ZipOptions};
use super::winre::{
    check_safeos_applies, outcome, plan_patch, verify_written, write_patch, PatchOptions,
    PatchOutcome, PatchPlan,
};
use super::{prepare_in, select_packages, Prepared};
use crate::codec::parallel::Backend;
use crate::hash::{digest_reader, FileDigests};
use crate::io::{OutputStore, Part, Progress, ReadAt, SharedReader, SinkCursor};
use crate::media::{self, Node, Target};
use crate::package::{open_package, Package};
use crate::wim::format::ResHdr;
use crate::wim::write::{WimWriter, WriteSummary};
use crate::wim::Wim;
use crate::{Error, Result};

/// What a patch produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PatchTarget {
    /// A standalone patched WinRE.wim (for the recovery partition).
    #[default]
    Winre,
    /// install.wim with the patched WinRE in every selected edition.
    Install,
    /// The Setup DU expanded for the media's `sources\` folder, as a ZIP.
    Setup,
    /// The whole ISO rebuilt: install.wim with the serviced WinRE, Setup DU files in `sources\`
    /// (`service::media_out`).
    Iso,
    /// The same tree written into a directory for a USB stick, install.wim split over the limit
    /// (`service::media_out::run_patch_to_folder`).
    Folder,
}

/// Everything the caller chooses about a patch (the CLI's flags; the browser sets the same ones).
#[derive(Debug, Clone, Default)]
pub struct PatchRequest {
    /// What to produce.
    pub target: PatchTarget,
    /// Layers from the opened media to the WIM to service (as in `mediaprep ls`); empty: found
    /// by the rules of [`run_patch`].
    pub layers: Vec<String>,
    /// The serviced WinRE's options. `indices` are the WinRE's images for [`PatchTarget::Winre`]
    /// and the editions whose WinRE is replaced for [`PatchTarget::Install`] (empty: all);
    /// `integrity` adds a table where the input has none (one that has one keeps it);
    /// `time` (FILETIME) also dates the Setup DU ZIP's entries.
    pub options: PatchOptions,
    /// Plan only: nothing is written.
    pub dry_run: bool,
    /// Where chunks are compressed (the browser's worker pool); `None`: threads. Same bytes.
    pub backend: Option<Backend>,
}

/// The written output: its size and SHA-256, as read back from the medium.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file (hex in JSON).
    #[serde(with = "crate::hash::hex_serde")]
    pub sha256: [u8; 32],
    /// Blobs copied from the input without recompression (WIM outputs).
    pub raw_copied_blobs: u64,
}

/// What [`run_patch`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PatchReport {
    /// The target.
    pub target: PatchTarget,
    /// What was serviced, as layers (`media.iso → /sources/install.wim → 1:/Windows/…`), or the
    /// Setup DU's name.
    pub input: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// The serviced WinRE (WinRE and install targets).
    pub winre: Option<PatchOutcome>,
    /// The selected editions (install target: before writing, their indices; after, each
    /// edition's outcome).
    pub editions: Vec<super::install::ImageOutcome>,
    /// The editions chosen (install target).
    pub selected: Vec<u32>,
    /// The files expanded (setup target).
    pub setup: Option<SetupExpansion>,
    /// The committed output (absent for a dry run).
    pub written: Option<Written>,
    /// Install target: each distinct WinRE the selected editions carried, serviced once (in the
    /// order of their first edition; `winre` above is the first group's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub winre_groups: Vec<WinreGroupReport>,
}

/// Install target: one WinRE the selected editions carried, and what it became.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WinreGroupReport {
    /// The editions (1-based) that carried this WinRE and now carry its serviced form.
    pub editions: Vec<u32>,
    /// SHA-1 of the WinRE blob they carried (hex).
    pub winre_sha1: String,
    /// Its servicing: each image's version before and after, packages, notes.
    pub winre: PatchOutcome,
    /// The serviced WinRE as staged and read back (absent for a dry run).
    pub serviced: Option<StagedWinre>,
}

/// A serviced WinRE.wim as read back from its stage, before it went into install.wim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StagedWinre {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file (hex in JSON): what `wimlib-imagex extract` of an edition's
    /// `Windows/System32/Recovery/Winre.wim` gives.
    #[serde(with = "crate::hash::hex_serde")]
    pub sha256: [u8; 32],
    /// SHA-1 of the file (hex): the blob the editions' WinRE entries point to.
    pub sha1: String,
}

const WINRE_LAYER: &str = "1:/Windows/System32/Recovery/Winre.wim";
const INSTALL_LAYER: &str = "/sources/install.wim";

/// The WIM a target services, found in the opened media.
pub(super) struct Located {
    pub(super) label: String,
    pub(super) wim: Arc<Wim>,
    pub(super) size: u64,
}

/// Follow `layers` from the opened media, then the default rules: an ISO leads to
/// `/sources/install.wim`; for the WinRE target, a WIM whose image 1 holds
/// `Windows/System32/Recovery/Winre.wim` leads to that WinRE. Every container is opened once.
pub(super) fn locate(
    media: Vec<(String, SharedReader)>,
    layers: &[String],
    target: PatchTarget,
) -> Result<Located> {
    let parts = media.len();
    let mut size: u64 = media.iter().map(|(_, r)| r.size()).sum();
    let (name, root) = media::open_files(media)?;
    let mut label = vec![name];
    let mut node = if layers.is_empty() {
        root
    } else {
        label.extend(layers.iter().cloned());
        match media::descend(root, layers)? {
            Target::File(r, _) => {
                size = r.size();
                media::open_node(r, &label.join(" → "))?
            }
            Target::Node(_) | Target::Dir(_) => {
                return Err(Error::invalid(
                    "patch request",
                    "the layers must end on a WIM file (e.g. /sources/install.wim)",
                ))
            }
        }
    };
    let mut in_winre = layers.iter().any(|l| l.ends_with(WINRE_PATH));
    loop {
        let (r, layer) = match &node {
            Node::Iso(iso) => {
                let r = iso.open_file(INSTALL_LAYER).map_err(|e| match e {
                    Error::NotFound { .. } => Error::not_found(
                        "install image",
                        format!("{}: no {INSTALL_LAYER}", label.join(" → ")),
                    ),
                    e => e,
                })?;
                (r, INSTALL_LAYER)
            }
            Node::Wim(wim) if target == PatchTarget::Winre && !in_winre => {
                let tree = wim.image_tree(1)?;
                match tree.lookup(WINRE_PATH) {
                    Ok(at) => {
                        in_winre = true;
                        let r: SharedReader = Arc::new(wim.open_data(&tree.nodes[at])?);
                        (r, WINRE_LAYER)
                    }
                    Err(_) => return finish(label, node, size, parts, target),
                }
            }
            _ => return finish(label, node, size, parts, target),
        };
        label.push(layer.to_string());
        size = r.size();
        node = media::open_node(r, &label.join(" → "))?;
    }
}

fn finish(
    label: Vec<String>,
    node: Node,
    size: u64,
    parts: usize,
    target: PatchTarget,
) -> Result<Located> {
    let descended = label.len() > 1;
    let label = label.join(" → ");
    match node {
        // A split set is read, not rewritten: a WinRE inside it is a file of its own.
        Node::Wim(_) if parts > 1 && !descended => Err(Error::unsupported(
            "servicing",
            match target {
                PatchTarget::Install => "replacing WinRE in a split (.swm) set",
                _ => "servicing a split (.swm) set directly",
            },
        )),
        Node::Wim(wim) => Ok(Located { label, wim, size }),
        _ => Err(Error::invalid(
            "patch request",
            format!("{label}: no WIM to service: open an ISO, an install.wim or a Winre.wim"),
        )),
    }
}

/// The WinRE stages an install, ISO or folder job on `media` writes: `Part::WinreStage(k)` for
/// each distinct WinRE among the selected editions (none for the other targets), for a store
/// that must open its temporary files before the job starts (the browser's OPFS). Opens the
/// media and reads the selected editions' trees; when that fails, one stage (the job then
/// reports why itself).
pub fn winre_stages(request: &PatchRequest, media: &[(String, SharedReader)]) -> Vec<Part> {
    let count = |layers: &[String]| -> Result<usize> {
        let found = locate(media.to_vec(), layers, PatchTarget::Install)?;
        Ok(winre_groups(&found.wim, &selected_editions(&found.wim, request))?.len())
    };
    let n = match request.target {
        PatchTarget::Install => count(&request.layers),
        PatchTarget::Iso | PatchTarget::Folder if request.layers.is_empty() => {
            count(&[]).or_else(|_| count(&[super::media_out::INSTALL_ESD.to_string()]))
        }
        PatchTarget::Iso | PatchTarget::Folder => count(&request.layers),
        PatchTarget::Winre | PatchTarget::Setup => return Vec::new(),
    };
    let n = n.unwrap_or(1).clamp(1, u16::MAX as usize);
    (0..n as u16).map(Part::WinreStage).collect()
}

/// Open every package under its file name; an unreadable one is named as refused.
pub(super) fn open_packages(files: Vec<(String, SharedReader)>) -> Result<Vec<Package>> {
    files
        .into_iter()
        .map(|(name, r)| {
            open_package(r, &name).map_err(|e| match e {
                Error::Invalid { reason: m, .. } => {
                    Error::invalid("patch request", format!("{name} is refused: {m}"))
                }
                other => other,
            })
        })
        .collect()
}

fn has_integrity(wim: &Wim) -> bool {
    wim.header().integrity != ResHdr::default()
}

/// Write `part` through the store: `build` fills the sink, then the file is re-read, hashed
/// (SHA-256; SHA-1 too for a part that becomes a WIM blob, the WinRE stage) and `check`ed. On any
/// error the part is discarded.
fn write_checked<S: OutputStore, T>(
    store: &mut S,
    part: Part,
    progress: &dyn Progress,
    build: impl FnOnce(S::Sink) -> Result<(T, S::Sink)>,
    check: impl FnOnce(&T, SharedReader) -> Result<()>,
) -> Result<(T, FileDigests, SharedReader)> {
    let res = (|| {
        let sink = store.create(part)?;
        let (v, sink) = build(sink)?;
        let back = store.reopen(part, sink)?;
        let d = digest_and_check(&back, matches!(part, Part::WinreStage(_)), progress, || {
            check(&v, back.clone())
        })?;
        Ok((v, d, back))
    })();
    if res.is_err() {
        store.discard(part);
    }
    res
}

/// The digests of `back` and the job's own `check` of it: two independent reads of the same
/// file, run side by side where there are threads (the SHA-256 pass and the verification each
/// take a core; in the browser's worker they run one after the other).
fn digest_and_check(
    back: &SharedReader,
    with_sha1: bool,
    progress: &dyn Progress,
    check: impl FnOnce() -> Result<()>,
) -> Result<FileDigests> {
    let digest = || digest_reader(&**back, 8 << 20, with_sha1, progress);
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::scope(|s| {
            let hashing = s.spawn(digest);
            let checked = check();
            let digests = hashing.join().map_err(|_| {
                Error::io(
                    "hashing the output",
                    std::io::Error::other("the hashing thread panicked"),
                )
            })?;
            checked?;
            digests
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        let digests = digest()?;
        check()?;
        Ok(digests)
    }
}

/// Run a patch: service `packages` into what `request` finds in `media` (or expand the Setup DU)
/// and commit the verified output to `store`. `media` and `packages` are `(file name, reader)`;
/// several media files are the parts of one split WIM.
pub fn run_patch<S: OutputStore>(
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    store: &mut S,
    progress: &dyn Progress,
) -> Result<PatchReport> {
    let target = request.target;
    let mut job = Job {
        request,
        store,
        progress,
    };
    if target == PatchTarget::Setup {
        return job.setup(packages);
    }
    if target == PatchTarget::Iso {
        return super::media_out::iso_target(request, media, packages, store, progress);
    }
    if target == PatchTarget::Folder {
        return Err(Error::invalid(
            "patch request",
            "the folder target writes a directory: call run_patch_to_folder",
        ));
    }
    let found = locate(media, &request.layers, target)?;
    let mut packages = open_packages(packages)?;
    match target {
        PatchTarget::Install => job.install(found, &mut packages),
        _ => job.winre(found, &mut packages),
    }
}

/// One run: the request, where its outputs go, and whom to tell.
pub(super) struct Job<'a, S: OutputStore> {
    pub(super) request: &'a PatchRequest,
    pub(super) store: &'a mut S,
    pub(super) progress: &'a dyn Progress,
}

pub(super) fn report(request: &PatchRequest, input: String) -> PatchReport {
    PatchReport {
        target: request.target,
        input,
        dry_run: request.dry_run,
        winre: None,
        editions: Vec::new(),
        selected: Vec::new(),
        setup: None,
        written: None,
        winre_groups: Vec::new(),
    }
}

/// Decode the packages' DCM manifests with the base of the stack that services them, select and
/// check the packages (pass 1: payloads shipped as deltas rebuilt on the image's RTM files), then
/// plan the serviced WinRE `wim`.
fn plan_winre<'p>(
    request: &PatchRequest,
    wim: &Wim,
    packages: &'p mut [Package],
    indices: Vec<u32>,
    progress: &dyn Progress,
) -> Result<(Prepared<'p>, PatchPlan)> {
    // Payloads shipped as deltas are rebuilt once for every serviced image, on the RTM bases
    // of all of them (which must agree, `RtmFinder::rtm`).
    let images: Vec<u32> = if indices.is_empty() {
        (1..=wim.images().len() as u32).collect()
    } else {
        indices.clone()
    };
    let finder = RtmFinder::over(wim, &images)?;
    let decoded = decode_for_image(packages, &finder);
    let packages: &'p [Package] = packages;
    let mut prepared = prepare_in(&select_packages(packages), Some(&finder), progress)?;
    prepared.notes.extend(decoded);
    let opts = PatchOptions {
        indices,
        integrity: request.options.integrity || has_integrity(wim),
        ..request.options.clone()
    };
    let mut plan = plan_patch(wim, &prepared, &opts)?;
    plan.write_options.backend = request.backend.clone();
    Ok((prepared, plan))
}

/// The editions the install target replaces WinRE in: the request's, or every one.
fn selected_editions(install: &Wim, request: &PatchRequest) -> Vec<u32> {
    if request.options.indices.is_empty() {
        (1..=install.images().len() as u32).collect()
    } else {
        request.options.indices.clone()
    }
}

/// Why group `g`'s WinRE cannot be serviced, naming its editions ([`Error::WinreGroup`]). A
/// refusal keeps its DISM hand-off (the page and the CLI show it) and names the editions in its
/// notes; a cancellation stays one.
fn group_error(g: &WinreGroup, e: Error) -> Error {
    match e {
        Error::Cancelled => Error::Cancelled,
        Error::Refused(mut r) => {
            r.notes.push(format!(
                "refused for the WinRE of editions {:?} (SHA-1 {})",
                g.editions,
                crate::hash::hex(&g.winre)
            ));
            Error::Refused(r)
        }
        e => Error::WinreGroup {
            editions: g.editions.clone(),
            winre: crate::hash::hex(&g.winre),
            reason: Box::new(e),
        },
    }
}

fn group_report(
    g: &WinreGroup,
    winre: PatchOutcome,
    serviced: Option<StagedWinre>,
) -> WinreGroupReport {
    WinreGroupReport {
        editions: g.editions.clone(),
        winre_sha1: crate::hash::hex(&g.winre),
        winre,
        serviced,
    }
}

/// Write the serviced WinRE as `part`, read it back and check every blob.
fn write_winre<S: OutputStore>(
    store: &mut S,
    part: Part,
    wim: &Wim,
    (prepared, plan): (&Prepared, &PatchPlan),
    progress: &dyn Progress,
) -> Result<(WriteSummary, FileDigests, SharedReader)> {
    write_checked(
        store,
        part,
        progress,
        |sink| {
            let mut w = WimWriter::new(sink, plan.write_options.clone())?;
            write_patch(wim, prepared, plan, &mut w, progress)?;
            w.finish_into_sink()
        },
        |summary, back| verify_written(back, &summary.copied, progress).map(|_| ()),
    )
}

fn payload_size(packages: &[Package]) -> u64 {
    packages.iter().map(|p| p.source().size()).sum()
}

impl<S: OutputStore> Job<'_, S> {
    /// The WinRE target: the serviced WIM itself.
    fn winre(&mut self, found: Located, packages: &mut [Package]) -> Result<PatchReport> {
        let (request, progress) = (self.request, self.progress);
        let store = &mut *self.store;
        let wim = &*found.wim;
        let payload_bytes = payload_size(packages);
        let (prepared, plan) = plan_winre(
            request,
            wim,
            packages,
            request.options.indices.clone(),
            progress,
        )?;
        let mut rep = report(request, found.label);
        if request.dry_run {
            rep.winre = Some(outcome(&prepared, &plan, None));
            return Ok(rep);
        }
        // The output is about the input plus the payloads.
        store.reserve(
            found
                .size
                .saturating_add(payload_bytes)
                .saturating_add(16 << 20),
        )?;
        let (summary, digests, back) =
            write_winre(store, Part::Output, wim, (&prepared, &plan), progress)?;
        drop(back);
        store.commit(Part::Output)?;
        rep.winre = Some(outcome(&prepared, &plan, Some(&summary)));
        rep.written = Some(Written {
            size: digests.size,
            sha256: digests.sha256,
            raw_copied_blobs: summary.raw_copied_blobs,
        });
        Ok(rep)
    }

    /// The install target: the serviced WinRE in every selected edition of install.wim.
    fn install(&mut self, found: Located, packages: &mut [Package]) -> Result<PatchReport> {
        let (rep, back) = self.install_into(found, packages, Part::Output)?;
        if back.is_some() {
            drop(back);
            self.store.commit(Part::Output)?;
        }
        Ok(rep)
    }

    /// [`Job::install`] written, re-read and verified as `part`, not committed; the reader of
    /// what was written (`None` for a dry run).
    ///
    /// The selected editions are grouped by the WinRE blob they carry; each group's WinRE is
    /// checked against the Safe OS DU first (all of them before anything is serviced), then
    /// serviced one after the other into its own stage (`Part::WinreStage(k)`), and install.wim
    /// is written once with each edition pointing to its group's serviced WinRE.
    pub(super) fn install_into(
        &mut self,
        found: Located,
        packages: &mut [Package],
        part: Part,
    ) -> Result<(PatchReport, Option<SharedReader>)> {
        let (request, progress) = (self.request, self.progress);
        let store = &mut *self.store;
        let install = &*found.wim;
        let selected = selected_editions(install, request);
        let groups = winre_groups(install, &selected)?;
        let many = groups.len() > 1;
        let in_group = |g: &WinreGroup, e: Error| if many { group_error(g, e) } else { e };
        // Every WinRE is opened and checked against the packages before any is serviced, so a
        // group the Safe OS DU does not fit refuses the run before anything is written.
        let mut winres = Vec::with_capacity(groups.len());
        for g in &groups {
            let blob = install.open_blob(&g.winre)?;
            let size = blob.size();
            let wim = Wim::open(Arc::new(blob))?;
            check_safeos_applies(&wim, packages).map_err(|e| in_group(g, e))?;
            winres.push((wim, size));
        }
        if groups.len() > u16::MAX as usize {
            return Err(Error::limit(
                groups.len(),
                u16::MAX,
                "distinct WinRE images in the selected editions",
            ));
        }
        let payload_bytes = payload_size(packages);
        let mut rep = report(request, found.label);
        rep.selected = selected.clone();
        if request.dry_run {
            for (g, (wim, _)) in groups.iter().zip(&winres) {
                forget_decoded(packages);
                let (prepared, plan) = plan_winre(request, wim, packages, Vec::new(), progress)
                    .map_err(|e| in_group(g, e))?;
                rep.winre_groups
                    .push(group_report(g, outcome(&prepared, &plan, None), None));
            }
            rep.winre = rep.winre_groups.first().map(|g| g.winre.clone());
            return Ok((rep, None));
        }
        // Room for each new WinRE (about the old one plus the payloads) twice: once on its own,
        // once inside the new install.wim next to everything carried over.
        let winre_room = winres.iter().fold(0u64, |room, (_, size)| {
            room.saturating_add(size.saturating_add(payload_bytes))
        });
        store.reserve(
            found
                .size
                .saturating_add(winre_room.saturating_mul(2))
                .saturating_add(32 << 20),
        )?;
        let res = (|| {
            // One group at a time: its plan (decoded payloads) is dropped before the next.
            let mut stages = Vec::with_capacity(groups.len());
            let mut time = None;
            for (k, (g, (wim, _))) in groups.iter().zip(&winres).enumerate() {
                forget_decoded(packages);
                let (prepared, plan) = plan_winre(request, wim, packages, Vec::new(), progress)
                    .map_err(|e| in_group(g, e))?;
                let (wsummary, wd, stage) = write_winre(
                    store,
                    Part::WinreStage(k as u16),
                    wim,
                    (&prepared, &plan),
                    progress,
                )?;
                let sha1 = wd.sha1.ok_or_else(|| {
                    Error::invalid("patch request", "the WinRE stage was hashed without SHA-1")
                })?;
                time.get_or_insert(plan.time);
                let staged = StagedWinre {
                    size: wd.size,
                    sha256: wd.sha256,
                    sha1: crate::hash::hex(&sha1),
                };
                let done = outcome(&prepared, &plan, Some(&wsummary));
                rep.winre_groups.push(group_report(g, done, Some(staged)));
                stages.push((stage, wd.size, sha1));
            }
            let news = groups
                .iter()
                .zip(&stages)
                .map(|(g, (stage, size, sha1))| {
                    let new = NewWinre {
                        src: &**stage,
                        size: *size,
                        sha1: *sha1,
                    };
                    (new, g.editions.clone())
                })
                .collect();
            let job = WinreReplacement::grouped(
                install,
                news,
                &InstallOptions {
                    modification_time: time,
                    ..Default::default()
                },
            )?
            .with_backend(request.backend.clone());
            write_checked(
                store,
                part,
                progress,
                |sink| job.write(sink, progress),
                |summary, back| {
                    job.verify_copied(
                        &Wim::open(back)?,
                        &summary.images,
                        &summary.write.copied,
                        progress,
                    )
                    .map(|_| ())
                },
            )
        })();
        for k in 0..groups.len() {
            store.discard(Part::WinreStage(k as u16));
        }
        let (summary, digests, back) = res?;
        rep.winre = rep.winre_groups.first().map(|g| g.winre.clone());
        rep.editions = summary.images;
        rep.written = Some(Written {
            size: digests.size,
            sha256: digests.sha256,
            raw_copied_blobs: summary.write.raw_copied_blobs,
        });
        Ok((rep, Some(back)))
    }

    /// The setup target: the Setup DU's files for `sources\`, as a ZIP.
    fn setup(&mut self, packages: Vec<(String, SharedReader)>) -> Result<PatchReport> {
        let (request, progress) = (self.request, self.progress);
        let store = &mut *self.store;
        let [(name, reader)] = <[_; 1]>::try_from(packages).map_err(|_| {
            Error::invalid(
                "patch request",
                "the Setup DU target takes exactly one package (the Setup DU .cab)",
            )
        })?;
        if request.dry_run {
            return Err(Error::invalid(
                "patch request",
                "the Setup DU target has no dry run; give an output",
            ));
        }
        let pkg = open_packages(vec![(name.clone(), reader)])?
            .pop()
            .ok_or_else(|| Error::invalid("patch request", "no package"))?;
        // Deflate rarely grows data; the ZIP is at most the expanded size plus headers.
        store.reserve(
            pkg.source()
                .size()
                .saturating_mul(3)
                .saturating_add(16 << 20),
        )?;
        let (exp, digests, back) = write_checked(
            store,
            Part::Output,
            progress,
            |sink| {
                // expand_to_zip re-reads the ZIP it wrote and checks every entry's SHA-256.
                let (exp, cur) = expand_to_zip(
                    &pkg,
                    &Default::default(),
                    SinkCursor::new(sink),
                    &ZipOptions {
                        modification_time: request.options.time,
                    },
                    progress,
                )?;
                Ok((exp, cur.into_inner()))
            },
            |_, _| Ok(()),
        )?;
        drop(back);
        store.commit(Part::Output)?;
        let mut rep = report(request, name);
        rep.setup = Some(exp);
        rep.written = Some(Written {
            size: digests.size,
            sha256: digests.sha256,
            raw_copied_blobs: 0,
        });
        Ok(rep)
    }
}
