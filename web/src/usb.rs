//! "Write to a USB stick": the folder target (`mediaprep patch --target folder`) written into a
//! directory the user picks with `showDirectoryPicker()` (Chromium; elsewhere the control says why
//! it is off).
//!
//! The core plans the tree synchronously ([`plan_folder`]); a picked directory can only be
//! written asynchronously (`createWritable`), so the worker drives the copy here, under the same
//! rules as the CLI's folder target: the directory must be empty; every file is written as
//! `NAME.partial`, read back and hashed (the split install.wim re-read as a set); only when all
//! are verified do they get their names; on any failure everything written is removed. Split
//! parts are made in OPFS first (the WIM writer needs positioned writes), one at a time.

use crate::save::{
    call, file_handle, js_err, opfs_reader, opfs_root, remove, run_picker, OpfsSink, OpfsStore,
};
use crate::source::JsFileSource;
use mediaprep_core::hash::{hash_reader, hex, MultiHasher};
use mediaprep_core::io::{OutputStore, Part, Progress, ReadAt, SharedReader};
use mediaprep_core::service::{plan_folder, FolderContent, FolderPlan, PatchReport, PatchRequest};
use mediaprep_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle};

/// The page's name for a USB job (its `out_name`; its OPFS stages are named after it).
pub const JOB_NAME: &str = "usb-folder";
/// Bytes handed to the browser per write.
const PIECE: u64 = 4 << 20;
/// Suffix of a file not yet verified.
const PARTIAL: &str = ".partial";
/// The OPFS file a split part is made in before it is copied to the stick.
const PART_STAGE: &str = "usb-part.partial";

/// What the folder target wrote, as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FolderWritten {
    /// The chosen directory's name.
    pub dir: String,
    /// Files written (each split part counts).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Parts install.wim was split into (0: not split).
    pub split_parts: usize,
}

/// Why the USB control is off in this browser, or `None` where it works.
pub fn unavailable() -> Option<&'static str> {
    let global = js_sys::global();
    let has = |name: &str| {
        js_sys::Reflect::get(&global, &name.into())
            .map(|f| f.is_function())
            .unwrap_or(false)
    };
    if !has("showDirectoryPicker") {
        return Some(
            "This browser cannot write into a folder you choose (no showDirectoryPicker: \
             Firefox and Safari). Use Chrome or Edge, or write a patched ISO and copy its files.",
        );
    }
    None
}

/// The folder chosen for the next job and the split size (MiB) asked for.
pub struct Picked {
    /// The chosen directory.
    pub dir: FileSystemDirectoryHandle,
    /// install.wim is split over this many MiB (`None`: 3800).
    pub split_mib: Option<u64>,
}

thread_local! {
    static PICKED: RefCell<Option<Picked>> = const { RefCell::new(None) };
}

/// Ask the user for the stick's folder (read-write); `None` when they cancel. The handle is
/// kept until [`take_picked`] sends it with the job (beside the request's JSON, as files are:
/// a handle cannot be serialised, only structured-cloned).
pub async fn pick_directory(split_mib: Option<u64>) -> Result<Option<String>> {
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"mode".into(), &"readwrite".into());
    let _ = js_sys::Reflect::set(&opts, &"id".into(), &"mediaprep-usb".into());
    let Some(h) = run_picker("showDirectoryPicker", &opts, "choosing the folder").await? else {
        return Ok(None);
    };
    let h: FileSystemDirectoryHandle = h
        .dyn_into()
        .map_err(|_| Error::browser("showDirectoryPicker()", "did not return a directory"))?;
    let name = h.name();
    PICKED.with(|p| *p.borrow_mut() = Some(Picked { dir: h, split_mib }));
    Ok(Some(name))
}

/// The directory picked last, once (it travels with the job to the worker); remembered as the
/// folder of the running job for [`clean_after_cancel`].
pub fn take_picked() -> Option<Picked> {
    let p = PICKED.with(|p| p.borrow_mut().take());
    if let Some(p) = &p {
        SENT.with(|s| *s.borrow_mut() = Some(p.dir.clone()));
    }
    p
}

thread_local! {
    static SENT: RefCell<Option<FileSystemDirectoryHandle>> = const { RefCell::new(None) };
}

/// After a USB job was cancelled (its worker terminated): remove the `*.partial` files it left in
/// the chosen folder, and the directories that are then empty. Files without that suffix are never
/// touched (the user's, or ones the job had already named).
pub async fn clean_after_cancel() {
    let Some(root) = SENT.with(|s| s.borrow_mut().take()) else {
        return;
    };
    let _ = Box::pin(prune(&root)).await;
}

/// Remove `*.partial` files under `dir` and the subdirectories left empty; true when `dir` is
/// empty afterwards.
async fn prune(dir: &FileSystemDirectoryHandle) -> Result<bool> {
    let mut left = 0usize;
    for n in names(dir).await? {
        if n.ends_with(PARTIAL) {
            remove(dir, &n).await;
            continue;
        }
        let sub = call(
            dir.as_ref(),
            "getDirectoryHandle",
            &[&JsValue::from_str(&n)],
        );
        let sub = match sub {
            Ok(p) => promise(p, "opening a folder").await.ok(),
            Err(_) => None,
        };
        match sub.and_then(|h| h.dyn_into::<FileSystemDirectoryHandle>().ok()) {
            Some(h) if Box::pin(prune(&h)).await? => remove(dir, &n).await,
            _ => left += 1,
        }
    }
    Ok(left == 0)
}

async fn promise(v: JsValue, what: &str) -> Result<JsValue> {
    let p: js_sys::Promise = v
        .dyn_into()
        .map_err(|_| Error::browser(what, "not a promise"))?;
    JsFuture::from(p).await.map_err(|e| js_err(what, e))
}

/// Names in `dir` (not recursive).
async fn names(dir: &FileSystemDirectoryHandle) -> Result<Vec<String>> {
    crate::save::dir_names(dir, "listing the folder").await
}

/// Remove everything in `dir` (it was empty when the job started).
async fn clear(dir: &FileSystemDirectoryHandle) {
    let opts = web_sys::FileSystemRemoveOptions::new();
    opts.set_recursive(true);
    for n in names(dir).await.unwrap_or_default() {
        let _ = JsFuture::from(dir.remove_entry_with_options(&n, &opts)).await;
    }
}

/// The directories of the tree, created on the way.
struct Dirs {
    root: FileSystemDirectoryHandle,
    made: HashMap<String, FileSystemDirectoryHandle>,
}

impl Dirs {
    /// The handle of directory `path` ("" = the root), created when missing.
    async fn dir(&mut self, path: &str) -> Result<FileSystemDirectoryHandle> {
        if path.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(h) = self.made.get(path) {
            return Ok(h.clone());
        }
        let (parent, name) = split_path(path);
        let parent = Box::pin(self.dir(parent)).await?;
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"create".into(), &true.into());
        let what = format!("creating folder {path}");
        let h: FileSystemDirectoryHandle = promise(
            call(
                parent.as_ref(),
                "getDirectoryHandle",
                &[&JsValue::from_str(name), &opts],
            )?,
            &what,
        )
        .await?
        .dyn_into()
        .map_err(|_| Error::browser(format!("getDirectoryHandle({path})"), "not a directory"))?;
        self.made.insert(path.to_string(), h.clone());
        Ok(h)
    }
}

/// `a/b/c` → (`a/b`, `c`); `c` → (``, `c`).
fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// A file written into the picked tree and waiting for its name.
struct Pending {
    handle: FileSystemFileHandle,
    name: String,
}

/// Stream `data` into `NAME.partial` in `dir` (createWritable: the browser swaps the file in on
/// close), then read it back from the medium and compare SHA-256s. Returns the handle and a
/// reader over what landed.
async fn copy_in(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    data: Option<&SharedReader>,
    progress: &dyn Progress,
) -> Result<(Pending, SharedReader)> {
    let partial = format!("{name}{PARTIAL}");
    let fh = file_handle(dir, &partial).await?;
    let writable = JsFuture::from(fh.create_writable())
        .await
        .map_err(|e| js_err(&format!("opening {partial} for writing"), e))?;
    let mut h = MultiHasher::new();
    let size = data.map_or(0, |r| r.size());
    let res = async {
        if let Some(r) = data {
            let mut buf = vec![0u8; size.min(PIECE) as usize];
            let mut pos = 0u64;
            while pos < size {
                let n = (size - pos).min(PIECE) as usize;
                r.read_at(pos, &mut buf[..n])?;
                h.update(&buf[..n]);
                let chunk = js_sys::Uint8Array::from(&buf[..n]);
                promise(
                    call(&writable, "write", &[&chunk])?,
                    "writing to the folder",
                )
                .await?;
                pos += n as u64;
                progress.update("copy", pos, size);
            }
        }
        promise(call(&writable, "close", &[])?, "closing the file").await
    }
    .await;
    if let Err(e) = res {
        let _ = call(&writable, "abort", &[]);
        return Err(e);
    }
    let file: web_sys::File = JsFuture::from(fh.get_file())
        .await
        .map_err(|e| js_err(&format!("reading {partial} back"), e))?
        .dyn_into()
        .map_err(|_| Error::browser("getFile()", "did not return a file"))?;
    let back: SharedReader = Arc::new(JsFileSource::new(file)?);
    let got = hash_reader(&*back, 8 << 20, progress)?;
    let want = h.finish();
    if got.size != size || got.sha256 != want.sha256 {
        return Err(Error::DigestMismatch {
            what: format!("{name} as read back from the folder"),
            expected: hex(&want.sha256),
            actual: hex(&got.sha256),
        });
    }
    Ok((
        Pending {
            handle: fh,
            name: name.to_string(),
        },
        back,
    ))
}

/// Make split part `index` in OPFS (positioned writes), as a reader for the copy.
async fn stage_part(
    plan: &FolderPlan,
    index: usize,
    progress: &dyn Progress,
) -> Result<SharedReader> {
    let root = opfs_root().await?;
    let fh = file_handle(&root, PART_STAGE).await?;
    let mut sink = OpfsSink::open(&fh).await?;
    plan.write_split_part(index, &mut sink, progress)?;
    opfs_reader(sink)
}

/// Write every item of `plan` into `root` as `.partial` files, each read back; the split set is
/// checked as a set; then every file gets its name.
async fn write_tree(
    plan: &FolderPlan,
    root: &FileSystemDirectoryHandle,
    progress: &dyn Progress,
) -> Result<()> {
    let mut dirs = Dirs {
        root: root.clone(),
        made: HashMap::new(),
    };
    let mut pending = Vec::new();
    let mut parts = Vec::new();
    for it in &plan.items {
        match &it.content {
            FolderContent::Dir => {
                dirs.dir(&it.path).await?;
            }
            FolderContent::Bytes(data) => {
                let (parent, name) = split_path(&it.path);
                let d = dirs.dir(parent).await?;
                pending.push(copy_in(&d, name, data.as_ref(), progress).await?.0);
            }
            FolderContent::SplitPart(i) => {
                let staged = stage_part(plan, *i, progress).await;
                let (parent, name) = split_path(&it.path);
                let copied = match staged {
                    Ok(r) => {
                        let d = dirs.dir(parent).await?;
                        let c = copy_in(&d, name, Some(&r), progress).await;
                        drop(r);
                        c
                    }
                    Err(e) => Err(e),
                };
                remove(&opfs_root().await?, PART_STAGE).await;
                let (p, back) = copied?;
                pending.push(p);
                parts.push(back);
            }
        }
    }
    if !parts.is_empty() {
        plan.verify_split(parts, progress)?;
    }
    for p in pending {
        promise(
            call(p.handle.as_ref(), "move", &[&JsValue::from_str(&p.name)])?,
            &format!("renaming {}{PARTIAL} to {}", p.name, p.name),
        )
        .await?;
    }
    Ok(())
}

/// The folder target into the picked `root`: refuse a non-empty folder, prepare the media (OPFS
/// stages), write and check the tree; on failure nothing is left in `root`.
pub async fn write_folder(
    root: FileSystemDirectoryHandle,
    split_mib: Option<u64>,
    request: &PatchRequest,
    media: Vec<(String, SharedReader)>,
    packages: Vec<(String, SharedReader)>,
    progress: &dyn Progress,
) -> Result<(PatchReport, FolderWritten)> {
    let present = names(&root).await?;
    if !present.is_empty() {
        return Err(Error::invalid(
            "page request",
            format!(
            "the folder \"{}\" is not empty ({} entries, e.g. {}); choose an empty folder, such \
             as the root of a freshly formatted FAT32 stick",
            root.name(),
            present.len(),
            present[0]
        ),
        ));
    }
    // Chromium defines move() on FileSystemFileHandle.prototype (not on FileSystemHandle).
    let movable = js_sys::Reflect::get(&js_sys::global(), &"FileSystemFileHandle".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"prototype".into()))
        .and_then(|p| js_sys::Reflect::get(&p, &"move".into()))
        .map(|f| f.is_function())
        .unwrap_or(false);
    if !movable {
        return Err(Error::unsupported(
            "browser",
            "this browser cannot rename files in a chosen folder (FileSystemFileHandle.move)",
        ));
    }
    let mut parts = mediaprep_core::service::winre_stages(request, &media);
    parts.push(Part::InstallStage);
    let mut stage = OpfsStore::open(JOB_NAME, &parts).await?;
    let res = match plan_folder(request, media, packages, &mut stage, split_mib, progress) {
        Ok(plan) => {
            let written = write_tree(&plan, &root, progress).await;
            written.map(|()| {
                let s = &plan.summary;
                let shown = FolderWritten {
                    dir: root.name(),
                    files: s.files,
                    bytes: s.bytes,
                    split_parts: s.split_parts,
                };
                (plan.report, shown)
            })
        }
        Err(e) => Err(e),
    };
    stage.discard(Part::InstallStage);
    stage.settle().await;
    if res.is_err() {
        clear(&root).await;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths_split_at_the_last_slash() {
        assert_eq!(
            split_path("sources/install.swm"),
            ("sources", "install.swm")
        );
        assert_eq!(split_path("a/b/c"), ("a/b", "c"));
        assert_eq!(split_path("setup.exe"), ("", "setup.exe"));
    }
}
