//! Whole media out: the ISO target (a rebuilt bootable ISO) and the folder target (the same tree
//! in a directory for a USB stick, install.wim split when over the limit).
//!
//! Both start like the install target: the serviced WinRE goes into every edition of
//! `/sources/install.wim`, written as [`Part::InstallStage`], re-read and verified. A Setup DU
//! among the packages is expanded (verified first) into `sources\`. Then the source ISO's tree with
//! those files laid over it is written through [`crate::iso::write`] (ISO) or file by file through
//! a [`FolderStore`] (folder). Intermediates are always discarded; nothing is committed unless
//! every output verified.

use super::job::{
    locate, open_packages, report, Job, PatchReport, PatchRequest, PatchTarget, Written,
};
use super::setup::{expand, SetupSink};
use crate::cbs::PackageKind;
use crate::hash::{hash_reader, hex};
use crate::io::{FolderStore, OutputStore, Part, Progress, SharedReader, SliceSource, WriteAt};
use crate::iso::write::{merged_tree, write_iso, Replacement};
use crate::iso::IsoImage;
use crate::package::Package;
use crate::wim::split::{
    part_name, plan_split, verify_split, write_part, SplitPlan, DEFAULT_SPLIT_MIB,
};
use crate::wim::Wim;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Most bytes of Setup DU files held in memory while the media is rebuilt.
pub const MAX_SETUP_BYTES: u64 = 1 << 30;
/// Where Windows media keeps its editions.
const INSTALL_WIM: &str = "/sources/install.wim";
/// The same, as an ESD (Media Creation Tool media).
pub(super) const INSTALL_ESD: &str = "/sources/install.esd";
/// Bytes copied per step into a folder.
const COPY_PIECE: u64 = 4 << 20;

/// Setup DU files collected in memory for the tree.
struct Collect {
    files: Vec<(String, Vec<u8>)>,
    total: u64,
}

impl SetupSink for Collect {
    fn begin(&mut self, path: &str, size: u64) -> Result<()> {
        self.total = self.total.saturating_add(size);
        if self.total > MAX_SETUP_BYTES {
            return Err(Error::limit(
                self.total,
                MAX_SETUP_BYTES,
                format!("Setup DU files above {MAX_SETUP_BYTES} bytes"),
            ));
        }
        self.files
            .push((path.to_string(), Vec::with_capacity(size as usize)));
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<()> {
        match self.files.last_mut() {
            Some((_, v)) => {
                v.extend_from_slice(data);
                Ok(())
            }
            None => Err(Error::invalid(
                "patch request",
                "Setup DU data before its file",
            )),
        }
    }
    fn end(&mut self, _sha256: &str) -> Result<()> {
        Ok(())
    }
}

/// What goes into the tree: the staged install.wim (if serviced) and the Setup DU files.
struct Prepared {
    report: PatchReport,
    replacements: Vec<Replacement>,
    iso: IsoImage,
}

fn prepare_media<S: OutputStore>(
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    store: &mut S,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let [(name, reader)] = <[_; 1]>::try_from(media.clone()).map_err(|_| {
        Error::invalid(
            "patch request",
            "the ISO and folder targets take one ISO file as the media",
        )
    })?;
    let iso = IsoImage::open(reader).map_err(|e| {
        Error::invalid(
            "patch request",
            format!("{name}: the ISO and folder targets need an ISO ({e})"),
        )
    })?;
    let packages = open_packages(packages)?;
    let (setup, mut servicing): (Vec<Package>, Vec<Package>) = packages
        .into_iter()
        .partition(|p| p.kind == PackageKind::SetupDu);
    if setup.len() > 1 {
        return Err(Error::invalid(
            "patch request",
            "give at most one Setup DU package",
        ));
    }
    let mut replacements = Vec::new();
    let mut rep = report(request, name.clone());
    // Media with install.esd (and no install.wim): its editions are serviced and written as an
    // LZX install.wim that takes install.esd's place (decision 29).
    let esd = request.layers.is_empty()
        && iso.open_file(INSTALL_WIM).is_err()
        && iso.open_file(INSTALL_ESD).is_ok();
    if !servicing.is_empty() {
        let layers = if esd {
            vec![INSTALL_ESD.to_string()]
        } else {
            request.layers.clone()
        };
        let found = locate(media, &layers, PatchTarget::Install)?;
        let mut job = Job {
            request,
            store,
            progress,
        };
        let (r, back) = job.install_into(found, &mut servicing, Part::InstallStage)?;
        rep = r;
        if let Some(back) = back {
            replacements.push(Replacement {
                path: INSTALL_WIM.into(),
                data: back,
                replaces: esd.then(|| INSTALL_ESD.to_string()),
            });
        }
    }
    if let Some(pkg) = setup.first() {
        let mut c = Collect {
            files: Vec::new(),
            total: 0,
        };
        let exp = expand(pkg, &Default::default(), &mut c, progress)?;
        for (path, bytes) in c.files {
            replacements.push(Replacement {
                path: format!("/sources/{path}"),
                data: Arc::new(SliceSource::new(bytes)),
                replaces: None,
            });
        }
        rep.setup = Some(exp);
    }
    if replacements.is_empty() && !request.dry_run {
        return Err(Error::invalid(
            "patch request",
            "nothing to put into the media: give a Safe OS DU / SSU package or a Setup DU",
        ));
    }
    rep.target = request.target;
    Ok(Prepared {
        report: rep,
        replacements,
        iso,
    })
}

/// The ISO target: the source ISO rebuilt with the patched install.wim and the Setup DU files.
pub(super) fn iso_target<S: OutputStore>(
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    store: &mut S,
    progress: &dyn Progress,
) -> Result<PatchReport> {
    let res = (|| {
        let mut p = prepare_media(request, media, packages, store, progress)?;
        if request.dry_run {
            return Ok(p.report);
        }
        let (_, _, digests) = write_iso(&p.iso, p.replacements, store, progress)?;
        p.report.written = Some(Written {
            size: digests.size,
            sha256: digests.sha256,
            raw_copied_blobs: p.report.written.as_ref().map_or(0, |w| w.raw_copied_blobs),
        });
        Ok(p.report)
    })();
    store.discard(Part::InstallStage);
    res
}

fn copy_file<S: OutputStore>(
    mut store: S,
    data: Option<&SharedReader>,
    progress: &dyn Progress,
) -> Result<S> {
    let mut sink = store.create(Part::Output)?;
    let mut h = Sha256::new();
    if let Some(r) = data {
        let mut buf = vec![0u8; r.size().min(COPY_PIECE) as usize];
        let mut pos = 0u64;
        while pos < r.size() {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let n = (r.size() - pos).min(COPY_PIECE) as usize;
            r.read_at(pos, &mut buf[..n])?;
            h.update(&buf[..n]);
            sink.write_at(pos, &buf[..n])?;
            pos += n as u64;
        }
    }
    let back = store.reopen(Part::Output, sink)?;
    let want = h.finalize();
    let got = hash_reader(&*back, 8 << 20, progress)?;
    if got.sha256[..] != want[..] {
        return Err(Error::DigestMismatch {
            what: "a file written to the folder".into(),
            expected: hex(&want),
            actual: hex(&got.sha256),
        });
    }
    drop(back);
    store.commit(Part::Output)?;
    Ok(store)
}

/// What the folder target wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FolderSummary {
    /// Files written (each split part counts).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Parts install.wim was split into (0: not split).
    pub split_parts: usize,
    /// Blobs larger than the part limit (each got a part of its own, over the limit).
    pub split_warnings: Vec<String>,
}

/// What one entry of the folder target holds.
pub enum FolderContent {
    /// A directory.
    Dir,
    /// A file's bytes (`None`: an empty file).
    Bytes(Option<SharedReader>),
    /// Part `n` (0-based) of the split install.wim, written by [`FolderPlan::write_split_part`].
    SplitPart(usize),
}

/// One entry of the folder target's tree, parents before children.
pub struct FolderItem {
    /// Path relative to the folder, `/`-separated (`sources/install.swm`).
    pub path: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// What it holds.
    pub content: FolderContent,
}

/// The folder target planned: the tree to write, with the media prepared (install.wim serviced
/// into the stage store, Setup DU files expanded) and install.wim's split planned. The caller
/// writes every item, re-reads it, and commits the folder only when all are verified; the
/// stage store must stay open until then.
pub struct FolderPlan {
    /// The job's report (`written` stays empty: a directory has no single digest).
    pub report: PatchReport,
    /// The entries in writing order; split parts are consecutive.
    pub items: Vec<FolderItem>,
    /// Counts of what the items hold.
    pub summary: FolderSummary,
    split: Option<(Wim, SplitPlan)>,
}

impl FolderPlan {
    /// Write split part `index` (0-based) into `sink`; returns its size.
    pub fn write_split_part(
        &self,
        index: usize,
        sink: &mut dyn WriteAt,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let (wim, plan) = self.split.as_ref().ok_or_else(|| {
            Error::invalid("patch request", "install.wim is not split in this plan")
        })?;
        write_part(wim, plan, index, sink, progress)
    }

    /// Check the written parts (read back, in order) as one set against the unsplit install.wim.
    pub fn verify_split(&self, parts: Vec<SharedReader>, progress: &dyn Progress) -> Result<()> {
        let (wim, plan) = self.split.as_ref().ok_or_else(|| {
            Error::invalid("patch request", "install.wim is not split in this plan")
        })?;
        verify_split(wim, plan, parts, progress)
    }
}

/// Prepare the media and plan the folder target's tree (see [`run_patch_to_folder`]); an
/// install.wim over `split_mib` MiB (default 3800) becomes `sources/install.swm`,
/// `install2.swm`, … On error the stage is discarded; on success the caller discards it after
/// writing.
pub fn plan_folder<S: OutputStore>(
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    stage: &mut S,
    split_mib: Option<u64>,
    progress: &dyn Progress,
) -> Result<FolderPlan> {
    let limit = split_mib
        .unwrap_or(DEFAULT_SPLIT_MIB)
        .checked_mul(1 << 20)
        .filter(|&l| l > 0)
        .ok_or_else(|| Error::invalid("patch request", "split size out of range"))?;
    let res = (|| {
        let mut p = prepare_media(request, media, packages, stage, progress)?;
        p.report.written = None;
        let mut plan = FolderPlan {
            report: p.report,
            items: Vec::new(),
            summary: FolderSummary::default(),
            split: None,
        };
        if request.dry_run {
            return Ok(plan);
        }
        for it in merged_tree(&p.iso, p.replacements)? {
            let rel = it.path.trim_start_matches('/').to_string();
            if it.is_dir {
                plan.items.push(FolderItem {
                    path: rel,
                    size: 0,
                    content: FolderContent::Dir,
                });
                continue;
            }
            if rel.eq_ignore_ascii_case("sources/install.wim") && it.size > limit {
                let wim = Wim::open(it.data.ok_or_else(|| {
                    Error::invalid("patch request", "install.wim has no content")
                })?)?;
                let split = plan_split(&wim, limit)?;
                let dir = &rel[..rel.len() - "install.wim".len()];
                for (i, part) in split.parts.iter().enumerate() {
                    plan.items.push(FolderItem {
                        path: format!("{dir}{}", part_name("install.swm", i + 1)),
                        size: part.size,
                        content: FolderContent::SplitPart(i),
                    });
                }
                plan.summary.split_parts = split.parts.len();
                plan.summary.split_warnings = split.warnings.clone();
                plan.split = Some((wim, split));
                continue;
            }
            plan.items.push(FolderItem {
                path: rel,
                size: it.size,
                content: FolderContent::Bytes(it.data),
            });
        }
        for it in &plan.items {
            if !matches!(it.content, FolderContent::Dir) {
                plan.summary.files += 1;
                plan.summary.bytes += it.size;
            }
        }
        Ok(plan)
    })();
    if res.is_err() {
        stage.discard(Part::InstallStage);
    }
    res
}

/// The folder target: the media tree (patched install.wim, Setup DU files) written into `folder`;
/// an install.wim over `split_mib` MiB (default 3800) becomes `sources/install.swm`,
/// `install2.swm`, … Intermediates go through `stage`; `folder` is committed only when every file
/// was written and re-read (the split set re-read as a set).
pub fn run_patch_to_folder<S: OutputStore, F: FolderStore>(
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    stage: &mut S,
    folder: &mut F,
    split_mib: Option<u64>,
    progress: &dyn Progress,
) -> Result<(PatchReport, FolderSummary)> {
    let plan = plan_folder(request, media, packages, stage, split_mib, progress)?;
    let res = (|| {
        let mut parts = Vec::new();
        for it in &plan.items {
            match &it.content {
                FolderContent::Dir => folder.create_dir(&it.path)?,
                FolderContent::Bytes(data) => {
                    copy_file(folder.file(&it.path)?, data.as_ref(), progress)?;
                }
                FolderContent::SplitPart(i) => {
                    let mut store = folder.file(&it.path)?;
                    store.reserve(it.size)?;
                    let mut sink = store.create(Part::Output)?;
                    plan.write_split_part(*i, &mut sink, progress)?;
                    let back = store.reopen(Part::Output, sink)?;
                    parts.push((store, back));
                }
            }
        }
        if !parts.is_empty() {
            let readers = parts.iter().map(|(_, r)| r.clone()).collect();
            plan.verify_split(readers, progress)?;
            for (mut store, back) in parts {
                drop(back);
                store.commit(Part::Output)?;
            }
        }
        folder.commit()
    })();
    stage.discard(Part::InstallStage);
    res.map(|()| (plan.report, plan.summary))
}
