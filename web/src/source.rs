//! A browser `File` as a [`ReadAt`], read synchronously in the worker with `FileReaderSync`.

use mediaprep_core::io::{check_range, ReadAt};
use mediaprep_core::{Error, Result};
use wasm_bindgen::JsCast;
use web_sys::{File, FileReaderSync};

/// A user's file, read in slices; never loaded whole.
pub struct JsFileSource {
    file: File,
    reader: FileReaderSync,
    size: u64,
}

// SAFETY: the worker's wasm has no threads (no shared memory), so a JS handle can never be
// touched from two threads; `ReadAt` requires Send + Sync only for native parallel callers.
unsafe impl Send for JsFileSource {}
// SAFETY: as above.
unsafe impl Sync for JsFileSource {}

impl JsFileSource {
    /// Wrap a `File` (only inside a worker: `FileReaderSync` does not exist on the main thread).
    pub fn new(file: File) -> Result<Self> {
        let reader = FileReaderSync::new()
            .map_err(|e| Error::browser("FileReaderSync", format!("unavailable: {e:?}")))?;
        let size = file.size() as u64;
        Ok(JsFileSource { file, reader, size })
    }

    /// The file's name.
    pub fn name(&self) -> String {
        self.file.name()
    }
}

impl ReadAt for JsFileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = check_range("file read", offset, buf.len() as u64, self.size)?;
        if buf.is_empty() {
            return Ok(());
        }
        // JS numbers are exact below 2^53, far above any file size.
        let blob = self
            .file
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(|e| Error::browser("File.slice", format!("failed: {e:?}")))?;
        let ab = self.reader.read_as_array_buffer(&blob).map_err(|e| {
            Error::browser(
                "FileReaderSync.readAsArrayBuffer",
                format!("reading the file failed: {e:?}"),
            )
        })?;
        let view = js_sys::Uint8Array::new(&ab);
        if view.length() as usize != buf.len() {
            return Err(Error::browser(
                "FileReaderSync.readAsArrayBuffer",
                format!(
                    "short read at {offset}: got {} of {} bytes (was the file changed?)",
                    view.length(),
                    buf.len()
                ),
            ));
        }
        view.copy_to(buf);
        Ok(())
    }
}

/// Convert a JS value that should be a `File`.
pub fn as_file(v: &wasm_bindgen::JsValue) -> Option<File> {
    v.dyn_ref::<File>().cloned()
}
