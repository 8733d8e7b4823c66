//! Saving large output without holding it in memory: a [`WriteAt`] over an OPFS
//! `FileSystemSyncAccessHandle` (worker only, positioned writes), written under a temporary name
//! that is removed when the job fails or is cancelled, and a quota check before starting.
//!
//! The code takes a `FileSystemDirectoryHandle`/`FileSystemFileHandle`, not a picker, so tests
//! drive it with OPFS handles (headless Chromium aborts `showSaveFilePicker` at once).

use mediaprep_core::io::{CachedReader, OutputStore, Part, ReadAt, SharedReader, WriteAt};
use mediaprep_core::{Error, Result};
use std::sync::{Arc, Mutex};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetFileOptions,
    FileSystemReadWriteOptions, FileSystemSyncAccessHandle, StorageManager,
};

/// Suffix of files still being written; anything with it is swept at start and on cancel.
pub const PARTIAL: &str = ".partial";

pub(crate) fn js_err(what: &str, e: JsValue) -> Error {
    Error::browser(what, format!("{e:?}"))
}

/// The origin's storage manager, from the window or a worker.
fn storage() -> Result<StorageManager> {
    let nav = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .map_err(|e| js_err("navigator", e))?;
    let st = js_sys::Reflect::get(&nav, &"storage".into()).map_err(|e| js_err("storage", e))?;
    st.dyn_into::<StorageManager>()
        .map_err(|_| Error::unsupported("browser", "this browser has no storage manager (OPFS)"))
}

/// The origin-private file system's root directory.
pub async fn opfs_root() -> Result<FileSystemDirectoryHandle> {
    let p = storage()?.get_directory();
    let v = JsFuture::from(p)
        .await
        .map_err(|e| js_err("opening the private file system", e))?;
    v.dyn_into()
        .map_err(|_| Error::browser("getDirectory()", "did not return a directory"))
}

/// Bytes the origin may still store (quota minus usage).
async fn free_bytes() -> Result<u64> {
    let est = JsFuture::from(storage()?.estimate().map_err(|e| js_err("estimate", e))?)
        .await
        .map_err(|e| js_err("storage estimate", e))?;
    let get = |k: &str| {
        js_sys::Reflect::get(&est, &k.into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    Ok((get("quota") - get("usage")).max(0.0) as u64)
}

fn quota_error(free: u64, needed: u64) -> Error {
    Error::limit(
        needed,
        free,
        format!(
            "the browser allows {free} more bytes of storage for this page but the output needs \
         about {needed}; free disk space or use a browser that can save directly"
        ),
    )
}

/// Fail early when the origin's storage quota cannot hold `needed` more bytes.
pub async fn check_quota(needed: u64) -> Result<()> {
    let free = free_bytes().await?;
    if free < needed {
        return Err(quota_error(free, needed));
    }
    Ok(())
}

/// A file handle in `dir`, created when missing.
pub async fn file_handle(
    dir: &FileSystemDirectoryHandle,
    name: &str,
) -> Result<FileSystemFileHandle> {
    let opts = FileSystemGetFileOptions::new();
    opts.set_create(true);
    let v = JsFuture::from(dir.get_file_handle_with_options(name, &opts))
        .await
        .map_err(|e| js_err(&format!("creating {name}"), e))?;
    v.dyn_into()
        .map_err(|_| Error::browser("getFileHandle()", "did not return a file"))
}

/// Remove `name` from `dir`; a missing entry is not an error.
pub async fn remove(dir: &FileSystemDirectoryHandle, name: &str) {
    let _ = JsFuture::from(dir.remove_entry(name)).await;
}

/// The names in `dir` (not recursive); `what` names the listing in an error.
pub async fn dir_names(dir: &FileSystemDirectoryHandle, what: &str) -> Result<Vec<String>> {
    let keys = dir.keys();
    let mut out = Vec::new();
    loop {
        let next = keys.next().map_err(|e| js_err(what, e))?;
        let r = JsFuture::from(next).await.map_err(|e| js_err(what, e))?;
        if js_sys::Reflect::get(&r, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
        {
            return Ok(out);
        }
        if let Some(n) = js_sys::Reflect::get(&r, &"value".into())
            .ok()
            .and_then(|v| v.as_string())
        {
            out.push(n);
        }
    }
}

/// Remove every `*.partial` left by a job that was cancelled (the worker terminated) or crashed.
pub async fn sweep_partials(dir: &FileSystemDirectoryHandle) -> Result<u32> {
    let mut names = dir_names(dir, "listing").await?;
    names.retain(|n| n.ends_with(PARTIAL));
    for n in &names {
        remove(dir, n).await;
    }
    Ok(names.len() as u32)
}

/// Positioned writes into an OPFS file (dedicated worker only).
pub struct OpfsSink {
    handle: FileSystemSyncAccessHandle,
}

impl OpfsSink {
    /// Open a sync access handle on `file`, truncated to empty.
    pub async fn open(file: &FileSystemFileHandle) -> Result<OpfsSink> {
        let v = JsFuture::from(file.create_sync_access_handle())
            .await
            .map_err(|e| js_err("opening the output (createSyncAccessHandle)", e))?;
        let handle: FileSystemSyncAccessHandle = v
            .dyn_into()
            .map_err(|_| Error::browser("createSyncAccessHandle()", "returned something else"))?;
        handle
            .truncate_with_f64(0.0)
            .map_err(|e| js_err("truncating the output", e))?;
        Ok(OpfsSink { handle })
    }

    /// Bytes in the file.
    pub fn size(&self) -> Result<u64> {
        Ok(self
            .handle
            .get_size()
            .map_err(|e| js_err("output size", e))? as u64)
    }

    /// Flush and release the handle (the file can then be read or downloaded).
    pub fn close(self) -> Result<()> {
        // Dropping `self` afterwards releases the handle.
        self.handle
            .flush()
            .map_err(|e| js_err("flushing the output", e))
    }
}

impl Drop for OpfsSink {
    /// Release the handle on every path, so a failed job can remove its temporary file.
    fn drop(&mut self) {
        self.handle.close();
    }
}

/// Options of a positioned read or write at `offset`.
fn at(offset: u64) -> FileSystemReadWriteOptions {
    let opts = FileSystemReadWriteOptions::new();
    opts.set_at(offset as f64);
    opts
}

/// A read or write of `want` bytes at `offset` that moved `got` (`what`: "write", "read-back").
fn whole(what: &str, offset: u64, got: f64, want: usize) -> Result<()> {
    if got as usize != want {
        return Err(Error::browser(
            "FileSystemSyncAccessHandle",
            format!("short {what} at {offset}: {got} of {want} bytes"),
        ));
    }
    Ok(())
}

impl WriteAt for OpfsSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let n = self
            .handle
            .write_with_u8_array_and_options(data, &at(offset))
            .map_err(|e| js_err("writing the output (is the disk full?)", e))?;
        whole("write (is the disk full?)", offset, n, data.len())
    }

    fn flush(&mut self) -> Result<()> {
        self.handle
            .flush()
            .map_err(|e| js_err("flushing the output", e))
    }

    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = self
            .handle
            .read_with_u8_array_and_options(buf, &at(offset))
            .map_err(|e| js_err("reading the output back", e))?;
        whole("read-back", offset, n, buf.len())
    }
}

/// Call `target.method(...args)` (methods web-sys does not bind everywhere, e.g. `move`).
pub(crate) fn call(target: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| {
            Error::unsupported("browser", format!("{method}() is not available here"))
        })?;
    let a = js_sys::Array::new();
    for x in args {
        a.push(x);
    }
    f.apply(target, &a).map_err(|e| js_err(method, e))
}

/// Copy `src` (e.g. the finished OPFS output) into `dest`, streamed chunk by chunk through
/// `createWritable`, which writes a swap file and replaces the target only when complete. Works
/// with the handle `showSaveFilePicker` returns and with OPFS handles (tests).
pub async fn copy_to_handle(src: &web_sys::Blob, dest: &FileSystemFileHandle) -> Result<()> {
    let writable = JsFuture::from(dest.create_writable())
        .await
        .map_err(|e| js_err("opening the destination for writing", e))?;
    let stream = call(src.as_ref(), "stream", &[])?;
    // pipeTo closes the writable on success and aborts it (dropping the swap file) on failure.
    let done: js_sys::Promise = call(&stream, "pipeTo", &[&writable])?
        .dyn_into()
        .map_err(|_| Error::browser("pipeTo()", "did not return a promise"))?;
    JsFuture::from(done)
        .await
        .map_err(|e| js_err("writing the destination", e))?;
    Ok(())
}

/// True where the browser can ask the user where to save (`showSaveFilePicker`, Chromium).
pub fn can_pick() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"showSaveFilePicker".into())
        .map(|f| f.is_function())
        .unwrap_or(false)
}

/// Run one of the page's file pickers (`showSaveFilePicker`, `showDirectoryPicker`) with
/// `opts`: the handle it gives, or `None` when the user cancels (the promise rejects with
/// `AbortError`); `what` names the choice in errors.
pub(crate) async fn run_picker(
    method: &str,
    opts: &js_sys::Object,
    what: &str,
) -> Result<Option<JsValue>> {
    let p: js_sys::Promise = call(&js_sys::global(), method, &[opts])?
        .dyn_into()
        .map_err(|_| Error::browser(format!("{method}()"), "did not return a promise"))?;
    match JsFuture::from(p).await {
        Ok(h) => Ok(Some(h)),
        Err(e) => {
            let name = js_sys::Reflect::get(&e, &"name".into())
                .ok()
                .and_then(|v| v.as_string());
            if name.as_deref() == Some("AbortError") {
                Ok(None)
            } else {
                Err(js_err(what, e))
            }
        }
    }
}

/// Ask the user where to save `suggested`; `None` when they cancel.
pub async fn pick_save_handle(suggested: &str) -> Result<Option<FileSystemFileHandle>> {
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"suggestedName".into(), &suggested.into());
    Ok(
        run_picker("showSaveFilePicker", &opts, "choosing where to save")
            .await?
            .and_then(|h| h.dyn_into().ok()),
    )
}

/// A job's outputs in the origin-private file system ([`OutputStore`]): each part is a
/// `NAME.partial` file (the WinRE stages `NAME.winre0.partial`, `NAME.winre1.partial`, …) opened before the job starts (OPFS
/// opens are asynchronous, the job is not), written and read back through its sync access handle,
/// and settled after the job: the committed output moved to `NAME`, everything else removed.
pub struct OpfsStore {
    dir: FileSystemDirectoryHandle,
    out_name: String,
    free: u64,
    slots: Vec<Slot>,
}

struct Slot {
    part: Part,
    name: String,
    file: FileSystemFileHandle,
    sink: Option<OpfsSink>,
    committed: bool,
}

impl OpfsStore {
    /// Sweep old `*.partial` files and open one temporary file per part the job will write.
    pub async fn open(out_name: &str, parts: &[Part]) -> Result<OpfsStore> {
        let dir = opfs_root().await?;
        sweep_partials(&dir).await?;
        let free = free_bytes().await?;
        let mut slots = Vec::new();
        for &part in parts {
            let name = match part {
                Part::Output => format!("{out_name}{PARTIAL}"),
                Part::WinreStage(k) => format!("{out_name}.winre{k}{PARTIAL}"),
                Part::InstallStage => format!("{out_name}.install{PARTIAL}"),
            };
            let file = file_handle(&dir, &name).await?;
            let sink = OpfsSink::open(&file).await?;
            slots.push(Slot {
                part,
                name,
                file,
                sink: Some(sink),
                committed: false,
            });
        }
        Ok(OpfsStore {
            dir,
            out_name: out_name.to_string(),
            free,
            slots,
        })
    }

    fn slot(&mut self, part: Part) -> Result<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|s| s.part == part)
            .ok_or_else(|| {
                Error::invalid(
                    "page request",
                    format!("no temporary file was opened for {part:?}"),
                )
            })
    }

    /// After the job: release every handle, remove what was not committed, and give the
    /// committed output its final name. Returns the name it ended up under (the `.partial` name
    /// where the browser cannot rename), or `None` when nothing was committed.
    pub async fn settle(mut self) -> Option<String> {
        let mut committed = None;
        for s in self.slots.drain(..) {
            drop(s.sink);
            if s.committed {
                committed = Some((s.file, s.name));
            } else {
                remove(&self.dir, &s.name).await;
            }
        }
        let (file, partial) = committed?;
        Some(finalize(&self.dir, &file, &partial, &self.out_name).await)
    }
}

impl OutputStore for OpfsStore {
    type Sink = ReadBackSink;

    fn reserve(&mut self, bytes: u64) -> Result<()> {
        if self.free < bytes {
            return Err(quota_error(self.free, bytes));
        }
        Ok(())
    }

    fn create(&mut self, part: Part) -> Result<ReadBackSink> {
        let slot = self.slot(part)?;
        let sink = slot.sink.take().ok_or_else(|| {
            Error::invalid(
                "page request",
                format!("the temporary file for {part:?} was already used"),
            )
        })?;
        Ok(ReadBackSink(sink))
    }

    fn reopen(&mut self, _part: Part, sink: ReadBackSink) -> Result<SharedReader> {
        opfs_reader(sink.0)
    }

    fn commit(&mut self, part: Part) -> Result<()> {
        self.slot(part)?.committed = true;
        Ok(())
    }

    fn discard(&mut self, part: Part) {
        if let Ok(s) = self.slot(part) {
            s.committed = false;
            s.sink = None;
        }
    }
}

/// An [`OpfsSink`] handed to a job (the core requires `Send` sinks).
pub struct ReadBackSink(OpfsSink);

// SAFETY: the worker's wasm has no threads (no shared memory), so a JS handle can never be
// touched from two threads; the core requires Send only for native parallel callers.
unsafe impl Send for ReadBackSink {}

impl WriteAt for ReadBackSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.0.write_at(offset, data)
    }
    fn flush(&mut self) -> Result<()> {
        WriteAt::flush(&mut self.0)
    }
    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.0.read_back(offset, buf)
    }
}

/// A written OPFS file read back through its sync access handle (released when dropped).
struct OpfsReader {
    sink: Mutex<OpfsSink>,
    size: u64,
}

// SAFETY: as for `ReadBackSink`: no threads share this wasm instance's JS handles.
unsafe impl Send for OpfsReader {}
// SAFETY: as above.
unsafe impl Sync for OpfsReader {}

impl ReadAt for OpfsReader {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        mediaprep_core::io::check_range("written output", offset, buf.len() as u64, self.size)?;
        if buf.is_empty() {
            return Ok(());
        }
        self.sink
            .lock()
            .map_err(|_| Error::invalid("page request", "output lock poisoned"))?
            .read_back(offset, buf)
    }
}

/// A reader over what was written through `sink` (flushed; the handle is released when the
/// reader is dropped).
pub fn opfs_reader(mut sink: OpfsSink) -> Result<SharedReader> {
    sink.flush()?;
    let size = sink.size()?;
    let back = OpfsReader {
        sink: Mutex::new(sink),
        size,
    };
    Ok(Arc::new(CachedReader::new(back, 1 << 20, 16)))
}

/// Give the verified file its final name (`FileSystemHandle.move`, Chromium); where that is
/// missing the file keeps its temporary name and is still offered for download.
pub async fn finalize(
    dir: &FileSystemDirectoryHandle,
    fh: &FileSystemFileHandle,
    partial: &str,
    out_name: &str,
) -> String {
    remove(dir, out_name).await;
    let mv = js_sys::Reflect::get(fh, &"move".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(mv) = mv {
        if let Ok(p) = mv.call1(fh, &out_name.into()) {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                if JsFuture::from(p).await.is_ok() {
                    return out_name.to_string();
                }
            }
        }
    }
    partial.to_string()
}
