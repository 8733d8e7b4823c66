//! Saving large output without holding it in memory: a [`WriteAt`] over an OPFS
//! `FileSystemSyncAccessHandle` (worker only, positioned writes), written under a temporary name
//! that is removed when the job fails or is cancelled, and a quota check before starting.
//!
//! The code takes a `FileSystemDirectoryHandle`/`FileSystemFileHandle`, not a picker, so tests
//! drive it with OPFS handles (headless Chromium aborts `showSaveFilePicker` at once).

use mediaprep_core::io::WriteAt;
use mediaprep_core::{Error, Result};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetFileOptions,
    FileSystemReadWriteOptions, FileSystemSyncAccessHandle, StorageManager,
};

/// Suffix of files still being written; anything with it is swept at start and on cancel.
pub const PARTIAL: &str = ".partial";

fn js_err(what: &str, e: JsValue) -> Error {
    Error::Io(format!("{what}: {e:?}"))
}

/// The origin's storage manager, from the window or a worker.
fn storage() -> Result<StorageManager> {
    let nav = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .map_err(|e| js_err("navigator", e))?;
    let st = js_sys::Reflect::get(&nav, &"storage".into()).map_err(|e| js_err("storage", e))?;
    st.dyn_into::<StorageManager>()
        .map_err(|_| Error::Unsupported("this browser has no storage manager (OPFS)".into()))
}

/// The origin-private file system's root directory.
pub async fn opfs_root() -> Result<FileSystemDirectoryHandle> {
    let p = storage()?.get_directory();
    let v = JsFuture::from(p)
        .await
        .map_err(|e| js_err("opening the private file system", e))?;
    v.dyn_into()
        .map_err(|_| Error::Io("getDirectory() did not return a directory".into()))
}

/// Fail early when the origin's storage quota cannot hold `needed` more bytes.
pub async fn check_quota(needed: u64) -> Result<()> {
    let est = JsFuture::from(storage()?.estimate().map_err(|e| js_err("estimate", e))?)
        .await
        .map_err(|e| js_err("storage estimate", e))?;
    let get = |k: &str| {
        js_sys::Reflect::get(&est, &k.into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    let free = (get("quota") - get("usage")).max(0.0) as u64;
    if free < needed {
        return Err(Error::Limit(format!(
            "the browser allows {free} more bytes of storage for this page but the output needs \
             about {needed}; free disk space or use a browser that can save directly"
        )));
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
        .map_err(|_| Error::Io("getFileHandle() did not return a file".into()))
}

/// Remove `name` from `dir`; a missing entry is not an error.
pub async fn remove(dir: &FileSystemDirectoryHandle, name: &str) {
    let _ = JsFuture::from(dir.remove_entry(name)).await;
}

/// Remove every `*.partial` left by a job that was cancelled (the worker terminated) or crashed.
pub async fn sweep_partials(dir: &FileSystemDirectoryHandle) -> Result<u32> {
    let keys = dir.keys();
    let mut names = Vec::new();
    loop {
        let next = keys.next().map_err(|e| js_err("listing", e))?;
        let r = JsFuture::from(next)
            .await
            .map_err(|e| js_err("listing", e))?;
        let done = js_sys::Reflect::get(&r, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        if let Some(n) = js_sys::Reflect::get(&r, &"value".into())
            .ok()
            .and_then(|v| v.as_string())
        {
            if n.ends_with(PARTIAL) {
                names.push(n);
            }
        }
    }
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
            .map_err(|_| Error::Io("createSyncAccessHandle() returned something else".into()))?;
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

impl WriteAt for OpfsSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let opts = FileSystemReadWriteOptions::new();
        opts.set_at(offset as f64);
        let n = self
            .handle
            .write_with_u8_array_and_options(data, &opts)
            .map_err(|e| js_err("writing the output (is the disk full?)", e))?;
        if n as usize != data.len() {
            return Err(Error::Io(format!(
                "short write at {offset}: {n} of {} bytes (is the disk full?)",
                data.len()
            )));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.handle
            .flush()
            .map_err(|e| js_err("flushing the output", e))
    }

    fn read_back(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let opts = FileSystemReadWriteOptions::new();
        opts.set_at(offset as f64);
        let n = self
            .handle
            .read_with_u8_array_and_options(buf, &opts)
            .map_err(|e| js_err("reading the output back", e))?;
        if n as usize != buf.len() {
            return Err(Error::Io(format!(
                "short read-back at {offset}: {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }
}

fn call(target: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| Error::Unsupported(format!("{method}() is not available here")))?;
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
        .map_err(|_| Error::Io("pipeTo() did not return a promise".into()))?;
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

/// Ask the user where to save `suggested`; `None` when they cancel.
pub async fn pick_save_handle(suggested: &str) -> Result<Option<FileSystemFileHandle>> {
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"suggestedName".into(), &suggested.into());
    let p: js_sys::Promise = call(&js_sys::global(), "showSaveFilePicker", &[&opts])?
        .dyn_into()
        .map_err(|_| Error::Io("showSaveFilePicker() did not return a promise".into()))?;
    match JsFuture::from(p).await {
        Ok(h) => Ok(h.dyn_into().ok()),
        Err(e) => {
            let name = js_sys::Reflect::get(&e, &"name".into())
                .ok()
                .and_then(|v| v.as_string());
            if name.as_deref() == Some("AbortError") {
                Ok(None)
            } else {
                Err(js_err("choosing where to save", e))
            }
        }
    }
}
