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

use super::install::{shared_winre, InstallOptions, NewWinre, WinreReplacement, WINRE_PATH};
use super::manifests::decode_for_image;
use super::rebuild::RtmFinder;
use super::setup::{expand_to_zip, SetupExpansion, ZipOptions};
use super::winre::{
    outcome, plan_patch, verify_written, write_patch, PatchOptions, PatchOutcome, PatchPlan,
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
        let d = digest_and_check(&back, part == Part::WinreStage, progress, || {
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
    pub(super) fn install_into(
        &mut self,
        found: Located,
        packages: &mut [Package],
        part: Part,
    ) -> Result<(PatchReport, Option<SharedReader>)> {
        let (request, progress) = (self.request, self.progress);
        let store = &mut *self.store;
        let install = &*found.wim;
        let n = install.images().len() as u32;
        let selected: Vec<u32> = if request.options.indices.is_empty() {
            (1..=n).collect()
        } else {
            request.options.indices.clone()
        };
        let (hash, _) = shared_winre(install, &selected)?;
        let winre_blob = install.open_blob(&hash)?;
        let winre_size = winre_blob.size();
        let winre = Wim::open(Arc::new(winre_blob))?;
        let payload_bytes = payload_size(packages);
        let (prepared, plan) = plan_winre(request, &winre, packages, Vec::new(), progress)?;
        let mut rep = report(request, found.label);
        rep.selected = selected.clone();
        if request.dry_run {
            rep.winre = Some(outcome(&prepared, &plan, None));
            return Ok((rep, None));
        }
        // Room for the new WinRE (about the old one plus the payloads) twice: once on its own, once
        // inside the new install.wim next to everything carried over.
        let winre_room = winre_size.saturating_add(payload_bytes);
        store.reserve(
            found
                .size
                .saturating_add(winre_room.saturating_mul(2))
                .saturating_add(32 << 20),
        )?;
        let res = (|| {
            let (wsummary, wd, stage) = write_winre(
                store,
                Part::WinreStage,
                &winre,
                (&prepared, &plan),
                progress,
            )?;
            let job = WinreReplacement::new(
                install,
                NewWinre {
                    src: &*stage,
                    size: wd.size,
                    sha1: wd.sha1.ok_or_else(|| {
                        Error::invalid("patch request", "the WinRE stage was hashed without SHA-1")
                    })?,
                },
                &InstallOptions {
                    indices: selected.clone(),
                    modification_time: Some(plan.time),
                    ..Default::default()
                },
            )?
            .with_backend(request.backend.clone());
            let (summary, digests, back) = write_checked(
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
            )?;
            Ok::<_, Error>((wsummary, summary, digests, back))
        })();
        store.discard(Part::WinreStage);
        let (wsummary, summary, digests, back) = res?;
        rep.winre = Some(outcome(&prepared, &plan, Some(&wsummary)));
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
